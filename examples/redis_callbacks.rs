//! The Node guide's custom storage in Rust: a small `RedisStore` whose three async callbacks
//! `SET` a session's JSON under its id, `GET` it back as a record and `DEL` it, handed to
//! `CustomSessionStorage::new`.
//!
//! `cargo run --example redis_callbacks` (against `REDIS_URL`, default `redis://127.0.0.1/`).
//!
//! This layout (`{prefix}:{id}` → `toObject()` JSON) is the app's own, not the Node adapter's:
//! `RedisSessionStorage` (feature `redis`) is the storage that shares data with a Node app,
//! keeps a shop index and sets TTLs. Never give the two the same key prefix.

use std::error::Error;

use redis::{AsyncCommands, aio::ConnectionManager};
use shopify_session_storage::{CustomSessionStorage, LoadedSession, Session, SessionStorage};

type BoxError = Box<dyn Error + Send + Sync>;

/// The guide's store: one Redis string per session, the session's JSON under its id.
#[derive(Clone)]
struct RedisStore {
    connection: ConnectionManager,
}

impl RedisStore {
    async fn connect(url: &str) -> Result<Self, BoxError> {
        let client = redis::Client::open(url)?;
        Ok(RedisStore {
            connection: ConnectionManager::new(client).await?,
        })
    }

    fn key(id: &str) -> String {
        format!("example_sessions:{id}")
    }

    async fn store_callback(&self, session: Session) -> Result<bool, BoxError> {
        let json = serde_json::to_string(&session)?;
        let () = self
            .connection
            .clone()
            .set(Self::key(&session.id), json)
            .await?;
        Ok(true)
    }

    async fn load_callback(&self, id: String) -> Result<Option<LoadedSession>, BoxError> {
        let json: Option<String> = self.connection.clone().get(Self::key(&id)).await?;
        let record = json
            .map(|json| serde_json::from_str::<serde_json::Value>(&json))
            .transpose()?;
        Ok(record.map(LoadedSession::from))
    }

    async fn delete_callback(&self, id: String) -> Result<bool, BoxError> {
        let _: i64 = self.connection.clone().del(Self::key(&id)).await?;
        Ok(true)
    }
}

/// Stores, loads and deletes one session through the callbacks, printing what happens.
pub async fn run(url: &str) -> Result<(), BoxError> {
    let store = RedisStore::connect(url).await.map_err(|error| {
        format!("no Redis server answers at REDIS_URL ({error}); start one, e.g. `redis-server`")
    })?;
    let (on_store, on_load, on_delete) = (store.clone(), store.clone(), store);
    let storage = CustomSessionStorage::new(
        move |session| {
            let store = on_store.clone();
            async move { store.store_callback(session).await }
        },
        move |id| {
            let store = on_load.clone();
            async move { store.load_callback(id).await }
        },
        move |id| {
            let store = on_delete.clone();
            async move { store.delete_callback(id).await }
        },
    );

    let mut session = Session::new(
        "offline_redis-example.myshopify.com",
        "redis-example.myshopify.com",
        "",
        false,
    );
    session.scope = Some("read_products".into());
    session.access_token = Some("shpat_example".into());

    println!("stored: {}", storage.store_session(&session).await?);
    let loaded = storage.load_session(&session.id).await?;
    assert_eq!(loaded.as_ref(), Some(&session));
    println!("loaded: {loaded:?}");
    println!("deleted: {}", storage.delete_session(&session.id).await?);
    assert_eq!(storage.load_session(&session.id).await?, None);
    println!("loaded after the delete: None");
    Ok(())
}

// The example's test includes this file as a module and calls `run`.
#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1/".into());
    run(&url).await
}
