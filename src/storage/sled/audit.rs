//! The one pass that finds where the indexes may disagree with the records, for
//! [`verify`](super::SledSessionStorage::verify) and [`repair`](super::SledSessionStorage::repair).
//!
//! Looking up each record's index entries, and each index entry's record, costs a random read
//! per entry: at a million sessions that took 20 s and more. This pass reads each of the three
//! trees once, in key order. The records give the index keys they call for; those are put in
//! the order sled keeps each index in and merged against it, so an index key that no record
//! calls for, and a key a record calls for that its index lacks, both show up as the merge
//! goes. Nothing here takes a lock: what it finds are *suspects*, which the caller judges
//! again under the id's lock. A write made during the pass costs a second look, never a wrong
//! verdict; a problem that was there before the pass, and that no write touched, is always
//! among the suspects.
//!
//! Memory: every id once, in one buffer, plus about 40 bytes a record (some 75 MB for the
//! million sessions of BENCHMARKS.md), and the suspects, given back when the pass ends.
//!
//! A key of `sessions` that is not UTF-8 is no id this crate writes: it is reported as a corrupt
//! record, by its raw key.

use std::collections::HashMap;

use super::{charge::Sizes, codec, index};
use crate::Result;

/// Why a record under a key that is not UTF-8 counts as corrupt.
pub(super) const KEY_NOT_UTF8: &str = "its key is not UTF-8, so it is no session id";

/// What the pass found.
#[derive(Debug, Default)]
pub(super) struct Suspects {
    /// Records read.
    pub(super) records: usize,
    /// The keys of records that did not decode, each with the reason, in key order.
    pub(super) corrupt: Vec<(Vec<u8>, String)>,
    /// Ids whose record may lack an index entry, in id order.
    pub(super) missing: Vec<String>,
    /// `by_shop` keys that no record called for (malformed ones included), in key order.
    pub(super) stale_shop: Vec<Vec<u8>>,
    /// `by_expiry` keys that no record called for (malformed ones included), in key order.
    pub(super) stale_expiry: Vec<Vec<u8>>,
    /// The largest entry and key seen in the three trees.
    pub(super) sizes: Sizes,
}

/// What the records that decode call for, by record number (the order sled returned them in:
/// by id).
#[derive(Default)]
struct Expected {
    /// Every id, back to back; `id_ends[n]` is where the id of record `n` ends.
    ids: String,
    id_ends: Vec<usize>,
    /// Each distinct shop once, and the shop of each record.
    shops: Vec<String>,
    shop_numbers: HashMap<String, u32>,
    shop_of: Vec<u32>,
    /// Deadline and record number of every record that has a deadline.
    deadlines: Vec<(u64, u32)>,
}

impl Expected {
    fn id(&self, record: u32) -> &str {
        let record = record as usize;
        let start = record
            .checked_sub(1)
            .map_or(0, |before| self.id_ends[before]);
        &self.ids[start..self.id_ends[record]]
    }

    fn add(&mut self, id: &str, shop: &str, deadline_ms: Option<u64>) {
        let record = u32::try_from(self.id_ends.len()).expect("fewer than 2^32 records");
        self.ids.push_str(id);
        self.id_ends.push(self.ids.len());
        let shop = if let Some(&number) = self.shop_numbers.get(shop) {
            number
        } else {
            let number = u32::try_from(self.shops.len()).expect("fewer than 2^32 shops");
            self.shops.push(shop.to_owned());
            self.shop_numbers.insert(shop.to_owned(), number);
            number
        };
        self.shop_of.push(shop);
        if let Some(deadline_ms) = deadline_ms {
            self.deadlines.push((deadline_ms, record));
        }
    }

    /// The records, in `by_shop` key order: by shop (a shop holds no `0x00`, see
    /// `index.rs`, so `shop ++ 0x00` sorts as the shop does), then by id.
    fn in_shop_order(&self) -> Vec<u32> {
        let mut by_name: Vec<(&str, u32)> =
            self.shops.iter().map(String::as_str).zip(0u32..).collect();
        by_name.sort_unstable();
        let mut rank = vec![0u32; by_name.len()];
        for ((_, shop), position) in by_name.iter().zip(0u32..) {
            rank[*shop as usize] = position;
        }
        let mut order: Vec<(u32, u32)> = (0u32..)
            .zip(&self.shop_of)
            .map(|(record, shop)| (rank[*shop as usize], record))
            .collect();
        order.sort_unstable();
        order.into_iter().map(|(_, record)| record).collect()
    }
}

/// Reads the three trees once and returns what may be wrong between them.
pub(super) fn scan(
    sessions: &sled::Tree,
    by_shop: &sled::Tree,
    by_expiry: &sled::Tree,
) -> Result<Suspects> {
    let mut suspects = Suspects::default();
    let mut expected = Expected::default();
    let mut corrupt = Vec::new();
    for item in sessions {
        let (key, bytes) = item?;
        suspects.sizes = suspects.sizes.max(Sizes::of_entry(&key, &bytes));
        let Ok(id) = std::str::from_utf8(&key) else {
            corrupt.push((key.to_vec(), KEY_NOT_UTF8.to_owned()));
            continue;
        };
        match codec::decode(id, &bytes) {
            Ok(record) => {
                expected.add(id, &record.session.shop, record.deadline_ms);
            }
            Err(error) => {
                corrupt.push((key.to_vec(), crate::error::record_reason(&error)));
            }
        }
    }
    suspects.records = expected.id_ends.len() + corrupt.len();

    let mut missing = Vec::new();
    let shop_keys = expected.in_shop_order().into_iter().map(|record| {
        let shop = &expected.shops[expected.shop_of[record as usize] as usize];
        let key = index::shop_key(shop, expected.id(record));
        (key, record)
    });
    suspects.stale_shop = merge(by_shop, shop_keys, &mut suspects.sizes, &mut missing)?;

    let mut deadlines = std::mem::take(&mut expected.deadlines);
    // Records are numbered in id order, so this is `by_expiry` key order: deadline, then id.
    deadlines.sort_unstable();
    let expiry_keys = deadlines
        .into_iter()
        .map(|(deadline_ms, record)| (index::expiry_key(deadline_ms, expected.id(record)), record));
    suspects.stale_expiry = merge(by_expiry, expiry_keys, &mut suspects.sizes, &mut missing)?;

    missing.sort_unstable();
    missing.dedup();
    suspects.missing = missing
        .into_iter()
        .map(|record| expected.id(record).to_owned())
        .collect();
    suspects.corrupt = corrupt;
    Ok(suspects)
}

/// Walks `tree` and `expected` (both in key order) side by side, raising `sizes` to the tree's
/// entries: the record number of a key only `expected` has goes to `missing`, and the keys
/// only the tree has are returned (the stale suspects). Should `expected` ever be out of
/// order, the merge only reports more suspects, which the caller's second look clears.
fn merge(
    tree: &sled::Tree,
    expected: impl Iterator<Item = (Vec<u8>, u32)>,
    sizes: &mut Sizes,
    missing: &mut Vec<u32>,
) -> Result<Vec<Vec<u8>>> {
    let mut expected = expected.peekable();
    let mut stale = Vec::new();
    for item in tree {
        let (key, value) = item?;
        *sizes = sizes.max(Sizes::of_entry(&key, &value));
        while let Some((_, record)) = expected.next_if(|(wanted, _)| wanted.as_slice() < &*key) {
            missing.push(record);
        }
        if expected
            .next_if(|(wanted, _)| wanted.as_slice() == &*key)
            .is_none()
        {
            stale.push(key.to_vec());
        }
    }
    missing.extend(expected.map(|(_, record)| record));
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::{Session, SessionStorage, SledSessionStorage, storage::sled::charge};

    /// Shops that sort around one another, ids of several lengths, shared deadlines: every
    /// key the records call for must meet its index entry, or the pass costs a second look
    /// for nothing.
    #[tokio::test]
    async fn a_sound_store_has_no_suspects_and_its_sizes_are_measured() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SledSessionStorage::open(dir.path().join("db")).unwrap();
        for n in 0..300u64 {
            let shop = ["a", "a.b", "a-b", "ab", "a\u{e9}", "b"][usize::try_from(n % 6).unwrap()];
            let mut session = Session::new((n * 7 % 300).to_string(), shop, "", false);
            session.expires =
                (n % 3 != 0).then(|| UNIX_EPOCH + Duration::from_millis(4_000_000_000_000 + n % 4));
            storage.store_session(&session).await.unwrap();
        }
        let inner = &storage.inner;
        let suspects = scan(&inner.sessions, &inner.by_shop, &inner.by_expiry).unwrap();
        assert_eq!(suspects.records, 300);
        assert!(suspects.corrupt.is_empty());
        assert!(suspects.missing.is_empty(), "{:?}", suspects.missing);
        assert!(suspects.stale_shop.is_empty(), "{:?}", suspects.stale_shop);
        assert!(
            suspects.stale_expiry.is_empty(),
            "{:?}",
            suspects.stale_expiry
        );
        let trees = [&inner.sessions, &inner.by_shop, &inner.by_expiry];
        assert_eq!(suspects.sizes, charge::measure(trees).unwrap());
    }
}
