//! An arbitrary sequence of operations on a `SledSessionStorage` in a temporary directory,
//! checked step by step against `MemorySessionStorage` plus the time-to-live rules, with
//! arbitrary sessions and clock advances; `verify()` must be clean at the end.
#![no_main]

use std::{
    collections::BTreeMap,
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shopify_session_storage::{
    Clock, ManualClock, MemorySessionStorage, Session, SessionStorage, SledSessionStorage,
};

const IDS: u8 = 6;
const SHOPS: u8 = 3;

#[derive(Arbitrary, Debug)]
enum Op {
    Store {
        id: u8,
        shop: u8,
        /// Seconds from now; negative is in the past.
        expires: Option<i16>,
        refresh_token_expires: Option<i16>,
        state: String,
        extra: Option<(String, bool)>,
    },
    Load(u8),
    Delete(u8),
    DeleteMany(Vec<u8>),
    Find(u8),
    Sweep,
    Reopen,
    Advance(u16),
}

fn id(n: u8) -> String {
    format!("fuzz-{}.myshopify.com_{}", n % SHOPS, n % IDS)
}

fn shop(n: u8) -> String {
    format!("fuzz-{}.myshopify.com", n % SHOPS)
}

fn at(now: SystemTime, offset: i16) -> SystemTime {
    let delta = Duration::from_secs(u64::from(offset.unsigned_abs()));
    if offset >= 0 { now + delta } else { now - delta }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn open(path: &Path, clock: &Arc<ManualClock>) -> SledSessionStorage {
    SledSessionStorage::builder(path)
        .clock(clock.clone())
        .open()
        .expect("the database opens")
}

fuzz_target!(|ops: Vec<Op>| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(run(ops));
});

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(2_000_000_000)));
    let mut sled = open(&path, &clock);
    let model = MemorySessionStorage::new();
    // id -> deadline in epoch milliseconds (the TTL rules with no retention and no offline_ttl).
    let mut deadlines: BTreeMap<String, Option<u64>> = BTreeMap::new();
    let live = |deadlines: &BTreeMap<String, Option<u64>>, id: &str, now: u64| {
        deadlines.get(id).is_some_and(|deadline| deadline.is_none_or(|d| now < d))
    };

    for op in ops.into_iter().take(64) {
        let now = millis(clock.now());
        match op {
            Op::Store { id: n, shop: s, expires, refresh_token_expires, state, extra } => {
                let mut session = Session::new(id(n), shop(s), state, false);
                session.access_token = Some("token".into());
                session.expires = expires.map(|e| at(clock.now(), e));
                session.refresh_token_expires = refresh_token_expires.map(|e| at(clock.now(), e));
                if let Some((key, value)) = extra {
                    session.extra.insert(key, value.into());
                }
                let expected = model.store_session(&session).await;
                let actual = sled.store_session(&session).await;
                match (&expected, &actual) {
                    (Ok(_), Ok(_)) => {
                        let deadline = match (session.expires, session.refresh_token_expires) {
                            (None, None) => None,
                            (a, b) => Some(millis(a.max(b).unwrap())),
                        };
                        deadlines.insert(session.id.clone(), deadline);
                    }
                    (Err(_), Err(_)) => {}
                    _ => panic!("store disagrees: model {expected:?}, sled {actual:?}"),
                }
            }
            Op::Load(n) => {
                let id = id(n);
                let expected = if live(&deadlines, &id, now) {
                    model.load_session(&id).await.unwrap()
                } else {
                    None
                };
                assert_eq!(sled.load_session(&id).await.unwrap(), expected, "load {id}");
            }
            Op::Delete(n) => {
                let id = id(n);
                assert!(sled.delete_session(&id).await.unwrap());
                model.delete_session(&id).await.unwrap();
                deadlines.remove(&id);
            }
            Op::DeleteMany(ns) => {
                let ids: Vec<String> = ns.iter().take(8).map(|&n| id(n)).collect();
                assert!(sled.delete_sessions(&ids).await.unwrap());
                model.delete_sessions(&ids).await.unwrap();
                for id in &ids {
                    deadlines.remove(id);
                }
            }
            Op::Find(s) => {
                let shop = shop(s);
                let mut expected: Vec<Session> = model
                    .find_sessions_by_shop(&shop)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|session| live(&deadlines, &session.id, now))
                    .collect();
                let mut actual = sled.find_sessions_by_shop(&shop).await.unwrap();
                expected.sort_by(|a, b| a.id.cmp(&b.id));
                actual.sort_by(|a, b| a.id.cmp(&b.id));
                assert_eq!(actual, expected, "find {shop}");
            }
            Op::Sweep => {
                let expired: Vec<String> = deadlines
                    .keys()
                    .filter(|id| !live(&deadlines, id, now))
                    .cloned()
                    .collect();
                let report = sled.sweep_expired().await.unwrap();
                assert_eq!(report.removed, expired.len(), "sweep");
                model.delete_sessions(&expired).await.unwrap();
                for id in &expired {
                    deadlines.remove(id);
                }
            }
            Op::Reopen => {
                drop(sled);
                sled = open(&path, &clock);
            }
            Op::Advance(seconds) => clock.advance(Duration::from_secs(u64::from(seconds))),
        }
    }
    let report = sled.verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(sled.len(), model.len());
}
