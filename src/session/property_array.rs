//! Property arrays: the `[key, value]` pairs that Shopify's Redis and KV adapters store
//! (`Session#toPropertyArray` / `Session.fromPropertyArray` in Node).
//!
//! Dates are epoch milliseconds. The user of an online session is flattened, either to
//! `["onlineAccessInfo", <user id>]` or, with user data, to `userId`, `firstName`, `lastName`,
//! `email`, `locale`, `emailVerified`, `accountOwner` and `collaborator`. The format is lossy
//! by Shopify's design: `expires_in`, `associated_user_scope` and unknown keys of
//! `onlineAccessInfo` are not part of it.

use serde_json::Value;

use super::{
    AssociatedUser, OnlineAccessInfo, Session,
    dates::{describe, from_json_value, to_epoch_millis},
};
use crate::{Error, Result};

/// The user keys written with user data, in the order Shopify writes them.
const USER_KEYS: [&str; 8] = [
    "userId",
    "firstName",
    "lastName",
    "email",
    "locale",
    "emailVerified",
    "accountOwner",
    "collaborator",
];

impl Session {
    /// The session as Shopify's `toPropertyArray(include_user_data)` writes it.
    ///
    /// Keys of [`Session::extra`] follow the session's own keys; one that would repeat a key
    /// already written (in any case) is left out.
    ///
    /// ```
    /// # use shopify_session_storage::Session;
    /// let session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
    /// let entries = session.to_property_array(true);
    /// assert_eq!(entries[0], ("id".to_string(), "offline_a.myshopify.com".into()));
    /// assert_eq!(Session::from_property_array(&entries, true)?, session);
    /// # Ok::<(), shopify_session_storage::Error>(())
    /// ```
    #[must_use]
    pub fn to_property_array(&self, include_user_data: bool) -> Vec<(String, Value)> {
        let mut entries: Vec<(String, Value)> = vec![
            ("id".into(), self.id.clone().into()),
            ("shop".into(), self.shop.clone().into()),
            ("state".into(), self.state.clone().into()),
            ("isOnline".into(), self.is_online.into()),
        ];
        let mut push = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                entries.push((key.to_string(), value));
            }
        };
        push("scope", self.scope.clone().map(Value::from));
        push("accessToken", self.access_token.clone().map(Value::from));
        push("expires", self.expires.map(|t| to_epoch_millis(t).into()));
        if let Some(info) = &self.online_access_info {
            let user = &info.associated_user;
            if include_user_data {
                push("userId", Some(user.id.into()));
                push("firstName", user.first_name.clone().map(Value::from));
                push("lastName", user.last_name.clone().map(Value::from));
                push("email", user.email.clone().map(Value::from));
                push("locale", user.locale.clone().map(Value::from));
                push("emailVerified", user.email_verified.map(Value::from));
                push("accountOwner", user.account_owner.map(Value::from));
                push("collaborator", user.collaborator.map(Value::from));
            } else {
                push("onlineAccessInfo", Some(user.id.into()));
            }
        }
        push("refreshToken", self.refresh_token.clone().map(Value::from));
        push(
            "refreshTokenExpires",
            self.refresh_token_expires
                .map(|t| to_epoch_millis(t).into()),
        );
        for (key, value) in &self.extra {
            let repeats = entries
                .iter()
                .any(|(written, _)| written.eq_ignore_ascii_case(key));
            if !repeats {
                entries.push((key.clone(), value.clone()));
            }
        }
        entries
    }

    /// The property array as one JSON value, `[["id", "..."], ...]`, as the adapters store it.
    #[must_use]
    pub fn to_property_array_json(&self, include_user_data: bool) -> Value {
        Value::Array(
            self.to_property_array(include_user_data)
                .into_iter()
                .map(|(key, value)| Value::Array(vec![Value::String(key), value]))
                .collect(),
        )
    }

    /// Reads a session from property-array entries, as Shopify's `fromPropertyArray` does:
    /// keys matched case-insensitively, `null` values skipped, a later entry replacing an
    /// earlier one with the same key. `isOnline` may be a bool, `"true"`/`"false"` in any case,
    /// or a number; dates epoch milliseconds (numbers or numeric strings) or RFC 3339 strings.
    /// With `include_user_data` the user keys (`userId`, `firstName`, ...) make up the user;
    /// without it they are kept as top-level [`Session::extra`] entries. The user is attached
    /// only to an online session. Other unknown keys go to `extra` as written.
    ///
    /// # Errors
    /// [`Error::InvalidSession`] when `id` or `shop` is missing, or a known key has a value of
    /// the wrong kind; the message names the key.
    pub fn from_property_array(
        entries: &[(String, Value)],
        include_user_data: bool,
    ) -> Result<Session> {
        let mut reader = Reader::new();
        for (key, value) in entries {
            reader.read(key, value, include_user_data)?;
        }
        reader.finish()
    }

    /// Reads a session from a property array held as one JSON value (`[["id", "..."], ...]`);
    /// see [`Session::from_property_array`].
    ///
    /// # Errors
    /// [`Error::InvalidSession`] when `value` is not an array of `[string, value]` pairs, or
    /// as [`Session::from_property_array`].
    pub fn from_property_array_json(value: &Value, include_user_data: bool) -> Result<Session> {
        let Value::Array(items) = value else {
            return Err(Error::invalid(format!(
                "a property array must be a JSON array, got {}",
                describe(value)
            )));
        };
        let mut reader = Reader::new();
        for (index, item) in items.iter().enumerate() {
            match item.as_array().map(Vec::as_slice) {
                Some([Value::String(key), value]) => reader.read(key, value, include_user_data)?,
                _ => {
                    return Err(Error::invalid(format!(
                        "property array entry {index} is not a [key, value] pair with a string key"
                    )));
                }
            }
        }
        reader.finish()
    }
}

/// Collects entries; the session is assembled once every entry has been seen, because a user
/// key may come before `isOnline`.
struct Reader {
    session: Session,
    user: Option<AssociatedUser>,
    full_info: Option<OnlineAccessInfo>,
    has_id: bool,
    has_shop: bool,
}

impl Reader {
    fn new() -> Self {
        Reader {
            session: Session::new(String::new(), String::new(), String::new(), false),
            user: None,
            full_info: None,
            has_id: false,
            has_shop: false,
        }
    }

    fn read(&mut self, key: &str, value: &Value, include_user_data: bool) -> Result<()> {
        if value.is_null() {
            return Ok(());
        }
        let lower = key.to_ascii_lowercase();
        let session = &mut self.session;
        match lower.as_str() {
            "id" => {
                session.id = string(key, value)?;
                self.has_id = true;
            }
            "shop" => {
                session.shop = string(key, value)?;
                self.has_shop = true;
            }
            "state" => session.state = string(key, value)?,
            "isonline" => session.is_online = flag(key, value)?,
            "scope" => session.scope = Some(string(key, value)?),
            "accesstoken" => session.access_token = Some(string(key, value)?),
            "refreshtoken" => session.refresh_token = Some(string(key, value)?),
            "expires" => session.expires = Some(date(key, value)?),
            "refreshtokenexpires" => session.refresh_token_expires = Some(date(key, value)?),
            "onlineaccessinfo" => {
                if value.is_object() {
                    let info = serde_json::from_value(value.clone()).map_err(|error| {
                        Error::invalid(format!("`{key}` is not valid online access info: {error}"))
                    })?;
                    self.full_info = Some(info);
                } else {
                    self.user_mut().id = user_id(key, value)?;
                }
            }
            _ if include_user_data && USER_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) => {
                self.read_user_key(key, &lower, value)?;
            }
            _ => {
                session.extra.insert(key.to_string(), value.clone());
            }
        }
        Ok(())
    }

    fn read_user_key(&mut self, key: &str, lower: &str, value: &Value) -> Result<()> {
        let user = self.user_mut();
        match lower {
            "userid" => user.id = user_id(key, value)?,
            "firstname" => user.first_name = Some(text(key, value)?),
            "lastname" => user.last_name = Some(text(key, value)?),
            "email" => user.email = Some(text(key, value)?),
            "locale" => user.locale = Some(text(key, value)?),
            "emailverified" => user.email_verified = Some(flag(key, value)?),
            "accountowner" => user.account_owner = Some(flag(key, value)?),
            "collaborator" => user.collaborator = Some(flag(key, value)?),
            _ => unreachable!("only called with one of USER_KEYS"),
        }
        Ok(())
    }

    fn user_mut(&mut self) -> &mut AssociatedUser {
        self.user.get_or_insert_with(AssociatedUser::default)
    }

    fn finish(self) -> Result<Session> {
        if !self.has_id {
            return Err(Error::invalid("the property array has no `id`"));
        }
        if !self.has_shop {
            return Err(Error::invalid("the property array has no `shop`"));
        }
        let mut session = self.session;
        if session.is_online {
            session.online_access_info = match (self.full_info, self.user) {
                (Some(mut info), Some(user)) => {
                    info.associated_user = user;
                    Some(info)
                }
                (Some(info), None) => Some(info),
                (None, Some(user)) => Some(OnlineAccessInfo::new(user)),
                (None, None) => None,
            };
        }
        Ok(session)
    }
}

fn string(key: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        other => Err(Error::invalid(format!(
            "property `{key}` must be a string, got {}",
            describe(other)
        ))),
    }
}

/// A string, or a number or bool written as text (Node reads these with `String(value)`).
fn text(key: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(Error::invalid(format!(
            "property `{key}` must be a string, got {}",
            describe(other)
        ))),
    }
}

fn flag(key: &str, value: &Value) -> Result<bool> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        Value::Number(number) => Ok(number.as_f64().is_some_and(|n| n != 0.0)),
        other => Err(Error::invalid(format!(
            "property `{key}` must be a boolean, \"true\"/\"false\" or a number, got {}",
            describe(other)
        ))),
    }
}

fn date(key: &str, value: &Value) -> Result<std::time::SystemTime> {
    from_json_value(value).map_err(|reason| Error::invalid(format!("property `{key}`: {reason}")))
}

fn user_id(key: &str, value: &Value) -> Result<u64> {
    let parsed = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        Error::invalid(format!(
            "property `{key}` must be a user id (a non-negative integer), got {}",
            describe(value)
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entries(value: &Value) -> Vec<(String, Value)> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].clone()))
            .collect()
    }

    #[test]
    fn keys_are_case_insensitive_and_is_online_is_lenient() {
        for (raw, expected) in [
            (json!("TRUE"), true),
            (json!("false"), false),
            (json!(1), true),
            (json!(0), false),
            (json!(true), true),
        ] {
            let array = json!([["ID", "x"], ["Shop", "s"], ["ISONLINE", raw]]);
            let session = Session::from_property_array(&entries(&array), true).unwrap();
            assert_eq!((session.id.as_str(), session.is_online), ("x", expected));
        }
        let array = json!([["id", "x"], ["shop", "s"], ["isOnline", "yes"]]);
        let error = Session::from_property_array(&entries(&array), true).unwrap_err();
        assert!(error.to_string().contains("`isOnline`"), "{error}");
    }

    #[test]
    fn user_keys_without_user_data_stay_top_level() {
        let array = json!([
            ["id", "x"],
            ["shop", "s"],
            ["isOnline", true],
            ["userId", 5],
            ["email", null]
        ]);
        let session = Session::from_property_array(&entries(&array), false).unwrap();
        assert_eq!(session.extra.get("userId"), Some(&json!(5)));
        assert!(session.online_access_info.is_none());
        let with_user = Session::from_property_array(&entries(&array), true).unwrap();
        assert_eq!(with_user.online_access_info.unwrap().associated_user.id, 5);
    }

    #[test]
    fn user_is_attached_only_when_online() {
        let array = json!([["id", "x"], ["shop", "s"], ["onlineAccessInfo", "12"]]);
        let session = Session::from_property_array(&entries(&array), true).unwrap();
        assert!(session.online_access_info.is_none());
    }

    #[test]
    fn missing_id_and_bad_shapes_are_named() {
        let error = Session::from_property_array(&entries(&json!([["shop", "s"]])), true);
        assert!(error.unwrap_err().to_string().contains("`id`"));
        let error = Session::from_property_array_json(&json!([["id", "x"], ["shop"]]), true);
        assert!(error.unwrap_err().to_string().contains("entry 1"));
        let error = Session::from_property_array_json(&json!({"id": "x"}), true);
        assert!(error.unwrap_err().to_string().contains("an object"));
    }

    #[test]
    fn extra_keys_repeating_written_keys_are_skipped() {
        let mut session = Session::new("x", "s", "", true);
        session.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(3)));
        session.extra.insert("userid".into(), json!(9));
        let written = session.to_property_array(true);
        assert_eq!(
            written
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("userId"))
                .count(),
            1
        );
    }
}
