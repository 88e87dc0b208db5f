//! [`list_sessions`]: the sessions that match a filter.

use std::time::SystemTime;

use super::{AdminStorage, StoredSession, Walked};
use crate::Result;

/// Which sessions [`list_sessions`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only this shop's.
    pub shop: Option<String>,
    /// Only online (`Some(true)`) or offline (`Some(false)`) sessions.
    pub online: Option<bool>,
    /// Only sessions past their deadline and not yet swept; otherwise only served ones.
    pub expired: bool,
    /// At most this many, the first by shop and id.
    pub limit: Option<usize>,
}

impl ListFilter {
    /// Every served session.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn admits(&self, stored: &StoredSession, now: SystemTime) -> bool {
        self.online
            .is_none_or(|online| stored.session.is_online == online)
            && stored.is_expired_at(now) == self.expired
            && self
                .shop
                .as_ref()
                .is_none_or(|shop| &stored.session.shop == shop)
    }
}

/// What [`list_sessions`] found.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Listing {
    /// The matching sessions, by shop and id, at most the filter's limit.
    pub sessions: Vec<StoredSession>,
    /// How many matched in all (more than `sessions.len()` when the limit cut the list).
    pub matched: usize,
    /// The ids of the records that do not decode, and why.
    pub unreadable: Vec<(String, String)>,
}

/// The sessions of `storage` that `filter` admits as of `now`, by shop and id. `tick` is called
/// once per record read (for a progress bar).
///
/// # Errors
/// What the storage's [`walk`](AdminStorage::walk) returns.
pub async fn list_sessions<S: AdminStorage + ?Sized>(
    storage: &S,
    filter: &ListFilter,
    now: SystemTime,
    tick: &mut (dyn FnMut() + Send),
) -> Result<Listing> {
    let mut listing = Listing::default();
    storage
        .walk(filter.shop.as_deref(), &mut |walked| {
            tick();
            match walked {
                Walked::Session(stored) if filter.admits(&stored, now) => {
                    listing.sessions.push(stored);
                }
                Walked::Session(_) => {}
                Walked::Unreadable { id, reason } => listing.unreadable.push((id, reason)),
            }
        })
        .await?;
    listing.matched = listing.sessions.len();
    listing
        .sessions
        .sort_by(|a, b| (&a.session.shop, &a.session.id).cmp(&(&b.session.shop, &b.session.id)));
    if let Some(limit) = filter.limit {
        listing.sessions.truncate(limit);
    }
    Ok(listing)
}
