//! Session JSON: the shape of Node's `JSON.stringify(session.toObject())`.
//!
//! camelCase keys, absent optionals omitted (and, as Node's `toObject` does, an empty `scope`,
//! `accessToken` or `refreshToken`), dates as RFC 3339 UTC with milliseconds on write
//! and RFC 3339 (any offset) or epoch milliseconds on read, unknown keys kept.

use std::{collections::BTreeMap, time::SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{OnlineAccessInfo, Session, dates::optional_rfc3339};

/// What is written: borrows the session, so serializing copies nothing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionJsonOut<'a> {
    id: &'a str,
    shop: &'a str,
    state: &'a str,
    is_online: bool,
    #[serde(skip_serializing_if = "is_absent_or_empty")]
    scope: Option<&'a str>,
    #[serde(with = "optional_rfc3339", skip_serializing_if = "Option::is_none")]
    expires: Option<SystemTime>,
    #[serde(skip_serializing_if = "is_absent_or_empty")]
    access_token: Option<&'a str>,
    #[serde(skip_serializing_if = "is_absent_or_empty")]
    refresh_token: Option<&'a str>,
    #[serde(with = "optional_rfc3339", skip_serializing_if = "Option::is_none")]
    refresh_token_expires: Option<SystemTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    online_access_info: Option<&'a OnlineAccessInfo>,
    #[serde(flatten)]
    extra: &'a BTreeMap<String, Value>,
}

/// Node's `toObject` writes `scope`, `accessToken` and `refreshToken` only when they are truthy.
// Serde's `skip_serializing_if` passes a reference to the field.
#[allow(clippy::ref_option_ref, clippy::trivially_copy_pass_by_ref)]
fn is_absent_or_empty(value: &Option<&str>) -> bool {
    value.is_none_or(str::is_empty)
}

/// What is read. `state` and `isOnline` default to `""` and `false`, as a Node session built
/// without them behaves.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionJsonIn {
    id: String,
    shop: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    is_online: bool,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default, with = "optional_rfc3339")]
    expires: Option<SystemTime>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, with = "optional_rfc3339")]
    refresh_token_expires: Option<SystemTime>,
    #[serde(default)]
    online_access_info: Option<OnlineAccessInfo>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

impl Serialize for Session {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SessionJsonOut {
            id: &self.id,
            shop: &self.shop,
            state: &self.state,
            is_online: self.is_online,
            scope: self.scope.as_deref(),
            expires: self.expires,
            access_token: self.access_token.as_deref(),
            refresh_token: self.refresh_token.as_deref(),
            refresh_token_expires: self.refresh_token_expires,
            online_access_info: self.online_access_info.as_ref(),
            extra: &self.extra,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Session {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = SessionJsonIn::deserialize(deserializer)?;
        Ok(Session {
            id: json.id,
            shop: json.shop,
            state: json.state,
            is_online: json.is_online,
            scope: json.scope,
            expires: json.expires,
            access_token: json.access_token,
            refresh_token: json.refresh_token,
            refresh_token_expires: json.refresh_token_expires,
            online_access_info: json.online_access_info,
            extra: json.extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::AssociatedUser;

    #[test]
    fn omits_absent_optionals_and_keeps_unknown_keys() {
        let mut session = Session::new("id", "a.myshopify.com", "", true);
        session.extra.insert("customField".into(), json!({"x": 1}));
        let mut info = OnlineAccessInfo::new(AssociatedUser::new(7));
        info.extra.insert("account_number".into(), json!(3));
        session.online_access_info = Some(info);
        let value = serde_json::to_value(&session).unwrap();
        assert_eq!(
            value,
            json!({
                "id": "id", "shop": "a.myshopify.com", "state": "", "isOnline": true,
                "onlineAccessInfo": {"associated_user": {"id": 7}, "account_number": 3},
                "customField": {"x": 1}
            })
        );
        assert_eq!(serde_json::from_value::<Session>(value).unwrap(), session);
    }

    #[test]
    fn reads_epoch_millis_and_nulls() {
        let session: Session = serde_json::from_value(json!({
            "id": "id", "shop": "s", "state": "x", "isOnline": false,
            "expires": 4_070_908_800_000_i64, "scope": null
        }))
        .unwrap();
        let value = serde_json::to_value(&session).unwrap();
        assert_eq!(value["expires"], "2099-01-01T00:00:00.000Z");
        assert!(value.get("scope").is_none());
    }

    #[test]
    fn empty_scope_and_tokens_are_left_out_as_node_to_object_does() {
        let mut session = Session::new("id", "s", "", false);
        session.scope = Some(String::new());
        session.access_token = Some(String::new());
        session.refresh_token = Some(String::new());
        let value = serde_json::to_value(&session).unwrap();
        assert_eq!(
            value,
            json!({"id": "id", "shop": "s", "state": "", "isOnline": false})
        );
    }

    #[test]
    fn a_bad_date_is_an_error() {
        let result = serde_json::from_value::<Session>(json!({
            "id": "id", "shop": "s", "expires": "soon"
        }));
        assert!(result.unwrap_err().to_string().contains("RFC 3339"));
    }
}
