//! Removing expired sessions: [`SledSessionStorage::sweep_expired`] and the background
//! [`SweeperHandle`].

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use sled::IVec;
use tokio::{sync::oneshot, task::JoinHandle};

use super::{Inner, SledSessionStorage, codec, index};
use crate::Result;

/// How many expired sessions one sweep transaction removes, so that writers never wait behind
/// one huge transaction.
const SWEEP_BATCH: usize = 1_000;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Expired sessions removed.
    pub removed: usize,
    /// Expiry index entries read; with a sound index, the expired sessions and nothing else.
    pub examined: usize,
    /// Records skipped because they do not decode (each logged as a warning).
    pub corrupt_skipped: usize,
    /// Index entries removed because their record was gone or had moved to another deadline.
    pub stale_entries_removed: usize,
    /// How long the sweep took.
    pub elapsed: Duration,
}

/// What one batch did, recomputed if sled retries the transaction.
#[derive(Default)]
struct BatchOutcome {
    removed: usize,
    stale: usize,
    corrupt: Vec<(String, String)>,
}

impl SledSessionStorage {
    /// Removes every session whose deadline has passed.
    ///
    /// Walks the expiry index from its start up to now, in transactions of at most 1,000
    /// sessions, so its cost grows with the number of expired sessions, not with the store.
    /// Records that do not decode are skipped, logged and counted. This blocks on sled; from
    /// async code call it through `spawn_blocking`, or use [`spawn_sweeper`](Self::spawn_sweeper).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when sled fails; what was removed before stays
    /// removed.
    ///
    /// ```
    /// use std::{sync::Arc, time::{Duration, SystemTime}};
    /// use shopify_session_storage::{ManualClock, Session, SessionStorage, SledSessionStorage};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let clock = Arc::new(ManualClock::new(SystemTime::now()));
    /// let storage = SledSessionStorage::builder(dir.path().join("db")).clock(clock.clone()).open()?;
    /// let mut session = Session::new("a.myshopify.com_1", "a.myshopify.com", "", true);
    /// session.expires = Some(SystemTime::now() + Duration::from_secs(60));
    /// storage.store_session(&session).await?;
    ///
    /// clock.advance(Duration::from_secs(61));
    /// assert_eq!(storage.load_session(&session.id).await?, None); // expired at once
    /// assert_eq!(storage.sweep_expired()?.removed, 1);            // and now removed
    /// # Ok(()) }
    /// ```
    pub fn sweep_expired(&self) -> Result<SweepReport> {
        let started = Instant::now();
        let end = index::first_live_expiry_key(self.now_ms());
        let mut report = SweepReport::default();
        let mut start: Vec<u8> = Vec::new();
        loop {
            let batch = self
                .inner
                .by_expiry
                .range(start.as_slice()..end.as_slice())
                .keys()
                .take(SWEEP_BATCH)
                .collect::<Result<Vec<IVec>, _>>()?;
            let Some(last) = batch.last() else { break };
            // The next batch starts just after this one's last key (corrupt records keep
            // their entries, so starting over from the beginning could loop).
            start.clear();
            start.extend_from_slice(last);
            start.push(0);

            let outcome = self.sweep_batch(&batch)?;
            report.examined += batch.len();
            report.removed += outcome.removed;
            report.stale_entries_removed += outcome.stale;
            report.corrupt_skipped += outcome.corrupt.len();
            for (id, reason) in outcome.corrupt {
                tracing::warn!(%id, %reason, "sweep skipped a corrupt session record");
            }
            if batch.len() < SWEEP_BATCH {
                break;
            }
        }
        report.elapsed = started.elapsed();
        if report.removed > 0 || report.corrupt_skipped > 0 {
            tracing::debug!(?report, "swept expired sessions");
        }
        Ok(report)
    }

    fn sweep_batch(&self, batch: &[IVec]) -> Result<BatchOutcome> {
        self.transaction(|sessions, by_shop, by_expiry| {
            let mut outcome = BatchOutcome::default();
            for key in batch {
                let Some((deadline, id)) = index::split_expiry_key(key) else {
                    by_expiry.remove(key)?;
                    outcome.stale += 1;
                    continue;
                };
                let record = match sessions.get(id.as_bytes())? {
                    None => None,
                    Some(bytes) => match codec::decode(id, &bytes) {
                        Ok(record) => Some(record),
                        Err(error) => {
                            outcome.corrupt.push((id.to_string(), error.to_string()));
                            continue;
                        }
                    },
                };
                match record {
                    Some(record) if record.deadline_ms == Some(deadline) => {
                        sessions.remove(id.as_bytes())?;
                        by_shop.remove(index::shop_key(&record.session.shop, id))?;
                        by_expiry.remove(key)?;
                        outcome.removed += 1;
                    }
                    _ => {
                        by_expiry.remove(key)?;
                        outcome.stale += 1;
                    }
                }
            }
            Ok(outcome)
        })
    }

    /// Starts a tokio task that calls [`sweep_expired`](Self::sweep_expired) every `every`
    /// (at least 1 ms), first after one interval. A failed sweep is logged with `tracing` and
    /// the loop goes on. The task holds the storage only while it sweeps, so dropping every
    /// clone of the storage closes the database and ends the task.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    #[must_use = "dropping the handle stops the sweeper"]
    pub fn spawn_sweeper(&self, every: Duration) -> SweeperHandle {
        let every = every.max(Duration::from_millis(1));
        let storage = Arc::downgrade(&self.inner);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(sweep_loop(storage, every, stopped));
        SweeperHandle {
            stop: Some(stop),
            task: Some(task),
        }
    }
}

async fn sweep_loop(storage: Weak<Inner>, every: Duration, mut stopped: oneshot::Receiver<()>) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = ticks.tick() => {}
        }
        let Some(inner) = storage.upgrade() else {
            return;
        };
        let storage = SledSessionStorage { inner };
        match tokio::task::spawn_blocking(move || storage.sweep_expired()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(error = %error, "sweeping expired sessions failed"),
            Err(error) => tracing::error!(error = %error, "the sweep task failed"),
        }
    }
}

/// The background sweeper of [`SledSessionStorage::spawn_sweeper`]. Dropping it stops the
/// sweeper (a sweep under way finishes first); [`shutdown`](Self::shutdown) also waits for it.
#[derive(Debug)]
pub struct SweeperHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SweeperHandle {
    /// Stops the sweeper and waits until it has ended.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the task has ended already.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(error) = task.await {
                tracing::error!(error = %error, "the sweeper task failed");
            }
        }
    }

    /// Whether the sweeper task has ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for SweeperHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
