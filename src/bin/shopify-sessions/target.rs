//! Which store a command works on: `--db PATH` or `--redis URL`.

use std::path::PathBuf;

use clap::{Args, CommandFactory, error::ErrorKind};
use shopify_session_storage::{
    Error, SledSessionStorage, SledSessionStorageBuilder,
    admin::AdminStorage,
    encryption::{EncryptionKey, KeySet},
};

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
        value_name = "URL"
    )]
    pub redis: Option<String>,

    /// The Redis key prefix.
    #[cfg(feature = "redis")]
    #[arg(long, global = true, default_value = shopify_session_storage::DEFAULT_REDIS_PREFIX)]
    pub prefix: String,

    /// On Redis, the app's retention in seconds (RedisSessionStorageBuilder::retention): how
    /// long a session a Node app stored with no TTL is kept past its dates. Sessions with a TTL
    /// expire when Redis says; a sled database keeps each session's deadline in its record.
    #[cfg(feature = "redis")]
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        default_value_t = 0,
        requires = "redis"
    )]
    pub retention: u64,

    /// An encryption key of a sled database: the name of an environment variable holding
    /// `ID:BASE64` (32 bytes). Repeat it for old keys; the first is the active key. An
    /// encrypted database needs it for every command that reads sessions; `sweep`, `verify`
    /// and `delete` work without it. It never turns encryption on: `import` into a plain or new
    /// database writes plain records, and `rotate-keys` then seals them.
    #[arg(long = "key-env", global = true, value_name = "VAR")]
    pub key_env: Vec<String>,
}

/// An open store.
pub enum Store {
    /// A sled database, which must be closed cleanly.
    Sled(SledSessionStorage),
    /// A Redis.
    #[cfg(feature = "redis")]
    Redis(shopify_session_storage::RedisSessionStorage),
    /// An empty store in memory, for a dry run against a database not made yet.
    Memory(shopify_session_storage::MemorySessionStorage),
}

impl Store {
    /// The store, for the library's admin functions.
    pub fn admin(&self) -> &dyn AdminStorage {
        match self {
            Store::Sled(storage) => storage,
            #[cfg(feature = "redis")]
            Store::Redis(storage) => storage,
            Store::Memory(storage) => storage,
        }
    }

    /// Closes a sled database cleanly (so its next open needs no repair).
    pub async fn close(self) -> Result<(), Error> {
        match self {
            Store::Sled(storage) => storage.close().await,
            #[cfg(feature = "redis")]
            Store::Redis(_) => Ok(()),
            Store::Memory(_) => Ok(()),
        }
    }
}

impl Target {
    /// Settles a store named twice: an option given on the command line wins over the other
    /// store's environment variable; two on the command line (or two variables) are a usage
    /// error (exit 2).
    #[cfg(feature = "redis")]
    pub fn settle(&mut self, matches: &clap::ArgMatches) {
        use clap::parser::ValueSource;
        // (Checked here: clap's `requires` does not see a global option given on another
        // command level.)
        let given = |id| matches.value_source(id) == Some(ValueSource::CommandLine);
        if self.redis.is_none() && (given("prefix") || given("retention")) {
            usage("--prefix and --retention go with --redis URL".to_owned());
        }
        if self.db.is_none() || self.redis.is_none() {
            return;
        }
        let from_env = |id| matches.value_source(id) == Some(ValueSource::EnvVariable);
        match (from_env("db"), from_env("redis")) {
            (true, false) => self.db = None,
            (false, true) => self.redis = None,
            _ => usage("choose one store: --db PATH or --redis URL (SHOPIFY_SESSIONS_DB or SHOPIFY_SESSIONS_REDIS)".to_owned()),
        }
    }

    /// Whether the chosen store is a sled path that does not exist at all (a dry run can count
    /// against an empty store; any other failure to read the path is an error).
    pub fn names_a_missing_path(&self) -> bool {
        #[cfg(feature = "redis")]
        if self.redis.is_some() {
            return false;
        }
        self.db.as_ref().is_some_and(|path| {
            std::fs::symlink_metadata(path)
                .is_err_and(|error| error.kind() == std::io::ErrorKind::NotFound)
        })
    }

    /// Nothing to settle with one kind of store.
    #[cfg(not(feature = "redis"))]
    pub fn settle(&mut self, _: &clap::ArgMatches) {}

    /// The key set `--key-env` names, if any; a usage error (exit 2) with `--redis`, whose
    /// layout is always plain.
    pub fn keys(&self) -> Result<Option<KeySet>, Error> {
        #[cfg(feature = "redis")]
        if self.redis.is_some() && !self.key_env.is_empty() {
            usage(
                "--key-env is for a sled database: Redis keeps the Node adapter's plain layout"
                    .to_owned(),
            );
        }
        let mut names = self.key_env.iter();
        let Some(active) = names.next() else {
            return Ok(None);
        };
        let mut keys = KeySet::new(EncryptionKey::from_env(active)?);
        for old in names {
            keys = keys.with_old(EncryptionKey::from_env(old)?)?;
        }
        Ok(Some(keys))
    }

    /// The settings of the sled database at `path`, with the key set if one was given.
    pub fn sled_builder(&self, path: PathBuf) -> Result<SledSessionStorageBuilder, Error> {
        let builder = SledSessionStorage::builder(path);
        Ok(match self.keys()? {
            // Never turns encryption on by itself: `rotate-keys` does.
            Some(keys) => builder.keys(keys),
            None => builder,
        })
    }

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

    /// Opens the chosen store; a usage error (exit 2) when none was chosen. A sled database is
    /// created only when `create` is set (an import's target); otherwise a path with no
    /// database is an error, so a typo is not a new empty database.
    pub async fn open(&self, create: bool) -> Result<Store, Error> {
        #[cfg(feature = "redis")]
        if let Some(url) = &self.redis {
            // Refuses --key-env (a usage error).
            self.keys()?;
            let storage = shopify_session_storage::RedisSessionStorage::builder(url.clone())
                .prefix(self.prefix.clone())
                .retention(std::time::Duration::from_secs(self.retention))
                // A look inside writes nothing that the commands do not.
                .mark_migration_done(false)
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
        let builder = self.sled_builder(path.clone())?;
        // Opening may repair after a crash, which blocks on the disk.
        tokio::task::spawn_blocking(move || builder.create_if_missing(create).open())
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
