//! A million sessions on disk: how long an open takes after a SIGKILL (the repair included) and
//! after a clean close (first and second time), the memory of a process that loaded every
//! session once, and the size on disk against the payload. Each figure is one event, so this
//! is a plain program, not criterion; every step runs in a fresh process.
//!
//! `cargo bench --bench reopen --all-features`; `REOPEN_SESSIONS` sets how many (default
//! 1,000,000). `report.py` reads its output from the file `$REOPEN_LOG`.

#[path = "storage/data.rs"]
mod data;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use shopify_session_storage::{FlushPolicy, SessionStorage, SledSessionStorage};

fn sessions() -> u64 {
    std::env::var("REOPEN_SESSIONS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(1_000_000)
}

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// Child: stores every session (Periodic, 64 writers), makes them durable, says `ready` and
/// waits to be killed.
async fn fill(dir: &Path) {
    let storage = Arc::new(
        SledSessionStorage::builder(dir)
            .flush_policy(FlushPolicy::Periodic(Duration::from_secs(1)))
            .open()
            .unwrap(),
    );
    let count = sessions();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..64 {
        let storage = storage.clone();
        tasks.spawn(async move {
            for n in (0..count).skip(lane).step_by(64) {
                storage.store_session(&data::session(n)).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    storage.flush().await.unwrap();
    let payload: usize = (0..count)
        .map(|n| serde_json::to_vec(&data::session(n)).unwrap().len())
        .sum();
    println!(
        "filled {count} sessions in {:.1} s; payload (their session JSON) {} MiB",
        started.elapsed().as_secs_f64(),
        payload >> 20
    );
    println!("ready");
    tokio::time::sleep(Duration::from_secs(3_600)).await;
}

/// Child: opens, optionally loads every session once, closes; prints what it saw.
async fn open(dir: &Path, load_all: bool) {
    let started = Instant::now();
    let storage = SledSessionStorage::open(dir).unwrap();
    println!(
        "open: {:.2} s (RSS {} MiB)",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
    if load_all {
        let started = Instant::now();
        for n in 0..sessions() {
            assert!(storage.load_session(&data::id(n)).await.unwrap().is_some());
        }
        println!(
            "loaded every session once in {:.1} s: RSS {} MiB (cache capacity {} MiB), {} MiB on disk",
            started.elapsed().as_secs_f64(),
            rss_mib(),
            shopify_session_storage::DEFAULT_CACHE_CAPACITY >> 20,
            storage.size_on_disk().unwrap() >> 20
        );
    }
    storage.close().await.unwrap();
}

/// Runs this program as a child in `role`, printing its lines; returns once it printed `until`
/// (then kills it) or exited. Panics if it ended any other way, so that a failed step fails
/// the benchmark instead of leaving its figures out.
fn child(role: &str, dir: &Path, until: Option<&str>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("REOPEN_ROLE", role)
        .env("REOPEN_DIR", dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut killed = false;
    for line in lines {
        let line = line.unwrap();
        if until == Some(line.as_str()) {
            child.kill().unwrap(); // SIGKILL
            killed = true;
            break;
        }
        println!("  {role}: {line}");
    }
    let status = child.wait().unwrap();
    assert!(
        killed || status.success(),
        "{role}: the child ended with {status}"
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let (Ok(role), Ok(dir)) = (std::env::var("REOPEN_ROLE"), std::env::var("REOPEN_DIR")) {
        let dir = Path::new(&dir);
        match role.as_str() {
            "fill" => runtime.block_on(fill(dir)),
            // Loading every session in two processes tells the memory of a process that
            // repaired the database apart from that of one that did not.
            "open-after-kill" | "open-clean-second" => runtime.block_on(open(dir, true)),
            _ => runtime.block_on(open(dir, false)),
        }
        return;
    }
    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        return; // `cargo test --benches` and criterion's listing: nothing to do here.
    }
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = scratch.path().join("reopen");
    println!("{} sessions:", sessions());
    child("fill", &dir, Some("ready"));
    child("open-after-kill", &dir, None);
    child("open-clean-first", &dir, None);
    child("open-clean-second", &dir, None);
}
