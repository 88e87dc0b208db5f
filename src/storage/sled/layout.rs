//! What is in a database directory, and the sizes that keep sled on its safe paths.
//!
//! # Trees and keys
//!
//! - `sessions`: session id → record (one format-version byte and a bincode body, see
//!   `codec.rs`), holding every field of the session and the deadline it is indexed under.
//! - `by_shop`: `shop ++ 0x00 ++ id` → empty; `find_sessions_by_shop` is a prefix scan.
//! - `by_expiry`: big-endian u64 deadline in epoch milliseconds `++ id` → empty; the sweep
//!   reads it from the start up to now.
//! - sled's default tree holds one key, `meta` (see [`Meta`](super::codec::Meta)): the layout
//!   version, the clean-shutdown marker and the largest entry and key the database has held
//!   (`charge.rs`).
//!
//! [`LAYOUT_VERSION`] 1 is this layout. Databases written before the `meta` entry existed have
//! the same trees and records; opening one repairs it once and writes the entry.
//!
//! # Why records stay small: sled's blob files
//!
//! sled writes any log message larger than `segment_size / 4 - 52` bytes (its segment and
//! message headers) to a file of its own under `blobs/` (sled `pagecache/logger.rs:162-173`),
//! and never `fsync`s those files (`pagecache/blob_io.rs:65-99`): such data is not durable,
//! and after a crash a torn blob stops log replay (`iterator.rs:165-172`). A message is one
//! key/value pair, or a whole tree node when sled consolidates a page
//! (`pagecache/mod.rs:1036-1042`). A leaf splits only once it holds more than 16 entries
//! (`node.rs:599-612`, by count, never by bytes), and lazily, on a later traversal, so 17
//! entries can sit in one leaf and be written as one message. Never more: a write links its
//! entry by compare-and-set against the very page its traversal saw, with at most 16 entries
//! (`tree.rs:1673`, `pagecache/mod.rs:1090`), so concurrent writers cannot stack up more.
//!
//! So a leaf of 17 of the largest entries must stay under the blob threshold. An entry is at
//! most a record plus its key: an id of at most [`MAX_ID_LEN`](crate::MAX_ID_LEN) bytes in
//! `sessions` and `by_expiry`, a shop of at most 255 bytes plus an id in `by_shop`. New
//! databases get 8 MiB segments (threshold 2,097,100 bytes) and a record limit of
//! [`MAX_RECORD_BYTES`] (16 KiB): 17 × (16 KiB + 800) is about 292 KB, far below. Databases
//! created with sled's default 512 KiB segments (every database of version 0.1; sled fixes
//! the segment size at creation, `config.rs:627`) have a threshold of 131,020 bytes, which
//! allows 17 × 7,707 bytes: their record limit is 6 KiB. Records written there earlier, up to
//! 64 KiB, stay readable. Index nodes hold at most 257 separators, which sled shortens to the
//! shared prefix plus one byte (`node.rs:183-199`), far below either threshold for real ids.

use super::{charge::Sizes, codec::MAX_RECORD_BYTES};
use crate::MAX_ID_LEN;

/// The layout this version writes (see the module docs).
pub(crate) const LAYOUT_VERSION: u32 = 1;

/// The log segment size of databases created by this version: sled's largest is 16 MiB
/// (`config.rs:532`), its default 512 KiB.
pub(crate) const NEW_SEGMENT_SIZE: usize = 8 * 1024 * 1024;

/// The longest shop a session may have: a DNS name has at most 253 characters.
pub(crate) const MAX_SHOP_LEN: usize = 255;

/// sled's segment header and largest message header (`pagecache/constants.rs:9-12`).
const SLED_HEADERS: usize = 20 + 32;

/// Entries a leaf can hold when sled writes it whole (`node.rs:599-612`).
const LEAF_ENTRIES: usize = 17;

/// Bytes of a leaf entry beyond its key and value: two length varints of at most 3 bytes each
/// at these sizes (`serialization.rs:141-160`), rounded up.
const ENTRY_OVERHEAD: usize = 8;

/// Children an index node can hold when sled writes it whole: it splits past 256
/// (`node.rs:599-612`).
const INDEX_CHILDREN: u64 = 257;

/// Bytes of an index child beyond its separator key: the key's length and the child's page id,
/// varints of at most 9 bytes each (`serialization.rs:141-160`), rounded up.
const CHILD_OVERHEAD: u64 = 20;

/// Bytes of a node beyond its entries, besides its two bound keys: its kind, prefix length,
/// merge state and next-sibling id (`serialization.rs`, `Node`), rounded up.
const NODE_HEADER: u64 = 64;

/// The largest tree node sled can write for a database whose entries and keys are at most
/// `sizes`: a leaf of 17 entries, or an index node of 257 separators (a separator is at most a
/// whole key), with its header and bound keys.
pub(crate) fn largest_node(sizes: Sizes) -> u64 {
    let leaf = LEAF_ENTRIES as u64 * (sizes.entry + ENTRY_OVERHEAD as u64);
    let index = INDEX_CHILDREN * (sizes.key + CHILD_OVERHEAD);
    leaf.max(index) + 2 * sizes.key + NODE_HEADER
}

/// The largest single-key write sled takes in this database: the entry overhead on top of the
/// entry itself.
pub(crate) fn entry_bytes(sizes: Sizes) -> u64 {
    sizes.entry + ENTRY_OVERHEAD as u64
}

/// The bytes sled writes at most for one key/value pair of this database, and the sizes they
/// are derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The segment size of the database.
    pub(crate) segment_size: usize,
    /// The largest record a store may write.
    pub(crate) max_record_bytes: usize,
}

impl Limits {
    /// The limits of a database with this segment size.
    pub(crate) fn for_segment_size(segment_size: usize) -> Self {
        let blob_threshold = Self::blob_threshold_of(segment_size);
        let largest_key = MAX_ID_LEN.max(MAX_SHOP_LEN + 1 + MAX_ID_LEN);
        let per_entry = blob_threshold / LEAF_ENTRIES - largest_key - ENTRY_OVERHEAD;
        // Whole KiB, so the limit reads well in an error message.
        let max_record_bytes = MAX_RECORD_BYTES.min(per_entry / 1024 * 1024);
        Limits {
            segment_size,
            max_record_bytes,
        }
    }

    /// The largest key/value pair this database accepts, as sled writes it in a leaf.
    #[cfg(test)]
    fn largest_entry(self) -> usize {
        self.max_record_bytes + MAX_SHOP_LEN + 1 + MAX_ID_LEN + ENTRY_OVERHEAD
    }

    /// The largest leaf sled can write whole: 17 of the largest entries.
    #[cfg(test)]
    fn largest_leaf(self) -> usize {
        LEAF_ENTRIES * self.largest_entry()
    }

    /// The blob threshold of this database.
    #[cfg(test)]
    fn blob_threshold(self) -> usize {
        Self::blob_threshold_of(self.segment_size)
    }

    fn blob_threshold_of(segment_size: usize) -> usize {
        segment_size / 4 - SLED_HEADERS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_leaf_can_reach_a_blob_file() {
        for segment_size in [
            512 * 1024,
            1 << 20,
            2 << 20,
            4 << 20,
            NEW_SEGMENT_SIZE,
            16 << 20,
        ] {
            let limits = Limits::for_segment_size(segment_size);
            assert!(
                limits.largest_leaf() + SLED_HEADERS <= limits.blob_threshold(),
                "{limits:?}: a leaf of {} bytes",
                limits.largest_leaf()
            );
        }
        assert_eq!(
            Limits::for_segment_size(NEW_SEGMENT_SIZE).max_record_bytes,
            MAX_RECORD_BYTES
        );
        assert_eq!(
            Limits::for_segment_size(512 * 1024).max_record_bytes,
            6 * 1024
        );
    }
}
