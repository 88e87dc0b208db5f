//! [`RedisSessionStorage`]: sessions in Redis, in the layout of Shopify's Node adapter.
//!
//! What a user needs to know (sharing a Redis with a Node app, why a cluster is refused) is in
//! the README's Redis section; the key table is in `layout.rs`, the stored value in `value.rs`.
//! How the storage keeps its promises:
//!
//! - **Atomic.** The Node adapter updates a shop's index from the client (get, change, set), so
//!   concurrent stores of one shop lose index entries. Here a store or delete changes the
//!   session and its shop's index in one Lua script on the server (`scripts.rs`), and a store
//!   that moves a session to another shop also removes it from the old shop's index.
//! - **Expiry.** A stored session's key expires at the deadline every backend computes
//!   (`storage/ttl.rs`), set with the value (`PSETEX` with the time left by the storage's
//!   clock, so a server clock that is off does not move it). A session stored past its deadline
//!   deletes what the id held. A Node app's plain `SET` clears the TTL, so loads and finds also
//!   compare the session's dates with the clock and delete what is past its deadline (unless a
//!   store changed it meanwhile). `offline_ttl` cannot be checked that way, since the value
//!   does not say when it was stored: for those sessions the TTL is the only expiry.
//! - **One round trip.** `find_sessions_by_shop` reads the index and every session in one
//!   script call and drops from the index the keys that are gone. `delete_sessions` deletes
//!   any number of ids in a few calls (512 ids each).
//! - **Never hangs.** Every request has a timeout ([`RedisSessionStorageBuilder::timeout`]) and
//!   fails with [`Error::Timeout`]; redis-rs's connection manager reconnects after the server
//!   restarts or the connection drops, and a request that met the dropped connection is sent
//!   once more. Every request here gives the same result when it runs twice in a row; should
//!   the connection drop after the server ran it, and another client write the same id before
//!   the second attempt, that write is overwritten (a store) or removed (a delete).
//! - **Empty indexes are deleted**, not written as `{}` (Lua's JSON encoder writes an empty
//!   list as `{}`, which the Node adapter's find iterates as an object, and throws).
//! - **Cluster.** `connect` asks the server (`INFO cluster`) and fails with
//!   [`Error::RedisCluster`]; should a call still meet a `CROSSSLOT` or `MOVED` answer, it fails
//!   with the same error, and nothing was written (a cluster refuses such a script before it
//!   runs).

mod admin;
mod builder;
mod layout;
mod refresh_lock;
mod scripts;
mod value;

use std::{collections::HashSet, fmt, future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::{
    Cmd, FromRedisValue, RedisError, RedisResult, ScriptInvocation, aio::ConnectionManager,
};

pub use self::{
    builder::{DEFAULT_REDIS_TIMEOUT, RedisSessionStorageBuilder},
    layout::DEFAULT_PREFIX as DEFAULT_REDIS_PREFIX,
    refresh_lock::RedisRefreshLock,
};
use self::{
    layout::Layout,
    value::{decode, encode},
};
use super::{
    SessionStorage, check_replacement, holds_tokens_of,
    ttl::{TtlPolicy, epoch_millis, is_expired},
};
use crate::{Clock, CorruptRecord, Error, Result, Session, error::with_sources};

/// The longest TTL a store sets. Redis adds a TTL to its clock in a signed 64-bit number of
/// milliseconds; half of that range leaves room for any clock, and is as good as never.
const LONGEST_TTL_MS: u64 = i64::MAX.unsigned_abs() / 2;

/// How many times `replace_session` reads and compares again when a store changed the value
/// between its read and its write.
const REPLACE_ATTEMPTS: usize = 3;

/// How many ids one delete script takes.
const DELETE_BATCH: usize = 512;

/// Sessions in Redis, shared with Shopify's Node adapter: for apps that run on more than one
/// server. Cargo feature `redis`; `rediss://` URLs need feature `rediss`.
///
/// The keys and values are those of `@shopify/shopify-app-session-storage-redis`; the README's
/// Redis section says what sharing a Redis with a Node app requires, and why a Redis Cluster
/// is refused.
///
/// It is cheap to clone: clones share one connection (redis-rs multiplexes it).
///
/// ```no_run
/// use std::time::Duration;
/// use shopify_session_storage::{RedisSessionStorage, Session, SessionStorage};
///
/// # #[tokio::main] async fn main() -> shopify_session_storage::Result<()> {
/// let storage = RedisSessionStorage::builder("redis://127.0.0.1/")
///     .retention(Duration::from_secs(24 * 3_600))
///     .timeout(Duration::from_secs(2))
///     .connect()
///     .await?;
///
/// let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
/// storage.store_session(&session).await?;
/// assert_eq!(storage.find_sessions_by_shop("a.myshopify.com").await?, vec![session]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisSessionStorage {
    connection: ConnectionManager,
    layout: Arc<Layout>,
    ttl: TtlPolicy,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RedisSessionStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStorage")
            .field("prefix", &self.layout.prefix())
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStorage {
    /// Settings for a storage on the server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// or `rediss://` with feature `rediss`).
    pub fn builder(url: impl Into<String>) -> RedisSessionStorageBuilder {
        RedisSessionStorageBuilder::new(url.into())
    }

    /// Connects with the default settings; see [`RedisSessionStorageBuilder::connect`].
    ///
    /// # Errors
    /// As [`RedisSessionStorageBuilder::connect`].
    pub async fn connect(url: impl Into<String>) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// The key prefix (default [`DEFAULT_REDIS_PREFIX`]).
    #[must_use]
    pub fn prefix(&self) -> &str {
        self.layout.prefix()
    }

    /// Runs one request within the storage's timeout. A request that fails because the
    /// connection dropped (the server restarted, say) is sent once more, on the connection
    /// manager's new connection and within the same timeout (what that allows: the module
    /// docs, "Never hangs"). `request` builds the request anew for each attempt.
    async fn call<T, F, Fut>(&self, operation: &'static str, request: F) -> Result<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempts = async {
            match request(self.connection.clone()).await {
                Err(error) if error.is_connection_dropped() || error.is_io_error() => {
                    request(self.connection.clone()).await
                }
                answer => answer,
            }
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(answer) => answer.map_err(|source| redis_error(operation, source)),
            Err(_) => Err(Error::Timeout {
                operation,
                after: self.timeout,
            }),
        }
    }

    /// Runs a script; see [`call`](Self::call).
    async fn invoke<T: FromRedisValue>(
        &self,
        operation: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T> {
        self.call(operation, |mut connection| async move {
            invocation.invoke_async(&mut connection).await
        })
        .await
    }

    /// Runs a command; see [`call`](Self::call).
    async fn query<T: FromRedisValue>(&self, operation: &'static str, command: &Cmd) -> Result<T> {
        self.call(operation, |mut connection| async move {
            command.query_async(&mut connection).await
        })
        .await
    }

    fn now_ms(&self) -> u64 {
        epoch_millis(self.clock.now())
    }

    /// Whether a session read back is past its deadline. Only its dates count: a value does not
    /// say when it was stored, so `offline_ttl` is left to the key's TTL.
    fn is_past_deadline(&self, session: &Session, now_ms: u64) -> bool {
        let by_dates = TtlPolicy {
            offline_ttl: None,
            ..self.ttl
        };
        is_expired(by_dates.deadline_ms(session, now_ms), now_ms)
    }

    /// Stores a valid `session` and lists it in its shop's index; given `if_value`, only if the
    /// session's key still holds that value. Returns whether it stored.
    async fn store(&self, session: &Session, if_value: Option<&[u8]>) -> Result<bool> {
        Layout::refuse_colliding(session)?;
        let value = encode(session)?;
        let now_ms = self.now_ms();
        let deadline = self.ttl.deadline_ms(session, now_ms);
        if is_expired(deadline, now_ms) && if_value.is_none() {
            // Stored and expired at once: what was stored under the id goes, and nothing is.
            // (A conditional store sets the shortest TTL instead: the script checks the value.)
            return self.delete_session(&session.id).await;
        }
        let (session_key, index) = (
            self.layout.session_key(&session.id),
            self.layout.index_key(&session.shop),
        );
        let stored: i64 = self
            .call("store a session", |mut connection| {
                // The key's TTL is the time left until the deadline by this storage's clock, so
                // a server whose clock is off does not move it (and PSETEX, unlike SET with
                // PXAT, takes it in the same call on any Redis version). Counted again for a
                // second attempt.
                let time_left = deadline.map_or_else(String::new, |deadline| {
                    deadline
                        .saturating_sub(self.now_ms())
                        .clamp(1, LONGEST_TTL_MS)
                        .to_string()
                });
                let mut invocation = scripts::STORE.prepare_invoke();
                invocation
                    .key(&session_key)
                    .key(&index)
                    .arg(&value)
                    .arg(time_left)
                    .arg(self.layout.prefix())
                    .arg(&session.shop);
                if let Some(expected) = if_value {
                    invocation.arg(expected);
                }
                async move { invocation.invoke_async::<i64>(&mut connection).await }
            })
            .await?;
        Ok(stored == 1)
    }

    /// Deletes a session a read found past its deadline, unless a store changed it since. A
    /// failure is only logged: the read's answer does not depend on it.
    async fn expire(&self, key: &str, id: &str, value: &[u8]) {
        let mut invocation = scripts::EXPIRE.prepare_invoke();
        invocation.key(key).arg(value).arg(self.layout.prefix());
        let outcome = self.invoke::<i64>("delete an expired session", &invocation);
        if let Err(error) = outcome.await {
            tracing::warn!(id, error = %with_sources(&error), "could not delete an expired session");
        }
    }

    /// Removes a session from the index of a shop it no longer belongs to; failures only
    /// logged, as for [`expire`](Self::expire).
    async fn unlist(&self, index: &str, key: &str, id: &str, shop: &str) {
        let mut invocation = scripts::UNLIST.prepare_invoke();
        invocation.key(index).key(key).arg(shop);
        let outcome = self.invoke::<i64>("clean a shop's index", &invocation);
        if let Err(error) = outcome.await {
            tracing::warn!(id, error = %with_sources(&error), "could not clean a shop's index");
        }
    }
}

#[async_trait]
impl SessionStorage for RedisSessionStorage {
    async fn store_session(&self, session: &Session) -> Result<bool> {
        session.validate()?;
        self.store(session, None).await?;
        Ok(true)
    }

    async fn replace_session(&self, expected: &Session, replacement: &Session) -> Result<bool> {
        check_replacement(expected, replacement)?;
        if Layout::is_reserved(&expected.id) {
            return Ok(false);
        }
        let key = self.layout.session_key(&expected.id);
        // Tokens are compared here, by the parser that reads them, and the script then
        // stores only if the value is still the one compared: a store between the two makes
        // it try again, with the new value.
        for _ in 0..REPLACE_ATTEMPTS {
            let value: Option<Vec<u8>> = match self
                .query("load a session", redis::cmd("GET").arg(&key))
                .await
            {
                Err(Error::Redis { source, .. }) if is_wrong_type(&source) => return Ok(false),
                answer => answer?,
            };
            let Some(value) = value else {
                return Ok(false);
            };
            let stored = match decode(&expected.id, &value) {
                Ok(Some(stored)) => stored,
                Ok(None) | Err(Error::Corrupt { .. }) => return Ok(false),
                Err(error) => return Err(error),
            };
            if !holds_tokens_of(&stored, expected) {
                return Ok(false);
            }
            if self.store(replacement, Some(&value)).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn load_session(&self, id: &str) -> Result<Option<Session>> {
        if Layout::is_reserved(id) {
            return Ok(None);
        }
        let key = self.layout.session_key(id);
        let value: Option<Vec<u8>> = match self
            .query("load a session", redis::cmd("GET").arg(&key))
            .await
        {
            Err(Error::Redis { source, .. }) if is_wrong_type(&source) => {
                return Err(corrupt(id, CorruptRecord::NotAString));
            }
            answer => answer?,
        };
        let Some(value) = value else {
            return Ok(None);
        };
        let Some(session) = decode(id, &value)? else {
            // The id is spelled like a shop, whose index this is: no session has that id.
            return Ok(None);
        };
        if self.is_past_deadline(&session, self.now_ms()) {
            self.expire(&key, id, &value).await;
            return Ok(None);
        }
        Ok(Some(session))
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        self.delete_sessions(std::slice::from_ref(&id.to_owned()))
            .await
    }

    async fn delete_sessions(&self, ids: &[String]) -> Result<bool> {
        let keys: Vec<String> = ids
            .iter()
            .filter(|id| !Layout::is_reserved(id))
            .map(|id| self.layout.session_key(id))
            .collect();
        for batch in keys.chunks(DELETE_BATCH) {
            let mut invocation = scripts::DELETE.prepare_invoke();
            invocation.key(batch).arg(self.layout.prefix());
            self.invoke::<Vec<String>>("delete sessions", &invocation)
                .await?;
        }
        Ok(true)
    }

    async fn find_sessions_by_shop(&self, shop: &str) -> Result<Vec<Session>> {
        if Layout::is_reserved(shop) {
            // Its "index" is the Node adapter's migration record.
            return Ok(Vec::new());
        }
        let index = self.layout.index_key(shop);
        let mut invocation = scripts::FIND.prepare_invoke();
        invocation.key(&index);
        let found: Vec<Option<Vec<u8>>> =
            self.invoke("find a shop's sessions", &invocation).await?;
        let now_ms = self.now_ms();
        let mut seen = HashSet::new();
        let mut sessions = Vec::with_capacity(found.len() / 2);
        for pair in found.chunks_exact(2) {
            let [Some(key), value] = pair else { continue };
            let Some((key, id)) = std::str::from_utf8(key)
                .ok()
                .and_then(|key| Some((key, self.layout.id_of(key)?)))
            else {
                tracing::warn!(
                    shop,
                    "a shop's index lists a key outside the storage's prefix"
                );
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            let Some(value) = value else {
                let error = corrupt(id, CorruptRecord::NotAString);
                tracing::warn!(id, error = %with_sources(&error), "skipping a stored session");
                continue;
            };
            let session = match decode(id, value) {
                Ok(Some(session)) => session,
                Ok(None) => {
                    tracing::warn!(id, "a shop's index lists another shop's index; skipped");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(id, error = %with_sources(&error), "skipping a stored session");
                    continue;
                }
            };
            if session.shop != shop {
                self.unlist(&index, key, id, shop).await;
            } else if self.is_past_deadline(&session, now_ms) {
                self.expire(key, id, value).await;
            } else {
                sessions.push(session);
            }
        }
        Ok(sessions)
    }
}

fn corrupt(id: &str, source: CorruptRecord) -> Error {
    Error::Corrupt {
        id: id.to_owned(),
        source,
    }
}

fn is_wrong_type(error: &RedisError) -> bool {
    error.code() == Some("WRONGTYPE")
}

/// redis-rs's error for `operation`; the answers only a cluster gives become
/// [`Error::RedisCluster`].
fn redis_error(operation: &'static str, source: RedisError) -> Error {
    use redis::{ErrorKind, ServerErrorKind};
    match source.kind() {
        ErrorKind::Server(
            ServerErrorKind::CrossSlot
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask
            | ServerErrorKind::ClusterDown,
        ) => Error::RedisCluster(Some(source)),
        _ => Error::Redis { operation, source },
    }
}
