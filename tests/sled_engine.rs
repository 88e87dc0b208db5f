//! The engine's promises about its files: what a crash leaves behind opens, nothing reaches
//! sled's (never synced) blob files, an old database migrates, a newer one is refused, and
//! an unclean shutdown is repaired on the next open.

use std::path::Path;

use shopify_session_storage::{Error, MAX_ID_LEN, Session, SessionStorage, SledSessionStorage};

/// sled's segment size of the databases this version creates (see `layout.rs`).
const NEW_SEGMENT_SIZE: usize = 8 * 1024 * 1024;

fn session(n: usize) -> Session {
    let shop = format!("engine-{}.myshopify.com", n % 7);
    let mut session = Session::new(format!("{shop}_{n}"), &shop, "", true);
    session.access_token = Some(format!("token-{n}"));
    session
}

fn raw(path: &Path, segment_size: usize) -> sled::Db {
    sled::Config::new()
        .path(path)
        .segment_size(segment_size)
        .flush_every_ms(None)
        .open()
        .unwrap()
}

#[tokio::test]
async fn an_unfinished_snapshot_left_by_a_crash_is_removed_before_opening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = SledSessionStorage::open(&path).unwrap();
    storage.store_session(&session(1)).await.unwrap();
    storage.close().await.unwrap();
    // What a crash in the middle of sled's snapshot write leaves: a truncated file that sorts
    // after every real snapshot.
    let planted = path.join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&planted, b"\x01\x02\x03").unwrap();

    let storage = SledSessionStorage::open(&path).unwrap();
    assert!(!planted.exists());
    assert_eq!(
        storage.load_session(&session(1).id).await.unwrap(),
        Some(session(1))
    );
}

#[tokio::test]
async fn the_largest_records_never_reach_sleds_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = SledSessionStorage::open(&path).unwrap();
    let limit = storage.max_record_bytes();
    for n in 0..200 {
        let shop = format!("{}.myshopify.com", "s".repeat(200 + n % 40));
        let id = format!("{n:05}{}", "i".repeat(MAX_ID_LEN - 5));
        let mut session = Session::new(id, &shop, "", false);
        // Grow the state until the record is as large as the store takes.
        let mut state_len = limit - 900;
        loop {
            session.state = "x".repeat(state_len);
            match storage.store_session(&session).await {
                Ok(_) => state_len += 16,
                Err(Error::InvalidSession(_)) => break,
                Err(error) => panic!("{error}"),
            }
        }
    }
    storage.flush().await.unwrap();
    let blobs: Vec<_> = std::fs::read_dir(path.join("blobs"))
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(blobs.is_empty(), "sled wrote blob files: {blobs:?}");
    assert!(storage.verify().await.unwrap().is_clean());
}

#[tokio::test]
async fn a_database_of_version_0_1_opens_repaired_and_keeps_its_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // Version 0.1's layout: sled's default 512 KiB segments, the three trees, no `meta` entry.
    // Its index is written half here (one session lacks its shop entry), as a crash could
    // leave it.
    {
        let db = raw(&path, 512 * 1024);
        let sessions = db.open_tree("sessions").unwrap();
        let by_shop = db.open_tree("by_shop").unwrap();
        for n in 0..3 {
            let session = session(n);
            let record = shopify_session_storage::internals::encode_record(&session, None).unwrap();
            sessions.insert(session.id.as_bytes(), record).unwrap();
            if n != 2 {
                let mut key = session.shop.as_bytes().to_vec();
                key.push(0);
                key.extend_from_slice(session.id.as_bytes());
                by_shop.insert(key, &[]).unwrap();
            }
        }
        db.flush().unwrap();
    }

    let storage = SledSessionStorage::open(&path).unwrap();
    assert_eq!(storage.max_record_bytes(), 6 * 1024);
    assert!(storage.verify().await.unwrap().is_clean());
    let found = storage
        .find_sessions_by_shop(&session(2).shop)
        .await
        .unwrap();
    assert!(found.contains(&session(2)), "the missing entry was rebuilt");
    storage.close().await.unwrap();
    // Opened again: the meta entry is there and the segment size unchanged.
    let storage = SledSessionStorage::open(&path).unwrap();
    assert_eq!(storage.max_record_bytes(), 6 * 1024);
    assert_eq!(storage.len(), 3);
}

#[tokio::test]
async fn a_database_of_a_newer_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = raw(&path, NEW_SEGMENT_SIZE);
        // meta format 1: layout version 99 (varint), clean.
        db.insert("meta", &[1, 99, 1]).unwrap();
        db.flush().unwrap();
    }
    let error = SledSessionStorage::open(&path).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidConfig(message) if message.contains("layout version 99")),
        "{error}"
    );
}

#[tokio::test]
async fn an_unclean_shutdown_is_repaired_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = SledSessionStorage::open(&path).unwrap();
    storage.store_session(&session(1)).await.unwrap();
    storage.close().await.unwrap();
    {
        // What a non-prefix log recovery can leave: a record without its shop entry, and the
        // marker of a process that never closed the database.
        let db = raw(&path, NEW_SEGMENT_SIZE);
        let by_shop = db.open_tree("by_shop").unwrap();
        let key = by_shop.iter().keys().next().unwrap().unwrap();
        by_shop.remove(key).unwrap();
        db.insert("meta", &[1, 1, 0]).unwrap();
        db.flush().unwrap();
    }
    let storage = SledSessionStorage::open(&path).unwrap();
    assert!(storage.verify().await.unwrap().is_clean());
    assert_eq!(
        storage
            .find_sessions_by_shop(&session(1).shop)
            .await
            .unwrap(),
        vec![session(1)]
    );
}

#[tokio::test]
async fn close_reports_and_then_every_clone_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = SledSessionStorage::open(&path).unwrap();
    let clone = storage.clone();
    storage.store_session(&session(1)).await.unwrap();
    storage.close().await.unwrap();
    assert!(matches!(
        clone.store_session(&session(2)).await,
        Err(Error::Closed)
    ));
    assert!(matches!(clone.clone().close().await, Err(Error::Closed)));
    drop(clone);
    let storage = SledSessionStorage::open(&path).unwrap();
    assert_eq!(
        storage.load_session(&session(1).id).await.unwrap(),
        Some(session(1))
    );
}
