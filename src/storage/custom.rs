//! [`CustomSessionStorage`]: a storage made of the app's own async callbacks, as in Shopify's
//! Node guide.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use async_trait::async_trait;
use serde_json::Value;

use crate::{Error, Result, Session, SessionStorage, error::BoxError, session::describe_json};

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;
type Callback<A, T> = Arc<dyn Fn(A) -> BoxFuture<T> + Send + Sync>;

/// What a load or find callback may return: a [`Session`], or a stored record as JSON.
///
/// A JSON object is read as session JSON (the shape `serde` writes for [`Session`], which is
/// Shopify's `toObject()`); a JSON array as a property array with user data (see
/// [`Session::from_property_array`]). Any other value is [`Error::InvalidSession`].
///
/// `Debug` prints a record's kind and, for an object, its keys: never its values, which hold
/// the access token.
// One value per load, moved straight into a `Session`: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq)]
pub enum LoadedSession {
    /// A session.
    Session(Session),
    /// A stored record in one of Shopify's JSON shapes.
    Record(Value),
}

impl From<Session> for LoadedSession {
    fn from(session: Session) -> Self {
        LoadedSession::Session(session)
    }
}

impl From<Value> for LoadedSession {
    fn from(record: Value) -> Self {
        LoadedSession::Record(record)
    }
}

impl fmt::Debug for LoadedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadedSession::Session(session) => f.debug_tuple("Session").field(session).finish(),
            LoadedSession::Record(Value::Object(object)) => {
                struct Keys<'a>(&'a serde_json::Map<String, Value>);
                impl fmt::Debug for Keys<'_> {
                    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.debug_set().entries(self.0.keys()).finish()
                    }
                }
                f.debug_tuple("Record").field(&Keys(object)).finish()
            }
            LoadedSession::Record(other) => f
                .debug_tuple("Record")
                .field(&format_args!("<{}>", describe_json(other)))
                .finish(),
        }
    }
}

impl LoadedSession {
    /// The session this stands for.
    ///
    /// # Errors
    /// [`Error::InvalidSession`] when an object has no string `id` or the value is neither an
    /// object nor an array (the message says what was received); [`Error::Json`] when an object
    /// is not session JSON; the errors of [`Session::from_property_array_json`] for an array.
    ///
    /// ```
    /// use serde_json::json;
    /// use shopify_session_storage::LoadedSession;
    ///
    /// let record = json!({"id": "offline_a.myshopify.com", "shop": "a.myshopify.com",
    ///                     "state": "", "isOnline": false});
    /// let session = LoadedSession::from(record).into_session()?;
    /// assert_eq!(session.shop, "a.myshopify.com");
    /// assert!(LoadedSession::from(json!("not a session")).into_session().is_err());
    /// # Ok::<(), shopify_session_storage::Error>(())
    /// ```
    pub fn into_session(self) -> Result<Session> {
        let record = match self {
            LoadedSession::Session(session) => return Ok(session),
            LoadedSession::Record(record) => record,
        };
        match &record {
            Value::Array(_) => Session::from_property_array_json(&record, true),
            Value::Object(object) => match object.get("id") {
                Some(Value::String(_)) => serde_json::from_value(record).map_err(Error::Json),
                None => Err(Error::invalid("the loaded record has no `id`")),
                Some(other) => Err(Error::invalid(format!(
                    "the loaded record's `id` must be a string, got {}",
                    describe_json(other)
                ))),
            },
            other => Err(Error::invalid(format!(
                "a loaded session must be a Session, a JSON object or a property array, got {}",
                describe_json(other)
            ))),
        }
    }
}

/// A [`SessionStorage`] built from async callbacks, like Shopify's `CustomSessionStorage`:
/// `store(Session) -> bool`, `load(id) -> Session | record | nothing`, `delete(id) -> bool`,
/// plus optional `delete_sessions(ids) -> bool` and `find_sessions_by_shop(shop) -> sessions`.
///
/// Each callback may fail with any error type that converts into
/// `Box<dyn std::error::Error + Send + Sync>`; the failure becomes [`Error::Callback`] with that
/// error as its source. Sessions are validated before the store callback sees them. Without a
/// `delete_sessions` callback, ids are deleted one by one through `delete`; without a
/// `find_sessions_by_shop` callback, finding returns [`Error::Unsupported`] (never a silent
/// empty list).
///
/// A loaded record must be the session asked for: [`load_session`](SessionStorage::load_session)
/// checks its id and [`find_sessions_by_shop`](SessionStorage::find_sessions_by_shop) the shop
/// of every session, and a mismatch is [`Error::InvalidSession`] (a callback that hands back
/// the wrong record must not hand the app another shop's token).
///
/// [`CustomSessionStorage::from_storage`] builds the callbacks from any [`SessionStorage`];
/// [`CustomSessionStorage::sled`] from the embedded store, the default on a single server.
///
/// Cloning is cheap: the callbacks are shared.
///
/// ```
/// use std::{collections::HashMap, sync::{Arc, Mutex}};
///
/// use shopify_session_storage::{CustomSessionStorage, LoadedSession, Session, SessionStorage};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> shopify_session_storage::Result<()> {
/// // Records kept as Shopify's JSON, e.g. in a key-value store the app already has.
/// let db: Arc<Mutex<HashMap<String, serde_json::Value>>> = Arc::default();
/// let (on_store, on_load, on_delete) = (db.clone(), db.clone(), db.clone());
///
/// let storage = CustomSessionStorage::new(
///     move |session: Session| {
///         let db = on_store.clone();
///         async move {
///             let record = serde_json::to_value(&session)?;
///             db.lock().unwrap().insert(session.id, record);
///             Ok::<_, serde_json::Error>(true)
///         }
///     },
///     move |id: String| {
///         let db = on_load.clone();
///         async move {
///             let record = db.lock().unwrap().get(&id).cloned();
///             Ok::<_, std::io::Error>(record.map(LoadedSession::from))
///         }
///     },
///     move |id: String| {
///         let db = on_delete.clone();
///         async move {
///             db.lock().unwrap().remove(&id);
///             Ok::<_, std::io::Error>(true)
///         }
///     },
/// );
///
/// let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
/// storage.store_session(&session).await?;
/// assert_eq!(storage.load_session(&session.id).await?, Some(session));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CustomSessionStorage {
    store: Callback<Session, bool>,
    load: Callback<String, Option<LoadedSession>>,
    delete: Callback<String, bool>,
    delete_sessions: Option<Callback<Vec<String>, bool>>,
    find_sessions_by_shop: Option<Callback<String, Vec<LoadedSession>>>,
}

/// Type-erases an async callback.
fn erase<A, T, F, Fut, E>(callback: F) -> Callback<A, T>
where
    A: 'static,
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<BoxError>,
{
    Arc::new(move |argument| {
        let future = callback(argument);
        Box::pin(async move { future.await.map_err(Into::into) })
    })
}

/// Runs a callback and turns its failure into [`Error::Callback`].
async fn call<A, T>(callback: &Callback<A, T>, operation: &'static str, argument: A) -> Result<T> {
    callback(argument)
        .await
        .map_err(|source| Error::Callback { operation, source })
}

impl CustomSessionStorage {
    /// A storage from the three callbacks every storage needs.
    pub fn new<S, SFut, SErr, L, LFut, LErr, D, DFut, DErr>(store: S, load: L, delete: D) -> Self
    where
        S: Fn(Session) -> SFut + Send + Sync + 'static,
        SFut: Future<Output = Result<bool, SErr>> + Send + 'static,
        SErr: Into<BoxError>,
        L: Fn(String) -> LFut + Send + Sync + 'static,
        LFut: Future<Output = Result<Option<LoadedSession>, LErr>> + Send + 'static,
        LErr: Into<BoxError>,
        D: Fn(String) -> DFut + Send + Sync + 'static,
        DFut: Future<Output = Result<bool, DErr>> + Send + 'static,
        DErr: Into<BoxError>,
    {
        CustomSessionStorage {
            store: erase(store),
            load: erase(load),
            delete: erase(delete),
            delete_sessions: None,
            find_sessions_by_shop: None,
        }
    }

    /// A storage whose five callbacks call `storage`; replace any of them with `with_*_callback`
    /// and the others stay on `storage`. As for any callback, an error of `storage` comes back
    /// as [`Error::Callback`] with that error as its source.
    ///
    /// ```
    /// use shopify_session_storage::{CustomSessionStorage, MemorySessionStorage, Session, SessionStorage};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> shopify_session_storage::Result<()> {
    /// let memory = MemorySessionStorage::new();
    /// let audited = CustomSessionStorage::from_storage(memory.clone()).with_delete_callback(
    ///     |id: String| async move {
    ///         println!("refusing to delete {id}");
    ///         Ok::<_, std::io::Error>(false)
    ///     },
    /// );
    /// let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
    /// audited.store_session(&session).await?;
    /// assert!(!audited.delete_session(&session.id).await?);
    /// assert_eq!(memory.load_session(&session.id).await?, Some(session));
    /// # Ok(()) }
    /// ```
    pub fn from_storage<S: SessionStorage + 'static>(storage: S) -> Self {
        let storage = Arc::new(storage);
        let (on_store, on_load, on_delete, on_delete_many, on_find) = (
            storage.clone(),
            storage.clone(),
            storage.clone(),
            storage.clone(),
            storage,
        );
        CustomSessionStorage::new(
            move |session: Session| {
                let storage = on_store.clone();
                async move { storage.store_session(&session).await }
            },
            move |id: String| {
                let storage = on_load.clone();
                async move {
                    let session = storage.load_session(&id).await?;
                    Ok::<_, Error>(session.map(LoadedSession::from))
                }
            },
            move |id: String| {
                let storage = on_delete.clone();
                async move { storage.delete_session(&id).await }
            },
        )
        .with_delete_sessions_callback(move |ids: Vec<String>| {
            let storage = on_delete_many.clone();
            async move { storage.delete_sessions(&ids).await }
        })
        .with_find_sessions_by_shop_callback(move |shop: String| {
            let storage = on_find.clone();
            async move {
                let found = storage.find_sessions_by_shop(&shop).await?;
                Ok::<_, Error>(found.into_iter().map(LoadedSession::from).collect())
            }
        })
    }

    /// Replaces the store callback.
    #[must_use]
    pub fn with_store_callback<F, Fut, E>(mut self, store: F) -> Self
    where
        F: Fn(Session) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.store = erase(store);
        self
    }

    /// Replaces the load callback.
    #[must_use]
    pub fn with_load_callback<F, Fut, E>(mut self, load: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<LoadedSession>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.load = erase(load);
        self
    }

    /// Replaces the delete callback.
    #[must_use]
    pub fn with_delete_callback<F, Fut, E>(mut self, delete: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.delete = erase(delete);
        self
    }

    /// Sets a callback that deletes many sessions at once (otherwise they are deleted one by
    /// one through the delete callback).
    #[must_use]
    pub fn with_delete_sessions_callback<F, Fut, E>(mut self, delete_sessions: F) -> Self
    where
        F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.delete_sessions = Some(erase(delete_sessions));
        self
    }

    /// Sets the callback that finds a shop's sessions (otherwise finding is
    /// [`Error::Unsupported`]).
    #[must_use]
    pub fn with_find_sessions_by_shop_callback<F, Fut, E>(mut self, find: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<LoadedSession>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.find_sessions_by_shop = Some(erase(find));
        self
    }
}

impl fmt::Debug for CustomSessionStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomSessionStorage")
            .field("delete_sessions_callback", &self.delete_sessions.is_some())
            .field(
                "find_sessions_by_shop_callback",
                &self.find_sessions_by_shop.is_some(),
            )
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStorage for CustomSessionStorage {
    async fn store_session(&self, session: &Session) -> Result<bool> {
        session.validate()?;
        call(&self.store, "store a session", session.clone()).await
    }

    async fn load_session(&self, id: &str) -> Result<Option<Session>> {
        let Some(loaded) = call(&self.load, "load a session", id.to_string()).await? else {
            return Ok(None);
        };
        let session = loaded.into_session()?;
        if session.id != id {
            return Err(Error::invalid(format!(
                "the load callback asked for {id:?} returned the session {:?}",
                session.id
            )));
        }
        Ok(Some(session))
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        call(&self.delete, "delete a session", id.to_string()).await
    }

    async fn delete_sessions(&self, ids: &[String]) -> Result<bool> {
        if let Some(delete_sessions) = &self.delete_sessions {
            return call(delete_sessions, "delete sessions", ids.to_vec()).await;
        }
        let mut all_deleted = true;
        for id in ids {
            all_deleted &= call(&self.delete, "delete a session", id.clone()).await?;
        }
        Ok(all_deleted)
    }

    async fn find_sessions_by_shop(&self, shop: &str) -> Result<Vec<Session>> {
        let Some(find) = &self.find_sessions_by_shop else {
            return Err(Error::Unsupported("find_sessions_by_shop"));
        };
        let found = call(find, "find sessions by shop", shop.to_string()).await?;
        let mut sessions = Vec::with_capacity(found.len());
        for loaded in found {
            let session = loaded.into_session()?;
            if session.shop != shop {
                return Err(Error::invalid(format!(
                    "the find callback asked for shop {shop:?} returned the session {:?} of shop {:?}",
                    session.id, session.shop
                )));
            }
            sessions.push(session);
        }
        Ok(sessions)
    }
}
