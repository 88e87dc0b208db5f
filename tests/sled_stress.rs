//! Hang-proof: the pattern that hangs stock sled 0.34.7 (see `src/storage/sled/budget.rs`) —
//! `FlushPolicy::Periodic` at full speed, store/delete churn over a 5,000-session window —
//! with 1 and with 8 writers, 200,000 operations a run. Each run works on a thread of its own
//! under a deadline; a run that misses it fails this test with a message (the hung thread is
//! left behind), not the whole CI run.
//!
//! `STRESS_RUNS` sets the runs per writer count (default 2).

use std::{
    sync::mpsc,
    time::{Duration, Instant},
};

use shopify_session_storage::{FlushPolicy, Session, SessionStorage, SledSessionStorage};

const OPERATIONS: u64 = 200_000;
const WINDOW: u64 = 5_000;
/// Far above a healthy run here (20-60 s in a debug build on 2 busy cores).
const DEADLINE: Duration = Duration::from_secs(300);

fn session(writer: u64, n: u64) -> Session {
    let shop = format!("stress-{}.myshopify.com", n % 50);
    let mut session = Session::new(format!("w{writer}_{shop}_{n}"), &shop, "state", true);
    session.access_token = Some(format!("shpua_{n:032}"));
    session.scope = Some("write_products,read_orders,read_customers".into());
    session.expires = Some(std::time::UNIX_EPOCH + Duration::from_secs(4_070_908_800));
    session
}

/// One run: `writers` tasks share `OPERATIONS` (each a store, or a delete of the session its
/// writer stored `WINDOW / writers` stores earlier).
async fn churn(writers: u64) -> (SledSessionStorage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = SledSessionStorage::builder(dir.path().join("db"))
        .flush_policy(FlushPolicy::Periodic(Duration::from_millis(200)))
        .open()
        .unwrap();
    let per_writer = OPERATIONS / 2 / writers;
    let lag = WINDOW / writers;
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let storage = storage.clone();
        tasks.spawn(async move {
            for n in 0..per_writer {
                storage.store_session(&session(writer, n)).await.unwrap();
                if n >= lag {
                    storage
                        .delete_session(&session(writer, n - lag).id)
                        .await
                        .unwrap();
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    (storage, dir)
}

fn run_under_deadline(writers: u64, run: usize) {
    let (done, finished) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            let (storage, _dir) = churn(writers).await;
            let report = storage.verify().await.unwrap();
            (storage.len(), report, storage.sled_stalls_detected())
        });
        let _ = done.send(outcome);
    });
    match finished.recv_timeout(DEADLINE) {
        Ok((len, report, stalls)) => {
            eprintln!(
                "{writers} writer(s), run {run}: {OPERATIONS} operations in {:.1} s, {len} live, stalls {stalls}",
                started.elapsed().as_secs_f64()
            );
            assert_eq!(len as u64, WINDOW, "{writers} writer(s), run {run}");
            assert!(
                report.is_clean(),
                "{writers} writer(s), run {run}: {report}"
            );
            assert_eq!(stalls, 0);
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{writers} writer(s), run {run}: {OPERATIONS} Periodic churn operations did not finish \
             in {DEADLINE:?}: the store hung (sled's I/O pool deadlock?)"
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{writers} writer(s), run {run}: the run panicked (see above)")
        }
    }
}

fn runs() -> usize {
    std::env::var("STRESS_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(2)
}

#[test]
fn periodic_churn_at_full_speed_never_hangs_with_one_writer() {
    for run in 0..runs() {
        run_under_deadline(1, run);
    }
}

#[test]
fn periodic_churn_at_full_speed_never_hangs_with_eight_writers() {
    for run in 0..runs() {
        run_under_deadline(8, run);
    }
}
