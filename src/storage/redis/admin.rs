//! [`AdminStorage`] for [`RedisSessionStorage`]: `SCAN` over the prefix, telling sessions from
//! shop indexes (a JSON list of keys) and the migration record.
//!
//! Redis has no snapshot to read: a walk sees each key as it is when its batch is read, so
//! writes made meanwhile by running apps may or may not show, and a verify may report an entry
//! a store was just changing. Repairs and sweeps act through scripts that look again at the
//! key before they change anything (`lua/relist.lua`, `lua/unlist.lua`, `lua/expire.lua`), so
//! they never undo such a write.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant, UNIX_EPOCH},
};

use async_trait::async_trait;

use super::{RedisSessionStorage, corrupt, layout::Layout, scripts, value::decode};
use crate::{
    CorruptRecord, Error, RepairReport, Result, SessionStorage, SweepReport, VerifyProblem,
    VerifyReport,
    admin::{AdminStorage, StoredSession, Walked},
    error::with_sources,
};

/// Keys asked of each `SCAN` step, and read per `MGET`.
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
    /// The sessions past their deadline by their dates: key, id and the value read.
    past_deadline: Vec<(String, String, Vec<u8>)>,
    /// Shop → the keys its index lists.
    indexes: Vec<(String, Vec<String>)>,
    /// Keys that do not hold a readable session: id and why.
    unreadable: Vec<(String, String)>,
    unreadable_keys: HashSet<String>,
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

    async fn read_batch(
        &self,
        keys: Vec<String>,
        visit: &mut (dyn FnMut(Scanned) + Send),
    ) -> Result<()> {
        let values: Vec<Option<Vec<u8>>> = self
            .query("read sessions", redis::cmd("MGET").arg(&keys))
            .await?;
        let mut ttls = redis::pipe();
        for key in &keys {
            ttls.cmd("PTTL").arg(key);
        }
        let ttls: Vec<i64> = self
            .call("read sessions' time to live", |mut connection| {
                let ttls = ttls.clone();
                async move { ttls.query_async(&mut connection).await }
            })
            .await?;
        let now_ms = self.now_ms();
        for ((key, value), ttl) in keys.into_iter().zip(values).zip(ttls) {
            let Some(id) = self.layout.id_of(&key).map(str::to_owned) else {
                continue;
            };
            let Some(value) = value else {
                // Gone since the scan, or not a string.
                let kind: String = self
                    .query("read a key's type", redis::cmd("TYPE").arg(&key))
                    .await?;
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
                    let by_dates = self.dates_deadline_ms(&session, now_ms);
                    let by_ttl = u64::try_from(ttl)
                        .ok()
                        .map(|left| now_ms.saturating_add(left));
                    let deadline = by_dates.into_iter().chain(by_ttl).min();
                    let stored = StoredSession::new(
                        session,
                        deadline.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                    );
                    visit(Scanned::Session { key, value, stored });
                }
                Ok(None) => {
                    let keys = serde_json::from_slice(&value).unwrap_or_default();
                    visit(Scanned::Index { shop: id, keys });
                }
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

    /// The problems of a census, and for each the script that would fix it.
    fn problems(&self, census: &Census) -> Vec<VerifyProblem> {
        let mut problems: Vec<VerifyProblem> = census
            .unreadable
            .iter()
            .map(|(id, reason)| VerifyProblem::Corrupt {
                id: id.clone(),
                reason: reason.clone(),
            })
            .collect();
        let listed: HashSet<(&str, &str)> = census
            .indexes
            .iter()
            .flat_map(|(shop, keys)| keys.iter().map(move |key| (shop.as_str(), key.as_str())))
            .collect();
        let mut missing: Vec<VerifyProblem> = census
            .sessions
            .iter()
            .filter(|(key, shop)| !listed.contains(&(shop.as_str(), key.as_str())))
            .map(|(key, shop)| VerifyProblem::MissingShopEntry {
                id: self.layout.id_of(key).unwrap_or(key).to_owned(),
                shop: shop.clone(),
            })
            .collect();
        missing.sort_by_key(ToString::to_string);
        problems.extend(missing);
        for (shop, keys) in &census.indexes {
            for key in keys {
                let agrees =
                    census.sessions.get(key) == Some(shop) || census.unreadable_keys.contains(key);
                if !agrees {
                    problems.push(VerifyProblem::StaleShopEntry {
                        shop: shop.clone(),
                        id: self.layout.id_of(key).unwrap_or(key).to_owned(),
                    });
                }
            }
        }
        problems
    }

    /// Runs a relist or unlist script for one index entry; whether it changed the index.
    async fn fix_entry(&self, script: &redis::Script, shop: &str, id: &str) -> Result<bool> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.layout.index_key(shop))
            .key(self.layout.session_key(id))
            .arg(shop);
        let changed: i64 = self.invoke("repair a shop's index", &invocation).await?;
        Ok(changed == 1)
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
        format!("Redis, key prefix {:?}", self.prefix())
    }

    async fn approximate_len(&self) -> Result<Option<u64>> {
        // The whole database's keys: an upper bound when other data shares it.
        let keys: u64 = self.query("count the keys", &redis::cmd("DBSIZE")).await?;
        Ok(Some(keys))
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

    async fn delete_shop(&self, shop: &str) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        self.walk(Some(shop), &mut |walked| {
            if let Walked::Session(stored) = walked {
                ids.push(stored.session.id);
            }
        })
        .await?;
        ids.sort();
        self.delete_sessions(&ids).await?;
        // The find script drops from the index what is gone, and the index once it is empty.
        if !Layout::is_reserved(shop) {
            let mut invocation = scripts::FIND.prepare_invoke();
            invocation.key(self.layout.index_key(shop));
            let _: Vec<Option<Vec<u8>>> = self.invoke("clean a shop's index", &invocation).await?;
        }
        Ok(ids)
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
                if !census.sessions.contains_key(key) && !census.unreadable_keys.contains(key) {
                    let id = self.layout.id_of(key).unwrap_or(key);
                    if self.fix_entry(&scripts::UNLIST, shop, id).await? {
                        report.stale_entries_removed += 1;
                    }
                }
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    async fn verify(&self) -> Result<VerifyReport> {
        let census = self.census().await?;
        Ok(VerifyReport {
            records: census.sessions.len() + census.unreadable.len(),
            problems: self.problems(&census),
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
        for problem in self.problems(&census) {
            match problem {
                VerifyProblem::MissingShopEntry { id, shop }
                    if self.fix_entry(&scripts::RELIST, &shop, &id).await? =>
                {
                    report.missing_rebuilt += 1;
                }
                VerifyProblem::StaleShopEntry { shop, id }
                    if self.fix_entry(&scripts::UNLIST, &shop, &id).await? =>
                {
                    report.stale_removed += 1;
                }
                _ => {}
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

impl RedisSessionStorage {
    /// A session's deadline by its dates only (see `is_past_deadline` in `mod.rs`).
    fn dates_deadline_ms(&self, session: &crate::Session, now_ms: u64) -> Option<u64> {
        let by_dates = crate::storage::ttl::TtlPolicy {
            offline_ttl: None,
            ..self.ttl
        };
        by_dates.deadline_ms(session, now_ms)
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
