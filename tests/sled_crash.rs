//! Crash consistency: a child process stores and deletes sessions with `FlushPolicy::EveryWrite`
//! and reports each operation once it has resolved; the test SIGKILLs it at random moments,
//! reopens the database and checks that every reported store loads intact, every reported
//! delete stayed deleted, and `verify()` is clean.
//!
//! The child is this same test binary, started with `CRASH_CHILD_DB` set, running
//! `crash_child_process`; without that variable that function returns at once.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{Rng, seed};
use serde_json::json;
use shopify_session_storage::{
    AssociatedUser, OnlineAccessInfo, Session, SessionStorage, SledSessionStorage,
};

const ROUNDS: u64 = 20;
const CHILD_DB: &str = "CRASH_CHILD_DB";
const CHILD_FIRST_ID: &str = "CRASH_CHILD_FIRST_ID";

/// The session with number `n`, the same in child and parent.
fn session(n: u64) -> Session {
    let shop = format!("crash-{}.myshopify.com", n % 13);
    let mut session = Session::new(format!("{shop}_{n}"), &shop, format!("state-{n}"), true);
    session.scope = Some("write_products".into());
    session.access_token = Some(format!("token-{n}"));
    session.expires = Some(std::time::UNIX_EPOCH + Duration::from_millis(4_070_908_800_000 + n));
    let mut info = OnlineAccessInfo::new(AssociatedUser::new(n));
    info.extra
        .insert("padding".into(), json!("x".repeat((n % 200) as usize)));
    session.online_access_info = Some(info);
    session
}

/// Session `n` after it moved to another shop (a store that moves its index entries).
fn moved(n: u64) -> Session {
    let mut session = session(n);
    session.shop = format!("crash-moved-{}.myshopify.com", n % 5);
    session.state = format!("moved-{n}");
    session
}

/// The child's work: store new sessions, now and then move an earlier one to another shop or
/// delete one, and report each operation on stdout only after it resolved. Runs until it is
/// killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_process() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return; // not started as the child
    };
    let first: u64 = std::env::var(CHILD_FIRST_ID).unwrap().parse().unwrap();
    let storage = SledSessionStorage::open(path).unwrap();
    let mut stdout = std::io::stdout();
    let mut n = first;
    loop {
        storage.store_session(&session(n)).await.unwrap();
        writeln!(stdout, "stored {n}").unwrap();
        if n % 5 == 4 {
            writeln!(stdout, "moving {}", n - 1).unwrap();
            storage.store_session(&moved(n - 1)).await.unwrap();
            writeln!(stdout, "moved {}", n - 1).unwrap();
        }
        if n % 4 == 3 {
            let victim = n - 2;
            writeln!(stdout, "deleting {victim}").unwrap();
            storage.delete_session(&session(victim).id).await.unwrap();
            writeln!(stdout, "deleted {victim}").unwrap();
        }
        stdout.flush().unwrap();
        n += 1;
    }
}

#[derive(Default)]
struct Outcome {
    moving: BTreeSet<u64>,
    moved: BTreeSet<u64>,
    stored: BTreeSet<u64>,
    deleting: BTreeSet<u64>,
    deleted: BTreeSet<u64>,
}

/// Runs the child until at least one store resolved, plus a random delay; then kills it.
fn run_child_and_kill(path: &Path, first_id: u64, rng: &mut Rng) -> Outcome {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, path)
        .env(CHILD_FIRST_ID, first_id.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut outcome = Outcome::default();
    let record = |line: String, outcome: &mut Outcome| {
        let (what, n) = line.split_once(' ').unwrap_or(("", ""));
        let Ok(n) = n.parse::<u64>() else { return };
        match what {
            "stored" => outcome.stored.insert(n),
            "deleting" => outcome.deleting.insert(n),
            "deleted" => outcome.deleted.insert(n),
            "moving" => outcome.moving.insert(n),
            "moved" => outcome.moved.insert(n),
            _ => false,
        };
    };
    // Wait for the first store, so every round kills a child that is writing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while outcome.stored.is_empty() {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = lines_rx
            .recv_timeout(wait)
            .expect("the child never stored a session");
        record(line, &mut outcome);
    }
    std::thread::sleep(Duration::from_millis(rng.below(300)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    for line in lines_rx.try_iter() {
        record(line, &mut outcome);
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_writes_survive_sigkill() {
    let mut rng = Rng::new(seed());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // What must hold across all rounds: the session that must load (and be found by its
    // shop), or `None`: it must be absent.
    let mut expected: BTreeMap<u64, Option<Session>> = BTreeMap::new();
    let mut first_id = 0;
    let mut total_reported = 0;
    for round in 0..ROUNDS {
        let outcome = run_child_and_kill(&path, first_id, &mut rng);
        total_reported += outcome.stored.len();
        for &n in &outcome.stored {
            expected.insert(n, Some(session(n)));
        }
        for &n in &outcome.moving {
            if outcome.moved.contains(&n) {
                expected.insert(n, Some(moved(n)));
            } else {
                expected.remove(&n); // the kill came mid-move: either version is right
            }
        }
        for &n in &outcome.deleting {
            if outcome.deleted.contains(&n) {
                expected.insert(n, None);
            } else {
                expected.remove(&n); // the kill came mid-delete: either outcome is right
            }
        }
        first_id = outcome.stored.last().unwrap() + 1_000;

        let storage = SledSessionStorage::open(&path).unwrap();
        for (&n, want) in &expected {
            let loaded = storage.load_session(&session(n).id).await.unwrap();
            assert_eq!(&loaded, want, "round {round}: session {n} as reported");
            if let Some(want) = want {
                let found = storage.find_sessions_by_shop(&want.shop).await.unwrap();
                assert!(
                    found.contains(want),
                    "round {round}: session {n} not found by its shop"
                );
            }
        }
        // Every acknowledged session has its entries; a write cut short may leave stale ones.
        let report = storage.verify().await.unwrap();
        assert!(report.is_sound(), "round {round}: {report}");
    }
    eprintln!(
        "{ROUNDS} rounds, {total_reported} reported stores, {} checked ids",
        expected.len()
    );
}
