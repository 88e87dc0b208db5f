//! [`SledSessionStorageBuilder`] and [`FlushPolicy`].

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use super::{SledSessionStorage, ttl::TtlPolicy};
use crate::{Clock, Error, Result, SystemClock};

/// sled's default page cache is 1 GiB, sized for general-purpose databases. A session record
/// is about 200–600 bytes and its two index entries under 200 more, so 64 MiB keeps the hot
/// part of a store of a hundred thousand sessions in memory while staying small beside the
/// application that embeds it.
pub const DEFAULT_CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// When writes reach the disk.
///
/// What "on disk" means is what sled's flush does: on Linux it writes the log and waits for
/// `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` (elsewhere `fsync`). That survives a crash
/// of the process, and of the operating system once the data has left the page cache, but
/// `sync_file_range` neither flushes the drive's volatile write cache nor syncs file metadata,
/// so after a power loss on a drive with a volatile cache the newest writes can still be lost.
/// Use a drive with power-loss protection (or one whose write cache is off) where that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// A store or delete resolves only after its write has been flushed. Writers that arrive
    /// while a flush runs share the next one (group commit), so throughput grows with the
    /// number of concurrent writers.
    #[default]
    EveryWrite,
    /// sled flushes in the background on this interval; a store or delete resolves once it is
    /// in memory. A crash can lose the writes of the last interval. At least 1 ms.
    ///
    /// **Known hazard:** sled 0.34.7 has an internal deadlock that sustained write load at full
    /// speed can trigger (here: 2 of 3 runs of 200,000 back-to-back store/delete operations
    /// hung; none with `EveryWrite`, whose flushes pace the writers). A hung store is reported
    /// by [`SledSessionStorage::sled_stalls_detected`](crate::SledSessionStorage::sled_stalls_detected)
    /// and an error log; only a restart clears it. Prefer `EveryWrite` unless writes are rare.
    Periodic(Duration),
}

/// Settings for [`SledSessionStorage`]; from [`SledSessionStorage::builder`].
///
/// ```
/// use std::time::Duration;
/// use shopify_session_storage::{FlushPolicy, SledSessionStorage};
///
/// # let dir = tempfile::tempdir()?;
/// let storage = SledSessionStorage::builder(dir.path().join("sessions.db"))
///     .flush_policy(FlushPolicy::Periodic(Duration::from_millis(100)))
///     .retention(Duration::from_secs(3_600))
///     .offline_ttl(Some(Duration::from_secs(90 * 24 * 3_600)))
///     .open()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct SledSessionStorageBuilder {
    path: PathBuf,
    flush_policy: FlushPolicy,
    ttl: TtlPolicy,
    cache_capacity: u64,
    clock: Arc<dyn Clock>,
}

impl SledSessionStorageBuilder {
    pub(super) fn new(path: impl AsRef<Path>) -> Self {
        SledSessionStorageBuilder {
            path: path.as_ref().to_path_buf(),
            flush_policy: FlushPolicy::default(),
            ttl: TtlPolicy {
                retention: Duration::ZERO,
                offline_ttl: None,
            },
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            clock: Arc::new(SystemClock),
        }
    }

    /// When writes reach the disk (default [`FlushPolicy::EveryWrite`]).
    pub fn flush_policy(mut self, policy: FlushPolicy) -> Self {
        self.flush_policy = policy;
        self
    }

    /// How long a session is kept past its own expiry (default 0).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.ttl.retention = retention;
        self
    }

    /// The lifetime of a session that has neither `expires` nor `refresh_token_expires`, from
    /// the moment it is stored (default `None`: kept until deleted). Shopify's non-expiring
    /// offline tokens are such sessions.
    pub fn offline_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl.offline_ttl = ttl;
        self
    }

    /// The size of sled's page cache in bytes (default [`DEFAULT_CACHE_CAPACITY`]). sled may
    /// use somewhat more memory than this.
    pub fn cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity = bytes;
        self
    }

    /// Where expiry decisions read the time (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Opens (or creates) the database.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a periodic flush interval under 1 ms or a zero cache;
    /// [`Error::Locked`] when the database is open elsewhere (in this process or another), after
    /// a grace of 250 ms;
    /// [`Error::Io`] when the directory cannot be created; [`Error::Storage`] when sled fails.
    pub fn open(self) -> Result<SledSessionStorage> {
        let flush_every_ms = match self.flush_policy {
            FlushPolicy::EveryWrite => None,
            FlushPolicy::Periodic(every) => {
                let millis = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
                if millis == 0 {
                    return Err(Error::InvalidConfig(format!(
                        "FlushPolicy::Periodic({every:?}): the interval must be at least 1 ms"
                    )));
                }
                Some(millis)
            }
        };
        if self.cache_capacity == 0 {
            return Err(Error::InvalidConfig(
                "cache_capacity must be more than 0 bytes".into(),
            ));
        }
        create_private_dir(&self.path)?;
        let config = sled::Config::new()
            .path(&self.path)
            .cache_capacity(self.cache_capacity)
            .flush_every_ms(flush_every_ms);
        let db = open_with_lock_grace(&config, &self.path)?;
        SledSessionStorage::from_db(db, self.path, self.flush_policy, self.ttl, self.clock)
    }
}

impl fmt::Debug for SledSessionStorageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledSessionStorageBuilder")
            .field("path", &self.path)
            .field("flush_policy", &self.flush_policy)
            .field("retention", &self.ttl.retention)
            .field("offline_ttl", &self.ttl.offline_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("clock", &self.clock)
            .finish()
    }
}

/// Creates the database directory readable by its owner only (sessions hold access tokens).
/// An existing directory keeps its permissions.
fn create_private_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(|source| Error::Io {
        context: format!(
            "cannot create the session database directory {}",
            path.display()
        ),
        source,
    })
}

/// How long an open keeps trying while the database is locked. After the last handle of a
/// database is dropped, sled's I/O threads can hold its lock file for a moment longer (fuzzing
/// found a drop followed at once by an open failing as locked); a lock held by a live storage
/// is still reported as [`Error::Locked`] after this short grace.
const LOCK_GRACE: Duration = Duration::from_millis(250);
const LOCK_RETRY_EVERY: Duration = Duration::from_millis(10);

fn open_with_lock_grace(config: &sled::Config, path: &Path) -> Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match config
            .open()
            .map_err(|error| classify_open_error(path, error))
        {
            Err(Error::Locked { .. }) if started.elapsed() < LOCK_GRACE => {
                std::thread::sleep(LOCK_RETRY_EVERY);
            }
            other => return other,
        }
    }
}

/// sled reports a held lock as a plain I/O error ("could not acquire lock on ..."), with
/// nothing else to tell it from other I/O failures; its text is the only sign.
fn classify_open_error(path: &Path, error: sled::Error) -> Error {
    match &error {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => Error::Locked {
            path: path.to_path_buf(),
            source: error,
        },
        _ => Error::Storage(error),
    }
}
