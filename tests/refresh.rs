//! `TokenRefresher`: one refresh per session however many callers want it, on every backend;
//! failures shared by the callers of a refresh; a late refresh never stored over a newer
//! session; sessions that need a new OAuth grant told apart.

mod common;

#[path = "../examples/expiring_tokens.rs"]
mod expiring_tokens_example;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use shopify_session_storage::{
    CustomSessionStorage, Error, MemorySessionStorage, Session, SessionStorage, SledSessionStorage,
    refresh::{
        InProcessRefreshLock, Lease, RefreshFailure, RefreshLock, TokenEndpoint, TokenGrant,
        TokenRefresher,
    },
};
use tokio::sync::Notify;

const SHOP: &str = "refresh-test.myshopify.com";
const ID: &str = "offline_refresh-test.myshopify.com";
const CALLERS: usize = 100;
const HOUR: Duration = Duration::from_secs(3_600);

/// A session whose access token expires in a minute (inside the 5-minute margin), with a live
/// refresh token.
fn expiring() -> Session {
    let mut session = Session::new(ID, SHOP, "", false);
    session.scope = Some("read_products".into());
    session.access_token = Some("shpat_0".into());
    session.refresh_token = Some("shprt_0".into());
    session.expires = Some(SystemTime::now() + Duration::from_secs(60));
    session.refresh_token_expires = Some(SystemTime::now() + 90 * 24 * HOUR);
    session
}

/// What the fake token endpoint does when called.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    #[allow(dead_code)]
    NewTokens,
    Unavailable,
}

/// Shopify's token endpoint, in process: each refresh token works once (a second use is
/// refused, as Shopify refuses it), and each exchange takes `delay`, so that callers overlap.
struct FakeShopify {
    calls: AtomicUsize,
    delay: Duration,
    answers: Mutex<Vec<Answer>>,
    live_refresh_token: Mutex<String>,
    grants: Mutex<Vec<TokenGrant>>,
}

impl FakeShopify {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(FakeShopify {
            calls: AtomicUsize::new(0),
            delay,
            answers: Mutex::new(Vec::new()),
            live_refresh_token: Mutex::new("shprt_0".into()),
            grants: Mutex::new(Vec::new()),
        })
    }

    /// Answers the next calls so, in order; then new tokens.
    fn answer_next(&self, answers: &[Answer]) {
        let mut queue = self.answers.lock().unwrap();
        queue.extend(answers.iter().rev());
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn endpoint(self: &Arc<Self>) -> impl TokenEndpoint {
        let shopify = Arc::clone(self);
        move |session: Session, grant: TokenGrant| {
            let shopify = Arc::clone(&shopify);
            async move { shopify.exchange(session, grant).await }
        }
    }

    async fn exchange(
        &self,
        mut session: Session,
        grant: TokenGrant,
    ) -> Result<Session, RefreshFailure> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.grants.lock().unwrap().push(grant);
        tokio::time::sleep(self.delay).await;
        if self.answers.lock().unwrap().pop() == Some(Answer::Unavailable) {
            return Err(std::io::Error::other("the token endpoint answered 503").into());
        }
        {
            let mut live = self.live_refresh_token.lock().unwrap();
            let used = session.refresh_token.as_deref() != Some(live.as_str());
            if grant == TokenGrant::RefreshToken && used {
                return Err(RefreshFailure::rejected("invalid_grant"));
            }
            *live = format!("shprt_{call}");
        }
        session.access_token = Some(format!("shpat_{call}"));
        session.refresh_token = Some(format!("shprt_{call}"));
        session.expires = Some(SystemTime::now() + HOUR);
        session.refresh_token_expires = Some(SystemTime::now() + 90 * 24 * HOUR);
        Ok(session)
    }
}

/// A refresher with a lock of its own, which no other refresher (of this test or another)
/// shares: for tests that time a refresh, or that play two servers whose locks did not see each
/// other.
fn with_own_lock<S: SessionStorage + 'static>(
    storage: S,
    endpoint: impl TokenEndpoint,
) -> TokenRefresher<S> {
    TokenRefresher::builder(storage, endpoint)
        .lock(InProcessRefreshLock::new())
        .build()
        .unwrap()
}

/// `CALLERS` concurrent calls spread over `refreshers` (as over servers): every one gets the
/// session with the tokens of the one exchange, which is stored.
async fn hundred_callers_one_refresh<S: SessionStorage + Clone + 'static>(
    storage: &S,
    refreshers: &[TokenRefresher<S>],
    shopify: &FakeShopify,
) {
    storage.store_session(&expiring()).await.unwrap();
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let refresher = refreshers[caller % refreshers.len()].clone();
            tokio::spawn(async move { refresher.fresh_session(ID).await })
        })
        .collect();
    for caller in callers {
        let session = caller.await.unwrap().unwrap().expect("the session");
        assert_eq!(session.access_token.as_deref(), Some("shpat_1"));
        assert_eq!(session.refresh_token.as_deref(), Some("shprt_1"));
    }
    assert_eq!(shopify.calls(), 1, "one exchange for {CALLERS} callers");
    let stored = storage.load_session(ID).await.unwrap().unwrap();
    assert_eq!(stored.access_token.as_deref(), Some("shpat_1"));

    // Now fresh: handed out with no exchange.
    let again = refreshers[0].fresh_session(ID).await.unwrap().unwrap();
    assert_eq!(again.access_token.as_deref(), Some("shpat_1"));
    assert_eq!(shopify.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_hundred_callers_one_refresh() {
    let storage = MemorySessionStorage::new();
    let shopify = FakeShopify::new(Duration::from_millis(100));
    let refresher = TokenRefresher::new(storage.clone(), shopify.endpoint());
    hundred_callers_one_refresh(&storage, &[refresher], &shopify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sled_hundred_callers_one_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SledSessionStorage::open(dir.path().join("sessions.db")).unwrap();
    let shopify = FakeShopify::new(Duration::from_millis(100));
    let refresher = TokenRefresher::new(storage.clone(), shopify.endpoint());
    hundred_callers_one_refresh(&storage, &[refresher], &shopify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_makes_one_refresh_for_a_hundred_requests() {
    let dir = tempfile::tempdir().unwrap();
    let calls = expiring_tokens_example::run(&dir.path().join("sessions.db"), CALLERS)
        .await
        .unwrap();
    assert_eq!(calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_storage_hundred_callers_one_refresh() {
    // Callbacks have no compare-and-set: the refresher reads just before it stores instead.
    let memory = MemorySessionStorage::new();
    let storage = Arc::new(CustomSessionStorage::from_storage(memory));
    let shopify = FakeShopify::new(Duration::from_millis(100));
    let refresher = TokenRefresher::new(Arc::clone(&storage), shopify.endpoint());
    hundred_callers_one_refresh(&storage, &[refresher], &shopify).await;
}

// Paused time: the exchange's 100 ms pass only once every caller waits, however busy the
// machine. A lock of its own, so that no other test holds this session id's lock meanwhile.
#[tokio::test(start_paused = true)]
async fn a_failed_refresh_fails_every_waiter_and_the_next_call_tries_again() {
    let storage = MemorySessionStorage::new();
    storage.store_session(&expiring()).await.unwrap();
    let shopify = FakeShopify::new(Duration::from_millis(100));
    shopify.answer_next(&[Answer::Unavailable]);
    let refresher = with_own_lock(storage.clone(), shopify.endpoint());

    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let refresher = refresher.clone();
            tokio::spawn(async move { refresher.fresh_session(ID).await })
        })
        .collect();
    for caller in callers {
        let error = caller.await.unwrap().expect_err("the refresh failed");
        assert!(
            matches!(&error, Error::RefreshFailed { id, .. } if id == ID),
            "{error:?}"
        );
        assert!(!error.needs_authorization());
        let source = std::error::Error::source(&error).expect("the endpoint's error");
        assert_eq!(source.to_string(), "the token endpoint answered 503");
    }
    assert_eq!(shopify.calls(), 1, "one failed exchange for every waiter");
    let stored = storage.load_session(ID).await.unwrap().unwrap();
    assert_eq!(
        stored.access_token.as_deref(),
        Some("shpat_0"),
        "nothing stored"
    );

    let session = refresher.fresh_session(ID).await.unwrap().unwrap();
    assert_eq!(session.access_token.as_deref(), Some("shpat_2"));
    assert_eq!(shopify.calls(), 2);
}

#[tokio::test]
async fn an_expired_refresh_token_needs_a_new_grant_and_no_exchange() {
    let storage = MemorySessionStorage::new();
    let mut session = expiring();
    session.expires = Some(SystemTime::now() - HOUR);
    session.refresh_token_expires = Some(SystemTime::now() - Duration::from_secs(1));
    storage.store_session(&session).await.unwrap();
    let shopify = FakeShopify::new(Duration::ZERO);
    let refresher = TokenRefresher::new(storage, shopify.endpoint());

    let error = refresher.fresh_session(ID).await.unwrap_err();
    assert!(
        matches!(&error, Error::RefreshTokenExpired { id } if id == ID),
        "{error:?}"
    );
    assert!(error.needs_authorization());
    assert_eq!(shopify.calls(), 0);
}

#[tokio::test]
async fn an_expired_token_without_a_refresh_token_needs_a_new_grant() {
    let storage = MemorySessionStorage::new();
    let mut session = expiring();
    session.refresh_token = None;
    session.refresh_token_expires = None;
    session.expires = Some(SystemTime::now() - Duration::from_secs(1));
    storage.store_session(&session).await.unwrap();
    let shopify = FakeShopify::new(Duration::ZERO);
    let refresher = TokenRefresher::new(storage, shopify.endpoint());

    let error = refresher.fresh_session(ID).await.unwrap_err();
    assert!(matches!(error, Error::NotRefreshable { .. }), "{error:?}");
    assert!(error.needs_authorization());
    assert_eq!(shopify.calls(), 0);
}

#[tokio::test]
async fn a_refused_refresh_token_needs_a_new_grant() {
    let storage = MemorySessionStorage::new();
    let mut session = expiring();
    session.refresh_token = Some("shprt_used_elsewhere".into());
    storage.store_session(&session).await.unwrap();
    let shopify = FakeShopify::new(Duration::ZERO);
    let refresher = TokenRefresher::new(storage, shopify.endpoint());

    let error = refresher.fresh_session(ID).await.unwrap_err();
    assert!(matches!(error, Error::RefreshRejected { .. }), "{error:?}");
    assert!(error.needs_authorization());
    assert!(
        !format!("{error} {error:?}").contains("shprt"),
        "no token in the error"
    );
}

#[tokio::test]
async fn fresh_and_missing_sessions_need_no_exchange() {
    let storage = MemorySessionStorage::new();
    let mut session = expiring();
    session.expires = Some(SystemTime::now() + HOUR);
    storage.store_session(&session).await.unwrap();
    let shopify = FakeShopify::new(Duration::ZERO);
    let refresher = TokenRefresher::new(storage, shopify.endpoint());

    assert_eq!(refresher.fresh_session(ID).await.unwrap(), Some(session));
    assert_eq!(
        refresher
            .fresh_session("offline_none.myshopify.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(shopify.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_expiring_tokens_migrate_once() {
    let storage = MemorySessionStorage::new();
    let mut session = expiring();
    session.expires = None;
    session.refresh_token = None;
    session.refresh_token_expires = None;
    storage.store_session(&session).await.unwrap();
    let shopify = FakeShopify::new(Duration::from_millis(50));
    let refresher = TokenRefresher::builder(storage.clone(), shopify.endpoint())
        .migrate_non_expiring_tokens(true)
        .build()
        .unwrap();

    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let refresher = refresher.clone();
            tokio::spawn(async move { refresher.fresh_session(ID).await })
        })
        .collect();
    for caller in callers {
        let session = caller.await.unwrap().unwrap().unwrap();
        assert_eq!(session.access_token.as_deref(), Some("shpat_1"));
        assert!(session.expires.is_some() && session.refresh_token.is_some());
    }
    assert_eq!(
        *shopify.grants.lock().unwrap(),
        [TokenGrant::MigrateToExpiring]
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_waits_too_long_gets_a_timeout_and_the_refresh_still_lands() {
    let storage = MemorySessionStorage::new();
    storage.store_session(&expiring()).await.unwrap();
    let shopify = FakeShopify::new(Duration::from_millis(300));
    let refresher = TokenRefresher::builder(storage.clone(), shopify.endpoint())
        .lock(InProcessRefreshLock::new())
        .wait_timeout(Duration::from_millis(20))
        .build()
        .unwrap();

    let error = refresher.fresh_session(ID).await.unwrap_err();
    assert!(matches!(error, Error::RefreshTimedOut { .. }), "{error:?}");
    // A second caller joins the same flight instead of starting another exchange.
    let error = refresher.fresh_session(ID).await.unwrap_err();
    assert!(matches!(error, Error::RefreshTimedOut { .. }), "{error:?}");

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(shopify.calls(), 1);
    let stored = storage.load_session(ID).await.unwrap().unwrap();
    assert_eq!(stored.access_token.as_deref(), Some("shpat_1"));
    let session = refresher.fresh_session(ID).await.unwrap().unwrap();
    assert_eq!(session.access_token.as_deref(), Some("shpat_1"));
}

#[tokio::test]
async fn a_refreshed_session_that_cannot_be_stored_comes_back_in_the_error() {
    let memory = MemorySessionStorage::new();
    memory.store_session(&expiring()).await.unwrap();
    let storage = CustomSessionStorage::from_storage(memory.clone()).with_store_callback(
        |_: Session| async { Err::<bool, _>(std::io::Error::other("the database is read-only")) },
    );
    let shopify = FakeShopify::new(Duration::ZERO);
    let refresher = TokenRefresher::new(storage, shopify.endpoint());

    let error = refresher.fresh_session(ID).await.unwrap_err();
    let Error::RefreshNotStored { session, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(session.access_token.as_deref(), Some("shpat_1"));
    assert_eq!(session.refresh_token.as_deref(), Some("shprt_1"));
    let text = format!("{error} {error:?} {}", common::error_text(&error));
    assert!(text.contains("read-only"), "{text}");
    assert!(!text.contains("shpat") && !text.contains("shprt"), "{text}");
    assert_eq!(shopify.calls(), 1);
}

/// An endpoint that answers `tokens` once `gate` opens, after saying it was called.
fn gated_endpoint(
    tokens: &'static str,
    called: Arc<Notify>,
    gate: Arc<Notify>,
) -> impl TokenEndpoint {
    move |mut session: Session, _: TokenGrant| {
        let (called, gate) = (Arc::clone(&called), Arc::clone(&gate));
        async move {
            called.notify_one();
            gate.notified().await;
            session.access_token = Some(format!("shpat_{tokens}"));
            session.refresh_token = Some(format!("shprt_{tokens}"));
            session.expires = Some(SystemTime::now() + HOUR);
            Ok(session)
        }
    }
}

/// An endpoint that answers `tokens` at once.
fn quick_endpoint(tokens: &'static str) -> impl TokenEndpoint {
    move |mut session: Session, _: TokenGrant| async move {
        session.access_token = Some(format!("shpat_{tokens}"));
        session.refresh_token = Some(format!("shprt_{tokens}"));
        session.expires = Some(SystemTime::now() + HOUR);
        Ok(session)
    }
}

/// Refresher `late` starts first and its lock is lost (`lose_lock`) while it waits at the token
/// endpoint; refresher `prompt` then refreshes and stores. When `late` finishes, its result is
/// not stored over `prompt`'s, and its caller gets `prompt`'s session.
async fn a_late_refresh_is_not_stored_over_a_newer_one<S, F, Fut>(
    storage: &S,
    late: impl FnOnce(Boxed) -> TokenRefresher<S>,
    prompt: impl FnOnce(Boxed) -> TokenRefresher<S>,
    lose_lock: F,
) where
    S: SessionStorage + Clone + 'static,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    storage.store_session(&expiring()).await.unwrap();
    let (called, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let late = late(Boxed(Box::new(gated_endpoint(
        "late",
        Arc::clone(&called),
        Arc::clone(&gate),
    ))));
    let prompt = prompt(Boxed(Box::new(quick_endpoint("prompt"))));

    let late_caller = tokio::spawn(async move { late.fresh_session(ID).await });
    called.notified().await;
    lose_lock().await;
    let newer = prompt.fresh_session(ID).await.unwrap().unwrap();
    assert_eq!(newer.access_token.as_deref(), Some("shpat_prompt"));

    gate.notify_one();
    let handed_out = late_caller.await.unwrap().unwrap().unwrap();
    assert_eq!(handed_out.access_token.as_deref(), Some("shpat_prompt"));
    let stored = storage.load_session(ID).await.unwrap().unwrap();
    assert_eq!(stored.access_token.as_deref(), Some("shpat_prompt"));
    assert_eq!(stored.refresh_token.as_deref(), Some("shprt_prompt"));
}

/// Either endpoint, for refreshers built by the caller of the test above.
struct Boxed(Box<dyn TokenEndpoint>);

#[async_trait::async_trait]
impl TokenEndpoint for Boxed {
    async fn exchange(
        &self,
        session: Session,
        grant: TokenGrant,
    ) -> Result<Session, RefreshFailure> {
        self.0.exchange(session, grant).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_a_refresh_that_outlives_its_lock_is_not_stored_over_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SledSessionStorage::open(dir.path().join("sessions.db")).unwrap();
    // Two refreshers with locks of their own: as if the first one's lease had lapsed.
    let late_storage = storage.clone();
    let prompt_storage = storage.clone();
    a_late_refresh_is_not_stored_over_a_newer_one(
        &storage,
        move |endpoint| with_own_lock(late_storage, endpoint),
        move |endpoint| with_own_lock(prompt_storage, endpoint),
        || async {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_refresh_that_outlives_its_lock_is_not_stored_over_a_newer_one() {
    let storage = MemorySessionStorage::new();
    let (late_storage, prompt_storage) = (storage.clone(), storage.clone());
    a_late_refresh_is_not_stored_over_a_newer_one(
        &storage,
        move |endpoint| with_own_lock(late_storage, endpoint),
        move |endpoint| with_own_lock(prompt_storage, endpoint),
        || async {},
    )
    .await;
}

/// A shared lock whose `try_acquire` first says it was reached, then waits for `gate`.
struct GatedLock {
    shared: InProcessRefreshLock,
    arrived: Arc<Notify>,
    gate: Arc<Notify>,
}

#[async_trait::async_trait]
impl RefreshLock for GatedLock {
    async fn try_acquire(
        &self,
        id: &str,
        ttl: Duration,
    ) -> shopify_session_storage::Result<Option<Lease>> {
        self.arrived.notify_one();
        self.gate.notified().await;
        self.shared.try_acquire(id, ttl).await
    }
    async fn release(&self, lease: &Lease) -> shopify_session_storage::Result<bool> {
        self.shared.release(lease).await
    }
    async fn is_held(&self, lease: &Lease) -> shopify_session_storage::Result<bool> {
        self.shared.is_held(lease).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresher_that_gets_the_lock_after_another_refreshed_loads_again_and_does_not_exchange()
{
    // Two servers sharing a lock: `second` saw the old session, then reaches the lock only after
    // `first` has refreshed, stored and released it.
    let storage = MemorySessionStorage::new();
    storage.store_session(&expiring()).await.unwrap();
    let shopify = FakeShopify::new(Duration::ZERO);
    let shared = InProcessRefreshLock::new();
    let (arrived, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let first = TokenRefresher::builder(storage.clone(), shopify.endpoint())
        .lock(shared.clone())
        .build()
        .unwrap();
    let second = TokenRefresher::builder(storage.clone(), shopify.endpoint())
        .lock(GatedLock {
            shared,
            arrived: Arc::clone(&arrived),
            gate: Arc::clone(&gate),
        })
        .build()
        .unwrap();

    let waiting = tokio::spawn(async move { second.fresh_session(ID).await });
    arrived.notified().await;
    let refreshed = first.fresh_session(ID).await.unwrap().unwrap();
    assert_eq!(refreshed.access_token.as_deref(), Some("shpat_1"));
    gate.notify_one();
    let session = waiting.await.unwrap().unwrap().unwrap();
    assert_eq!(session.access_token.as_deref(), Some("shpat_1"));
    assert_eq!(
        shopify.calls(),
        1,
        "the second holder found the session refreshed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_refreshers_of_one_process_refresh_once() {
    // Built separately over clones of one storage, as two parts of an app might: they share
    // the process-wide lock, and the second finds the session refreshed.
    let storage = MemorySessionStorage::new();
    let shopify = FakeShopify::new(Duration::from_millis(100));
    let first = TokenRefresher::new(storage.clone(), shopify.endpoint());
    let second = TokenRefresher::new(storage.clone(), shopify.endpoint());
    hundred_callers_one_refresh(&storage, &[first, second], &shopify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_that_a_lapsed_holder_used_hands_out_its_session() {
    // `late` used the refresh token at Shopify and stored; `second`, whose lock did not see
    // `late`'s (as after a lapse), loaded the old session before that and is refused.
    let storage = MemorySessionStorage::new();
    storage.store_session(&expiring()).await.unwrap();
    let shopify = FakeShopify::new(Duration::ZERO);
    let (called, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let refused = {
        let (shopify, called, gate) =
            (Arc::clone(&shopify), Arc::clone(&called), Arc::clone(&gate));
        move |session: Session, grant: TokenGrant| {
            let (shopify, called, gate) =
                (Arc::clone(&shopify), Arc::clone(&called), Arc::clone(&gate));
            async move {
                called.notify_one();
                gate.notified().await;
                shopify.exchange(session, grant).await
            }
        }
    };
    let second = with_own_lock(storage.clone(), refused);
    let late = with_own_lock(storage.clone(), shopify.endpoint());

    let waiting = tokio::spawn(async move { second.fresh_session(ID).await });
    called.notified().await;
    let stored = late.fresh_session(ID).await.unwrap().unwrap();
    assert_eq!(stored.access_token.as_deref(), Some("shpat_1"));
    gate.notify_one();
    let session = waiting
        .await
        .unwrap()
        .expect("the session the other refresher stored");
    assert_eq!(session.unwrap().access_token.as_deref(), Some("shpat_1"));
    assert_eq!(
        shopify.calls(),
        2,
        "the second exchange was made, and refused"
    );
}

#[tokio::test]
async fn a_store_callback_that_answers_false_keeps_the_new_session_in_the_error() {
    let memory = MemorySessionStorage::new();
    memory.store_session(&expiring()).await.unwrap();
    let storage = CustomSessionStorage::from_storage(memory.clone())
        .with_store_callback(|_: Session| async { Ok::<_, std::io::Error>(false) });
    let shopify = FakeShopify::new(Duration::ZERO);
    let refresher = with_own_lock(storage, shopify.endpoint());
    let error = refresher.fresh_session(ID).await.unwrap_err();
    let Error::RefreshNotStored { session, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(session.access_token.as_deref(), Some("shpat_1"));
}

#[test]
fn outside_a_tokio_runtime_is_an_error_not_a_stuck_session() {
    let storage = MemorySessionStorage::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(storage.store_session(&expiring()))
        .unwrap();
    let refresher = TokenRefresher::new(storage, quick_endpoint("x"));
    // A future polled by another executor than Tokio's.
    let error = futures_lite_block_on(refresher.fresh_session(ID)).unwrap_err();
    assert!(matches!(error, Error::Unsupported(_)), "{error:?}");
}

/// Polls a future to completion on this thread, with no Tokio runtime around it.
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}

#[tokio::test]
async fn builder_settings_are_checked() {
    let storage = MemorySessionStorage::new();
    let error = TokenRefresher::builder(storage.clone(), quick_endpoint("x"))
        .refresh_timeout(Duration::from_secs(30))
        .lock_ttl(Duration::from_secs(10))
        .build()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("lock_ttl (10s) must be longer than refresh_timeout (30s)"),
        "{error}"
    );
    let error = TokenRefresher::builder(storage, quick_endpoint("x"))
        .poll_interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("poll_interval must be more than zero"),
        "{error}"
    );
}

#[cfg(feature = "redis")]
mod redis_backend {
    use shopify_session_storage::RedisSessionStorage;

    use super::*;
    use crate::common::redis_server::RedisServer;

    const SERVERS: usize = 4;

    /// `SERVERS` storages, each with its own connection, as separate app servers would have.
    async fn servers(server: &RedisServer) -> Vec<RedisSessionStorage> {
        let mut storages = Vec::new();
        for _ in 0..SERVERS {
            storages.push(RedisSessionStorage::connect(server.url()).await.unwrap());
        }
        storages
    }

    fn shared_lock_refresher(
        storage: &RedisSessionStorage,
        endpoint: impl TokenEndpoint,
    ) -> TokenRefresher<RedisSessionStorage> {
        TokenRefresher::builder(storage.clone(), endpoint)
            .lock(storage.refresh_lock())
            .poll_interval(Duration::from_millis(20))
            .build()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hundred_callers_on_several_servers_one_refresh() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let storages = servers(&server).await;
        let shopify = FakeShopify::new(Duration::from_millis(200));
        let refreshers: Vec<_> = storages
            .iter()
            .map(|storage| shared_lock_refresher(storage, shopify.endpoint()))
            .collect();
        hundred_callers_one_refresh(&storages[0], &refreshers, &shopify).await;
        let mut connection = server.connection();
        let locks: Vec<String> = redis::cmd("KEYS")
            .arg("refresh_lock:*")
            .query(&mut connection)
            .unwrap();
        assert!(locks.is_empty(), "the lock is released: {locks:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refresh_that_outlives_its_lock_is_not_stored_over_a_newer_one() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let storages = servers(&server).await;
        let url = server.url();
        a_late_refresh_is_not_stored_over_a_newer_one(
            &storages[0],
            |endpoint| shared_lock_refresher(&storages[1], endpoint),
            |endpoint| shared_lock_refresher(&storages[2], endpoint),
            || async move {
                // The lease lapses (as after a stall longer than its TTL, or a failover).
                let client = redis::Client::open(url).unwrap();
                let mut connection = client.get_multiplexed_async_connection().await.unwrap();
                let key = format!("refresh_lock:shopify_sessions:{ID}");
                let removed: i64 = redis::cmd("DEL")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                assert_eq!(removed, 1, "the late refresher held the lock");
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_after_a_refresh_landed_starts_a_new_one() {
    // Tokens that still need refreshing when they come back: each call must exchange again,
    // never be handed the outcome of the flight before it.
    let storage = MemorySessionStorage::new();
    storage.store_session(&expiring()).await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let refresher = TokenRefresher::new(storage, move |mut session: Session, _: TokenGrant| {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            session.access_token = Some(format!("shpat_{call}"));
            session.refresh_token = Some(format!("shprt_{call}"));
            session.expires = Some(SystemTime::now() + Duration::from_secs(60));
            Ok(session)
        }
    });
    // On a worker, as a request handler runs: woken on the worker that publishes, the caller
    // would call again before the flight's task had gone on to leave the map.
    tokio::spawn(async move {
        for call in 0..200 {
            let session = refresher.fresh_session(ID).await.unwrap().unwrap();
            assert_eq!(session.access_token, Some(format!("shpat_{call}")));
        }
    })
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 200);
}
