//! [`RedisRefreshLock`]: the refresh lock every server that shares a Redis shares.

use std::{fmt, time::Duration};

use async_trait::async_trait;

use super::{RedisSessionStorage, scripts};
use crate::{
    Result,
    error::with_sources,
    refresh::{Lease, RefreshLock},
};

/// A [`RefreshLock`] in Redis, for apps on several servers: `SET refresh_lock:{prefix}:{id}
/// token NX PX ttl` takes it, a script that checks the token releases it (see the
/// [`refresh`](crate::refresh) module for how refreshers use it).
///
/// It shares the storage's connection and timeout; make it with
/// [`RedisSessionStorage::refresh_lock`]. A lock is a single key on a single server: a failover
/// to a replica that had not received it yet can hand the lock out twice, which the
/// refresher's compare-and-set on the session makes harmless.
///
/// ```no_run
/// use shopify_session_storage::{
///     refresh::{RefreshFailure, TokenGrant, TokenRefresher},
///     RedisSessionStorage, Session,
/// };
///
/// # #[tokio::main] async fn main() -> shopify_session_storage::Result<()> {
/// # async fn exchange(session: Session, _: TokenGrant) -> Result<Session, RefreshFailure> { Ok(session) }
/// let storage = RedisSessionStorage::connect("redis://127.0.0.1/").await?;
/// let refresher = TokenRefresher::builder(storage.clone(), exchange)
///     .lock(storage.refresh_lock())
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRefreshLock {
    storage: RedisSessionStorage,
}

impl fmt::Debug for RedisRefreshLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRefreshLock")
            .field("prefix", &self.storage.prefix())
            .finish_non_exhaustive()
    }
}

impl RedisSessionStorage {
    /// The refresh lock of this storage's sessions, shared by every server that uses the same
    /// Redis and prefix.
    #[must_use]
    pub fn refresh_lock(&self) -> RedisRefreshLock {
        RedisRefreshLock {
            storage: self.clone(),
        }
    }
}

#[async_trait]
impl RefreshLock for RedisRefreshLock {
    async fn try_acquire(&self, id: &str, ttl: Duration) -> Result<Option<Lease>> {
        let lease = Lease::new(id, ttl)?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let key = self.storage.layout.lock_key(id);
        let mut command = redis::cmd("SET");
        command
            .arg(&key)
            .arg(lease.token())
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        match self
            .storage
            .query::<Option<String>>("take a refresh lock", &command)
            .await
        {
            Ok(Some(_)) => Ok(Some(lease)),
            // A request sent twice (the connection dropped after the first reached the server)
            // finds the lock its first try took: it is ours all the same.
            Ok(None) => Ok(self.is_held(&lease).await?.then_some(lease)),
            Err(error) => {
                // It may have been taken before the answer was lost: give it back, if so.
                if let Err(release) = self.release(&lease).await {
                    tracing::debug!(error = %with_sources(&release), "could not give back a refresh lock after a failed take");
                }
                Err(error)
            }
        }
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let mut invocation = scripts::RELEASE_LOCK.prepare_invoke();
        invocation
            .key(self.storage.layout.lock_key(lease.id()))
            .arg(lease.token());
        let released: i64 = self
            .storage
            .invoke("release a refresh lock", &invocation)
            .await?;
        Ok(released == 1)
    }

    async fn is_held(&self, lease: &Lease) -> Result<bool> {
        let key = self.storage.layout.lock_key(lease.id());
        let holder: Option<String> = self
            .storage
            .query("read a refresh lock", redis::cmd("GET").arg(&key))
            .await?;
        Ok(holder.as_deref() == Some(lease.token()))
    }
}
