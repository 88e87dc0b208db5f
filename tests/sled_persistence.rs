//! SledSessionStorage across reopen, and what happens when the path is taken or the settings
//! are wrong.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use shopify_session_storage::{
    AssociatedUser, Error, FlushPolicy, OnlineAccessInfo, Session, SessionStorage,
    SledSessionStorage,
};

fn sessions(count: usize) -> Vec<Session> {
    (0..count)
        .map(|n| {
            let shop = format!("shop-{}.myshopify.com", n % 7);
            let mut session = Session::new(
                format!("{shop}_{n}"),
                &shop,
                format!("state-{n}"),
                n % 2 == 0,
            );
            session.scope = Some("read_products".into());
            session.access_token = Some(format!("token-{n}"));
            session.expires = Some(UNIX_EPOCH + Duration::new(4_070_908_800, 1_000 * n as u32));
            if session.is_online {
                let mut info = OnlineAccessInfo::new(AssociatedUser::new(n as u64));
                info.extra.insert("account_number".into(), json!(n));
                session.online_access_info = Some(info);
            }
            session.extra.insert("n".into(), json!(n));
            session
        })
        .collect()
}

#[tokio::test]
async fn everything_loads_identically_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let written = sessions(300);
    {
        let storage = SledSessionStorage::open(&path).unwrap();
        for session in &written {
            storage.store_session(session).await.unwrap();
        }
        storage.delete_session(&written[0].id).await.unwrap();
    }
    let storage = SledSessionStorage::open(&path).unwrap();
    assert_eq!(storage.load_session(&written[0].id).await.unwrap(), None);
    for session in &written[1..] {
        assert_eq!(
            storage.load_session(&session.id).await.unwrap().as_ref(),
            Some(session)
        );
    }
    for shop_number in 0..7 {
        let shop = format!("shop-{shop_number}.myshopify.com");
        let mut found: Vec<String> = storage
            .find_sessions_by_shop(&shop)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        let mut expected: Vec<String> = written[1..]
            .iter()
            .filter(|s| s.shop == shop)
            .map(|s| s.id.clone())
            .collect();
        found.sort();
        expected.sort();
        assert_eq!(found, expected, "{shop}");
    }
    assert_eq!(storage.len(), 299);
    let report = storage.verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn periodic_writes_survive_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let written = sessions(20);
    {
        let storage = SledSessionStorage::builder(&path)
            .flush_policy(FlushPolicy::Periodic(Duration::from_secs(3_600)))
            .open()
            .unwrap();
        for session in &written {
            storage.store_session(session).await.unwrap();
        }
        storage.flush().await.unwrap();
    }
    let storage = SledSessionStorage::open(&path).unwrap();
    assert_eq!(storage.len(), 20);
}

#[tokio::test]
async fn a_second_open_is_locked_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let first = SledSessionStorage::open(&path).unwrap();
    let started = SystemTime::now();
    let error = SledSessionStorage::open(&path).unwrap_err();
    assert!(
        started.elapsed().unwrap() < Duration::from_secs(5),
        "it must not wait for the lock"
    );
    match &error {
        Error::Locked { path: locked, .. } => assert_eq!(locked, &path),
        other => panic!("expected Error::Locked, got {other:?}"),
    }
    assert!(
        error.to_string().contains("another SledSessionStorage"),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some());

    // Dropping every clone releases the lock.
    let clone = first.clone();
    drop(first);
    assert!(matches!(
        SledSessionStorage::open(&path),
        Err(Error::Locked { .. })
    ));
    drop(clone);
    SledSessionStorage::open(&path).unwrap();
}

#[test]
fn bad_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let error = SledSessionStorage::builder(dir.path().join("db"))
        .flush_policy(FlushPolicy::Periodic(Duration::from_micros(10)))
        .open()
        .unwrap_err();
    assert!(
        matches!(error, Error::InvalidConfig(ref m) if m.contains("Periodic")),
        "{error}"
    );
    let error = SledSessionStorage::builder(dir.path().join("db"))
        .cache_capacity(0)
        .open()
        .unwrap_err();
    assert!(
        matches!(error, Error::InvalidConfig(ref m) if m.contains("cache_capacity")),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn the_database_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("db");
    let _storage = SledSessionStorage::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[tokio::test]
async fn invalid_and_oversized_sessions_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SledSessionStorage::open(dir.path().join("db")).unwrap();
    let mut big = Session::new("offline_big.myshopify.com", "big.myshopify.com", "", false);
    big.extra
        .insert("blob".into(), json!("x".repeat(70 * 1024)));
    let error = storage.store_session(&big).await.unwrap_err();
    assert!(
        matches!(error, Error::InvalidSession(ref m) if m.contains("bytes")),
        "{error}"
    );
    assert!(storage.is_empty());
    assert!(
        storage
            .find_sessions_by_shop("big.myshopify.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(storage.verify().await.unwrap().is_clean());
}

#[tokio::test]
async fn debug_output_holds_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SledSessionStorage::open(dir.path().join("db")).unwrap();
    let mut session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
    session.access_token = Some("shpat_SECRET".into());
    storage.store_session(&session).await.unwrap();
    let loaded = storage.load_session(&session.id).await.unwrap();
    let text = format!("{storage:?} {loaded:?}");
    assert!(!text.contains("SECRET"), "{text}");
}
