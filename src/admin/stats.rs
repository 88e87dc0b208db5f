//! [`Stats`]: counts over a whole store.

use std::{
    collections::HashSet,
    time::{Duration, SystemTime},
};

use serde::Serialize;

use super::{AdminStorage, Walked};
use crate::Result;

/// How far ahead [`Stats::expiring_within_24h`] looks.
const SOON: Duration = Duration::from_secs(24 * 3_600);
/// How far ahead [`Stats::refresh_tokens_expiring_within_7d`] looks.
const REFRESH_SOON: Duration = Duration::from_secs(7 * 24 * 3_600);

/// Counts over a whole store, from [`Stats::gather`]. Serializes as a flat JSON object with
/// these field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Stored sessions, those past their deadline but not yet swept included.
    pub sessions: u64,
    /// Of those, online (per-user) sessions.
    pub online: u64,
    /// Of those, offline (per-shop) sessions.
    pub offline: u64,
    /// Distinct shops among them.
    pub shops: u64,
    /// Sessions past their deadline that no sweep has removed yet (they no longer load).
    pub expired_not_swept: u64,
    /// Served sessions whose deadline falls within the next 24 hours.
    pub expiring_within_24h: u64,
    /// Served sessions whose refresh token expires within the next 7 days (not yet expired): their
    /// shops must be sent through OAuth again unless the token is used before then.
    pub refresh_tokens_expiring_within_7d: u64,
    /// Records that do not decode.
    pub unreadable: u64,
    /// Bytes on disk, where the storage can tell.
    pub size_on_disk_bytes: Option<u64>,
    /// The storage's data layout.
    pub layout: String,
}

impl Stats {
    /// Reads every record once, counting as of `now`; `tick` is called once per record (for a
    /// progress bar).
    ///
    /// # Errors
    /// What the storage's [`walk`](AdminStorage::walk) returns.
    pub async fn gather<S: AdminStorage + ?Sized>(
        storage: &S,
        now: SystemTime,
        tick: &mut (dyn FnMut() + Send),
    ) -> Result<Stats> {
        let mut stats = Stats::default();
        let mut shops = HashSet::new();
        storage
            .walk(None, &mut |walked| {
                tick();
                match walked {
                    Walked::Session(stored) => {
                        stats.sessions += 1;
                        if stored.session.is_online {
                            stats.online += 1;
                        } else {
                            stats.offline += 1;
                        }
                        if stored.is_expired_at(now) {
                            stats.expired_not_swept += 1;
                        } else if stored
                            .deadline
                            .is_some_and(|deadline| deadline <= now + SOON)
                        {
                            stats.expiring_within_24h += 1;
                        }
                        let refresh_expires_soon = stored
                            .session
                            .refresh_token_expires
                            .is_some_and(|expires| expires > now && expires <= now + REFRESH_SOON);
                        if refresh_expires_soon && !stored.is_expired_at(now) {
                            stats.refresh_tokens_expiring_within_7d += 1;
                        }
                        if !shops.contains(&stored.session.shop) {
                            shops.insert(stored.session.shop);
                        }
                    }
                    Walked::Unreadable { .. } => stats.unreadable += 1,
                }
            })
            .await?;
        stats.shops = shops.len() as u64;
        stats.size_on_disk_bytes = storage.disk_usage().await?;
        stats.layout = storage.layout().await?;
        Ok(stats)
    }
}
