//! The conformance suite: checks a [`SessionStorage`] against the whole contract.
//!
//! Run it against your own storage in a test:
//!
//! ```
//! use shopify_session_storage::{testkit::run_conformance, MemorySessionStorage};
//!
//! # #[tokio::main] async fn main() {
//! run_conformance(&MemorySessionStorage::new()).await;
//! # }
//! ```
//!
//! The suite needs a multi-threaded tokio runtime only for speed; it spawns tasks, so it must
//! run inside a runtime. It works on a storage that already holds data: every session it writes
//! belongs to shops named after a tag unique to the run, and it deletes them at the end. A
//! storage that is not `Clone` can be passed as `Arc<YourStorage>`.

use std::{
    collections::BTreeSet,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::json;

use crate::{AssociatedUser, Error, OnlineAccessInfo, Session, SessionStorage};

/// How many tasks the concurrency check runs at once.
pub const CONCURRENT_TASKS: usize = 1_000;

/// Runs every check of the contract against `storage`, panicking with a message that names the
/// first check that fails.
///
/// Checked: the round trip of an offline, an online (with the full user), an expiring offline
/// (with a refresh token) and an extension-field session, field by field; upsert; loading an
/// unknown id; delete and `delete_sessions`, both idempotent; `find_sessions_by_shop` exactly,
/// also after an overwrite moves a session to another shop and after deletes; that an invalid
/// session is rejected with [`Error::InvalidSession`] and nothing stored; and
/// [`CONCURRENT_TASKS`] concurrent store-then-load tasks; and, unless the storage answers
/// [`Error::Unsupported`], that `replace_session` stores only over the expected tokens.
///
/// # Panics
/// When the storage breaks the contract; the message names the check.
pub async fn run_conformance<S>(storage: &S)
where
    S: SessionStorage + Clone + 'static,
{
    let tag = run_tag();
    let fixtures = Fixtures::new(&tag);

    round_trips(storage, &fixtures).await;
    upsert_and_find(storage, &fixtures).await;
    deletes(storage, &fixtures).await;
    invalid_sessions_are_rejected(storage, &tag).await;
    concurrent_tasks(storage, &tag).await;
    replace_is_a_compare_and_set(storage, &tag).await;
}

/// A tag unique to this run, so that runs never see each other's sessions.
fn run_tag() -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!(
        "conformance-{}-{}-{}",
        std::process::id(),
        nanos,
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

fn at_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// The sessions the suite writes. Dates have millisecond precision, the precision of
/// Shopify's formats.
struct Fixtures {
    shop_a: String,
    shop_b: String,
    offline: Session,
    online: Session,
    expiring_offline: Session,
    extended: Session,
}

impl Fixtures {
    fn new(tag: &str) -> Self {
        let shop_a = format!("{tag}-a.myshopify.com");
        let shop_b = format!("{tag}-b.myshopify.com");

        let mut offline = Session::new(format!("offline_{shop_a}"), &shop_a, "state-1", false);
        offline.scope = Some("read_products,write_orders".into());
        offline.access_token = Some("offline-access-token".into());

        let mut online = Session::new(format!("{shop_a}_8675309"), &shop_a, "state-2", true);
        online.scope = Some("write_products,read_customers".into());
        online.expires = Some(at_millis(4_070_908_800_123));
        online.access_token = Some("online-access-token".into());
        let mut user = AssociatedUser::new(8_675_309);
        user.first_name = Some("John".into());
        user.last_name = Some("Smith".into());
        user.email = Some("john@example.com".into());
        user.locale = Some("en".into());
        user.email_verified = Some(true);
        user.account_owner = Some(false);
        user.collaborator = Some(true);
        let mut info = OnlineAccessInfo::new(user);
        info.expires_in = Some(525_600);
        info.associated_user_scope = Some("write_products".into());
        info.extra.insert("account_number".into(), json!(7));
        online.online_access_info = Some(info);

        let mut expiring_offline = Session::new(format!("offline_{shop_b}"), &shop_b, "", false);
        expiring_offline.scope = Some("read_products".into());
        expiring_offline.expires = Some(at_millis(1_577_836_800_000));
        expiring_offline.access_token = Some("expiring-access-token".into());
        expiring_offline.refresh_token = Some("refresh-token".into());
        expiring_offline.refresh_token_expires = Some(at_millis(4_070_908_800_000));

        let mut extended = Session::new(format!("{shop_b}_extended"), &shop_b, "s", false);
        extended.extra.insert("appPlan".into(), json!("pro"));
        extended.extra.insert(
            "nested".into(),
            json!({"list": [1, 2.5, null, "x"], "flag": true}),
        );

        Fixtures {
            shop_a,
            shop_b,
            offline,
            online,
            expiring_offline,
            extended,
        }
    }

    fn all(&self) -> [&Session; 4] {
        [
            &self.offline,
            &self.online,
            &self.expiring_offline,
            &self.extended,
        ]
    }
}

async fn round_trips<S: SessionStorage>(storage: &S, fixtures: &Fixtures) {
    for session in fixtures.all() {
        let stored = storage.store_session(session).await;
        assert!(
            matches!(stored, Ok(true)),
            "store_session({:?}) must return Ok(true), got {stored:?}",
            session.id
        );
    }
    for session in fixtures.all() {
        let loaded = load(storage, &session.id, "round trip").await;
        let Some(loaded) = loaded else {
            panic!(
                "round trip: load_session({:?}) returned None after a store",
                session.id
            )
        };
        assert_same_session(session, &loaded, "round trip");
    }
    let unknown = format!("{}-unknown", fixtures.shop_a);
    assert!(
        load(storage, &unknown, "load of an unknown id")
            .await
            .is_none(),
        "load of an unknown id: load_session({unknown:?}) must return None"
    );
}

async fn upsert_and_find<S: SessionStorage>(storage: &S, fixtures: &Fixtures) {
    let in_a = [&fixtures.offline.id, &fixtures.online.id];
    let in_b = [&fixtures.expiring_offline.id, &fixtures.extended.id];
    assert_shop(storage, &fixtures.shop_a, &in_a, "find after store").await;
    assert_shop(storage, &fixtures.shop_b, &in_b, "find after store").await;

    // Upsert: the same id with new contents replaces the old record.
    let mut changed = fixtures.offline.clone();
    changed.scope = Some("write_products".into());
    changed.access_token = Some("rotated-access-token".into());
    changed.state = "state-3".into();
    store(storage, &changed, "upsert").await;
    let loaded = load(storage, &changed.id, "upsert").await;
    let Some(loaded) = loaded else {
        panic!("upsert: the session vanished after being stored again")
    };
    assert_same_session(&changed, &loaded, "upsert");
    assert_shop(storage, &fixtures.shop_a, &in_a, "find after an upsert").await;

    // An overwrite that moves a session to another shop moves it in the index too.
    let mut moved = fixtures.online.clone();
    moved.shop.clone_from(&fixtures.shop_b);
    store(storage, &moved, "overwrite to another shop").await;
    assert_shop(
        storage,
        &fixtures.shop_a,
        &[&fixtures.offline.id],
        "find after a session moved away from the shop",
    )
    .await;
    assert_shop(
        storage,
        &fixtures.shop_b,
        &[
            &fixtures.expiring_offline.id,
            &fixtures.extended.id,
            &moved.id,
        ],
        "find after a session moved to the shop",
    )
    .await;
}

async fn deletes<S: SessionStorage>(storage: &S, fixtures: &Fixtures) {
    let id = &fixtures.offline.id;
    for attempt in ["delete_session", "delete_session of an absent id"] {
        let deleted = storage.delete_session(id).await;
        assert!(
            matches!(deleted, Ok(true)),
            "{attempt}: must return Ok(true), got {deleted:?}"
        );
        assert!(
            load(storage, id, attempt).await.is_none(),
            "{attempt}: the session still loads"
        );
    }
    assert_shop(storage, &fixtures.shop_a, &[], "find after delete_session").await;

    let ids = vec![
        fixtures.online.id.clone(),
        format!("{}-never-stored", fixtures.shop_b),
        fixtures.expiring_offline.id.clone(),
    ];
    for attempt in ["delete_sessions", "delete_sessions of absent ids"] {
        let deleted = storage.delete_sessions(&ids).await;
        assert!(
            matches!(deleted, Ok(true)),
            "{attempt}: must return Ok(true), got {deleted:?}"
        );
        for id in &ids {
            assert!(
                load(storage, id, attempt).await.is_none(),
                "{attempt}: {id:?} still loads"
            );
        }
    }
    assert_shop(
        storage,
        &fixtures.shop_b,
        &[&fixtures.extended.id],
        "find after delete_sessions",
    )
    .await;
    let cleanup = storage
        .delete_sessions(std::slice::from_ref(&fixtures.extended.id))
        .await;
    assert!(
        matches!(cleanup, Ok(true)),
        "delete_sessions: cleanup failed: {cleanup:?}"
    );
    assert_shop(
        storage,
        &fixtures.shop_b,
        &[],
        "find after every session is deleted",
    )
    .await;
}

async fn invalid_sessions_are_rejected<S: SessionStorage>(storage: &S, tag: &str) {
    let shop = format!("{tag}-invalid.myshopify.com");
    let mut no_shop = Session::new(format!("offline_{shop}"), "", "", false);
    no_shop.access_token = Some("token".into());
    let control = Session::new(format!("{tag}-bad\nid"), &shop, "", false);
    let too_long = Session::new("x".repeat(crate::MAX_ID_LEN + 1), &shop, "", false);
    let empty_id = Session::new("", &shop, "", false);

    for (what, session) in [
        ("an empty shop", &no_shop),
        ("a control character in the id", &control),
        ("an id longer than MAX_ID_LEN", &too_long),
        ("an empty id", &empty_id),
    ] {
        let result = storage.store_session(session).await;
        assert!(
            matches!(result, Err(Error::InvalidSession(_))),
            "invalid session ({what}): store_session must fail with Error::InvalidSession, got {result:?}"
        );
        if !session.id.is_empty() {
            assert!(
                load(storage, &session.id, "invalid session")
                    .await
                    .is_none(),
                "invalid session ({what}): it was stored anyway"
            );
        }
    }
    assert_shop(storage, &shop, &[], "invalid session: nothing indexed").await;
}

async fn concurrent_tasks<S>(storage: &S, tag: &str)
where
    S: SessionStorage + Clone + 'static,
{
    let shop = format!("{tag}-concurrent.myshopify.com");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CONCURRENT_TASKS {
        let storage = storage.clone();
        let mut session = Session::new(format!("{shop}_{n}"), &shop, format!("state-{n}"), true);
        session.access_token = Some(format!("token-{n}"));
        session.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(n as u64)));
        tasks.spawn(async move {
            store(&storage, &session, "concurrent store").await;
            let loaded = load(&storage, &session.id, "concurrent load").await;
            match loaded {
                Some(loaded) => assert_same_session(&session, &loaded, "concurrent load"),
                None => panic!(
                    "concurrent load: {:?} returned None after its store",
                    session.id
                ),
            }
            session.id
        });
    }
    let mut ids = Vec::with_capacity(CONCURRENT_TASKS);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(id) => ids.push(id),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("concurrent tasks: a task failed: {error}"),
        }
    }
    let expected: Vec<&String> = ids.iter().collect();
    assert_shop(storage, &shop, &expected, "find after concurrent stores").await;
    let deleted = storage.delete_sessions(&ids).await;
    assert!(
        matches!(deleted, Ok(true)),
        "concurrent cleanup: {deleted:?}"
    );
    assert_shop(storage, &shop, &[], "find after concurrent cleanup").await;
}

async fn replace_is_a_compare_and_set<S: SessionStorage>(storage: &S, tag: &str) {
    let shop = format!("{tag}-cas.myshopify.com");
    let mut current = Session::new(format!("offline_{shop}"), &shop, "", false);
    current.access_token = Some("access-1".into());
    current.refresh_token = Some("refresh-1".into());
    current.refresh_token_expires = Some(at_millis(4_070_908_800_000));
    let mut next = current.clone();
    next.access_token = Some("access-2".into());
    next.refresh_token = Some("refresh-2".into());

    match storage.replace_session(&current, &next).await {
        Err(Error::Unsupported(_)) => return,
        Ok(false) => {}
        other => panic!("replace_session over nothing stored must be Ok(false), got {other:?}"),
    }
    assert_eq!(
        load(storage, &current.id, "replace over nothing").await,
        None,
        "replace_session over nothing stored must store nothing"
    );

    store(storage, &current, "replace: the session to replace").await;
    let replaced = storage.replace_session(&current, &next).await;
    assert!(
        matches!(replaced, Ok(true)),
        "replace_session over the expected tokens must be Ok(true), got {replaced:?}"
    );
    let loaded = load(storage, &current.id, "load after replace").await;
    assert_same_session(
        &next,
        &loaded.expect("the replacement"),
        "load after replace",
    );
    assert_shop(storage, &shop, &[&next.id], "find after replace").await;

    let mut late = current.clone();
    late.access_token = Some("access-late".into());
    let replaced = storage.replace_session(&current, &late).await;
    assert!(
        matches!(replaced, Ok(false)),
        "replace_session over other tokens must be Ok(false), got {replaced:?}"
    );
    let loaded = load(storage, &current.id, "load after a refused replace").await;
    assert_same_session(
        &next,
        &loaded.expect("the stored session"),
        "a refused replace",
    );

    let mut elsewhere = next.clone();
    elsewhere.id = format!("offline_{tag}-other.myshopify.com");
    let refused = storage.replace_session(&next, &elsewhere).await;
    assert!(
        matches!(refused, Err(Error::InvalidSession(_))),
        "replace_session with another id must be Error::InvalidSession, got {refused:?}"
    );
    let deleted = storage.delete_session(&current.id).await;
    assert!(matches!(deleted, Ok(true)), "replace cleanup: {deleted:?}");
}

async fn store<S: SessionStorage>(storage: &S, session: &Session, check: &str) {
    let stored = storage.store_session(session).await;
    assert!(
        matches!(stored, Ok(true)),
        "{check}: store_session({:?}) must return Ok(true), got {stored:?}",
        session.id
    );
}

async fn load<S: SessionStorage>(storage: &S, id: &str, check: &str) -> Option<Session> {
    match storage.load_session(id).await {
        Ok(loaded) => loaded,
        Err(error) => panic!("{check}: load_session({id:?}) failed: {error}"),
    }
}

async fn assert_shop<S: SessionStorage>(storage: &S, shop: &str, ids: &[&String], check: &str) {
    let found = match storage.find_sessions_by_shop(shop).await {
        Ok(found) => found,
        Err(error) => panic!("{check}: find_sessions_by_shop({shop:?}) failed: {error}"),
    };
    if let Some(stranger) = found.iter().find(|session| session.shop != shop) {
        panic!(
            "{check}: find_sessions_by_shop({shop:?}) returned {:?} of shop {:?}",
            stranger.id, stranger.shop
        );
    }
    let found_ids: Vec<&str> = found.iter().map(|session| session.id.as_str()).collect();
    let found_set: BTreeSet<&str> = found_ids.iter().copied().collect();
    let expected: BTreeSet<&str> = ids.iter().map(|id| id.as_str()).collect();
    assert!(
        found_set == expected && found_ids.len() == expected.len(),
        "{check}: find_sessions_by_shop({shop:?}) returned {found_ids:?}, expected {expected:?}"
    );
}

/// Compares two sessions field by field, so that a failure names the field.
fn assert_same_session(expected: &Session, actual: &Session, check: &str) {
    let id = &expected.id;
    let same = |field: &str, equal: bool| {
        assert!(
            equal,
            "{check}: field `{field}` of {id:?} differs after loading"
        );
    };
    same("id", expected.id == actual.id);
    same("shop", expected.shop == actual.shop);
    same("state", expected.state == actual.state);
    same("is_online", expected.is_online == actual.is_online);
    same("scope", expected.scope == actual.scope);
    same("expires", expected.expires == actual.expires);
    same("access_token", expected.access_token == actual.access_token);
    same(
        "refresh_token",
        expected.refresh_token == actual.refresh_token,
    );
    same(
        "refresh_token_expires",
        expected.refresh_token_expires == actual.refresh_token_expires,
    );
    same(
        "online_access_info",
        expected.online_access_info == actual.online_access_info,
    );
    same("extra", expected.extra == actual.extra);
}
