//! Eight tasks of mixed operations on one durable store, each checked step by step against a
//! model of what it wrote.

mod common;

use std::collections::BTreeMap;

use common::{Rng, seed};
use shopify_session_storage::{Session, SessionStorage, SledSessionStorage};

const TASKS: u64 = 8;
const OPERATIONS_PER_TASK: usize = 1_500;
/// Ids per task: small enough that overwrites and deletes of stored ids are frequent.
const IDS_PER_TASK: u64 = 60;
const SHOPS_PER_TASK: u64 = 3;

fn shop(task: u64, n: u64) -> String {
    format!("task{task}-shop{n}.myshopify.com")
}

fn session(task: u64, rng: &mut Rng, version: usize) -> Session {
    let id = format!("task{task}-id{}", rng.below(IDS_PER_TASK));
    let mut session = Session::new(
        id,
        shop(task, rng.below(SHOPS_PER_TASK)),
        format!("v{version}"),
        false,
    );
    session.access_token = Some(format!("token-{version}"));
    session
}

/// One task: its ids and shops are its own, so its model is exact whatever the others do.
async fn run_task(storage: SledSessionStorage, task: u64, seed: u64) {
    let mut rng = Rng::new(seed ^ (task + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut model: BTreeMap<String, Session> = BTreeMap::new();
    for step in 0..OPERATIONS_PER_TASK {
        let context = format!("task {task}, step {step}");
        match rng.below(10) {
            0..=3 => {
                let session = session(task, &mut rng, step);
                assert!(storage.store_session(&session).await.unwrap(), "{context}");
                model.insert(session.id.clone(), session);
            }
            4..=5 => {
                let id = format!("task{task}-id{}", rng.below(IDS_PER_TASK));
                let loaded = storage.load_session(&id).await.unwrap();
                assert_eq!(loaded.as_ref(), model.get(&id), "{context}: load {id}");
            }
            6 => {
                let id = format!("task{task}-id{}", rng.below(IDS_PER_TASK));
                assert!(storage.delete_session(&id).await.unwrap(), "{context}");
                model.remove(&id);
            }
            7 => {
                let ids: Vec<String> = (0..rng.below(5))
                    .map(|_| format!("task{task}-id{}", rng.below(IDS_PER_TASK)))
                    .collect();
                assert!(storage.delete_sessions(&ids).await.unwrap(), "{context}");
                for id in &ids {
                    model.remove(id);
                }
            }
            _ => {
                let shop = shop(task, rng.below(SHOPS_PER_TASK));
                let mut found = storage.find_sessions_by_shop(&shop).await.unwrap();
                found.sort_by(|a, b| a.id.cmp(&b.id));
                let expected: Vec<&Session> = model.values().filter(|s| s.shop == shop).collect();
                assert_eq!(
                    found.iter().collect::<Vec<_>>(),
                    expected,
                    "{context}: find {shop}"
                );
            }
        }
    }
    for (id, session) in &model {
        assert_eq!(
            storage.load_session(id).await.unwrap().as_ref(),
            Some(session)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_operations_from_eight_tasks_match_the_model() {
    let seed = seed();
    let dir = tempfile::tempdir().unwrap();
    let storage = SledSessionStorage::open(dir.path().join("db")).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        tasks.spawn(run_task(storage.clone(), task, seed));
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    let report = storage.verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
}
