//! Which store a command works on: `--db PATH` or `--redis URL`.

use std::path::PathBuf;

use clap::{Args, CommandFactory, error::ErrorKind};
use shopify_session_storage::{Error, SledSessionStorage, admin::AdminStorage};

/// The store's options, shared by every command.
#[derive(Debug, Args)]
pub struct Target {
    /// The sled database directory.
    #[arg(long, env = "SHOPIFY_SESSIONS_DB", global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// A Redis holding the Node adapter's layout (`redis://[user:password@]host[:port][/db]`).
    #[cfg(feature = "redis")]
    #[arg(
        long,
        env = "SHOPIFY_SESSIONS_REDIS",
        global = true,
        value_name = "URL",
        conflicts_with = "db"
    )]
    pub redis: Option<String>,

    /// The Redis key prefix.
    #[cfg(feature = "redis")]
    #[arg(long, global = true, default_value = shopify_session_storage::DEFAULT_REDIS_PREFIX, requires = "redis")]
    pub prefix: String,
}

/// An open store.
pub enum Store {
    /// A sled database, which must be closed cleanly.
    Sled(SledSessionStorage),
    /// A Redis.
    #[cfg(feature = "redis")]
    Redis(shopify_session_storage::RedisSessionStorage),
}

impl Store {
    /// The store, for the library's admin functions.
    pub fn admin(&self) -> &dyn AdminStorage {
        match self {
            Store::Sled(storage) => storage,
            #[cfg(feature = "redis")]
            Store::Redis(storage) => storage,
        }
    }

    /// Closes a sled database cleanly (so its next open needs no repair).
    pub async fn close(self) -> Result<(), Error> {
        match self {
            Store::Sled(storage) => storage.close().await,
            #[cfg(feature = "redis")]
            Store::Redis(_) => Ok(()),
        }
    }
}

impl Target {
    /// The sled path, or a usage error (exit 2) when none was given.
    pub fn sled_path(&self, command: &str) -> &PathBuf {
        #[cfg(feature = "redis")]
        if self.redis.is_some() {
            usage(format!(
                "`{command}` works on a sled database (--db PATH), not on Redis"
            ));
        }
        self.db.as_ref().unwrap_or_else(|| {
            usage(format!(
                "`{command}` needs a sled database: --db PATH or SHOPIFY_SESSIONS_DB"
            ))
        })
    }

    /// Opens the chosen store; a usage error (exit 2) when none was chosen.
    pub async fn open(&self) -> Result<Store, Error> {
        #[cfg(feature = "redis")]
        if let Some(url) = &self.redis {
            let storage = shopify_session_storage::RedisSessionStorage::builder(url.clone())
                .prefix(self.prefix.clone())
                .connect()
                .await?;
            return Ok(Store::Redis(storage));
        }
        let Some(path) = &self.db else {
            usage(if cfg!(feature = "redis") {
                "choose a store: --db PATH (or SHOPIFY_SESSIONS_DB), or --redis URL (or SHOPIFY_SESSIONS_REDIS)"
            } else {
                "choose a store: --db PATH (or SHOPIFY_SESSIONS_DB)"
            }.to_owned())
        };
        let path = path.clone();
        // Opening may repair after a crash, which blocks on the disk.
        tokio::task::spawn_blocking(move || {
            SledSessionStorage::builder(path)
                .create_if_missing(false)
                .open()
        })
        .await
        .map_err(|source| Error::Io {
            context: "the open task failed".to_owned(),
            source: std::io::Error::other(source),
        })?
        .map(Store::Sled)
    }
}

/// Prints a usage error the way clap does and exits with status 2.
pub fn usage(message: String) -> ! {
    crate::Cli::command()
        .error(ErrorKind::MissingRequiredArgument, message)
        .exit()
}
