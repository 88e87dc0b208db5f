//! `RedisSessionStorage` against a real redis-server that each test starts for itself
//! (`tests/common/redis_server.rs`; skipped with a note when redis-server is not installed).

mod common;

#[path = "../examples/redis_callbacks.rs"]
mod redis_callbacks_example;

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use redis::Commands;
use serde_json::{Value, json};
use shopify_session_storage::{
    AssociatedUser, CorruptRecord, CustomSessionStorage, Error, ManualClock, OnlineAccessInfo,
    RedisSessionStorage, Session, SessionStorage, testkit::run_conformance,
};

use self::common::redis_server::RedisServer;

const SHOP: &str = "redis-test.myshopify.com";
const HOUR: Duration = Duration::from_secs(3_600);

/// A time `later` from now, in whole milliseconds: what a property array keeps.
fn from_now(later: Duration) -> SystemTime {
    let since_epoch = (SystemTime::now() + later)
        .duration_since(UNIX_EPOCH)
        .unwrap();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(since_epoch.as_millis()).unwrap())
}

fn offline(shop: &str) -> Session {
    let mut session = Session::new(format!("offline_{shop}"), shop, "", false);
    session.scope = Some("read_products".into());
    session.access_token = Some("shpat_offline".into());
    session
}

fn online(shop: &str, user: u64) -> Session {
    let mut session = Session::new(format!("{shop}_{user}"), shop, "state", true);
    session.access_token = Some("shpua_online".into());
    session.expires = Some(from_now(HOUR));
    let mut associated = AssociatedUser::new(user);
    associated.email = Some("ada@example.com".into());
    session.online_access_info = Some(OnlineAccessInfo::new(associated));
    session
}

/// The shop index as the Node adapter keeps it, `None` when the key is absent.
fn index(connection: &mut redis::Connection, shop: &str) -> Option<Vec<String>> {
    let text: Option<String> = connection.get(format!("shopify_sessions_{shop}")).unwrap();
    text.map(|text| serde_json::from_str(&text).unwrap())
}

fn key(id: &str) -> String {
    format!("shopify_sessions_{id}")
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    run_conformance(&storage).await;
    run_conformance(&Arc::new(CustomSessionStorage::from_storage(storage))).await;
}

#[tokio::test]
async fn writes_the_node_adapters_keys_and_values() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let mut connection = server.connection();

    let marker: String = connection.get("shopify_sessions_migrations").unwrap();
    assert_eq!(marker, r#"{"migrateToVersion1_0_1":true}"#);

    let session = online(SHOP, 42);
    storage.store_session(&session).await.unwrap();
    let stored: String = connection.get(key(&session.id)).unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored, session.to_property_array_json(true));
    assert_eq!(
        index(&mut connection, SHOP),
        Some(vec![key(&session.id)]),
        "the index lists full keys"
    );

    storage.store_session(&offline(SHOP)).await.unwrap();
    assert_eq!(index(&mut connection, SHOP).unwrap().len(), 2);
    storage.delete_session(&session.id).await.unwrap();
    storage.delete_session(&offline(SHOP).id).await.unwrap();
    let exists: bool = connection
        .exists(format!("shopify_sessions_{SHOP}"))
        .unwrap();
    assert!(!exists, "an empty index is deleted, never written as {{}}");
}

#[tokio::test]
async fn merges_into_an_existing_migration_record() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut connection = server.connection();
    let () = connection
        .set(
            "shopify_sessions_migrations",
            r#"{"someLaterMigration":true}"#,
        )
        .unwrap();
    RedisSessionStorage::connect(server.url()).await.unwrap();
    let marker: String = connection.get("shopify_sessions_migrations").unwrap();
    let marker: Value = serde_json::from_str(&marker).unwrap();
    assert_eq!(
        marker,
        json!({"someLaterMigration": true, "migrateToVersion1_0_1": true})
    );

    // A prefix of one's own gets its own record.
    RedisSessionStorage::builder(server.url())
        .prefix("app2")
        .connect()
        .await
        .unwrap();
    let exists: bool = connection.exists("app2_migrations").unwrap();
    assert!(exists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_stores_of_one_shop_from_separate_connections_lose_nothing() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut tasks = Vec::new();
    for user in 0..64 {
        // A storage each: a connection each, as 64 servers would have.
        let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
        tasks.push(tokio::spawn(async move {
            storage.store_session(&online(SHOP, user)).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    assert_eq!(storage.find_sessions_by_shop(SHOP).await.unwrap().len(), 64);
    assert_eq!(index(&mut server.connection(), SHOP).unwrap().len(), 64);
}

#[tokio::test]
async fn keys_expire_at_the_deadline_every_backend_computes() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::builder(server.url())
        .retention(HOUR)
        .offline_ttl(Some(24 * HOUR))
        .connect()
        .await
        .unwrap();
    let mut connection = server.connection();
    let pttl = |connection: &mut redis::Connection, id: &str| -> i64 {
        redis::cmd("PTTL").arg(key(id)).query(connection).unwrap()
    };
    let close_to = |actual: i64, expected: Duration| {
        let expected = i64::try_from(expected.as_millis()).unwrap();
        assert!(
            (expected - 60_000..=expected).contains(&actual),
            "PTTL {actual} ms, expected about {expected} ms"
        );
    };

    // expires + retention.
    let session = online(SHOP, 1);
    storage.store_session(&session).await.unwrap();
    close_to(pttl(&mut connection, &session.id), 2 * HOUR);
    // An upsert moves the TTL with the dates and lists the session once.
    let mut later = session.clone();
    later.expires = Some(from_now(5 * HOUR));
    storage.store_session(&later).await.unwrap();
    close_to(pttl(&mut connection, &session.id), 6 * HOUR);
    assert_eq!(index(&mut connection, SHOP), Some(vec![key(&session.id)]));
    assert_eq!(
        storage.load_session(&session.id).await.unwrap(),
        Some(later)
    );

    // The later of expires and refresh_token_expires.
    let mut expiring = offline("refresh.myshopify.com");
    expiring.expires = Some(from_now(HOUR));
    expiring.refresh_token = Some("refresh".into());
    expiring.refresh_token_expires = Some(from_now(90 * 24 * HOUR));
    storage.store_session(&expiring).await.unwrap();
    close_to(pttl(&mut connection, &expiring.id), 90 * 24 * HOUR + HOUR);

    // Neither date: offline_ttl from now, plus retention.
    let plain = offline(SHOP);
    storage.store_session(&plain).await.unwrap();
    close_to(pttl(&mut connection, &plain.id), 25 * HOUR);

    // Without offline_ttl: no TTL at all.
    let forever = RedisSessionStorage::connect(server.url()).await.unwrap();
    let other = offline("forever.myshopify.com");
    forever.store_session(&other).await.unwrap();
    assert_eq!(pttl(&mut connection, &other.id), -1);

    // A deadline beyond what Redis takes (retention saturates it): clamped, not an error.
    let far_off = RedisSessionStorage::builder(server.url())
        .retention(Duration::MAX)
        .connect()
        .await
        .unwrap();
    let far = online("far.myshopify.com", 5);
    far_off.store_session(&far).await.unwrap();
    assert!(pttl(&mut connection, &far.id) > 0);
    assert_eq!(far_off.load_session(&far.id).await.unwrap(), Some(far));

    // A date no property array reader can read back is refused, and nothing is written.
    let mut unreadable = offline("unreadable.myshopify.com");
    unreadable.expires = Some(UNIX_EPOCH + Duration::from_secs(400_000_000_000));
    let error = forever.store_session(&unreadable).await.unwrap_err();
    assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
    assert_eq!(pttl(&mut connection, &unreadable.id), -2);

    // Already past: stored as gone, and not indexed.
    let mut past = offline("past.myshopify.com");
    past.expires = Some(SystemTime::now() - 2 * HOUR);
    forever.store_session(&past).await.unwrap();
    assert_eq!(pttl(&mut connection, &past.id), -2);
    assert_eq!(index(&mut connection, "past.myshopify.com"), None);
    assert_eq!(forever.load_session(&past.id).await.unwrap(), None);
}

#[tokio::test]
async fn reads_check_the_deadline_themselves_and_clean_up() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let storage = RedisSessionStorage::builder(server.url())
        .clock(clock.clone())
        .connect()
        .await
        .unwrap();
    let mut connection = server.connection();

    // A Node app's plain SET leaves no TTL: only the dates say the session expired.
    let (first, second) = (online(SHOP, 1), online(SHOP, 2));
    for session in [&first, &second] {
        storage.store_session(session).await.unwrap();
        let () = redis::cmd("PERSIST")
            .arg(key(&session.id))
            .query(&mut connection)
            .unwrap();
    }
    let mut lasting = offline(SHOP);
    lasting.expires = Some(from_now(100 * HOUR));
    storage.store_session(&lasting).await.unwrap();

    clock.advance(2 * HOUR);
    assert_eq!(storage.load_session(&first.id).await.unwrap(), None);
    let gone: bool = connection.exists(key(&first.id)).unwrap();
    assert!(!gone, "an expired session read by id is deleted");

    assert_eq!(
        storage.find_sessions_by_shop(SHOP).await.unwrap(),
        vec![lasting.clone()]
    );
    let gone: bool = connection.exists(key(&second.id)).unwrap();
    assert!(!gone, "an expired session found by shop is deleted");
    assert_eq!(index(&mut connection, SHOP), Some(vec![key(&lasting.id)]));
}

#[tokio::test]
async fn find_prunes_keys_that_are_gone_and_sessions_of_other_shops() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let mut connection = server.connection();
    let kept = offline(SHOP);
    storage.store_session(&kept).await.unwrap();
    // As the Node adapter leaves things: a deleted key still listed, and a session that moved
    // to another shop still listed under the old one.
    let moved = online("elsewhere.myshopify.com", 7);
    storage.store_session(&moved).await.unwrap();
    let index_value = json!([
        key(&kept.id),
        key("offline_deleted.myshopify.com"),
        key(&moved.id)
    ]);
    let () = connection
        .set(format!("shopify_sessions_{SHOP}"), index_value.to_string())
        .unwrap();

    assert_eq!(
        storage.find_sessions_by_shop(SHOP).await.unwrap(),
        vec![kept.clone()]
    );
    assert_eq!(index(&mut connection, SHOP), Some(vec![key(&kept.id)]));

    // An index listing only gone keys is deleted, not left as `{}`.
    let () = connection
        .set(
            "shopify_sessions_empty.myshopify.com",
            json!([key("offline_gone.myshopify.com")]).to_string(),
        )
        .unwrap();
    assert!(
        storage
            .find_sessions_by_shop("empty.myshopify.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(index(&mut connection, "empty.myshopify.com"), None);
}

#[tokio::test]
async fn a_store_that_moves_a_session_to_another_shop_unlists_it_from_the_old_one() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let mut session = online(SHOP, 3);
    storage.store_session(&session).await.unwrap();
    storage.store_session(&offline(SHOP)).await.unwrap();
    session.shop = "new-home.myshopify.com".into();
    storage.store_session(&session).await.unwrap();
    let mut connection = server.connection();
    assert_eq!(
        index(&mut connection, SHOP),
        Some(vec![key(&offline(SHOP).id)])
    );
    assert_eq!(
        index(&mut connection, "new-home.myshopify.com"),
        Some(vec![key(&session.id)])
    );

    // A value that also holds a `["shop", <new shop>]` pair inside `extra` still counts as the
    // old shop's: the move back unlists it from the new home.
    session
        .extra
        .insert("history".into(), json!([["shop", SHOP]]));
    storage.store_session(&session).await.unwrap();
    session.shop = SHOP.into();
    storage.store_session(&session).await.unwrap();
    assert_eq!(index(&mut connection, "new-home.myshopify.com"), None);
}

#[tokio::test]
async fn a_bad_value_is_corrupt_for_its_id_only() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let mut connection = server.connection();
    let good = offline(SHOP);
    storage.store_session(&good).await.unwrap();
    let (not_json, not_an_array, not_a_string) =
        (online(SHOP, 1).id, online(SHOP, 2).id, online(SHOP, 3).id);
    let () = connection.set(key(&not_json), "{{{ not json").unwrap();
    let () = connection
        .set(key(&not_an_array), r#"{"id": "x"}"#)
        .unwrap();
    let () = connection
        .hset(key(&not_a_string), "field", "value")
        .unwrap();
    let listed = json!([
        key(&good.id),
        key(&not_json),
        key(&not_an_array),
        key(&not_a_string)
    ]);
    let () = connection
        .set(format!("shopify_sessions_{SHOP}"), listed.to_string())
        .unwrap();

    for id in [&not_json, &not_an_array] {
        let error = storage.load_session(id).await.unwrap_err();
        assert!(
            matches!(&error, Error::Corrupt { id: named, source: CorruptRecord::Undecodable(_) } if named == id),
            "{error:?}"
        );
    }
    let error = storage.load_session(&not_a_string).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Corrupt {
                source: CorruptRecord::NotAString,
                ..
            }
        ),
        "{error:?}"
    );
    // find skips them (with a warning) and returns the rest.
    assert_eq!(
        storage.find_sessions_by_shop(SHOP).await.unwrap(),
        vec![good.clone()]
    );
    assert_eq!(storage.load_session(&good.id).await.unwrap(), Some(good));

    // A shop index that is not a list of keys: the store fails and writes nothing.
    let () = connection
        .set("shopify_sessions_broken.myshopify.com", "42")
        .unwrap();
    let error = storage
        .store_session(&offline("broken.myshopify.com"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Redis { .. }), "{error:?}");
    let message = common::error_text(&error);
    assert!(
        message.contains("shop index shopify_sessions_broken.myshopify.com is not a JSON list"),
        "{message}"
    );
    assert!(!message.contains("ERR ERR"), "{message}");
    let exists: bool = connection
        .exists(key("offline_broken.myshopify.com"))
        .unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn the_migration_record_is_never_a_session() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let session = Session::new("migrations", SHOP, "", false);
    assert!(matches!(
        storage.store_session(&session).await,
        Err(Error::InvalidSession(_))
    ));
    assert_eq!(storage.load_session("migrations").await.unwrap(), None);
    storage.delete_session("migrations").await.unwrap();
    let exists: bool = server
        .connection()
        .exists("shopify_sessions_migrations")
        .unwrap();
    assert!(exists);

    // An id spelled like its own shop would be that shop's index: refused, on a shop with no
    // index yet as on one with.
    let fresh = "fresh.myshopify.com";
    let error = storage
        .store_session(&Session::new(fresh, fresh, "", false))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
    let exists: bool = server.connection().exists(key(fresh)).unwrap();
    assert!(!exists);

    // Nor an id that is another shop's domain, whether that shop has an index yet or not; nor
    // the shop `migrations`.
    storage.store_session(&offline(SHOP)).await.unwrap();
    for id in [SHOP, "no-index-yet.myshopify.com"] {
        let shaped_like_a_shop = Session::new(id, "other.myshopify.com", "", false);
        let error = storage
            .store_session(&shaped_like_a_shop)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
    }
    let error = storage
        .store_session(&Session::new("offline_migrations", "migrations", "", false))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
    assert_eq!(storage.load_session(SHOP).await.unwrap(), None);
    storage.delete_session(SHOP).await.unwrap();
    assert_eq!(
        index(&mut server.connection(), SHOP),
        Some(vec![key(&offline(SHOP).id)])
    );
    assert!(
        storage
            .find_sessions_by_shop("migrations")
            .await
            .unwrap()
            .is_empty()
    );
}

/// The scripts skip decoding JSON when a text check is certain (see `lua/common.lua`); JSON
/// spelled otherwise (spaces, escapes) takes the decoding path and gives the same result.
#[tokio::test]
async fn json_written_by_other_hands_is_read_the_same() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let mut connection = server.connection();
    let session = offline(SHOP);
    storage.store_session(&session).await.unwrap();

    // An index with spaces and an escaped character still lists the key: no second entry.
    let spelled = format!("[ \"{}\" ]", key(&session.id).replace("_", "\\u005f"));
    let () = connection.set(key(SHOP), &spelled).unwrap();
    storage.store_session(&session).await.unwrap();
    let text: String = connection.get(key(SHOP)).unwrap();
    assert_eq!(text, spelled, "a listed key is not listed again");

    // A value whose shop is spelled with an escape still counts as that shop's.
    let value: String = connection.get(key(&session.id)).unwrap();
    let () = connection
        .set(
            key(&session.id),
            value.replace("redis-test", "redis\\u002dtest"),
        )
        .unwrap();
    storage.store_session(&session).await.unwrap();
    assert_eq!(
        storage.find_sessions_by_shop(SHOP).await.unwrap(),
        vec![session.clone()]
    );

    // An id holding a quote: its escaped key holds the quoted key of another session, which must
    // still be listed when it is stored.
    let tricky = Session::new(
        format!("{SHOP}_a\"{}", key(&format!("{SHOP}_b"))),
        SHOP,
        "",
        false,
    );
    let plain = Session::new(format!("{SHOP}_b"), SHOP, "", false);
    storage.store_session(&tricky).await.unwrap();
    storage.store_session(&plain).await.unwrap();
    let mut found = storage.find_sessions_by_shop(SHOP).await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![session.clone(), tricky, plain];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, expected);

    // An index spelled with spaces is still an index, not a session to overwrite.
    let () = connection
        .set(
            key("shaped_like_an_index"),
            format!("[ \"{}\" ]", key(&session.id)),
        )
        .unwrap();
    let shaped = Session::new("shaped_like_an_index", SHOP, "", false);
    assert!(storage.store_session(&shaped).await.is_err());
}

#[tokio::test]
async fn delete_sessions_takes_any_number_of_ids() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let mut ids = Vec::new();
    for user in 0..1_200 {
        let session = online(SHOP, user);
        storage.store_session(&session).await.unwrap();
        ids.push(session.id);
    }
    ids.push("offline_never-stored.myshopify.com".into());
    assert!(storage.delete_sessions(&ids).await.unwrap());
    assert!(
        storage
            .find_sessions_by_shop(SHOP)
            .await
            .unwrap()
            .is_empty()
    );
    let keys: Vec<String> = server.connection().keys("*").unwrap();
    assert_eq!(keys, vec!["shopify_sessions_migrations".to_owned()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_fail_within_the_timeout_while_the_server_is_away_and_work_once_it_is_back() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let timeout = Duration::from_millis(700);
    let storage = RedisSessionStorage::builder(server.url())
        .timeout(timeout)
        .connect()
        .await
        .unwrap();
    let session = offline(SHOP);
    storage.store_session(&session).await.unwrap();

    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let error = storage.load_session(&session.id).await.unwrap_err();
        assert!(
            matches!(error, Error::Redis { .. } | Error::Timeout { .. }),
            "{error:?}"
        );
        // Generous slack: this checks that nothing hangs, not how fast it fails.
        assert!(started.elapsed() < timeout + Duration::from_secs(2));
    }

    // The server comes back empty (it saves nothing); the same storage works again, from the
    // first call on.
    server.restart();
    storage.store_session(&session).await.unwrap();

    // A restart while the storage is idle: its first call meets the dropped connection, and
    // sends the request again on a new one.
    server.restart();
    storage.store_session(&session).await.unwrap();
    assert_eq!(
        storage.load_session(&session.id).await.unwrap(),
        Some(session)
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts connections and says nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", listener.local_addr().unwrap());
    let started = Instant::now();
    let error = RedisSessionStorage::builder(url)
        .timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Timeout { .. } | Error::Redis { .. }),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

#[tokio::test]
async fn a_cluster_is_refused() {
    let Some(server) = RedisServer::start_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]) else {
        return;
    };
    let error = RedisSessionStorage::connect(server.url())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::RedisCluster(_)), "{error:?}");
}

#[tokio::test]
async fn the_url_password_is_never_shown() {
    // The server asks for a password, and is given a wrong one.
    let Some(server) = RedisServer::start_with(&["--requirepass", "the-right-one"]) else {
        return;
    };
    let url = format!("redis://:hunter2-secret@127.0.0.1:{}/", server.port());
    let builder = RedisSessionStorage::builder(url).timeout(Duration::from_secs(2));
    assert!(!format!("{builder:?}").contains("hunter2"));
    let error = builder.connect().await.unwrap_err();
    let text = common::error_text(&error);
    assert!(text.contains("Password authentication failed"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    let url = format!("redis://:the-right-one@127.0.0.1:{}/", server.port());
    RedisSessionStorage::connect(url).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guides_callback_example_runs() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    redis_callbacks_example::run(&server.url()).await.unwrap();
}

/// A CA and a certificate it signed for 127.0.0.1, made with the `openssl` command in `dir`:
/// `(ca, certificate, key)`, or `None` (with a line saying so) where there is no `openssl`.
#[cfg(feature = "rediss")]
fn certificates(dir: &std::path::Path) -> Option<[std::path::PathBuf; 3]> {
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
    };
    if openssl(&["version"]).is_err() {
        assert!(
            std::env::var_os("SHOPIFY_SESSIONS_REQUIRE_REDIS").is_none(),
            "SHOPIFY_SESSIONS_REQUIRE_REDIS is set but the openssl command is not installed"
        );
        common::redis_server::skipped(
            "the openssl command is not installed (it makes the test's certificates)",
        );
        return None;
    }
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for args in [
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=test CA",
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    ] {
        let status = openssl(&args).unwrap();
        assert!(status.success(), "openssl {args:?} failed");
    }
    Some(["ca.crt", "server.crt", "server.key"].map(|name| dir.join(name)))
}

#[cfg(feature = "rediss")]
#[tokio::test]
async fn rediss_urls_speak_tls_and_check_the_servers_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let Some([ca, certificate, key]) = certificates(dir.path()) else {
        return;
    };
    let Some(server) = RedisServer::start_tls(&certificate, &key) else {
        return;
    };
    let storage = RedisSessionStorage::builder(server.url())
        .tls_root_certificates(std::fs::read(&ca).unwrap())
        .connect()
        .await
        .unwrap();
    let session = offline(SHOP);
    storage.store_session(&session).await.unwrap();
    assert_eq!(
        storage.find_sessions_by_shop(SHOP).await.unwrap(),
        vec![session]
    );

    // Without that CA, the system's roots do not vouch for the server: no connection.
    let error = RedisSessionStorage::builder(server.url())
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    let text = common::error_text(&error);
    assert!(text.to_lowercase().contains("certificate"), "{text}");
}
