//! What an operator's tools need of a storage beyond the [`SessionStorage`] contract: every
//! stored record, expired ones included, with the deadline it is kept to, and the storage's own
//! maintenance. The `shopify-sessions` command line (feature `cli`) is built on this; an app can
//! use it too, for example [`AdminStorage::delete_shop`] on Shopify's `app/uninstalled` webhook
//! (on sled it reads the shop's index; on Redis it scans the whole prefix, since the Node
//! adapter's index can miss sessions: there, mind its cost on a large keyspace).
//!
//! [`Stats::gather`] and [`list_sessions`] work on any [`AdminStorage`].

mod listing;
mod stats;

use std::time::SystemTime;

use async_trait::async_trait;

pub use self::{
    listing::{ListFilter, Listing, list_sessions},
    stats::Stats,
};
use crate::{RepairReport, Result, Session, SessionStorage, SweepReport, VerifyReport};

/// A stored session and the moment the storage stops serving it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredSession {
    /// The session.
    pub session: Session,
    /// Its deadline (see the crate's README, "Time to live"): from then on it no longer loads,
    /// and a sweep removes it. `None`: kept until deleted.
    pub deadline: Option<SystemTime>,
}

impl StoredSession {
    /// A stored session with this deadline.
    #[must_use]
    pub fn new(session: Session, deadline: Option<SystemTime>) -> Self {
        StoredSession { session, deadline }
    }

    /// Whether the deadline has passed at `now`: the session is stored but no longer served.
    #[must_use]
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= now)
    }
}

/// One record met by [`AdminStorage::walk`].
// Handed to a callback one at a time, never kept in bulk: boxing the session would cost an
// allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Walked {
    /// A session, served or expired.
    Session(StoredSession),
    /// A record that does not decode. Its id, and why (never its contents).
    Unreadable {
        /// The record's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A storage an operator can look inside and maintain: implemented by
/// [`SledSessionStorage`](crate::SledSessionStorage) and, with feature `redis`,
/// `RedisSessionStorage`.
///
/// ```
/// use shopify_session_storage::{
///     Session, SessionStorage, SledSessionStorage,
///     admin::{AdminStorage, Stats},
/// };
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let storage = SledSessionStorage::open(dir.path().join("sessions.db"))?;
/// storage.store_session(&Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false)).await?;
/// storage.store_session(&Session::new("a.myshopify.com_7", "a.myshopify.com", "", true)).await?;
///
/// let stats = Stats::gather(&storage, std::time::SystemTime::now(), &mut || {}).await?;
/// assert_eq!((stats.sessions, stats.online, stats.shops), (2, 1, 1));
///
/// // What an app does on `app/uninstalled`: every session of the shop, expired ones too.
/// assert_eq!(storage.delete_shop("a.myshopify.com").await?.len(), 2);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait AdminStorage: SessionStorage {
    /// What the storage is, for people: the database's path, or the Redis prefix.
    fn describe(&self) -> String;

    /// Calls `visit` with every stored record of `shop`, or of every shop for `None`: expired
    /// sessions not yet swept included, records that do not decode as [`Walked::Unreadable`].
    /// In no promised order. It reads the whole store (the index, when it can, for one shop):
    /// meant for tools, not a request path.
    async fn walk(&self, shop: Option<&str>, visit: &mut (dyn FnMut(Walked) + Send)) -> Result<()>;

    /// The session stored under `id` whatever its deadline, `None` when there is none.
    async fn load_stored(&self, id: &str) -> Result<Option<StoredSession>>;

    /// Deletes every session of `shop`, expired ones included, and returns their ids.
    async fn delete_shop(&self, shop: &str) -> Result<Vec<String>>;

    /// Removes what is past its deadline; see each storage's own docs.
    async fn sweep_expired(&self) -> Result<SweepReport>;

    /// Checks records and indexes; problems are in the report, not errors.
    async fn verify(&self) -> Result<VerifyReport>;

    /// Rebuilds missing index entries and removes stale ones.
    async fn repair(&self) -> Result<RepairReport>;

    /// The storage's data layout, for people (e.g. `sled layout 2`).
    async fn layout(&self) -> Result<String>;

    /// The bytes the storage takes on disk, `None` where it cannot tell.
    async fn disk_usage(&self) -> Result<Option<u64>>;
}
