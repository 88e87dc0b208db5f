//! The crate's error type.

use std::path::PathBuf;

/// A boxed error as returned by user-supplied callbacks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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

    /// Session JSON could not be parsed.
    #[error("malformed session JSON: {0}")]
    Json(#[source] serde_json::Error),

    /// A shop domain is not one Shopify issues.
    #[error(
        "invalid shop domain {0:?}: expected NAME.myshopify.com, NAME.myshopify.io or admin.shopify.com/store/NAME"
    )]
    InvalidShop(String),

    /// A callback of a [`CustomSessionStorage`](crate::CustomSessionStorage) failed.
    #[error("CustomSessionStorage failed to {operation}: {source}")]
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
    #[error("stored session {id:?} is corrupt: {reason}")]
    Corrupt {
        /// The session id whose record is damaged.
        id: String,
        /// What is wrong with it.
        reason: String,
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

    /// The storage was closed with `SledSessionStorage::close`; open the database again to
    /// go on.
    #[error("the session storage is closed")]
    Closed,

    /// A background task (a flush or a sweep) stopped before it could answer.
    #[error("background task failed: {0}")]
    Background(&'static str),
}

impl Error {
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
    fn callback_error_keeps_its_source() {
        let inner = std::io::Error::other("redis is down");
        let error = Error::Callback {
            operation: "store a session",
            source: Box::new(inner),
        };
        assert_eq!(
            error.to_string(),
            "CustomSessionStorage failed to store a session: redis is down"
        );
        let source = error.source().expect("a source");
        assert_eq!(source.to_string(), "redis is down");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }
}
