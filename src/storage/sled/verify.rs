//! [`SledSessionStorage::verify`]: checks that records decode and that the indexes agree with
//! them.

use std::fmt;

use super::{SledSessionStorage, codec, index};
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
    /// A record has no `by_shop` entry.
    MissingShopEntry {
        /// The session.
        id: String,
        /// Its shop.
        shop: String,
    },
    /// A record with a deadline has no `by_expiry` entry.
    MissingExpiryEntry {
        /// The session.
        id: String,
        /// Its deadline, epoch milliseconds.
        deadline_ms: u64,
    },
    /// A `by_shop` entry names a record that is missing or belongs to another shop.
    DanglingShopEntry {
        /// The shop of the entry.
        shop: String,
        /// The id of the entry.
        id: String,
    },
    /// A `by_expiry` entry names a record that is missing or has another deadline.
    DanglingExpiryEntry {
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
            VerifyProblem::DanglingShopEntry { shop, id } => {
                write!(f, "by_shop entry ({shop:?}, {id:?}) has no matching record")
            }
            VerifyProblem::DanglingExpiryEntry { deadline_ms, id } => {
                write!(
                    f,
                    "by_expiry entry ({deadline_ms}, {id:?}) has no matching record"
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
    /// Whether nothing is wrong.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
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
    /// every index entry points at a record that agrees with it. Reads everything; meant for
    /// operators and tests, not for a request path. Run it while no one writes, or concurrent
    /// writes may show up as passing disagreements.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when sled fails; problems with the data are
    /// in the report, not errors.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let storage = shopify_session_storage::SledSessionStorage::open(dir.path().join("db"))?;
    /// assert!(storage.verify()?.is_clean());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self) -> Result<VerifyReport> {
        let inner = &*self.inner;
        let mut report = VerifyReport::default();

        for item in &inner.sessions {
            let (key, bytes) = item?;
            report.records += 1;
            let id = String::from_utf8_lossy(&key).into_owned();
            let record = match codec::decode(&id, &bytes) {
                Ok(record) => record,
                Err(error) => {
                    let reason = match error {
                        crate::Error::Corrupt { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    report.problems.push(VerifyProblem::Corrupt { id, reason });
                    continue;
                }
            };
            let shop = record.session.shop;
            if !inner.by_shop.contains_key(index::shop_key(&shop, &id))? {
                report.problems.push(VerifyProblem::MissingShopEntry {
                    id: id.clone(),
                    shop,
                });
            }
            if let Some(deadline_ms) = record.deadline_ms {
                if !inner
                    .by_expiry
                    .contains_key(index::expiry_key(deadline_ms, &id))?
                {
                    report
                        .problems
                        .push(VerifyProblem::MissingExpiryEntry { id, deadline_ms });
                }
            }
        }

        for item in inner.by_shop.iter().keys() {
            let key = item?;
            let Some((shop, id)) = index::split_shop_key(&key) else {
                report.problems.push(VerifyProblem::MalformedIndexKey {
                    tree: "by_shop",
                    key: key.to_vec(),
                });
                continue;
            };
            let agrees = self.index_entry_agrees(id, |record| record.session.shop == shop)?;
            if !agrees {
                report.problems.push(VerifyProblem::DanglingShopEntry {
                    shop: shop.to_string(),
                    id: id.to_string(),
                });
            }
        }

        for item in inner.by_expiry.iter().keys() {
            let key = item?;
            let Some((deadline_ms, id)) = index::split_expiry_key(&key) else {
                report.problems.push(VerifyProblem::MalformedIndexKey {
                    tree: "by_expiry",
                    key: key.to_vec(),
                });
                continue;
            };
            let agrees =
                self.index_entry_agrees(id, |record| record.deadline_ms == Some(deadline_ms))?;
            if !agrees {
                report.problems.push(VerifyProblem::DanglingExpiryEntry {
                    deadline_ms,
                    id: id.to_string(),
                });
            }
        }
        Ok(report)
    }

    /// Whether the record an index entry names exists and passes `check`. An entry naming a
    /// corrupt record counts as agreeing: that record is reported once, as corrupt.
    fn index_entry_agrees(&self, id: &str, check: impl Fn(&codec::Record) -> bool) -> Result<bool> {
        match self.get_record(id) {
            Ok(Some(record)) => Ok(check(&record)),
            Ok(None) => Ok(false),
            Err(crate::Error::Corrupt { .. }) => Ok(true),
            Err(error) => Err(error),
        }
    }
}
