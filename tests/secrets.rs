//! No token, unknown value, e-mail address or name ever reaches `Debug`, `Display`, an error
//! (with its sources) or a log line.
//!
//! One session carries a distinct marker in every string field: `SECRET_...` in the fields that
//! must never be shown, `VISIBLE_...` in those that may (ids, shops, scopes). It is pushed
//! through every such path the crate has: the session types, loaded records, each storage,
//! callback failures, refused records, malformed JSON, corrupt records in the sled store (in
//! load, find, sweep, verify, repair and an overwrite) and in Redis (load and find), and what
//! the stores log meanwhile.

mod common;

use std::{
    fmt::{self, Write as _},
    path::Path,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, UNIX_EPOCH},
};

use serde_json::json;
use shopify_session_storage::{
    AssociatedUser, CustomSessionStorage, Error, LoadedSession, ManualClock, MemorySessionStorage,
    OnlineAccessInfo, Session, SessionStorage, SledSessionStorage,
};

const SECRETS: [&str; 8] = [
    "SECRET_ACCESS_TOKEN",
    "SECRET_REFRESH_TOKEN",
    "SECRET_UNKNOWN_TOP",
    "SECRET_UNKNOWN_INFO",
    "SECRET_UNKNOWN_USER",
    "SECRET_FIRST_NAME",
    "SECRET_LAST_NAME",
    "SECRET_EMAIL",
];

fn marked_session() -> Session {
    let shop = "visible-shop.myshopify.com";
    let mut session = Session::new(format!("{shop}_42"), shop, "VISIBLE_STATE", true);
    session.scope = Some("VISIBLE_SCOPE".into());
    session.access_token = Some("SECRET_ACCESS_TOKEN".into());
    session.refresh_token = Some("SECRET_REFRESH_TOKEN".into());
    session.expires = Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000));
    let mut user = AssociatedUser::new(42);
    user.first_name = Some("SECRET_FIRST_NAME".into());
    user.last_name = Some("SECRET_LAST_NAME".into());
    user.email = Some("SECRET_EMAIL@example.com".into());
    user.locale = Some("VISIBLE_LOCALE".into());
    user.extra
        .insert("title".into(), json!("SECRET_UNKNOWN_USER"));
    let mut info = OnlineAccessInfo::new(user);
    info.associated_user_scope = Some("VISIBLE_USER_SCOPE".into());
    info.extra
        .insert("session".into(), json!("SECRET_UNKNOWN_INFO"));
    session.online_access_info = Some(info);
    session
        .extra
        .insert("k".into(), json!("SECRET_UNKNOWN_TOP"));
    session
}

/// Fails when `text` holds a secret marker.
fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

fn assert_error_clean(what: &str, error: &Error) {
    assert_clean(what, &common::error_text(error));
}

// ---- what the crate logs, captured by a minimal tracing subscriber ----

#[derive(Default)]
struct Logs(Mutex<String>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        write!(self.0, "{}={value:?} ", field.name()).unwrap();
    }
}

struct Capture(Arc<Logs>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Fields(&mut self.0.0.lock().unwrap()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.0.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut logs = self.0.0.lock().unwrap();
        event.record(&mut Fields(&mut logs));
        logs.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Everything logged by this test binary so far (its storages log from their own threads).
fn logs() -> Arc<Logs> {
    static LOGS: OnceLock<Arc<Logs>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Logs::default());
        tracing::subscriber::set_global_default(Capture(logs.clone()))
            .expect("no other subscriber in this test binary");
        logs
    })
    .clone()
}

// ---- the paths ----

#[test]
fn session_types_and_loaded_records() {
    let session = marked_session();
    let info = session.online_access_info.clone().unwrap();
    for (what, text) in [
        ("Session", format!("{session:?} {session:#?}")),
        ("OnlineAccessInfo", format!("{info:?}")),
        ("AssociatedUser", format!("{:?}", info.associated_user)),
        (
            "LoadedSession::Session",
            format!("{:?}", LoadedSession::from(session.clone())),
        ),
        (
            "LoadedSession::Record (object)",
            format!(
                "{:?}",
                LoadedSession::from(serde_json::to_value(&session).unwrap())
            ),
        ),
        (
            "LoadedSession::Record (property array)",
            format!(
                "{:#?}",
                LoadedSession::from(session.to_property_array_json(true))
            ),
        ),
    ] {
        assert_clean(what, &text);
    }
    // What may be shown still is: the marker test is not passing by printing nothing.
    let shown = format!("{session:?}");
    assert!(
        shown.contains("VISIBLE_SCOPE") && shown.contains("VISIBLE_LOCALE"),
        "{shown}"
    );
}

#[test]
fn refused_records_and_malformed_json() {
    let session = marked_session();

    // A record with every marker and a token where a date belongs: no error quotes it.
    let mut object = serde_json::to_value(&session).unwrap();
    object["expires"] = json!("SECRET_ACCESS_TOKEN");
    let error = LoadedSession::from(object).into_session().unwrap_err();
    assert!(matches!(error, Error::Json(_)), "{error:?}");
    assert_error_clean("Error::Json", &error);

    // Property arrays whose personal fields have the wrong kind of value.
    for (key, bad) in [
        ("firstName", json!({"given": "SECRET_FIRST_NAME"})),
        ("email", json!(["SECRET_EMAIL@example.com"])),
        ("accessToken", json!({"token": "SECRET_ACCESS_TOKEN"})),
        ("refreshToken", json!(["SECRET_REFRESH_TOKEN"])),
        ("expires", json!("SECRET_ACCESS_TOKEN")),
    ] {
        let mut array = session.to_property_array(true);
        array.retain(|(k, _)| k != key);
        array.push((key.to_string(), bad));
        let error = Session::from_property_array(&array, true).unwrap_err();
        assert_error_clean(key, &error);
    }
}

#[tokio::test]
async fn memory_and_custom_storages() {
    let session = marked_session();
    let memory = MemorySessionStorage::new();
    memory.store_session(&session).await.unwrap();
    assert_clean("MemorySessionStorage", &format!("{memory:?}"));

    // A store callback that fails: the error wraps the app's error, not the session.
    let failing = CustomSessionStorage::from_storage(memory.clone()).with_store_callback(
        |_session: Session| async { Err::<bool, _>(std::io::Error::other("redis is down")) },
    );
    let error = failing.store_session(&session).await.unwrap_err();
    assert!(matches!(error, Error::Callback { .. }), "{error:?}");
    assert_error_clean("Error::Callback", &error);
    assert_clean("CustomSessionStorage", &format!("{failing:?}"));

    // A load callback that hands back the wrong session, as JSON and as a property array.
    for record in [
        serde_json::to_value(&session).unwrap(),
        session.to_property_array_json(true),
    ] {
        let wrong = CustomSessionStorage::from_storage(memory.clone()).with_load_callback(
            move |_id: String| {
                let record = record.clone();
                async move { Ok::<_, std::io::Error>(Some(LoadedSession::from(record))) }
            },
        );
        let error = wrong
            .load_session("offline_other.myshopify.com")
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
        assert_error_clean("a loaded record of another id", &error);
    }

    // A find callback that returns another shop's session.
    let stranger = session.clone();
    let wrong_shop = CustomSessionStorage::from_storage(memory.clone())
        .with_find_sessions_by_shop_callback(move |_shop: String| {
            let stranger = stranger.clone();
            async move { Ok::<_, std::io::Error>(vec![LoadedSession::from(stranger)]) }
        });
    let error = wrong_shop
        .find_sessions_by_shop("other.myshopify.com")
        .await
        .unwrap_err();
    assert_error_clean("a found session of another shop", &error);
}

/// Rewrites the stored record of `id` through a raw sled handle (the storage closed), with
/// `patch` applied to its bytes.
fn patch_record(path: &Path, id: &str, patch: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let db = common::open_raw(path);
    let sessions = db.open_tree("sessions").unwrap();
    let bytes = sessions.get(id.as_bytes()).unwrap().unwrap().to_vec();
    sessions.insert(id.as_bytes(), patch(bytes)).unwrap();
    db.flush().unwrap();
}

/// Replaces the JSON text of `extra` inside a record with a JSON string of the same length
/// that holds the unknown value: valid JSON that is not an object, so that a decoder error
/// would quote it.
fn extra_as_a_string(mut bytes: Vec<u8>) -> Vec<u8> {
    let map = br#"{"k":"SECRET_UNKNOWN_TOP"}"#;
    let at = bytes
        .windows(map.len())
        .position(|window| window == map)
        .expect("the extra map is stored as JSON text");
    let mut replacement = br#""SECRET_UNKNOWN_TOP""#.to_vec();
    replacement.resize(map.len(), b' ');
    bytes[at..at + map.len()].copy_from_slice(&replacement);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_store_with_corrupt_records() {
    let logs = logs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_000_000_000),
    ));
    let open = || {
        SledSessionStorage::builder(&path)
            .clock(clock.clone())
            .retention(Duration::ZERO)
            .open()
            .unwrap()
    };

    let session = marked_session();
    let mut truncated = marked_session();
    truncated.id = "visible-shop.myshopify.com_43".into();
    let storage = open();
    storage.store_session(&session).await.unwrap();
    storage.store_session(&truncated).await.unwrap();
    assert_clean("SledSessionStorage", &format!("{storage:?}"));
    // A session too large to store: the error names its size, not its contents.
    let mut huge = session.clone();
    huge.extra
        .insert("blob".into(), json!("SECRET_UNKNOWN_TOP".repeat(2_000)));
    let error = storage.store_session(&huge).await.unwrap_err();
    assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
    assert_error_clean("an oversized session", &error);
    storage.close().await.unwrap();

    patch_record(&path, &session.id, extra_as_a_string);
    patch_record(&path, &truncated.id, |bytes| {
        bytes[..bytes.len() - 40].to_vec()
    });
    let storage = open();

    for id in [&session.id, &truncated.id] {
        let error = storage.load_session(id).await.unwrap_err();
        assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
        assert_error_clean("Error::Corrupt", &error);
    }
    // The decoder's own message quotes the value; the crate keeps only where it failed.
    let error = storage.load_session(&session.id).await.unwrap_err();
    assert!(
        common::error_text(&error).contains("line 1"),
        "{}",
        common::error_text(&error)
    );

    assert!(
        storage
            .find_sessions_by_shop(&session.shop)
            .await
            .unwrap()
            .is_empty()
    );
    let report = storage.verify().await.unwrap();
    assert_eq!(report.problems.len(), 2, "{report:?}");
    assert_clean("VerifyReport", &format!("{report} {report:?}"));

    clock.advance(Duration::from_secs(2_000_000_000));
    let swept = storage.sweep_expired().await.unwrap();
    assert_eq!(swept.corrupt_skipped, 2, "{swept:?}");
    assert_clean("SweepReport", &format!("{swept:?}"));
    let repaired = storage.repair().await.unwrap();
    assert_clean("RepairReport", &format!("{repaired:?}"));

    // Overwriting and deleting corrupt records log their ids only.
    storage.store_session(&session).await.unwrap();
    storage.delete_session(&truncated.id).await.unwrap();
    storage.close().await.unwrap();

    let logged = logs.0.lock().unwrap().clone();
    assert!(
        logged.contains("corrupt"),
        "the corrupt records were logged: {logged}"
    );
    assert_clean("the logs", &logged);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_with_corrupt_values() {
    use redis::Commands;
    use shopify_session_storage::RedisSessionStorage;

    let Some(server) = common::redis_server::RedisServer::start() else {
        return;
    };
    let logs = logs();
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let session = marked_session();
    storage.store_session(&session).await.unwrap();
    assert_eq!(
        storage.load_session(&session.id).await.unwrap().as_ref(),
        Some(&session)
    );
    assert_clean("RedisSessionStorage", &format!("{storage:?}"));

    // Values that hold secrets where something else belongs, each under a listed key.
    let shop = &session.shop;
    let broken = [
        ("not_json", "SECRET_ACCESS_TOKEN{".to_owned()),
        (
            "date",
            format!(
                r#"[["id","{shop}_date"],["shop","{shop}"],["expires","SECRET_ACCESS_TOKEN"]]"#
            ),
        ),
        (
            "details",
            format!(
                r#"[["id","{shop}_details"],["shop","{shop}"],["rustSessionDetails",{{"onlineAccessInfo":"SECRET_UNKNOWN_INFO"}}]]"#
            ),
        ),
        (
            "other_id",
            format!(r#"[["id","SECRET_UNKNOWN_TOP"],["shop","{shop}"]]"#),
        ),
    ];
    let mut connection = server.connection();
    let mut listed = vec![format!("shopify_sessions_{}", session.id)];
    for (suffix, value) in &broken {
        let key = format!("shopify_sessions_{shop}_{suffix}");
        let () = connection.set(&key, value).unwrap();
        listed.push(key);
    }
    let () = connection
        .set(
            format!("shopify_sessions_{shop}"),
            serde_json::to_string(&listed).unwrap(),
        )
        .unwrap();

    for (suffix, _) in &broken {
        let error = storage
            .load_session(&format!("{shop}_{suffix}"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
        assert_error_clean("Error::Corrupt from Redis", &error);
    }
    assert_eq!(
        storage.find_sessions_by_shop(shop).await.unwrap(),
        vec![session.clone()]
    );

    let logged = logs.0.lock().unwrap().clone();
    assert!(
        logged.contains("skipping a stored session"),
        "the corrupt values were logged: {logged}"
    );
    assert_clean("the logs", &logged);
}
