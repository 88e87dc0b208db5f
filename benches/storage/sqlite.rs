//! The SQLite comparator: Shopify's SQLite adapter layout (`shopify_sessions`, one column per
//! field, the user flattened), WAL mode, cached prepared statements, an index on `shop`.

use std::{path::Path, sync::Mutex, time::UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row, params};
use shopify_session_storage::{AssociatedUser, OnlineAccessInfo, Session};

pub struct SqliteStore {
    connection: Mutex<Connection>,
}

const COLUMNS: &str = "id, shop, state, isOnline, scope, expires, onlineAccessInfo, accessToken, \
    userId, firstName, lastName, email, accountOwner, locale, emailVerified, collaborator, \
    refreshToken, refreshTokenExpires";

fn millis(time: Option<std::time::SystemTime>) -> Option<i64> {
    time.map(|t| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

fn time(millis: Option<i64>) -> Option<std::time::SystemTime> {
    millis.map(|m| UNIX_EPOCH + std::time::Duration::from_millis(m as u64))
}

impl SqliteStore {
    /// `synchronous` is `NORMAL` or `FULL`.
    pub fn open(path: &Path, synchronous: &str) -> Self {
        let connection = Self::connect(path, synchronous);
        connection
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS shopify_sessions (
                    id TEXT NOT NULL PRIMARY KEY, shop TEXT NOT NULL, state TEXT NOT NULL,
                    isOnline INTEGER NOT NULL, scope TEXT, expires INTEGER,
                    onlineAccessInfo TEXT, accessToken TEXT, userId INTEGER, firstName TEXT,
                    lastName TEXT, email TEXT, accountOwner INTEGER, locale TEXT,
                    emailVerified INTEGER, collaborator INTEGER, refreshToken TEXT,
                    refreshTokenExpires INTEGER);
                 CREATE INDEX IF NOT EXISTS shopify_sessions_shop ON shopify_sessions (shop);",
            )
            .unwrap();
        SqliteStore {
            connection: Mutex::new(connection),
        }
    }

    /// Another connection to the same database, for concurrent writers.
    pub fn connect(path: &Path, synchronous: &str) -> Connection {
        let connection = Connection::open(path).unwrap();
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA busy_timeout = 10000;"
            ))
            .unwrap();
        connection
    }

    pub fn store(&self, session: &Session) {
        store_with(&self.connection.lock().unwrap(), session);
    }

    /// Stores many sessions in one transaction (for filling the table).
    pub fn store_many(&self, sessions: impl Iterator<Item = Session>) {
        let mut connection = self.connection.lock().unwrap();
        let transaction = connection.transaction().unwrap();
        for session in sessions {
            store_with(&transaction, &session);
        }
        transaction.commit().unwrap();
    }

    pub fn load(&self, id: &str) -> Option<Session> {
        let connection = self.connection.lock().unwrap();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM shopify_sessions WHERE id = ?1"
            ))
            .unwrap();
        statement
            .query_row(params![id], from_row)
            .optional()
            .unwrap()
    }

    pub fn delete(&self, id: &str) {
        let connection = self.connection.lock().unwrap();
        let mut statement = connection
            .prepare_cached("DELETE FROM shopify_sessions WHERE id = ?1")
            .unwrap();
        statement.execute(params![id]).unwrap();
    }

    pub fn find_by_shop(&self, shop: &str) -> Vec<Session> {
        let connection = self.connection.lock().unwrap();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM shopify_sessions WHERE shop = ?1"
            ))
            .unwrap();
        statement
            .query_map(params![shop], from_row)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

pub fn store_with(connection: &Connection, session: &Session) {
    let mut statement = connection
        .prepare_cached(&format!(
            "INSERT OR REPLACE INTO shopify_sessions ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
        ))
        .unwrap();
    let user = session
        .online_access_info
        .as_ref()
        .map(|info| &info.associated_user);
    statement
        .execute(params![
            session.id,
            session.shop,
            session.state,
            session.is_online,
            session.scope,
            millis(session.expires),
            user.and_then(|u| u.id).map(|id| id as i64),
            session.access_token,
            user.and_then(|u| u.id).map(|id| id as i64),
            user.and_then(|u| u.first_name.clone()),
            user.and_then(|u| u.last_name.clone()),
            user.and_then(|u| u.email.clone()),
            user.and_then(|u| u.account_owner),
            user.and_then(|u| u.locale.clone()),
            user.and_then(|u| u.email_verified),
            user.and_then(|u| u.collaborator),
            session.refresh_token,
            millis(session.refresh_token_expires),
        ])
        .unwrap();
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    let mut session = Session::new(
        row.get::<_, String>(0)?,
        row.get::<_, String>(1)?,
        row.get::<_, String>(2)?,
        row.get(3)?,
    );
    session.scope = row.get(4)?;
    session.expires = time(row.get(5)?);
    session.access_token = row.get(7)?;
    if let Some(user_id) = row.get::<_, Option<i64>>(8)? {
        let mut user = AssociatedUser::new(user_id as u64);
        user.first_name = row.get(9)?;
        user.last_name = row.get(10)?;
        user.email = row.get(11)?;
        user.account_owner = row.get(12)?;
        user.locale = row.get(13)?;
        user.email_verified = row.get(14)?;
        user.collaborator = row.get(15)?;
        session.online_access_info = Some(OnlineAccessInfo::new(user));
    }
    session.refresh_token = row.get(16)?;
    session.refresh_token_expires = time(row.get(17)?);
    Ok(session)
}
