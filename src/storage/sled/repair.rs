//! What an unclean shutdown can leave, and how open repairs it.
//!
//! The write order of `writes.rs` leaves only stale entries behind a write cut short, *if*
//! sled recovers a prefix of its log. It does not always: a log message whose blob file is
//! missing is skipped and later ones are applied (sled `pagecache/logger.rs:812-820`,
//! `iterator.rs:156-163`), and a corrupt message below the first tear drops the rest of its
//! segment while replay goes on with the next (`iterator.rs:129-149`). A record can then come
//! back without its index entries. So the database keeps a clean-shutdown marker in its `meta`
//! entry: cleared (durably) when a process opens it, set when it is closed or dropped. The
//! first open that finds it cleared, or finds no `meta` entry (a database of version 0.1, or a
//! crash during the first open), runs [`SledSessionStorage::repair`] before serving (how it
//! reads the trees: `audit.rs`): a missing entry is rebuilt from its record, a stale one
//! removed. Its pass also measures the sizes the charge needs (`charge.rs`), which a crash
//! leaves unknown.

use std::time::{Duration, Instant};

use super::{
    Inner, SledSessionStorage,
    audit::{self, Suspects},
    charge::Sizes,
    codec::{self, Meta},
    index,
    layout::LAYOUT_VERSION,
    verify::VerifyProblem,
    writes,
};
use crate::{Error, Result};

/// The key of the `meta` entry in sled's default tree.
const META_KEY: &[u8] = b"meta";

/// What [`SledSessionStorage::repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Records read.
    pub records: usize,
    /// Records that do not decode, left in place (each logged as a warning).
    pub corrupt: usize,
    /// Index entries rebuilt because their record had none.
    pub missing_rebuilt: usize,
    /// Stale or malformed index entries removed.
    pub stale_removed: usize,
    /// How long the repair took.
    pub elapsed: Duration,
}

impl SledSessionStorage {
    /// Makes the indexes agree with the records: rebuilds every missing index entry and removes
    /// every stale one. Safe while the store is in use: what the pass over the trees finds is
    /// judged again under the id's lock (`audit.rs`). Open runs it by itself after an unclean shutdown; an operator can run
    /// it any time. Reads everything, on tokio's blocking pool.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails; what was repaired before stays repaired.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let storage = shopify_session_storage::SledSessionStorage::open(dir.path().join("db"))?;
    /// let report = storage.repair().await?;
    /// assert_eq!(report.missing_rebuilt + report.stale_removed, 0);
    /// # Ok(()) }
    /// ```
    pub async fn repair(&self) -> Result<RepairReport> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.repair_blocking())
            .await
            .map_err(|source| Error::Background {
                task: "the repair task failed",
                source: Some(source),
            })?
    }
}

impl Inner {
    pub(super) fn repair_blocking(&self) -> Result<RepairReport> {
        let started = Instant::now();
        let suspects = audit::scan(&self.sessions, &self.by_shop, &self.by_expiry)?;
        self.repair_suspects(&suspects, started)
    }

    /// Repairs what [`audit::scan`] found, judging each suspect again under its id's lock.
    pub(super) fn repair_suspects(
        &self,
        suspects: &Suspects,
        started: Instant,
    ) -> Result<RepairReport> {
        let mut report = RepairReport {
            records: suspects.records,
            corrupt: suspects.corrupt.len(),
            ..RepairReport::default()
        };
        for id in &suspects.missing {
            if self.record_lacks_entries(id)? {
                report.missing_rebuilt += self.rebuild_entries(id)?;
            }
        }
        // `remove_if_stale` judges each suspect under its id's lock.
        let stale_shop = suspects.stale_shop.iter().map(|key| {
            let id = index::split_shop_key(key).map(|(_, id)| id);
            (&self.by_shop, key, id)
        });
        let stale_expiry = suspects.stale_expiry.iter().map(|key| {
            let id = index::split_expiry_key(key).map(|(_, id)| id);
            (&self.by_expiry, key, id)
        });
        for (tree, key, id) in stale_shop.chain(stale_expiry) {
            if self.remove_if_stale(tree, key, id)? {
                report.stale_removed += 1;
            }
        }
        for (key, reason) in &suspects.corrupt {
            let id = String::from_utf8_lossy(key);
            tracing::warn!(%id, %reason, "repair left a corrupt session record in place");
        }
        report.elapsed = started.elapsed();
        if report.missing_rebuilt + report.stale_removed > 0 {
            tracing::warn!(?report, "repaired the session indexes");
        }
        Ok(report)
    }

    /// Whether the record of `id` decodes and lacks an index entry, judged under its lock.
    fn record_lacks_entries(&self, id: &str) -> Result<bool> {
        let _lock = self.locks.lock(id);
        match self.get_record(id) {
            Ok(Some(record)) => Ok(!self.missing_entries(id, &record)?.is_empty()),
            Ok(None) | Err(Error::Corrupt { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Writes the missing index entries of the record of `id`, judged again under its lock.
    fn rebuild_entries(&self, id: &str) -> Result<usize> {
        // The entries it may write: those of the record as it is now (judged again below).
        let own = match self.get_record(id) {
            Ok(Some(record)) => super::writes::IndexKeys::of_record(id, &record).sizes(),
            _ => Sizes::default(),
        };
        let (rebuilt, _) = self.charged_write_blocking(2, own, |_| {
            let _lock = self.locks.lock(id);
            let Ok(Some(record)) = self.get_record(id) else {
                return Ok((0, 0));
            };
            if !own.covers(super::writes::IndexKeys::of_record(id, &record).sizes()) {
                // Stored anew since: the next repair judges it.
                return Ok((0, 0));
            }
            let missing = self.missing_entries(id, &record)?;
            for problem in &missing {
                match problem {
                    VerifyProblem::MissingShopEntry { shop, .. } => {
                        writes::insert(&self.by_shop, &index::shop_key(shop, id), &[])?;
                    }
                    VerifyProblem::MissingExpiryEntry { deadline_ms, .. } => {
                        let key = index::expiry_key(*deadline_ms, id);
                        writes::insert(&self.by_expiry, &key, &[])?;
                    }
                    _ => {}
                }
            }
            Ok((missing.len(), missing.len() as u64))
        })?;
        Ok(rebuilt)
    }

    /// Removes the index entry `key` of `tree` if it is stale, judged under the lock of `id`
    /// (`None`: a malformed key, which no record can claim); whether it removed one.
    fn remove_if_stale(&self, tree: &sled::Tree, key: &[u8], id: Option<&str>) -> Result<bool> {
        let (removed, _) = self.charged_write_blocking(1, Sizes::default(), |_| {
            let _lock = id.map(|id| self.locks.lock(id));
            let still_stale = match id {
                None => true,
                Some(id) => match self.get_record(id) {
                    Ok(Some(record)) => {
                        let keys = super::writes::IndexKeys::of_record(id, &record);
                        keys.shop.as_slice() != key && keys.expiry.as_deref() != Some(key)
                    }
                    Ok(None) => true,
                    Err(Error::Corrupt { .. }) => false,
                    Err(error) => return Err(error),
                },
            };
            if still_stale {
                // Counted only if there was still something to remove (the units are charged
                // either way).
                Ok((writes::remove(tree, key)?.is_some(), 1))
            } else {
                Ok((false, 0))
            }
        })?;
        Ok(removed)
    }
}

/// The database's `meta` entry; `None` for a database written before it existed.
pub(super) fn read_meta(db: &sled::Db) -> Result<Option<Meta>> {
    db.get(META_KEY)?
        .map(|bytes| codec::decode_meta(&bytes))
        .transpose()
}

/// Writes the `meta` entry with this clean-shutdown marker (not waiting for the disk).
pub(super) fn mark_shutdown(inner: &Inner, clean: bool) -> Result<()> {
    inner.charged_write_blocking(1, META_SIZES, |sizes| {
        write_meta(inner, clean, sizes)?;
        Ok(((), 1))
    })?;
    Ok(())
}

/// The sizes of the `meta` entry itself (key and a version 3 body, at most 26 bytes), for the
/// charge.
pub(super) const META_SIZES: Sizes = Sizes {
    entry: 4 + 32,
    key: 4,
};

/// The single-key write of the `meta` entry, for a caller that holds the charge's gate.
pub(super) fn write_meta(inner: &Inner, clean: bool, sizes: Sizes) -> Result<()> {
    let encrypted = inner.encrypted.load(std::sync::atomic::Ordering::Acquire);
    inner.db.insert(
        META_KEY,
        codec::encode_meta(LAYOUT_VERSION, clean, sizes.max(META_SIZES), encrypted),
    )?;
    Ok(())
}
