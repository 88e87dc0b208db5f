//! The `shopify-sessions` binary, run for real against sled databases made here: each command's
//! text and `--json` output, tokens kept out, `delete --shop`, `verify --repair` on planted
//! index damage, `compact` (with a SIGKILL at every step of `--replace`), and a database held
//! by another process.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::Arc,
    time::{Duration, SystemTime},
};

use serde_json::Value;
use shopify_session_storage::{
    AssociatedUser, ManualClock, OnlineAccessInfo, Session, SessionStorage, SledSessionStorage,
};

const ACCESS_TOKEN: &str = "shpat_cli_secret_access";
const REFRESH_TOKEN: &str = "shprt_cli_secret_refresh";
const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(24 * 3_600);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn offline(shop: &str) -> Session {
    let mut session = Session::new(format!("offline_{shop}"), shop, "state", false);
    session.scope = Some("read_products,write_orders".into());
    session.access_token = Some(ACCESS_TOKEN.into());
    session
}

fn online(shop: &str, user: u64, expires: SystemTime) -> Session {
    let mut session = Session::new(format!("{shop}_{user}"), shop, "state", true);
    session.scope = Some("read_products".into());
    session.expires = Some(expires);
    session.access_token = Some(ACCESS_TOKEN.into());
    let mut info = OnlineAccessInfo::new(AssociatedUser::new(user));
    info.associated_user.email = Some("merchant@example.com".into());
    session.online_access_info = Some(info);
    session
}

/// What every test database holds, as of now:
/// - a.myshopify.com: an offline session with an expiring token (1 h) and a refresh token that
///   expires in 3 days, and two online sessions, one expiring in 2 h, one in 2 days;
/// - b.myshopify.com: an offline session, and an online one 1 day past its deadline;
/// - c.myshopify.com: an offline session.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// The served sessions.
    live: Vec<Session>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let now = SystemTime::now();
    let mut expiring = offline("a.myshopify.com");
    expiring.expires = Some(now + HOUR);
    expiring.refresh_token = Some(REFRESH_TOKEN.into());
    expiring.refresh_token_expires = Some(now + 3 * DAY);
    let live = vec![
        expiring,
        online("a.myshopify.com", 1, now + 2 * HOUR),
        online("a.myshopify.com", 2, now + 2 * DAY),
        offline("b.myshopify.com"),
        offline("c.myshopify.com"),
    ];
    runtime().block_on(async {
        // Stored two days ago, when the expired session was still served.
        let clock = Arc::new(ManualClock::new(now - 2 * DAY));
        let storage = SledSessionStorage::builder(&path)
            .clock(clock)
            .open()
            .unwrap();
        for session in &live {
            storage.store_session(session).await.unwrap();
        }
        storage
            .store_session(&online("b.myshopify.com", 9, now - DAY))
            .await
            .unwrap();
        storage.close().await.unwrap();
    });
    Fixture {
        _dir: dir,
        path,
        live,
    }
}

fn cli(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shopify-sessions"));
    command
        .args(args)
        .env_remove("SHOPIFY_SESSIONS_DB")
        .env_remove("SHOPIFY_SESSIONS_REDIS")
        .stdin(Stdio::null());
    command
}

fn run(db: &Path, args: &[&str]) -> Output {
    let mut command = cli(args);
    command.env("SHOPIFY_SESSIONS_DB", db);
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Runs a command that must succeed and returns its stdout.
fn ok(db: &Path, args: &[&str]) -> String {
    let output = run(db, args);
    assert!(
        output.status.success(),
        "{args:?} failed ({:?}): {}",
        output.status,
        stderr(&output)
    );
    assert_no_secrets(&output);
    stdout(&output)
}

fn json(db: &Path, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    serde_json::from_str(&ok(db, &with_json)).unwrap()
}

fn assert_no_secrets(output: &Output) {
    for text in [stdout(output), stderr(output)] {
        assert!(!text.contains(ACCESS_TOKEN), "a token was printed: {text}");
        assert!(!text.contains(REFRESH_TOKEN), "a token was printed: {text}");
    }
}

/// The kinds of the problems of a `verify --json` report, in order.
fn problem_kinds(report: &Value) -> Vec<&str> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| problem["kind"].as_str().unwrap())
        .collect()
}

/// Every session of `live` loads from the database at `path`, and it verifies sound.
fn assert_holds(path: &Path, live: &[Session]) {
    runtime().block_on(async {
        let storage = SledSessionStorage::builder(path)
            .create_if_missing(false)
            .open()
            .unwrap();
        for session in live {
            assert_eq!(
                storage.load_session(&session.id).await.unwrap().as_ref(),
                Some(session),
                "{} at {}",
                session.id,
                path.display()
            );
        }
        assert!(storage.verify().await.unwrap().is_sound());
        storage.close().await.unwrap();
    });
}

#[test]
fn stats_counts_sessions_shops_and_what_expires() {
    let fixture = fixture();
    let stats = json(&fixture.path, &["stats"]);
    assert_eq!(stats["sessions"], 6, "{stats}");
    assert_eq!(stats["online"], 3);
    assert_eq!(stats["offline"], 3);
    assert_eq!(stats["shops"], 3);
    assert_eq!(stats["expired_not_swept"], 1);
    assert_eq!(stats["expiring_within_24h"], 1);
    assert_eq!(stats["refresh_tokens_expiring_within_7d"], 1);
    assert_eq!(stats["unreadable"], 0);
    assert!(stats["size_on_disk_bytes"].as_u64().unwrap() > 0);
    assert!(
        stats["layout"]
            .as_str()
            .unwrap()
            .starts_with("sled layout 1")
    );

    let text = ok(&fixture.path, &["stats"]);
    assert!(text.contains("6 (3 online, 3 offline)"), "{text}");
    assert!(text.contains("expired, not yet swept"), "{text}");
}

#[test]
fn list_shows_sessions_without_tokens_and_filters() {
    let fixture = fixture();
    let text = ok(&fixture.path, &["list"]);
    for session in &fixture.live {
        assert!(text.contains(&session.id), "{text}");
    }
    assert!(
        !text.contains("b.myshopify.com_9"),
        "expired listed: {text}"
    );
    assert!(!text.contains("merchant@example.com"), "{text}");
    assert!(text.contains("5 sessions"), "{text}");

    let lines = |args: &[&str]| -> Vec<Value> {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        ok(&fixture.path, &with_json)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let all = lines(&["list"]);
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|row| row.get("accessToken").is_none()));
    let shop_a = lines(&["list", "--shop", "a.myshopify.com", "--online"]);
    assert_eq!(shop_a.len(), 2);
    assert!(shop_a.iter().all(|row| row["kind"] == "online"));
    let expired = lines(&["list", "--expired"]);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["id"], "b.myshopify.com_9");
    assert_eq!(expired[0]["expired"], true);
    assert_eq!(lines(&["list", "--offline", "--limit", "2"]).len(), 2);
    assert!(ok(&fixture.path, &["list", "--limit", "2"]).contains("2 of 5 sessions"));
}

#[test]
fn get_prints_the_session_object_with_tokens_hidden_unless_asked() {
    let fixture = fixture();
    let id = "offline_a.myshopify.com";
    let object = json(&fixture.path, &["get", id]);
    assert_eq!(object["id"], id);
    assert_eq!(object["shop"], "a.myshopify.com");
    assert_eq!(object["isOnline"], false);
    assert!(object["accessToken"].as_str().unwrap().contains("hidden"));
    assert!(ok(&fixture.path, &["get", id]).contains("\"refreshToken\""));

    let shown = run(&fixture.path, &["get", id, "--show-tokens", "--json"]);
    assert!(shown.status.success());
    let object: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let expected = serde_json::to_value(&fixture.live[0]).unwrap();
    assert_eq!(object, expected, "the toObject() JSON, whole");

    let expired = run(&fixture.path, &["get", "b.myshopify.com_9"]);
    assert!(expired.status.success());
    assert!(stderr(&expired).contains("passed its deadline"));

    let missing = run(&fixture.path, &["get", "offline_nobody.myshopify.com"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no session with id \"offline_nobody.myshopify.com\""));
}

#[test]
fn delete_by_id_and_by_shop() {
    let fixture = fixture();
    let deleted = json(
        &fixture.path,
        &[
            "delete",
            "offline_c.myshopify.com",
            "offline_gone.myshopify.com",
        ],
    );
    assert_eq!(
        deleted["deleted"],
        serde_json::json!(["offline_c.myshopify.com"])
    );
    assert_eq!(
        deleted["not_found"],
        serde_json::json!(["offline_gone.myshopify.com"])
    );

    // Not a terminal: no question asked. The expired session goes too.
    let text = ok(&fixture.path, &["delete", "--shop", "b.myshopify.com"]);
    assert!(
        text.contains("deleted 2 sessions of b.myshopify.com"),
        "{text}"
    );
    let stats = json(&fixture.path, &["stats"]);
    assert_eq!(stats["sessions"], 3);
    assert_eq!(stats["shops"], 1);
    assert_holds(&fixture.path, &fixture.live[..3]);

    let usage = run(&fixture.path, &["delete"]);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
}

#[test]
fn sweep_removes_what_is_past_its_deadline() {
    let fixture = fixture();
    let report = json(&fixture.path, &["sweep"]);
    assert_eq!(report["removed"], 1, "{report}");
    assert!(ok(&fixture.path, &["sweep"]).contains("removed 0 expired sessions"));
    assert_eq!(json(&fixture.path, &["stats"])["sessions"], 5);
    assert_holds(&fixture.path, &fixture.live);
}

#[test]
fn verify_finds_planted_index_damage_and_repair_fixes_it() {
    let fixture = fixture();
    assert_eq!(json(&fixture.path, &["verify"])["sound"], true);
    {
        let db = common::open_raw(&fixture.path);
        let by_shop = db.open_tree("by_shop").unwrap();
        // A session that its shop's index lost, and an entry for a session that is not there.
        assert!(
            by_shop
                .remove(b"c.myshopify.com\0offline_c.myshopify.com")
                .unwrap()
                .is_some()
        );
        by_shop
            .insert(b"c.myshopify.com\0offline_ghost.myshopify.com", b"")
            .unwrap();
        db.flush().unwrap();
    }

    let damaged = run(&fixture.path, &["verify", "--json"]);
    assert_eq!(damaged.status.code(), Some(1), "{}", stderr(&damaged));
    let report: Value = serde_json::from_slice(&damaged.stdout).unwrap();
    assert_eq!(report["sound"], false);
    assert_eq!(
        problem_kinds(&report),
        ["missing_shop_entry", "stale_shop_entry"],
        "{report}"
    );
    let text = stdout(&run(&fixture.path, &["verify"]));
    assert!(
        text.contains("NOT sound") && text.contains("verify --repair"),
        "{text}"
    );

    let repaired = json(&fixture.path, &["verify", "--repair"]);
    assert_eq!(repaired["repair"]["missing_rebuilt"], 1, "{repaired}");
    assert_eq!(repaired["repair"]["stale_removed"], 1);
    assert_eq!(repaired["after_repair"]["sound"], true);
    assert_eq!(repaired["after_repair"]["problems"], serde_json::json!([]));
    assert!(ok(&fixture.path, &["verify"]).contains("clean"));
    assert_holds(&fixture.path, &fixture.live);
}

#[test]
fn compact_into_copies_the_live_sessions() {
    let fixture = fixture();
    let into = fixture.path.with_file_name("compacted.db");
    let report = json(
        &fixture.path,
        &["compact", "--into", into.to_str().unwrap()],
    );
    assert_eq!(report["copied"], 5, "{report}");
    assert_eq!(report["expired_dropped"], 1);
    assert!(report["bytes_before"].as_u64().unwrap() > 0);
    assert!(report["bytes_after"].as_u64().unwrap() > 0);
    assert_holds(&into, &fixture.live);
    assert_holds(&fixture.path, &fixture.live);
    assert_eq!(json(&into, &["stats"])["sessions"], 5);

    let again = run(
        &fixture.path,
        &["compact", "--into", into.to_str().unwrap()],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("cannot compact into"),
        "{}",
        stderr(&again)
    );
    let usage = run(&fixture.path, &["compact"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn compact_replace_swaps_the_copy_into_place() {
    let fixture = fixture();
    let text = ok(&fixture.path, &["compact", "--replace"]);
    assert!(
        text.contains("copied 5 sessions") && text.contains("replaced"),
        "{text}"
    );
    assert_holds(&fixture.path, &fixture.live);
    assert_eq!(json(&fixture.path, &["stats"])["expired_not_swept"], 0);
    assert_eq!(
        leftovers(&fixture.path),
        Vec::<String>::new(),
        "the backup is removed"
    );

    let kept = json(&fixture.path, &["compact", "--replace", "--keep-backup"]);
    let backup = PathBuf::from(kept["backup"].as_str().unwrap());
    assert!(
        backup
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("sessions.db.bak-")
    );
    assert_holds(&backup, &fixture.live);
    assert_holds(&fixture.path, &fixture.live);
}

#[test]
fn compact_replace_takes_a_trailing_slash_and_a_staging_path_elsewhere() {
    let fixture = fixture();
    let with_slash = format!("{}/", fixture.path.display());
    let output = cli(&["compact", "--replace", "--db", &with_slash])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_holds(&fixture.path, &fixture.live);
    assert_eq!(leftovers(&fixture.path), Vec::<String>::new());
    assert_eq!(
        std::fs::read_dir(&fixture.path)
            .unwrap()
            .filter(|entry| entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("compact"))
            .count(),
        0,
        "nothing staged inside the database"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let staging = elsewhere.path().join("staging.db");
    let kept = json(
        &fixture.path,
        &[
            "compact",
            "--replace",
            "--keep-backup",
            "--into",
            staging.to_str().unwrap(),
        ],
    );
    assert_eq!(kept["copied"], 5, "{kept}");
    assert!(!staging.exists(), "the staging path now names nothing");
    assert_holds(&fixture.path, &fixture.live);

    let inside = fixture.path.join("staging");
    let refused = run(
        &fixture.path,
        &["compact", "--replace", "--into", inside.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("is inside the database"),
        "{}",
        stderr(&refused)
    );
}

/// Whatever sits beside the database but the database itself.
fn leftovers(path: &Path) -> Vec<String> {
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "sessions.db")
        .collect()
}

#[cfg(feature = "fault-injection")]
#[test]
fn compact_replace_killed_at_any_step_leaves_a_whole_database() {
    use std::io::{BufRead, BufReader};

    for step in ["copied", "exchanged", "backup-named", "verified"] {
        let fixture = fixture();
        let mut child = cli(&["compact", "--replace"])
            .env("SHOPIFY_SESSIONS_DB", &fixture.path)
            .env("SHOPIFY_SESSIONS_TEST_PAUSE_AFTER", step)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let paused = format!("paused after {step}");
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("the child ended before {step}"))
                .unwrap();
            if line == paused {
                break;
            }
        }
        if step == "copied" {
            // Between the copy and the exchange, the old database is held: no app gets in.
            let refused = SledSessionStorage::open(&fixture.path).unwrap_err();
            assert!(
                matches!(refused, shopify_session_storage::Error::Locked { .. }),
                "{refused}"
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_holds(&fixture.path, &fixture.live);
        assert_eq!(
            json(&fixture.path, &["stats"])["sessions"],
            if step == "copied" { 6 } else { 5 },
            "killed after {step}"
        );
    }
}

#[test]
fn a_database_held_by_a_running_app_is_refused_clearly() {
    let fixture = fixture();
    let held = SledSessionStorage::open(&fixture.path).unwrap();
    for args in [
        &["stats"][..],
        &["compact", "--replace"],
        &["list", "--json"],
    ] {
        let output = run(&fixture.path, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let text = stderr(&output);
        assert_eq!(
            text.trim(),
            format!(
                "error: {} is open in another process; stop the app first",
                fixture.path.display()
            ),
            "{args:?}"
        );
        assert!(stdout(&output).is_empty());
    }
    drop(held);
}

#[test]
fn usage_errors_exit_2_and_missing_databases_exit_1() {
    let fixture = fixture();
    let both = run(&fixture.path, &["list", "--online", "--offline"]);
    assert_eq!(both.status.code(), Some(2));
    let none = cli(&["stats"]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("--db PATH"));

    let missing = fixture.path.with_file_name("typo.db");
    let output = run(&missing, &["stats"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("error: no session database at"),
        "{}",
        stderr(&output)
    );
    assert!(!missing.exists(), "a mistyped path is not created");
}

/// The same commands on a Redis in the Node adapter's layout, with what the Node adapter leaves:
/// a session stored with no TTL and past its dates, an index that lost an entry, and an index
/// entry naming a key that is gone.
#[cfg(feature = "redis")]
#[test]
fn the_commands_work_on_redis_too() {
    use common::redis_server::RedisServer;
    use redis::Commands;
    use shopify_session_storage::RedisSessionStorage;

    let Some(server) = RedisServer::start() else {
        return;
    };
    let now = SystemTime::now();
    let mut expiring = offline("a.myshopify.com");
    expiring.refresh_token = Some(REFRESH_TOKEN.into());
    expiring.refresh_token_expires = Some(now + 3 * DAY);
    let live = vec![
        expiring,
        online("a.myshopify.com", 1, now + 2 * HOUR),
        offline("b.myshopify.com"),
    ];
    runtime().block_on(async {
        let storage = RedisSessionStorage::connect(server.url()).await.unwrap();
        for session in &live {
            storage.store_session(session).await.unwrap();
        }
    });
    let mut redis = server.connection();
    // As the Node adapter writes a session: a plain SET, no TTL; this one is a day past its dates.
    let stale = online("b.myshopify.com", 9, now - DAY);
    let value = serde_json::to_string(&stale.to_property_array_json(true)).unwrap();
    let _: () = redis
        .set("shopify_sessions_b.myshopify.com_9", value)
        .unwrap();
    // b's index lost that session (Node's race) and names one that is gone.
    let _: () = redis
        .set(
            "shopify_sessions_b.myshopify.com",
            r#"["shopify_sessions_offline_b.myshopify.com","shopify_sessions_offline_ghost.myshopify.com"]"#,
        )
        .unwrap();

    // Stored by an app with a day's retention, an hour past its dates: its TTL says it lives.
    let retained = online("a.myshopify.com", 5, now - HOUR);
    runtime().block_on(async {
        let storage = RedisSessionStorage::builder(server.url())
            .retention(DAY)
            .connect()
            .await
            .unwrap();
        storage.store_session(&retained).await.unwrap();
    });
    // Another app's keys, under a longer prefix that `shopify_sessions_*` matches too.
    let other = offline("other.myshopify.com");
    let other_value = serde_json::to_string(&other.to_property_array_json(true)).unwrap();
    let _: () = redis
        .set(
            "shopify_sessions_staging_offline_other.myshopify.com",
            &other_value,
        )
        .unwrap();
    let other_index = r#"["shopify_sessions_staging_offline_other.myshopify.com"]"#;
    let _: () = redis
        .set("shopify_sessions_staging_other.myshopify.com", other_index)
        .unwrap();
    // The CLI writes nothing it was not asked to: no migration record.
    let _: () = redis.del("shopify_sessions_migrations").unwrap();

    let redis_run = |args: &[&str]| -> Output {
        let mut command = cli(args);
        // A database named by the environment too: the command line's store wins.
        command
            .args(["--redis", &server.url()])
            .env("SHOPIFY_SESSIONS_DB", "/nonexistent/sessions.db");
        let output = command.output().unwrap();
        assert_no_secrets(&output);
        output
    };
    let redis_json = |args: &[&str]| -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let output = redis_run(&with_json);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    };

    let stats = redis_json(&["stats"]);
    assert_eq!(stats["sessions"], 5, "{stats}");
    assert_eq!(stats["online"], 3);
    assert_eq!(stats["shops"], 2);
    assert_eq!(stats["expired_not_swept"], 1);
    assert_eq!(stats["refresh_tokens_expiring_within_7d"], 1);
    assert_eq!(stats["size_on_disk_bytes"], Value::Null);
    assert!(stats["layout"].as_str().unwrap().contains("missing"));
    assert!(
        !redis
            .exists::<_, bool>("shopify_sessions_migrations")
            .unwrap()
    );
    // With the app's retention, the session a Node app stored is not past its deadline yet.
    let retained_stats = redis_json(&["stats", "--retention", "172800"]);
    assert_eq!(retained_stats["expired_not_swept"], 0, "{retained_stats}");
    // Options of the store given after the command (`stats --prefix P --redis URL`).
    let prefixed = redis_json(&["stats", "--prefix", "shopify_sessions"]);
    assert_eq!(prefixed["sessions"], 5, "{prefixed}");

    let listed = stdout(&redis_run(&["list", "--shop", "a.myshopify.com", "--json"]));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let object = redis_json(&["get", "offline_a.myshopify.com"]);
    assert!(object["accessToken"].as_str().unwrap().contains("hidden"));

    let damaged = redis_run(&["verify", "--json"]);
    assert_eq!(damaged.status.code(), Some(1), "{}", stderr(&damaged));
    let report: Value = serde_json::from_slice(&damaged.stdout).unwrap();
    assert_eq!(
        problem_kinds(&report),
        ["missing_shop_entry", "stale_shop_entry"],
        "{report}"
    );
    let repaired = redis_json(&["verify", "--repair"]);
    assert_eq!(repaired["repair"]["missing_rebuilt"], 1, "{repaired}");
    assert_eq!(repaired["repair"]["stale_removed"], 1);
    assert_eq!(repaired["after_repair"]["problems"], serde_json::json!([]));

    let swept = redis_json(&["sweep"]);
    assert_eq!(swept["removed"], 1, "{swept}");
    assert!(
        !redis
            .exists::<_, bool>("shopify_sessions_b.myshopify.com_9")
            .unwrap()
    );
    let index: String = redis.get("shopify_sessions_b.myshopify.com").unwrap();
    assert_eq!(index, r#"["shopify_sessions_offline_b.myshopify.com"]"#);

    let deleted = redis_json(&["delete", "--shop", "a.myshopify.com"]);
    assert_eq!(deleted["deleted"].as_array().unwrap().len(), 3, "{deleted}");
    assert!(
        !redis
            .exists::<_, bool>("shopify_sessions_a.myshopify.com")
            .unwrap()
    );
    assert_eq!(redis_json(&["stats"])["sessions"], 1);

    let both = cli(&["stats"])
        .env("SHOPIFY_SESSIONS_REDIS", server.url())
        .env("SHOPIFY_SESSIONS_DB", "/nonexistent/sessions.db")
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));

    let compact = redis_run(&["compact", "--replace"]);
    assert_eq!(compact.status.code(), Some(2));
    assert!(stderr(&compact).contains("not on Redis"));
}

/// Files under `dir` whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}

#[test]
fn keys_rotate_seal_compact_and_decrypt() {
    let fixture = fixture();
    let db = &fixture.path;
    let id = fixture.live[0].id.as_str();
    // Keys as ID:BASE64 in environment variables; --key-env names them.
    let with_keys = |args: &[&str]| {
        let mut command = cli(args);
        command
            .env("SHOPIFY_SESSIONS_DB", db)
            .env(
                "TEST_KEY_1",
                "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            )
            .env(
                "TEST_KEY_2",
                "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
            );
        command.output().unwrap()
    };

    let output = with_keys(&["rotate-keys"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--key-env"), "{}", stderr(&output));

    // A read with a key does not turn encryption on: an app without keys still stores.
    let output = with_keys(&["stats", "--key-env", "TEST_KEY_1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    runtime().block_on(async {
        let storage = SledSessionStorage::open(db).unwrap();
        storage
            .store_session(&offline("d.myshopify.com"))
            .await
            .unwrap();
        storage
            .delete_session("offline_d.myshopify.com")
            .await
            .unwrap();
        storage.close().await.unwrap();
    });

    let output = with_keys(&["rotate-keys", "--key-env", "TEST_KEY_1", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["rewritten"], 6, "{report}");

    // Without the key, tokens cannot be read, and the error names the key; an export that
    // could not read everything fails.
    let output = with_keys(&["export"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the export is incomplete"),
        "{}",
        stderr(&output)
    );
    let output = with_keys(&["get", id, "--show-tokens"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("\"k1\""), "{}", stderr(&output));
    let output = with_keys(&["get", id, "--show-tokens", "--key-env", "TEST_KEY_1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(ACCESS_TOKEN));

    // A new active key, the old one still given: every record moves to the new one.
    let output = with_keys(&[
        "rotate-keys",
        "--key-env",
        "TEST_KEY_2",
        "--key-env",
        "TEST_KEY_1",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["rewritten"], 6, "{report}");
    let output = with_keys(&["get", id, "--show-tokens", "--key-env", "TEST_KEY_2"]);
    assert!(
        stdout(&output).contains(ACCESS_TOKEN),
        "{}",
        stderr(&output)
    );

    // A compacted copy holds no token in plain text.
    let copy = db.with_file_name("copy.db");
    let output = with_keys(&[
        "compact",
        "--into",
        copy.to_str().unwrap(),
        "--key-env",
        "TEST_KEY_2",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(files_holding(&copy, ACCESS_TOKEN), Vec::<PathBuf>::new());
    assert_eq!(files_holding(&copy, REFRESH_TOKEN), Vec::<PathBuf>::new());

    // Decrypted: no keys needed any more.
    let output = with_keys(&["decrypt", "--key-env", "TEST_KEY_2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = with_keys(&["get", id, "--show-tokens"]);
    assert!(
        stdout(&output).contains(ACCESS_TOKEN),
        "{}",
        stderr(&output)
    );
}
