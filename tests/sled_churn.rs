//! Disk growth under churn: 2,000 long-lived sessions that stay put, beside a rolling working
//! set of 5,000 short-lived ones stored and deleted 200,000 times, must not make the database
//! grow without bound. The long-lived records pin the segments they sit in, which is what sled's
//! segment cleaner has to work around; sled's own flusher thread (the other caller of its
//! cleaner) is never started (see `budget.rs`), so this shows the cleaning that rides on
//! page rewrites keeps up.
//!
//! Runs with `FlushPolicy::Periodic` (full speed); `CHURN_EVERY_WRITE=1` runs it with
//! `FlushPolicy::EveryWrite` (slower: one fdatasync per operation).

use std::time::Duration;

use shopify_session_storage::{FlushPolicy, Session, SessionStorage, SledSessionStorage};

const LIVE: u64 = 5_000;
const LONG_LIVED: u64 = 2_000;
const OPERATIONS: u64 = 200_000;
const BASELINE_AFTER: u64 = 20_000;
const ALLOWED_GROWTH: u64 = 4;

fn session(n: u64) -> Session {
    let shop = format!("churn-{}.myshopify.com", n % 50);
    let mut session = Session::new(format!("{shop}_{n}"), &shop, "state", true);
    session.access_token = Some(format!("shpua_{n:032}"));
    session.scope = Some("write_products,read_orders,read_customers".into());
    session.expires = Some(std::time::UNIX_EPOCH + Duration::from_secs(4_070_908_800));
    session
}

/// A session that stays for the whole test, ids interleaved with the churning ones.
fn long_lived(n: u64) -> Session {
    let mut session = session(n);
    session.id = format!("{}_keep", session.id);
    session.state = "long-lived".into();
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_use_stays_bounded_under_churn() {
    let dir = tempfile::tempdir().unwrap();
    let policy = match std::env::var("CHURN_EVERY_WRITE") {
        Ok(_) => FlushPolicy::EveryWrite,
        Err(_) => FlushPolicy::Periodic(Duration::from_millis(200)),
    };
    let storage = SledSessionStorage::builder(dir.path().join("db"))
        .flush_policy(policy)
        .open()
        .unwrap();
    for n in 0..LONG_LIVED {
        storage.store_session(&long_lived(n)).await.unwrap();
    }
    // Each operation stores session n and deletes session n - LIVE: a window of LIVE sessions
    // slides over ever new ids, so every write is an insert and every delete frees a record.
    let mut baseline = 0;
    let mut peak = 0;
    for n in 0..OPERATIONS / 2 {
        storage.store_session(&session(n)).await.unwrap();
        if n >= LIVE {
            storage.delete_session(&session(n - LIVE).id).await.unwrap();
        }
        let operations = (n + 1) * 2;
        if operations % 10_000 == 0 {
            storage.flush().await.unwrap();
            let size = storage.size_on_disk().unwrap();
            if operations == BASELINE_AFTER {
                baseline = size;
            }
            peak = peak.max(size);
            eprintln!("after {operations} operations: {size} bytes on disk");
        }
    }
    eprintln!(
        "baseline {baseline} bytes, peak {peak} bytes ({:.2}x), sled stalls detected: {}",
        peak as f64 / baseline as f64,
        storage.sled_stalls_detected()
    );
    assert_eq!(storage.len() as u64, LIVE + LONG_LIVED);
    for n in (0..LONG_LIVED).step_by(97) {
        assert_eq!(
            storage.load_session(&long_lived(n).id).await.unwrap(),
            Some(long_lived(n))
        );
    }
    assert!(
        peak <= ALLOWED_GROWTH * baseline,
        "disk use grew from {baseline} to {peak} bytes with a constant working set"
    );
    assert!(storage.verify().await.unwrap().is_clean());
}
