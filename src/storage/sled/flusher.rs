//! The one flusher of a database: group commit for [`FlushPolicy::EveryWrite`], the interval
//! of [`FlushPolicy::Periodic`], the `fdatasync` that makes a flush durable, and the release of
//! write-ahead budget (see `budget.rs`).
//!
//! Writes are grouped into *windows*. A writer reserves budget units, then writes into the open
//! window (opening it with one segment's worth of base units if needed) while holding the
//! window's read lock; the flusher closes the window under its write lock, so it never closes
//! one in the middle of a write. Closing takes the window's units, flushes sled, gives the
//! units back to the budget (sled's buffers are written: writers may go on), then `fdatasync`s
//! the `db` file and publishes the window's generation as durable. A writer that needs
//! durability waits for its window's generation: every writer that arrived while a flush ran,
//! its `fdatasync` included, shares the next one. Under `Periodic`, a flush for budget pressure
//! alone skips the `fdatasync`; the interval's flush makes everything before it durable.
//!
//! A failed flush is final (fail-stop): the error is reported for that window and every later
//! one, since after a failed `fdatasync` the kernel may have dropped the dirty pages and a
//! retry would report success for data that never reached the disk. Reopen the database.

use std::{
    fs::File,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{
    FlushPolicy,
    budget::{self, FlushOnPressure, UNITS_PER_SEGMENT},
    stall::StallTracker,
};
use crate::{Error, Result};

/// Units a window holds from its opening: the buffer sled may seal with bytes from before the
/// window (see `budget.rs`).
const WINDOW_BASE_UNITS: u64 = UNITS_PER_SEGMENT;

/// The window a write landed in; durable once that window's flush completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

/// The flusher thread of one database and the windows it closes.
pub(crate) struct Flusher {
    shared: Arc<Shared>,
    flushed: watch::Receiver<Flushed>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    window: RwLock<Window>,
    requests: Mutex<Requests>,
    wake: Condvar,
}

struct Window {
    generation: u64,
    /// Budget units held by the writes of this window; 0 while it is not open.
    units: AtomicU64,
    /// Set by [`Flusher::close`]: no write is accepted any more.
    closed: bool,
}

#[derive(Default)]
struct Requests {
    /// The newest generation a writer waits for.
    wanted: u64,
    /// A writer of some database waits for budget: flush what is open now.
    pressure: bool,
    /// Flush what is open and end the thread.
    stop: bool,
}

/// What the flusher last published.
#[derive(Clone, Default)]
struct Flushed {
    /// Every window up to this generation is flushed, or failed.
    through: u64,
    /// The first flush that failed, and why; sticky (see the module docs).
    failure: Option<(u64, Arc<FlushFailure>)>,
}

#[derive(Debug)]
enum FlushFailure {
    Sled(sled::Error),
    Sync(std::io::Error),
}

impl Flusher {
    /// Starts the flusher of `db`, whose log file `db_file` it `fdatasync`s after each flush.
    pub(crate) fn start(
        db: sled::Db,
        db_file: File,
        policy: FlushPolicy,
        stalls: StallTracker,
    ) -> Result<Self> {
        let shared = Arc::new(Shared {
            window: RwLock::new(Window {
                generation: 1,
                units: AtomicU64::new(0),
                closed: false,
            }),
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
        });
        let (publish, flushed) = watch::channel(Flushed::default());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("session-flush".into())
            .spawn(move || {
                flush_loop(&thread_shared, &db, &db_file, policy, &publish, &stalls);
            })
            .map_err(|source| Error::Io {
                context: "cannot start the session flush thread".into(),
                source,
            })?;
        let pressure: Arc<dyn FlushOnPressure> = shared.clone();
        budget::register(Arc::downgrade(&pressure));
        Ok(Flusher {
            shared,
            flushed,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Reserves `units` of write-ahead budget, then runs `write` (sled calls only, no waiting)
    /// in the open window. `write` returns how many of the units it used (at most `units`);
    /// those stay taken until the window is flushed, the rest go back at once.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close_blocking`](Self::close_blocking); otherwise what `write`
    /// returns.
    pub(crate) async fn write<T>(
        &self,
        units: u64,
        write: impl FnOnce() -> Result<(T, u64)>,
    ) -> Result<(T, Ticket)> {
        loop {
            // Reserve the window's base too when it looks closed, in one reservation: a writer
            // never holds units while it waits for more, so writers cannot starve each other.
            let looks_open = read(&self.shared.window).units.load(Ordering::Acquire) > 0;
            let base = if looks_open { 0 } else { WINDOW_BASE_UNITS };
            budget::reserve(units + base).await;
            let window = read(&self.shared.window);
            if window.closed {
                budget::release(units + base);
                return Err(Error::Closed);
            }
            // Opening is a compare-and-swap under the read lock: the flusher swaps the units
            // out only under the write lock, so it cannot interleave.
            let base_used = base > 0
                && window
                    .units
                    .compare_exchange(0, base, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if window.units.load(Ordering::Acquire) == 0 {
                // Closed since the look, and no base reserved: try again with one.
                budget::release(units + base);
                continue;
            }
            let result = write();
            // All units stay counted when `write` failed part-way: what it wrote is in the log.
            let used = match &result {
                Ok((_, used)) => (*used).min(units),
                Err(_) => units,
            };
            window.units.fetch_add(used, Ordering::AcqRel);
            let kept = used + if base_used { base } else { 0 };
            budget::release(units + base - kept);
            return result.map(|(value, _)| (value, Ticket(window.generation)));
        }
    }

    /// Like [`write`](Self::write), for code that cannot await (opening a database).
    pub(crate) fn write_blocking<T>(
        &self,
        units: u64,
        write: impl FnOnce() -> Result<(T, u64)>,
    ) -> Result<(T, Ticket)> {
        budget::reserve_blocking(units + WINDOW_BASE_UNITS);
        let window = self
            .shared
            .window
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if window.closed {
            budget::release(units + WINDOW_BASE_UNITS);
            return Err(Error::Closed);
        }
        let result = write();
        let used = match &result {
            Ok((_, used)) => (*used).min(units),
            Err(_) => units,
        };
        if window.units.load(Ordering::Acquire) > 0 {
            budget::release(units - used + WINDOW_BASE_UNITS);
            window.units.fetch_add(used, Ordering::AcqRel);
        } else {
            budget::release(units - used);
            window
                .units
                .store(used + WINDOW_BASE_UNITS, Ordering::Release);
        }
        result.map(|(value, _)| (value, Ticket(window.generation)))
    }

    /// The ticket of the newest window, for a caller that wrote nothing but must wait for what
    /// others wrote before it (a delete of an id a concurrent delete just removed).
    pub(crate) fn current_ticket(&self) -> Ticket {
        Ticket(read(&self.shared.window).generation)
    }

    /// Resolves once the window of `ticket` is flushed and on disk.
    ///
    /// # Errors
    /// The flush's failure, for this window and every later one.
    pub(crate) async fn wait_durable(&self, ticket: Ticket) -> Result<()> {
        self.request(|requests| requests.wanted = requests.wanted.max(ticket.0));
        let mut flushed = self.flushed.clone();
        let state = flushed
            .wait_for(|state| state.through >= ticket.0)
            .await
            .map_err(|_| Error::background("the flush thread stopped"))?;
        failure_for(&state, ticket.0)
    }

    /// Blocking [`wait_durable`](Self::wait_durable), for code that cannot await.
    pub(crate) fn wait_durable_blocking(&self, ticket: Ticket) -> Result<()> {
        self.request(|requests| requests.wanted = requests.wanted.max(ticket.0));
        let mut flushed = self.flushed.clone();
        loop {
            {
                let state = flushed.borrow_and_update();
                if state.through >= ticket.0 {
                    return failure_for(&state, ticket.0);
                }
            }
            // The flush thread publishes at least once per request; a short sleep keeps this
            // path (opening a database) free of a runtime.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Refuses every later write, flushes what is open, and ends the flush thread.
    ///
    /// # Errors
    /// The last flush's failure, if any flush failed.
    pub(crate) fn close_blocking(&self) -> Result<()> {
        self.shared
            .window
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.request(|requests| requests.stop = true);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                return Err(Error::background("the flush thread panicked"));
            }
        }
        let state = self.flushed.borrow();
        failure_for(&state, u64::MAX)
    }

    fn request(&self, change: impl FnOnce(&mut Requests)) {
        change(&mut lock(&self.shared.requests));
        self.shared.wake.notify_one();
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        if let Err(error) = self.close_blocking() {
            tracing::error!(error = %error, "the last flush of the session database failed");
        }
    }
}

impl FlushOnPressure for Shared {
    fn flush_soon(&self) {
        lock(&self.requests).pressure = true;
        self.wake.notify_one();
    }
}

fn failure_for(state: &Flushed, generation: u64) -> Result<()> {
    match &state.failure {
        Some((failed, failure)) if *failed <= generation => Err(match &**failure {
            FlushFailure::Sled(error) => Error::Storage(error.clone()),
            FlushFailure::Sync(error) => Error::Io {
                context: "cannot sync the session database to disk (fdatasync); reopen it".into(),
                source: std::io::Error::new(error.kind(), SharedIoError(failure.clone())),
            },
        }),
        _ => Ok(()),
    }
}

/// A failed `fdatasync` shared by every writer it concerns, as an `io::Error` source.
#[derive(Debug)]
struct SharedIoError(Arc<FlushFailure>);

impl std::fmt::Display for SharedIoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            FlushFailure::Sync(error) => error.fmt(f),
            FlushFailure::Sled(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for SharedIoError {}

fn flush_loop(
    shared: &Shared,
    db: &sled::Db,
    db_file: &File,
    policy: FlushPolicy,
    publish: &watch::Sender<Flushed>,
    stalls: &StallTracker,
) {
    let mut generation = 1;
    // Every window up to this one is durable (or failed) and published.
    let mut published = 0;
    let mut last_sync = Instant::now();
    // The oldest window whose sled flush has not been `fdatasync`ed yet: what a failure from
    // here on concerns.
    let mut first_unsynced: Option<u64> = None;
    let mut failure: Option<(u64, Arc<FlushFailure>)> = None;
    loop {
        let stop = wait_for_work(shared, policy, published, last_sync);

        let units = {
            let mut window = shared
                .window
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            window.generation += 1;
            window.units.swap(0, Ordering::AcqRel)
        };
        let closed = generation;
        generation += 1;
        if units > 0 && failure.is_none() {
            let flushed = budget::with_flush_slot(|| {
                let _tracked = stalls.track();
                db.flush()
            });
            let since = *first_unsynced.get_or_insert(closed);
            if let Err(error) = flushed {
                failure = Some((since, fail(FlushFailure::Sled(error))));
            }
        }
        // Given back before the `fdatasync`: see `budget.rs`.
        budget::release(units);

        // Decided after the window closed, so a writer that asked for durability meanwhile is
        // served by this flush, not left for the next interval.
        let sync = stop
            || failure.is_some()
            || policy == FlushPolicy::EveryWrite
            || lock(&shared.requests).wanted > published
            || interval_due(policy, last_sync);
        if !sync {
            continue;
        }
        if let Some(since) = first_unsynced.take() {
            if failure.is_none() {
                // sled's flush ends in `sync_file_range`, which neither flushes the drive's
                // cache nor the file's metadata; `fdatasync` on a second handle of the same file
                // does both (sled's lock on the file is an `flock`, which a second handle leaves
                // alone). One `fdatasync` covers every flush since the last one.
                if let Err(error) = db_file.sync_data() {
                    failure = Some((since, fail(FlushFailure::Sync(error))));
                }
            }
        }
        last_sync = Instant::now();
        published = closed;
        publish.send_replace(Flushed {
            through: closed,
            failure: failure.clone(),
        });
        if stop {
            return;
        }
    }
}

fn interval_due(policy: FlushPolicy, last_sync: Instant) -> bool {
    match policy {
        FlushPolicy::Periodic(every) => last_sync.elapsed() >= every,
        FlushPolicy::EveryWrite => false,
    }
}

/// Waits until a writer wants a window that is not durable yet, the budget is under pressure,
/// the interval is due or the flusher must stop; returns whether it must stop. Under
/// `Periodic`, a flush for pressure alone skips the `fdatasync` (see the module docs).
fn wait_for_work(shared: &Shared, policy: FlushPolicy, published: u64, last_sync: Instant) -> bool {
    let mut requests = lock(&shared.requests);
    loop {
        if requests.stop
            || requests.pressure
            || requests.wanted > published
            || interval_due(policy, last_sync)
        {
            requests.pressure = false;
            return requests.stop;
        }
        requests = match policy {
            FlushPolicy::Periodic(every) => {
                let left = every.saturating_sub(last_sync.elapsed());
                shared
                    .wake
                    .wait_timeout(requests, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            FlushPolicy::EveryWrite => shared
                .wake
                .wait(requests)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Logs a failed flush once, when it happens.
fn fail(failure: FlushFailure) -> Arc<FlushFailure> {
    tracing::error!(error = ?failure, "flushing sessions to disk failed");
    Arc::new(failure)
}

fn read(window: &RwLock<Window>) -> RwLockReadGuard<'_, Window> {
    window.read().unwrap_or_else(PoisonError::into_inner)
}

fn lock(requests: &Mutex<Requests>) -> MutexGuard<'_, Requests> {
    // The guarded flags stay consistent whatever panicked while holding the lock.
    requests.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{FlushPolicy, Session, SessionStorage, SledSessionStorage};

    fn session(n: u32) -> Session {
        let shop = format!("shop-{}.myshopify.com", n % 7);
        let mut session = Session::new(format!("{shop}_{n}"), shop, "", true);
        session.access_token = Some("x".repeat(200));
        session
    }

    /// Under `Periodic`, flushes forced by the budget free it without an `fdatasync` and without
    /// telling anyone the writes are durable; `flush()` then makes them so.
    #[tokio::test]
    async fn periodic_pressure_flushes_are_not_published_as_durable() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SledSessionStorage::builder(dir.path().join("db"))
            .flush_policy(FlushPolicy::Periodic(Duration::from_secs(3_600)))
            .open()
            .unwrap();
        let flusher = &storage.inner.flusher;
        let durable_at_open = flusher.flushed.borrow().through;
        let window_at_open = flusher.current_ticket();
        for n in 0..3_000 {
            storage.store_session(&session(n)).await.unwrap();
        }
        assert!(
            flusher.current_ticket() > window_at_open,
            "the budget forced flushes"
        );
        assert_eq!(
            flusher.flushed.borrow().through,
            durable_at_open,
            "none of them was published as durable"
        );
        let last = flusher.current_ticket();
        storage.flush().await.unwrap();
        assert!(flusher.flushed.borrow().through >= last.0);
    }
}
