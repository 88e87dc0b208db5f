//! `RedisSessionStorage` against the least any client of the Node adapter's layout does on the
//! same server: a bare redis-rs `GET` / `SET` / `MGET` on a `ConnectionManager`, plus the same
//! property-array parsing or writing. What ours adds on top is its script work (the shop index,
//! the TTL, the checks) and its lazy expiry checks.

use std::time::{Duration, Instant};

use criterion::Criterion;
use redis::{AsyncCommands, aio::ConnectionManager};
use shopify_session_storage::{RedisSessionStorage, Session, SessionStorage};

use crate::{data, runtime, spread};

/// Sessions stored: 200 shops of 50.
const SIZE: u64 = 10_000;
/// A prefix of its own, so that the comparators' data stays apart.
const PREFIX: &str = "bench_ours";

fn key(id: &str) -> String {
    format!("{PREFIX}_{id}")
}

/// A bare load: `GET` and read the property array, as ours reads it.
async fn bare_load(connection: &mut ConnectionManager, id: &str) -> Option<Session> {
    let value: Option<Vec<u8>> = connection.get(key(id)).await.unwrap();
    value.map(|value| parse(&value))
}

fn parse(value: &[u8]) -> Session {
    let json: serde_json::Value = serde_json::from_slice(value).unwrap();
    Session::from_property_array_json(&json, true).unwrap()
}

/// A bare store: write the property array and `SET` it.
async fn bare_store(connection: &mut ConnectionManager, session: &Session) {
    let value = serde_json::to_string(&session.to_property_array_json(true)).unwrap();
    let () = connection.set(key(&session.id), value).await.unwrap();
}

/// A bare find of 50 sessions whose keys are known: one `MGET`, then read each.
async fn bare_find(connection: &mut ConnectionManager, keys: &[String]) -> Vec<Session> {
    let values: Vec<Option<Vec<u8>>> = connection.mget(keys).await.unwrap();
    values.iter().flatten().map(|value| parse(value)).collect()
}

/// Groups `redis-10000/{load,store_upsert,find_50}`, each with `ours` and `bare`, when
/// `REDIS_URL` names a server.
///
/// Both sides are dominated by the loopback round trip, which moves a lot on a shared machine:
/// these groups measure longer than the others.
pub fn redis_vs_bare(c: &mut Criterion) {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("redis_vs_bare: skipped (REDIS_URL is not set)");
        return;
    };
    let runtime = runtime();
    let (ours, bare) = runtime.block_on(async {
        let ours = RedisSessionStorage::builder(url.as_str())
            .prefix(PREFIX)
            .connect()
            .await
            .unwrap();
        let bare = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection_manager()
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for lane in 0..64 {
            let ours = ours.clone();
            tasks.spawn(async move {
                for n in (0..SIZE).skip(lane).step_by(64) {
                    ours.store_session(&data::session(n)).await.unwrap();
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        (ours, bare)
    });

    let longer = |group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>| {
        group
            .measurement_time(Duration::from_secs(5))
            .sample_size(40);
    };

    let mut group = c.benchmark_group(format!("redis-{SIZE}/load"));
    longer(&mut group);
    group.bench_function("ours", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let ours = ours.clone();
            async move {
                let started = Instant::now();
                for i in 0..iters {
                    let id = data::id(spread(i, SIZE));
                    assert!(ours.load_session(&id).await.unwrap().is_some());
                }
                started.elapsed()
            }
        });
    });
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let mut bare = bare.clone();
            async move {
                let started = Instant::now();
                for i in 0..iters {
                    let id = data::id(spread(i, SIZE));
                    assert!(bare_load(&mut bare, &id).await.is_some());
                }
                started.elapsed()
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group(format!("redis-{SIZE}/store_upsert"));
    longer(&mut group);
    group.bench_function("ours", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let ours = ours.clone();
            async move {
                let sessions = upserts(iters);
                let started = Instant::now();
                for session in &sessions {
                    ours.store_session(session).await.unwrap();
                }
                started.elapsed()
            }
        });
    });
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let mut bare = bare.clone();
            async move {
                let sessions = upserts(iters);
                let started = Instant::now();
                for session in &sessions {
                    bare_store(&mut bare, session).await;
                }
                started.elapsed()
            }
        });
    });
    group.finish();

    let shops = SIZE / data::PER_SHOP;
    let mut group = c.benchmark_group(format!("redis-{SIZE}/find_50"));
    longer(&mut group);
    group.bench_function("ours", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let ours = ours.clone();
            async move {
                let mut elapsed = Duration::ZERO;
                for i in 0..iters {
                    let shop = data::shop(spread(i, shops) * data::PER_SHOP);
                    let started = Instant::now();
                    let found = ours.find_sessions_by_shop(&shop).await.unwrap();
                    elapsed += started.elapsed();
                    assert_eq!(found.len(), data::PER_SHOP as usize);
                }
                elapsed
            }
        });
    });
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let mut bare = bare.clone();
            async move {
                let mut elapsed = Duration::ZERO;
                for i in 0..iters {
                    let first = spread(i, shops) * data::PER_SHOP;
                    // The keys a bare client would have to know already: not timed.
                    let keys: Vec<String> = (first..first + data::PER_SHOP)
                        .map(|n| key(&data::id(n)))
                        .collect();
                    let started = Instant::now();
                    let found = bare_find(&mut bare, &keys).await;
                    elapsed += started.elapsed();
                    assert_eq!(found.len(), data::PER_SHOP as usize);
                }
                elapsed
            }
        });
    });
    group.finish();
}

/// Stored sessions, written again.
fn upserts(iters: u64) -> Vec<Session> {
    (0..iters).map(|i| data::session(spread(i, SIZE))).collect()
}
