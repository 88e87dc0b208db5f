//! Several tasks storing, deleting and sweeping the *same* ids, with different shops and
//! deadlines: every operation of one id is serialised by its lock, and whatever interleaving
//! the runtime picks, the indexes end up agreeing with the records.

mod common;

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use common::{Rng, seed};
use shopify_session_storage::{ManualClock, Session, SessionStorage, SledSessionStorage};

const TASKS: u64 = 6;
const OPERATIONS_PER_TASK: u64 = 1_500;
const IDS: u64 = 8;
const SHOPS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_stores_deletes_and_sweeps_of_the_same_ids_leave_a_clean_store() {
    let seed = seed();
    let dir = tempfile::tempdir().unwrap();
    let start = SystemTime::now();
    let clock = Arc::new(ManualClock::new(start));
    let storage = SledSessionStorage::builder(dir.path().join("db"))
        .clock(clock.clone())
        .open()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (storage, clock) = (storage.clone(), clock.clone());
        tasks.spawn(async move {
            let mut rng = Rng::new(seed ^ (task + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            for step in 0..OPERATIONS_PER_TASK {
                let id = format!("same-{}", rng.below(IDS));
                match rng.below(10) {
                    0..=5 => {
                        let shop = format!("shop{}.myshopify.com", rng.below(SHOPS));
                        let mut session = Session::new(&id, &shop, format!("t{task}s{step}"), true);
                        // Some already expired, some live, some without a deadline.
                        session.expires = match rng.below(3) {
                            0 => Some(start - Duration::from_secs(rng.below(100))),
                            1 => Some(start + Duration::from_secs(1 + rng.below(100))),
                            _ => None,
                        };
                        storage.store_session(&session).await.unwrap();
                    }
                    6..=7 => {
                        storage.delete_session(&id).await.unwrap();
                    }
                    8 => {
                        storage.sweep_expired().await.unwrap();
                    }
                    _ => clock.advance(Duration::from_millis(rng.below(50))),
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    let report = storage.verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
    // What loads is exactly what the shop index finds.
    for shop in 0..SHOPS {
        let shop = format!("shop{shop}.myshopify.com");
        for found in storage.find_sessions_by_shop(&shop).await.unwrap() {
            assert_eq!(storage.load_session(&found.id).await.unwrap(), Some(found));
        }
    }
    for id in 0..IDS {
        if let Some(session) = storage.load_session(&format!("same-{id}")).await.unwrap() {
            let found = storage.find_sessions_by_shop(&session.shop).await.unwrap();
            assert!(
                found.contains(&session),
                "{} not found by its shop",
                session.id
            );
        }
    }
}
