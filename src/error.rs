//! The crate's error type.

use std::{path::PathBuf, time::Duration};

/// A boxed error as returned by user-supplied callbacks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error that several callers receive at once: the failure of one token refresh that every
/// caller waiting for it gets (see [`refresh`](crate::refresh)).
pub type SharedError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of every fallible operation in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while parsing, validating or storing sessions.
///
/// Errors keep their cause: [`std::error::Error::source`] returns the underlying error (a
/// callback's own error, the I/O or sled error), never a stringified copy. No variant ever
/// carries an access or refresh token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A session is not acceptable: a required field is missing or malformed. The message names
    /// the field. Nothing was written.
    #[error("invalid session: {0}")]
    InvalidSession(String),

    /// Session JSON could not be parsed; the source says where and why.
    #[error("malformed session JSON")]
    Json(#[source] serde_json::Error),

    /// A shop domain is not one Shopify issues.
    #[error(
        "invalid shop domain {0:?}: expected NAME.myshopify.com, NAME.myshopify.io or admin.shopify.com/store/NAME"
    )]
    InvalidShop(String),

    /// A callback of a [`CustomSessionStorage`](crate::CustomSessionStorage) failed.
    #[error("CustomSessionStorage failed to {operation}")]
    Callback {
        /// What the storage was doing, e.g. `"store a session"`.
        operation: &'static str,
        /// The callback's own error.
        source: BoxError,
    },

    /// The storage does not offer this operation (for example a [`CustomSessionStorage`](crate::CustomSessionStorage)
    /// without a `find_sessions_by_shop` callback).
    #[error("operation not supported by this storage: {0}")]
    Unsupported(&'static str),

    /// The database at `path` is already open, in this process or another.
    #[error(
        "session database {path:?} is locked: another SledSessionStorage (in this or another process) has it open"
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// sled's own error, which only says that a lock could not be taken.
        #[source]
        source: sled::Error,
    },

    /// A [`SledSessionStorageBuilder`](crate::SledSessionStorageBuilder) setting is out of range.
    #[error("invalid storage configuration: {0}")]
    InvalidConfig(String),

    /// A stored record could not be decoded. Other sessions are unaffected.
    #[error("stored session {id:?} is corrupt")]
    Corrupt {
        /// The session id whose record is damaged (`meta` for the database's own entry).
        id: String,
        /// What is wrong with it.
        #[source]
        source: CorruptRecord,
    },

    /// The embedded database failed.
    #[error("session database error")]
    Storage(#[from] sled::Error),

    /// A file system operation failed.
    #[error("{context}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A compacted copy of a database did not verify: fewer or more records than were copied,
    /// or index problems. The database was not replaced (or was swapped back); the copy is left
    /// at `path` to look into.
    #[error(
        "the compacted copy at {} does not verify ({copied} sessions copied, {found} records read back, {problems} index problems); the database was not replaced",
        path.display()
    )]
    CopyMismatch {
        /// Where the copy is.
        path: PathBuf,
        /// Sessions copied into it.
        copied: usize,
        /// Records read back.
        found: usize,
        /// Problems its verify found.
        problems: usize,
    },

    /// The database is encrypted and the storage was opened without its keys: it reads what
    /// needs no key, and writes nothing (a write would store tokens in plain text).
    #[error(
        "the session database {} is encrypted; it needs its keys to {operation}",
        path.display()
    )]
    EncryptionKeysRequired {
        /// The database directory.
        path: PathBuf,
        /// What was refused, e.g. `"store a session"`.
        operation: &'static str,
    },

    /// The storage was closed with `SledSessionStorage::close`; open the database again to
    /// go on.
    #[error("the session storage is closed")]
    Closed,

    /// The Redis server answered with an error, or could not be reached.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[error("Redis failed to {operation}")]
    Redis {
        /// What the storage was doing, e.g. `"store a session"`.
        operation: &'static str,
        /// redis-rs's error.
        source: redis::RedisError,
    },

    /// The Redis server runs in cluster mode, which `RedisSessionStorage` cannot use: the Node
    /// adapter's layout puts a session and its shop's index in different hash slots, and one
    /// script must change both. Nothing was written.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[error(
        "the Redis server is a cluster; RedisSessionStorage needs a standalone server (replicas are fine)"
    )]
    RedisCluster(#[source] Option<redis::RedisError>),

    /// A SQLite database being imported from could not be read (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    #[error("{context}")]
    Sqlite {
        /// What was being read, naming the file.
        context: String,
        /// rusqlite's error, when SQLite failed (not when the file lacks the table).
        source: Option<rusqlite::Error>,
    },

    /// A call to a remote store did not answer in time. It may or may not have taken effect.
    #[error("timed out after {after:?} trying to {operation}")]
    Timeout {
        /// What the storage was doing, e.g. `"store a session"`.
        operation: &'static str,
        /// The configured timeout.
        after: Duration,
    },

    /// A background task (a flush, a repair, a verify or a close) stopped before it could
    /// answer.
    #[error("background task failed: {task}")]
    Background {
        /// Which task, e.g. `"the repair task failed"`.
        task: &'static str,
        /// The task's panic or cancellation, when it ran on tokio's blocking pool.
        #[source]
        source: Option<tokio::task::JoinError>,
    },

    /// A compare-and-set kept losing to other stores of the same session.
    #[error("gave up trying to {operation}: the stored session kept changing")]
    Contended {
        /// What was being done.
        operation: &'static str,
    },

    /// The session's refresh token is past its expiry date, so no refresh was tried: only a new
    /// OAuth grant (the merchant opening the app again) gives the shop a token.
    #[error(
        "the refresh token of session {id:?} has expired; the merchant must authorize the app again"
    )]
    RefreshTokenExpired {
        /// The session id.
        id: String,
    },

    /// The session's access token has expired and the session has no refresh token to renew it
    /// with (an online session, or a non-expiring token given a date): only a new OAuth grant
    /// helps.
    #[error(
        "the access token of session {id:?} has expired and it has no refresh token; the merchant must authorize the app again"
    )]
    NotRefreshable {
        /// The session id.
        id: String,
    },

    /// Shopify refused the refresh token (the app's token endpoint said so with
    /// [`RefreshFailure::Rejected`](crate::refresh::RefreshFailure::Rejected)): it was used
    /// already, or revoked. Only a new OAuth grant helps.
    #[error(
        "Shopify refused the refresh token of session {id:?}; the merchant must authorize the app again"
    )]
    RefreshRejected {
        /// The session id.
        id: String,
        /// The token endpoint's own error.
        source: SharedError,
    },

    /// A token refresh failed: the app's token endpoint failed or timed out, or the storage or
    /// the lock failed around it. Every caller that waited for that refresh gets this error;
    /// the next call tries again.
    #[error("refreshing the token of session {id:?} failed")]
    RefreshFailed {
        /// The session id.
        id: String,
        /// What failed.
        source: SharedError,
    },

    /// A caller waited longer than its timeout for a token refresh (its own or another
    /// server's). The refresh may still finish and store its session.
    #[error("waited {after:?} for the token of session {id:?} to be refreshed")]
    RefreshTimedOut {
        /// The session id.
        id: String,
        /// How long the caller waited.
        after: Duration,
    },

    /// Shopify refreshed the token, which used up the old refresh token, but the new session
    /// could not be stored, even after retries. The new session is here: the app should keep
    /// it (store it again later), or the shop needs a new OAuth grant.
    #[error("the token of session {:?} was refreshed but the new session could not be stored", session.id)]
    RefreshNotStored {
        /// The refreshed session, which holds the only valid tokens.
        session: Box<crate::Session>,
        /// Why it could not be stored.
        source: SharedError,
    },
}

/// What is wrong with a stored record: the source of [`Error::Corrupt`].
///
/// It names the part of the record that is damaged, never its contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptRecord {
    /// The record has no bytes at all.
    #[error("the record is empty")]
    Empty,
    /// The record starts with a format version this crate does not know (written by a newer
    /// version, or damaged).
    #[error("unknown format version {0}")]
    UnknownVersion(u8),
    /// The bytes do not decode as a record of their version; the source is the decoder's error.
    #[error("the record does not decode")]
    Undecodable(#[source] BoxError),
    /// Bytes follow a complete record.
    #[error("{0} bytes follow the record")]
    TrailingBytes(usize),
    /// A map of unknown keys (`extra`) kept inside the record is not a JSON object.
    #[error("{part} is not a JSON object (line {line}, column {column})")]
    ExtraNotAnObject {
        /// Which map: `"extra"`, `"online access info extra"` or `"user extra"`.
        part: &'static str,
        /// Where in the map's JSON text it fails.
        line: usize,
        /// Where in the map's JSON text it fails.
        column: usize,
    },
    /// A date is out of the range this platform's `SystemTime` holds, or not a valid instant.
    #[error("a date is out of range or malformed")]
    BadDate,
    /// The key holds a Redis value that is not a string (a hash, a list, ...).
    #[error("the key holds a Redis value that is not a string")]
    NotAString,
    /// The record is a session, but one with another id than the key it is stored under.
    #[error("the record holds a session with another id")]
    OtherId,
    /// The record's tokens are sealed with a key the storage was not given.
    #[error("its tokens are sealed with encryption key {key_id:?}, which is not in the key set")]
    MissingKey {
        /// The id of the key the record needs.
        key_id: String,
    },
    /// The record's tokens do not open with the key of their id: another key was given under
    /// that id, or the record was moved from another session.
    #[error(
        "its tokens do not open with encryption key {key_id:?} (another key under that id, or a record moved from another session)"
    )]
    Unsealable {
        /// The id of the key the record names.
        key_id: String,
    },
}

/// Why a record did not decode, for reports that name its id beside it: what is wrong with
/// the record for [`Error::Corrupt`] (not its id again), the whole chain otherwise.
pub(crate) fn record_reason(error: &Error) -> String {
    match error {
        Error::Corrupt { source, .. } => with_sources(source),
        other => with_sources(other),
    }
}

/// An error and its sources as one line, `outer: inner: ...`, for reports and log fields that
/// are text.
pub(crate) fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Error {
    /// Whether the shop needs a new OAuth grant before it has a token again: the error is
    /// [`RefreshTokenExpired`](Error::RefreshTokenExpired),
    /// [`NotRefreshable`](Error::NotRefreshable) or [`RefreshRejected`](Error::RefreshRejected).
    #[must_use]
    pub fn needs_authorization(&self) -> bool {
        matches!(
            self,
            Error::RefreshTokenExpired { .. }
                | Error::NotRefreshable { .. }
                | Error::RefreshRejected { .. }
        )
    }

    /// A background task that did not answer.
    pub(crate) fn background(task: &'static str) -> Self {
        Error::Background { task, source: None }
    }

    /// Shorthand for [`Error::InvalidSession`].
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidSession(message.into())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn callback_error_keeps_its_source_out_of_its_message() {
        let inner = std::io::Error::other("redis is down");
        let error = Error::Callback {
            operation: "store a session",
            source: Box::new(inner),
        };
        assert_eq!(
            error.to_string(),
            "CustomSessionStorage failed to store a session"
        );
        let source = error.source().expect("a source");
        assert_eq!(source.to_string(), "redis is down");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn json_error_says_its_cause_once() {
        let cause = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let cause_text = cause.to_string();
        let error = Error::Json(cause);
        assert_eq!(error.to_string(), "malformed session JSON");
        assert_eq!(error.source().unwrap().to_string(), cause_text);
    }

    #[test]
    fn corrupt_keeps_a_typed_source() {
        let error = Error::Corrupt {
            id: "offline_a.myshopify.com".into(),
            source: CorruptRecord::UnknownVersion(9),
        };
        assert_eq!(
            error.to_string(),
            "stored session \"offline_a.myshopify.com\" is corrupt"
        );
        let source = error.source().unwrap();
        assert!(matches!(
            source.downcast_ref::<CorruptRecord>(),
            Some(CorruptRecord::UnknownVersion(9))
        ));
    }
}
