//! What sealing tokens costs (see the README's "Security" section): load and store on two sled
//! stores in the same run, one with encryption and one without, and the record codec alone.
//!
//! `cargo bench --bench encryption --all-features`; `benches/report.py` reports it.

use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use shopify_session_storage::{
    AssociatedUser, FlushPolicy, OnlineAccessInfo, Session, SessionStorage, SledSessionStorage,
    encryption::{EncryptionKey, KeySet},
    internals::{decode_record, decode_record_with_keys, encode_record, encode_record_sealed},
};
use tokio::runtime::Runtime;

const SHOP: &str = "bench-sealed.myshopify.com";
const SESSIONS: u64 = 10_000;

fn keys() -> KeySet {
    KeySet::new(EncryptionKey::new("bench", [7; 32]).unwrap())
}

/// A typical online session, as the storage benchmark uses.
fn session(n: u64) -> Session {
    let mut session = Session::new(format!("{SHOP}_{n}"), SHOP, "state", true);
    session.scope = Some("read_products,write_orders".into());
    session.expires = Some(SystemTime::now() + Duration::from_secs(86_400));
    session.access_token = Some(format!("shpua_{n:032}"));
    let mut user = AssociatedUser::new(n);
    user.first_name = Some("Ada".into());
    user.email = Some("ada@example.com".into());
    session.online_access_info = Some(OnlineAccessInfo::new(user));
    session
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn open(path: &std::path::Path, keys: Option<KeySet>) -> SledSessionStorage {
    let builder = SledSessionStorage::builder(path)
        .flush_policy(FlushPolicy::Periodic(Duration::from_millis(100)));
    match keys {
        Some(keys) => builder.encryption(keys),
        None => builder,
    }
    .open()
    .unwrap()
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let plain = open(&dir.path().join("plain"), None);
    let sealed = open(&dir.path().join("sealed"), Some(keys()));
    for storage in [&plain, &sealed] {
        rt.block_on(async {
            for n in 0..SESSIONS {
                storage.store_session(&session(n)).await.unwrap();
            }
            storage.flush().await.unwrap();
        });
    }

    let mut group = c.benchmark_group("encryption_load");
    for (name, storage) in [("plain", &plain), ("sealed", &sealed)] {
        let mut n = 0;
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                n = (n + 7_919) % SESSIONS;
                let id = format!("{SHOP}_{n}");
                async move { storage.load_session(&id).await.unwrap().unwrap() }
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("encryption_store");
    for (name, storage) in [("plain", &plain), ("sealed", &sealed)] {
        let mut n = 0;
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                n = (n + 7_919) % SESSIONS;
                let session = session(n);
                async move { storage.store_session(&session).await.unwrap() }
            });
        });
    }
    group.finish();

    let keys = keys();
    let typical = session(42);
    let plain_record = encode_record(&typical, Some(1)).unwrap();
    let sealed_record = encode_record_sealed(&typical, Some(1), &keys).unwrap();
    let mut group = c.benchmark_group("encryption_codec");
    group.bench_function("encode-plain", |b| {
        b.iter(|| encode_record(&typical, Some(1)).unwrap())
    });
    group.bench_function("encode-sealed", |b| {
        b.iter(|| encode_record_sealed(&typical, Some(1), &keys).unwrap());
    });
    group.bench_function("decode-plain", |b| {
        b.iter(|| decode_record(&typical.id, &plain_record).unwrap());
    });
    group.bench_function("decode-sealed", |b| {
        b.iter(|| decode_record_with_keys(&typical.id, &sealed_record, Some(&keys)).unwrap());
    });
    group.finish();
}

criterion_group!(encryption, benches);
criterion_main!(encryption);
