//! The on-disk form of a session: the only file that knows bincode.
//!
//! A record is one format-version byte followed by bincode (standard configuration, decoded
//! with a size limit) of [`RecordBody`], a private mirror of [`Session`] without its id (the id
//! is the record's key) and with the deadline the record was indexed under. bincode cannot
//! decode `serde_json::Value`, so the `extra` maps are stored as JSON text inside the record. A
//! new layout gets a new version byte; old versions stay decodable:
//!
//! - version 1: the user id of an online session is always present (`u64`);
//! - version 2 (written by a storage without encryption): it may be absent (`Option<u64>`), as
//!   Node's `fromPropertyArray` can produce a user without an id;
//! - version 3 (written by a storage with encryption): version 2 with the access and refresh
//!   tokens sealed (`crate::encryption`): in their place the key id, the 12-byte nonce and the
//!   ciphertext of the bincode pair `(access_token, refresh_token)`, whose associated data is
//!   [`AAD_PREFIX`], the key id's length (4 bytes, little-endian), the key id and the session
//!   id. The rest of the record is neither sealed nor authenticated: it stays readable without
//!   a key, so sweeping, verifying, repairing and deleting need none; [`decode`] leaves the
//!   tokens sealed and [`open`] opens them.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use zeroize::Zeroizing;

use super::charge::Sizes;
use crate::{
    AssociatedUser, CorruptRecord, Error, OnlineAccessInfo, Result, Session,
    encryption::{KeySet, MAX_KEY_ID_LEN, NONCE_LEN},
};

/// Records whose user id is a `u64`; still read, no longer written.
const FORMAT_V1: u8 = 1;
/// The first byte of a record written without encryption.
const FORMAT_V2: u8 = 2;
/// The first byte of a record whose tokens are sealed.
const FORMAT_V3: u8 = 3;

/// The start of the associated data of sealed tokens; the session id follows it.
const AAD_PREFIX: &[u8] = b"shopify-session-storage/record-v3/";

/// The largest record [`encode`] writes into a database created by this version; a larger
/// session is rejected as invalid. Databases with smaller log segments have a lower limit (see
/// `layout.rs`, which explains why records must stay this small).
pub(crate) const MAX_RECORD_BYTES: usize = 16 * 1024;

/// bincode refuses to allocate more than this while decoding, whatever lengths a damaged record
/// claims. Earlier versions wrote records of up to 64 KiB; twice that leaves room for them.
const DECODE_LIMIT: usize = 128 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    /// The session; while [`sealed`](Self::sealed) is `Some`, without its tokens.
    pub(crate) session: Session,
    /// Epoch milliseconds from which the session counts as expired; `None`: never.
    pub(crate) deadline_ms: Option<u64>,
    /// The tokens, still sealed (a version 3 record that [`open`] has not opened).
    pub(crate) sealed: Option<Sealed>,
}

/// Tokens sealed with one key.
#[derive(Clone, PartialEq)]
pub(crate) struct Sealed {
    pub(crate) key_id: String,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The two tokens as version 2 keeps them in plain text (a pair encodes as its two fields).
type PlainTokens<'a> = (Option<&'a str>, Option<&'a str>);

/// The two tokens as version 3 keeps them.
#[derive(Serialize, Deserialize)]
struct SealedTokens<'a> {
    key_id: &'a str,
    nonce: [u8; NONCE_LEN],
    #[serde(borrow)]
    ciphertext: &'a [u8],
}

/// A point in time as whole seconds and nanoseconds from the Unix epoch (negative seconds
/// before it), so that every `SystemTime` survives the round trip exactly.
type Instant = (i64, u32);

// Strings are `&str`, borrowed from the record while decoding and copied once into the
// session: bincode's owned-`String` path decodes byte by byte and took half of decode time.
//
// `UserId` and `Tokens` are the fields that differ between versions: `u64` in version 1,
// `Option<u64>` from version 2; tokens in plain text up to version 2, sealed in version 3.
#[derive(Serialize, Deserialize)]
struct RecordBody<'a, UserId, Tokens> {
    deadline_ms: Option<u64>,
    shop: &'a str,
    state: &'a str,
    is_online: bool,
    scope: Option<&'a str>,
    expires: Option<Instant>,
    tokens: Tokens,
    refresh_token_expires: Option<Instant>,
    #[serde(borrow)]
    online_access_info: Option<OnlineRecord<'a, UserId>>,
    /// `Session::extra` as a JSON object, empty when there is none.
    extra_json: &'a str,
}

#[derive(Serialize, Deserialize)]
struct OnlineRecord<'a, UserId> {
    expires_in: Option<u64>,
    associated_user_scope: Option<&'a str>,
    user_id: UserId,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    email: Option<&'a str>,
    locale: Option<&'a str>,
    email_verified: Option<bool>,
    account_owner: Option<bool>,
    collaborator: Option<bool>,
    info_extra_json: &'a str,
    user_extra_json: &'a str,
}

/// Encodes a session (already validated) with its deadline; with `keys`, its tokens sealed with
/// the active key (version 3).
///
/// # Errors
/// [`Error::InvalidSession`] when the record would exceed `max_bytes` or a date is out of range.
pub(crate) fn encode(
    session: &Session,
    deadline_ms: Option<u64>,
    max_bytes: usize,
    keys: Option<&KeySet>,
) -> Result<Vec<u8>> {
    let plain = (
        session.access_token.as_deref(),
        session.refresh_token.as_deref(),
    );
    let mut bytes = Vec::with_capacity(256);
    match keys {
        None => {
            bytes.push(FORMAT_V2);
            encode_body(session, deadline_ms, plain, &mut bytes)?;
        }
        Some(keys) => {
            let tokens = Zeroizing::new(bincode::serde::encode_to_vec(plain, config()).map_err(
                |error| Error::invalid(format!("the tokens cannot be encoded: {error}")),
            )?);
            let aad = aad(keys.active_id(), &session.id);
            let (key_id, nonce, ciphertext) = keys.seal(&aad, &tokens)?;
            let sealed = SealedTokens {
                key_id,
                nonce,
                ciphertext: &ciphertext,
            };
            bytes.push(FORMAT_V3);
            encode_body(session, deadline_ms, sealed, &mut bytes)?;
        }
    }
    if bytes.len() > max_bytes {
        return Err(Error::invalid(format!(
            "the encoded session is {} bytes, at most {max_bytes} are stored",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The associated data of tokens of session `id` sealed with key `key_id`.
fn aad(key_id: &str, id: &str) -> Vec<u8> {
    // A key id is at most MAX_KEY_ID_LEN bytes.
    let key_id_len = u32::try_from(key_id.len()).unwrap_or(u32::MAX);
    [
        AAD_PREFIX,
        &key_id_len.to_le_bytes(),
        key_id.as_bytes(),
        id.as_bytes(),
    ]
    .concat()
}

/// Appends the bincode of a session's record body, its tokens as given, to `bytes`.
fn encode_body<Tokens: Serialize>(
    session: &Session,
    deadline_ms: Option<u64>,
    tokens: Tokens,
    bytes: &mut Vec<u8>,
) -> Result<()> {
    let extra_json = map_to_json(&session.extra);
    let info_json = session.online_access_info.as_ref().map(|info| {
        (
            map_to_json(&info.extra),
            map_to_json(&info.associated_user.extra),
        )
    });
    let record = RecordBody::<Option<u64>, Tokens> {
        deadline_ms,
        shop: &session.shop,
        state: &session.state,
        is_online: session.is_online,
        scope: session.scope.as_deref(),
        expires: session.expires.map(to_instant).transpose()?,
        tokens,
        refresh_token_expires: session.refresh_token_expires.map(to_instant).transpose()?,
        online_access_info: session
            .online_access_info
            .as_ref()
            .zip(info_json.as_ref())
            .map(|(info, (info_extra_json, user_extra_json))| {
                let user = &info.associated_user;
                OnlineRecord {
                    expires_in: info.expires_in,
                    associated_user_scope: info.associated_user_scope.as_deref(),
                    user_id: user.id,
                    first_name: user.first_name.as_deref(),
                    last_name: user.last_name.as_deref(),
                    email: user.email.as_deref(),
                    locale: user.locale.as_deref(),
                    email_verified: user.email_verified,
                    account_owner: user.account_owner,
                    collaborator: user.collaborator,
                    info_extra_json,
                    user_extra_json,
                }
            }),
        extra_json: &extra_json,
    };
    bincode::serde::encode_into_std_write(&record, bytes, config()).map_err(|error| {
        // Encoding into a Vec fails only when the record passes the size limit.
        Error::invalid(format!("the session cannot be encoded: {error}"))
    })?;
    Ok(())
}

/// Decodes the record stored under `id`, leaving sealed tokens sealed (see [`open`]).
///
/// # Errors
/// [`Error::Corrupt`] naming `id` for an unknown version byte, bytes that do not decode,
/// trailing bytes, or fields that do not make a session.
pub(crate) fn decode(id: &str, bytes: &[u8]) -> Result<Record> {
    decode_body(id, bytes).map_err(|source| Error::Corrupt {
        id: id.to_string(),
        source,
    })
}

fn decode_body(id: &str, bytes: &[u8]) -> Result<Record, CorruptRecord> {
    match bytes.split_first() {
        None => Err(CorruptRecord::Empty),
        Some((&FORMAT_V2, body)) => {
            let record = borrow_decode::<RecordBody<Option<u64>, PlainTokens<'_>>>(body)?;
            into_record(id, record, None)
        }
        Some((&FORMAT_V3, body)) => {
            let record = borrow_decode::<RecordBody<Option<u64>, SealedTokens<'_>>>(body)?;
            if record.tokens.key_id.len() > MAX_KEY_ID_LEN {
                return Err(CorruptRecord::Undecodable(
                    format!("its key id is longer than {MAX_KEY_ID_LEN} bytes").into(),
                ));
            }
            let sealed = Sealed {
                key_id: record.tokens.key_id.to_owned(),
                nonce: record.tokens.nonce,
                ciphertext: record.tokens.ciphertext.to_vec(),
            };
            into_record(id, record, Some(sealed))
        }
        Some((&FORMAT_V1, body)) => {
            let old = borrow_decode::<RecordBody<u64, PlainTokens<'_>>>(body)?;
            let online_access_info = old.online_access_info.map(|online| OnlineRecord {
                user_id: Some(online.user_id),
                expires_in: online.expires_in,
                associated_user_scope: online.associated_user_scope,
                first_name: online.first_name,
                last_name: online.last_name,
                email: online.email,
                locale: online.locale,
                email_verified: online.email_verified,
                account_owner: online.account_owner,
                collaborator: online.collaborator,
                info_extra_json: online.info_extra_json,
                user_extra_json: online.user_extra_json,
            });
            let record = RecordBody {
                deadline_ms: old.deadline_ms,
                shop: old.shop,
                state: old.state,
                is_online: old.is_online,
                scope: old.scope,
                expires: old.expires,
                tokens: old.tokens,
                refresh_token_expires: old.refresh_token_expires,
                online_access_info,
                extra_json: old.extra_json,
            };
            into_record(id, record, None)
        }
        Some((&version, _)) => Err(CorruptRecord::UnknownVersion(version)),
    }
}

/// Decodes the whole of `body`, strings borrowed from it.
fn borrow_decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, CorruptRecord> {
    let (decoded, read): (T, usize) = bincode::serde::borrow_decode_from_slice(body, config())
        .map_err(|error| CorruptRecord::Undecodable(Box::new(error)))?;
    if read == body.len() {
        Ok(decoded)
    } else {
        Err(CorruptRecord::TrailingBytes(body.len() - read))
    }
}

/// Opens the sealed tokens of a record decoded from under `id`, if it has any, with `keys`.
///
/// # Errors
/// [`Error::Corrupt`] naming `id`, with [`CorruptRecord::MissingKey`] (no keys, or none with
/// the record's key id) or [`CorruptRecord::Unsealable`] (the key does not open them: another
/// key under that id, or a record moved from another session).
pub(crate) fn open(id: &str, record: &mut Record, keys: Option<&KeySet>) -> Result<()> {
    let Some(sealed) = record.sealed.take() else {
        return Ok(());
    };
    let opened = keys
        .ok_or_else(|| CorruptRecord::MissingKey {
            key_id: sealed.key_id.clone(),
        })
        .and_then(|keys| {
            let aad = aad(&sealed.key_id, id);
            keys.open(&sealed.key_id, &sealed.nonce, &aad, &sealed.ciphertext)
        })
        .and_then(|plain| {
            let (access, refresh): (Option<&str>, Option<&str>) = borrow_decode(&plain)?;
            Ok((access.map(str::to_owned), refresh.map(str::to_owned)))
        });
    match opened {
        Ok((access_token, refresh_token)) => {
            record.session.access_token = access_token;
            record.session.refresh_token = refresh_token;
            Ok(())
        }
        Err(source) => {
            record.sealed = Some(sealed);
            Err(Error::Corrupt {
                id: id.to_owned(),
                source,
            })
        }
    }
}

/// [`decode`] then [`open`].
pub(crate) fn decode_open(id: &str, bytes: &[u8], keys: Option<&KeySet>) -> Result<Record> {
    let mut record = decode(id, bytes)?;
    open(id, &mut record, keys)?;
    Ok(record)
}

fn into_record<Tokens: IntoTokens>(
    id: &str,
    record: RecordBody<'_, Option<u64>, Tokens>,
    sealed: Option<Sealed>,
) -> Result<Record, CorruptRecord> {
    let online_access_info = match record.online_access_info {
        None => None,
        Some(online) => Some(OnlineAccessInfo {
            expires_in: online.expires_in,
            associated_user_scope: online.associated_user_scope.map(str::to_owned),
            associated_user: AssociatedUser {
                id: online.user_id,
                first_name: online.first_name.map(str::to_owned),
                last_name: online.last_name.map(str::to_owned),
                email: online.email.map(str::to_owned),
                locale: online.locale.map(str::to_owned),
                email_verified: online.email_verified,
                account_owner: online.account_owner,
                collaborator: online.collaborator,
                extra: json_to_map("user extra", online.user_extra_json)?,
            },
            extra: json_to_map("online access info extra", online.info_extra_json)?,
        }),
    };
    let instant = |value: Option<Instant>| value.map(from_instant).transpose();
    let session = Session {
        id: id.to_string(),
        shop: record.shop.to_owned(),
        state: record.state.to_owned(),
        is_online: record.is_online,
        scope: record.scope.map(str::to_owned),
        expires: instant(record.expires)?,
        access_token: record.tokens.access_token(),
        refresh_token: record.tokens.refresh_token(),
        refresh_token_expires: instant(record.refresh_token_expires)?,
        online_access_info,
        extra: json_to_map("extra", record.extra_json)?,
    };
    Ok(Record {
        session,
        deadline_ms: record.deadline_ms,
        sealed,
    })
}

/// The plain tokens a record body holds: none while they are sealed.
trait IntoTokens {
    fn access_token(&self) -> Option<String>;
    fn refresh_token(&self) -> Option<String>;
}

impl IntoTokens for PlainTokens<'_> {
    fn access_token(&self) -> Option<String> {
        self.0.map(str::to_owned)
    }
    fn refresh_token(&self) -> Option<String> {
        self.1.map(str::to_owned)
    }
}

impl IntoTokens for SealedTokens<'_> {
    fn access_token(&self) -> Option<String> {
        None
    }
    fn refresh_token(&self) -> Option<String> {
        None
    }
}

fn map_to_json(map: &BTreeMap<String, Value>) -> String {
    if map.is_empty() {
        return String::new();
    }
    // Serializing a map of JSON values into a string cannot fail.
    serde_json::to_string(map).unwrap_or_default()
}

fn json_to_map(part: &'static str, text: &str) -> Result<BTreeMap<String, Value>, CorruptRecord> {
    if text.is_empty() {
        return Ok(BTreeMap::new());
    }
    // Only the position of serde_json's error is kept: its message can quote the map's values.
    serde_json::from_str(text).map_err(|error| CorruptRecord::ExtraNotAnObject {
        part,
        line: error.line(),
        column: error.column(),
    })
}

fn to_instant(time: SystemTime) -> Result<Instant> {
    // In i128, so that the most negative second (-2^63, which `from_instant` accepts) does not
    // overflow on the way back.
    let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (i128::from(after.as_secs()), after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            // Stored as (negative seconds, positive nanos), e.g. -1.5 s = (-2, 500_000_000).
            match before.subsec_nanos() {
                0 => (-i128::from(before.as_secs()), 0),
                nanos => (-i128::from(before.as_secs()) - 1, 1_000_000_000 - nanos),
            }
        }
    };
    let secs =
        i64::try_from(secs).map_err(|_| Error::invalid("a date of the session is out of range"))?;
    Ok((secs, nanos))
}

fn from_instant((secs, nanos): Instant) -> Result<SystemTime, CorruptRecord> {
    if nanos >= 1_000_000_000 {
        return Err(CorruptRecord::BadDate);
    }
    let whole = Duration::from_secs(secs.unsigned_abs());
    let time = if secs >= 0 {
        UNIX_EPOCH.checked_add(whole)
    } else {
        UNIX_EPOCH.checked_sub(whole)
    };
    time.and_then(|time| time.checked_add(Duration::from_nanos(u64::from(nanos))))
        .ok_or(CorruptRecord::BadDate)
}

/// `meta` entries without the database's sizes; still read.
const META_V1: u8 = 1;
/// `meta` entries without the encryption flag: still written for a database without
/// encryption.
const META_V2: u8 = 2;
/// The first byte of the `meta` entry of an encrypted database.
const META_V3: u8 = 3;

/// The database's own small record: which layout it has, whether it was closed cleanly, and
/// the sizes its writes are charged for (`charge.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The layout version (see `layout.rs`).
    pub(crate) layout_version: u32,
    /// `false` from the moment a process opens the database until it closes it cleanly.
    pub(crate) clean_shutdown: bool,
    /// The largest entry and key the database has held; `None` in a `meta` written before they
    /// were kept.
    pub(crate) sizes: Option<Sizes>,
    /// Whether records are written sealed: set once a storage with keys opened the database,
    /// cleared only by `decrypt_all`. A storage without keys refuses to write while it is set.
    pub(crate) encrypted: bool,
}

#[derive(Serialize, Deserialize)]
struct MetaV1 {
    layout_version: u32,
    clean_shutdown: bool,
}

#[derive(Serialize, Deserialize)]
struct MetaV2 {
    layout_version: u32,
    clean_shutdown: bool,
    largest_entry: u64,
    largest_key: u64,
}

#[derive(Serialize, Deserialize)]
struct MetaV3 {
    layout_version: u32,
    clean_shutdown: bool,
    largest_entry: u64,
    largest_key: u64,
    encrypted: bool,
}

/// Encodes the `meta` entry: version 3 for an encrypted database, version 2 otherwise, so that
/// a database that never used encryption still opens with earlier versions of the crate.
pub(crate) fn encode_meta(
    layout_version: u32,
    clean_shutdown: bool,
    sizes: Sizes,
    encrypted: bool,
) -> Vec<u8> {
    let (largest_entry, largest_key) = (sizes.entry, sizes.key);
    // A few fixed fields into a Vec: encoding cannot fail.
    let failed = "encoding fixed fields into a Vec cannot fail";
    if encrypted {
        let meta = MetaV3 {
            layout_version,
            clean_shutdown,
            largest_entry,
            largest_key,
            encrypted,
        };
        let mut bytes = vec![META_V3];
        bincode::serde::encode_into_std_write(meta, &mut bytes, config()).expect(failed);
        bytes
    } else {
        let meta = MetaV2 {
            layout_version,
            clean_shutdown,
            largest_entry,
            largest_key,
        };
        let mut bytes = vec![META_V2];
        bincode::serde::encode_into_std_write(meta, &mut bytes, config()).expect(failed);
        bytes
    }
}

/// Decodes the `meta` entry.
///
/// # Errors
/// [`Error::Corrupt`] (for the id `meta`) when the bytes are not a `meta` entry.
pub(crate) fn decode_meta(bytes: &[u8]) -> Result<Meta> {
    let decoded = match bytes.split_first() {
        Some((&META_V3, body)) => borrow_decode::<MetaV3>(body).map(|meta| Meta {
            layout_version: meta.layout_version,
            clean_shutdown: meta.clean_shutdown,
            sizes: Some(Sizes {
                entry: meta.largest_entry,
                key: meta.largest_key,
            }),
            encrypted: meta.encrypted,
        }),
        Some((&META_V2, body)) => borrow_decode::<MetaV2>(body).map(|meta| Meta {
            layout_version: meta.layout_version,
            clean_shutdown: meta.clean_shutdown,
            sizes: Some(Sizes {
                entry: meta.largest_entry,
                key: meta.largest_key,
            }),
            encrypted: false,
        }),
        Some((&META_V1, body)) => borrow_decode::<MetaV1>(body).map(|meta| Meta {
            layout_version: meta.layout_version,
            clean_shutdown: meta.clean_shutdown,
            sizes: None,
            encrypted: false,
        }),
        Some((&version, _)) => Err(CorruptRecord::UnknownVersion(version)),
        None => Err(CorruptRecord::Empty),
    };
    decoded.map_err(|source| Error::Corrupt {
        id: "meta".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn meta_round_trips_and_rejects_damage() {
        let sizes = Sizes {
            entry: 700,
            key: 90,
        };
        let bytes = encode_meta(1, true, sizes, true);
        let meta = Meta {
            layout_version: 1,
            clean_shutdown: true,
            sizes: Some(sizes),
            encrypted: true,
        };
        assert_eq!(decode_meta(&bytes).unwrap(), meta);
        let plain = encode_meta(1, true, sizes, false);
        assert_eq!(
            plain[0], META_V2,
            "earlier versions of the crate still open it"
        );
        assert_eq!(
            decode_meta(&plain).unwrap(),
            Meta {
                encrypted: false,
                ..meta
            }
        );
        assert!(decode_meta(&[]).is_err());
        assert!(decode_meta(&[9, 1, 1]).is_err());
        let mut long = bytes;
        long.push(0);
        assert!(decode_meta(&long).is_err());
        // A version 1 entry: layout 1, clean.
        let old = decode_meta(&[META_V1, 1, 1]).unwrap();
        assert_eq!(
            (
                old.layout_version,
                old.clean_shutdown,
                old.sizes,
                old.encrypted
            ),
            (1, true, None, false)
        );
    }

    use serde_json::json;

    use super::*;

    fn full_session() -> Session {
        let mut session = Session::new("a.myshopify.com_1", "a.myshopify.com", "st", true);
        session.scope = Some("read_products".into());
        session.expires = Some(UNIX_EPOCH + Duration::new(4_070_908_800, 123_456_789));
        session.access_token = Some("token".into());
        session.refresh_token = Some("refresh".into());
        session.refresh_token_expires = Some(UNIX_EPOCH - Duration::new(10, 1));
        let mut user = AssociatedUser::new(1);
        user.email = Some("e@example.com".into());
        user.collaborator = Some(false);
        user.extra.insert("title".into(), json!("owner"));
        let mut info = OnlineAccessInfo::new(user);
        info.expires_in = Some(60);
        info.extra.insert("session".into(), json!("abc"));
        session.online_access_info = Some(info);
        session.extra.insert("plan".into(), json!({"tier": [1, 2]}));
        session
    }

    #[test]
    fn round_trips_every_field_exactly() {
        let session = full_session();
        let bytes = encode(&session, Some(42), MAX_RECORD_BYTES, None).unwrap();
        assert_eq!(bytes[0], FORMAT_V2);
        let record = decode(&session.id, &bytes).unwrap();
        assert_eq!(record.session, session);
        assert_eq!(record.deadline_ms, Some(42));
    }

    #[test]
    fn damaged_records_are_corrupt_not_panics() {
        let id = "x";
        let bytes = encode(&full_session(), None, MAX_RECORD_BYTES, None).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "empty"),
            (vec![9, 0, 0], "unknown format version 9"),
            (bytes[..bytes.len() / 2].to_vec(), "does not decode"),
            ([bytes.as_slice(), &[0]].concat(), "follow the record"),
            // A length prefix claiming 2^40 bytes must not allocate them.
            (
                vec![FORMAT_V2, 0, 253, 0, 0, 0, 0, 0, 1, 0, 0],
                "does not decode",
            ),
        ];
        for (bytes, expected) in cases {
            match decode(id, &bytes) {
                Err(Error::Corrupt { id: got, source }) => {
                    assert_eq!(got, id);
                    let reason = source.to_string();
                    assert!(reason.contains(expected), "{reason} / {expected}");
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    /// A version 1 record as earlier versions wrote it (shop `a.myshopify.com`, state `st`,
    /// online, token `token`, user 77, deadline 7), frozen so that a change of the structs here
    /// cannot make the test agree with itself.
    const V1_RECORD: [u8; 48] = [
        1, 1, 7, 15, 97, 46, 109, 121, 115, 104, 111, 112, 105, 102, 121, 46, 99, 111, 109, 2, 115,
        116, 1, 0, 0, 1, 5, 116, 111, 107, 101, 110, 0, 0, 1, 0, 0, 77, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0,
    ];

    #[test]
    fn version_1_records_still_decode() {
        let record = decode("v1", &V1_RECORD).unwrap();
        assert_eq!(record.deadline_ms, Some(7));
        let session = record.session;
        assert_eq!(
            (session.shop.as_str(), session.state.as_str()),
            ("a.myshopify.com", "st")
        );
        assert!(session.is_online);
        assert_eq!(session.access_token.as_deref(), Some("token"));
        let info = session.online_access_info.unwrap();
        assert_eq!(info.associated_user.id, Some(77));
    }

    #[test]
    fn a_user_without_an_id_round_trips() {
        let mut session = full_session();
        session
            .online_access_info
            .as_mut()
            .unwrap()
            .associated_user
            .id = None;
        let bytes = encode(&session, None, MAX_RECORD_BYTES, None).unwrap();
        assert_eq!(decode(&session.id, &bytes).unwrap().session, session);
    }

    #[test]
    fn oversized_sessions_are_invalid() {
        let mut session = full_session();
        session.state = "s".repeat(MAX_RECORD_BYTES);
        let error = encode(&session, None, MAX_RECORD_BYTES, None).unwrap_err();
        assert!(matches!(error, Error::InvalidSession(_)), "{error:?}");
    }
}
