//! The Node guide's pattern in Rust: a `CustomSessionStorage` made of callbacks, here those of
//! `SledSessionStorage` with the load callback replaced by the app's own (it counts cache
//! misses and reads through to sled).
//!
//! `cargo run --example custom_callbacks`

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use shopify_session_storage::{
    CustomSessionStorage, LoadedSession, Session, SessionStorage, SledSessionStorage,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let sled = SledSessionStorage::open(dir.path().join("sessions.db"))?;

    let misses = Arc::new(AtomicUsize::new(0));
    let load = {
        let (sled, misses) = (sled.clone(), misses.clone());
        move |id: String| {
            let (sled, misses) = (sled.clone(), misses.clone());
            async move {
                let loaded = sled.load_session(&id).await?;
                if loaded.is_none() {
                    misses.fetch_add(1, Ordering::Relaxed);
                }
                // Any of Shopify's shapes will do: here the session's JSON object.
                let record = loaded
                    .map(|session| serde_json::to_value(&session))
                    .transpose()?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(record.map(LoadedSession::from))
            }
        }
    };

    // store, delete, delete_sessions and find stay on sled; load is the app's.
    let storage = CustomSessionStorage::from_storage(sled.clone()).with_load_callback(load);

    let mut session = Session::new(
        "offline_custom.myshopify.com",
        "custom.myshopify.com",
        "",
        false,
    );
    session.access_token = Some("shpat_demo".into());
    storage.store_session(&session).await?;

    println!("loaded: {:?}", storage.load_session(&session.id).await?);
    println!(
        "missing: {:?}",
        storage.load_session("offline_nobody.myshopify.com").await?
    );
    println!(
        "cache misses counted by the app's callback: {}",
        misses.load(Ordering::Relaxed)
    );
    println!(
        "found by shop through the sled callback: {}",
        storage
            .find_sessions_by_shop("custom.myshopify.com")
            .await?
            .len()
    );
    Ok(())
}
