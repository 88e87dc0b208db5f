//! The Redis comparator, as in Shopify's guide: each session as JSON under its id (`SET`), plus
//! a set of ids per shop (`SADD`), on loopback.

use std::sync::Mutex;

use redis::{Commands, Connection};
use shopify_session_storage::Session;

pub struct RedisStore {
    connection: Mutex<Connection>,
}

fn key(id: &str) -> String {
    format!("session:{id}")
}

fn shop_key(shop: &str) -> String {
    format!("shop:{shop}")
}

impl RedisStore {
    /// Connects and empties the database, or `None` (with the reason) when Redis is not there.
    pub fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let mut connection = client.get_connection().map_err(|e| e.to_string())?;
        redis::cmd("FLUSHDB")
            .query::<()>(&mut connection)
            .map_err(|e| e.to_string())?;
        Ok(RedisStore {
            connection: Mutex::new(connection),
        })
    }

    pub fn store(&self, session: &Session) {
        let json = serde_json::to_string(session).unwrap();
        let mut connection = self.connection.lock().unwrap();
        redis::pipe()
            .atomic()
            .set(key(&session.id), json)
            .ignore()
            .sadd(shop_key(&session.shop), &session.id)
            .ignore()
            .query::<()>(&mut *connection)
            .unwrap();
    }

    pub fn load(&self, id: &str) -> Option<Session> {
        let json: Option<String> = self.connection.lock().unwrap().get(key(id)).unwrap();
        json.map(|json| serde_json::from_str(&json).unwrap())
    }

    pub fn delete(&self, id: &str) {
        if let Some(session) = self.load(id) {
            let mut connection = self.connection.lock().unwrap();
            redis::pipe()
                .atomic()
                .del(key(id))
                .ignore()
                .srem(shop_key(&session.shop), id)
                .ignore()
                .query::<()>(&mut *connection)
                .unwrap();
        }
    }

    pub fn find_by_shop(&self, shop: &str) -> Vec<Session> {
        let mut connection = self.connection.lock().unwrap();
        let ids: Vec<String> = connection.smembers(shop_key(shop)).unwrap();
        if ids.is_empty() {
            return Vec::new();
        }
        let keys: Vec<String> = ids.iter().map(|id| key(id)).collect();
        let values: Vec<Option<String>> = connection.mget(keys).unwrap();
        values
            .into_iter()
            .flatten()
            .map(|json| serde_json::from_str(&json).unwrap())
            .collect()
    }
}
