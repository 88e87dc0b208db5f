//! Tokens encrypted at rest in the sled store: round trips, records that must not open, the
//! database's encryption flag, key rotation resumed after a SIGKILL, decryption, and scans of
//! the database's files for a token that must not be there.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use shopify_session_storage::{
    CorruptRecord, Error, FlushPolicy, Session, SessionStorage, SledSessionStorage,
    encryption::{EncryptionKey, KeySet},
    refresh::{RefreshFailure, TokenGrant, TokenRefresher},
};

const SHOP: &str = "sealed.myshopify.com";
/// Part of every token stored here: no file of an encrypted database may hold it.
const MARKER: &str = "TOKENMARKER7f3a";

fn key(id: &str, byte: u8) -> EncryptionKey {
    EncryptionKey::new(id, [byte; 32]).unwrap()
}

fn keys(active: (&str, u8)) -> KeySet {
    KeySet::new(key(active.0, active.1))
}

fn session(n: u64) -> Session {
    let mut session = Session::new(format!("{SHOP}_{n}"), SHOP, "state", true);
    session.scope = Some("read_products".into());
    session.access_token = Some(format!("shpua_{MARKER}_{n}"));
    session.refresh_token = Some(format!("shprt_{MARKER}_{n}"));
    // A fixed date (in 2099), so that two calls give equal sessions.
    session.expires = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(4_070_908_800));
    session
}

/// The database at `path` opened with `keys` for reading only: an encrypted one is read and
/// written with them, one that is not stays so (`SledSessionStorageBuilder::keys`).
fn open_reading(path: &Path, keys: KeySet) -> SledSessionStorage {
    SledSessionStorage::builder(path)
        .flush_policy(FlushPolicy::EveryWrite)
        .keys(keys)
        .open()
        .unwrap()
}

fn open_error(path: &Path, keys: KeySet) -> Error {
    SledSessionStorage::builder(path)
        .encryption(keys)
        .open()
        .expect_err("the open checks the keys")
}

fn open(path: &Path, keys: Option<KeySet>) -> SledSessionStorage {
    let builder = SledSessionStorage::builder(path).flush_policy(FlushPolicy::EveryWrite);
    match keys {
        Some(keys) => builder.encryption(keys),
        None => builder,
    }
    .open()
    .unwrap()
}

/// Files under `dir` whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn corrupt_reason(error: &Error) -> &CorruptRecord {
    match error {
        Error::Corrupt { source, .. } => source,
        other => panic!("expected Error::Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn sealed_sessions_round_trip_and_no_file_holds_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, Some(keys(("k1", 1))));
    for n in 0..50 {
        storage.store_session(&session(n)).await.unwrap();
    }
    assert_eq!(
        storage.load_session(&session(7).id).await.unwrap(),
        Some(session(7))
    );
    let found = storage.find_sessions_by_shop(SHOP).await.unwrap();
    assert_eq!(found.len(), 50);
    assert!(found.contains(&session(49)));
    storage.close().await.unwrap();
    assert_eq!(files_holding(&path, MARKER), Vec::<String>::new());

    let reopened = open(&path, Some(keys(("k1", 1))));
    assert_eq!(
        reopened.load_session(&session(3).id).await.unwrap(),
        Some(session(3))
    );
}

#[tokio::test]
async fn a_record_moved_under_another_id_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, Some(keys(("k1", 1))));
    storage.store_session(&session(1)).await.unwrap();
    storage.store_session(&session(2)).await.unwrap();
    storage.close().await.unwrap();

    // Session 1's record copied over session 2's, behind the storage's back.
    let raw = common::open_raw(&path);
    let sessions = raw.open_tree("sessions").unwrap();
    let record = sessions.get(session(1).id.as_bytes()).unwrap().unwrap();
    sessions.insert(session(2).id.as_bytes(), record).unwrap();
    raw.flush().unwrap();
    drop((sessions, raw));

    let storage = open(&path, Some(keys(("k1", 1))));
    let error = storage.load_session(&session(2).id).await.unwrap_err();
    assert!(
        matches!(corrupt_reason(&error), CorruptRecord::Unsealable { key_id } if key_id == "k1"),
        "{error:?}"
    );
    assert_eq!(
        storage.load_session(&session(1).id).await.unwrap(),
        Some(session(1))
    );
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_a_clear_error_and_no_keys_means_no_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, Some(keys(("k1", 1))));
    storage.store_session(&session(1)).await.unwrap();
    storage.close().await.unwrap();

    // Another key under the same id: the app's open fails, naming the key.
    let error = open_error(&path, keys(("k1", 2)));
    assert!(
        matches!(corrupt_reason(&error), CorruptRecord::Unsealable { key_id } if key_id == "k1"),
        "{error:?}"
    );
    // A key set without the record's key.
    let error = open_error(&path, keys(("k2", 2)));
    let text = common::error_text(&error);
    assert!(text.contains("sealed with encryption key \"k1\""), "{text}");

    // A tool that opens with keys for reading gets the error for the record only.
    let storage = open_reading(&path, keys(("k1", 2)));
    let error = storage.load_session(&session(1).id).await.unwrap_err();
    assert!(
        matches!(corrupt_reason(&error), CorruptRecord::Unsealable { .. }),
        "{error:?}"
    );
    storage.close().await.unwrap();

    // No keys at all: reads that need no key work, tokens do not, writes are refused.
    let storage = open(&path, None);
    let error = storage.load_session(&session(1).id).await.unwrap_err();
    assert!(
        matches!(corrupt_reason(&error), CorruptRecord::MissingKey { key_id } if key_id == "k1"),
        "{error:?}"
    );
    let error = storage.store_session(&session(2)).await.unwrap_err();
    assert!(
        matches!(error, Error::EncryptionKeysRequired { .. }),
        "{error:?}"
    );
    assert!(storage.verify().await.unwrap().is_sound());
    assert!(storage.delete_session(&session(1).id).await.unwrap());
    storage.close().await.unwrap();
    assert_eq!(files_holding(&path, MARKER), Vec::<String>::new());
}

#[tokio::test]
async fn plain_records_are_sealed_by_rotate_and_gone_from_the_files_after_compact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, None);
    for n in 0..30 {
        storage.store_session(&session(n)).await.unwrap();
    }
    storage.close().await.unwrap();
    assert!(
        !files_holding(&path, MARKER).is_empty(),
        "plain tokens are on disk"
    );

    // Encryption on: old records still read, new ones are sealed, rotate seals the rest.
    let storage = open(&path, Some(keys(("k1", 1))));
    assert_eq!(
        storage.load_session(&session(4).id).await.unwrap(),
        Some(session(4))
    );
    storage.store_session(&session(100)).await.unwrap();
    let mut ticks = 0;
    let report = storage.rotate_keys(&mut || ticks += 1).await.unwrap();
    assert_eq!((report.rewritten, report.already_done, ticks), (30, 1, 31));
    assert!(report.left_out.is_empty());
    let again = storage.rotate_keys(&mut || {}).await.unwrap();
    assert_eq!((again.rewritten, again.already_done), (0, 31));

    let copy = dir.path().join("copy");
    let compacted = storage.compact_into(&copy, &mut || {}).await.unwrap();
    assert_eq!(compacted.copied, 31);
    storage.close().await.unwrap();
    assert_eq!(files_holding(&copy, MARKER), Vec::<String>::new());

    let copy = open(&copy, Some(keys(("k1", 1))));
    assert_eq!(
        copy.load_session(&session(29).id).await.unwrap(),
        Some(session(29))
    );
}

#[tokio::test]
async fn rotation_moves_every_record_to_the_active_key_and_decrypt_turns_encryption_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, Some(keys(("old", 1))));
    for n in 0..20 {
        storage.store_session(&session(n)).await.unwrap();
    }
    storage.close().await.unwrap();

    let both = KeySet::new(key("new", 2)).with_old(key("old", 1)).unwrap();
    let storage = open(&path, Some(both));
    assert_eq!(storage.rotate_keys(&mut || {}).await.unwrap().rewritten, 20);
    storage.close().await.unwrap();

    // The old key is no longer needed.
    let storage = open(&path, Some(keys(("new", 2))));
    for n in 0..20 {
        assert_eq!(
            storage.load_session(&session(n).id).await.unwrap(),
            Some(session(n))
        );
    }
    let report = storage.decrypt_all(&mut || {}).await.unwrap();
    assert_eq!(report.rewritten, 20);
    storage.store_session(&session(50)).await.unwrap();
    storage.close().await.unwrap();

    // Plain again: no keys needed to read or write.
    let storage = open(&path, None);
    assert_eq!(
        storage.load_session(&session(50).id).await.unwrap(),
        Some(session(50))
    );
    assert_eq!(
        storage.load_session(&session(5).id).await.unwrap(),
        Some(session(5))
    );
    storage.store_session(&session(51)).await.unwrap();
    storage.close().await.unwrap();
}

#[tokio::test]
async fn rotation_with_keys_missing_for_some_records_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, Some(keys(("lost", 9))));
    storage.store_session(&session(1)).await.unwrap();
    storage.close().await.unwrap();

    let storage = open_reading(&path, keys(("new", 2)));
    let report = storage.rotate_keys(&mut || {}).await.unwrap();
    assert_eq!(report.rewritten, 0);
    assert_eq!(report.left_out.len(), 1);
    assert!(
        report.left_out[0].1.contains("\"lost\""),
        "{:?}",
        report.left_out
    );
    storage.close().await.unwrap();
}

#[tokio::test]
async fn keys_never_show_in_debug_or_errors() {
    let key = EncryptionKey::from_text("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap();
    assert_eq!(format!("{key:?}"), r#"EncryptionKey { id: "k1", .. }"#);
    let error = EncryptionKey::from_env("SHOPIFY_SESSIONS_TEST_NO_SUCH_KEY").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("SHOPIFY_SESSIONS_TEST_NO_SUCH_KEY is not set"),
        "{error}"
    );
    let builder = SledSessionStorage::builder("unused").encryption(KeySet::new(key));
    let debug = format!("{builder:?}");
    assert!(
        debug.contains("\"k1\"") && !debug.contains("AQEB"),
        "{debug}"
    );
}

#[tokio::test]
async fn the_refresher_keeps_working_on_an_encrypted_store() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir.path().join("db"), Some(keys(("k1", 1))));
    let mut expiring = session(1);
    expiring.expires = Some(SystemTime::now() + Duration::from_secs(60));
    storage.store_session(&expiring).await.unwrap();
    let refresher = TokenRefresher::new(
        storage.clone(),
        |mut session: Session, _: TokenGrant| async move {
            session.access_token = Some("shpua_new".into());
            session.refresh_token = Some("shprt_new".into());
            session.expires = Some(SystemTime::now() + Duration::from_secs(3_600));
            Ok::<_, RefreshFailure>(session)
        },
    );
    let fresh = refresher
        .fresh_session(&expiring.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fresh.access_token.as_deref(), Some("shpua_new"));
    let stored = storage.load_session(&expiring.id).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.as_deref(), Some("shprt_new"));
}

#[tokio::test]
async fn keys_for_reading_leave_a_plain_database_plain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, None);
    storage.store_session(&session(1)).await.unwrap();
    storage.close().await.unwrap();

    let storage = open_reading(&path, keys(("k1", 1)));
    storage.store_session(&session(2)).await.unwrap();
    storage.close().await.unwrap();
    assert!(
        !files_holding(&path, &format!("{MARKER}_2")).is_empty(),
        "written plain"
    );

    // An app without keys still writes.
    let storage = open(&path, None);
    storage.store_session(&session(3)).await.unwrap();
    storage.close().await.unwrap();
}

/// Stores sessions `0..count` over and over until `stop` is set (at once, mid-round: the
/// records a pass has already visited must be in its form too), each round with a new scope;
/// returns the last version stored of each.
async fn keep_storing(
    storage: SledSessionStorage,
    count: u64,
    stop: Arc<AtomicBool>,
) -> Vec<Session> {
    let mut last: Vec<Session> = (0..count).map(session).collect();
    let mut round = 0;
    while round == 0 || !stop.load(Ordering::Acquire) {
        for (n, latest) in (0..count).zip(last.iter_mut()) {
            if round > 0 && stop.load(Ordering::Acquire) {
                break;
            }
            let mut next = session(n);
            next.scope = Some(format!("read_products,round_{round}"));
            storage.store_session(&next).await.unwrap();
            *latest = next;
        }
        round += 1;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_that_run_beside_stores_leave_every_record_in_their_form() {
    const COUNT: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, Some(keys(("old", 1))));
    for n in 0..COUNT {
        storage.store_session(&session(n)).await.unwrap();
    }
    storage.close().await.unwrap();

    // Rotation to a new key while the app stores: afterwards the new key alone opens all.
    let both = KeySet::new(key("new", 2)).with_old(key("old", 1)).unwrap();
    let storage = open(&path, Some(both));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_storing(storage.clone(), COUNT, Arc::clone(&stop)));
    storage.rotate_keys(&mut || {}).await.unwrap();
    stop.store(true, Ordering::Release);
    let stored = writer.await.unwrap();
    storage.close().await.unwrap();
    let storage = open(&path, Some(keys(("new", 2))));
    for session in &stored {
        assert_eq!(
            storage.load_session(&session.id).await.unwrap().as_ref(),
            Some(session)
        );
    }

    // Decryption while the app stores: afterwards no key is needed for any.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_storing(storage.clone(), COUNT, Arc::clone(&stop)));
    storage.decrypt_all(&mut || {}).await.unwrap();
    stop.store(true, Ordering::Release);
    let stored = writer.await.unwrap();
    storage.close().await.unwrap();
    let storage = open(&path, None);
    for session in &stored {
        assert_eq!(
            storage.load_session(&session.id).await.unwrap().as_ref(),
            Some(session)
        );
    }
    storage.close().await.unwrap();
}

const CHILD_DB: &str = "ROTATE_CHILD_DB";

/// The child: rotates the database at `ROTATE_CHILD_DB` to key `new`, reporting each record
/// on stdout, slowly, until it is killed.
#[tokio::test]
async fn rotate_child_process() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return; // not started as the child
    };
    let both = KeySet::new(key("new", 2)).with_old(key("old", 1)).unwrap();
    let storage = open(Path::new(&path), Some(both));
    let mut stdout = std::io::stdout();
    let mut tick = || {
        writeln!(stdout, "record").unwrap();
        stdout.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    };
    storage.rotate_keys(&mut tick).await.unwrap();
    writeln!(std::io::stdout(), "done").unwrap();
    // Killed before it gets here, or it would close cleanly.
    std::thread::sleep(Duration::from_secs(3_600));
}

#[tokio::test]
async fn rotation_killed_half_way_resumes_and_every_session_opens_with_the_new_key() {
    const SESSIONS: u64 = 400;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let storage = open(&path, Some(keys(("old", 1))));
    for n in 0..SESSIONS {
        storage.store_session(&session(n)).await.unwrap();
    }
    storage.close().await.unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "rotate_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    while seen < SESSIONS / 2 {
        assert!(Instant::now() < deadline, "the child never got half-way");
        match lines.next() {
            Some(Ok(line)) if line == "record" => seen += 1,
            Some(Ok(_)) => {}
            _ => panic!("the child stopped after {seen} records"),
        }
    }
    child.kill().unwrap(); // SIGKILL, half-way through
    child.wait().unwrap();

    let both = KeySet::new(key("new", 2)).with_old(key("old", 1)).unwrap();
    let storage = open(&path, Some(both));
    let report = storage.rotate_keys(&mut || {}).await.unwrap();
    assert!(report.left_out.is_empty(), "{:?}", report.left_out);
    assert!(
        report.already_done > 0,
        "the killed pass had rewritten some: {report:?}"
    );
    assert!(
        report.rewritten > 0,
        "the killed pass had not finished: {report:?}"
    );
    assert_eq!(report.rewritten + report.already_done, SESSIONS as usize);
    storage.close().await.unwrap();

    let storage = open(&path, Some(keys(("new", 2))));
    for n in 0..SESSIONS {
        assert_eq!(
            storage.load_session(&session(n).id).await.unwrap(),
            Some(session(n))
        );
    }
}
