//! The embedded default: sessions in a sled database that survives restarts.
//!
//! `cargo run --example quickstart [PATH]` (default `./sessions.db`). Stores an offline and an
//! online session for a demo shop, loads them, finds them by shop, lets a session expire and
//! sweeps it away.

use std::time::{Duration, SystemTime};

use shopify_session_storage::{
    AssociatedUser, AuthScopes, OnlineAccessInfo, Session, SessionStorage, SledSessionStorage,
    offline_session_id, online_session_id, sanitize_shop,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sessions.db".to_string());
    let storage = SledSessionStorage::open(&path)?;
    println!("opened {path} ({} sessions already stored)", storage.len());

    let shop = sanitize_shop("https://Quickstart-Demo.myshopify.com/")?;

    // The shop's offline session: kept until deleted.
    let mut offline = Session::new(offline_session_id(&shop), &shop, "", false);
    offline.scope = Some("write_products,read_orders".into());
    offline.access_token = Some("shpat_demo_offline_token".into());
    storage.store_session(&offline).await?;
    println!("stored {} (on disk now)", offline.id);

    // A staff user's online session: expires in two seconds.
    let mut online = Session::new(online_session_id(&shop, 42), &shop, "", true);
    online.scope = Some("read_products".into());
    online.expires = Some(SystemTime::now() + Duration::from_secs(2));
    online.access_token = Some("shpua_demo_online_token".into());
    online.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(42)));
    storage.store_session(&online).await?;
    println!("stored {} (expires in 2 s)", online.id);

    let loaded = storage
        .load_session(&offline.id)
        .await?
        .ok_or("the offline session was just stored")?;
    println!("loaded {loaded:?}");
    println!(
        "  active for read_products: {}",
        loaded.is_active(&AuthScopes::from("read_products"))
    );

    let found = storage.find_sessions_by_shop(&shop).await?;
    println!("{shop} has {} sessions", found.len());

    println!("waiting for the online session to expire...");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    println!(
        "  {} loads: {}",
        online.id,
        storage.load_session(&online.id).await?.is_some()
    );
    let report = storage.sweep_expired().await?;
    println!(
        "  sweep removed {} expired session(s) in {:?}",
        report.removed, report.elapsed
    );
    println!(
        "{shop} has {} sessions; run again to see the offline one survive the restart",
        storage.find_sessions_by_shop(&shop).await?.len()
    );
    Ok(())
}
