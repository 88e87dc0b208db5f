//! Per-id locks: what makes a store or delete atomic without sled's transactions.
//!
//! sled locks a database to one process, so an in-process lock per session id is enough to
//! serialise every change of one id. Ids hash onto a fixed set of mutexes (stripes): two ids
//! may share a stripe, which only costs a short wait. A stripe is held only across sled calls,
//! never across an `.await` or a wait for the disk, and a thread holds one stripe at a time,
//! so the locks cannot deadlock.

use std::{
    hash::{BuildHasher, RandomState},
    sync::{Mutex, MutexGuard, PoisonError},
};

/// Enough stripes that unrelated ids rarely meet, on a server with dozens of request tasks.
const STRIPES: usize = 1_024;

/// The striped locks of one database.
pub(crate) struct IdLocks {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

/// The lock of one id, held until dropped.
pub(crate) type IdGuard<'a> = MutexGuard<'a, ()>;

impl IdLocks {
    pub(crate) fn new() -> Self {
        IdLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Takes the lock of `id`, waiting for its holder.
    pub(crate) fn lock(&self, id: &str) -> IdGuard<'_> {
        // Truncating the hash is fine: it only picks a stripe.
        #[allow(clippy::cast_possible_truncation)]
        let stripe = (self.hasher.hash_one(id) as usize) % STRIPES;
        // The mutex guards no data: a panic while holding it leaves nothing inconsistent.
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
