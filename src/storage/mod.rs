//! The [`SessionStorage`] trait and its backends.

pub(crate) mod custom;
pub(crate) mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod sled;
pub(crate) mod ttl;

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Result, Session};

/// Where an app keeps its sessions.
///
/// Every backend of this crate keeps this contract, and the conformance suite
/// (`testkit::run_conformance`, feature `testkit`) checks it:
///
/// - [`store_session`](SessionStorage::store_session) is an upsert. It calls
///   [`Session::validate`] first and, on [`Error::InvalidSession`](crate::Error::InvalidSession),
///   writes nothing. It returns `Ok(true)` once the session is stored, together with whatever
///   index entries the backend keeps (never half of them).
/// - [`load_session`](SessionStorage::load_session) returns `Ok(None)` for an id it does not
///   hold (and, on backends with a time to live, for a session past its deadline).
/// - [`delete_session`](SessionStorage::delete_session) and
///   [`delete_sessions`](SessionStorage::delete_sessions) are idempotent: they return `Ok(true)`
///   when the sessions are gone afterwards, also when they never existed.
/// - [`find_sessions_by_shop`](SessionStorage::find_sessions_by_shop) returns exactly the
///   shop's sessions, in no promised order.
/// - Errors keep their source; no error, log line or `Debug` output holds a token.
///
/// The trait is object safe: `Arc<dyn SessionStorage>` and `Box<dyn SessionStorage>` are
/// storages too.
///
/// # Implementing it
///
/// A complete store over a `HashMap` (a real one would talk to a database):
///
/// ```
/// use std::{collections::HashMap, sync::Mutex};
///
/// use async_trait::async_trait;
/// use shopify_session_storage::{Result, Session, SessionStorage};
///
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<String, Session>>);
///
/// #[async_trait]
/// impl SessionStorage for MapStore {
///     async fn store_session(&self, session: &Session) -> Result<bool> {
///         session.validate()?;
///         self.0.lock().unwrap().insert(session.id.clone(), session.clone());
///         Ok(true)
///     }
///     async fn load_session(&self, id: &str) -> Result<Option<Session>> {
///         Ok(self.0.lock().unwrap().get(id).cloned())
///     }
///     async fn delete_session(&self, id: &str) -> Result<bool> {
///         self.0.lock().unwrap().remove(id);
///         Ok(true)
///     }
///     async fn delete_sessions(&self, ids: &[String]) -> Result<bool> {
///         let mut map = self.0.lock().unwrap();
///         ids.iter().for_each(|id| { map.remove(id); });
///         Ok(true)
///     }
///     async fn find_sessions_by_shop(&self, shop: &str) -> Result<Vec<Session>> {
///         let map = self.0.lock().unwrap();
///         Ok(map.values().filter(|s| s.shop == shop).cloned().collect())
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MapStore::default();
/// let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
/// assert!(store.store_session(&session).await?);
/// assert_eq!(store.load_session(&session.id).await?, Some(session));
/// # Ok::<(), shopify_session_storage::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait SessionStorage: Send + Sync {
    /// Stores (inserts or replaces) a session.
    async fn store_session(&self, session: &Session) -> Result<bool>;

    /// Loads the session with this id, `None` when there is none.
    async fn load_session(&self, id: &str) -> Result<Option<Session>>;

    /// Deletes the session with this id; succeeds when there is none.
    async fn delete_session(&self, id: &str) -> Result<bool>;

    /// Deletes every session with one of these ids; succeeds for ids that are not there.
    async fn delete_sessions(&self, ids: &[String]) -> Result<bool>;

    /// Every session of `shop`.
    async fn find_sessions_by_shop(&self, shop: &str) -> Result<Vec<Session>>;

    /// Stores `replacement` only if the session stored under its id still holds the access
    /// and refresh tokens of `expected`, as one atomic step (a compare-and-set). Returns
    /// `Ok(false)`, and writes nothing, when the stored session holds other tokens or is gone.
    ///
    /// This is what keeps a token refresh that finished late from overwriting a newer token
    /// (see [`refresh`](crate::refresh)). `replacement` is validated as by
    /// [`store_session`](SessionStorage::store_session), and must have `expected`'s id.
    ///
    /// The default answers [`Error::Unsupported`](crate::Error::Unsupported): a storage made
    /// of callbacks cannot compare and set in one step. Every backend of this crate except
    /// [`CustomSessionStorage`](crate::CustomSessionStorage) implements it.
    async fn replace_session(&self, expected: &Session, replacement: &Session) -> Result<bool> {
        let _ = (expected, replacement);
        Err(crate::Error::Unsupported(
            "replace_session (compare-and-set)",
        ))
    }
}

/// Checks what [`SessionStorage::replace_session`] requires of its arguments before anything
/// is read: a valid replacement with the expected session's id.
pub(crate) fn check_replacement(expected: &Session, replacement: &Session) -> Result<()> {
    replacement.validate()?;
    if expected.id != replacement.id {
        return Err(crate::Error::invalid(
            "`id`: a replacement must have the id of the session it replaces",
        ));
    }
    Ok(())
}

/// Whether `stored` still holds the tokens of `expected`: the condition of
/// [`SessionStorage::replace_session`]. Each refresh rotates both tokens, so equal tokens mean
/// that no other refresh or sign-in stored a session since `expected` was read.
pub(crate) fn holds_tokens_of(stored: &Session, expected: &Session) -> bool {
    stored.access_token == expected.access_token && stored.refresh_token == expected.refresh_token
}

/// Forwards every method to the storage behind the pointer.
macro_rules! forward_storage {
    ($pointer:ident) => {
        #[async_trait]
        impl<T: SessionStorage + ?Sized> SessionStorage for $pointer<T> {
            async fn store_session(&self, session: &Session) -> Result<bool> {
                (**self).store_session(session).await
            }
            async fn load_session(&self, id: &str) -> Result<Option<Session>> {
                (**self).load_session(id).await
            }
            async fn delete_session(&self, id: &str) -> Result<bool> {
                (**self).delete_session(id).await
            }
            async fn delete_sessions(&self, ids: &[String]) -> Result<bool> {
                (**self).delete_sessions(ids).await
            }
            async fn find_sessions_by_shop(&self, shop: &str) -> Result<Vec<Session>> {
                (**self).find_sessions_by_shop(shop).await
            }
            async fn replace_session(
                &self,
                expected: &Session,
                replacement: &Session,
            ) -> Result<bool> {
                (**self).replace_session(expected, replacement).await
            }
        }
    };
}

forward_storage!(Arc);
forward_storage!(Box);
