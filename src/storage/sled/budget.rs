//! The process-wide write-ahead budget: how far writers may run ahead of the disk.
//!
//! # The hazard
//!
//! sled writes each sealed log buffer on its process-global I/O pool of 7 permanent threads
//! (`threadpool.rs:24`, `:77-89`), and that pool never grows while all its threads are busy (its
//! idle counter wraps below zero, `threadpool.rs:45-47`, `:102-112`, `:131-148`). Each buffer
//! write ends by locking its database's segment accountant (`iobuf.rs:800`, `:465-487`). A
//! writer that rolls into a new segment while the file must first be truncated waits for that
//! truncation holding the same lock (`segment.rs:981-998`), and the truncation is queued on the
//! same pool (`segment.rs:1098-1106`). With 7 buffer writes queued ahead of it, every pool
//! thread waits for the lock, the truncation never runs, and the database hangs for good.
//! Nothing in sled bounds how many sealed buffers wait for the pool, so writers running at full
//! speed ahead of the disk reach it.
//!
//! # The bound
//!
//! So the process never has 7 sealed, unwritten buffers. A buffer is one log segment (`S`
//! bytes, `iobuf.rs:393-398`); it is sealed when a message does not fit (then the rest of the
//! segment is padded; a message is at most `S/4`, so a buffer sealed this way holds at least
//! `3S/4` bytes of messages), or by a flush (`iobuf.rs:927-943`), or by sled's own flusher
//! thread (`flusher.rs:68`), which this crate never starts. A completed flush has written
//! every buffer holding a byte logged before it began (`make_stable`, `iobuf.rs:900-1006`).
//!
//! Every write reserves units here before it touches sled and holds them until the sled flush
//! that covers it has returned (`flusher.rs`; the `fdatasync` after it is not needed for this
//! and runs with the units already given back): one segment is [`UNITS_PER_SEGMENT`] units, and a write
//! of at most `b` log bytes takes `b × 4/3` bytes' worth, so units held ≥ segments that can be
//! filled. Every window of unflushed writes of a database also holds one segment's units from
//! its opening: the buffer it starts in may already hold earlier bytes and be sealed after a few
//! bytes of the window. At most [`LIMIT_UNITS`] (5 segments) are held in the process, so at
//! most 5 buffers can be sealed by filling; flushes run one at a time in the process
//! ([`with_flush_slot`]), adding at most 1 more: at most 6 sealed, unwritten buffers, fewer
//! than the pool's 7 threads, so a truncation always finds a thread.
//!
//! What one single-key write logs at most (`units_per_write`), counted in nodes of the largest
//! size the database can hold (`layout.rs` says how large a node can be for given entry and key
//! sizes; `charge.rs` keeps the sizes the database really holds):
//!
//! - its own message, and a consolidation of its leaf, since every 10th change to a page
//!   rewrites the whole node (`pagecache/constants.rs:27`, `pagecache/mod.rs:1036-1042`), plus
//!   the page the cleaner rewrites with every such rewrite (`pagecache/mod.rs:1206-1210`): 2;
//! - a split of its leaf, which the read after each write does at once (`writes.rs`): both
//!   halves, the parent's new child and two cleaner rewrites (`tree.rs:1450-1518`): 4;
//! - the split of the parent that this gives its 257th child, done by the same traversal, which
//!   starts again from the root after a split (`tree.rs:1673-1675`): 4 more.
//!
//! 10 nodes in all. Not counted: a split that climbs a third level in one write (a grandparent
//! at 256 children at that very moment, about once in 128 parent splits), merges climbing
//! likewise after removals, and nodes that an older version of the crate left due for a split
//! (the read after each write finds them; each write keeps one write's units for that). A
//! write's own entry is rarely more than a few hundred bytes against those 10 nodes, and that
//! slack is what covers them. A writer over the limit asks every flusher of the process to
//! flush now and waits; it never blocks a thread while it waits.
//!
//! # Races for a page
//!
//! A write whose page changed between its traversal and its compare-and-set
//! (`pagecache/mod.rs:1090`, `:1522`) tries again, and sled still writes the abandoned attempt
//! into the log buffer, marked canceled (`pagecache/mod.rs:1130`, `:1565`;
//! `reservation.rs:112-123`). Such bytes are no write's charge, so writes of a database never
//! race each other: they make their sled calls one at a time, inside the gate of `charge.rs`.
//! Reads race a write only for the split or merge it makes due, in the moment before its own
//! read does it (`tree.rs:1673`, `:1735`): a read that loses logs one canceled node at most and
//! finds the work done when it starts over.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::Notify;

use super::{charge::Sizes, layout};

/// Budget units that stand for one of a database's log segments (one sled I/O buffer).
pub(crate) const UNITS_PER_SEGMENT: u64 = 1 << 16;

/// The units one single-key write reserves in a database of this segment size whose entries
/// and keys are at most `sizes` (see the module docs and `charge.rs`): its entry and 10 of the
/// largest nodes, scaled by 4/3 for the padding of sealed buffers, in units of the database's
/// segment.
pub(crate) fn units_per_write(segment_size: usize, sizes: Sizes) -> u64 {
    const NODES: u64 = 10;
    const MESSAGE_HEADERS: u64 = 12 * 32;
    let bytes = layout::entry_bytes(sizes) + NODES * layout::largest_node(sizes) + MESSAGE_HEADERS;
    (bytes * 4 * UNITS_PER_SEGMENT).div_ceil(3 * segment_size as u64)
}

/// The most units every open database of the process may hold together.
const LIMIT_UNITS: u64 = 5 * UNITS_PER_SEGMENT;

/// The budget, shared by every database of the process.
static BUDGET: Budget = Budget {
    used: Mutex::new(0),
    freed: Condvar::new(),
    freed_async: Notify::const_new(),
    flushers: Mutex::new(Vec::new()),
};

/// One sled flush at a time in the whole process (see the module docs).
static FLUSH_SLOT: Mutex<()> = Mutex::new(());

struct Budget {
    used: Mutex<u64>,
    freed: Condvar,
    freed_async: Notify,
    /// Flushers to ask for a flush when a writer waits for units.
    flushers: Mutex<Vec<Weak<dyn FlushOnPressure>>>,
}

/// A flusher that frees units when asked.
pub(crate) trait FlushOnPressure: Send + Sync {
    /// Starts a flush of whatever the database holds unflushed, without waiting for it.
    fn flush_soon(&self);
}

/// Registers a flusher to be asked for a flush whenever a writer of any database waits.
pub(crate) fn register(flusher: Weak<dyn FlushOnPressure>) {
    let mut flushers = lock(&BUDGET.flushers);
    flushers.retain(|flusher| flusher.strong_count() > 0);
    flushers.push(flusher);
}

/// Takes `units`, waiting (without blocking the thread) while the process is over budget.
pub(crate) async fn reserve(units: u64) {
    loop {
        let freed = BUDGET.freed_async.notified();
        tokio::pin!(freed);
        // Registered before the check, so a release between the check and the wait wakes it.
        freed.as_mut().enable();
        if try_reserve(units) {
            return;
        }
        ask_flushers();
        freed.await;
    }
}

/// Takes `units`, blocking the thread while the process is over budget. For code that runs
/// outside async contexts (opening a database).
pub(crate) fn reserve_blocking(units: u64) {
    let mut used = lock(&BUDGET.used);
    while !fits(*used, units) {
        drop(used);
        ask_flushers();
        used = lock(&BUDGET.used);
        if fits(*used, units) {
            break;
        }
        used = BUDGET
            .freed
            .wait_timeout(used, std::time::Duration::from_millis(50))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    *used += units;
}

/// Gives back `units` taken with [`reserve`] or [`reserve_blocking`].
pub(crate) fn release(units: u64) {
    if units == 0 {
        return;
    }
    {
        let mut used = lock(&BUDGET.used);
        *used = used.saturating_sub(units);
    }
    BUDGET.freed.notify_all();
    BUDGET.freed_async.notify_waiters();
}

/// Holds the process's one flush slot while `flush` runs.
pub(crate) fn with_flush_slot<T>(flush: impl FnOnce() -> T) -> T {
    let _slot = lock(&FLUSH_SLOT);
    flush()
}

fn try_reserve(units: u64) -> bool {
    let mut used = lock(&BUDGET.used);
    if fits(*used, units) {
        *used += units;
        true
    } else {
        false
    }
}

/// A reservation fits when it stays within the limit; one larger than the whole limit goes
/// through alone, when nothing else is held. That happens only in databases created by version
/// 0.1 (512 KiB segments), where a store of large sessions can be charged more than the limit;
/// for such a write the bound is not proven, only its real size (a few entries, rarely a node)
/// keeps it far below.
fn fits(used: u64, units: u64) -> bool {
    used + units <= LIMIT_UNITS || used == 0
}

fn ask_flushers() {
    let flushers: Vec<_> = lock(&BUDGET.flushers)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for flusher in flushers {
        flusher.flush_soon();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each guarded value is consistent at every point a panic could happen.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
