//! Tokens encrypted at rest: the keys.
//!
//! [`SledSessionStorage::builder(path).encryption(keys)`](crate::SledSessionStorageBuilder::encryption)
//! seals each session's access token and refresh token with AES-256-GCM-SIV, under the active
//! key of a [`KeySet`], with a fresh random 96-bit nonce per write and the session id as
//! associated data (so sealed tokens copied under another id do not open). What is sealed and
//! what is not, and how keys rotate, is told once, in the README's "Security" section.
//!
//! Why AES-256-GCM-SIV (RFC 8452, RustCrypto's `aes-gcm-siv`, the misuse-resistant sibling of
//! `aes-gcm`):
//! - nonces are drawn at random for every write, and GCM-SIV stays safe when random nonces
//!   collide (it then reveals only that two identical plaintexts are identical), where plain
//!   AES-GCM loses its authentication; so no count of writes per key is needed;
//! - it is fast where the tokens are sealed: `aes` and `polyval` use AES-NI and CLMUL (or the
//!   ARMv8 equivalents) when the CPU has them, detected at run time: the cipher takes about
//!   0.5 µs per record here (a sealed record costs about 1 µs more to encode and 0.6 µs more
//!   to decode than a plain one: BENCHMARKS.md). XChaCha20-Poly1305 was measured too: 1.8 µs
//!   per record in a default build, because
//!   RustCrypto's ChaCha20 and Poly1305 take their SIMD paths only when the app is built for
//!   the CPU (`-C target-cpu`), which would miss the 1 µs the benchmarks allow a load.

use std::fmt;

use aes_gcm_siv::{
    Aes256GcmSiv, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::{CorruptRecord, Error, Result};

/// The length of a key: 32 bytes (256 bits).
pub const KEY_LEN: usize = 32;
/// The length of a nonce: 12 bytes (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// The longest key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 32;

/// One 256-bit key and its short id, which is stored beside everything sealed with it.
///
/// Its bytes are wiped from memory when it is dropped, and never shown: `Debug` prints the id
/// only.
pub struct EncryptionKey {
    id: String,
    cipher: Aes256GcmSiv,
}

impl EncryptionKey {
    /// A key from its bytes. The id names it in records and errors: 1 to 32 ASCII letters,
    /// digits, `-`, `_` or `.` (a date, say: `2026-12`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an id that is not one.
    pub fn new(id: impl Into<String>, bytes: [u8; KEY_LEN]) -> Result<Self> {
        let bytes = Zeroizing::new(bytes);
        let id = id.into();
        check_id(&id)?;
        let cipher = Aes256GcmSiv::new(&(*bytes).into());
        Ok(EncryptionKey { id, cipher })
    }

    /// A key from `ID:BASE64` text (standard base64 of 32 bytes, padded or not), as
    /// [`from_env`](Self::from_env) reads it. `openssl rand -base64 32` makes the bytes.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming what is wrong (never the key).
    pub fn from_text(text: &str) -> Result<Self> {
        let Some((id, encoded)) = text.trim().split_once(':') else {
            return Err(Error::InvalidConfig(
                "an encryption key must be given as ID:BASE64".into(),
            ));
        };
        // Checked before anything echoes it: with the two parts swapped, the "id" is the key.
        check_id(id)?;
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim_end_matches('='))
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(encoded.trim_end_matches('='))
                })
                .map_err(|_| {
                    Error::InvalidConfig(format!("encryption key {id:?} is not valid base64"))
                })?,
        );
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            Error::InvalidConfig(format!(
                "encryption key {id:?} is {} bytes long, not {KEY_LEN}",
                decoded.len()
            ))
        })?;
        Self::new(id, bytes)
    }

    /// A key from the environment variable `name`, holding `ID:BASE64` (see
    /// [`from_text`](Self::from_text)).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the variable is not set or does not hold a key.
    pub fn from_env(name: &str) -> Result<Self> {
        let text = Zeroizing::new(std::env::var(name).map_err(|_| {
            Error::InvalidConfig(format!(
                "environment variable {name} is not set (or not UTF-8); it must hold ID:BASE64"
            ))
        })?);
        Self::from_text(&text).map_err(|error| match error {
            Error::InvalidConfig(message) => Error::InvalidConfig(format!("{name}: {message}")),
            other => other,
        })
    }

    /// The key's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Whether `id` is a key id. The error never quotes it: a key given in the wrong order would
/// be quoted whole.
fn check_id(id: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !id.chars().all(allowed) {
        return Err(Error::InvalidConfig(format!(
            "an encryption key id is 1 to {MAX_KEY_ID_LEN} ASCII letters, digits, '-', '_' or '.'; \
             the one given ({} bytes) is not (is the key given as ID:BASE64?)",
            id.len()
        )));
    }
    Ok(())
}

/// The keys of an encrypted database: one active key, which every write seals with, and any
/// number of older ones, which reads still open (until `rotate_keys` has re-sealed every
/// record with the active one).
///
/// ```
/// use shopify_session_storage::encryption::{EncryptionKey, KeySet};
///
/// # fn main() -> shopify_session_storage::Result<()> {
/// let current = EncryptionKey::new("2026-12", [7; 32])?;
/// let previous = EncryptionKey::from_text("2026-06:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")?;
/// let keys = KeySet::new(current).with_old(previous)?;
/// assert_eq!(keys.active_id(), "2026-12");
/// assert_eq!(format!("{keys:?}"), r#"KeySet { active: "2026-12", old: ["2026-06"] }"#);
/// # Ok(()) }
/// ```
pub struct KeySet {
    /// The active key first.
    keys: Vec<EncryptionKey>,
}

impl KeySet {
    /// A key set with `active` as its only key.
    #[must_use]
    pub fn new(active: EncryptionKey) -> Self {
        KeySet { keys: vec![active] }
    }

    /// Adds an old key, which reads open and writes never use.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the set holds a key with the same id.
    pub fn with_old(mut self, old: EncryptionKey) -> Result<Self> {
        if self.keys.iter().any(|key| key.id == old.id) {
            return Err(Error::InvalidConfig(format!(
                "two encryption keys have the id {:?}",
                old.id
            )));
        }
        self.keys.push(old);
        Ok(self)
    }

    /// The active key's id.
    #[must_use]
    pub fn active_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plaintext` with the active key and a fresh random nonce, bound to `aad`.
    /// Returns the key id, the nonce and the ciphertext (with its tag).
    pub(crate) fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<(&str, [u8; NONCE_LEN], Vec<u8>)> {
        let active = &self.keys[0];
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|source| Error::Io {
            context: "could not read random bytes for a nonce".into(),
            source: source.into(),
        })?;
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        // Encryption into a Vec fails only for messages longer than the cipher allows
        // (256 GiB), which a record never is.
        let sealed = active
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| Error::invalid("the tokens could not be sealed"))?;
        Ok((&active.id, nonce, sealed))
    }

    /// Opens what [`seal`](Self::seal) sealed with key `key_id`.
    pub(crate) fn open(
        &self,
        key_id: &str,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CorruptRecord> {
        let key = self
            .keys
            .iter()
            .find(|key| key.id == key_id)
            .ok_or_else(|| CorruptRecord::MissingKey {
                key_id: key_id.to_owned(),
            })?;
        let payload = Payload { msg: sealed, aad };
        key.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| CorruptRecord::Unsealable {
                key_id: key_id.to_owned(),
            })
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let old: Vec<&str> = self.keys[1..].iter().map(|key| key.id.as_str()).collect();
        f.debug_struct("KeySet")
            .field("active", &self.keys[0].id)
            .field("old", &old)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_with_their_key_and_aad_only() {
        let keys = KeySet::new(EncryptionKey::new("a", [1; 32]).unwrap());
        let (id, nonce, sealed) = keys.seal(b"offline_x", b"shpat_secret").unwrap();
        assert_eq!(id, "a");
        assert!(!sealed.windows(6).any(|window| window == b"shpat_"));
        let opened = keys.open("a", &nonce, b"offline_x", &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"shpat_secret");
        assert!(matches!(
            keys.open("a", &nonce, b"offline_y", &sealed),
            Err(CorruptRecord::Unsealable { .. })
        ));
        assert!(matches!(
            keys.open("b", &nonce, b"offline_x", &sealed),
            Err(CorruptRecord::MissingKey { .. })
        ));
        let other = KeySet::new(EncryptionKey::new("a", [2; 32]).unwrap());
        assert!(matches!(
            other.open("a", &nonce, b"offline_x", &sealed),
            Err(CorruptRecord::Unsealable { .. })
        ));
    }

    #[test]
    fn keys_from_text_say_what_is_wrong_without_the_key() {
        let key =
            EncryptionKey::from_text("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE").unwrap();
        assert_eq!(key.id(), "k1");
        let short = EncryptionKey::from_text("k1:AQEB").unwrap_err().to_string();
        assert!(short.contains("is 3 bytes long, not 32"), "{short}");
        let bad = EncryptionKey::from_text("k1:not base64!")
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("not valid base64") && !bad.contains("not base64!"),
            "{bad}"
        );
        let no_id = EncryptionKey::from_text("AQEB").unwrap_err().to_string();
        assert!(no_id.contains("ID:BASE64"), "{no_id}");
        // The parts swapped: the key must not be echoed as an id.
        let key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
        let swapped = EncryptionKey::from_text(&format!("{key}:k1"))
            .unwrap_err()
            .to_string();
        assert!(
            !swapped.contains(key) && swapped.contains("ID:BASE64"),
            "{swapped}"
        );
        assert!(EncryptionKey::new("a b", [0; 32]).is_err());
        assert!(EncryptionKey::new("", [0; 32]).is_err());
        let keys = KeySet::new(EncryptionKey::new("a", [0; 32]).unwrap());
        assert!(
            keys.with_old(EncryptionKey::new("a", [1; 32]).unwrap())
                .is_err()
        );
    }
}
