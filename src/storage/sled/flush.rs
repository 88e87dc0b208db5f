//! Group commit: writers wait for a flush that started after their write, and every writer
//! that arrives while a flush runs shares the next one.
//!
//! One dedicated thread flushes (sled's flush blocks on disk I/O and must not hold a tokio
//! worker). Writers take a ticket after their write is in sled's memory; the thread reads the
//! newest ticket, flushes, and publishes that ticket as flushed. A flush that started after a
//! ticket was taken covers that write, so one flush serves every writer that arrived before it
//! began, however many there are.

use std::{
    sync::{Arc, Condvar, Mutex, PoisonError},
    thread::JoinHandle,
};

use tokio::sync::watch;

use super::stall::StallTracker;
use crate::{Error, Result};

/// The flushing thread and the tickets it serves.
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    flushed: watch::Receiver<Flushed>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    requests: Mutex<Requests>,
    wake: Condvar,
}

#[derive(Default)]
struct Requests {
    /// The newest ticket handed out.
    newest_ticket: u64,
    /// Set when the storage is dropped: the thread flushes what is pending and ends.
    stop: bool,
}

/// What the thread last published.
#[derive(Clone, Default)]
struct Flushed {
    /// Every ticket up to this one is covered by a completed flush.
    through_ticket: u64,
    /// The tickets `(after, through]` of the last flush, with its error, if it failed.
    failure: Option<(u64, u64, sled::Error)>,
}

impl GroupCommit {
    /// Starts the flushing thread for `db`.
    pub(crate) fn start(db: sled::Db, stalls: StallTracker) -> Result<Self> {
        let shared = Arc::new(Shared {
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
        });
        let (publish, flushed) = watch::channel(Flushed::default());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("session-flush".into())
            .spawn(move || flush_loop(&db, &thread_shared, &publish, &stalls))
            .map_err(|source| Error::Io {
                context: "cannot start the session flush thread".into(),
                source,
            })?;
        Ok(GroupCommit {
            shared,
            flushed,
            thread: Some(thread),
        })
    }

    /// Resolves once a flush that began after this call has completed.
    pub(crate) async fn wait_durable(&self) -> Result<()> {
        let mut flushed = self.flushed.clone();
        let ticket = {
            let mut requests = lock(&self.shared.requests);
            requests.newest_ticket += 1;
            requests.newest_ticket
        };
        self.shared.wake.notify_one();
        let state = flushed
            .wait_for(|state| state.through_ticket >= ticket)
            .await
            .map_err(|_| Error::Background("the flush thread stopped"))?;
        match &state.failure {
            Some((after, through, error)) if *after < ticket && ticket <= *through => {
                Err(Error::Storage(error.clone()))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        lock(&self.shared.requests).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // Joining releases the thread's handle on the database, so the path can be opened
            // again as soon as the storage is dropped.
            if thread.join().is_err() {
                tracing::error!("the session flush thread panicked");
            }
        }
    }
}

fn flush_loop(
    db: &sled::Db,
    shared: &Shared,
    publish: &watch::Sender<Flushed>,
    stalls: &StallTracker,
) {
    let mut through = 0;
    loop {
        let target = {
            let mut requests = lock(&shared.requests);
            while requests.newest_ticket == through && !requests.stop {
                requests = shared
                    .wake
                    .wait(requests)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if requests.newest_ticket == through {
                return; // stopped, nothing pending
            }
            requests.newest_ticket
        };
        let flushed = {
            let _tracked = stalls.track();
            db.flush()
        };
        let failure = match flushed {
            Ok(_) => None,
            Err(error) => {
                tracing::error!(error = %error, "flushing sessions to disk failed");
                Some((through, target, error))
            }
        };
        publish.send_replace(Flushed {
            through_ticket: target,
            failure,
        });
        through = target;
    }
}

fn lock(requests: &Mutex<Requests>) -> std::sync::MutexGuard<'_, Requests> {
    // The guarded counters stay consistent whatever panicked while holding the lock.
    requests.lock().unwrap_or_else(PoisonError::into_inner)
}
