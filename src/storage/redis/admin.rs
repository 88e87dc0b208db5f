//! [`AdminStorage`] for [`RedisSessionStorage`]: `SCAN` over the prefix, telling sessions from
//! shop indexes (a JSON list of keys) and the migration record.
//!
//! Redis has no snapshot to read: a walk sees each key as it is when its batch is read, so
//! writes made meanwhile by running apps may or may not show, and a verify may report an entry
//! a store was just changing. Repairs, sweeps and deletes act through scripts that look again at
//! the key before they change anything (`lua/relist.lua`, `lua/unlist.lua`, `lua/expire.lua`,
//! `lua/delete.lua`), so they never undo such a write.
//!
//! `SCAN MATCH {prefix}_*` also matches the keys of a longer prefix that starts with
//! `{prefix}_` (another app's `{prefix}_staging`, say). Those are told apart and left alone: a
//! session whose value names another id than its key says, and an "index" whose name is not a
//! shop domain, belong to someone else.
//!
//! A session's deadline: a key with a TTL expires when Redis says (this crate's stores set it
//! at the deadline, retention included); a key without one (a Node app's plain `SET`) is past
//! its deadline when its dates say so, with the storage's retention.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant, UNIX_EPOCH},
};

use async_trait::async_trait;

use super::{RedisSessionStorage, corrupt, layout::Layout, scripts, value::decode};
use crate::{
    CorruptRecord, Error, RepairReport, Result, SweepReport, VerifyProblem, VerifyReport,
    admin::{AdminStorage, StoredSession, Walked},
    error::with_sources,
    storage::ttl::TtlPolicy,
};

/// Keys asked of each `SCAN` step, and read per batch.
const SCAN_COUNT: usize = 500;

/// One key under the prefix, read. (Handed over one at a time, as [`Walked`] is.)
#[allow(clippy::large_enum_variant)]
enum Scanned {
    Session {
        key: String,
        value: Vec<u8>,
        stored: StoredSession,
    },
    Index {
        shop: String,
        keys: Vec<String>,
    },
    Unreadable {
        key: String,
        id: String,
        source: CorruptRecord,
    },
}

/// What a whole scan found, for verify, repair and sweep.
#[derive(Default)]
struct Census {
    /// Session key → its shop.
    sessions: HashMap<String, String>,
    /// The sessions past their deadline: key, id and the value read.
    past_deadline: Vec<(String, String, Vec<u8>)>,
    /// Shop → the keys its index lists.
    indexes: Vec<(String, Vec<String>)>,
    /// Keys that do not hold a readable session: id and why.
    unreadable: Vec<(String, String)>,
    unreadable_keys: HashSet<String>,
}

/// A problem a census found, and the index entry a repair would change.
struct Finding {
    problem: VerifyProblem,
    /// The shop whose index, and the key as listed (or to list).
    shop: String,
    key: String,
}

impl RedisSessionStorage {
    /// Reads every key under the prefix once (`SCAN` may name a key twice; it is read once).
    async fn scan(&self, visit: &mut (dyn FnMut(Scanned) + Send)) -> Result<()> {
        let pattern = format!("{}_*", glob_escape(self.prefix()));
        let marker = self.layout.marker_key();
        let mut seen = HashSet::new();
        let mut cursor = 0_u64;
        loop {
            let mut command = redis::cmd("SCAN");
            command
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let (next, keys): (u64, Vec<String>) =
                self.query("scan the key prefix", &command).await?;
            let keys: Vec<String> = keys
                .into_iter()
                .filter(|key| *key != marker && seen.insert(key.clone()))
                .collect();
            if !keys.is_empty() {
                self.read_batch(keys, visit).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Reads the values and TTLs of `keys` in one transaction, so each TTL belongs to the value
    /// read with it.
    async fn read_batch(
        &self,
        keys: Vec<String>,
        visit: &mut (dyn FnMut(Scanned) + Send),
    ) -> Result<()> {
        let mut read = redis::pipe();
        read.atomic().cmd("MGET").arg(&keys);
        for key in &keys {
            read.cmd("PTTL").arg(key);
            read.cmd("TYPE").arg(key);
        }
        let (values, rest): (Vec<Option<Vec<u8>>>, Vec<redis::Value>) = self
            .call("read sessions", |mut connection| {
                let read = read.clone();
                async move {
                    let mut answers: Vec<redis::Value> = read.query_async(&mut connection).await?;
                    let values = redis::from_redis_value(answers.remove(0))?;
                    Ok((values, answers))
                }
            })
            .await?;
        let now_ms = self.now_ms();
        let by_dates = TtlPolicy {
            offline_ttl: None,
            ..self.ttl
        };
        for ((key, value), answers) in keys.into_iter().zip(values).zip(rest.chunks(2)) {
            let Some(id) = self.layout.id_of(&key).map(str::to_owned) else {
                continue;
            };
            let ttl: i64 = answers
                .first()
                .and_then(|ttl| redis::from_redis_value(ttl.clone()).ok())
                .unwrap_or(-2);
            let Some(value) = value else {
                // Gone since the scan, or not a string.
                let kind: String = answers
                    .get(1)
                    .and_then(|kind| redis::from_redis_value(kind.clone()).ok())
                    .unwrap_or_default();
                if kind != "none" {
                    visit(Scanned::Unreadable {
                        key,
                        id,
                        source: CorruptRecord::NotAString,
                    });
                }
                continue;
            };
            match decode(&id, &value) {
                Ok(Some(session)) => {
                    let deadline_ms = match u64::try_from(ttl) {
                        Ok(left) => Some(now_ms.saturating_add(left)),
                        Err(_) => by_dates.deadline_ms(&session, now_ms),
                    };
                    let stored = StoredSession::new(
                        session,
                        deadline_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                    );
                    visit(Scanned::Session { key, value, stored });
                }
                Ok(None) if Layout::is_shop_domain(&id) => {
                    let keys = serde_json::from_slice(&value).unwrap_or_default();
                    visit(Scanned::Index { shop: id, keys });
                }
                // Another prefix's keys (see the module docs).
                Ok(None)
                | Err(Error::Corrupt {
                    source: CorruptRecord::OtherId,
                    ..
                }) => {}
                Err(error) => {
                    let source = match error {
                        Error::Corrupt { source, .. } => source,
                        other => CorruptRecord::Undecodable(Box::new(other)),
                    };
                    visit(Scanned::Unreadable { key, id, source });
                }
            }
        }
        Ok(())
    }

    /// Everything under the prefix, sorted for verify, repair and sweep.
    async fn census(&self) -> Result<Census> {
        let mut census = Census::default();
        let now = self.clock.now();
        self.scan(&mut |scanned| match scanned {
            Scanned::Session { key, value, stored } => {
                if stored.is_expired_at(now) {
                    census
                        .past_deadline
                        .push((key.clone(), stored.session.id.clone(), value));
                }
                census.sessions.insert(key, stored.session.shop);
            }
            Scanned::Index { shop, keys } => census.indexes.push((shop, keys)),
            Scanned::Unreadable { key, id, source } => {
                census.unreadable_keys.insert(key);
                census.unreadable.push((id, with_sources(&source)));
            }
        })
        .await?;
        Ok(census)
    }

    /// What a census shows wrong: unreadable records, sessions missing from their shop's index,
    /// and index entries naming keys that are gone or belong to another shop.
    fn findings(&self, census: &Census) -> (Vec<VerifyProblem>, Vec<Finding>) {
        let corrupt = census
            .unreadable
            .iter()
            .map(|(id, reason)| VerifyProblem::Corrupt {
                id: id.clone(),
                reason: reason.clone(),
            })
            .collect();
        let id_of = |key: &str| self.layout.id_of(key).unwrap_or(key).to_owned();
        let listed: HashSet<(&str, &str)> = census
            .indexes
            .iter()
            .flat_map(|(shop, keys)| keys.iter().map(move |key| (shop.as_str(), key.as_str())))
            .collect();
        let mut findings: Vec<Finding> = census
            .sessions
            .iter()
            .filter(|(key, shop)| !listed.contains(&(shop.as_str(), key.as_str())))
            .map(|(key, shop)| Finding {
                problem: VerifyProblem::MissingShopEntry {
                    id: id_of(key),
                    shop: shop.clone(),
                },
                shop: shop.clone(),
                key: key.clone(),
            })
            .collect();
        findings.sort_by(|a, b| (&a.shop, &a.key).cmp(&(&b.shop, &b.key)));
        for (shop, keys) in &census.indexes {
            for key in keys {
                let agrees =
                    census.sessions.get(key) == Some(shop) || census.unreadable_keys.contains(key);
                if !agrees {
                    findings.push(Finding {
                        problem: VerifyProblem::StaleShopEntry {
                            shop: shop.clone(),
                            id: id_of(key),
                        },
                        shop: shop.clone(),
                        key: key.clone(),
                    });
                }
            }
        }
        (corrupt, findings)
    }

    /// Runs a relist or unlist script for one index entry; whether it changed the index. A
    /// script that fails (an index that is not a list of keys, say) is logged and counted as no
    /// change, so one damaged index does not stop the rest.
    async fn fix_entry(&self, script: &redis::Script, shop: &str, key: &str) -> Result<bool> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.layout.index_key(shop))
            .key(key)
            .arg(shop);
        match self
            .invoke::<i64>("repair a shop's index", &invocation)
            .await
        {
            Ok(changed) => Ok(changed == 1),
            Err(Error::Redis { source, .. }) if source.code().is_some() => {
                tracing::warn!(shop, error = %source, "could not repair a shop's index");
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

/// `SCAN MATCH` reads `*`, `?`, `[` and `\` as a glob.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

#[async_trait]
impl AdminStorage for RedisSessionStorage {
    fn describe(&self) -> String {
        format!("Redis, key prefix {}", self.prefix())
    }

    async fn walk(&self, shop: Option<&str>, visit: &mut (dyn FnMut(Walked) + Send)) -> Result<()> {
        // The whole prefix even for one shop: the Node adapter's index can miss sessions.
        self.scan(&mut |scanned| match scanned {
            Scanned::Session { stored, .. }
                if shop.is_none_or(|shop| stored.session.shop == shop) =>
            {
                visit(Walked::Session(stored));
            }
            Scanned::Unreadable { id, source, .. } if shop.is_none() => {
                visit(Walked::Unreadable {
                    id,
                    reason: with_sources(&source),
                });
            }
            _ => {}
        })
        .await
    }

    async fn load_stored(&self, id: &str) -> Result<Option<StoredSession>> {
        if Layout::is_reserved(id) {
            return Ok(None);
        }
        let mut found = None;
        self.read_batch(vec![self.layout.session_key(id)], &mut |scanned| {
            found = Some(scanned);
        })
        .await?;
        match found {
            Some(Scanned::Session { stored, .. }) => Ok(Some(stored)),
            Some(Scanned::Unreadable { source, .. }) => Err(corrupt(id, source)),
            Some(Scanned::Index { .. }) | None => Ok(None),
        }
    }

    /// Scans the whole prefix (the Node adapter's index can miss sessions), then deletes each
    /// session found in a script that checks its shop again.
    async fn delete_shop(&self, shop: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        self.scan(&mut |scanned| {
            if let Scanned::Session { key, stored, .. } = scanned {
                if stored.session.shop == shop {
                    keys.push(key);
                }
            }
        })
        .await?;
        keys.sort();
        let mut deleted = Vec::new();
        for batch in keys.chunks(super::DELETE_BATCH) {
            let mut invocation = scripts::DELETE.prepare_invoke();
            invocation.key(batch).arg(self.prefix()).arg(shop);
            let gone: Vec<String> = self.invoke("delete a shop's sessions", &invocation).await?;
            deleted.extend(
                gone.iter()
                    .map(|key| self.layout.id_of(key).unwrap_or(key).to_owned()),
            );
        }
        // The find script drops from the index what is gone, and the index once it is empty.
        if !Layout::is_reserved(shop) {
            let mut invocation = scripts::FIND.prepare_invoke();
            invocation.key(self.layout.index_key(shop));
            let cleaned = self
                .invoke::<Vec<Option<Vec<u8>>>>("clean a shop's index", &invocation)
                .await;
            if let Err(error) = cleaned {
                tracing::warn!(shop, error = %with_sources(&error), "could not clean the shop's index");
            }
        }
        Ok(deleted)
    }

    /// Redis removes a key when its TTL runs out. What it cannot remove is done here: sessions
    /// past their dates that a Node app stored without a TTL, and the entries of shop indexes
    /// that name keys gone.
    async fn sweep_expired(&self) -> Result<SweepReport> {
        let started = Instant::now();
        let census = self.census().await?;
        let mut report = SweepReport {
            examined: census.sessions.len() + census.unreadable.len(),
            corrupt_skipped: census.unreadable.len(),
            ..SweepReport::default()
        };
        for (key, id, value) in &census.past_deadline {
            let mut invocation = scripts::EXPIRE.prepare_invoke();
            invocation.key(key).arg(value.as_slice()).arg(self.prefix());
            let removed: i64 = self
                .invoke("delete an expired session", &invocation)
                .await?;
            if removed == 1 {
                report.removed += 1;
            } else {
                tracing::debug!(id, "an expired session was stored again meanwhile");
            }
        }
        for (shop, keys) in &census.indexes {
            for key in keys {
                let gone =
                    !census.sessions.contains_key(key) && !census.unreadable_keys.contains(key);
                if gone && self.fix_entry(&scripts::UNLIST, shop, key).await? {
                    report.stale_entries_removed += 1;
                }
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    async fn verify(&self) -> Result<VerifyReport> {
        let census = self.census().await?;
        let (mut problems, findings) = self.findings(&census);
        problems.extend(findings.into_iter().map(|finding| finding.problem));
        Ok(VerifyReport {
            records: census.sessions.len() + census.unreadable.len(),
            problems,
        })
    }

    async fn repair(&self) -> Result<RepairReport> {
        let started = Instant::now();
        let census = self.census().await?;
        let mut report = RepairReport {
            records: census.sessions.len() + census.unreadable.len(),
            corrupt: census.unreadable.len(),
            ..RepairReport::default()
        };
        for finding in self.findings(&census).1 {
            let (script, count) = match finding.problem {
                VerifyProblem::MissingShopEntry { .. } => {
                    (&*scripts::RELIST, &mut report.missing_rebuilt)
                }
                _ => (&*scripts::UNLIST, &mut report.stale_removed),
            };
            if self.fix_entry(script, &finding.shop, &finding.key).await? {
                *count += 1;
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    async fn layout(&self) -> Result<String> {
        let marker: Option<String> = self
            .query(
                "read the migration record",
                redis::cmd("GET").arg(self.layout.marker_key()),
            )
            .await?;
        Ok(format!(
            "Shopify Node Redis adapter layout, migration record {}",
            marker.as_deref().unwrap_or("missing")
        ))
    }

    async fn disk_usage(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_matched_literally() {
        assert_eq!(glob_escape("app*[1]?\\"), "app\\*\\[1\\]\\?\\\\");
        assert_eq!(glob_escape("shopify_sessions"), "shopify_sessions");
    }
}
