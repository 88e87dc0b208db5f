//! [`SledSessionStorage`]: a durable embedded store on sled.
//!
//! How sled is used here, and why, is told once per hazard:
//! - `layout.rs`: the trees and keys, and why records stay small (sled's blob files);
//! - `writes.rs`: how a store or delete stays atomic without sled's transactions;
//! - `budget.rs`: how far writers may run ahead of the disk (sled's I/O pool deadlock);
//! - `charge.rs`: what each write reserves from that budget, from the sizes the database holds;
//! - `flusher.rs`: group commit, the periodic flush and `fdatasync`;
//! - `files.rs`: the `fsync`s sled does not do and the snapshot a crash leaves behind;
//! - `repair.rs`: what an unclean shutdown can leave, and how open repairs it;
//! - `audit.rs`: how verify and repair read a million sessions in seconds (one ordered pass);
//! - `compact.rs`: why a database grows under churn, and how a copy replaces it safely.

mod admin;
mod audit;
mod budget;
mod builder;
mod callbacks;
mod charge;
mod codec;
mod compact;
mod files;
mod flusher;
mod id_locks;
mod index;
mod layout;
mod repair;
mod reseal;
mod stall;
mod sweeper;
mod verify;
mod writes;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;

pub use self::{
    builder::{DEFAULT_CACHE_CAPACITY, FlushPolicy, SledSessionStorageBuilder},
    compact::{CompactReport, ReplaceReport, ReplaceStep},
    repair::RepairReport,
    reseal::ResealReport,
    sweeper::{SweepReport, SweeperHandle},
    verify::{VerifyProblem, VerifyReport},
};
use self::{
    charge::{Charge, Sizes},
    flusher::{Flusher, Ticket},
    id_locks::IdLocks,
    layout::Limits,
    stall::StallWatchdog,
};
use crate::{
    Clock, Error, Result, Session, SessionStorage,
    encryption::KeySet,
    storage::{
        check_replacement,
        ttl::{self, TtlPolicy},
    },
};

/// The record codec, for the fuzz targets and benchmarks (feature `unstable-internals`).
#[cfg(feature = "unstable-internals")]
pub(crate) mod internals {
    use crate::{Result, Session, encryption::KeySet};

    /// Encodes `session` as a store without encryption would, with this deadline (epoch
    /// milliseconds).
    ///
    /// # Errors
    /// As the store's own encoding: an oversized record or a date out of range.
    pub fn encode_record(session: &Session, deadline_ms: Option<u64>) -> Result<Vec<u8>> {
        super::codec::encode(session, deadline_ms, super::codec::MAX_RECORD_BYTES, None)
    }

    /// Encodes `session` as a store with `keys` would: its tokens sealed with the active key.
    ///
    /// # Errors
    /// As [`encode_record`].
    pub fn encode_record_sealed(
        session: &Session,
        deadline_ms: Option<u64>,
        keys: &KeySet,
    ) -> Result<Vec<u8>> {
        super::codec::encode(
            session,
            deadline_ms,
            super::codec::MAX_RECORD_BYTES,
            Some(keys),
        )
    }

    /// Decodes a record stored under `id` into the session and its deadline, as a store
    /// without keys would.
    ///
    /// # Errors
    /// `Error::Corrupt` for bytes that are not a record, and for sealed tokens.
    pub fn decode_record(id: &str, bytes: &[u8]) -> Result<(Session, Option<u64>)> {
        decode_record_with_keys(id, bytes, None)
    }

    /// Decodes a record stored under `id`, opening sealed tokens with `keys`.
    ///
    /// # Errors
    /// `Error::Corrupt` for bytes that are not a record, or tokens that do not open.
    pub fn decode_record_with_keys(
        id: &str,
        bytes: &[u8],
        keys: Option<&KeySet>,
    ) -> Result<(Session, Option<u64>)> {
        super::codec::decode_open(id, bytes, keys)
            .map(|record| (record.session, record.deadline_ms))
    }
}

/// How many records an open with [`SledSessionStorageBuilder::encryption`] looks through for a
/// sealed one to check the keys against.
const KEY_PROBE_RECORDS: usize = 64;

/// Sessions in an embedded sled database: durable, indexed by shop, with expiry.
///
/// Nothing else to run: a single-server app opens a directory and its sessions survive
/// restarts, crashes and power loss. By default every store and delete resolves only once it
/// is on disk, `fdatasync` included ([`FlushPolicy::EveryWrite`], with group commit); see
/// [`FlushPolicy`] for what each policy promises.
///
/// # Time to live
///
/// A session's deadline is the later of `expires` and `refresh_token_expires` (a live refresh
/// token keeps a session whose access token expired, since Shopify refreshes it from that
/// token), plus [`retention`](SledSessionStorageBuilder::retention). A session with neither date
/// lives [`offline_ttl`](SledSessionStorageBuilder::offline_ttl) from the moment it is stored,
/// or forever when that is `None` (the default). From its deadline on, a session no longer
/// loads or shows up in [`find_sessions_by_shop`](SessionStorage::find_sessions_by_shop), whether
/// or not a sweep has removed it yet; [`sweep_expired`](Self::sweep_expired) and
/// [`spawn_sweeper`](Self::spawn_sweeper) remove expired sessions at a cost that grows with their
/// number, not with the size of the store.
///
/// # Faults
///
/// A second open of the same path fails at once with [`Error::Locked`]. A record that does not
/// decode gives [`Error::Corrupt`] for its id only: every other session loads, and sweeps and
/// finds skip it with a warning. The first open after a crash or power loss repairs the
/// indexes ([`repair`](Self::repair)); [`verify`](Self::verify) checks records and indexes.
///
/// # Closing
///
/// Cloning is cheap; the clones share one database. [`close`](Self::close) flushes, marks the
/// database cleanly closed, stops the background threads and reports any error; every clone
/// then answers [`Error::Closed`]. Dropping the last clone does the same as a best effort,
/// logging what fails. Either way the directory can be opened again once the last clone is
/// gone.
///
/// ```
/// use shopify_session_storage::{Session, SessionStorage, SledSessionStorage};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("sessions.db");
/// let storage = SledSessionStorage::open(&path)?;
/// let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
/// storage.store_session(&session).await?; // on disk when this resolves
/// storage.close().await?;
///
/// let reopened = SledSessionStorage::open(&path)?;
/// assert_eq!(reopened.load_session(&session.id).await?, Some(session));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SledSessionStorage {
    inner: Arc<Inner>,
}

struct Inner {
    // Dropped first: its last flush runs while the trees are still open.
    flusher: Flusher,
    // Watches the flusher too, so it is stopped after it.
    watchdog: StallWatchdog,
    db: sled::Db,
    sessions: sled::Tree,
    by_shop: sled::Tree,
    by_expiry: sled::Tree,
    locks: IdLocks,
    limits: Limits,
    /// What a write reserves from the budget (see `charge.rs`).
    charge: Charge,
    ttl: TtlPolicy,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    flush_policy: FlushPolicy,
    /// Set once open has finished and marked the database in use: only then does closing mark
    /// it clean (an open that failed half-way leaves it for the next open to repair).
    serving: AtomicBool,
    /// Set once the database was closed, by [`SledSessionStorage::close`] or on drop.
    closed: AtomicBool,
    /// The keys tokens are sealed and opened with, when the storage was given them.
    keys: Option<Arc<KeySet>>,
    /// The `meta` entry's encryption flag: records are written sealed while it is set, and
    /// not at all by a storage without keys.
    encrypted: AtomicBool,
    /// Held for reading by a store from the moment it reads the flag until its record is
    /// written, and for writing while the flag changes, so no record is written in the mode
    /// the flag had before (see `reseal.rs`).
    sealing_gate: tokio::sync::RwLock<()>,
}

impl SledSessionStorage {
    /// Opens (or creates) the database at `path` with the default settings.
    ///
    /// # Errors
    /// As [`SledSessionStorageBuilder::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder(path).open()
    }

    /// Settings for the database at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SledSessionStorageBuilder {
        SledSessionStorageBuilder::new(path)
    }

    /// The storage over an open `db`, with the settings of `builder`.
    fn from_db(
        db: sled::Db,
        builder: SledSessionStorageBuilder,
        limits: Limits,
        sizes: Sizes,
        encrypted: bool,
    ) -> Result<Self> {
        let SledSessionStorageBuilder {
            path,
            flush_policy,
            ttl,
            clock,
            keys,
            ..
        } = builder;
        let watchdog = StallWatchdog::start()?;
        let flusher = Flusher::start(
            db.clone(),
            files::open_log_file(&path)?,
            flush_policy,
            watchdog.tracker(),
        )?;
        Ok(SledSessionStorage {
            inner: Arc::new(Inner {
                flusher,
                watchdog,
                sessions: db.open_tree("sessions")?,
                by_shop: db.open_tree("by_shop")?,
                by_expiry: db.open_tree("by_expiry")?,
                db,
                locks: IdLocks::new(),
                // The `meta` entry is in the database too.
                charge: Charge::new(limits.segment_size, sizes.max(repair::META_SIZES)),
                limits,
                ttl,
                clock,
                path,
                flush_policy,
                serving: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                keys,
                encrypted: AtomicBool::new(encrypted),
                sealing_gate: tokio::sync::RwLock::new(()),
            }),
        })
    }

    /// The database directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The largest encoded session this database stores; a larger one is rejected as
    /// [`Error::InvalidSession`]. 16 KiB for databases created by this version, 6 KiB for those
    /// created by version 0.1 (sled fixes their log segment size; see the crate's README).
    #[must_use]
    pub fn max_record_bytes(&self) -> usize {
        self.inner.limits.max_record_bytes
    }

    /// The number of stored records, expired ones that no sweep has removed yet included.
    /// It counts them one by one (sled keeps no count): O(number of sessions).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Whether no record is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.sessions.is_empty()
    }

    /// The size of the database on disk, in bytes.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled cannot tell.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.db.size_on_disk()?)
    }

    /// Waits until every write so far is on disk (`fdatasync` included), whatever the
    /// [`FlushPolicy`].
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::Io`] when a flush failed (see [`FlushPolicy`]).
    pub async fn flush(&self) -> Result<()> {
        let ticket = self.inner.flusher.current_ticket();
        self.inner.flusher.wait_durable(ticket).await
    }

    /// Flushes, marks the database cleanly closed (so the next open needs no repair), stops
    /// the flush thread and reports what failed. Every clone of this storage answers
    /// [`Error::Closed`] afterwards; the directory can be opened again once the last clone is
    /// dropped.
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::Io`] when the last flush failed; [`Error::Closed`] when
    /// the storage was closed already.
    pub async fn close(self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.shut_down())
            .await
            .map_err(|source| Error::Background {
                task: "the close task failed",
                source: Some(source),
            })?
    }

    /// How many times writes to this storage made no progress for 30 s, each also logged as
    /// an error. 0 in a healthy process; worth exporting as a metric and alerting on. The
    /// engine is used so that sled's known deadlock cannot happen (see the crate's README),
    /// so a stall here means a disk that stopped answering, or a bug.
    #[must_use]
    pub fn sled_stalls_detected(&self) -> u64 {
        self.inner.watchdog.stalls()
    }

    /// Resolves when the write of `ticket` is as durable as the [`FlushPolicy`] promises.
    async fn settle(&self, ticket: Ticket) -> Result<()> {
        match self.inner.flush_policy {
            FlushPolicy::EveryWrite => self.inner.flusher.wait_durable(ticket).await,
            FlushPolicy::Periodic(_) => Ok(()),
        }
    }

    fn now_ms(&self) -> u64 {
        ttl::epoch_millis(self.inner.clock.now())
    }

    /// Loads a record whatever its deadline, its tokens left sealed.
    fn get_record(&self, id: &str) -> Result<Option<codec::Record>> {
        self.inner.get_record(id)
    }
}

impl Inner {
    /// The keys to seal a record with: `None` while the database is not encrypted.
    ///
    /// # Errors
    /// [`Error::EncryptionKeysRequired`] for an encrypted database opened without keys.
    fn sealing(&self, operation: &'static str) -> Result<Option<&KeySet>> {
        if !self.encrypted.load(Ordering::Acquire) {
            return Ok(None);
        }
        self.keys
            .as_deref()
            .map(Some)
            .ok_or_else(|| Error::EncryptionKeysRequired {
                path: self.path.clone(),
                operation,
            })
    }

    /// Opens the tokens of the first sealed record among the first [`KEY_PROBE_RECORDS`], so
    /// that an app given the wrong keys fails when it opens the database, naming the key,
    /// rather than on every load.
    fn probe_keys(&self) -> Result<()> {
        for item in self.sessions.iter().take(KEY_PROBE_RECORDS) {
            let (key, bytes) = item?;
            let id = String::from_utf8_lossy(&key);
            let Ok(mut record) = codec::decode(&id, &bytes) else {
                continue;
            };
            if record.sealed.is_some() {
                return self.open(&id, &mut record);
            }
        }
        Ok(())
    }

    /// Opens the sealed tokens of a record of `id`, if any (see `codec::open`).
    fn open(&self, id: &str, record: &mut codec::Record) -> Result<()> {
        codec::open(id, record, self.keys.as_deref())
    }

    /// Loads a record whatever its deadline, its tokens left sealed.
    fn get_record(&self, id: &str) -> Result<Option<codec::Record>> {
        self.sessions
            .get(id.as_bytes())?
            .map(|bytes| codec::decode(id, &bytes))
            .transpose()
    }

    /// Marks the database cleanly closed and stops the flusher, once.
    fn shut_down(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::Closed);
        }
        let marked = if self.serving.load(Ordering::Acquire) {
            repair::mark_shutdown(self, true)
        } else {
            Ok(())
        };
        let closed = self.flusher.close_blocking();
        marked.and(closed)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        match self.shut_down() {
            Ok(()) | Err(Error::Closed) => {}
            Err(error) => {
                tracing::error!(error = %error, "closing the session database failed");
            }
        }
    }
}

#[async_trait]
impl SessionStorage for SledSessionStorage {
    async fn store_session(&self, session: &Session) -> Result<bool> {
        let ticket = self.store(session).await?;
        self.settle(ticket).await?;
        Ok(true)
    }

    async fn replace_session(&self, expected: &Session, replacement: &Session) -> Result<bool> {
        check_replacement(expected, replacement)?;
        let deadline = self.inner.ttl.deadline_ms(replacement, self.now_ms());
        let (replaced, ticket) = self.put_if(replacement, deadline, Some(expected)).await?;
        self.settle(ticket).await?;
        Ok(replaced)
    }

    async fn load_session(&self, id: &str) -> Result<Option<Session>> {
        let now_ms = self.now_ms();
        let Some(mut record) = self
            .get_record(id)?
            .filter(|record| !ttl::is_expired(record.deadline_ms, now_ms))
        else {
            return Ok(None);
        };
        self.inner.open(id, &mut record)?;
        Ok(Some(record.session))
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        let ticket = self.delete(id).await?;
        self.settle(ticket).await?;
        Ok(true)
    }

    async fn delete_sessions(&self, ids: &[String]) -> Result<bool> {
        let mut newest = None;
        for id in ids {
            newest = Some(self.delete(id).await?);
        }
        if let Some(ticket) = newest {
            // Windows are flushed in order: the last one's flush covers all earlier ones.
            self.settle(ticket).await?;
        }
        Ok(true)
    }

    async fn find_sessions_by_shop(&self, shop: &str) -> Result<Vec<Session>> {
        let now_ms = self.now_ms();
        let mut found = Vec::new();
        for item in self
            .inner
            .by_shop
            .scan_prefix(index::shop_prefix(shop))
            .keys()
        {
            let key = item?;
            let Some((_, id)) = index::split_shop_key(&key) else {
                continue;
            };
            let record = self.get_record(id).and_then(|record| match record {
                Some(mut record) if record.session.shop == shop => {
                    self.inner.open(id, &mut record)?;
                    Ok(Some(record))
                }
                _ => Ok(None),
            });
            match record {
                Ok(Some(record)) if !ttl::is_expired(record.deadline_ms, now_ms) => {
                    found.push(record.session);
                }
                // Expired, or a stale entry (see `writes.rs`): skipped, never trusted.
                Ok(_) => {}
                Err(Error::Corrupt { id, source }) => {
                    let reason = crate::error::with_sources(&source);
                    tracing::warn!(%id, %reason, "find_sessions_by_shop skipped a corrupt session record");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(found)
    }
}

impl fmt::Debug for SledSessionStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledSessionStorage")
            .field("path", &self.inner.path)
            .field("flush_policy", &self.inner.flush_policy)
            .field("retention", &self.inner.ttl.retention)
            .field("offline_ttl", &self.inner.ttl.offline_ttl)
            .field("max_record_bytes", &self.inner.limits.max_record_bytes)
            .finish_non_exhaustive()
    }
}
