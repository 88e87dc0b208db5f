//! Compaction: a fresh copy of a database's live sessions, and swapping it into place.
//!
//! sled reclaims the space of overwritten and deleted entries only as its segment cleaner gets
//! to them, so a database under churn takes more disk than its sessions need. A copy into a new
//! directory holds each live session once.
//!
//! [`SledSessionStorage::compact_in_place`] replaces a database by its copy so that a crash at
//! any moment leaves one whole database at the path:
//!
//! 1. copy into a staging directory next to it, close both databases, open the copy again and
//!    verify it (sound, as many sessions as were copied);
//! 2. exchange the two directories in one `renameat2(RENAME_EXCHANGE)` (`files.rs`): before it
//!    the path names the old database, after it the new one, never nothing;
//! 3. rename the staging path, which now holds the old database, to `PATH.bak-<UTC time>`;
//! 4. open the path again and verify it, then remove the backup (unless asked to keep it, or
//!    something was unreadable and so not copied).
//!
//! A crash before step 2 leaves the old database in place and a partial copy at the staging
//! path; after it, the new one in place and the old one at the staging or backup path.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{SledSessionStorage, codec, files};
use crate::{Error, FlushPolicy, Result, error::with_sources, storage::ttl};

/// What [`SledSessionStorage::compact_into`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactReport {
    /// Sessions copied: every session that had not passed its deadline.
    pub copied: usize,
    /// Sessions past their deadline, left behind.
    pub expired_dropped: usize,
    /// Records that do not decode, left behind: their ids and why.
    pub unreadable: Vec<(String, String)>,
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
    /// The copy is complete, closed, and verified (opened again).
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
    /// Where the old database was kept, when it was (`None`: it was removed).
    pub backup: Option<PathBuf>,
}

impl SledSessionStorage {
    /// Copies every session that has not passed its deadline, with that deadline, into a new
    /// database at `destination`, flushes it to disk, closes it, and opens it again to verify
    /// it. `tick` is called once per record read. The source is only read.
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
        // Periodic: the copy is made durable once, by the flush at the end.
        let copy = SledSessionStorage::builder(destination)
            .flush_policy(FlushPolicy::Periodic(Duration::from_secs(3_600)))
            .open()?;
        let now_ms = self.now_ms();
        let mut report = CompactReport::default();
        for item in &self.inner.sessions {
            let (key, bytes) = item?;
            tick();
            let id = String::from_utf8_lossy(&key);
            match codec::decode(&id, &bytes) {
                Ok(record) if ttl::is_expired(record.deadline_ms, now_ms) => {
                    report.expired_dropped += 1;
                }
                Ok(record) => {
                    copy.put(&record.session, record.deadline_ms).await?;
                    report.copied += 1;
                }
                Err(error) => {
                    let reason = match error {
                        Error::Corrupt { source, .. } => with_sources(&source),
                        other => with_sources(&other),
                    };
                    report.unreadable.push((id.into_owned(), reason));
                }
            }
        }
        copy.flush().await?;
        copy.close().await?;
        check_copy(destination, report.copied).await?;
        report.bytes_before = files::dir_size(self.path())?;
        report.bytes_after = files::dir_size(destination)?;
        Ok(report)
    }

    /// Replaces the database at `path` by a compacted copy, safely (see the steps in this
    /// module's docs, `src/storage/sled/compact.rs`): `staging` is where the copy is made
    /// (default `PATH.compact-<UTC time>`, beside it: it must be on the same file system).
    /// `on_step` hears of each step as it completes. The old database is kept at
    /// `PATH.bak-<UTC time>` when `keep_backup` is set or some record could not be read (and so
    /// was not copied); otherwise it is removed once the new one has been verified in place.
    ///
    /// The database must not be in use: this opens it, and fails with [`Error::Locked`] while
    /// an app has it open.
    ///
    /// # Errors
    /// [`Error::Unsupported`] off Linux (no `renameat2`); [`Error::CopyMismatch`] when the
    /// copy does not verify (before the exchange, the old database is untouched); what opening, copying or renaming
    /// returns.
    pub async fn compact_in_place(
        path: impl AsRef<Path>,
        staging: Option<PathBuf>,
        keep_backup: bool,
        tick: &mut (dyn FnMut() + Send),
        on_step: &mut (dyn FnMut(ReplaceStep) + Send),
    ) -> Result<ReplaceReport> {
        let path = path.as_ref();
        if !files::holds_database(path) {
            return Err(files::not_a_database(path));
        }
        let stamp = utc_stamp(SystemTime::now());
        let staging = staging.unwrap_or_else(|| sibling(path, &format!("compact-{stamp}")));
        let backup = sibling(path, &format!("bak-{stamp}"));

        let source = SledSessionStorage::open(path)?;
        let compact = source.compact_into(&staging, tick).await?;
        source.close().await?;
        on_step(ReplaceStep::Copied);

        files::exchange(path, &staging)?;
        files::sync_parent(path)?;
        on_step(ReplaceStep::Exchanged);

        files::rename_durably(&staging, &backup)?;
        on_step(ReplaceStep::BackupNamed);

        check_copy(path, compact.copied).await.inspect_err(|_| {
            tracing::error!(backup = %backup.display(), "the compacted database did not verify in place; the old one is kept");
        })?;
        on_step(ReplaceStep::Verified);

        let keep = keep_backup || !compact.unreadable.is_empty();
        if !keep {
            std::fs::remove_dir_all(&backup).map_err(|source| Error::Io {
                context: format!("cannot remove the backup {}", backup.display()),
                source,
            })?;
            files::sync_parent(&backup)?;
        }
        Ok(ReplaceReport {
            compact,
            backup: keep.then_some(backup),
        })
    }
}

/// Opens the copy at `path`, checks that it is sound and holds `sessions` records, and closes
/// it.
async fn check_copy(path: &Path, sessions: usize) -> Result<()> {
    let copy = SledSessionStorage::open(path)?;
    let report = copy.verify().await?;
    copy.close().await?;
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

/// `PATH.<suffix>`, beside `path`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
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
