//! What a write reserves from the budget (`budget.rs`): the most sled could log for it, from
//! the sizes the database really holds.
//!
//! sled logs, besides a write's own entry, whole tree nodes (consolidations, splits, the
//! cleaner's rewrites), and a node holds entries that are already in the database. So the bound
//! depends on the largest entry and the largest key the database has ever held, not on the
//! largest a session may be: a store of 500-byte sessions reserves what 500-byte sessions can
//! cost. Both sizes are kept in the `meta` entry and only grow.
//!
//! The sizes must never be smaller than what a write's nodes can hold. Every write reserves for
//! the sizes it saw, then makes its sled calls inside the database's *gate*, where it checks
//! them again: if they grew in between, it gives its units back and starts over. A write that
//! brings a larger entry or key *raises* them inside the gate, writing the new sizes to `meta`
//! before its entry (so a crash cannot keep the entry and lose the sizes). So no write runs with
//! a reservation made for smaller nodes than the ones it can touch.
//!
//! The gate lets one write of the database at a time make its sled calls (in-memory work as a
//! rule; never our flush or `fdatasync`), which also keeps writes from racing each other for a
//! page (why that matters: `budget.rs`, "Races for a page"). Reads do not pass the gate.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Inner, budget, flusher::Ticket, repair};
use crate::Result;

/// The largest entry (key and value) and the largest key the database has ever held, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sizes {
    pub(crate) entry: u64,
    pub(crate) key: u64,
}

impl Sizes {
    /// The larger of each size.
    pub(crate) fn max(self, other: Sizes) -> Sizes {
        Sizes {
            entry: self.entry.max(other.entry),
            key: self.key.max(other.key),
        }
    }

    /// Whether `self` holds something larger than `other` does.
    fn exceeds(self, other: Sizes) -> bool {
        self.entry > other.entry || self.key > other.key
    }

    /// Whether nothing of `other` is larger than `self`.
    pub(crate) fn covers(self, other: Sizes) -> bool {
        !other.exceeds(self)
    }

    /// The sizes of one entry.
    pub(crate) fn of_entry(key: &[u8], value: &[u8]) -> Sizes {
        Sizes {
            entry: (key.len() + value.len()) as u64,
            key: key.len() as u64,
        }
    }
}

/// The sizes of a database, and the gate that keeps reservations in step with them.
pub(crate) struct Charge {
    segment_size: usize,
    /// The gate, guarding the sizes.
    largest: Mutex<Sizes>,
}

/// A write let in by [`Charge::enter`]; its sled calls run while this is held.
pub(crate) struct Entered<'a> {
    /// The database's sizes, this write's included.
    pub(crate) sizes: Sizes,
    /// Whether this write raised the sizes (and so wrote `meta`).
    pub(crate) raised: bool,
    _gate: MutexGuard<'a, Sizes>,
}

impl Charge {
    pub(crate) fn new(segment_size: usize, largest: Sizes) -> Self {
        Charge {
            segment_size,
            largest: Mutex::new(largest),
        }
    }

    /// The database's sizes now.
    pub(crate) fn current(&self) -> Sizes {
        *self.gate()
    }

    /// The sizes a write that brings `own` must reserve for: the database's, or its own where
    /// they are larger.
    pub(crate) fn assume(&self, own: Sizes) -> Sizes {
        self.current().max(own)
    }

    /// Budget units one single-key write reserves when the database's sizes are `assumed`.
    pub(crate) fn units(&self, assumed: Sizes) -> u64 {
        budget::units_per_write(self.segment_size, assumed)
    }

    /// Lets in (through the gate) a write that reserved for `assumed` and brings `own`. `raise`
    /// writes the new sizes to `meta`; it runs only when `own` exceeds the database's sizes.
    /// `Ok(None)`: the sizes grew since the reservation; give the units back and start over.
    ///
    /// # Errors
    /// What `raise` returns.
    pub(crate) fn enter<E>(
        &self,
        assumed: Sizes,
        own: Sizes,
        raise: impl FnOnce(Sizes) -> Result<(), E>,
    ) -> Result<Option<Entered<'_>>, E> {
        let mut largest = self.gate();
        if largest.exceeds(assumed) {
            return Ok(None);
        }
        let grows = own.exceeds(*largest);
        if grows {
            let raised = largest.max(own);
            raise(raised)?;
            *largest = raised;
        }
        Ok(Some(Entered {
            sizes: *largest,
            raised: grows,
            _gate: largest,
        }))
    }

    fn gate(&self) -> MutexGuard<'_, Sizes> {
        // The sizes are one plain value, consistent whatever panicked while the gate was held.
        self.largest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How the store's writes go through the gate: one place for the reservation, the check and the
/// raise.
impl Inner {
    /// Runs `write` in the open window (see `flusher.rs`), charged for up to `writes`
    /// single-key writes of a database whose sizes include `own` (the largest entry and key
    /// `write` brings), plus the `meta` write of a raise. `write` gets the database's sizes and
    /// returns how many single-key writes it made; it may run again when the sizes grew
    /// meanwhile.
    pub(super) async fn charged_write<T>(
        &self,
        writes: u64,
        own: Sizes,
        write: impl Fn(Sizes) -> Result<(T, u64)>,
    ) -> Result<(T, Ticket)> {
        loop {
            let assumed = self.charge.assume(own);
            let per_write = self.charge.units(assumed);
            let (done, ticket) = self
                .flusher
                .write((writes + 1) * per_write, || {
                    self.enter_and_write(assumed, own, per_write, &write)
                })
                .await?;
            if let Some(value) = done {
                return Ok((value, ticket));
            }
        }
    }

    /// Blocking [`charged_write`](Self::charged_write), for code that cannot await.
    pub(super) fn charged_write_blocking<T>(
        &self,
        writes: u64,
        own: Sizes,
        write: impl Fn(Sizes) -> Result<(T, u64)>,
    ) -> Result<(T, Ticket)> {
        loop {
            let assumed = self.charge.assume(own);
            let per_write = self.charge.units(assumed);
            let (done, ticket) = self.flusher.write_blocking((writes + 1) * per_write, || {
                self.enter_and_write(assumed, own, per_write, &write)
            })?;
            if let Some(value) = done {
                return Ok((value, ticket));
            }
        }
    }

    /// `Ok((None, 0))`: the sizes grew since the reservation, start over.
    fn enter_and_write<T>(
        &self,
        assumed: Sizes,
        own: Sizes,
        per_write: u64,
        write: &impl Fn(Sizes) -> Result<(T, u64)>,
    ) -> Result<(Option<T>, u64)> {
        let Some(entered) = self.charge.enter(assumed, own, |raised| {
            repair::write_meta(self, false, raised)
        })?
        else {
            return Ok((None, 0));
        };
        let (value, made) = write(entered.sizes)?;
        // At least one write's worth is kept even when nothing changed: the read after each
        // write (`writes.rs`) may still split a node left due by an older version of the crate.
        let made = (made + u64::from(entered.raised)).max(1);
        Ok((Some(value), made * per_write))
    }
}

/// The largest entry and key in `trees`, read once when a database's `meta` does not know them
/// (databases written before this was kept).
pub(crate) fn measure<'a>(trees: impl IntoIterator<Item = &'a sled::Tree>) -> sled::Result<Sizes> {
    let mut sizes = Sizes::default();
    for tree in trees {
        for item in tree {
            let (key, value) = item?;
            sizes = sizes.max(Sizes::of_entry(&key, &value));
        }
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Sizes = Sizes {
        entry: 500,
        key: 60,
    };
    const LARGE: Sizes = Sizes {
        entry: 9_000,
        key: 60,
    };

    #[test]
    fn a_write_within_the_sizes_is_covered_and_does_not_raise() {
        let charge = Charge::new(8 << 20, LARGE);
        let entered = charge
            .enter(charge.assume(SMALL), SMALL, |_| -> Result<(), ()> {
                panic!("no raise")
            })
            .unwrap();
        assert!(!entered.unwrap().raised);
    }

    #[test]
    fn a_larger_write_raises_and_an_older_reservation_starts_over() {
        let charge = Charge::new(8 << 20, SMALL);
        let old_reservation = charge.assume(SMALL);
        let mut written = None;
        let entered = charge
            .enter(charge.assume(LARGE), LARGE, |sizes| {
                written = Some(sizes);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert!(entered.as_ref().unwrap().raised);
        drop(entered);
        assert_eq!(written, Some(LARGE));
        assert_eq!(charge.current(), LARGE);
        let stale = charge.enter(old_reservation, SMALL, |_| Ok::<_, ()>(()));
        assert!(matches!(stale, Ok(None)), "reserved for smaller nodes");
        assert!(charge.units(LARGE) > charge.units(SMALL));
    }

    /// A raw handle on a closed database. sled's I/O threads can hold the lock for a moment
    /// after the last handle is gone (see `open_with_lock_grace` in `builder.rs`); a loaded
    /// machine stretches that moment, so this waits longer than the builder does.
    fn open_raw(path: &std::path::Path) -> sled::Db {
        let started = std::time::Instant::now();
        loop {
            match sled::Config::new()
                .path(path)
                .segment_size(super::super::layout::NEW_SEGMENT_SIZE)
                .open()
            {
                Ok(db) => return db,
                Err(error) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    assert!(
                        error.to_string().contains("could not acquire lock"),
                        "{error}"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(error) => panic!("{error}"),
            }
        }
    }

    #[tokio::test]
    async fn the_sizes_are_kept_in_meta_and_measured_when_meta_lacks_them() {
        use crate::{Session, SessionStorage, SledSessionStorage};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let storage = SledSessionStorage::open(&path).unwrap();
        let mut session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
        session.state = "s".repeat(3_000);
        storage.store_session(&session).await.unwrap();
        let held = storage.inner.charge.current();
        assert!(held.entry > 3_000, "{held:?}");
        storage.close().await.unwrap();

        let db = open_raw(&path);
        let meta = repair::read_meta(&db).unwrap().unwrap();
        assert_eq!(meta.sizes, Some(held), "kept in meta");
        // What a `meta` of version 1 leaves to measure: the same sizes.
        let trees = [
            (*db).clone(),
            db.open_tree("sessions").unwrap(),
            db.open_tree("by_shop").unwrap(),
            db.open_tree("by_expiry").unwrap(),
        ];
        assert_eq!(measure(&trees).unwrap().max(repair::META_SIZES), held);

        // A `meta` of version 1 (layout 1, clean): open measures the sizes and keeps them.
        db.insert(b"meta", &[1_u8, 1, 1][..]).unwrap();
        db.flush().unwrap();
        drop((trees, db));
        let storage = SledSessionStorage::open(&path).unwrap();
        assert_eq!(storage.inner.charge.current(), held, "measured");
        storage.close().await.unwrap();
        let db = open_raw(&path);
        assert_eq!(repair::read_meta(&db).unwrap().unwrap().sizes, Some(held));
    }

    #[test]
    fn a_failed_raise_changes_nothing() {
        let charge = Charge::new(8 << 20, SMALL);
        let result = charge.enter(charge.assume(LARGE), LARGE, |_| Err("meta write failed"));
        assert!(matches!(result, Err("meta write failed")));
        assert_eq!(charge.current(), SMALL);
    }
}
