//! A watchdog: the last line against a hung disk or a hang inside sled.
//!
//! sled 0.34.7's I/O pool can deadlock when writers run far ahead of the disk; this crate
//! keeps it from doing so (`budget.rs`). Should anything still hang (a disk that stops
//! answering, a bug), this watchdog notices when tracked operations make no progress for
//! [`STALL_AFTER`], logs an error, and counts it, so a hung server says so instead of going
//! silent. No call from outside sled could unblock such a hang.

use std::{
    sync::{
        Arc, Condvar, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::{Error, Result};

/// How often the watchdog looks.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long tracked operations may make no progress before the watchdog reports a stall.
/// Long enough that a slow disk's flush does not count.
const STALL_AFTER: Duration = Duration::from_secs(30);

/// The watchdog thread and the counters it watches.
pub(crate) struct StallWatchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    in_flight: AtomicUsize,
    completed: AtomicU64,
    stalls: AtomicU64,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// Hands out [`Tracked`] guards; cheap to clone, for threads other than the storage's.
#[derive(Clone)]
pub(crate) struct StallTracker(Arc<Shared>);

impl StallTracker {
    /// Tracks one operation that may wait on sled's writer machinery.
    pub(crate) fn track(&self) -> Tracked<'_> {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        Tracked(&self.0)
    }
}

/// Marks one sled operation as under way until dropped.
pub(crate) struct Tracked<'a>(&'a Shared);

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.0.completed.fetch_add(1, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl StallWatchdog {
    pub(crate) fn start() -> Result<Self> {
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("session-sled-watchdog".into())
            .spawn(move || watch(&thread_shared))
            .map_err(|source| Error::Io {
                context: "cannot start the sled watchdog thread".into(),
                source,
            })?;
        Ok(StallWatchdog {
            shared,
            thread: Some(thread),
        })
    }

    /// Tracks one operation that may wait on sled's writer machinery.
    pub(crate) fn track(&self) -> Tracked<'_> {
        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
        Tracked(&self.shared)
    }

    /// A tracker feeding this watchdog, for another thread.
    pub(crate) fn tracker(&self) -> StallTracker {
        StallTracker(self.shared.clone())
    }

    /// How many stalls the watchdog has reported.
    pub(crate) fn stalls(&self) -> u64 {
        self.shared.stalls.load(Ordering::Relaxed)
    }
}

impl Drop for StallWatchdog {
    fn drop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(shared: &Shared) {
    let mut last_completed = shared.completed.load(Ordering::Relaxed);
    let mut stalled_for = Duration::ZERO;
    let mut stop = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stop {
        stop = shared
            .wake
            .wait_timeout(stop, CHECK_EVERY)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        let completed = shared.completed.load(Ordering::Relaxed);
        let busy = shared.in_flight.load(Ordering::Relaxed) > 0;
        if busy && completed == last_completed {
            stalled_for += CHECK_EVERY;
        } else {
            stalled_for = Duration::ZERO;
        }
        last_completed = completed;
        if stalled_for == STALL_AFTER {
            tracing::error!(
                stalled_secs = stalled_for.as_secs(),
                "session storage: sled has made no progress for {} s (a disk that stopped \
                 answering, or a hang inside sled); only a restart clears a hang inside sled",
                stalled_for.as_secs()
            );
            shared.stalls.fetch_add(1, Ordering::Relaxed);
        }
    }
}
