//! The bridge to [`CustomSessionStorage`]: a [`SledSessionStorage`]'s operations as the
//! callbacks a custom storage is built from (what the Node guide's `RedisStore` class supplies,
//! on sled). The custom storage knows no backend; this file knows both.

use std::{future::Future, path::Path, pin::Pin};

use super::SledSessionStorage;
use crate::{CustomSessionStorage, LoadedSession, Result, Session, SessionStorage};

type CallbackFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

impl SledSessionStorage {
    /// A store callback for [`CustomSessionStorage`], writing to this storage.
    pub fn store_callback(
        &self,
    ) -> impl Fn(Session) -> CallbackFuture<bool> + Send + Sync + Clone + 'static {
        let storage = self.clone();
        move |session: Session| {
            let storage = storage.clone();
            Box::pin(async move { storage.store_session(&session).await })
        }
    }

    /// A load callback for [`CustomSessionStorage`], reading from this storage.
    pub fn load_callback(
        &self,
    ) -> impl Fn(String) -> CallbackFuture<Option<LoadedSession>> + Send + Sync + Clone + 'static
    {
        let storage = self.clone();
        move |id: String| {
            let storage = storage.clone();
            Box::pin(async move { Ok(storage.load_session(&id).await?.map(LoadedSession::from)) })
        }
    }

    /// A delete callback for [`CustomSessionStorage`].
    pub fn delete_callback(
        &self,
    ) -> impl Fn(String) -> CallbackFuture<bool> + Send + Sync + Clone + 'static {
        let storage = self.clone();
        move |id: String| {
            let storage = storage.clone();
            Box::pin(async move { storage.delete_session(&id).await })
        }
    }

    /// A delete-many callback for [`CustomSessionStorage::with_delete_sessions_callback`].
    pub fn delete_sessions_callback(
        &self,
    ) -> impl Fn(Vec<String>) -> CallbackFuture<bool> + Send + Sync + Clone + 'static {
        let storage = self.clone();
        move |ids: Vec<String>| {
            let storage = storage.clone();
            Box::pin(async move { storage.delete_sessions(&ids).await })
        }
    }

    /// A find callback for [`CustomSessionStorage::with_find_sessions_by_shop_callback`].
    pub fn find_sessions_by_shop_callback(
        &self,
    ) -> impl Fn(String) -> CallbackFuture<Vec<LoadedSession>> + Send + Sync + Clone + 'static {
        let storage = self.clone();
        move |shop: String| {
            let storage = storage.clone();
            Box::pin(async move {
                let found = storage.find_sessions_by_shop(&shop).await?;
                Ok(found.into_iter().map(LoadedSession::from).collect())
            })
        }
    }
}

impl CustomSessionStorage {
    /// A custom storage whose five callbacks are those of a [`SledSessionStorage`] at `path`
    /// with default settings. Replace any of them with `with_*_callback`; the others stay on
    /// sled.
    ///
    /// # Errors
    /// As [`SledSessionStorage::open`].
    ///
    /// ```
    /// use shopify_session_storage::{CustomSessionStorage, Session, SessionStorage};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let storage = CustomSessionStorage::sled(dir.path().join("sessions.db"))?
    ///     .with_store_callback(|session: Session| async move {
    ///         // e.g. mirror the session elsewhere before (or instead of) storing it
    ///         Ok::<_, std::io::Error>(true)
    ///     });
    /// let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
    /// storage.store_session(&session).await?;
    /// assert_eq!(storage.load_session(&session.id).await?, None); // the app's store kept nothing
    /// # Ok(()) }
    /// ```
    pub fn sled(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_sled(&SledSessionStorage::open(path)?))
    }

    /// A custom storage whose five callbacks are those of `storage`.
    #[must_use]
    pub fn from_sled(storage: &SledSessionStorage) -> Self {
        CustomSessionStorage::new(
            storage.store_callback(),
            storage.load_callback(),
            storage.delete_callback(),
        )
        .with_delete_sessions_callback(storage.delete_sessions_callback())
        .with_find_sessions_by_shop_callback(storage.find_sessions_by_shop_callback())
    }
}
