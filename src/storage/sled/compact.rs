//! Compaction: a fresh copy of a database's live sessions, and swapping it into place.
//!
//! sled reclaims the space of overwritten and deleted entries only as its segment cleaner gets
//! to them, so a database under churn takes more disk than its sessions need. A copy into a new
//! directory holds each live session once.
//!
//! [`SledSessionStorage::compact_in_place`] replaces a database by its copy so that a crash at
//! any moment leaves one whole database at the path, and no app's write is lost:
//!
//! 1. open the database (so no app has it), copy it into a staging directory beside it, close
//!    both, open the copy again and verify it (sound, as many sessions as were copied), and
//!    give it the database's owner and mode;
//! 2. take the database's lock (sled's `flock`, `files.rs`) the moment sled lets go of it, so
//!    no app opens the old database from here on: an app that got in first fails the
//!    compaction, and nothing has changed;
//! 3. exchange the two directories in one `renameat2(RENAME_EXCHANGE)`: before it the path
//!    names the old database, after it the new one, never nothing;
//! 4. rename the staging path, which now holds the old database (and the lock), to
//!    `PATH.bak-<UTC time>`;
//! 5. open the path again and verify it; should it not verify, exchange back. (An app that
//!    opened the new database first leaves it unverified in place, but it was verified before
//!    the exchange: the backup is then kept.)
//! 6. remove the backup, still under its lock, unless asked to keep it or some record was left
//!    out of the copy.
//!
//! A crash before step 3 leaves the old database in place and a partial copy at the staging
//! path; after it, the new one in place and the old one at the staging or backup path.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{SledSessionStorage, codec, files};
use crate::{Error, FlushPolicy, Result, encryption::KeySet, error::with_sources, storage::ttl};

/// What [`SledSessionStorage::compact_into`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactReport {
    /// Sessions copied: every session that had not passed its deadline.
    pub copied: usize,
    /// Sessions past their deadline, left behind.
    pub expired_dropped: usize,
    /// Records left out of the copy: those that do not decode, and those the new database
    /// refuses (a record over its size limit). Their ids, and why.
    pub left_out: Vec<(String, String)>,
    /// The source database's size on disk, in bytes.
    pub bytes_before: u64,
    /// The copy's size on disk, in bytes, once opened again (sled fills a database's last log
    /// segment out to its full size when it opens it).
    pub bytes_after: u64,
}

/// A step of [`SledSessionStorage::compact_in_place`], reported as it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplaceStep {
    /// The copy is complete, verified, and the old database locked.
    Copied,
    /// The path now names the copy; the staging path names the old database.
    Exchanged,
    /// The old database is at the backup path.
    BackupNamed,
    /// The database at the path opened again and verified.
    Verified,
}

/// What [`SledSessionStorage::compact_in_place`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplaceReport {
    /// The copy.
    pub compact: CompactReport,
    /// Whether the new database verified again once in place (`false` when an app opened it
    /// first; it had verified before the exchange).
    pub verified_in_place: bool,
    /// Where the old database was kept, when it was (`None`: it was removed).
    pub backup: Option<PathBuf>,
}

impl SledSessionStorage {
    /// Copies every session that has not passed its deadline, with that deadline, into a new
    /// database at `destination`, flushes it to disk, closes it, and opens it again to verify
    /// it. `tick` is called once per record read. The source is only read. A copy that fails
    /// is removed.
    ///
    /// # Errors
    /// [`Error::Io`] when `destination` exists already (nothing is written then) or cannot be
    /// created; [`Error::CopyMismatch`] when the copy does not verify; what opening or writing
    /// either database returns.
    ///
    /// ```
    /// use shopify_session_storage::{Session, SessionStorage, SledSessionStorage};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let storage = SledSessionStorage::open(dir.path().join("sessions.db"))?;
    /// storage.store_session(&Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false)).await?;
    ///
    /// let report = storage.compact_into(dir.path().join("compacted.db"), &mut || {}).await?;
    /// assert_eq!(report.copied, 1);
    /// # Ok(()) }
    /// ```
    pub async fn compact_into(
        &self,
        destination: impl AsRef<Path>,
        tick: &mut (dyn FnMut() + Send),
    ) -> Result<CompactReport> {
        let destination = destination.as_ref();
        if destination.exists() {
            return Err(Error::Io {
                context: format!("cannot compact into {}", destination.display()),
                source: std::io::ErrorKind::AlreadyExists.into(),
            });
        }
        let copied = self.copy_into(destination, tick).await;
        if copied.is_err() {
            if let Err(error) = std::fs::remove_dir_all(destination) {
                tracing::warn!(path = %destination.display(), %error, "could not remove a failed copy");
            }
        }
        copied
    }

    async fn copy_into(
        &self,
        destination: &Path,
        tick: &mut (dyn FnMut() + Send),
    ) -> Result<CompactReport> {
        // Sealed records are opened and sealed again with the active key: a database opened
        // without its keys cannot be copied. The copy is encrypted if the database is.
        let encrypted = self.inner.sealing("compact it")?.is_some();
        // Periodic: the copy is made durable once, by the flush at the end.
        let copy = SledSessionStorage::builder(destination)
            .flush_policy(FlushPolicy::Periodic(Duration::from_secs(3_600)))
            .with_keys(self.inner.keys.clone(), encrypted)
            .open()?;
        let now_ms = self.now_ms();
        let mut report = CompactReport::default();
        for item in &self.inner.sessions {
            let (key, bytes) = item?;
            tick();
            let id = String::from_utf8_lossy(&key);
            let left_out = match codec::decode_open(&id, &bytes, self.inner.keys.as_deref()) {
                Ok(record) if ttl::is_expired(record.deadline_ms, now_ms) => {
                    report.expired_dropped += 1;
                    continue;
                }
                Ok(record) => match copy.put(&record.session, record.deadline_ms).await {
                    Ok(_) => {
                        report.copied += 1;
                        continue;
                    }
                    Err(Error::InvalidSession(reason)) => reason,
                    Err(error) => return Err(error),
                },
                Err(Error::Corrupt { source, .. }) => with_sources(&source),
                Err(error) => return Err(error),
            };
            report.left_out.push((id.into_owned(), left_out));
        }
        copy.flush().await?;
        copy.close().await?;
        check_copy(destination, report.copied).await?;
        report.bytes_before = files::dir_size(self.path())?;
        report.bytes_after = files::dir_size(destination)?;
        Ok(report)
    }

    /// Replaces the database at `path` by a compacted copy, safely (the steps are in this
    /// module's docs, `src/storage/sled/compact.rs`). `staging` is where the copy is made
    /// (default `PATH.compact-<UTC time>` beside it; it must be on the same file system).
    /// `tick` is called once per record read; `on_step` hears of each step as it completes.
    /// The old database is kept at `PATH.bak-<UTC time>` when `keep_backup` is set, when a
    /// record was left out of the copy, or when the new one could not be verified in place;
    /// otherwise it is removed.
    ///
    /// The database must not be in use: this opens it, and fails with [`Error::Locked`] while
    /// an app has it open. An encrypted database needs its `keys`: its records are opened and
    /// sealed again with the active key.
    ///
    /// # Errors
    /// [`Error::Unsupported`] off Linux (no `renameat2`); [`Error::InvalidConfig`] for a
    /// staging path inside the database; [`Error::CopyMismatch`] when the copy does not verify
    /// (the database is unchanged then); what opening, copying or renaming returns.
    pub async fn compact_in_place(
        path: impl AsRef<Path>,
        staging: Option<PathBuf>,
        keep_backup: bool,
        keys: Option<KeySet>,
        tick: &mut (dyn FnMut() + Send),
        on_step: &mut (dyn FnMut(ReplaceStep) + Send),
    ) -> Result<ReplaceReport> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let keys = keys.map(Arc::new);
            replace(path.as_ref(), staging, keep_backup, keys, tick, on_step).await
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (path, staging, keep_backup, keys, tick, on_step);
            Err(Error::Unsupported(
                "replacing a database in place needs Linux's renameat2 (RENAME_EXCHANGE)",
            ))
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
async fn replace(
    path: &Path,
    staging: Option<PathBuf>,
    keep_backup: bool,
    keys: Option<Arc<KeySet>>,
    tick: &mut (dyn FnMut() + Send),
    on_step: &mut (dyn FnMut(ReplaceStep) + Send),
) -> Result<ReplaceReport> {
    if !files::holds_database(path) {
        return Err(files::not_a_database(path));
    }
    // Absolute and without a trailing `/` or `.`, so the names beside it are beside it.
    let path = &std::fs::canonicalize(path).map_err(|source| Error::Io {
        context: format!("cannot resolve {}", path.display()),
        source,
    })?;
    let stamp = utc_stamp(SystemTime::now());
    let staging = match staging {
        Some(staging) => std::path::absolute(&staging).map_err(|source| Error::Io {
            context: format!("cannot resolve {}", staging.display()),
            source,
        })?,
        None => sibling(path, &format!("compact-{stamp}")),
    };
    if staging.starts_with(path) {
        return Err(Error::InvalidConfig(format!(
            "the staging path {} is inside the database {}",
            staging.display(),
            path.display()
        )));
    }
    let backup = sibling(path, &format!("bak-{stamp}"));

    // Step 1.
    let source = SledSessionStorage::builder(path)
        .create_if_missing(false)
        .with_keys(keys, false)
        .open()?;
    let copied = source.compact_into(&staging, tick).await;
    let closed = source.close().await;
    let compact = copied?;
    let remove_staging = |error: Error| {
        if let Err(removal) = std::fs::remove_dir_all(&staging) {
            tracing::warn!(path = %staging.display(), error = %removal, "could not remove the copy");
        }
        error
    };
    closed.map_err(remove_staging)?;
    files::match_owner(path, &staging).map_err(remove_staging)?;
    // Step 2.
    let old_lock = files::lock_database(path).map_err(remove_staging)?;
    on_step(ReplaceStep::Copied);

    // Step 3.
    files::exchange(path, &staging)?;
    files::sync_parent(path)?;
    files::sync_parent(&staging)?;
    on_step(ReplaceStep::Exchanged);

    // Step 4.
    files::rename_durably(&staging, &backup)?;
    on_step(ReplaceStep::BackupNamed);

    // Step 5.
    let verified_in_place = match check_copy(path, compact.copied).await {
        Ok(()) => {
            on_step(ReplaceStep::Verified);
            true
        }
        Err(Error::Locked { .. }) => {
            tracing::warn!(backup = %backup.display(), "an app opened the compacted database before it was verified in place; the old one is kept");
            false
        }
        Err(error) => {
            files::exchange(path, &backup)?;
            files::rename_durably(&backup, &staging)?;
            return Err(error);
        }
    };

    // Step 6, under the old database's lock.
    let keep = keep_backup || !compact.left_out.is_empty() || !verified_in_place;
    if !keep {
        std::fs::remove_dir_all(&backup).map_err(|source| Error::Io {
            context: format!("cannot remove the backup {}", backup.display()),
            source,
        })?;
        files::sync_parent(&backup)?;
    }
    drop(old_lock);
    Ok(ReplaceReport {
        compact,
        verified_in_place,
        backup: keep.then_some(backup),
    })
}

/// Opens the copy at `path`, checks that it is sound and holds `sessions` records, and closes
/// it.
async fn check_copy(path: &Path, sessions: usize) -> Result<()> {
    let copy = SledSessionStorage::builder(path)
        .create_if_missing(false)
        .open()?;
    let report = copy.verify().await;
    copy.close().await?;
    let report = report?;
    if !report.is_sound() || report.records != sessions {
        return Err(Error::CopyMismatch {
            path: path.to_path_buf(),
            copied: sessions,
            found: report.records,
            problems: report.problems.len(),
        });
    }
    Ok(())
}

/// `PATH.<suffix>`, beside `path` (which has a file name: it is canonical).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or(path.as_os_str()).to_owned();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// `YYYYMMDDTHHMMSSZ`: sortable, and safe in a file name.
fn utc_stamp(now: SystemTime) -> String {
    let seconds = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    i64::try_from(seconds)
        .ok()
        .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp(seconds).ok())
        .and_then(|at| at.format(format).ok())
        .unwrap_or_else(|| seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_sort_by_time() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_400_000);
        assert_eq!(utc_stamp(at), "20261204T160000Z");
        assert_eq!(
            sibling(Path::new("/srv/app/sessions.db"), "bak-x"),
            PathBuf::from("/srv/app/sessions.db.bak-x")
        );
    }
}
