//! How a store or delete stays atomic without sled's transactions.
//!
//! sled's transactions, batches and checksums switch on a process-wide read/write lock for
//! good (`concurrency_control.rs:63-103`: the bit is never cleared), after which every write
//! waits for every flush; without it, single-key `get`/`insert`/`remove` take no lock at all
//! (`concurrency_control.rs:73-89`). So none of them is used (clippy's `disallowed-methods`
//! keeps it so), and each change of a session is a few single-key writes under the id's lock
//! (`id_locks.rs`), ordered so that any prefix of them leaves the store sound:
//!
//! - store: the new index entries that change, then the record, then the removal of the old
//!   entries that changed;
//! - delete: the record, then its index entries.
//!
//! The record is the truth. An index entry whose record is missing or says otherwise is
//! *stale*: a harmless leftover of a write cut short, which `find_sessions_by_shop` and the
//! sweep check against the record and skip. A record always has its entries (they were
//! written before it), so a session that loads is found by its shop. A record whose old value
//! does not decode cannot name its old entries: they are left stale.
//!
//! Everything else that removes a record or an index entry (the sweep, repair) takes the id's
//! lock and reads the record again under it before acting, so it never undoes a store that
//! ran a moment earlier (a merchant reinstalling gets a new `offline_{shop}` session).

use super::{
    Inner, SledSessionStorage, charge::Sizes, codec, flusher::Ticket, index, layout::MAX_SHOP_LEN,
};
use crate::{Error, Result, Session, storage::holds_tokens_of};

/// Single-key writes a store makes at most: two new index entries, the record, two removals.
const STORE_WRITES: u64 = 5;
/// Single-key writes a delete makes at most: the record and two index entries.
const DELETE_WRITES: u64 = 3;

/// The index keys of one record.
#[derive(Debug)]
pub(super) struct IndexKeys {
    pub(super) shop: Vec<u8>,
    pub(super) expiry: Option<Vec<u8>>,
}

impl IndexKeys {
    pub(super) fn of(shop: &str, deadline_ms: Option<u64>, id: &str) -> Self {
        IndexKeys {
            shop: index::shop_key(shop, id),
            expiry: deadline_ms.map(|deadline| index::expiry_key(deadline, id)),
        }
    }

    pub(super) fn of_record(id: &str, record: &codec::Record) -> Self {
        Self::of(&record.session.shop, record.deadline_ms, id)
    }

    /// The sizes of these entries (keys with empty values), for the charge.
    pub(super) fn sizes(&self) -> Sizes {
        let shop = Sizes::of_entry(&self.shop, &[]);
        self.expiry
            .as_deref()
            .map_or(shop, |expiry| shop.max(Sizes::of_entry(expiry, &[])))
    }
}

impl SledSessionStorage {
    /// Stores `session`; the returned ticket says when it is durable.
    pub(super) async fn store(&self, session: &Session) -> Result<Ticket> {
        session.validate()?;
        let deadline = self.inner.ttl.deadline_ms(session, self.now_ms());
        self.put(session, deadline).await
    }

    /// Stores a valid `session` under this deadline (a copy keeps the one it was stored with).
    pub(super) async fn put(&self, session: &Session, deadline: Option<u64>) -> Result<Ticket> {
        Ok(self.put_if(session, deadline, None).await?.1)
    }

    /// [`put`](Self::put), but given `expected`, only if the record stored under the id holds
    /// its tokens (judged under the id's lock, so no store slips in between). Returns whether it
    /// stored, and the ticket of the write.
    pub(super) async fn put_if(
        &self,
        session: &Session,
        deadline: Option<u64>,
        expected: Option<&Session>,
    ) -> Result<(bool, Ticket)> {
        if session.shop.len() > MAX_SHOP_LEN {
            return Err(Error::invalid(format!(
                "`shop` is {} bytes long, at most {MAX_SHOP_LEN} are stored",
                session.shop.len()
            )));
        }
        let inner = &*self.inner;
        let _mode = inner.sealing_gate.read().await;
        let keys = inner.sealing("store a session")?;
        let record = codec::encode(session, deadline, inner.limits.max_record_bytes, keys)?;
        let keys = IndexKeys::of(&session.shop, deadline, &session.id);
        let own = Sizes::of_entry(session.id.as_bytes(), &record).max(keys.sizes());
        inner
            .charged_write(STORE_WRITES, own, |_| {
                inner.store_locked(&session.id, &record, &keys, expected)
            })
            .await
    }

    /// Deletes the session `id` if it is there; the returned ticket says when that is durable
    /// (also when nothing was there: a concurrent delete of the same id may not be durable yet).
    pub(super) async fn delete(&self, id: &str) -> Result<Ticket> {
        Ok(self.delete_of(id, None).await?.1)
    }

    /// Deletes the session `id` if it is there and, given `shop`, belongs to that shop (judged
    /// under the id's lock, so a session a concurrent store moved to another shop stays).
    /// Returns whether it deleted a record, and the ticket of the write.
    pub(super) async fn delete_of(&self, id: &str, shop: Option<&str>) -> Result<(bool, Ticket)> {
        let inner = &*self.inner;
        inner
            .charged_write(DELETE_WRITES, Sizes::default(), |_| {
                inner.delete_locked(id, shop)
            })
            .await
    }
}

impl Inner {
    /// The writes of a store, in their safe order, under the id's lock; given `expected`, only
    /// if the stored record holds its tokens. Returns whether it stored, and how many
    /// single-key writes it made.
    fn store_locked(
        &self,
        id: &str,
        record: &[u8],
        new: &IndexKeys,
        expected: Option<&Session>,
    ) -> Result<(bool, u64)> {
        let _tracked = self.watchdog.track();
        let _lock = self.locks.lock(id);
        let old = match self.get_record(id) {
            Ok(mut old) => {
                if let Some(expected) = expected {
                    // Tokens that do not open cannot be the expected ones.
                    let unchanged = old.as_mut().is_some_and(|old| {
                        self.open(id, old).is_ok() && holds_tokens_of(&old.session, expected)
                    });
                    if !unchanged {
                        return Ok((false, 0));
                    }
                }
                old.map(|old| IndexKeys::of_record(id, &old))
            }
            Err(Error::Corrupt { .. }) if expected.is_some() => return Ok((false, 0)),
            Err(Error::Corrupt { .. }) => {
                tracing::warn!(
                    id,
                    "replacing a corrupt session record; its old index entries stay as stale entries"
                );
                None
            }
            Err(error) => return Err(error),
        };
        let old_shop = old.as_ref().map(|old| &old.shop);
        let old_expiry = old.as_ref().and_then(|old| old.expiry.as_ref());
        let shop_moves = old_shop != Some(&new.shop);
        let expiry_moves = old_expiry != new.expiry.as_ref();
        let mut writes = 1;

        if shop_moves {
            insert(&self.by_shop, &new.shop, &[])?;
            writes += 1;
        }
        if let (true, Some(expiry)) = (expiry_moves, &new.expiry) {
            insert(&self.by_expiry, expiry, &[])?;
            writes += 1;
        }
        insert(&self.sessions, id.as_bytes(), record)?;
        if let (true, Some(shop)) = (shop_moves, old_shop) {
            remove(&self.by_shop, shop)?;
            writes += 1;
        }
        if let (true, Some(expiry)) = (expiry_moves, old_expiry) {
            remove(&self.by_expiry, expiry)?;
            writes += 1;
        }
        Ok((true, writes))
    }

    /// The writes of a delete, in their safe order, under the id's lock; only of a record of
    /// `shop` when one is given (a record that does not decode has no shop to match). Returns
    /// whether it deleted a record and how many single-key writes it made.
    fn delete_locked(&self, id: &str, shop: Option<&str>) -> Result<(bool, u64)> {
        let _tracked = self.watchdog.track();
        let _lock = self.locks.lock(id);
        if let Some(shop) = shop {
            match self.get_record(id) {
                Ok(Some(record)) if record.session.shop == shop => {}
                Ok(_) | Err(Error::Corrupt { .. }) => return Ok((false, 0)),
                Err(error) => return Err(error),
            }
        }
        let Some(old) = remove(&self.sessions, id.as_bytes())? else {
            return Ok((false, 0));
        };
        let Ok(old) = codec::decode(id, &old) else {
            tracing::warn!(
                id,
                "deleted a corrupt session record; its index entries stay as stale entries"
            );
            return Ok((true, 1));
        };
        let keys = IndexKeys::of_record(id, &old);
        remove(&self.by_shop, &keys.shop)?;
        let mut writes = 2;
        if let Some(expiry) = keys.expiry {
            remove(&self.by_expiry, &expiry)?;
            writes += 1;
        }
        Ok((true, writes))
    }
}

/// One single-key insert, then a read of the same key: sled splits or merges a node that a
/// write made due on the next traversal through it (`tree.rs:1673`, `:1735`), so this read does
/// that work now, inside the gate and the write's charge, and leaves no due node for a later
/// read to find (see `budget.rs`). Every write of the store goes through this or [`remove`].
pub(super) fn insert(tree: &sled::Tree, key: &[u8], value: &[u8]) -> Result<Option<sled::IVec>> {
    let old = tree.insert(key, value)?;
    tree.get(key)?;
    Ok(old)
}

/// One single-key removal, then a read of the same key; see [`insert`].
pub(super) fn remove(tree: &sled::Tree, key: &[u8]) -> Result<Option<sled::IVec>> {
    let old = tree.remove(key)?;
    tree.get(key)?;
    Ok(old)
}
