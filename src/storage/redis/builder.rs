//! [`RedisSessionStorageBuilder`]: settings, and connecting.

use std::{fmt, sync::Arc, time::Duration};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{RedisSessionStorage, layout::Layout, redis_error, scripts};
use crate::{Clock, Error, Result, SystemClock, storage::ttl::TtlPolicy};

/// How long a call waits for Redis by default.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings for [`RedisSessionStorage`]; from [`RedisSessionStorage::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use shopify_session_storage::RedisSessionStorage;
///
/// # #[tokio::main] async fn main() -> shopify_session_storage::Result<()> {
/// let storage = RedisSessionStorage::builder("redis://127.0.0.1:6379/0")
///     .prefix("shopify_sessions")
///     .retention(Duration::from_secs(3_600))
///     .offline_ttl(Some(Duration::from_secs(90 * 24 * 3_600)))
///     .timeout(Duration::from_secs(2))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct RedisSessionStorageBuilder {
    url: String,
    #[cfg(feature = "rediss")]
    tls_roots: Option<Vec<u8>>,
    prefix: String,
    ttl: TtlPolicy,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    mark_migration_done: bool,
}

/// The URL can hold a password, so it is left out.
impl fmt::Debug for RedisSessionStorageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStorageBuilder")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStorageBuilder {
    pub(super) fn new(url: String) -> Self {
        RedisSessionStorageBuilder {
            url,
            #[cfg(feature = "rediss")]
            tls_roots: None,
            prefix: super::DEFAULT_REDIS_PREFIX.to_owned(),
            ttl: TtlPolicy::default(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            clock: Arc::new(SystemClock),
            mark_migration_done: true,
        }
    }

    /// Whether [`connect`](Self::connect) records the Node adapter's migration as done
    /// (default `true`; why, in the README's Redis section). A tool that must not write to a
    /// Redis it only looks at, like the `shopify-sessions` command line, turns it off.
    pub fn mark_migration_done(mut self, mark: bool) -> Self {
        self.mark_migration_done = mark;
        self
    }

    /// The key prefix (default [`DEFAULT_REDIS_PREFIX`](super::DEFAULT_REDIS_PREFIX), the
    /// Node adapter's). A Node app that shares the data must use the same one. Two storages of
    /// different layouts (this one and a `CustomSessionStorage` of your own, say) must not
    /// share a prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a session is kept past its own expiry (default 0).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.ttl.retention = retention;
        self
    }

    /// The lifetime of a session that has neither `expires` nor `refresh_token_expires`, from
    /// the moment it is stored (default `None`: kept until deleted). Enforced by the key's TTL
    /// only: a stored property array does not say when it was stored.
    pub fn offline_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl.offline_ttl = ttl;
        self
    }

    /// How long a call (and connecting) waits for the server before it fails with
    /// [`Error::Timeout`] (default [`DEFAULT_REDIS_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where expiry decisions read the time (default [`SystemClock`]): what a load or find
    /// treats as expired, and the time left that a store gives a key as its TTL (which Redis
    /// then counts down).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// For `rediss://` URLs: trust only the CA certificates in `pem` (PEM text, one or more),
    /// instead of the system's roots, as for a server whose certificate a private CA signed.
    #[cfg(feature = "rediss")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rediss")))]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_roots = Some(pem.into());
        self
    }

    /// Connects, checks that the server is not a cluster, and records the Node adapter's
    /// migration as done (the README's Redis section says why both matter).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an empty prefix or a zero timeout; [`Error::Redis`] when
    /// the URL does not parse or the server cannot be reached or refuses;
    /// [`Error::Timeout`] when it does not answer in time; [`Error::RedisCluster`] for a
    /// cluster.
    pub async fn connect(self) -> Result<RedisSessionStorage> {
        if self.prefix.is_empty() {
            return Err(Error::InvalidConfig(
                "the Redis key prefix must not be empty".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "the Redis timeout must be more than zero".into(),
            ));
        }
        let client = self.client()?;
        // Few reconnection attempts, each bounded: a call made while the server is away fails
        // within the timeout, and the next call after it is back starts a new connection.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| Error::Timeout {
            operation: "connect to Redis",
            after: self.timeout,
        })?
        .map_err(|source| redis_error("connect", source))?;
        let storage = RedisSessionStorage {
            connection,
            layout: Arc::new(Layout::new(self.prefix)),
            ttl: self.ttl,
            timeout: self.timeout,
            clock: self.clock,
        };
        refuse_cluster(&storage).await?;
        if self.mark_migration_done {
            mark_migration_done(&storage).await?;
        }
        Ok(storage)
    }

    /// redis-rs's client for the URL, with the TLS roots when some are given.
    fn client(&self) -> Result<redis::Client> {
        let read_url = |source| redis_error("read the Redis URL", source);
        #[cfg(feature = "rediss")]
        if let Some(roots) = &self.tls_roots {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(roots.clone()),
            };
            return redis::Client::build_with_tls(self.url.as_str(), certificates)
                .map_err(read_url);
        }
        redis::Client::open(self.url.as_str()).map_err(read_url)
    }
}

/// Fails on a server in cluster mode. A server that does not allow `INFO` (some managed ones)
/// is let through: a cluster's first multi-key script would then fail before it writes.
async fn refuse_cluster(storage: &RedisSessionStorage) -> Result<()> {
    let info = storage
        .query::<String>("read the server's INFO", redis::cmd("INFO").arg("cluster"))
        .await;
    match info {
        Ok(info) if info.lines().any(|line| line.trim() == "cluster_enabled:1") => {
            Err(Error::RedisCluster(None))
        }
        Ok(_) => Ok(()),
        Err(Error::Redis { source, .. }) if source.code().is_some() => {
            tracing::debug!(error = %source, "INFO refused; cannot tell whether Redis is a cluster");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

async fn mark_migration_done(storage: &RedisSessionStorage) -> Result<()> {
    let mut invocation = scripts::MARKER.prepare_invoke();
    invocation.key(storage.layout.marker_key());
    let outcome: String = storage
        .invoke("record the Node adapter's migration", &invocation)
        .await?;
    if outcome == "unreadable" {
        tracing::warn!(
            key = %storage.layout.marker_key(),
            "the Node adapter's migration record is not a JSON object; left as it is"
        );
    }
    Ok(())
}
