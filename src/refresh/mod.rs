//! Expiring offline tokens, refreshed one at a time per session, in one process and across
//! servers.
//!
//! Shopify's offline access tokens now expire after an hour and come with a refresh token that
//! works once: each refresh returns a new access token *and* a new refresh token, and the old
//! refresh token is dead. Two requests that refresh the same shop at once leave one of them
//! holding a dead token, and the shop broken until the merchant authorizes the app again.
//! [`TokenRefresher`] hands out sessions with a working token and makes sure that cannot
//! happen:
//!
//! 1. It loads the session. An access token good for longer than the margin (5 minutes by
//!    default) is handed out as it is; that is the common case, and it costs one load.
//! 2. Otherwise the callers in this process that want the same session join one *flight*: one
//!    task takes the session's [`RefreshLock`], **loads the session again** (another holder may
//!    have refreshed it meanwhile), and only if it still needs it calls the app's
//!    [`TokenEndpoint`]. It stores what the endpoint returns, releases the lock, and every
//!    caller of the flight gets the outcome: the new session, or the same error.
//! 3. A caller waits at most the wait timeout, then gets [`Error::RefreshTimedOut`]; it never
//!    starts a refresh of its own. A refresh under way goes on and stores its session; a
//!    flight still waiting for another holder's lock stops once nobody waits for it.
//!
//! # Locks
//! The in-process lock ([`InProcessRefreshLock::process_wide`], the default, shared by every
//! refresher of the process) is enough for the memory and sled storages, which one process
//! owns. Apps on several servers share `RedisRefreshLock`
//! (`RedisSessionStorage::refresh_lock`, feature `redis`), a `SET key token NX PX ttl` released
//! by a script that checks the token; a [`CustomSessionStorage`](crate::CustomSessionStorage)
//! on several servers can use that one or implement [`RefreshLock`] over its own database.
//!
//! A flight whose lock is held elsewhere polls: every 100 ms (by default) it tries the lock and
//! reloads the session, and hands out the session as soon as another server has stored a fresh
//! one. Shopify's token endpoint answers in a few hundred milliseconds, so a waiter on another
//! server learns of the new token at most one interval after it is stored, and one process
//! polls once per session however many of its requests wait (they share a flight). When the
//! lock comes free and the session still needs a refresh (the other holder failed, or crashed
//! and its lease lapsed), the flight takes the lock and refreshes itself.
//!
//! # A late refresh never overwrites a newer token
//! A lock lapses after its time to live, so a refresher that stalls past it (a paused process,
//! a Redis failover that lost the key) may find that another took the lock and refreshed. So
//! the refreshed session is stored with [`SessionStorage::replace_session`](crate::SessionStorage::replace_session),
//! a compare-and-set: only if the stored session still holds the tokens the refresh started
//! from. When it does not, a newer session is there; it is kept and handed out, and the late
//! result dropped (with a warning in the log). The other way round, a refresher whose token
//! Shopify refused because a lapsed holder used it first hands out the session that holder
//! stored, if it is there by then. Every storage of this crate has it; the
//! sled store judges under the id's lock, Redis in the store script, memory under its lock.
//!
//! # Storages without compare-and-set
//! A [`CustomSessionStorage`](crate::CustomSessionStorage) is three callbacks and cannot
//! compare and set in one step. For it, the refresher reads the session just before storing
//! and stores only if its tokens are unchanged, which leaves a window of one round trip in
//! which a concurrent store can be overwritten. A storage that must close it implements
//! [`SessionStorage`](crate::SessionStorage) itself, with `replace_session`.
//!
//! # Time limits
//! The token endpoint is given the refresh timeout (20 s by default); past it, the call is
//! dropped and the flight fails with [`Error::RefreshFailed`]. A dropped call may already
//! have reached Shopify and used up the refresh token, so keep the app's HTTP timeout shorter.
//! The lock lasts the refresh timeout plus 10 s to store the result; callers wait as long as
//! the lock lasts, unless told otherwise. Each call a flight makes to the storage or the lock
//! is given 10 s, so a callback that hangs fails the flight instead of holding the session's
//! later callers.
//!
//! # When Shopify's call succeeded but the store did not
//! The old refresh token is dead then, and the new session holds the only working one. The
//! store is tried three times; if it still fails, every caller gets
//! [`Error::RefreshNotStored`] with the new session inside, for the app to keep.
//!
//! # Migrating non-expiring tokens
//! With [`TokenRefresherBuilder::migrate_non_expiring_tokens`], an offline session with a
//! non-expiring token is exchanged once for an expiring one ([`TokenGrant::MigrateToExpiring`]),
//! through the same flight and lock, so the exchange, which also works only once, cannot race.
//!
//! The example `examples/expiring_tokens.rs` runs 100 concurrent requests for one shop against
//! a fake token endpoint and counts one exchange.
//!
//! [`Error::RefreshTimedOut`]: crate::Error::RefreshTimedOut
//! [`Error::RefreshFailed`]: crate::Error::RefreshFailed
//! [`Error::RefreshNotStored`]: crate::Error::RefreshNotStored

mod endpoint;
mod flight;
mod lock;
mod need;
mod refresher;

pub use self::{
    endpoint::{RefreshFailure, TokenEndpoint, TokenGrant},
    lock::{InProcessRefreshLock, Lease, RefreshLock},
    refresher::{
        DEFAULT_POLL_INTERVAL, DEFAULT_REFRESH_MARGIN, DEFAULT_REFRESH_TIMEOUT,
        DEFAULT_STORE_ALLOWANCE, DEFAULT_STORE_ATTEMPTS, TokenRefresher, TokenRefresherBuilder,
    },
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use crate::storage::redis::RedisRefreshLock;
