//! The lock that lets one refresher at a time exchange a session's refresh token: the
//! [`RefreshLock`] trait, its [`Lease`], and the in-process lock.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, LazyLock, Mutex, PoisonError},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use crate::{Error, Result};

/// A lock per session id, held for a time to live, so that only one refresher (in this
/// process, or on any server that shares the lock) exchanges a session's refresh token at a
/// time.
///
/// A lock is a lease: it lapses by itself after its time to live, so a refresher that crashed
/// cannot keep a shop from being refreshed for longer than that. [`release`](Self::release)
/// and [`is_held`](Self::is_held) act only on the holder's own lease (its random
/// [`token`](Lease::token)), never on one that someone else took after it lapsed.
///
/// [`InProcessRefreshLock`] serves one process (the memory and sled storages are one process's
/// by construction); `RedisRefreshLock` (feature `redis`) serves every server that shares a
/// Redis; a multi-server [`CustomSessionStorage`](crate::CustomSessionStorage) can use that or
/// its own lock implementing this trait.
#[async_trait]
pub trait RefreshLock: Send + Sync + 'static {
    /// Takes the lock of session `id` for `ttl`, unless someone holds it: `Ok(None)` then.
    async fn try_acquire(&self, id: &str, ttl: Duration) -> Result<Option<Lease>>;

    /// Releases the lock if `lease` still holds it. Returns whether it did (`false`: the lease
    /// had lapsed, and the lock may be someone else's now).
    async fn release(&self, lease: &Lease) -> Result<bool>;

    /// Whether `lease` still holds the lock.
    async fn is_held(&self, lease: &Lease) -> Result<bool>;
}

/// A held [`RefreshLock`]: the session id, the holder's random token, and how long it lasts.
#[derive(Clone, PartialEq, Eq)]
pub struct Lease {
    id: String,
    token: String,
    taken_at: Instant,
    ttl: Duration,
}

impl Lease {
    /// A new lease of session `id` for `ttl` from now, with a fresh random token (128 bits from
    /// the operating system), for a [`RefreshLock`] to record as the holder's.
    ///
    /// # Errors
    /// [`Error::Io`] when the operating system gives no random bytes.
    pub fn new(id: &str, ttl: Duration) -> Result<Self> {
        let mut bytes = [0_u8; 16];
        getrandom::fill(&mut bytes).map_err(|source| Error::Io {
            context: "could not read random bytes for a lock token".into(),
            source: source.into(),
        })?;
        let token = format!("{:032x}", u128::from_le_bytes(bytes));
        Ok(Lease {
            id: id.to_owned(),
            token,
            taken_at: Instant::now(),
            ttl,
        })
    }

    /// The session id this lease locks.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The holder's token: what the lock keeps to tell its holder from anyone else.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// How long the lease lasts from when it was taken.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// When the lease lapses, by this process's monotonic clock.
    #[must_use]
    pub fn lapses_at(&self) -> Instant {
        self.taken_at + self.ttl
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A [`RefreshLock`] within one process: enough for the memory and sled storages, whose
/// refreshers all run in the process that owns the storage.
///
/// Cheap to clone; clones share the same locks. Refreshers take
/// [`process_wide`](Self::process_wide) by default, so that two refreshers built over the same
/// storage still refresh a session once; [`new`](Self::new) makes a lock of its own.
#[derive(Clone, Default)]
pub struct InProcessRefreshLock {
    /// Session id → (holder's token, when its lease lapses).
    held: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

impl InProcessRefreshLock {
    /// A lock of its own, which nobody holds.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock every refresher of this process shares unless given another. Sessions are told
    /// apart by id only, so refreshers of two storages that hold the same id take turns.
    #[must_use]
    pub fn process_wide() -> Self {
        static PROCESS_WIDE: LazyLock<InProcessRefreshLock> =
            LazyLock::new(InProcessRefreshLock::new);
        PROCESS_WIDE.clone()
    }

    fn with_held<T>(&self, f: impl FnOnce(&mut HashMap<String, (String, Instant)>) -> T) -> T {
        f(&mut self.held.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl fmt::Debug for InProcessRefreshLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.with_held(|held| held.len());
        f.debug_struct("InProcessRefreshLock")
            .field("held", &held)
            .finish()
    }
}

#[async_trait]
impl RefreshLock for InProcessRefreshLock {
    async fn try_acquire(&self, id: &str, ttl: Duration) -> Result<Option<Lease>> {
        let lease = Lease::new(id, ttl)?;
        Ok(self.with_held(|held| {
            let now = Instant::now();
            // Lapsed leases are dropped here, so the map holds only live ones.
            held.retain(|_, (_, lapses_at)| *lapses_at > now);
            if held.contains_key(id) {
                return None;
            }
            held.insert(id.to_owned(), (lease.token.clone(), lease.lapses_at()));
            Some(lease)
        }))
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        Ok(self.with_held(|held| {
            let ours = held.get(&lease.id).is_some_and(|(token, lapses_at)| {
                *token == lease.token && *lapses_at > Instant::now()
            });
            if ours {
                held.remove(&lease.id);
            }
            ours
        }))
    }

    async fn is_held(&self, lease: &Lease) -> Result<bool> {
        Ok(self.with_held(|held| {
            held.get(&lease.id).is_some_and(|(token, lapses_at)| {
                *token == lease.token && *lapses_at > Instant::now()
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_until_release() {
        let lock = InProcessRefreshLock::new();
        let first = lock
            .try_acquire("a", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert!(
            lock.try_acquire("a", Duration::from_secs(60))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            lock.try_acquire("b", Duration::from_secs(60))
                .await
                .unwrap()
                .is_some()
        );
        assert!(lock.is_held(&first).await.unwrap());
        assert!(lock.release(&first).await.unwrap());
        assert!(!lock.is_held(&first).await.unwrap());
        assert!(
            lock.try_acquire("a", Duration::from_secs(60))
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_lapsed_lease_neither_holds_nor_releases_the_next_holders_lock() {
        let lock = InProcessRefreshLock::new();
        let lapsed = lock
            .try_acquire("a", Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(!lock.is_held(&lapsed).await.unwrap());
        let next = lock
            .try_acquire("a", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(next.token(), lapsed.token());
        assert!(!lock.release(&lapsed).await.unwrap());
        assert!(lock.is_held(&next).await.unwrap());
    }
}
