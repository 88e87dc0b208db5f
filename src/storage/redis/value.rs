//! The value of a session key: the JSON text of Node's `toPropertyArray(true)`, plus, only when
//! the session holds something a property array cannot (see `session/remainder.rs`), one more
//! entry `["rustSessionDetails", {...}]` that keeps it.
//!
//! A session Node could have written is stored byte for byte as Node writes a session built in
//! the same key order. Node's reader keeps the extra entry as an unknown property of its
//! session (`rustsessiondetails`), and its writer leaves it out, so a session a Node app stores
//! again loses the details, just as it would in Node.

use serde_json::{Map, Value};

use super::corrupt;
use crate::{CorruptRecord, Error, Result, Session};

/// The key of the entry that keeps what the property array loses.
const DETAILS_KEY: &str = "rustSessionDetails";

/// The value stored for `session`.
///
/// # Errors
/// [`Error::InvalidSession`] for a session a property array cannot hold (a date outside the
/// years 0 to 9999).
pub(super) fn encode(session: &Session) -> Result<String> {
    // A `(key, value)` pair serializes as the JSON array `[key, value]`.
    let mut entries = session.node_property_array(true);
    let details = session.property_array_remainder()?;
    if !details.is_empty() {
        entries.push((DETAILS_KEY, Value::Object(details)));
    }
    serde_json::to_string(&entries).map_err(Error::Json)
}

/// Reads the value stored under the key of `id`: a property array as the Node adapter or
/// [`encode`] writes it. `None` when the key holds a shop's index (a JSON list of keys; Node
/// writes `[]` for a shop with none left): the id is spelled like a shop domain, and no session
/// can be stored under it.
///
/// # Errors
/// [`Error::Corrupt`] for `id` when the value is not such a property array, or holds another
/// session's id.
pub(super) fn decode(id: &str, value: &[u8]) -> Result<Option<Session>> {
    let undecodable = |source: crate::BoxError| corrupt(id, CorruptRecord::Undecodable(source));
    let mut json: Value =
        serde_json::from_slice(value).map_err(|error| undecodable(Box::new(error)))?;
    if is_shop_index(&json) {
        return Ok(None);
    }
    let details = take_details(&mut json).map_err(undecodable)?;
    let mut session = Session::from_property_array_json(&json, true)
        .map_err(|error| undecodable(Box::new(error)))?;
    if session.id != id {
        return Err(corrupt(id, CorruptRecord::OtherId));
    }
    if let Some(details) = details {
        session
            .restore_property_array_remainder(details)
            .map_err(|reason| undecodable(reason.into()))?;
    }
    Ok(Some(session))
}

/// A list of strings, which no property array is.
fn is_shop_index(json: &Value) -> bool {
    json.as_array()
        .is_some_and(|items| items.iter().all(Value::is_string))
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
    match entry {
        Value::Array(mut pair) if pair.len() == 2 => match pair.pop() {
            Some(Value::Object(details)) => Ok(Some(details)),
            _ => Err(format!("the {DETAILS_KEY} entry is not an object").into()),
        },
        _ => Err(format!("the {DETAILS_KEY} entry is not a [key, value] pair").into()),
    }
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
        let value = encode(&session).unwrap();
        assert_eq!(
            value,
            r#"[["id","a.myshopify.com_1"],["shop","a.myshopify.com"],["state","s"],["isOnline",true],["expires",1700000000000],["userId",1],["email","a@example.com"]]"#
        );
        assert_eq!(
            decode(&session.id, value.as_bytes()).unwrap().unwrap(),
            session
        );
    }

    #[test]
    fn what_the_array_loses_is_kept_in_the_details_entry() {
        let mut session = Session::new("a.myshopify.com_1", "a.myshopify.com", "", true);
        let mut info = OnlineAccessInfo::new(AssociatedUser::new(1));
        info.expires_in = Some(60);
        session.online_access_info = Some(info);
        session
            .extra
            .insert("appPlan".into(), json!({"tier": "Pro"}));
        let value = encode(&session).unwrap();
        assert!(value.ends_with(r#"["rustSessionDetails",{"extra":{"appPlan":{"tier":"Pro"}},"onlineAccessInfoLost":{"associated_user":{},"expires_in":60}}]]"#), "{value}");
        assert_eq!(
            decode(&session.id, value.as_bytes()).unwrap().unwrap(),
            session
        );
    }

    #[test]
    fn decode_reads_node_values_and_names_what_is_wrong() {
        let value = br#"[["id","offline_a.myshopify.com"],["shop","a.myshopify.com"],["state","s"],["isOnline",false],["expires",1700000000000]]"#;
        let session = decode("offline_a.myshopify.com", value).unwrap().unwrap();
        assert_eq!(session.expires, Some(at_ms(1_700_000_000_000)));
        assert!(matches!(
            decode(
                "a.myshopify.com",
                br#"["shopify_sessions_offline_a.myshopify.com"]"#
            ),
            Ok(None)
        ));

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
