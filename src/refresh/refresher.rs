//! [`TokenRefresher`]: a storage's sessions, handed out with an access token that works.

use std::{
    fmt,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    InProcessRefreshLock, Lease, RefreshFailure, RefreshLock, TokenEndpoint,
    flight::{Flight, Flights, Landing, Outcome},
    need::{Need, need},
};
use crate::{
    Clock, Error, Result, Session, SessionStorage, SystemClock,
    error::{SharedError, with_sources},
    storage::{check_replacement, holds_tokens_of},
};

/// How long before its expiry an access token is refreshed (Shopify's Node code uses the same).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long the token endpoint may take before the refresh is given up.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(20);
/// How much longer than the refresh timeout a lock lasts: time to store the new session,
/// retries included.
pub const DEFAULT_STORE_ALLOWANCE: Duration = Duration::from_secs(10);
/// How often a caller whose lock is held elsewhere looks again (see the module docs).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How many times a refreshed session is offered to the storage before
/// [`Error::RefreshNotStored`].
pub const DEFAULT_STORE_ATTEMPTS: u32 = 3;

/// Hands out a storage's sessions with an access token that works, refreshing expiring offline
/// tokens one at a time per session: see the [module docs](crate::refresh) for how, and why.
///
/// Cheap to clone; clones share their flights, so build one per storage and share it.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use shopify_session_storage::{
///     refresh::{RefreshFailure, TokenGrant, TokenRefresher},
///     MemorySessionStorage, Session, SessionStorage,
/// };
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> shopify_session_storage::Result<()> {
/// async fn exchange(mut session: Session, _: TokenGrant) -> Result<Session, RefreshFailure> {
///     // The app's POST to https://{shop}/admin/oauth/access_token goes here.
///     session.access_token = Some("shpat_new".into());
///     session.refresh_token = Some("shprt_new".into());
///     session.expires = Some(SystemTime::now() + Duration::from_secs(3_600));
///     Ok(session)
/// }
///
/// let storage = MemorySessionStorage::new();
/// let mut session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
/// session.access_token = Some("shpat_old".into());
/// session.refresh_token = Some("shprt_old".into());
/// session.expires = Some(SystemTime::now() + Duration::from_secs(60));
/// storage.store_session(&session).await?;
///
/// let refresher = TokenRefresher::new(storage, exchange);
/// let fresh = refresher.fresh_session("offline_a.myshopify.com").await?.unwrap();
/// assert_eq!(fresh.access_token.as_deref(), Some("shpat_new"));
/// # Ok(()) }
/// ```
pub struct TokenRefresher<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for TokenRefresher<S> {
    fn clone(&self) -> Self {
        TokenRefresher {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<S> {
    storage: S,
    endpoint: Box<dyn TokenEndpoint>,
    lock: Arc<dyn RefreshLock>,
    flights: Flights,
    clock: Arc<dyn Clock>,
    settings: Settings,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    margin: Duration,
    refresh_timeout: Duration,
    lock_ttl: Duration,
    wait_timeout: Duration,
    poll_interval: Duration,
    store_attempts: u32,
    migrate: bool,
}

impl<S> fmt::Debug for TokenRefresher<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRefresher")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStorage + 'static> TokenRefresher<S> {
    /// A refresher with the defaults: the in-process lock, a margin of 5 minutes, no migration
    /// of non-expiring tokens.
    pub fn new(storage: S, endpoint: impl TokenEndpoint) -> Self {
        TokenRefresherBuilder::new(storage, endpoint).assemble()
    }

    /// A builder, to set the lock, the margin and the time limits.
    pub fn builder(storage: S, endpoint: impl TokenEndpoint) -> TokenRefresherBuilder<S> {
        TokenRefresherBuilder::new(storage, endpoint)
    }

    /// The storage the sessions come from.
    #[must_use]
    pub fn storage(&self) -> &S {
        &self.inner.storage
    }

    /// The session `id` with an access token good for longer than the margin, `None` when
    /// there is no such session.
    ///
    /// A session that needs it is refreshed first (or migrated, when asked), by this call or
    /// by one already under way for the same id, here or, with a shared lock, on another
    /// server; the new session is stored before it is returned.
    ///
    /// # Errors
    /// [`Error::RefreshTokenExpired`], [`Error::NotRefreshable`] and
    /// [`Error::RefreshRejected`] when the merchant must authorize the app again
    /// ([`Error::needs_authorization`]); [`Error::RefreshFailed`] when the refresh failed (the
    /// next call tries again); [`Error::RefreshTimedOut`] after waiting longer than the wait
    /// timeout; [`Error::RefreshNotStored`], holding the new session, when it was refreshed but
    /// could not be stored; the storage's own errors from the first load.
    pub async fn fresh_session(&self, id: &str) -> Result<Option<Session>> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Unsupported(
                "TokenRefresher::fresh_session outside a Tokio runtime (it spawns the refresh)",
            ));
        }
        let Some(session) = self.inner.storage.load_session(id).await? else {
            return Ok(None);
        };
        match self.inner.need(&session) {
            Need::Nothing => return Ok(Some(session)),
            Need::RefreshTokenExpired => {
                return Err(Error::RefreshTokenExpired { id: id.to_owned() });
            }
            Need::NotRefreshable => return Err(Error::NotRefreshable { id: id.to_owned() }),
            Need::Exchange(_) => {}
        }
        let mut ticket = self.inner.flights.join(id, |flight| {
            let inner = Arc::clone(&self.inner);
            let id = id.to_owned();
            tokio::spawn(async move { inner.fly(&id, flight).await });
        });
        let wait = self.inner.settings.wait_timeout;
        match tokio::time::timeout(wait, ticket.wait_for(Option::is_some)).await {
            Err(_) => Err(Error::RefreshTimedOut {
                id: id.to_owned(),
                after: wait,
            }),
            Ok(Err(_)) => Outcome::failed(Error::background(
                "the token refresh task ended without an answer",
            ))
            .into_result(id),
            Ok(Ok(outcome)) => outcome.clone().map_or_else(
                || unreachable!("waited for an outcome"),
                |outcome| outcome.into_result(id),
            ),
        }
    }
}

impl<S: SessionStorage> Inner<S> {
    fn need(&self, session: &Session) -> Need {
        let Settings {
            margin, migrate, ..
        } = self.settings;
        need(session, self.clock.now(), margin, migrate)
    }

    /// One call to the storage or the lock, within [`STEP_TIMEOUT`]: a flight that hung in a
    /// callback would keep every later caller of its session waiting.
    async fn step<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(STEP_TIMEOUT, call)
            .await
            .unwrap_or(Err(Error::Timeout {
                operation,
                after: STEP_TIMEOUT,
            }))
    }

    async fn load(&self, id: &str) -> Result<Option<Session>> {
        self.step("load the session", self.storage.load_session(id))
            .await
    }

    /// The work of one flight: take the lock (waiting while another holder has it), refresh,
    /// hand the outcome to every caller.
    async fn fly(&self, id: &str, flight: Arc<Flight>) {
        let landing = Landing {
            flights: &self.flights,
            id,
            flight,
        };
        let outcome = self.lock_and_refresh(id, &landing.flight).await;
        landing.land(outcome);
    }

    async fn lock_and_refresh(&self, id: &str, flight: &Arc<Flight>) -> Outcome {
        let ttl = self.settings.lock_ttl;
        loop {
            match self
                .step("take the refresh lock", self.lock.try_acquire(id, ttl))
                .await
            {
                Err(error) => return Outcome::failed(error),
                Ok(Some(lease)) => {
                    let outcome = self.refresh_holding(id, &lease).await;
                    let released = self.step("release the refresh lock", self.lock.release(&lease));
                    if let Err(error) = released.await {
                        tracing::warn!(id, error = %with_sources(&error), "could not release a refresh lock; it lapses by itself");
                    }
                    return outcome;
                }
                Ok(None) => {}
            }
            // Someone else (another server, or another refresher of this process) holds the
            // lock: look again after a while, at the lock and at the session it may have
            // refreshed meanwhile. Nobody waiting any more: stop (the holder goes on).
            if self.flights.leave_if_unwatched(id, flight) {
                return Outcome::failed(Error::background(
                    "every caller stopped waiting for the refresh lock",
                ));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
            match self.load(id).await {
                Err(error) => return Outcome::failed(error),
                Ok(None) => return Outcome::session(None),
                Ok(Some(session)) => match self.need(&session) {
                    Need::Nothing => return Outcome::session(Some(session)),
                    Need::RefreshTokenExpired => return Outcome::RefreshTokenExpired,
                    Need::NotRefreshable => return Outcome::NotRefreshable,
                    Need::Exchange(_) => {}
                },
            }
        }
    }

    /// Under the lock: load again (someone may have refreshed meanwhile), exchange if it is
    /// still needed, store the result.
    async fn refresh_holding(&self, id: &str, lease: &Lease) -> Outcome {
        let current = match self.load(id).await {
            Err(error) => return Outcome::failed(error),
            Ok(None) => return Outcome::session(None),
            Ok(Some(session)) => session,
        };
        let grant = match self.need(&current) {
            Need::Nothing => return Outcome::session(Some(current)),
            Need::RefreshTokenExpired => return Outcome::RefreshTokenExpired,
            Need::NotRefreshable => return Outcome::NotRefreshable,
            Need::Exchange(grant) => grant,
        };
        let timeout = self.settings.refresh_timeout;
        let exchanged =
            tokio::time::timeout(timeout, self.endpoint.exchange(current.clone(), grant)).await;
        let refreshed = match exchanged {
            Err(_) => {
                return Outcome::failed(Error::Timeout {
                    operation: "exchange the token at the token endpoint",
                    after: timeout,
                });
            }
            Ok(Err(RefreshFailure::Rejected(source))) => {
                return self.rejected(id, &current, source.into()).await;
            }
            Ok(Err(RefreshFailure::Failed(source))) => return Outcome::Failed(source.into()),
            Ok(Ok(refreshed)) => refreshed,
        };
        if self.need(&refreshed) != Need::Nothing {
            tracing::warn!(
                id,
                "the token endpoint returned a session that needs refreshing again (set its `expires` from Shopify's `expires_in`)"
            );
        }
        self.keep(id, &current, refreshed, lease).await
    }

    /// Shopify refused the grant. When a refresher whose lock had lapsed used the same refresh
    /// token first and has stored its session by now, that session is the answer; otherwise
    /// the merchant must authorize the app again.
    async fn rejected(&self, id: &str, current: &Session, source: SharedError) -> Outcome {
        match self.load(id).await {
            Ok(Some(stored)) if !holds_tokens_of(&stored, current) => {
                tracing::warn!(
                    id,
                    "Shopify refused a refresh token another refresher had used; handing out the session it stored"
                );
                Outcome::session(Some(stored))
            }
            _ => Outcome::Rejected(source),
        }
    }

    /// Stores a refreshed session unless a newer one was stored meanwhile; retries a store that
    /// fails, since the refresh used up the old refresh token. The refreshed session is dropped
    /// only for a session stored with other tokens than both `current`'s and its own.
    async fn keep(
        &self,
        id: &str,
        current: &Session,
        refreshed: Session,
        lease: &Lease,
    ) -> Outcome {
        let mut failure = None;
        for attempt in 0..self.settings.store_attempts {
            if attempt > 0 {
                tokio::time::sleep(store_backoff(attempt)).await;
            }
            let stored = match self.store_refreshed(current, &refreshed, lease).await {
                Ok(true) => {
                    tracing::info!(id, "refreshed and stored an access token");
                    return Outcome::session(Some(refreshed));
                }
                Ok(false) => self.load(id).await,
                Err(error @ Error::InvalidSession(_)) => {
                    return Outcome::NotStored(Box::new(refreshed), Arc::new(error));
                }
                Err(error) => Err(error),
            };
            match stored {
                // An earlier attempt stored it and only its answer was lost.
                Ok(Some(stored)) if holds_tokens_of(&stored, &refreshed) => {
                    return Outcome::session(Some(stored));
                }
                // The compare-and-set lost a race with a store of the same tokens: try again.
                Ok(Some(stored)) if holds_tokens_of(&stored, current) => {
                    failure = Some(Error::Contended {
                        operation: "store the refreshed session",
                    });
                }
                Ok(Some(stored)) => {
                    tracing::warn!(
                        id,
                        "a newer session was stored while this refresh ran; it is kept, and this refresh's result dropped"
                    );
                    return Outcome::session(Some(stored));
                }
                Ok(None) => {
                    tracing::warn!(
                        id,
                        "the session was deleted while its token was refreshed; the new token is dropped"
                    );
                    return Outcome::session(None);
                }
                Err(error) => {
                    tracing::warn!(id, attempt, error = %with_sources(&error), "could not store a refreshed session");
                    failure = Some(error);
                }
            }
        }
        let source = failure.unwrap_or(Error::Contended {
            operation: "store the refreshed session",
        });
        Outcome::NotStored(Box::new(refreshed), Arc::new(source))
    }

    /// Stores `refreshed` if the stored session still holds `current`'s tokens.
    async fn store_refreshed(
        &self,
        current: &Session,
        refreshed: &Session,
        lease: &Lease,
    ) -> Result<bool> {
        check_replacement(current, refreshed)?;
        let replaced = self.step(
            "store the refreshed session",
            self.storage.replace_session(current, refreshed),
        );
        match replaced.await {
            Err(Error::Unsupported(_)) => {}
            answer => return answer,
        }
        // A storage without compare-and-set: a read just before the store stands in for it
        // (module docs, "Storages without compare-and-set").
        let held = self.step("read the refresh lock", self.lock.is_held(lease));
        if !held.await? || Instant::now() >= lease.lapses_at() {
            tracing::warn!(
                id = lease.id(),
                "the refresh lock lapsed before the refreshed session was stored"
            );
        }
        let stored = self.load(&current.id).await?;
        if !stored.is_some_and(|stored| holds_tokens_of(&stored, current)) {
            return Ok(false);
        }
        let store = self.step(
            "store the refreshed session",
            self.storage.store_session(refreshed),
        );
        if store.await? {
            Ok(true)
        } else {
            // A callback's `false` is a store that did not happen, not a newer session.
            Err(Error::Callback {
                operation: "store the refreshed session",
                source: "the store callback answered false".into(),
            })
        }
    }
}

/// How long one call to the storage or the lock may take inside a flight.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause before store attempt `attempt` (from 1): 100 ms, 400 ms, then 1.6 s and 2 s on.
fn store_backoff(attempt: u32) -> Duration {
    (Duration::from_millis(100) * 4_u32.saturating_pow(attempt - 1)).min(Duration::from_secs(2))
}

/// Settings of a [`TokenRefresher`]; from [`TokenRefresher::builder`].
pub struct TokenRefresherBuilder<S> {
    storage: S,
    endpoint: Box<dyn TokenEndpoint>,
    lock: Arc<dyn RefreshLock>,
    clock: Arc<dyn Clock>,
    margin: Duration,
    refresh_timeout: Duration,
    lock_ttl: Option<Duration>,
    wait_timeout: Option<Duration>,
    poll_interval: Duration,
    store_attempts: u32,
    migrate: bool,
}

impl<S> fmt::Debug for TokenRefresherBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRefresherBuilder")
            .field("margin", &self.margin)
            .field("refresh_timeout", &self.refresh_timeout)
            .field("lock_ttl", &self.lock_ttl)
            .field("wait_timeout", &self.wait_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("store_attempts", &self.store_attempts)
            .field("migrate", &self.migrate)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStorage + 'static> TokenRefresherBuilder<S> {
    fn new(storage: S, endpoint: impl TokenEndpoint) -> Self {
        TokenRefresherBuilder {
            storage,
            endpoint: Box::new(endpoint),
            lock: Arc::new(InProcessRefreshLock::process_wide()),
            clock: Arc::new(SystemClock),
            margin: DEFAULT_REFRESH_MARGIN,
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
            lock_ttl: None,
            wait_timeout: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            store_attempts: DEFAULT_STORE_ATTEMPTS,
            migrate: false,
        }
    }

    /// The lock refreshers take; [`InProcessRefreshLock::process_wide`] by default. Apps on several servers
    /// give every server's refresher the same shared lock (`RedisSessionStorage::refresh_lock`
    /// with feature `redis`).
    #[must_use]
    pub fn lock(mut self, lock: impl RefreshLock) -> Self {
        self.lock = Arc::new(lock);
        self
    }

    /// How long before its expiry an access token is refreshed;
    /// [`DEFAULT_REFRESH_MARGIN`] by default.
    #[must_use]
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// How long the token endpoint may take; [`DEFAULT_REFRESH_TIMEOUT`] by default. Keep the
    /// app's HTTP timeout below it (module docs, "Time limits").
    #[must_use]
    pub fn refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = timeout;
        self
    }

    /// How long a refresh lock lasts; by default the refresh timeout plus
    /// [`DEFAULT_STORE_ALLOWANCE`].
    #[must_use]
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = Some(ttl);
        self
    }

    /// How long a caller waits for a refresh before [`Error::RefreshTimedOut`]; by default the
    /// lock's time to live.
    #[must_use]
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = Some(timeout);
        self
    }

    /// How often a caller whose lock is held elsewhere looks again;
    /// [`DEFAULT_POLL_INTERVAL`] by default.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How many times a refreshed session is offered to the storage;
    /// [`DEFAULT_STORE_ATTEMPTS`] by default.
    #[must_use]
    pub fn store_attempts(mut self, attempts: u32) -> Self {
        self.store_attempts = attempts;
        self
    }

    /// Whether offline sessions with a non-expiring access token are exchanged, once, for an
    /// expiring one ([`TokenGrant::MigrateToExpiring`](super::TokenGrant::MigrateToExpiring));
    /// off by default.
    #[must_use]
    pub fn migrate_non_expiring_tokens(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// The clock token expiry is judged by; the system clock by default.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The refresher.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a zero refresh timeout, lock time to live, wait timeout or
    /// poll interval, a lock that lapses before the refresh timeout, or no store attempts.
    pub fn build(self) -> Result<TokenRefresher<S>> {
        let lock_ttl = self.effective_lock_ttl();
        let zero = [
            ("refresh_timeout", self.refresh_timeout),
            ("lock_ttl", lock_ttl),
            ("wait_timeout", self.wait_timeout.unwrap_or(lock_ttl)),
            ("poll_interval", self.poll_interval),
        ]
        .into_iter()
        .find(|(_, value)| value.is_zero());
        if let Some((name, _)) = zero {
            return Err(Error::InvalidConfig(format!(
                "{name} must be more than zero"
            )));
        }
        if lock_ttl <= self.refresh_timeout {
            return Err(Error::InvalidConfig(format!(
                "lock_ttl ({lock_ttl:?}) must be longer than refresh_timeout ({:?}), or a lock lapses while its refresh runs",
                self.refresh_timeout
            )));
        }
        if self.store_attempts == 0 {
            return Err(Error::InvalidConfig(
                "store_attempts must be at least 1".into(),
            ));
        }
        Ok(self.assemble())
    }

    fn effective_lock_ttl(&self) -> Duration {
        self.lock_ttl
            .unwrap_or(self.refresh_timeout.saturating_add(DEFAULT_STORE_ALLOWANCE))
    }

    fn assemble(self) -> TokenRefresher<S> {
        let lock_ttl = self.effective_lock_ttl();
        TokenRefresher {
            inner: Arc::new(Inner {
                storage: self.storage,
                endpoint: self.endpoint,
                lock: self.lock,
                flights: Flights::default(),
                clock: self.clock,
                settings: Settings {
                    margin: self.margin,
                    refresh_timeout: self.refresh_timeout,
                    lock_ttl,
                    wait_timeout: self.wait_timeout.unwrap_or(lock_ttl),
                    poll_interval: self.poll_interval,
                    store_attempts: self.store_attempts,
                    migrate: self.migrate,
                },
            }),
        }
    }
}
