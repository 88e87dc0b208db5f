//! `RedisSessionStorage` against the least any client of the Node adapter's layout does on the
//! same server: a bare redis-rs `GET` / `SET` / `MGET` on a `ConnectionManager`, plus the same
//! property-array parsing or writing. What ours adds on top is its script work (the shop index,
//! the TTL, the checks) and its lazy expiry checks.
//!
//! The two sides run interleaved: each timed operation of one side is followed by the same
//! operation of the other, untimed. This machine's speed drifts from one second to the next
//! (separate runs gave ratios from 1.17 to 1.67 for the same code), and interleaving puts both
//! sides under the same conditions and the same server state.

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

/// The operations compared.
#[derive(Clone, Copy)]
enum Operation {
    Load,
    StoreUpsert,
    Find50,
}

/// What operation number `i` works on, built before the clock starts.
enum Input {
    Load(String),
    Store(Box<Session>),
    /// The shop, and the keys a bare client would have to know already.
    Find(String, Vec<String>),
}

impl Input {
    fn new(operation: Operation, i: u64) -> Self {
        match operation {
            Operation::Load => Input::Load(data::id(spread(i, SIZE))),
            Operation::StoreUpsert => Input::Store(Box::new(data::session(spread(i, SIZE)))),
            Operation::Find50 => {
                let first = spread(i, SIZE / data::PER_SHOP) * data::PER_SHOP;
                let keys = (first..first + data::PER_SHOP)
                    .map(|n| key(&data::id(n)))
                    .collect();
                Input::Find(data::shop(first), keys)
            }
        }
    }
}

/// The two sides of a comparison.
#[derive(Clone)]
struct Sides {
    ours: RedisSessionStorage,
    bare: ConnectionManager,
}

impl Sides {
    /// Runs one operation on one side.
    async fn run(&self, ours: bool, input: &Input) {
        let mut bare = self.bare.clone();
        match input {
            Input::Load(id) => {
                let found = if ours {
                    self.ours.load_session(id).await.unwrap()
                } else {
                    bare_load(&mut bare, id).await
                };
                assert!(found.is_some());
            }
            Input::Store(session) => {
                if ours {
                    self.ours.store_session(session).await.unwrap();
                } else {
                    bare_store(&mut bare, session).await;
                }
            }
            Input::Find(shop, keys) => {
                let found = if ours {
                    self.ours.find_sessions_by_shop(shop).await.unwrap()
                } else {
                    bare_find(&mut bare, keys).await
                };
                assert_eq!(found.len(), data::PER_SHOP as usize);
            }
        }
    }
}

/// Groups `redis-10000/{load,store_upsert,find_50}`, each with `ours` and `bare`, when
/// `REDIS_URL` names a server.
pub fn redis_vs_bare(c: &mut Criterion) {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("redis_vs_bare: skipped (REDIS_URL is not set)");
        return;
    };
    let runtime = runtime();
    let sides = runtime.block_on(async {
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
        Sides { ours, bare }
    });

    for (name, operation) in [
        ("load", Operation::Load),
        ("store_upsert", Operation::StoreUpsert),
        ("find_50", Operation::Find50),
    ] {
        let mut group = c.benchmark_group(format!("redis-{SIZE}/{name}"));
        group
            .measurement_time(Duration::from_secs(5))
            .sample_size(40);
        for (side, ours) in [("ours", true), ("bare", false)] {
            group.bench_function(side, |b| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let sides = sides.clone();
                    async move {
                        let mut timed = Duration::ZERO;
                        for i in 0..iters {
                            let input = Input::new(operation, i);
                            let started = Instant::now();
                            sides.run(ours, &input).await;
                            timed += started.elapsed();
                            sides.run(!ours, &input).await;
                        }
                        timed
                    }
                });
            });
        }
        group.finish();
    }
}
