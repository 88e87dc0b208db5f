//! The conformance suite against every storage of the crate.

use std::sync::Arc;

use shopify_session_storage::{
    CustomSessionStorage, LoadedSession, MemorySessionStorage, Session, SessionStorage,
    testkit::run_conformance,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_storage_conforms() {
    run_conformance(&MemorySessionStorage::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_storage_behind_arc_dyn_conforms() {
    let storage: Arc<dyn SessionStorage> = Arc::new(MemorySessionStorage::new());
    run_conformance(&storage).await;
}

/// A custom storage whose callbacks wrap a memory storage, as an app would wrap its database.
/// Load returns JSON records so that the conversion from Shopify's shapes is exercised too.
fn custom_over_memory(backing: &MemorySessionStorage) -> CustomSessionStorage {
    let (store, load, delete, find) = (
        backing.clone(),
        backing.clone(),
        backing.clone(),
        backing.clone(),
    );
    CustomSessionStorage::new(
        move |session: Session| {
            let store = store.clone();
            async move { store.store_session(&session).await }
        },
        move |id: String| {
            let load = load.clone();
            async move {
                let loaded = load.load_session(&id).await?;
                Ok::<_, shopify_session_storage::Error>(loaded.map(|session| {
                    LoadedSession::from(serde_json::to_value(&session).expect("session JSON"))
                }))
            }
        },
        move |id: String| {
            let delete = delete.clone();
            async move { delete.delete_session(&id).await }
        },
    )
    .with_find_sessions_by_shop_callback(move |shop: String| {
        let find = find.clone();
        async move {
            let found = find.find_sessions_by_shop(&shop).await?;
            Ok::<_, shopify_session_storage::Error>(
                found.into_iter().map(LoadedSession::from).collect(),
            )
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_storage_over_memory_conforms() {
    let backing = MemorySessionStorage::new();
    run_conformance(&custom_over_memory(&backing)).await;
    assert!(backing.is_empty(), "the suite cleans up after itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_storage_with_delete_sessions_callback_conforms() {
    let backing = MemorySessionStorage::new();
    let many = backing.clone();
    let storage =
        custom_over_memory(&backing).with_delete_sessions_callback(move |ids: Vec<String>| {
            let many = many.clone();
            async move { many.delete_sessions(&ids).await }
        });
    run_conformance(&storage).await;
}

/// The suite must be able to fail: a storage that loses one field is caught, and the panic
/// names the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_suite_catches_a_lossy_storage() {
    let backing = MemorySessionStorage::new();
    let lossy = custom_over_memory(&backing).with_store_callback({
        let backing = backing.clone();
        move |mut session: Session| {
            let backing = backing.clone();
            session.refresh_token = None;
            async move { backing.store_session(&session).await }
        }
    });
    let outcome = tokio::spawn(async move { run_conformance(&lossy).await }).await;
    let panic = outcome.expect_err("the suite must fail").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("`refresh_token`"), "{message}");
}

mod sled_backed {
    use std::time::Duration;

    use shopify_session_storage::{
        CustomSessionStorage, FlushPolicy, Session, SessionStorage, SledSessionStorage,
        testkit::run_conformance,
    };

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sled_storage_with_every_write_flush_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SledSessionStorage::open(dir.path().join("db")).unwrap();
        run_conformance(&storage).await;
        let report = storage.verify().await.unwrap();
        assert!(report.is_clean(), "{report}");
        assert!(storage.is_empty(), "the suite cleans up after itself");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sled_storage_with_periodic_flush_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SledSessionStorage::builder(dir.path().join("db"))
            .flush_policy(FlushPolicy::Periodic(Duration::from_millis(50)))
            .open()
            .unwrap();
        run_conformance(&storage).await;
        assert!(storage.verify().await.unwrap().is_clean());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn custom_storage_on_sled_callbacks_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let storage = CustomSessionStorage::sled(dir.path().join("db")).unwrap();
        run_conformance(&storage).await;
    }

    /// One default replaced by the app's own callback (here: a store that also counts), the
    /// rest staying on sled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn custom_storage_with_one_replaced_callback_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let sled = SledSessionStorage::open(dir.path().join("db")).unwrap();
        let stores = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (counter, inner) = (stores.clone(), sled.clone());
        let storage = CustomSessionStorage::from_storage(sled.clone()).with_store_callback(
            move |session: Session| {
                let (counter, inner) = (counter.clone(), inner.clone());
                async move {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    inner.store_session(&session).await
                }
            },
        );
        run_conformance(&storage).await;
        assert!(stores.load(std::sync::atomic::Ordering::Relaxed) >= 1_000);
        assert!(sled.verify().await.unwrap().is_clean());
    }
}
