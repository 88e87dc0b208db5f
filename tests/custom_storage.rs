//! CustomSessionStorage beyond the conformance suite: errors, fallbacks, loaded records.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use serde_json::json;
use shopify_session_storage::{
    CustomSessionStorage, Error, LoadedSession, Session, SessionStorage,
};

#[derive(Debug, thiserror::Error)]
#[error("connection refused by the app's database")]
struct AppError;

/// A storage whose load returns `record` and whose other callbacks count their calls.
fn storage(record: Option<LoadedSession>, calls: &Arc<AtomicUsize>) -> CustomSessionStorage {
    let (store_calls, delete_calls) = (calls.clone(), calls.clone());
    CustomSessionStorage::new(
        move |_session: Session| {
            store_calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, AppError>(true) }
        },
        move |_id: String| {
            let record = record.clone();
            async move { Ok::<_, AppError>(record) }
        },
        move |_id: String| {
            delete_calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, AppError>(true) }
        },
    )
}

#[tokio::test]
async fn a_failing_callback_becomes_a_callback_error_with_its_source() {
    let calls = Arc::default();
    let failing = storage(None, &calls)
        .with_load_callback(|_id: String| async { Err::<Option<LoadedSession>, _>(AppError) });
    let error = failing.load_session("x").await.unwrap_err();
    // The cause is said once: by `source()`, not repeated in the message.
    assert_eq!(
        error.to_string(),
        "CustomSessionStorage failed to load a session"
    );
    let Error::Callback { operation, source } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*operation, "load a session");
    assert!(source.downcast_ref::<AppError>().is_some());
    let source = std::error::Error::source(&error).expect("a source");
    assert_eq!(
        source.to_string(),
        "connection refused by the app's database"
    );
}

#[tokio::test]
async fn invalid_sessions_never_reach_the_store_callback() {
    let calls = Arc::new(AtomicUsize::new(0));
    let custom = storage(None, &calls);
    let invalid = Session::new("id", "", "", false);
    assert!(matches!(
        custom.store_session(&invalid).await,
        Err(Error::InvalidSession(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn delete_sessions_falls_back_to_one_delete_per_id() {
    let calls = Arc::new(AtomicUsize::new(0));
    let custom = storage(None, &calls);
    let ids = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    assert!(custom.delete_sessions(&ids).await.unwrap());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn find_without_a_callback_is_unsupported() {
    let custom = storage(None, &Arc::default());
    let error = custom
        .find_sessions_by_shop("a.myshopify.com")
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Unsupported("find_sessions_by_shop")),
        "{error:?}"
    );
}

#[tokio::test]
async fn loaded_values_that_are_not_sessions_are_named() {
    let cases = [
        (json!("offline_a"), "a string"),
        (json!(42), "a number"),
        (json!(true), "a boolean"),
        (json!(null), "null"),
        (json!({"shop": "a.myshopify.com"}), "no `id`"),
        (
            json!({"id": 7, "shop": "a.myshopify.com"}),
            "must be a string",
        ),
    ];
    for (record, expected) in cases {
        let custom = storage(Some(LoadedSession::from(record.clone())), &Arc::default());
        let error = custom.load_session("x").await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidSession(_)) && error.to_string().contains(expected),
            "{record}: {error}"
        );
    }
    let custom = storage(Some(json!({"id": "x"}).into()), &Arc::default());
    let error = custom.load_session("x").await.unwrap_err();
    assert!(matches!(error, Error::Json(_)), "{error:?}");
    let cause = std::error::Error::source(&error).expect("the JSON error");
    assert!(cause.to_string().contains("shop"), "{cause}");
}

/// A load callback that hands back another session (a wrong key, a stale cache) must not give
/// the app that session's token.
#[tokio::test]
async fn a_loaded_record_of_another_id_is_refused() {
    let other = Session::new("offline_b.myshopify.com", "b.myshopify.com", "", false);
    let custom = storage(Some(other.into()), &Arc::default());
    let error = custom
        .load_session("offline_a.myshopify.com")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
    assert!(
        message.contains("\"offline_a.myshopify.com\"")
            && message.contains("\"offline_b.myshopify.com\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_found_session_of_another_shop_is_refused() {
    let custom =
        storage(None, &Arc::default()).with_find_sessions_by_shop_callback(|_shop: String| async {
            let mine = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
            let stranger = Session::new("offline_b.myshopify.com", "b.myshopify.com", "", false);
            Ok::<_, AppError>(vec![mine.into(), stranger.into()])
        });
    let error = custom
        .find_sessions_by_shop("a.myshopify.com")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
    assert!(
        message.contains("\"a.myshopify.com\"") && message.contains("\"b.myshopify.com\""),
        "{message}"
    );
}

/// `from_storage`: every callback goes to the storage until one is replaced.
#[tokio::test]
async fn from_storage_calls_the_storage_until_a_callback_is_replaced() {
    let memory = shopify_session_storage::MemorySessionStorage::new();
    let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
    let custom = CustomSessionStorage::from_storage(memory.clone());
    assert!(custom.store_session(&session).await.unwrap());
    assert_eq!(
        memory.load_session(&session.id).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        custom
            .find_sessions_by_shop("a.myshopify.com")
            .await
            .unwrap(),
        vec![session.clone()]
    );
    assert!(
        custom
            .delete_sessions(std::slice::from_ref(&session.id))
            .await
            .unwrap()
    );
    assert_eq!(memory.load_session(&session.id).await.unwrap(), None);

    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let custom = custom.with_store_callback(move |_session: Session| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, AppError>(true) }
    });
    assert!(custom.store_session(&session).await.unwrap());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        custom.load_session(&session.id).await.unwrap(),
        None,
        "the store went to the replacement"
    );
}

#[tokio::test]
async fn debug_shows_which_optional_callbacks_are_set() {
    let custom = storage(None, &Arc::default());
    let text = format!("{custom:?}");
    assert!(
        text.contains("find_sessions_by_shop_callback: false"),
        "{text}"
    );
}
