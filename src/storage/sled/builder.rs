//! [`SledSessionStorageBuilder`] and [`FlushPolicy`].

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    SledSessionStorage, audit, charge,
    codec::Meta,
    files,
    layout::{LAYOUT_VERSION, Limits, NEW_SEGMENT_SIZE},
    repair,
};
use crate::{Clock, Error, Result, SystemClock, encryption::KeySet, storage::ttl::TtlPolicy};

/// sled's default page cache is 1 GiB, sized for general-purpose databases. A session record
/// is about 200–600 bytes and its two index entries under 200 more, so 64 MiB keeps the hot
/// part of a store of a hundred thousand sessions in memory while staying small beside the
/// application that embeds it.
pub const DEFAULT_CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// When writes reach the disk.
///
/// "On disk" means what survives a power loss: sled's flush (which on Linux ends in
/// `sync_file_range`, flushing neither the drive's cache nor the file's metadata) followed by
/// an `fdatasync` of the database's log file. Under either policy a failed flush is final: it
/// is reported for its writes and every later one, and the database must be reopened.
///
/// Under either policy, writers that run far ahead of the disk wait for a flush (a
/// process-wide budget of unflushed writes), which is what keeps sled 0.34.7's I/O pool out of
/// its known deadlock (see the crate's README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// A store or delete resolves only after its write is on disk. Writers that arrive while a
    /// flush runs share the next one (group commit), so throughput grows with the number of
    /// concurrent writers.
    #[default]
    EveryWrite,
    /// A store or delete resolves once it is in memory; a durable flush runs at least this
    /// often. (When writers fill the budget, sled's buffers are written to the file sooner,
    /// without an `fdatasync`: that survives a crash of the process, not a power loss.) A crash
    /// or power loss can lose the writes of the last interval, never more, and never half of a
    /// write. At least 1 ms.
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
    pub(super) path: PathBuf,
    pub(super) flush_policy: FlushPolicy,
    pub(super) ttl: TtlPolicy,
    cache_capacity: u64,
    pub(super) clock: Arc<dyn Clock>,
    create_if_missing: bool,
    pub(super) keys: Option<Arc<KeySet>>,
    /// Whether opening with `keys` turns encryption on (see [`Self::keys`]).
    encrypt: bool,
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
            create_if_missing: true,
            keys: None,
            encrypt: false,
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

    /// Whether [`open`](Self::open) creates the database when the path holds none (default
    /// `true`). Tools that inspect a database turn it off, so a mistyped path is an error
    /// rather than a new empty database.
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Seals every session's access and refresh tokens written from now on with the active key
    /// of `keys`, and opens tokens sealed with any key of the set (README, "Security").
    ///
    /// The database is marked encrypted when it opens: from then on a storage opened without
    /// keys reads what needs none and refuses every write
    /// ([`Error::EncryptionKeysRequired`]), and only
    /// [`decrypt_all`](SledSessionStorage::decrypt_all) turns encryption off. Records written
    /// before stay as they are until [`rotate_keys`](SledSessionStorage::rotate_keys) seals
    /// them. Opening checks the keys against a sealed record: a key set without its key, or
    /// with another key under its id, fails the open with [`Error::Corrupt`] naming the key.
    pub fn encryption(self, keys: KeySet) -> Self {
        self.with_keys(Some(Arc::new(keys)), true)
    }

    /// The keys to open sealed tokens with, without turning encryption on: an encrypted
    /// database is read and written with them (sealed with the active key) as with
    /// [`encryption`](Self::encryption), a database that is not stays as it is. For tools that
    /// must not change what a database is, like the command line; its `rotate-keys`
    /// ([`rotate_keys`](SledSessionStorage::rotate_keys)) turns encryption on.
    pub fn keys(self, keys: KeySet) -> Self {
        self.with_keys(Some(Arc::new(keys)), false)
    }

    /// Keys shared with another storage; `encrypt` as [`encryption`](Self::encryption) does.
    pub(super) fn with_keys(mut self, keys: Option<Arc<KeySet>>, encrypt: bool) -> Self {
        self.keys = keys;
        self.encrypt = encrypt;
        self
    }

    /// Opens (or creates) the database.
    ///
    /// Removes a snapshot file a crash left unfinished, opens sled, syncs what sled created,
    /// and, when the database was not closed cleanly (or predates the clean-shutdown marker),
    /// repairs its indexes before returning (see [`SledSessionStorage::repair`]). This blocks
    /// on the disk; from async code it is fine at start-up, or call it through
    /// `spawn_blocking`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a periodic flush interval under 1 ms, a zero cache, or a
    /// database written by a newer version of this crate;
    /// [`Error::Locked`] when the database is open elsewhere (in this process or another), after
    /// a grace of 250 ms;
    /// [`Error::Io`] when the directory cannot be created or synced, or (with
    /// [`create_if_missing(false)`](Self::create_if_missing)) holds no database; [`Error::Storage`] when
    /// sled fails; [`Error::Corrupt`] when the database's `meta` entry is damaged.
    pub fn open(self) -> Result<SledSessionStorage> {
        if let FlushPolicy::Periodic(every) = self.flush_policy {
            if every < Duration::from_millis(1) {
                return Err(Error::InvalidConfig(format!(
                    "FlushPolicy::Periodic({every:?}): the interval must be at least 1 ms"
                )));
            }
        }
        if self.cache_capacity == 0 {
            return Err(Error::InvalidConfig(
                "cache_capacity must be more than 0 bytes".into(),
            ));
        }
        if !self.create_if_missing && !files::holds_database(&self.path) {
            return Err(files::not_a_database(&self.path));
        }
        let prepared = files::prepare(&self.path)?;
        let segment_size = prepared.segment_size.unwrap_or(NEW_SEGMENT_SIZE);
        // No sled flusher thread (`flush_every_ms(None)`): it would seal buffers outside the
        // write-ahead budget (see `budget.rs`); our own flusher serves both policies.
        let config = sled::Config::new()
            .path(&self.path)
            .cache_capacity(self.cache_capacity)
            .segment_size(segment_size)
            .flush_every_ms(None);
        let db = open_with_lock_grace(&config, &self.path)?;
        files::sync_after_open(&self.path, prepared.new)?;
        let meta = repair::read_meta(&db)?;
        if let Some(meta) = meta.filter(|meta| meta.layout_version > LAYOUT_VERSION) {
            return Err(Error::InvalidConfig(format!(
                "the session database {} has layout version {}, newer than this version of the \
                 crate reads ({LAYOUT_VERSION})",
                self.path.display(),
                meta.layout_version
            )));
        }
        // After an unclean shutdown, the pass that finds what to repair (`repair.rs`) runs
        // before anything else reads the trees, and measures the sizes on the way.
        let unclean = !meta.is_some_and(|meta| meta.clean_shutdown) && !prepared.new;
        let started = Instant::now();
        let suspects = if unclean {
            Some(audit::scan(
                &db.open_tree("sessions")?,
                &db.open_tree("by_shop")?,
                &db.open_tree("by_expiry")?,
            )?)
        } else {
            None
        };
        // The sizes in `meta` hold after a clean shutdown. Otherwise (no `meta`, one written
        // before the sizes were kept, or a crash, after which sled may have replayed a larger
        // entry without the `meta` write logged before it: see `repair.rs`) they are measured;
        // the `meta` written below keeps them.
        let known = meta.and_then(|meta| meta.sizes).unwrap_or_default();
        let sizes = match (meta, &suspects) {
            (
                Some(Meta {
                    clean_shutdown: true,
                    sizes: Some(sizes),
                    ..
                }),
                _,
            ) => sizes,
            (_, Some(suspects)) => suspects.sizes.max(charge::measure(&[(*db).clone()])?),
            _ => charge::measure(&[
                (*db).clone(),
                db.open_tree("sessions")?,
                db.open_tree("by_shop")?,
                db.open_tree("by_expiry")?,
            ])?,
        }
        .max(known);
        let probe_keys = self.encrypt && self.keys.is_some();
        let encrypted =
            (self.encrypt && self.keys.is_some()) || meta.is_some_and(|meta| meta.encrypted);
        let storage = SledSessionStorage::from_db(
            db,
            self,
            Limits::for_segment_size(segment_size),
            sizes,
            encrypted,
        )?;
        if let Some(suspects) = suspects {
            let report = storage.inner.repair_suspects(&suspects, started)?;
            tracing::info!(
                ?report,
                "opened a session database that was not closed cleanly"
            );
        }
        if probe_keys {
            storage.inner.probe_keys()?;
        }
        // Cleared durably before any write, so a crash from here on is seen by the next open.
        repair::mark_shutdown(&storage.inner, false)?;
        let ticket = storage.inner.flusher.current_ticket();
        storage.inner.flusher.wait_durable_blocking(ticket)?;
        storage
            .inner
            .serving
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(storage)
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
            .field("create_if_missing", &self.create_if_missing)
            .field("keys", &self.keys)
            .field("encrypt", &self.encrypt)
            .finish()
    }
}

/// How long an open keeps trying while the database is locked. After the last handle of a
/// database is dropped, sled's I/O threads can hold its lock file for a moment longer (fuzzing
/// found a drop followed at once by an open failing as locked); a lock held by a live storage
/// is still reported as [`Error::Locked`] after this short grace.
pub(super) const LOCK_GRACE: Duration = Duration::from_millis(250);
pub(super) const LOCK_RETRY_EVERY: Duration = Duration::from_millis(10);

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
