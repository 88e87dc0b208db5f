//! Looking inside: `stats`, `list` and `get`.

use std::{process::ExitCode, time::SystemTime};

use clap::Args;
use comfy_table::{ContentArrangement, Table, presets::NOTHING};
use indicatif::HumanBytes;
use serde_json::{Value, json};
use shopify_session_storage::admin::{ListFilter, Stats, StoredSession, list_sessions};

use crate::{
    Outcome,
    output::{Output, date, json_date},
    target::Store,
};

/// Counts: sessions (online, offline), shops, expired, expiring soon, size on disk, layout.
#[derive(Debug, Args)]
pub struct StatsArgs {}

/// A table of sessions: id, shop, kind, expiry, refresh token expiry, scope. Never tokens.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this shop's sessions.
    #[arg(long)]
    shop: Option<String>,
    /// Only online (per-user) sessions.
    #[arg(long, conflicts_with = "offline")]
    online: bool,
    /// Only offline (per-shop) sessions.
    #[arg(long)]
    offline: bool,
    /// Only sessions past their deadline that no sweep has removed yet.
    #[arg(long)]
    expired: bool,
    /// At most this many (the first by shop and id).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

/// One session as Shopify's `toObject()` JSON, whatever its deadline.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The session id.
    id: String,
    /// Print the access and refresh tokens (hidden otherwise).
    #[arg(long)]
    show_tokens: bool,
}

/// What replaces a token in `get`'s output without `--show-tokens`.
const HIDDEN: &str = "[hidden; --show-tokens prints it]";

/// `stats`: the store's [`Stats`].
pub async fn stats(_: StatsArgs, store: &Store, output: &Output) -> Outcome {
    let storage = store.admin();
    let progress = output.progress("reading");
    let stats = Stats::gather(storage, SystemTime::now(), &mut || progress.inc(1)).await;
    progress.finish_and_clear();
    let stats = stats?;
    if stats.sessions == 0 && stats.unreadable == 0 {
        output.warn(&format!("no sessions in {}", storage.describe()));
    }
    if output.json() {
        output.document(&serde_json::to_value(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    let size = stats.size_on_disk_bytes.map_or_else(
        || "unknown".to_owned(),
        |bytes| HumanBytes(bytes).to_string(),
    );
    let rows = [
        (
            "sessions",
            format!(
                "{} ({} online, {} offline)",
                stats.sessions, stats.online, stats.offline
            ),
        ),
        ("shops", stats.shops.to_string()),
        (
            "expired, not yet swept",
            stats.expired_not_swept.to_string(),
        ),
        (
            "expiring within 24 h",
            stats.expiring_within_24h.to_string(),
        ),
        (
            "refresh tokens expiring within 7 days",
            stats.refresh_tokens_expiring_within_7d.to_string(),
        ),
        ("unreadable records", stats.unreadable.to_string()),
        ("size on disk", size),
        ("layout", stats.layout.clone()),
    ];
    println!("{}", storage.describe());
    for (name, value) in rows {
        println!("  {name:<38} {value}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `list`: the sessions a filter admits, as a table or JSON lines.
pub async fn list(args: ListArgs, store: &Store, output: &Output) -> Outcome {
    let storage = store.admin();
    let mut filter = ListFilter::new();
    filter.shop = args.shop;
    filter.online = match (args.online, args.offline) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    filter.expired = args.expired;
    filter.limit = args.limit;
    let progress = output.progress("reading");
    let now = SystemTime::now();
    let listing = list_sessions(storage, &filter, now, &mut || progress.inc(1)).await;
    progress.finish_and_clear();
    let listing = listing?;
    for (id, reason) in &listing.unreadable {
        output.warn(&format!("record {id:?} does not decode: {reason}"));
    }
    if output.json() {
        for stored in &listing.sessions {
            output.document(&row_json(stored, now));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "ID",
            "SHOP",
            "KIND",
            "EXPIRES",
            "REFRESH TOKEN EXPIRES",
            "SCOPE",
        ]);
    for stored in &listing.sessions {
        let session = &stored.session;
        let mut expires = session.expires.map(date).unwrap_or_default();
        if stored.is_expired_at(now) {
            expires.push_str(" (past its deadline)");
        }
        table.add_row([
            session.id.clone(),
            session.shop.clone(),
            kind(stored).to_owned(),
            expires,
            session.refresh_token_expires.map(date).unwrap_or_default(),
            session.scope.clone().unwrap_or_default(),
        ]);
    }
    if !listing.sessions.is_empty() {
        println!("{table}");
    }
    let shown = listing.sessions.len();
    if shown < listing.matched {
        println!("{shown} of {} sessions", listing.matched);
    } else {
        println!("{shown} session{}", if shown == 1 { "" } else { "s" });
    }
    Ok(ExitCode::SUCCESS)
}

/// `get`: one session's `toObject()` JSON, tokens hidden unless asked for.
pub async fn get(args: GetArgs, store: &Store, output: &Output) -> Outcome {
    let Some(stored) = store.admin().load_stored(&args.id).await? else {
        return Err(format!("no session with id {:?}", args.id).into());
    };
    if stored.is_expired_at(SystemTime::now()) {
        output.warn(&format!(
            "this session passed its deadline ({}) and is no longer served; a sweep removes it",
            stored.deadline.map(date).unwrap_or_default()
        ));
    }
    let mut session = stored.session;
    if !args.show_tokens {
        for token in [&mut session.access_token, &mut session.refresh_token]
            .into_iter()
            .flatten()
        {
            HIDDEN.clone_into(token);
        }
    }
    let object = serde_json::to_value(&session)?;
    if output.json() {
        output.document(&object);
    } else {
        println!("{}", serde_json::to_string_pretty(&object)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn kind(stored: &StoredSession) -> &'static str {
    if stored.session.is_online {
        "online"
    } else {
        "offline"
    }
}

/// One `list --json` line: what the table shows, plus the deadline.
fn row_json(stored: &StoredSession, now: SystemTime) -> Value {
    let session = &stored.session;
    json!({
        "id": session.id,
        "shop": session.shop,
        "kind": kind(stored),
        "expires": json_date(session.expires),
        "refresh_token_expires": json_date(session.refresh_token_expires),
        "scope": session.scope,
        "deadline": json_date(stored.deadline),
        "expired": stored.is_expired_at(now),
    })
}
