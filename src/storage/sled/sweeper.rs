//! Removing expired sessions: [`SledSessionStorage::sweep_expired`] and the background
//! [`SweeperHandle`].

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use sled::IVec;
use tokio::{sync::oneshot, task::JoinHandle};

use super::{Inner, SledSessionStorage, charge::Sizes, index, writes};
use crate::{Error, Result, storage::ttl};

/// How many expiry entries one step of a sweep handles before it yields to other tasks: about
/// a millisecond of sled calls.
const SWEEP_STEP: usize = 64;

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

/// What the sweep did with one expiry entry.
enum Swept {
    Removed,
    Stale,
    Corrupt(String),
}

impl SledSessionStorage {
    /// Removes every session whose deadline has passed.
    ///
    /// Walks the expiry index from its start up to now, so its cost grows with the number of
    /// expired sessions, not with the store. Each entry is judged under its id's lock against
    /// the record as it is then (see `writes.rs`), so a session stored again a moment ago is
    /// never removed. The work runs on the calling task in steps of 64 entries, each about a
    /// millisecond of sled calls, with a yield to the runtime between steps, so a sweep never
    /// holds a tokio worker for long. Records that do not decode are skipped, logged and
    /// counted.
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
    /// assert_eq!(storage.sweep_expired().await?.removed, 1);      // and now removed
    /// # Ok(()) }
    /// ```
    pub async fn sweep_expired(&self) -> Result<SweepReport> {
        let started = Instant::now();
        let now_ms = self.now_ms();
        let end = index::first_live_expiry_key(now_ms);
        let mut report = SweepReport::default();
        let mut start: Vec<u8> = Vec::new();
        loop {
            let step = self
                .inner
                .by_expiry
                .range(start.as_slice()..end.as_slice())
                .keys()
                .take(SWEEP_STEP)
                .collect::<Result<Vec<IVec>, _>>()?;
            let Some(last) = step.last() else { break };
            // The next step starts just after this one's last key (corrupt records keep their
            // entries, so starting over from the beginning could loop).
            start.clear();
            start.extend_from_slice(last);
            start.push(0);

            for key in &step {
                report.examined += 1;
                match self.sweep_entry(key, now_ms).await? {
                    Swept::Removed => report.removed += 1,
                    Swept::Stale => report.stale_entries_removed += 1,
                    Swept::Corrupt(reason) => {
                        report.corrupt_skipped += 1;
                        tracing::warn!(%reason, "sweep skipped a corrupt session record");
                    }
                }
            }
            if step.len() < SWEEP_STEP {
                break;
            }
            tokio::task::yield_now().await;
        }
        report.elapsed = started.elapsed();
        if report.removed > 0 || report.corrupt_skipped > 0 {
            tracing::debug!(?report, "swept expired sessions");
        }
        Ok(report)
    }

    /// Removes the session of one expiry entry if, under its id's lock, its record still has
    /// that deadline; removes the entry alone if it is stale.
    async fn sweep_entry(&self, key: &[u8], now_ms: u64) -> Result<Swept> {
        let inner = &*self.inner;
        let (swept, _) = inner
            .charged_write(3, Sizes::default(), |_| {
                let _tracked = inner.watchdog.track();
                let Some((deadline, id)) = index::split_expiry_key(key) else {
                    writes::remove(&inner.by_expiry, key)?;
                    return Ok((Swept::Stale, 1));
                };
                let _lock = inner.locks.lock(id);
                match inner.get_record(id) {
                    Ok(Some(record))
                        if record.deadline_ms == Some(deadline)
                            && ttl::is_expired(record.deadline_ms, now_ms) =>
                    {
                        // The record first, as a delete does (see `writes.rs`).
                        writes::remove(&inner.sessions, id.as_bytes())?;
                        let shop_key = index::shop_key(&record.session.shop, id);
                        writes::remove(&inner.by_shop, &shop_key)?;
                        writes::remove(&inner.by_expiry, key)?;
                        Ok((Swept::Removed, 3))
                    }
                    Ok(_) => {
                        writes::remove(&inner.by_expiry, key)?;
                        Ok((Swept::Stale, 1))
                    }
                    Err(Error::Corrupt { source, .. }) => {
                        Ok((Swept::Corrupt(crate::error::with_sources(&source)), 0))
                    }
                    Err(error) => Err(error),
                }
            })
            .await?;
        Ok(swept)
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
        match storage.sweep_expired().await {
            Ok(_) | Err(Error::Closed) => {}
            Err(error) => tracing::error!(error = %error, "sweeping expired sessions failed"),
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
