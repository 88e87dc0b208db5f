//! [`AdminStorage`] for [`SledSessionStorage`].

use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;

use super::{SledSessionStorage, codec, files, index, layout::LAYOUT_VERSION, repair};
use crate::{
    RepairReport, Result, SweepReport, VerifyReport,
    admin::{AdminStorage, StoredSession, Walked},
    error::record_reason,
};

impl SledSessionStorage {
    /// A record as [`Walked`]: the session with its deadline, or why it does not decode (or
    /// its tokens do not open).
    fn walked(&self, id: &str, bytes: &[u8]) -> Walked {
        match codec::decode_open(id, bytes, self.inner.keys.as_deref()) {
            Ok(record) => Walked::Session(stored(record)),
            Err(error) => Walked::Unreadable {
                id: id.to_owned(),
                reason: record_reason(&error),
            },
        }
    }

    /// The ids the `by_shop` index lists for `shop`.
    fn listed_ids(&self, shop: &str) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for key in self
            .inner
            .by_shop
            .scan_prefix(index::shop_prefix(shop))
            .keys()
        {
            if let Some((_, id)) = index::split_shop_key(&key?) {
                ids.push(id.to_owned());
            }
        }
        Ok(ids)
    }
}

fn stored(record: codec::Record) -> StoredSession {
    let deadline = record
        .deadline_ms
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    StoredSession::new(record.session, deadline)
}

/// Reads sled directly on the calling task: these are an operator's whole-store reads, which
/// the command line runs on a runtime of its own.
#[async_trait]
impl AdminStorage for SledSessionStorage {
    fn describe(&self) -> String {
        format!("sled database {}", self.path().display())
    }

    async fn walk(&self, shop: Option<&str>, visit: &mut (dyn FnMut(Walked) + Send)) -> Result<()> {
        let Some(shop) = shop else {
            for item in &self.inner.sessions {
                let (key, bytes) = item?;
                visit(self.walked(&String::from_utf8_lossy(&key), &bytes));
            }
            return Ok(());
        };
        // A record always has its `by_shop` entry (see `writes.rs`), so the index finds every
        // session of the shop; an entry whose record says another shop is stale and skipped.
        for id in self.listed_ids(shop)? {
            let Some(bytes) = self.inner.sessions.get(id.as_bytes())? else {
                continue;
            };
            match self.walked(&id, &bytes) {
                Walked::Session(stored) if stored.session.shop != shop => {}
                walked => visit(walked),
            }
        }
        Ok(())
    }

    async fn load_stored(&self, id: &str) -> Result<Option<StoredSession>> {
        let Some(mut record) = self.get_record(id)? else {
            return Ok(None);
        };
        self.inner.open(id, &mut record)?;
        Ok(Some(stored(record)))
    }

    async fn delete_shop(&self, shop: &str) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        let mut newest = None;
        for id in self.listed_ids(shop)? {
            let (removed, ticket) = self.delete_of(&id, Some(shop)).await?;
            newest = Some(ticket);
            if removed {
                deleted.push(id);
            }
        }
        if let Some(ticket) = newest {
            // Windows are flushed in order: the last one's flush covers all earlier ones.
            self.settle(ticket).await?;
        }
        Ok(deleted)
    }

    async fn sweep_expired(&self) -> Result<SweepReport> {
        SledSessionStorage::sweep_expired(self).await
    }

    async fn verify(&self) -> Result<VerifyReport> {
        SledSessionStorage::verify(self).await
    }

    async fn repair(&self) -> Result<RepairReport> {
        SledSessionStorage::repair(self).await
    }

    async fn layout(&self) -> Result<String> {
        let version = repair::read_meta(&self.inner.db)?.map_or(1, |meta| meta.layout_version);
        Ok(format!("sled layout {version} (current: {LAYOUT_VERSION})"))
    }

    async fn disk_usage(&self) -> Result<Option<u64>> {
        files::dir_size(self.path()).map(Some)
    }
}
