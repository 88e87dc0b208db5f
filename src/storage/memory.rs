//! [`MemorySessionStorage`]: sessions in process memory.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, PoisonError, RwLock},
};

use async_trait::async_trait;

use crate::{
    Result, Session, SessionStorage,
    storage::{check_replacement, holds_tokens_of},
};

/// Sessions in process memory, for development and tests: everything is lost when the process
/// ends. Like Shopify's `MemorySessionStorage`, it keeps sessions until they are deleted (no
/// time to live).
///
/// Cloning is cheap and the clones share the same sessions. Sessions are indexed by shop, so
/// [`find_sessions_by_shop`](SessionStorage::find_sessions_by_shop) costs as much as the shop's
/// sessions, not the whole store.
///
/// ```
/// use shopify_session_storage::{MemorySessionStorage, Session, SessionStorage};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> shopify_session_storage::Result<()> {
/// let storage = MemorySessionStorage::new();
/// let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
/// storage.store_session(&session).await?;
///
/// assert_eq!(storage.find_sessions_by_shop("a.myshopify.com").await?, vec![session]);
/// assert!(storage.delete_session("offline_a.myshopify.com").await?);
/// assert_eq!(storage.load_session("offline_a.myshopify.com").await?, None);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct MemorySessionStorage {
    inner: Arc<RwLock<Sessions>>,
}

#[derive(Default)]
struct Sessions {
    by_id: HashMap<String, Session>,
    /// shop → ids of its sessions.
    by_shop: HashMap<String, BTreeSet<String>>,
}

impl Sessions {
    fn remove(&mut self, id: &str) -> Option<Session> {
        let session = self.by_id.remove(id)?;
        if let Some(ids) = self.by_shop.get_mut(&session.shop) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_shop.remove(&session.shop);
            }
        }
        Some(session)
    }

    fn insert(&mut self, session: Session) {
        self.remove(&session.id);
        self.by_shop
            .entry(session.shop.clone())
            .or_default()
            .insert(session.id.clone());
        self.by_id.insert(session.id.clone(), session);
    }
}

impl MemorySessionStorage {
    /// An empty storage.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of sessions held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read(|sessions| sessions.by_id.len())
    }

    /// Whether no session is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while the lock is held cannot leave `Sessions` half-updated in a way that breaks
    // later calls (each method restores the index before it returns), so a poisoned lock is
    // taken over rather than turned into a panic in every later call.
    fn read<T>(&self, f: impl FnOnce(&Sessions) -> T) -> T {
        f(&self.inner.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Sessions) -> T) -> T {
        f(&mut self.inner.write().unwrap_or_else(PoisonError::into_inner))
    }
}

impl std::fmt::Debug for MemorySessionStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionStorage")
            .field("sessions", &self.len())
            .finish()
    }
}

#[async_trait]
impl SessionStorage for MemorySessionStorage {
    async fn store_session(&self, session: &Session) -> Result<bool> {
        session.validate()?;
        let session = session.clone();
        self.write(|sessions| sessions.insert(session));
        Ok(true)
    }

    async fn load_session(&self, id: &str) -> Result<Option<Session>> {
        Ok(self.read(|sessions| sessions.by_id.get(id).cloned()))
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        self.write(|sessions| sessions.remove(id));
        Ok(true)
    }

    async fn delete_sessions(&self, ids: &[String]) -> Result<bool> {
        self.write(|sessions| {
            for id in ids {
                sessions.remove(id);
            }
        });
        Ok(true)
    }

    async fn find_sessions_by_shop(&self, shop: &str) -> Result<Vec<Session>> {
        Ok(self.read(|sessions| {
            sessions.by_shop.get(shop).map_or_else(Vec::new, |ids| {
                ids.iter()
                    .filter_map(|id| sessions.by_id.get(id).cloned())
                    .collect()
            })
        }))
    }

    async fn replace_session(&self, expected: &Session, replacement: &Session) -> Result<bool> {
        check_replacement(expected, replacement)?;
        Ok(self.write(|sessions| {
            let unchanged = sessions
                .by_id
                .get(&expected.id)
                .is_some_and(|stored| holds_tokens_of(stored, expected));
            if unchanged {
                sessions.insert(replacement.clone());
            }
            unchanged
        }))
    }
}

/// Sessions in memory have no deadline, no indexes to go wrong and no files: a walk is the map,
/// and sweep, verify and repair have nothing to do.
#[async_trait]
impl crate::admin::AdminStorage for MemorySessionStorage {
    fn describe(&self) -> String {
        "sessions in memory".to_owned()
    }

    async fn walk(
        &self,
        shop: Option<&str>,
        visit: &mut (dyn FnMut(crate::admin::Walked) + Send),
    ) -> Result<()> {
        let sessions: Vec<Session> = self.read(|sessions| {
            sessions
                .by_id
                .values()
                .filter(|session| shop.is_none_or(|shop| session.shop == shop))
                .cloned()
                .collect()
        });
        for session in sessions {
            visit(crate::admin::Walked::Session(
                crate::admin::StoredSession::new(session, None),
            ));
        }
        Ok(())
    }

    async fn load_stored(&self, id: &str) -> Result<Option<crate::admin::StoredSession>> {
        Ok(self
            .read(|sessions| sessions.by_id.get(id).cloned())
            .map(|session| crate::admin::StoredSession::new(session, None)))
    }

    async fn delete_shop(&self, shop: &str) -> Result<Vec<String>> {
        Ok(self.write(|sessions| {
            let ids: Vec<String> = sessions
                .by_shop
                .get(shop)
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default();
            for id in &ids {
                sessions.remove(id);
            }
            ids
        }))
    }

    async fn sweep_expired(&self) -> Result<crate::SweepReport> {
        Ok(crate::SweepReport::default())
    }

    async fn verify(&self) -> Result<crate::VerifyReport> {
        Ok(crate::VerifyReport {
            records: self.len(),
            problems: Vec::new(),
        })
    }

    async fn repair(&self) -> Result<crate::RepairReport> {
        Ok(crate::RepairReport {
            records: self.len(),
            ..crate::RepairReport::default()
        })
    }

    async fn layout(&self) -> Result<String> {
        Ok("memory".to_owned())
    }

    async fn disk_usage(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}
