//! `RedisSessionStorage` against Shopify's real Node Redis adapter
//! (`@shopify/shopify-app-session-storage-redis`, pinned in `tests/node/package.json`), both
//! storing into one redis-server started by the test: each side loads and finds what the other
//! stores, byte for byte in the layout the adapter keeps.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redis::Commands;
use serde_json::{Value, json};
use shopify_session_storage::{
    AssociatedUser, OnlineAccessInfo, RedisSessionStorage, Session, SessionStorage,
};

use self::common::redis_server::RedisServer;

const SHOP: &str = "interop.myshopify.com";

/// A time `days` from now in whole milliseconds, the unit of property arrays.
fn days_from_now(days: u64) -> SystemTime {
    let later = SystemTime::now() + Duration::from_secs(days * 86_400);
    let millis = later.duration_since(UNIX_EPOCH).unwrap().as_millis();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap())
}

/// The sessions a Node app keeps for a shop: offline, expiring offline and online with the
/// whole user.
fn node_shaped_sessions(shop: &str) -> Vec<Session> {
    let mut offline = Session::new(format!("offline_{shop}"), shop, "", false);
    offline.scope = Some("read_products,write_orders".into());
    offline.access_token = Some("shpat_interop".into());

    let mut expiring = Session::new(format!("{shop}_expiring"), shop, "", false);
    expiring.scope = Some("read_products".into());
    expiring.expires = Some(days_from_now(1));
    expiring.access_token = Some("shpat_expiring".into());
    expiring.refresh_token = Some("shprt_refresh".into());
    expiring.refresh_token_expires = Some(days_from_now(90));

    let mut online = Session::new(format!("{shop}_902541635"), shop, "state-42", true);
    online.scope = Some("read_products".into());
    online.expires = Some(days_from_now(1));
    online.access_token = Some("shpua_online".into());
    let mut user = AssociatedUser::new(902_541_635);
    user.first_name = Some("Ada".into());
    user.last_name = Some("Lovelace".into());
    user.email = Some("ada@example.com".into());
    user.locale = Some("en-GB".into());
    user.email_verified = Some(true);
    user.account_owner = Some(false);
    user.collaborator = Some(false);
    online.online_access_info = Some(OnlineAccessInfo::new(user));

    vec![offline, expiring, online]
}

/// Runs operations through the Node adapter (see `tests/node/redis.js`).
fn node(server: &RedisServer, ops: &Value) -> Result<Vec<Value>, String> {
    let input = json!({"url": server.url(), "prefix": null, "ops": ops});
    common::node::try_run("redis.js", &input)
        .map(|results| results.as_array().expect("a list of results").clone())
}

/// Stores `sessions` through the Node adapter, one after another.
fn node_stores(server: &RedisServer, sessions: &[Session]) {
    let ops = sessions
        .iter()
        .map(|session| json!({"op": "store", "entries": session.to_property_array_json(true)}))
        .collect();
    node(server, &Value::Array(ops)).unwrap();
}

fn key(id: &str) -> String {
    format!("shopify_sessions_{id}")
}

fn by_id(mut sessions: Vec<Session>) -> Vec<Session> {
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    sessions
}

/// Every key and its value: what a Node app sees.
fn snapshot(connection: &mut redis::Connection) -> BTreeMap<String, String> {
    let keys: Vec<String> = connection.keys("*").unwrap();
    keys.into_iter()
        .map(|key| {
            let value: String = connection.get(&key).unwrap();
            (key, value)
        })
        .collect()
}

#[tokio::test]
async fn what_node_stores_loads_and_is_found_here_and_is_written_back_byte_for_byte() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let sessions = node_shaped_sessions(SHOP);
    node_stores(&server, &sessions);

    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    for session in &sessions {
        assert_eq!(
            storage.load_session(&session.id).await.unwrap().as_ref(),
            Some(session)
        );
    }
    assert_eq!(
        by_id(storage.find_sessions_by_shop(SHOP).await.unwrap()),
        by_id(sessions.clone())
    );

    // Stored again from here, every key holds exactly what Node wrote.
    let mut connection = server.connection();
    let written_by_node = snapshot(&mut connection);
    for session in &sessions {
        storage.store_session(session).await.unwrap();
    }
    let mut written_here = snapshot(&mut connection);
    written_here.remove("shopify_sessions_migrations");
    let mut without_marker = written_by_node.clone();
    without_marker.remove("shopify_sessions_migrations");
    assert_eq!(written_here, without_marker);
}

#[tokio::test]
async fn what_this_storage_stores_loads_and_is_found_in_node() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let mut sessions = node_shaped_sessions(SHOP);
    // One with what a property array cannot hold: Node reads it all the same.
    let mut extended = Session::new(format!("{SHOP}_extended"), SHOP, "", true);
    let mut info = OnlineAccessInfo::new(AssociatedUser::new(7));
    info.associated_user_scope = Some("read_products".into());
    info.expires_in = Some(86_399);
    extended.online_access_info = Some(info);
    extended.extra.insert("appPlan".into(), json!("pro"));
    for session in sessions.iter().chain([&extended]) {
        storage.store_session(session).await.unwrap();
    }

    let mut ops: Vec<Value> = sessions
        .iter()
        .map(|session| json!({"op": "load", "id": session.id}))
        .collect();
    ops.push(json!({"op": "load", "id": extended.id}));
    ops.push(json!({"op": "find", "shop": SHOP}));
    let results = node(&server, &Value::Array(ops)).unwrap();
    for (session, loaded) in sessions.iter().zip(&results) {
        assert_eq!(
            loaded["array"],
            session.to_property_array_json(true),
            "{}",
            session.id
        );
    }
    // Node reads what it knows of the extended one, and leaves out the rest when it writes.
    let mut known = extended.clone();
    known.extra.clear();
    known.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(7)));
    assert_eq!(results[3]["array"], known.to_property_array_json(true));
    let mut found: Vec<&str> = results[4]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["object"]["id"].as_str().unwrap())
        .collect();
    found.sort_unstable();
    let mut expected: Vec<&str> = sessions
        .iter()
        .chain([&extended])
        .map(|session| session.id.as_str())
        .collect();
    expected.sort_unstable();
    assert_eq!(found, expected);

    // Node's deletes keep the index this storage reads.
    let online = sessions.pop().unwrap();
    node(&server, &json!([{"op": "delete", "id": online.id}])).unwrap();
    assert_eq!(storage.load_session(&online.id).await.unwrap(), None);
    assert_eq!(
        by_id(storage.find_sessions_by_shop(SHOP).await.unwrap()),
        by_id(sessions.iter().cloned().chain([extended]).collect())
    );
}

#[tokio::test]
async fn a_node_index_that_lists_a_gone_key_is_pruned_here() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let sessions = node_shaped_sessions(SHOP);
    node_stores(&server, &sessions);
    let mut connection = server.connection();
    // Gone without the index knowing, as when a key expires.
    let () = connection.del(key(&sessions[0].id)).unwrap();

    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    assert_eq!(
        by_id(storage.find_sessions_by_shop(SHOP).await.unwrap()),
        by_id(sessions[1..].to_vec())
    );
    let index: String = connection.get(key(SHOP)).unwrap();
    let listed: Vec<String> = serde_json::from_str(&index).unwrap();
    assert_eq!(listed, vec![key(&sessions[1].id), key(&sessions[2].id)]);

    let found = node(&server, &json!([{"op": "find", "shop": SHOP}])).unwrap();
    assert_eq!(found[0].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn node_finds_nothing_once_this_storage_deleted_a_shops_last_session() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    let session = node_shaped_sessions(SHOP).remove(0);
    storage.store_session(&session).await.unwrap();
    storage.delete_session(&session.id).await.unwrap();

    let found = node(&server, &json!([{"op": "find", "shop": SHOP}])).unwrap();
    assert_eq!(found, vec![json!([])]);

    // What an empty list written by a Lua script would do to Node: `{}` is no list to it.
    let mut connection = server.connection();
    let () = connection.set(key(SHOP), "{}").unwrap();
    let error = node(&server, &json!([{"op": "find", "shop": SHOP}])).unwrap_err();
    assert!(error.contains("not iterable"), "{error}");
}

#[tokio::test]
async fn a_node_app_started_after_this_storage_leaves_its_data_alone() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    for shop in [SHOP, "second.myshopify.com"] {
        for session in node_shaped_sessions(shop) {
            storage.store_session(&session).await.unwrap();
        }
    }
    let mut connection = server.connection();
    let before = snapshot(&mut connection);
    assert_eq!(
        before["shopify_sessions_migrations"],
        r#"{"migrateToVersion1_0_1":true}"#
    );

    node(&server, &json!([])).unwrap();
    assert_eq!(snapshot(&mut connection), before);

    // Without the record, Node's start-up migration reads the shop indexes as sessions (with
    // 5.0.5 it then writes an index for the shop `undefined`).
    let () = connection.del("shopify_sessions_migrations").unwrap();
    let started = node(&server, &json!([]));
    let after = snapshot(&mut connection);
    assert!(
        started.is_err() || after.keys().any(|key| !before.contains_key(key)),
        "the migration record made no difference: {started:?}"
    );
}

/// Node writes keys in the order its session was built in (the OAuth callback builds `shop`,
/// `state`, `isOnline`, `accessToken`, `scope` first, then `id`), and other writers may spell
/// keys in any case: both load here as in Node.
#[tokio::test]
async fn values_in_other_key_orders_and_cases_load_here_as_in_node() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let session = node_shaped_sessions(SHOP).pop().unwrap();
    let Value::Array(entries) = session.to_property_array_json(true) else {
        unreachable!()
    };
    let order = ["shop", "state", "isOnline", "accessToken", "scope", "id"];
    let mut reordered: Vec<Value> = order
        .iter()
        .map(|name| {
            entries
                .iter()
                .find(|entry| entry[0] == *name)
                .unwrap()
                .clone()
        })
        .collect();
    reordered.extend(
        entries
            .iter()
            .filter(|entry| !order.contains(&entry[0].as_str().unwrap()))
            .cloned(),
    );
    node(&server, &json!([{"op": "store", "entries": reordered}])).unwrap();
    let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
    assert_eq!(
        storage.load_session(&session.id).await.unwrap().as_ref(),
        Some(&session)
    );

    // Keys in other cases, written by hand under another id.
    let mut odd = session.clone();
    odd.id = format!("{SHOP}_odd_case");
    let odd_case: Vec<Value> = odd
        .to_property_array(true)
        .into_iter()
        .map(|(key, value)| json!([key.to_uppercase(), value]))
        .collect();
    let () = server
        .connection()
        .set(key(&odd.id), Value::Array(odd_case).to_string())
        .unwrap();
    assert_eq!(
        storage.load_session(&odd.id).await.unwrap().as_ref(),
        Some(&odd)
    );
    let loaded = node(&server, &json!([{"op": "load", "id": odd.id}])).unwrap();
    assert_eq!(loaded[0]["array"], odd.to_property_array_json(true));
}
