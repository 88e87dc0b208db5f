//! Session storage for Shopify apps.
//!
//! A Shopify app keeps one [`Session`] per shop (the offline token) and one per staff user (the
//! online token). This crate holds those sessions behind one trait, [`SessionStorage`], with
//! the same contract and the same data shapes as Shopify's own libraries:
//!
//! - [`Session`] reads and writes Shopify's session JSON (`toObject()`) and property arrays
//!   (`toPropertyArray()`) unchanged, so sessions move between a Node and a Rust app.
//! - [`MemorySessionStorage`] keeps sessions in memory, for development and tests.
//! - [`CustomSessionStorage`] is built from the app's own async `store`, `load` and `delete`
//!   callbacks, exactly like Shopify's Node guide.
//! - [`SledSessionStorage`] is the durable embedded store for one server.
//! - `RedisSessionStorage` (feature `redis`) shares sessions between servers, and with Shopify's
//!   own Node Redis adapter.
//! - [`refresh::TokenRefresher`] hands out sessions with a working access token, refreshing
//!   Shopify's expiring offline tokens one at a time per shop, also across servers.
//! - [`AuthScopes`], [`sanitize_shop`], [`offline_session_id`] and [`online_session_id`] are the
//!   helpers that go with them.
//!
//! ```
//! use shopify_session_storage::{
//!     offline_session_id, sanitize_shop, AuthScopes, MemorySessionStorage, Session, SessionStorage,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> shopify_session_storage::Result<()> {
//! let storage = MemorySessionStorage::new();
//!
//! let shop = sanitize_shop("https://Demo-Shop.myshopify.com/")?;
//! let mut session = Session::new(offline_session_id(&shop), &shop, "", false);
//! session.scope = Some("write_products".into());
//! session.access_token = Some("shpat_...".into());
//! storage.store_session(&session).await?;
//!
//! let loaded = storage.load_session("offline_demo-shop.myshopify.com").await?.unwrap();
//! assert!(loaded.is_active(&AuthScopes::from("read_products")));
//! assert_eq!(storage.find_sessions_by_shop(&shop).await?.len(), 1);
//! # Ok(()) }
//! ```
//!
//! With the `testkit` feature, [`testkit::run_conformance`] checks any storage (yours too)
//! against the whole contract.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::pedantic)]
#![allow(clippy::module_name_repetitions)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin;
mod clock;
pub mod encryption;
mod error;
mod ids;
pub mod refresh;
mod scopes;
mod session;
mod storage;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod transfer;

/// Internals exposed for the fuzz targets and benchmarks (feature `unstable-internals`); not a stable API.
#[cfg(feature = "unstable-internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::storage::sled::internals::{
        decode_record, decode_record_with_keys, encode_record, encode_record_sealed,
    };
}

/// The README's examples, compiled as doctests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

pub use crate::{
    clock::{Clock, ManualClock, SystemClock},
    error::{BoxError, CorruptRecord, Error, Result, SharedError},
    ids::{offline_session_id, online_session_id, sanitize_shop},
    scopes::AuthScopes,
    session::{AssociatedUser, DEFAULT_EXPIRY_MARGIN, MAX_ID_LEN, OnlineAccessInfo, Session},
    storage::{
        SessionStorage,
        custom::{CustomSessionStorage, LoadedSession},
        memory::MemorySessionStorage,
        sled::{
            CompactReport, DEFAULT_CACHE_CAPACITY, FlushPolicy, RepairReport, ReplaceReport,
            ReplaceStep, ResealReport, SledSessionStorage, SledSessionStorageBuilder, SweepReport,
            SweeperHandle, VerifyProblem, VerifyReport,
        },
    },
};

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use crate::storage::redis::{
    DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT, RedisSessionStorage, RedisSessionStorageBuilder,
};
