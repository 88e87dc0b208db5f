//! Session stores side by side: this crate's storages against SQLite (rusqlite, WAL) and Redis
//! (loopback, when `REDIS_URL` is set; `RedisSessionStorage` also against bare redis-rs calls,
//! see `redis_backend.rs`), measured in the same run. `benches/report.py` turns
//! criterion's output into BENCHMARKS.md.
//!
//! `cargo bench --bench storage --all-features`; `BENCH_SIZES=10000,100000,1000000` adds the
//! million-session store (default `10000,100000`).

mod data;
mod redis_backend;
mod redis_store;
mod sqlite;

use std::{
    fs::File,
    io::Write,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use criterion::{Criterion, criterion_group, criterion_main};
use shopify_session_storage::{
    Clock, FlushPolicy, ManualClock, MemorySessionStorage, RedisSessionStorage, Session,
    SessionStorage, SledSessionStorage,
    internals::{decode_record, encode_record},
};
use tokio::runtime::Runtime;

use self::{redis_store::RedisStore, sqlite::SqliteStore};

/// Every backend behind one set of operations.
#[derive(Clone)]
enum Backend {
    Ours(Arc<dyn SessionStorage>),
    Sqlite(Arc<SqliteStore>),
    Redis(Arc<RedisStore>),
}

impl Backend {
    async fn store(&self, session: &Session) {
        match self {
            Backend::Ours(storage) => {
                storage.store_session(session).await.unwrap();
            }
            Backend::Sqlite(store) => store.store(session),
            Backend::Redis(store) => store.store(session),
        }
    }

    async fn load(&self, id: &str) -> Option<Session> {
        match self {
            Backend::Ours(storage) => storage.load_session(id).await.unwrap(),
            Backend::Sqlite(store) => store.load(id),
            Backend::Redis(store) => store.load(id),
        }
    }

    async fn delete(&self, id: &str) {
        match self {
            Backend::Ours(storage) => {
                storage.delete_session(id).await.unwrap();
            }
            Backend::Sqlite(store) => store.delete(id),
            Backend::Redis(store) => store.delete(id),
        }
    }

    async fn find(&self, shop: &str) -> Vec<Session> {
        match self {
            Backend::Ours(storage) => storage.find_sessions_by_shop(shop).await.unwrap(),
            Backend::Sqlite(store) => store.find_by_shop(shop),
            Backend::Redis(store) => store.find_by_shop(shop),
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sizes() -> Vec<u64> {
    std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|size| {
            size.trim()
                .parse()
                .expect("BENCH_SIZES: numbers separated by commas")
        })
        .collect()
}

/// Databases live beside the build output, on the disk whose fdatasync is measured.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Stores sessions `range` with 64 concurrent writers (durable stores share flushes).
async fn fill(backend: &Backend, range: std::ops::Range<u64>) {
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..64 {
        let backend = backend.clone();
        let range = range.clone();
        tasks.spawn(async move {
            for n in range.skip(lane).step_by(64) {
                backend.store(&data::session(n)).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

fn open_sled(path: &Path, policy: FlushPolicy) -> SledSessionStorage {
    SledSessionStorage::builder(path)
        .flush_policy(policy)
        .open()
        .unwrap()
}

/// The backends, each holding `size` sessions. Skipped Redis is said once.
fn backends(runtime: &Runtime, dir: &Path, size: u64) -> Vec<(&'static str, Backend)> {
    let mut backends: Vec<(&'static str, Backend)> = Vec::new();
    let memory = Backend::Ours(Arc::new(MemorySessionStorage::new()));
    runtime.block_on(fill(&memory, 0..size));
    backends.push(("memory", memory));

    // Both sled stores are filled with EveryWrite: sled 0.34.7 can deadlock under full-speed
    // writes with a periodic flush (see src/storage/sled/stall.rs).
    let periodic = dir.join(format!("sled-periodic-{size}"));
    let everywrite = dir.join(format!("sled-everywrite-{size}"));
    for path in [&periodic, &everywrite] {
        let storage = Backend::Ours(Arc::new(open_sled(path, FlushPolicy::EveryWrite)));
        runtime.block_on(fill(&storage, 0..size));
    }
    let periodic = open_sled(&periodic, FlushPolicy::Periodic(Duration::from_millis(500)));
    backends.push(("sled-periodic", Backend::Ours(Arc::new(periodic))));
    let everywrite = open_sled(&everywrite, FlushPolicy::EveryWrite);
    backends.push(("sled-everywrite", Backend::Ours(Arc::new(everywrite))));

    for synchronous in ["NORMAL", "FULL"] {
        let store = SqliteStore::open(
            &dir.join(format!("sqlite-{synchronous}-{size}.db")),
            synchronous,
        );
        store.store_many((0..size).map(data::session));
        let name = if synchronous == "NORMAL" {
            "sqlite-wal-normal"
        } else {
            "sqlite-wal-full"
        };
        backends.push((name, Backend::Sqlite(Arc::new(store))));
    }

    if let Some(redis) = redis() {
        let redis = Backend::Redis(Arc::new(redis));
        runtime.block_on(fill(&redis, 0..size));
        backends.push(("redis", redis));
        // After the comparator's connect, which empties the database.
        let url = std::env::var("REDIS_URL").unwrap();
        let ours = runtime.block_on(RedisSessionStorage::connect(url)).unwrap();
        let ours = Backend::Ours(Arc::new(ours));
        runtime.block_on(fill(&ours, 0..size));
        backends.push(("redis-ours", ours));
    }
    backends
}

fn redis() -> Option<RedisStore> {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("redis: skipped (REDIS_URL is not set)");
        return None;
    };
    match RedisStore::connect(&url) {
        Ok(store) => Some(store),
        Err(error) => {
            eprintln!("redis: skipped ({url}: {error})");
            None
        }
    }
}

/// A cheap scramble so that reads do not walk the keys in order.
fn spread(i: u64, size: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % size
}

fn operations(c: &mut Criterion) {
    let runtime = runtime();
    let dir = scratch_dir();
    for size in sizes() {
        let backends = backends(&runtime, dir.path(), size);
        let mut next_new = size;
        let mut bench = |c: &mut Criterion,
                         operation: &str,
                         run: &dyn Fn(
            Backend,
            u64,
            u64,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Duration>>,
        >| {
            let mut group = c.benchmark_group(format!("{operation}-{size}"));
            for (name, backend) in &backends {
                let start = next_new;
                next_new += 1_000_000;
                group.bench_function(*name, |b| {
                    let mut offset = start;
                    b.to_async(&runtime).iter_custom(|iters| {
                        let first = offset;
                        offset += iters;
                        run(backend.clone(), first, iters)
                    });
                });
            }
            group.finish();
        };

        bench(c, "load_hit", &move |backend, first, iters| {
            Box::pin(async move {
                let started = Instant::now();
                for i in first..first + iters {
                    assert!(backend.load(&data::id(spread(i, size))).await.is_some());
                }
                started.elapsed()
            })
        });
        bench(c, "load_miss", &|backend, first, iters| {
            Box::pin(async move {
                let started = Instant::now();
                for i in first..first + iters {
                    assert!(backend.load(&format!("missing_{i}")).await.is_none());
                }
                started.elapsed()
            })
        });
        bench(c, "store_upsert", &move |backend, first, iters| {
            Box::pin(async move {
                let sessions: Vec<Session> = (first..first + iters)
                    .map(|i| data::session(spread(i, size)))
                    .collect();
                let started = Instant::now();
                for session in &sessions {
                    backend.store(session).await;
                }
                started.elapsed()
            })
        });
        bench(c, "store_new", &|backend, first, iters| {
            Box::pin(async move {
                let sessions: Vec<Session> = (first..first + iters).map(data::session).collect();
                let started = Instant::now();
                for session in &sessions {
                    backend.store(session).await;
                }
                started.elapsed()
            })
        });
        bench(c, "delete", &|backend, first, iters| {
            Box::pin(async move {
                fill(&backend, first..first + iters).await;
                let started = Instant::now();
                for n in first..first + iters {
                    backend.delete(&data::id(n)).await;
                }
                started.elapsed()
            })
        });
        bench(c, "find_by_shop_50", &move |backend, first, iters| {
            Box::pin(async move {
                let shops = size / data::PER_SHOP;
                let started = Instant::now();
                for i in first..first + iters {
                    let shop = data::shop(spread(i, shops) * data::PER_SHOP);
                    assert_eq!(backend.find(&shop).await.len(), data::PER_SHOP as usize);
                }
                started.elapsed()
            })
        });
    }
}

/// Sweeping 1,000 expired sessions: the cost must not depend on how many live ones there are.
fn sweep(c: &mut Criterion) {
    let runtime = runtime();
    let dir = scratch_dir();
    let mut group = c.benchmark_group("sweep_1000_expired");
    for size in sizes() {
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let storage = SledSessionStorage::builder(dir.path().join(format!("sweep-{size}")))
            .clock(clock.clone())
            .open()
            .unwrap();
        let backend = Backend::Ours(Arc::new(storage.clone()));
        runtime.block_on(fill(&backend, 0..size));
        let mut next = size;
        group.bench_function(format!("among-{size}"), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (storage, clock, backend) = (storage.clone(), clock.clone(), backend.clone());
                let first = next;
                next += iters * 1_000;
                async move {
                    let mut total = Duration::ZERO;
                    for batch in 0..iters {
                        let start = first + batch * 1_000;
                        let expires = clock.now() + Duration::from_secs(1);
                        let mut tasks = tokio::task::JoinSet::new();
                        for lane in 0..64 {
                            let backend = backend.clone();
                            tasks.spawn(async move {
                                for n in (start..start + 1_000).skip(lane).step_by(64) {
                                    backend.store(&data::session_expiring(n, expires)).await;
                                }
                            });
                        }
                        while tasks.join_next().await.is_some() {}
                        clock.advance(Duration::from_secs(2));
                        let started = Instant::now();
                        let report = storage.sweep_expired().await.unwrap();
                        total += started.elapsed();
                        assert_eq!(report.removed, 1_000);
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

/// Loads while a sweep removes 10,000 expired sessions, against loads with no sweep: each round
/// stores 10,000 sessions that expire, moves the clock past them, measures 20,000 idle loads,
/// then loads without pause while the sweep runs. criterion times the sweep; the latency of
/// every load goes to `loads_during_sweep/percentiles.json` beside criterion's output, which
/// `report.py` reads (criterion reports means and medians, not a p99).
fn loads_during_sweep(c: &mut Criterion) {
    const EXPIRED: u64 = 10_000;
    const LIVE: u64 = 10_000;
    const IDLE_LOADS: u64 = 20_000;
    let runtime = runtime();
    let dir = scratch_dir();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let storage = SledSessionStorage::builder(dir.path().join("loads-during-sweep"))
        .clock(clock.clone())
        .flush_policy(FlushPolicy::Periodic(Duration::from_millis(100)))
        .open()
        .unwrap();
    let backend = Backend::Ours(Arc::new(storage.clone()));
    runtime.block_on(fill(&backend, 0..LIVE));
    let idle = Arc::new(std::sync::Mutex::new(Vec::new()));
    let during = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut next = 10 * LIVE;
    let mut group = c.benchmark_group("loads_during_sweep");
    group.sample_size(10);
    group.bench_function(format!("sweep-{EXPIRED}"), |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (storage, clock, backend) = (storage.clone(), clock.clone(), backend.clone());
            let (idle, during) = (idle.clone(), during.clone());
            let first = next;
            next += iters * EXPIRED;
            async move {
                let mut total = Duration::ZERO;
                for round in 0..iters {
                    let start = first + round * EXPIRED;
                    let expires = clock.now() + Duration::from_secs(1);
                    let mut tasks = tokio::task::JoinSet::new();
                    for lane in 0..64 {
                        let backend = backend.clone();
                        tasks.spawn(async move {
                            for n in (start..start + EXPIRED).skip(lane).step_by(64) {
                                backend.store(&data::session_expiring(n, expires)).await;
                            }
                        });
                    }
                    while tasks.join_next().await.is_some() {}
                    clock.advance(Duration::from_secs(2));

                    let mut latencies = Vec::with_capacity(IDLE_LOADS as usize);
                    for i in 0..IDLE_LOADS {
                        latencies.push(timed_load(&storage, spread(i, LIVE)).await);
                    }
                    idle.lock().unwrap().extend(latencies);

                    let started = Instant::now();
                    let sweeping = tokio::spawn({
                        let storage = storage.clone();
                        async move { storage.sweep_expired().await.unwrap() }
                    });
                    let mut latencies = Vec::new();
                    let mut i = 0;
                    while !sweeping.is_finished() {
                        latencies.push(timed_load(&storage, spread(i, LIVE)).await);
                        i += 1;
                    }
                    let report = sweeping.await.unwrap();
                    total += started.elapsed();
                    assert_eq!(report.removed as u64, EXPIRED);
                    during.lock().unwrap().extend(latencies);
                }
                total
            }
        });
    });
    group.finish();
    if during.lock().unwrap().is_empty() {
        // Filtered out of this invocation.
        return;
    }
    let percentiles = serde_json::json!({
        "idle": percentiles(&mut idle.lock().unwrap()),
        "during_sweep": percentiles(&mut during.lock().unwrap()),
    });
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("../criterion/loads_during_sweep/percentiles.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(out, percentiles.to_string()).unwrap();
}

/// One load of a live session, timed.
async fn timed_load(storage: &SledSessionStorage, n: u64) -> Duration {
    let started = Instant::now();
    assert!(storage.load_session(&data::id(n)).await.unwrap().is_some());
    started.elapsed()
}

/// Nanoseconds at the 50th, 99th and 100th percentile, and how many loads were timed.
fn percentiles(latencies: &mut [Duration]) -> serde_json::Value {
    latencies.sort_unstable();
    let at = |fraction: f64| {
        let index = ((latencies.len() as f64 * fraction) as usize).min(latencies.len() - 1);
        latencies[index].as_nanos() as u64
    };
    serde_json::json!({
        "count": latencies.len(),
        "p50_ns": at(0.50),
        "p99_ns": at(0.99),
        "max_ns": at(1.0),
    })
}

/// Durable stores with 1 to 64 concurrent writers; time per stored session.
fn durable_writers(c: &mut Criterion) {
    let runtime = runtime();
    let dir = scratch_dir();
    let sled = Arc::new(open_sled(
        &dir.path().join("writers-sled"),
        FlushPolicy::EveryWrite,
    ));
    let sqlite_path = dir.path().join("writers-sqlite.db");
    drop(SqliteStore::open(&sqlite_path, "FULL"));
    let mut next = 0_u64;
    for writers in [1_u64, 2, 4, 8, 16, 32, 64] {
        let mut group = c.benchmark_group(format!("durable_writers-{writers}"));
        group.bench_function("sled-everywrite", |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let sled = sled.clone();
                let first = next;
                next += iters + writers;
                async move {
                    let started = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for lane in 0..writers {
                        let sled = sled.clone();
                        tasks.spawn(async move {
                            for n in (first..first + iters)
                                .skip(lane as usize)
                                .step_by(writers as usize)
                            {
                                sled.store_session(&data::session(n)).await.unwrap();
                            }
                        });
                    }
                    while tasks.join_next().await.is_some() {}
                    started.elapsed()
                }
            });
        });
        group.bench_function("sqlite-wal-full", |b| {
            b.iter_custom(|iters| {
                let first = next;
                next += iters + writers;
                let path = sqlite_path.clone();
                let started = Instant::now();
                std::thread::scope(|scope| {
                    for lane in 0..writers {
                        let path = path.clone();
                        scope.spawn(move || {
                            let connection = SqliteStore::connect(&path, "FULL");
                            for n in (first..first + iters)
                                .skip(lane as usize)
                                .step_by(writers as usize)
                            {
                                sqlite::store_with(&connection, &data::session(n));
                            }
                        });
                    }
                });
                started.elapsed()
            });
        });
        group.finish();
    }
}

/// Our record codec against serde_json, on a typical online session.
fn codec(c: &mut Criterion) {
    let session = data::session(42);
    let record = encode_record(&session, Some(1)).unwrap();
    let json = serde_json::to_vec(&session).unwrap();
    let mut group = c.benchmark_group("codec");
    group.bench_function("encode-ours", |b| {
        b.iter(|| encode_record(&session, Some(1)).unwrap())
    });
    group.bench_function("encode-serde_json", |b| {
        b.iter(|| serde_json::to_vec(&session).unwrap())
    });
    group.bench_function("decode-ours", |b| {
        b.iter(|| decode_record(&session.id, &record).unwrap())
    });
    group.bench_function("decode-serde_json", |b| {
        b.iter(|| serde_json::from_slice::<Session>(&json).unwrap())
    });
    group.finish();
}

/// The physical limit of a durable write: write 4 KiB and fdatasync, on the benchmarks' disk.
fn disk(c: &mut Criterion) {
    let dir = scratch_dir();
    let path: PathBuf = dir.path().join("fdatasync.bin");
    let mut file = File::create(&path).unwrap();
    file.write_all(&[0; 4096]).unwrap();
    file.sync_all().unwrap();
    let block = [7_u8; 4096];
    let mut group = c.benchmark_group("disk");
    group.bench_function("write_4k_fdatasync", |b| {
        b.iter(|| {
            file.write_at(&block, 0).unwrap();
            file.sync_data().unwrap();
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = disk, codec, operations, redis_backend::redis_vs_bare, sweep, loads_during_sweep, durable_writers
}
criterion_main!(benches);
