//! Expiry with an injected clock: lazy expiry, sweeping, refresh tokens, retention,
//! offline_ttl, the background sweeper.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use shopify_session_storage::{
    ManualClock, Session, SessionStorage, SledSessionStorage, SledSessionStorageBuilder,
};

const SHOP: &str = "ttl.myshopify.com";
const MINUTE: Duration = Duration::from_secs(60);

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(2_000_000_000)
}

fn builder(path: &Path, clock: &Arc<ManualClock>) -> SledSessionStorageBuilder {
    SledSessionStorage::builder(path).clock(clock.clone())
}

fn online(n: usize, expires: SystemTime) -> Session {
    let mut session = Session::new(format!("{SHOP}_{n}"), SHOP, "", true);
    session.access_token = Some("token".into());
    session.expires = Some(expires);
    session
}

async fn ids_of_shop(storage: &SledSessionStorage) -> Vec<String> {
    let mut ids: Vec<String> = storage
        .find_sessions_by_shop(SHOP)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn expired_sessions_vanish_from_load_and_find_before_any_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let storage = builder(&dir.path().join("db"), &clock).open().unwrap();
    let soon = online(1, start() + MINUTE);
    let later = online(2, start() + 10 * MINUTE);
    storage.store_session(&soon).await.unwrap();
    storage.store_session(&later).await.unwrap();

    clock.advance(MINUTE - Duration::from_millis(1));
    assert!(storage.load_session(&soon.id).await.unwrap().is_some());
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        storage.load_session(&soon.id).await.unwrap(),
        None,
        "expired at its deadline"
    );
    assert_eq!(ids_of_shop(&storage).await, vec![later.id.clone()]);
    assert_eq!(storage.len(), 2, "not removed until a sweep");

    let report = storage.sweep_expired().await.unwrap();
    assert_eq!((report.removed, report.examined), (1, 1));
    assert_eq!(storage.len(), 1);
    assert!(storage.verify().await.unwrap().is_clean());
}

#[tokio::test]
async fn a_live_refresh_token_keeps_an_expired_access_token() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let storage = builder(&dir.path().join("db"), &clock).open().unwrap();
    let mut session = Session::new(format!("offline_{SHOP}"), SHOP, "", false);
    session.expires = Some(start() - MINUTE);
    session.refresh_token = Some("refresh".into());
    session.refresh_token_expires = Some(start() + 30 * MINUTE);
    storage.store_session(&session).await.unwrap();

    assert_eq!(
        storage.load_session(&session.id).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(storage.sweep_expired().await.unwrap().removed, 0);
    clock.advance(30 * MINUTE);
    assert_eq!(storage.load_session(&session.id).await.unwrap(), None);
    assert_eq!(storage.sweep_expired().await.unwrap().removed, 1);
}

#[tokio::test]
async fn retention_keeps_sessions_past_their_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let storage = builder(&dir.path().join("db"), &clock)
        .retention(5 * MINUTE)
        .open()
        .unwrap();
    let session = online(1, start() + MINUTE);
    storage.store_session(&session).await.unwrap();
    clock.advance(2 * MINUTE);
    assert!(
        storage.load_session(&session.id).await.unwrap().is_some(),
        "within retention"
    );
    assert_eq!(storage.sweep_expired().await.unwrap().removed, 0);
    clock.advance(4 * MINUTE);
    assert_eq!(storage.load_session(&session.id).await.unwrap(), None);
    assert_eq!(storage.sweep_expired().await.unwrap().removed, 1);
}

#[tokio::test]
async fn offline_ttl_counts_from_the_store_and_none_keeps_forever() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let undated = Session::new(format!("offline_{SHOP}"), SHOP, "", false);
    {
        let storage = builder(&dir.path().join("forever"), &clock).open().unwrap();
        storage.store_session(&undated).await.unwrap();
        clock.advance(Duration::from_secs(100 * 365 * 24 * 3_600));
        assert!(storage.load_session(&undated.id).await.unwrap().is_some());
        assert_eq!(storage.sweep_expired().await.unwrap().examined, 0);
    }
    clock.set(start());
    let storage = builder(&dir.path().join("ttl"), &clock)
        .offline_ttl(Some(10 * MINUTE))
        .open()
        .unwrap();
    clock.advance(MINUTE);
    storage.store_session(&undated).await.unwrap(); // deadline: start + 11 minutes
    clock.advance(9 * MINUTE);
    assert!(storage.load_session(&undated.id).await.unwrap().is_some());
    // Storing again moves the deadline: the old index entry goes with it.
    storage.store_session(&undated).await.unwrap(); // deadline: start + 20 minutes
    clock.advance(5 * MINUTE);
    assert!(storage.load_session(&undated.id).await.unwrap().is_some());
    assert_eq!(storage.sweep_expired().await.unwrap().removed, 0);
    assert!(storage.verify().await.unwrap().is_clean());
    clock.advance(5 * MINUTE);
    assert_eq!(storage.load_session(&undated.id).await.unwrap(), None);
    assert_eq!(storage.sweep_expired().await.unwrap().removed, 1);
}

#[tokio::test]
async fn a_sweep_reads_only_the_expired_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let storage = builder(&dir.path().join("db"), &clock).open().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..11_000 {
        // 1,000 expire within the hour; 10,000 live for a day.
        let expires = if n < 1_000 {
            start() + MINUTE
        } else {
            start() + 24 * 60 * MINUTE
        };
        let storage = storage.clone();
        tasks.spawn(async move { storage.store_session(&online(n, expires)).await.unwrap() });
    }
    while tasks.join_next().await.is_some() {}

    clock.advance(60 * MINUTE);
    let report = storage.sweep_expired().await.unwrap();
    assert_eq!(report.removed, 1_000);
    assert_eq!(report.examined, 1_000, "the live sessions must not be read");
    assert_eq!(storage.len(), 10_000);
    assert!(storage.verify().await.unwrap().is_clean());
}

async fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_sweeper_removes_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let storage = builder(&dir.path().join("db"), &clock).open().unwrap();
    storage
        .store_session(&online(1, start() + MINUTE))
        .await
        .unwrap();
    let sweeper = storage.spawn_sweeper(Duration::from_millis(10));

    clock.advance(2 * MINUTE);
    assert!(
        wait_until(|| storage.is_empty()).await,
        "the sweeper removed nothing in 5 s"
    );

    sweeper.shutdown().await;
    storage
        .store_session(&online(2, start() + 3 * MINUTE))
        .await
        .unwrap();
    clock.advance(2 * MINUTE);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(storage.len(), 1, "a shut-down sweeper sweeps no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_or_the_storage_ends_the_sweeper() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let clock = Arc::new(ManualClock::new(start()));
    let storage = builder(&path, &clock).open().unwrap();
    let sweeper = storage.spawn_sweeper(Duration::from_millis(10));
    drop(storage);
    assert!(
        wait_until(|| sweeper.is_finished()).await,
        "the sweeper outlived its storage"
    );
    // The sweeper held no clone: the database is closed and can be opened again.
    let reopened = builder(&path, &clock).open().unwrap();

    let sweeper = reopened.spawn_sweeper(Duration::from_millis(10));
    reopened
        .store_session(&online(1, start() + MINUTE))
        .await
        .unwrap();
    drop(sweeper);
    clock.advance(2 * MINUTE);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(reopened.len(), 1, "a dropped handle stops the sweeper");
}
