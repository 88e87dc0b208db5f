//! `shopify-sessions export` and `import`, run for real: SQLite files made with the exact tables
//! of Shopify's SQLite session adapter (6.x and the older layout) and of Prisma's `Session`
//! model (dates as the classic engine and as driver adapters write them), JSON lines with a
//! broken line, a Redis written by Shopify's real Node adapter, and the round trip
//! export → import → export.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, params};
use serde_json::{Value, json};
use shopify_session_storage::{AssociatedUser, OnlineAccessInfo, Session};

/// Now, to the second (the SQLite adapter keeps dates in whole seconds).
fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn at_secs(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shopify-sessions"))
        .args(args)
        .env("SHOPIFY_SESSIONS_DB", db)
        .env_remove("SHOPIFY_SESSIONS_REDIS")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(db: &Path, args: &[&str]) -> String {
    let output = cli(db, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json_of(db: &Path, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    serde_json::from_str(&ok(db, &with_json)).unwrap()
}

/// An empty database for an import to fill.
fn new_db(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    drop(shopify_session_storage::SledSessionStorage::open(&path).unwrap());
    path
}

/// The session stored under `id`, whole, as `get --show-tokens` prints it.
fn stored(db: &Path, id: &str) -> Value {
    json_of(db, &["get", id, "--show-tokens"])
}

fn offline(shop: &str, token: &str) -> Session {
    let mut session = Session::new(format!("offline_{shop}"), shop, "", false);
    session.scope = Some("read_products,write_orders".into());
    session.access_token = Some(token.into());
    session
}

#[test]
fn imports_the_sqlite_adapters_table_with_dates_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("database.sqlite");
    let sqlite = Connection::open(&file).unwrap();
    // `@shopify/shopify-app-session-storage-sqlite` 6.0 and later, as its init() creates it.
    sqlite
        .execute_batch(
            "CREATE TABLE shopify_sessions (
              id varchar(255) NOT NULL PRIMARY KEY,
              shop varchar(255) NOT NULL,
              state varchar(255) NOT NULL,
              isOnline integer NOT NULL,
              expires integer,
              scope varchar(1024),
              accessToken varchar(255),
              userId integer,
              firstName varchar(255),
              lastName varchar(255),
              email varchar(255),
              accountOwner integer,
              locale varchar(255),
              collaborator integer,
              emailVerified integer,
              refreshToken varchar(255),
              refreshTokenExpires integer
            );",
        )
        .unwrap();
    let now = now_secs();
    let insert = "INSERT INTO shopify_sessions (id, shop, state, isOnline, expires, scope, \
        accessToken, userId, firstName, lastName, email, accountOwner, locale, collaborator, \
        emailVerified, refreshToken, refreshTokenExpires) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
    // id, shop, isOnline, expires, userId, refreshToken, refreshTokenExpires.
    let offline_row = |id, shop| (id, shop, 0, None, None, None, None);
    let rows = [
        offline_row("offline_a.myshopify.com", "a.myshopify.com"),
        (
            "offline_b.myshopify.com",
            "b.myshopify.com",
            0,
            Some(now + 3_600),
            None,
            Some("shprt_b"),
            Some(now + 90 * 86_400),
        ),
        (
            "a.myshopify.com_42",
            "a.myshopify.com",
            1,
            Some(now + 86_400),
            Some(42),
            None,
            None,
        ),
        offline_row("offline_bad", "not a shop"),
        offline_row("offline_c.myshopify.com", "c.myshopify.com"),
    ];
    for (id, shop, online, expires, user, refresh, refresh_expires) in rows {
        let (first, last, email) = if user.is_some() {
            (Some("Ada"), Some("Lovelace"), Some("ada@example.com"))
        } else {
            (None, None, None)
        };
        sqlite
            .execute(
                insert,
                params![
                    id,
                    shop,
                    "",
                    online,
                    expires,
                    "read_products",
                    format!("shpat_{id}"),
                    user,
                    first,
                    last,
                    email,
                    user.map(|_| 1),
                    user.map(|_| "en"),
                    user.map(|_| 0),
                    user.map(|_| 1),
                    refresh,
                    refresh_expires
                ],
            )
            .unwrap();
    }
    // A date the adapter cannot have written.
    sqlite
        .execute(
            "UPDATE shopify_sessions SET expires = 'soon' WHERE id = 'offline_c.myshopify.com'",
            [],
        )
        .unwrap();
    drop(sqlite);

    let db = new_db(dir.path(), "sessions.db");
    let dry = json_of(
        &db,
        &[
            "import",
            "--from-sqlite",
            file.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(dry["imported"], 3, "{dry}");
    assert_eq!(
        json_of(&db, &["stats"])["sessions"],
        0,
        "a dry run writes nothing"
    );

    let report = json_of(&db, &["import", "--from-sqlite", file.to_str().unwrap()]);
    assert_eq!(report["imported"], 3, "{report}");
    assert_eq!(report["replaced"], 0);
    assert_eq!(
        report["skipped"],
        json!([
            {"origin": "row 4 (id offline_bad)", "reason": "`shop` is not a shop domain (NAME.myshopify.com)"},
            {"origin": "row 5 (id offline_c.myshopify.com)", "reason": "unreadable date in `expires`"},
        ])
    );

    let mut expected_a = offline("a.myshopify.com", "shpat_offline_a.myshopify.com");
    expected_a.scope = Some("read_products".into());
    assert_eq!(
        stored(&db, &expected_a.id),
        serde_json::to_value(&expected_a).unwrap()
    );

    let mut expiring = offline("b.myshopify.com", "shpat_offline_b.myshopify.com");
    expiring.scope = Some("read_products".into());
    expiring.expires = Some(at_secs(now + 3_600));
    expiring.refresh_token = Some("shprt_b".into());
    expiring.refresh_token_expires = Some(at_secs(now + 90 * 86_400));
    assert_eq!(
        stored(&db, &expiring.id),
        serde_json::to_value(&expiring).unwrap()
    );

    let mut online = Session::new("a.myshopify.com_42", "a.myshopify.com", "", true);
    online.scope = Some("read_products".into());
    online.expires = Some(at_secs(now + 86_400));
    online.access_token = Some("shpat_a.myshopify.com_42".into());
    let mut user = AssociatedUser::new(42);
    user.first_name = Some("Ada".into());
    user.last_name = Some("Lovelace".into());
    user.email = Some("ada@example.com".into());
    user.account_owner = Some(true);
    user.locale = Some("en".into());
    user.collaborator = Some(false);
    user.email_verified = Some(true);
    online.online_access_info = Some(OnlineAccessInfo::new(user));
    assert_eq!(
        stored(&db, &online.id),
        serde_json::to_value(&online).unwrap()
    );

    // Again: an upsert, every session replaced.
    let again = json_of(&db, &["import", "--from-sqlite", file.to_str().unwrap()]);
    assert_eq!(
        (again["imported"].clone(), again["replaced"].clone()),
        (json!(0), json!(3))
    );
}

/// A file Shopify's real SQLite adapter (8.0.0) wrote: each session imports as the adapter
/// itself loads it, and the expired one is skipped.
#[test]
fn imports_a_file_the_real_sqlite_adapter_wrote() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let file = fixtures.join("shopify-sqlite-adapter-8.0.0.sqlite");
    let loaded: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("shopify-sqlite-adapter-8.0.0.loaded.json"))
            .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessions.db");
    let report = json_of(&db, &["import", "--from-sqlite", file.to_str().unwrap()]);
    assert_eq!(report["imported"], 3, "{report}");
    assert_eq!(
        report["skipped"],
        json!([{
            "origin": "row 4 (id offline_gone.myshopify.com)",
            "reason": "past its dates (expired, with no live refresh token)"
        }])
    );
    for node in &loaded[..3] {
        assert_eq!(&stored(&db, node["id"].as_str().unwrap()), node);
    }
}

#[test]
fn imports_the_older_sqlite_adapter_table_with_the_user_id_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("legacy.sqlite");
    let sqlite = Connection::open(&file).unwrap();
    // Versions 1.1 to 5.x of the adapter.
    sqlite
        .execute_batch(
            "CREATE TABLE shopify_sessions (
              id varchar(255) NOT NULL PRIMARY KEY,
              shop varchar(255) NOT NULL,
              state varchar(255) NOT NULL,
              isOnline integer NOT NULL,
              expires integer,
              scope varchar(1024),
              accessToken varchar(255),
              onlineAccessInfo varchar(255)
            );",
        )
        .unwrap();
    let expires = now_secs() + 86_400;
    // node-sqlite3 binds an id over 2^31 as a float, which the text column keeps as '….0'.
    sqlite
        .execute(
            "INSERT INTO shopify_sessions VALUES ('old.myshopify.com_12345678901', \
             'old.myshopify.com', 'st', 1, ?1, 'read_orders', 'shpua_old', '12345678901.0')",
            [expires],
        )
        .unwrap();
    drop(sqlite);
    let db = new_db(dir.path(), "sessions.db");
    let report = json_of(&db, &["import", "--from-sqlite", file.to_str().unwrap()]);
    assert_eq!(report["imported"], 1, "{report}");
    let session = stored(&db, "old.myshopify.com_12345678901");
    assert_eq!(
        session["onlineAccessInfo"]["associated_user"]["id"],
        12_345_678_901_u64
    );
    assert_eq!(session["isOnline"], true);
    assert_eq!(session["state"], "st");
}

/// Prisma's `Session` table, as the Shopify app template's migration creates it.
fn prisma_table(file: &Path) -> Connection {
    let sqlite = Connection::open(file).unwrap();
    sqlite
        .execute_batch(
            r#"CREATE TABLE "Session" (
                "id" TEXT NOT NULL PRIMARY KEY,
                "shop" TEXT NOT NULL,
                "state" TEXT NOT NULL,
                "isOnline" BOOLEAN NOT NULL DEFAULT false,
                "scope" TEXT,
                "expires" DATETIME,
                "accessToken" TEXT NOT NULL,
                "userId" BIGINT,
                "firstName" TEXT,
                "lastName" TEXT,
                "email" TEXT,
                "accountOwner" BOOLEAN NOT NULL DEFAULT false,
                "locale" TEXT,
                "collaborator" BOOLEAN DEFAULT false,
                "emailVerified" BOOLEAN DEFAULT false,
                "refreshToken" TEXT,
                "refreshTokenExpires" DATETIME
            );"#,
        )
        .unwrap();
    sqlite
}

#[test]
fn imports_prismas_session_table_with_either_date_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let millis = i64::try_from(
        (SystemTime::now() + Duration::from_secs(86_400))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let refresh_millis = millis + 89 * 86_400_000;
    let iso = |millis: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
            .replace('Z', "+00:00")
    };
    // The classic engine writes epoch milliseconds; driver adapters, ISO 8601 text.
    for (name, expires, refresh_expires) in [
        ("classic.sqlite", json!(millis), json!(refresh_millis)),
        (
            "adapter.sqlite",
            json!(iso(millis)),
            json!(iso(refresh_millis)),
        ),
    ] {
        let file = dir.path().join(name);
        let sqlite = prisma_table(&file);
        let value = |json: &Value| -> rusqlite::types::Value {
            match json {
                Value::Number(number) => number.as_i64().unwrap().into(),
                Value::String(text) => text.clone().into(),
                _ => rusqlite::types::Value::Null,
            }
        };
        // An online session, an expiring offline one, and an offline one the adapter wrote with
        // its defaults ('' for no token, false for the user's flags).
        sqlite
            .execute(
                r#"INSERT INTO "Session" VALUES ('p.myshopify.com_7', 'p.myshopify.com', 'st', 1,
                   'read_products', ?1, 'shpua_p', 7, 'Grace', 'Hopper', 'grace@example.com', 1,
                   'en-US', 0, 1, NULL, NULL)"#,
                [value(&expires)],
            )
            .unwrap();
        sqlite
            .execute(
                r#"INSERT INTO "Session" VALUES ('offline_p.myshopify.com', 'p.myshopify.com', '',
                   0, 'read_products', ?1, 'shpat_p', NULL, NULL, NULL, NULL, 0, NULL, 0, 0,
                   'shprt_p', ?2)"#,
                [value(&expires), value(&refresh_expires)],
            )
            .unwrap();
        sqlite
            .execute(
                r#"INSERT INTO "Session" VALUES ('offline_q.myshopify.com', 'q.myshopify.com', '',
                   0, NULL, NULL, '', NULL, NULL, NULL, NULL, 0, NULL, 0, 0, NULL, NULL)"#,
                [],
            )
            .unwrap();
        drop(sqlite);

        let db = new_db(dir.path(), &format!("{name}.db"));
        let report = json_of(&db, &["import", "--from-sqlite", file.to_str().unwrap()]);
        assert_eq!(report["imported"], 3, "{name}: {report}");
        let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap());
        let refresh_at = UNIX_EPOCH + Duration::from_millis(u64::try_from(refresh_millis).unwrap());

        let mut online = Session::new("p.myshopify.com_7", "p.myshopify.com", "st", true);
        online.scope = Some("read_products".into());
        online.expires = Some(at);
        online.access_token = Some("shpua_p".into());
        let mut user = AssociatedUser::new(7);
        user.first_name = Some("Grace".into());
        user.last_name = Some("Hopper".into());
        user.email = Some("grace@example.com".into());
        user.account_owner = Some(true);
        user.locale = Some("en-US".into());
        user.collaborator = Some(false);
        user.email_verified = Some(true);
        online.online_access_info = Some(OnlineAccessInfo::new(user));
        assert_eq!(
            stored(&db, &online.id),
            serde_json::to_value(&online).unwrap(),
            "{name}"
        );

        let mut expiring = offline("p.myshopify.com", "shpat_p");
        expiring.scope = Some("read_products".into());
        expiring.expires = Some(at);
        expiring.refresh_token = Some("shprt_p".into());
        expiring.refresh_token_expires = Some(refresh_at);
        assert_eq!(
            stored(&db, &expiring.id),
            serde_json::to_value(&expiring).unwrap(),
            "{name}"
        );

        let bare = Session::new("offline_q.myshopify.com", "q.myshopify.com", "", false);
        assert_eq!(
            stored(&db, &bare.id),
            serde_json::to_value(&bare).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn edge_cases_of_the_sources_are_named_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // Prisma with both date encodings in one table (an app moved to a driver adapter), a date
    // of 0 (none, as Node reads it) and a date in milliseconds where seconds belong.
    let file = dir.path().join("mixed.sqlite");
    let sqlite = prisma_table(&file);
    sqlite
        .execute_batch(
            r#"INSERT INTO "Session" (id, shop, state, isOnline, expires, accessToken) VALUES
               ('offline_m1.myshopify.com', 'm1.myshopify.com', '', 0, 4070908800000, 't'),
               ('offline_m2.myshopify.com', 'm2.myshopify.com', '', 0, '2099-01-01T00:00:00.000+00:00', 't'),
               ('offline_m3.myshopify.com', 'm3.myshopify.com', '', 0, 0, 't');"#,
        )
        .unwrap();
    drop(sqlite);
    let db = dir.path().join("sessions.db");
    let report = json_of(
        &db,
        &[
            "import",
            "--from-sqlite",
            file.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(report["imported"], 3, "{report}");
    assert!(!db.exists(), "a dry run creates nothing");
    let report = json_of(&db, &["import", "--from-sqlite", file.to_str().unwrap()]);
    assert_eq!(report["imported"], 3, "{report}");
    assert_eq!(
        stored(&db, "offline_m1.myshopify.com")["expires"],
        "2099-01-01T00:00:00.000Z"
    );
    assert_eq!(
        stored(&db, "offline_m2.myshopify.com")["expires"],
        "2099-01-01T00:00:00.000Z"
    );
    assert!(
        stored(&db, "offline_m3.myshopify.com")
            .get("expires")
            .is_none()
    );

    let adapter = dir.path().join("adapter.sqlite");
    let sqlite = Connection::open(&adapter).unwrap();
    sqlite
        .execute_batch(
            "CREATE TABLE shopify_sessions (id varchar(255) NOT NULL PRIMARY KEY,
               shop varchar(255) NOT NULL, state varchar(255) NOT NULL,
               isOnline integer NOT NULL, expires integer);
             INSERT INTO shopify_sessions VALUES
               ('offline_far.myshopify.com', 'far.myshopify.com', '', 0, 4070908800000);",
        )
        .unwrap();
    drop(sqlite);
    let report = json_of(&db, &["import", "--from-sqlite", adapter.to_str().unwrap()]);
    assert_eq!(
        report["skipped"][0]["reason"], "unreadable date in `expires`",
        "milliseconds in a column of seconds land past year 9999: {report}"
    );

    // Lines: not UTF-8, a missing shop, an unreadable date; the good line still imports.
    let lines = dir.path().join("lines.jsonl");
    let mut bytes =
        b"\xff\xfe\n{\"id\":\"offline_n.myshopify.com\",\"state\":\"\",\"isOnline\":false}\n"
            .to_vec();
    bytes.extend_from_slice(br#"{"id":"offline_d.myshopify.com","shop":"d.myshopify.com","state":"","isOnline":false,"expires":"shpat_not_a_date"}"#);
    bytes.push(b'\n');
    bytes.extend_from_slice(
        br#"{"id":"offline_g.myshopify.com","shop":"g.myshopify.com","state":"","isOnline":false}"#,
    );
    std::fs::write(&lines, bytes).unwrap();
    let output = cli(&db, &["import", lines.to_str().unwrap(), "--json"]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains("shpat_not_a_date"), "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(
        report["skipped"],
        json!([
            {"origin": "line 1", "reason": "not UTF-8 text"},
            {"origin": "line 2", "reason": "missing shop"},
            {"origin": "line 3", "reason": "unreadable date in `expires`"},
        ])
    );

    // A file that is not there is a failure; a --table without --from-sqlite, a usage error.
    let missing = cli(&db, &["import", "--from-sqlite", "/nonexistent/x.sqlite"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .starts_with("error: cannot open /nonexistent/x.sqlite")
    );
    for misplaced in [&["--table", "x"][..], &["--from-prefix", "app"]] {
        let mut args = vec!["import", lines.to_str().unwrap()];
        args.extend_from_slice(misplaced);
        let usage = cli(&db, &args);
        assert_eq!(usage.status.code(), Some(2), "{misplaced:?}");
    }
    let usage = cli(&db, &["stats", "--prefix", "app"]);
    assert_eq!(usage.status.code(), Some(2), "--prefix without --redis");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn json_lines_with_a_broken_line_import_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let a = offline("a.myshopify.com", "shpat_a");
    let b = offline("b.myshopify.com", "shpat_b");
    let lines = format!(
        "{}\n{{\"id\": \"offline_x.myshopify.com\", \"shop\": \n\n{}\n",
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b.to_property_array_json(true)).unwrap()
    );
    let file = dir.path().join("sessions.jsonl");
    std::fs::write(&file, lines).unwrap();
    let db = new_db(dir.path(), "sessions.db");
    let report = json_of(&db, &["import", file.to_str().unwrap()]);
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(
        report["skipped"],
        json!([{"origin": "line 2", "reason": "JSON cut short at column 41"}])
    );
    assert_eq!(stored(&db, &a.id), serde_json::to_value(&a).unwrap());
    assert_eq!(stored(&db, &b.id), serde_json::to_value(&b).unwrap());
    let text = ok(&db, &["import", file.to_str().unwrap()]);
    assert!(
        text.contains("imported 2 sessions (0 new, 2 replacing"),
        "{text}"
    );
    assert!(text.contains("skipped line 2: JSON cut short"), "{text}");
}

#[test]
fn export_then_import_then_export_gives_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = new_db(dir.path(), "sessions.db");
    let mut lines = String::new();
    for shop in ["b.myshopify.com", "a.myshopify.com", "c.myshopify.com"] {
        let mut session = offline(shop, &format!("shpat_{shop}"));
        session
            .extra
            .insert("customField".into(), json!({"kept": [1, 2.5, "x"]}));
        lines.push_str(&serde_json::to_string(&session).unwrap());
        lines.push('\n');
    }
    let mut online = Session::new("a.myshopify.com_9", "a.myshopify.com", "", true);
    online.expires = Some(SystemTime::now() + Duration::from_secs(3_600));
    let mut info = OnlineAccessInfo::new(AssociatedUser::new(9));
    info.expires_in = Some(3_600);
    info.associated_user_scope = Some("read_products".into());
    online.online_access_info = Some(info);
    lines.push_str(&serde_json::to_string(&online).unwrap());
    lines.push('\n');
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, &lines).unwrap();
    ok(&db, &["import", input.to_str().unwrap()]);

    let first = dir.path().join("first.jsonl");
    let output = cli(&db, &["export", "-o", first.to_str().unwrap()]);
    assert!(output.status.success());
    let note = String::from_utf8(output.stderr).unwrap();
    assert!(
        note.contains("holds access tokens (created with mode 0600)"),
        "{note}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let exported = std::fs::read_to_string(&first).unwrap();
    assert_eq!(exported.lines().count(), 4);
    assert!(
        exported.lines().next().unwrap().contains("a.myshopify.com"),
        "ordered by shop"
    );

    // An import creates its database.
    let copy = dir.path().join("copy.db");
    let report = json_of(&copy, &["import", first.to_str().unwrap()]);
    assert_eq!(report["imported"], 4, "{report}");
    let second = ok(&copy, &["export"]);
    assert_eq!(second, exported);

    // The property-array shape reads back too.
    let arrays = ok(&db, &["export", "--format", "property-array"]);
    assert!(
        arrays.lines().all(|line| line.starts_with("[[")),
        "{arrays}"
    );
    let from_arrays = dir.path().join("arrays.jsonl");
    std::fs::write(&from_arrays, arrays).unwrap();
    let third = new_db(dir.path(), "third.db");
    assert_eq!(
        json_of(&third, &["import", from_arrays.to_str().unwrap()])["imported"],
        4
    );
}

/// A Redis that Shopify's real Node adapter wrote, imported into a sled database: each session
/// as the Node adapter loads it.
#[cfg(feature = "redis")]
#[test]
fn imports_a_redis_written_by_the_node_adapter() {
    use common::redis_server::RedisServer;

    let Some(server) = RedisServer::start() else {
        return;
    };
    let shop = "node.myshopify.com";
    let mut online = Session::new(format!("{shop}_77"), shop, "st", true);
    online.scope = Some("read_products".into());
    online.expires = Some(
        UNIX_EPOCH
            + Duration::from_millis(
                u64::try_from(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_millis(),
                )
                .unwrap()
                    + 86_400_000,
            ),
    );
    online.access_token = Some("shpua_node".into());
    let mut user = AssociatedUser::new(77);
    user.first_name = Some("Node".into());
    user.email = Some("node@example.com".into());
    user.account_owner = Some(true);
    online.online_access_info = Some(OnlineAccessInfo::new(user));
    let sessions = [offline(shop, "shpat_node"), online];
    let store: Vec<Value> = sessions
        .iter()
        .map(|session| json!({"op": "store", "entries": session.to_property_array_json(true)}))
        .collect();
    let loads: Vec<Value> = sessions
        .iter()
        .map(|session| json!({"op": "load", "id": session.id}))
        .collect();
    let ops = [store, loads].concat();
    let input = json!({"url": server.url(), "prefix": null, "ops": ops});
    let results = common::node::run("redis.js", &input);

    let dir = tempfile::tempdir().unwrap();
    let db = new_db(dir.path(), "sessions.db");
    let report = json_of(&db, &["import", "--from-redis", &server.url()]);
    assert_eq!(report["imported"], 2, "{report}");
    for (session, node) in sessions.iter().zip(&results.as_array().unwrap()[2..]) {
        assert_eq!(stored(&db, &session.id), node["object"], "{}", session.id);
    }
}
