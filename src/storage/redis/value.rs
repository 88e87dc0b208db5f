//! The value of a session key: the JSON text of Node's `toPropertyArray(true)`, plus, only when
//! the session holds something a property array cannot, one more entry that keeps it.
//!
//! Property arrays are lossy by Shopify's design (see `session/property_array.rs`): they drop
//! the user's `expires_in`, `associated_user_scope` and unknown keys, and lower-case unknown
//! top-level keys. A storage must give back what it was given, so the lost parts go into a
//! trailing `["rustSessionDetails", {"onlineAccessInfo": ..., "extra": {...}}]` entry, each
//! member present only when needed. A session Node could have written is stored byte for byte
//! as Node writes it. Node's reader keeps the entry as an unknown property (`rustsessiondetails`)
//! and its writer leaves it out, so a session a Node app stores again loses the details, just
//! as it would in Node.

use serde_json::{Map, Value};

use super::corrupt;
use crate::{CorruptRecord, Error, Result, Session};

/// The key of the entry that keeps what the property array loses.
const DETAILS_KEY: &str = "rustSessionDetails";

/// The value stored for `session`.
pub(super) fn encode(session: &Session) -> Result<String> {
    let mut entries: Vec<Value> = session
        .node_property_array(true)
        .into_iter()
        .map(|(key, value)| Value::Array(vec![key.into(), value]))
        .collect();
    let mut details = Map::new();
    if user_is_lossy(session) {
        let info = serde_json::to_value(&session.online_access_info).map_err(Error::Json)?;
        details.insert("onlineAccessInfo".into(), info);
    }
    if !session.extra.is_empty() {
        let extra = session.extra.clone().into_iter().collect();
        details.insert("extra".into(), Value::Object(extra));
    }
    if !details.is_empty() {
        entries.push(Value::Array(vec![
            DETAILS_KEY.into(),
            Value::Object(details),
        ]));
    }
    serde_json::to_string(&entries).map_err(Error::Json)
}

/// Whether reading the property array back would give another user than the session's:
/// Node gives every online session a user and no offline one, and keeps only the user's
/// own fields.
fn user_is_lossy(session: &Session) -> bool {
    match (&session.online_access_info, session.is_online) {
        (None, online) => online,
        (Some(_), false) => true,
        (Some(info), true) => {
            info.expires_in.is_some()
                || info.associated_user_scope.is_some()
                || !info.extra.is_empty()
                || !info.associated_user.extra.is_empty()
        }
    }
}

/// Reads the value stored under the key of `id`: a property array as the Node adapter or
/// [`encode`] writes it.
///
/// # Errors
/// [`Error::Corrupt`] for `id` when the value is not such a property array, or holds another
/// session's id.
pub(super) fn decode(id: &str, value: &[u8]) -> Result<Session> {
    let undecodable = |source: crate::BoxError| corrupt(id, CorruptRecord::Undecodable(source));
    let mut json: Value =
        serde_json::from_slice(value).map_err(|error| undecodable(Box::new(error)))?;
    let details = take_details(&mut json).map_err(undecodable)?;
    let mut session = Session::from_property_array_json(&json, true)
        .map_err(|error| undecodable(Box::new(error)))?;
    if session.id != id {
        return Err(corrupt(id, CorruptRecord::OtherId));
    }
    if let Some(mut details) = details {
        // A `null` user is kept as "no user", which a missing member is not.
        if let Some(info) = details.remove("onlineAccessInfo") {
            session.online_access_info =
                serde_json::from_value(info).map_err(|_| undecodable(details_shape()))?;
        }
        match details.remove("extra") {
            Some(Value::Object(extra)) => session.extra.extend(extra),
            None => {}
            Some(_) => return Err(undecodable(details_shape())),
        }
        if !details.is_empty() {
            return Err(undecodable(details_shape()));
        }
    }
    Ok(session)
}

/// Removes the details entry (the last, should there be more) from a property array. Anything
/// that is not an array is left for the property array reader to name.
fn take_details(
    json: &mut Value,
) -> std::result::Result<Option<Map<String, Value>>, crate::BoxError> {
    let Value::Array(entries) = json else {
        return Ok(None);
    };
    let is_details = |entry: &Value| {
        entry
            .get(0)
            .and_then(Value::as_str)
            .is_some_and(|key| key.eq_ignore_ascii_case(DETAILS_KEY))
    };
    let Some(position) = entries.iter().rposition(is_details) else {
        return Ok(None);
    };
    let entry = entries.remove(position);
    entries.retain(|entry| !is_details(entry));
    match entry.get(1) {
        Some(Value::Object(details)) => Ok(Some(details.clone())),
        _ => Err(details_shape()),
    }
}

fn details_shape() -> crate::BoxError {
    format!(
        "the {DETAILS_KEY} entry is not {{\"onlineAccessInfo\": <user or null>, \"extra\": <object>}}"
    )
    .into()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use serde_json::json;

    use super::*;
    use crate::{AssociatedUser, OnlineAccessInfo};

    fn at_ms(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn a_session_node_could_write_is_stored_as_node_writes_it() {
        let mut session = Session::new("a.myshopify.com_1", "a.myshopify.com", "s", true);
        session.expires = Some(at_ms(1_700_000_000_000));
        let mut user = AssociatedUser::new(1);
        user.email = Some("a@example.com".into());
        session.online_access_info = Some(OnlineAccessInfo::new(user));
        assert_eq!(
            encode(&session).unwrap(),
            r#"[["id","a.myshopify.com_1"],["shop","a.myshopify.com"],["state","s"],["isOnline",true],["expires",1700000000000],["userId",1],["email","a@example.com"]]"#
        );
        assert_eq!(
            decode(&session.id, encode(&session).unwrap().as_bytes()).unwrap(),
            session
        );
    }

    #[test]
    fn what_the_array_loses_is_kept_in_the_details_entry() {
        let mut online = Session::new("a.myshopify.com_1", "a.myshopify.com", "", true);
        let mut info = OnlineAccessInfo::new(AssociatedUser::new(1));
        info.expires_in = Some(60);
        info.associated_user_scope = Some("read_orders".into());
        info.extra.insert("session".into(), json!("abc"));
        info.associated_user.extra.insert("avatar".into(), json!(1));
        online.online_access_info = Some(info);
        online
            .extra
            .insert("appPlan".into(), json!({"tier": "Pro"}));

        let mut no_user = Session::new("a.myshopify.com_2", "a.myshopify.com", "", true);
        no_user.online_access_info = None;
        let mut offline_with_user =
            Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
        offline_with_user.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(3)));

        for session in [online, no_user, offline_with_user] {
            let value = encode(&session).unwrap();
            assert!(value.contains(DETAILS_KEY), "{value}");
            assert_eq!(decode(&session.id, value.as_bytes()).unwrap(), session);
        }
    }

    #[test]
    fn decode_reads_node_values_and_names_what_is_wrong() {
        let value = br#"[["id","offline_a.myshopify.com"],["shop","a.myshopify.com"],["state","s"],["isOnline",false],["expires",1700000000000]]"#;
        let session = decode("offline_a.myshopify.com", value).unwrap();
        assert_eq!(session.expires, Some(at_ms(1_700_000_000_000)));

        let error = decode("offline_b.myshopify.com", value).unwrap_err();
        assert!(matches!(
            error,
            Error::Corrupt {
                source: CorruptRecord::OtherId,
                ..
            }
        ));
        for bad in [
            &b"{\"not\":\"an array\"}"[..],
            br#"[["id","x"],["shop","a.myshopify.com"],["rustSessionDetails",7]]"#,
            br#"[["id","x"],["shop","a.myshopify.com"],["rustSessionDetails",{"what":1}]]"#,
            br#"[["id","x"],["shop","a.myshopify.com"],["rustSessionDetails",{"onlineAccessInfo":2}]]"#,
        ] {
            let error = decode("x", bad).unwrap_err();
            assert!(
                matches!(
                    error,
                    Error::Corrupt {
                        source: CorruptRecord::Undecodable(_),
                        ..
                    }
                ),
                "{error:?}"
            );
        }
    }
}
