//! Re-sealing every record: [`rotate_keys`](SledSessionStorage::rotate_keys) seals each record
//! with the active key, [`decrypt_all`](SledSessionStorage::decrypt_all) writes each in plain
//! text.
//!
//! The database's encryption flag changes first, durably, while no store is between reading
//! the flag and writing its record (the storage's sealing gate), so every store that follows
//! writes in the pass's form. Then each record is rewritten on its own, by one single-key
//! write, under its id's lock and only if it still holds the bytes that were read (a store that
//! came in between is left alone, and a second look finds it done). A record already in the
//! wanted form is skipped, which is what makes a pass that a crash cut short resumable: running
//! it again rewrites only what is left, and the pass flushes every [`FLUSH_EVERY`] records so
//! that little is left. The index entries never change (shop and deadline are the same).

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use super::{Inner, SledSessionStorage, charge::Sizes, codec, repair, writes};
use crate::{Error, Result, encryption::KeySet, error::record_reason};

/// How many records a pass rewrites between flushes: what a crash can make it do again.
const FLUSH_EVERY: usize = 256;

/// What [`rotate_keys`](SledSessionStorage::rotate_keys) or
/// [`decrypt_all`](SledSessionStorage::decrypt_all) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResealReport {
    /// Records rewritten.
    pub rewritten: usize,
    /// Records already in the wanted form (sealed with the active key, or plain).
    pub already_done: usize,
    /// Records left as they are, each with its id and why: they do not decode, or their tokens
    /// do not open with the key set.
    pub left_out: Vec<(String, String)>,
    /// How long the pass took.
    pub elapsed: Duration,
}

/// The form a pass writes records in.
#[derive(Clone, Copy)]
enum Target<'a> {
    SealedWith(&'a KeySet),
    Plain,
}

impl SledSessionStorage {
    /// Seals every record with the active key of the storage's key set: plain records (written
    /// before encryption was turned on) and records sealed with an old key. `tick` is called
    /// once per record. Safe while the storage serves requests, and resumable: a pass that a
    /// crash cut short is finished by running it again (see `src/storage/sled/reseal.rs`).
    /// Old ciphertext and plain text can remain in sled's files until
    /// [`compact_into`](Self::compact_into) copies the database (README, "Security").
    ///
    /// # Errors
    /// [`Error::EncryptionKeysRequired`] for a storage opened without keys; storage errors.
    /// Records that cannot be opened are reported in [`ResealReport::left_out`].
    pub async fn rotate_keys(&self, tick: &mut (dyn FnMut() + Send)) -> Result<ResealReport> {
        let keys = self.required_keys("rotate its keys")?;
        // After a `decrypt_all` by this storage, sealing again: the flag first, as below.
        self.mark_encrypted(true).await?;
        self.reseal(Target::SealedWith(&keys), tick).await
    }

    /// Turns encryption off: marks the database as not encrypted (so every write from now on is
    /// plain), then writes every sealed record in plain text. Needs the key set the records
    /// were sealed with; resumable as [`rotate_keys`](Self::rotate_keys) is. Until it has run
    /// to the end, a storage opened without keys cannot read the records still sealed.
    ///
    /// # Errors
    /// As [`rotate_keys`](Self::rotate_keys).
    pub async fn decrypt_all(&self, tick: &mut (dyn FnMut() + Send)) -> Result<ResealReport> {
        self.required_keys("decrypt it")?;
        self.mark_encrypted(false).await?;
        self.reseal(Target::Plain, tick).await
    }

    /// Sets the database's encryption flag, durably (on disk before the first record a pass
    /// rewrites), unless it is set so already; with no store between reading the flag and
    /// writing its record meanwhile.
    async fn mark_encrypted(&self, encrypted: bool) -> Result<()> {
        let inner = &*self.inner;
        let _no_store = inner.sealing_gate.write().await;
        if inner.encrypted.swap(encrypted, Ordering::AcqRel) == encrypted {
            return Ok(());
        }
        let marked = inner
            .charged_write(1, repair::META_SIZES, |sizes| {
                repair::write_meta(inner, false, sizes)?;
                Ok(((), 1))
            })
            .await;
        if let Err(error) = marked {
            inner.encrypted.store(!encrypted, Ordering::Release);
            return Err(error);
        }
        self.flush().await
    }

    fn required_keys(&self, operation: &'static str) -> Result<std::sync::Arc<KeySet>> {
        self.inner
            .keys
            .clone()
            .ok_or_else(|| Error::EncryptionKeysRequired {
                path: self.inner.path.clone(),
                operation,
            })
    }

    async fn reseal(
        &self,
        target: Target<'_>,
        tick: &mut (dyn FnMut() + Send),
    ) -> Result<ResealReport> {
        let started = Instant::now();
        let mut report = ResealReport::default();
        for (seen, item) in self.inner.sessions.iter().keys().enumerate() {
            let key = item?;
            tick();
            let id = String::from_utf8_lossy(&key).into_owned();
            self.reseal_one(&id, target, &mut report).await?;
            if (seen + 1) % FLUSH_EVERY == 0 {
                self.flush().await?;
            }
        }
        self.flush().await?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    async fn reseal_one(
        &self,
        id: &str,
        target: Target<'_>,
        report: &mut ResealReport,
    ) -> Result<()> {
        let inner = &*self.inner;
        loop {
            let Some(bytes) = inner.sessions.get(id.as_bytes())? else {
                return Ok(());
            };
            let mut record = match codec::decode(id, &bytes) {
                Ok(record) => record,
                Err(error @ Error::Corrupt { .. }) => {
                    report.left_out.push((id.to_owned(), record_reason(&error)));
                    return Ok(());
                }
                Err(error) => return Err(error),
            };
            let sealed_with = record.sealed.as_ref().map(|sealed| sealed.key_id.as_str());
            let done = match target {
                Target::SealedWith(keys) => sealed_with == Some(keys.active_id()),
                Target::Plain => sealed_with.is_none(),
            };
            if done {
                report.already_done += 1;
                return Ok(());
            }
            if let Err(error) = codec::open(id, &mut record, inner.keys.as_deref()) {
                report.left_out.push((id.to_owned(), record_reason(&error)));
                return Ok(());
            }
            let keys = match target {
                Target::SealedWith(keys) => Some(keys),
                Target::Plain => None,
            };
            let rewritten = match codec::encode(
                &record.session,
                record.deadline_ms,
                inner.limits.max_record_bytes,
                keys,
            ) {
                Ok(rewritten) => rewritten,
                Err(error @ Error::InvalidSession(_)) => {
                    report.left_out.push((id.to_owned(), record_reason(&error)));
                    return Ok(());
                }
                Err(error) => return Err(error),
            };
            let own = Sizes::of_entry(id.as_bytes(), &rewritten);
            let (wrote, _) = inner
                .charged_write(1, own, |_| inner.replace_record(id, &bytes, &rewritten))
                .await?;
            if wrote {
                report.rewritten += 1;
                return Ok(());
            }
            // Stored anew meanwhile: look again.
        }
    }
}

impl Inner {
    /// Writes `rewritten` as the record of `id` if it still holds `read`, under the id's lock.
    /// Returns whether it wrote, and how many single-key writes it made.
    fn replace_record(&self, id: &str, read: &[u8], rewritten: &[u8]) -> Result<(bool, u64)> {
        let _tracked = self.watchdog.track();
        let _lock = self.locks.lock(id);
        if self.sessions.get(id.as_bytes())?.as_deref() != Some(read) {
            return Ok((false, 0));
        }
        writes::insert(&self.sessions, id.as_bytes(), rewritten)?;
        Ok((true, 1))
    }
}
