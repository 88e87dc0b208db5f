//! [`CustomSessionStorage::sled`]: the embedded store as the default callbacks of a custom
//! storage on a single server (what the Node guide's `RedisStore` class supplies, on sled).
//! The custom storage knows no backend; this file knows both.

use std::path::Path;

use super::SledSessionStorage;
use crate::{CustomSessionStorage, Result};

impl CustomSessionStorage {
    /// A custom storage whose five callbacks are those of a [`SledSessionStorage`] at `path`
    /// with default settings ([`CustomSessionStorage::from_storage`] over
    /// [`SledSessionStorage::open`]). Replace any of them with `with_*_callback`; the others
    /// stay on sled. For other sled settings, build the storage and pass it to `from_storage`.
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
        Ok(Self::from_storage(SledSessionStorage::open(path)?))
    }
}
