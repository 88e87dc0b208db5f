//! [`SledSessionStorage::verify`]: checks that records decode and that the indexes agree with
//! them.

use std::fmt;

use super::{Inner, SledSessionStorage, audit, codec, index};
use crate::Result;

/// One thing [`SledSessionStorage::verify`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyProblem {
    /// A record does not decode.
    Corrupt {
        /// The record's key.
        id: String,
        /// Why it does not decode.
        reason: String,
    },
    /// A record has no `by_shop` entry: its session would not be found by its shop. Never
    /// left by a write cut short; [`repair`](super::SledSessionStorage::repair) rebuilds it.
    MissingShopEntry {
        /// The session.
        id: String,
        /// Its shop.
        shop: String,
    },
    /// A record with a deadline has no `by_expiry` entry: no sweep would remove it.
    /// [`repair`](super::SledSessionStorage::repair) rebuilds it.
    MissingExpiryEntry {
        /// The session.
        id: String,
        /// Its deadline, epoch milliseconds.
        deadline_ms: u64,
    },
    /// A `by_shop` entry names a record that is missing or belongs to another shop: a
    /// harmless leftover of a write cut short (see [`VerifyReport::is_sound`]), which finds
    /// skip and [`repair`](super::SledSessionStorage::repair) removes.
    StaleShopEntry {
        /// The shop of the entry.
        shop: String,
        /// The id of the entry.
        id: String,
    },
    /// A `by_expiry` entry names a record that is missing or has another deadline: a harmless
    /// leftover, which sweeps remove.
    StaleExpiryEntry {
        /// The deadline of the entry.
        deadline_ms: u64,
        /// The id of the entry.
        id: String,
    },
    /// An index key this crate cannot have written.
    MalformedIndexKey {
        /// `"by_shop"` or `"by_expiry"`.
        tree: &'static str,
        /// The raw key.
        key: Vec<u8>,
    },
}

impl fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyProblem::Corrupt { id, reason } => {
                write!(f, "record {id:?} is corrupt: {reason}")
            }
            VerifyProblem::MissingShopEntry { id, shop } => {
                write!(f, "record {id:?} has no by_shop entry for {shop:?}")
            }
            VerifyProblem::MissingExpiryEntry { id, deadline_ms } => {
                write!(
                    f,
                    "record {id:?} has no by_expiry entry for deadline {deadline_ms}"
                )
            }
            VerifyProblem::StaleShopEntry { shop, id } => {
                write!(
                    f,
                    "stale by_shop entry ({shop:?}, {id:?}): no matching record"
                )
            }
            VerifyProblem::StaleExpiryEntry { deadline_ms, id } => {
                write!(
                    f,
                    "stale by_expiry entry ({deadline_ms}, {id:?}): no matching record"
                )
            }
            VerifyProblem::MalformedIndexKey { tree, key } => {
                write!(f, "{tree} holds a malformed key {key:?}")
            }
        }
    }
}

/// What [`SledSessionStorage::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Records read.
    pub records: usize,
    /// Everything found wrong; empty when the store is sound.
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// Whether nothing at all is wrong, stale entries included.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether every session is served correctly: no corrupt record, no missing index entry,
    /// no malformed key. Stale entries, the harmless leftovers of writes cut short, are
    /// allowed.
    #[must_use]
    pub fn is_sound(&self) -> bool {
        self.problems.iter().all(|problem| {
            matches!(
                problem,
                VerifyProblem::StaleShopEntry { .. } | VerifyProblem::StaleExpiryEntry { .. }
            )
        })
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records, {} problems",
            self.records,
            self.problems.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n- {problem}")?;
        }
        Ok(())
    }
}

impl SledSessionStorage {
    /// Checks the whole store: every record decodes, every record has its index entries, and
    /// every index entry points at a record that agrees with it. Safe while the store is in
    /// use: what the pass over the trees finds is checked again under the id's lock
    /// (`audit.rs`), so concurrent writes never show up as missing entries (a write under way
    /// can show up as a stale one). Reads everything, on tokio's blocking pool; meant for
    /// operators and tests, not for a request path.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when sled fails; problems with the data are
    /// in the report, not errors.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let storage = shopify_session_storage::SledSessionStorage::open(dir.path().join("db"))?;
    /// assert!(storage.verify().await?.is_clean());
    /// # Ok(()) }
    /// ```
    pub async fn verify(&self) -> Result<VerifyReport> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.verify_blocking())
            .await
            .map_err(|source| crate::Error::Background {
                task: "the verify task failed",
                source: Some(source),
            })?
    }
}

impl Inner {
    pub(super) fn verify_blocking(&self) -> Result<VerifyReport> {
        let suspects = audit::scan(&self.sessions, &self.by_shop, &self.by_expiry)?;
        let mut report = VerifyReport {
            records: suspects.records,
            problems: Vec::new(),
        };
        let mut keys: Vec<&[u8]> = suspects
            .corrupt
            .iter()
            .map(|(key, _)| key.as_slice())
            .chain(suspects.missing.iter().map(String::as_bytes))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            report.problems.extend(self.record_problems(key)?);
        }

        for key in &suspects.stale_shop {
            let Some((shop, id)) = index::split_shop_key(key) else {
                report.problems.push(VerifyProblem::MalformedIndexKey {
                    tree: "by_shop",
                    key: key.clone(),
                });
                continue;
            };
            if !self
                .index_entry_agrees(&self.by_shop, key, id, |record| record.session.shop == shop)?
            {
                report.problems.push(VerifyProblem::StaleShopEntry {
                    shop: shop.to_string(),
                    id: id.to_string(),
                });
            }
        }

        for key in &suspects.stale_expiry {
            let Some((deadline_ms, id)) = index::split_expiry_key(key) else {
                report.problems.push(VerifyProblem::MalformedIndexKey {
                    tree: "by_expiry",
                    key: key.clone(),
                });
                continue;
            };
            if !self.index_entry_agrees(&self.by_expiry, key, id, |record| {
                record.deadline_ms == Some(deadline_ms)
            })? {
                report.problems.push(VerifyProblem::StaleExpiryEntry {
                    deadline_ms,
                    id: id.to_string(),
                });
            }
        }
        Ok(report)
    }

    /// What is wrong with the record under `key` (corrupt, or lacking index entries), judged
    /// under its lock; nothing if it is gone.
    fn record_problems(&self, key: &[u8]) -> Result<Vec<VerifyProblem>> {
        let Ok(id) = std::str::from_utf8(key) else {
            // No session has such an id, and no lock is needed: no store can write it.
            return Ok(if self.sessions.contains_key(key)? {
                vec![VerifyProblem::Corrupt {
                    id: String::from_utf8_lossy(key).into_owned(),
                    reason: audit::KEY_NOT_UTF8.to_owned(),
                }]
            } else {
                Vec::new()
            });
        };
        let _lock = self.locks.lock(id);
        let Some(bytes) = self.sessions.get(key)? else {
            return Ok(Vec::new());
        };
        match codec::decode(id, &bytes) {
            Ok(record) => self.missing_entries(id, &record),
            Err(error) => Ok(vec![VerifyProblem::Corrupt {
                id: id.to_owned(),
                reason: crate::error::record_reason(&error),
            }]),
        }
    }

    /// The index entries `record` (stored under `id`) should have and has not. Call under the
    /// id's lock.
    pub(super) fn missing_entries(
        &self,
        id: &str,
        record: &codec::Record,
    ) -> Result<Vec<VerifyProblem>> {
        let mut missing = Vec::new();
        let shop = &record.session.shop;
        if !self.by_shop.contains_key(index::shop_key(shop, id))? {
            missing.push(VerifyProblem::MissingShopEntry {
                id: id.to_string(),
                shop: shop.clone(),
            });
        }
        if let Some(deadline_ms) = record.deadline_ms {
            if !self
                .by_expiry
                .contains_key(index::expiry_key(deadline_ms, id))?
            {
                missing.push(VerifyProblem::MissingExpiryEntry {
                    id: id.to_string(),
                    deadline_ms,
                });
            }
        }
        Ok(missing)
    }

    /// Whether the index entry `key` of `tree`, naming `id`, is gone or names a record that
    /// exists and passes `check`, read under the id's lock (an entry found by a pass may have
    /// been removed since). An entry naming a corrupt record counts as agreeing: that record is
    /// reported once, as corrupt.
    pub(super) fn index_entry_agrees(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        id: &str,
        check: impl Fn(&codec::Record) -> bool,
    ) -> Result<bool> {
        let _lock = self.locks.lock(id);
        if !tree.contains_key(key)? {
            return Ok(true);
        }
        match self.get_record(id) {
            Ok(Some(record)) => Ok(check(&record)),
            Ok(None) => Ok(false),
            Err(crate::Error::Corrupt { .. }) => Ok(true),
            Err(error) => Err(error),
        }
    }
}
