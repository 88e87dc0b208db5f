//! [`SledSessionStorage`]: a durable embedded store on sled.
//!
//! # Layout
//!
//! Three sled trees in one database directory:
//!
//! - `sessions`: session id → record. A record is one format-version byte and a bincode body
//!   (see `codec.rs`) holding every field of the session and the deadline it is indexed under.
//! - `by_shop`: `shop ++ 0x00 ++ id` → empty; `find_sessions_by_shop` is a prefix scan.
//! - `by_expiry`: big-endian u64 deadline in epoch milliseconds `++ id` → empty; the sweeper
//!   reads it from the start up to now.
//!
//! A store or delete changes all three trees in one sled transaction; an overwrite that changes
//! the shop or the deadline removes the old index entries in the same transaction.

mod builder;
mod callbacks;
mod codec;
mod flush;
mod index;
mod stall;
mod sweeper;
mod ttl;
mod verify;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use sled::{
    Transactional,
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
};

pub use self::{
    builder::{DEFAULT_CACHE_CAPACITY, FlushPolicy, SledSessionStorageBuilder},
    sweeper::{SweepReport, SweeperHandle},
    verify::{VerifyProblem, VerifyReport},
};
use self::{flush::GroupCommit, stall::StallWatchdog, ttl::TtlPolicy};

/// The record codec, for the fuzz targets and benchmarks (feature `unstable-internals`).
#[cfg(feature = "unstable-internals")]
pub(crate) mod internals {
    use crate::{Result, Session};

    /// Encodes `session` as the store would, with this deadline (epoch milliseconds).
    ///
    /// # Errors
    /// As the store's own encoding: an oversized record or a date out of range.
    pub fn encode_record(session: &Session, deadline_ms: Option<u64>) -> Result<Vec<u8>> {
        super::codec::encode(session, deadline_ms)
    }

    /// Decodes a record stored under `id` into the session and its deadline.
    ///
    /// # Errors
    /// `Error::Corrupt` for bytes that are not a record.
    pub fn decode_record(id: &str, bytes: &[u8]) -> Result<(Session, Option<u64>)> {
        super::codec::decode(id, bytes).map(|record| (record.session, record.deadline_ms))
    }
}
use crate::{Clock, Error, Result, Session, SessionStorage};

/// How many ids one delete transaction takes, so that writers never wait behind one huge
/// transaction.
const DELETE_BATCH: usize = 1_000;

/// Sessions in an embedded sled database: durable, indexed by shop, with expiry.
///
/// Nothing else to run: a single-server app opens a directory and its sessions survive
/// restarts. By default every store and delete resolves only once it is on disk
/// ([`FlushPolicy::EveryWrite`], with group commit); see [`FlushPolicy`] for what that
/// promises.
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
/// finds skip it with a warning. [`verify`](Self::verify) checks records and indexes.
///
/// Cloning is cheap; the clones share one database. It is closed when the last clone (and the
/// last running sweep) is dropped.
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
/// drop(storage);
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
    // Dropped first: stopping the flush thread flushes what is pending.
    group_commit: Option<GroupCommit>,
    // Watches the flush thread too, so it is stopped after it.
    watchdog: StallWatchdog,
    db: sled::Db,
    sessions: sled::Tree,
    by_shop: sled::Tree,
    by_expiry: sled::Tree,
    ttl: TtlPolicy,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    flush_policy: FlushPolicy,
}

/// What a transaction found of a record it replaced or removed.
enum Previous {
    None,
    Indexed,
    /// The old record did not decode, so its index entries could not be named; they are
    /// purged after the transaction.
    Corrupt,
}

type TxResult<T> = Result<T, ConflictableTransactionError<Error>>;

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

    fn from_db(
        db: sled::Db,
        path: PathBuf,
        flush_policy: FlushPolicy,
        ttl: TtlPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let watchdog = StallWatchdog::start()?;
        let group_commit = match flush_policy {
            FlushPolicy::EveryWrite => Some(GroupCommit::start(db.clone(), watchdog.tracker())?),
            FlushPolicy::Periodic(_) => None,
        };
        Ok(SledSessionStorage {
            inner: Arc::new(Inner {
                group_commit,
                watchdog,
                sessions: db.open_tree("sessions")?,
                by_shop: db.open_tree("by_shop")?,
                by_expiry: db.open_tree("by_expiry")?,
                db,
                ttl,
                clock,
                path,
                flush_policy,
            }),
        })
    }

    /// The database directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
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

    /// Flushes every write so far to disk, whatever the [`FlushPolicy`].
    ///
    /// # Errors
    /// [`Error::Storage`] when the flush fails.
    pub async fn flush(&self) -> Result<()> {
        // sled's own `flush_async` was seen to never resolve under load here; its blocking
        // flush on the blocking pool is the dependable equivalent.
        let storage = self.clone();
        tokio::task::spawn_blocking(move || {
            let _tracked = storage.inner.watchdog.track();
            storage.inner.db.flush()
        })
        .await
        .map_err(|_| Error::Background("the flush task failed"))??;
        Ok(())
    }

    /// How many times writes to this storage made no progress for 30 s: the sign of sled
    /// 0.34.7's internal deadlock (see [`FlushPolicy`]). Each is also logged as an error.
    /// 0 in a healthy process; worth exporting as a metric and alerting on.
    #[must_use]
    pub fn sled_stalls_detected(&self) -> u64 {
        self.inner.watchdog.stalls()
    }

    /// Resolves when this storage's write is as durable as its [`FlushPolicy`] promises.
    async fn settle(&self) -> Result<()> {
        match &self.inner.group_commit {
            Some(group_commit) => group_commit.wait_durable().await,
            None => Ok(()),
        }
    }

    fn now_ms(&self) -> u64 {
        ttl::epoch_millis(self.inner.clock.now())
    }

    /// Loads a record whatever its deadline.
    fn get_record(&self, id: &str) -> Result<Option<codec::Record>> {
        self.inner
            .sessions
            .get(id.as_bytes())?
            .map(|bytes| codec::decode(id, &bytes))
            .transpose()
    }

    fn transaction<T>(
        &self,
        body: impl Fn(&TransactionalTree, &TransactionalTree, &TransactionalTree) -> TxResult<T>,
    ) -> Result<T> {
        let inner = &*self.inner;
        let _tracked = inner.watchdog.track();
        (&inner.sessions, &inner.by_shop, &inner.by_expiry)
            .transaction(|(sessions, by_shop, by_expiry)| body(sessions, by_shop, by_expiry))
            .map_err(|error| match error {
                TransactionError::Abort(error) => error,
                TransactionError::Storage(error) => Error::Storage(error),
            })
    }

    /// Removes every index entry of `id` except `keep`: the repair after a corrupt record was
    /// replaced or deleted, whose old entries could not be named. Scans both index trees, which
    /// is acceptable on this rare path only.
    fn purge_index_entries(&self, id: &str, keep: &[&[u8]]) -> Result<()> {
        let inner = &*self.inner;
        let _tracked = inner.watchdog.track();
        for item in inner.by_shop.iter().keys() {
            let key = item?;
            let names_id = index::split_shop_key(&key).is_some_and(|(_, entry)| entry == id);
            if names_id && !keep.contains(&key.as_ref()) {
                inner.by_shop.remove(&key)?;
            }
        }
        for item in inner.by_expiry.iter().keys() {
            let key = item?;
            let names_id = index::split_expiry_key(&key).is_some_and(|(_, entry)| entry == id);
            if names_id && !keep.contains(&key.as_ref()) {
                inner.by_expiry.remove(&key)?;
            }
        }
        tracing::warn!(
            id,
            "replaced or deleted a corrupt session record and purged its index entries"
        );
        Ok(())
    }
}

/// The index keys of one record.
struct IndexKeys {
    shop: Vec<u8>,
    expiry: Option<Vec<u8>>,
}

impl IndexKeys {
    fn of(shop: &str, deadline_ms: Option<u64>, id: &str) -> Self {
        IndexKeys {
            shop: index::shop_key(shop, id),
            expiry: deadline_ms.map(|deadline| index::expiry_key(deadline, id)),
        }
    }

    /// The keys of the record `bytes` stored under `id`; `None` when it does not decode.
    fn of_record(id: &str, bytes: &[u8]) -> Option<Self> {
        let record = codec::decode(id, bytes).ok()?;
        Some(Self::of(&record.session.shop, record.deadline_ms, id))
    }
}

/// Moves a record's index entries from `old` to `new` inside a transaction, writing only the
/// entries that change: an upsert that keeps its shop and deadline touches no index.
fn reindex(
    by_shop: &TransactionalTree,
    by_expiry: &TransactionalTree,
    old: Option<&IndexKeys>,
    new: &IndexKeys,
) -> TxResult<()> {
    if old.map(|old| &old.shop) != Some(&new.shop) {
        if let Some(old) = old {
            by_shop.remove(old.shop.as_slice())?;
        }
        by_shop.insert(new.shop.as_slice(), &[])?;
    }
    if old.map(|old| &old.expiry) != Some(&new.expiry) {
        if let Some(old_expiry) = old.and_then(|old| old.expiry.as_ref()) {
            by_expiry.remove(old_expiry.as_slice())?;
        }
        if let Some(new_expiry) = &new.expiry {
            by_expiry.insert(new_expiry.as_slice(), &[])?;
        }
    }
    Ok(())
}

/// Removes the index entries of the record `old` (stored under `id`), inside a transaction.
fn unindex(
    by_shop: &TransactionalTree,
    by_expiry: &TransactionalTree,
    id: &str,
    old: &[u8],
) -> TxResult<Previous> {
    let Some(old) = IndexKeys::of_record(id, old) else {
        return Ok(Previous::Corrupt);
    };
    by_shop.remove(old.shop)?;
    if let Some(expiry) = old.expiry {
        by_expiry.remove(expiry)?;
    }
    Ok(Previous::Indexed)
}

#[async_trait]
impl SessionStorage for SledSessionStorage {
    async fn store_session(&self, session: &Session) -> Result<bool> {
        session.validate()?;
        let deadline = self.inner.ttl.deadline_ms(session, self.inner.clock.now());
        let record = codec::encode(session, deadline)?;
        let keys = IndexKeys::of(&session.shop, deadline, &session.id);

        let previous = self.transaction(|sessions, by_shop, by_expiry| {
            let (previous, old_keys) =
                match sessions.insert(session.id.as_bytes(), record.as_slice())? {
                    None => (Previous::None, None),
                    Some(old) => match IndexKeys::of_record(&session.id, &old) {
                        Some(old_keys) => (Previous::Indexed, Some(old_keys)),
                        None => (Previous::Corrupt, None),
                    },
                };
            reindex(by_shop, by_expiry, old_keys.as_ref(), &keys)?;
            Ok(previous)
        })?;
        if let Previous::Corrupt = previous {
            let mut keep = vec![keys.shop.as_slice()];
            keep.extend(keys.expiry.as_deref());
            self.purge_index_entries(&session.id, &keep)?;
        }
        self.settle().await?;
        Ok(true)
    }

    async fn load_session(&self, id: &str) -> Result<Option<Session>> {
        let now_ms = self.now_ms();
        Ok(self
            .get_record(id)?
            .filter(|record| !ttl::is_expired(record.deadline_ms, now_ms))
            .map(|record| record.session))
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        self.delete_sessions(std::slice::from_ref(&id.to_string()))
            .await
    }

    async fn delete_sessions(&self, ids: &[String]) -> Result<bool> {
        for batch in ids.chunks(DELETE_BATCH) {
            let corrupt = self.transaction(|sessions, by_shop, by_expiry| {
                let mut corrupt = Vec::new();
                for id in batch {
                    if let Some(old) = sessions.remove(id.as_bytes())? {
                        if let Previous::Corrupt = unindex(by_shop, by_expiry, id, &old)? {
                            corrupt.push(id.as_str());
                        }
                    }
                }
                Ok(corrupt)
            })?;
            for id in corrupt {
                self.purge_index_entries(id, &[])?;
            }
        }
        // Even when nothing was removed here, a concurrent delete of the same id may still be
        // waiting for its flush: "gone" is only promised once that flush is done too.
        self.settle().await?;
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
            match self.get_record(id) {
                Ok(Some(record))
                    if record.session.shop == shop
                        && !ttl::is_expired(record.deadline_ms, now_ms) =>
                {
                    found.push(record.session);
                }
                // Expired, or a stale entry that a concurrent write is about to remove.
                Ok(_) => {}
                Err(Error::Corrupt { id, reason }) => {
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
            .finish_non_exhaustive()
    }
}
