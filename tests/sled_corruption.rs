//! A damaged record: only its own id fails, everything else goes on, verify reports it, and a
//! store or delete over it repairs the store.

mod common;

use std::{path::Path, time::Duration};

use shopify_session_storage::{Error, Session, SessionStorage, SledSessionStorage, VerifyProblem};

fn session(n: usize) -> Session {
    let shop = "damaged.myshopify.com";
    let mut session = Session::new(format!("{shop}_{n}"), shop, "", true);
    session.access_token = Some(format!("token-{n}"));
    // Already expired, so the sweeper has something to do.
    session.expires = Some(std::time::UNIX_EPOCH + Duration::from_secs(1_000 + n as u64));
    session
}

const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3_600);

/// Stores `count` sessions; their deadlines are fixed at store time, with this retention.
async fn fill(path: &Path, count: usize, retention: Duration) {
    let storage = SledSessionStorage::builder(path)
        .retention(retention)
        .open()
        .unwrap();
    for n in 0..count {
        storage.store_session(&session(n)).await.unwrap();
    }
}

/// Overwrites one record through a raw sled handle, with the storage closed.
fn damage(path: &Path, id: &str, bytes: &[u8]) {
    let db = common::open_raw(path);
    let sessions = db.open_tree("sessions").unwrap();
    assert!(sessions.insert(id.as_bytes(), bytes).unwrap().is_some());
    db.flush().unwrap();
}

#[tokio::test]
async fn only_the_damaged_id_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    fill(&path, 10, CENTURY).await;
    let victim = session(3).id;
    damage(&path, &victim, &[1, 0xff, 0xff, 0xff]);

    let storage = SledSessionStorage::open(&path).unwrap();
    let error = storage.load_session(&victim).await.unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { id, .. } if *id == victim),
        "{error:?}"
    );
    assert!(!error.to_string().contains("token"), "{error}");
    for n in (0..10).filter(|&n| n != 3) {
        assert_eq!(
            storage.load_session(&session(n).id).await.unwrap(),
            Some(session(n))
        );
    }

    // find skips it and returns the rest (retention is 100 years: all live).
    let found = storage
        .find_sessions_by_shop("damaged.myshopify.com")
        .await
        .unwrap();
    assert_eq!(found.len(), 9);

    let report = storage.verify().await.unwrap();
    assert_eq!(report.records, 10);
    assert!(
        matches!(report.problems.as_slice(), [VerifyProblem::Corrupt { id, .. }] if *id == victim),
        "{report}"
    );
}

#[tokio::test]
async fn sweep_skips_and_counts_the_damaged_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    fill(&path, 10, Duration::ZERO).await;
    let victim = session(5).id;
    damage(&path, &victim, b"\x07unknown version");

    // Stored without retention, every session is past its deadline.
    let storage = SledSessionStorage::open(&path).unwrap();
    let report = storage.sweep_expired().await.unwrap();
    assert_eq!(
        (report.removed, report.corrupt_skipped),
        (9, 1),
        "{report:?}"
    );
    assert_eq!(storage.len(), 1);
    let again = storage.sweep_expired().await.unwrap();
    assert_eq!(
        (again.removed, again.corrupt_skipped),
        (0, 1),
        "it is skipped every time, not lost"
    );
}

#[tokio::test]
async fn storing_or_deleting_over_a_damaged_record_repairs_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    fill(&path, 4, CENTURY).await;
    damage(&path, &session(1).id, &[]);
    damage(&path, &session(2).id, &[1, 2, 3]);

    let storage = SledSessionStorage::builder(&path)
        .retention(CENTURY)
        .open()
        .unwrap();
    let mut moved = session(1);
    moved.shop = "elsewhere.myshopify.com".into();
    storage.store_session(&moved).await.unwrap();
    storage.delete_session(&session(2).id).await.unwrap();

    assert_eq!(storage.load_session(&moved.id).await.unwrap(), Some(moved));
    assert_eq!(storage.load_session(&session(2).id).await.unwrap(), None);
    // The corrupt records' old index entries could not be named: they stay as stale entries,
    // which finds skip, until a repair removes them.
    let report = storage.verify().await.unwrap();
    assert!(report.is_sound(), "{report}");
    assert!(!report.is_clean(), "{report}");
    storage.repair().await.unwrap();
    let report = storage.verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        storage
            .find_sessions_by_shop("damaged.myshopify.com")
            .await
            .unwrap()
            .len(),
        2
    );
}
