//! Stores, loads, finds and deletes sessions with `MemorySessionStorage`.
//!
//! `cargo run --example quickstart`

use shopify_session_storage::{
    AssociatedUser, AuthScopes, MemorySessionStorage, OnlineAccessInfo, Session, SessionStorage,
    offline_session_id, online_session_id, sanitize_shop,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = MemorySessionStorage::new();
    let shop = sanitize_shop("https://Quickstart-Demo.myshopify.com/")?;

    let mut offline = Session::new(offline_session_id(&shop), &shop, "", false);
    offline.scope = Some("write_products,read_orders".into());
    offline.access_token = Some("shpat_demo_offline_token".into());
    storage.store_session(&offline).await?;
    println!("stored offline session {}", offline.id);

    let mut online = Session::new(online_session_id(&shop, 42), &shop, "", true);
    online.scope = Some("read_products".into());
    online.access_token = Some("shpua_demo_online_token".into());
    online.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(42)));
    storage.store_session(&online).await?;
    println!("stored online session {}", online.id);

    let loaded = storage
        .load_session(&offline.id)
        .await?
        .expect("just stored");
    println!("loaded {loaded:?}");
    println!(
        "active for read_products: {}",
        loaded.is_active(&AuthScopes::from("read_products"))
    );

    let found = storage.find_sessions_by_shop(&shop).await?;
    println!("{shop} has {} sessions", found.len());

    storage.delete_session(&online.id).await?;
    println!(
        "after delete, {} still loads: {}",
        online.id,
        storage.load_session(&online.id).await?.is_some()
    );
    Ok(())
}
