//! What a `TokenRefresher` costs per call (see the README's expiring tokens section):
//!
//! - `fresh`: `fresh_session` of a session whose token is good, against a plain `load_session`
//!   (the common case: the refresher adds only the expiry check);
//! - `refresh`: a whole refresh with an endpoint that answers at once (load, take the lock,
//!   load again, exchange, compare-and-set store, release), against what an app without a lock
//!   does (load, exchange, store) — the difference is the lock's and the compare-and-set's
//!   cost;
//! - `lock`: one take and release of the lock: in process, and in Redis.
//!
//! Memory and sled (Periodic) always; Redis when `REDIS_URL` names a server.
//! `cargo bench --bench refresh --all-features`; `benches/report.py` reports it.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime},
};

use criterion::{Criterion, criterion_group, criterion_main};
use shopify_session_storage::{
    MemorySessionStorage, RedisSessionStorage, Session, SessionStorage, SledSessionStorage,
    refresh::{InProcessRefreshLock, RefreshFailure, RefreshLock, TokenGrant, TokenRefresher},
};
use tokio::runtime::Runtime;

const SHOP: &str = "bench-refresh.myshopify.com";
const ID: &str = "offline_bench-refresh.myshopify.com";

static TOKENS: AtomicU64 = AtomicU64::new(0);

/// New tokens, and an access token that expires in a minute: inside the 5-minute margin, so the
/// next call refreshes again.
fn with_new_tokens(mut session: Session) -> Session {
    let n = TOKENS.fetch_add(1, Ordering::Relaxed);
    session.access_token = Some(format!("shpat_bench_{n}"));
    session.refresh_token = Some(format!("shprt_bench_{n}"));
    session.expires = Some(SystemTime::now() + Duration::from_secs(60));
    session
}

async fn instant_endpoint(session: Session, _: TokenGrant) -> Result<Session, RefreshFailure> {
    Ok(with_new_tokens(session))
}

fn expiring() -> Session {
    let mut session = with_new_tokens(Session::new(ID, SHOP, "", false));
    session.scope = Some("read_products,write_orders".into());
    session.refresh_token_expires = Some(SystemTime::now() + Duration::from_secs(90 * 86_400));
    session
}

fn fresh() -> Session {
    let mut session = expiring();
    session.expires = Some(SystemTime::now() + Duration::from_secs(3_600));
    session
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The `fresh` and `refresh` groups for one storage, named `refresh_{name}`.
fn storage_groups<S: SessionStorage + Clone + 'static>(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    refresher: &TokenRefresher<S>,
) {
    let storage = refresher.storage().clone();
    let mut group = c.benchmark_group(format!("refresh_{name}"));
    rt.block_on(storage.store_session(&fresh())).unwrap();
    group.bench_function("load_session", |b| {
        b.to_async(rt)
            .iter(|| async { storage.load_session(ID).await.unwrap().unwrap() });
    });
    group.bench_function("fresh_session", |b| {
        b.to_async(rt)
            .iter(|| async { refresher.fresh_session(ID).await.unwrap().unwrap() });
    });
    rt.block_on(storage.store_session(&expiring())).unwrap();
    group.bench_function("load_exchange_store", |b| {
        b.to_async(rt).iter(|| async {
            let session = storage.load_session(ID).await.unwrap().unwrap();
            let session = instant_endpoint(session, TokenGrant::RefreshToken)
                .await
                .unwrap();
            storage.store_session(&session).await.unwrap();
        });
    });
    group.bench_function("refresh", |b| {
        b.to_async(rt)
            .iter(|| async { refresher.fresh_session(ID).await.unwrap().unwrap() });
    });
    group.finish();
}

fn lock_cycle(c: &mut Criterion, rt: &Runtime, name: &str, lock: &dyn RefreshLock) {
    let mut group = c.benchmark_group("refresh_lock");
    group.bench_function(name, |b| {
        b.to_async(rt).iter(|| async {
            let lease = lock
                .try_acquire(ID, Duration::from_secs(30))
                .await
                .unwrap()
                .expect("free");
            assert!(lock.release(&lease).await.unwrap());
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = runtime();

    let memory = MemorySessionStorage::new();
    storage_groups(
        c,
        &rt,
        "memory",
        &TokenRefresher::new(memory, instant_endpoint),
    );

    let dir = tempfile::tempdir().unwrap();
    let sled = SledSessionStorage::open(dir.path().join("sessions.db")).unwrap();
    storage_groups(
        c,
        &rt,
        "sled",
        &TokenRefresher::new(sled.clone(), instant_endpoint),
    );
    lock_cycle(c, &rt, "in_process", &InProcessRefreshLock::new());

    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("refresh_redis: skipped (REDIS_URL is not set)");
        return;
    };
    let redis = rt.block_on(RedisSessionStorage::connect(url)).unwrap();
    let refresher = TokenRefresher::builder(redis.clone(), instant_endpoint)
        .lock(redis.refresh_lock())
        .build()
        .unwrap();
    storage_groups(c, &rt, "redis", &refresher);
    lock_cycle(c, &rt, "redis", &redis.refresh_lock());
    rt.block_on(redis.delete_session(ID)).unwrap();
}

criterion_group!(refresh, benches);
criterion_main!(refresh);
