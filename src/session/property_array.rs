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

/// The keys Node's `fromPropertyArray` renames after lower-casing a key (lower-cased, then as
/// Node spells them); every other key stays lower-cased.
const NODE_KEY_NAMES: [(&str, &str); 10] = [
    ("isonline", "isOnline"),
    ("accesstoken", "accessToken"),
    ("refreshtoken", "refreshToken"),
    ("refreshtokenexpires", "refreshTokenExpires"),
    ("onlineaccessinfo", "onlineAccessInfo"),
    ("userid", "userId"),
    ("firstname", "firstName"),
    ("lastname", "lastName"),
    ("accountowner", "accountOwner"),
    ("emailverified", "emailVerified"),
];

/// The name Node's `fromPropertyArray` gives a key: lower-cased (as JavaScript's
/// `toLowerCase`, Unicode included), then spelled as Node spells it.
fn node_key(key: &str) -> String {
    let lower = key.to_lowercase();
    NODE_KEY_NAMES
        .iter()
        .find(|(lowered, _)| *lowered == lower)
        .map_or(lower, |(_, name)| (*name).to_string())
}

impl Session {
    /// The session as Shopify's `toPropertyArray(returnUserData)` writes it, followed by the
    /// keys of [`Session::extra`].
    ///
    /// The session's own keys come in Node's order (`id`, `shop`, `state`, `isOnline`, `scope`,
    /// `expires`, `accessToken`, `refreshToken`, `refreshTokenExpires`, then the user), absent
    /// ones left out, dates as epoch milliseconds. With `include_user_data` the user becomes
    /// `userId`, `firstName`, `lastName`, `email`, `locale`, `emailVerified`, `accountOwner`
    /// and `collaborator`; without it, `["onlineAccessInfo", <user id>]`.
    ///
    /// Unlike Node, which writes only its own keys, the keys of [`Session::extra`] follow (one
    /// that repeats a key already written, in any case, is left out), so that data a Node app
    /// ignores survives a round trip through a Rust one. Readers of property arrays, Node's and
    /// [`Session::from_property_array`], give them back lower-cased: `customField` is read as
    /// `customfield`.
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
        let mut entries: Vec<(String, Value)> = self
            .node_property_array(include_user_data)
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect();
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

    /// Exactly what Node's `toPropertyArray(returnUserData)` writes: the session's own keys.
    pub(crate) fn node_property_array(
        &self,
        include_user_data: bool,
    ) -> Vec<(&'static str, Value)> {
        let mut entries: Vec<(&'static str, Value)> = vec![
            ("id", self.id.clone().into()),
            ("shop", self.shop.clone().into()),
            ("state", self.state.clone().into()),
            ("isOnline", self.is_online.into()),
        ];
        let mut push = |key: &'static str, value: Option<Value>| {
            if let Some(value) = value {
                entries.push((key, value));
            }
        };
        push("scope", self.scope.clone().map(Value::from));
        push("expires", self.expires.map(|t| to_epoch_millis(t).into()));
        push("accessToken", self.access_token.clone().map(Value::from));
        push("refreshToken", self.refresh_token.clone().map(Value::from));
        push(
            "refreshTokenExpires",
            self.refresh_token_expires
                .map(|t| to_epoch_millis(t).into()),
        );
        if let Some(info) = &self.online_access_info {
            let user = &info.associated_user;
            if include_user_data {
                push("userId", user.id.map(Value::from));
                push("firstName", user.first_name.clone().map(Value::from));
                push("lastName", user.last_name.clone().map(Value::from));
                push("email", user.email.clone().map(Value::from));
                push("locale", user.locale.clone().map(Value::from));
                push("emailVerified", user.email_verified.map(Value::from));
                push("accountOwner", user.account_owner.map(Value::from));
                push("collaborator", user.collaborator.map(Value::from));
            } else {
                push("onlineAccessInfo", user.id.map(Value::from));
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

    /// Reads a session from property-array entries exactly as Node's
    /// `fromPropertyArray(entries, returnUserData)` does:
    ///
    /// - entries whose value is `null` are dropped first;
    /// - keys are matched case-insensitively and renamed as Node renames them (`isonline` →
    ///   `isOnline`, `firstname` → `firstName`, ...); every other key becomes its lower-case
    ///   form, so an unknown `["SomeField", 1]` lands in [`Session::extra`] as `somefield`;
    /// - when a key repeats, the last value wins, at the place of the first;
    /// - `isOnline` from a string is `value.toLowerCase() == "true"` (so `"1"` is `false`), from
    ///   a number `value != 0`;
    /// - `scope` is the text of a string, number or boolean (`""` stays `Some("")`);
    ///   `accessToken` must be a string and is kept as it is, `""` included; `refreshToken` that
    ///   is `""`, `0` or `false` is absent, other strings, numbers and booleans are its text;
    /// - `expires` and `refreshTokenExpires` that are `0`, `""` or `false` are absent; other
    ///   values are epoch milliseconds, numbers or numeric strings. An RFC 3339 string is read
    ///   too, which Node would turn into an invalid date;
    /// - `onlineAccessInfo` is the user id. With `include_user_data`, `userId`, `firstName`,
    ///   `lastName`, `email`, `locale`, `emailVerified`, `accountOwner` and `collaborator` make
    ///   up the user (texts from strings, numbers and booleans; flags as Node's `Boolean(value)`,
    ///   except that the strings `"true"` and `"false"`, in any case, mean what they say, where
    ///   Node reads `"false"` as `true`); without it they are kept in [`Session::extra`] under
    ///   Node's names;
    /// - an online session always gets [`Session::online_access_info`], with a user whose
    ///   [`id`](AssociatedUser::id) is `None` when no entry names it; an offline session gets
    ///   none, whatever user keys there are.
    ///
    /// # Errors
    /// [`Error::InvalidSession`] naming the key when `id` or `shop` is missing, or a value is of
    /// a kind Node would turn into nonsense (an object for a text, a non-numeric date, a user id
    /// that is not a non-negative integer, ...).
    pub fn from_property_array(
        entries: &[(String, Value)],
        include_user_data: bool,
    ) -> Result<Session> {
        read(
            entries.iter().map(|(key, value)| (key.as_str(), value)),
            include_user_data,
        )
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
        let mut entries = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match item.as_array().map(Vec::as_slice) {
                Some([Value::String(key), value]) => entries.push((key.as_str(), value)),
                _ => {
                    return Err(Error::invalid(format!(
                        "property array entry {index} is not a [key, value] pair with a string key"
                    )));
                }
            }
        }
        read(entries.into_iter(), include_user_data)
    }
}

/// Node's `fromPropertyArray`: drop nulls, rename keys, keep the last value of a repeated key
/// at the place of its first, then read the keys in that order.
fn read<'a>(
    entries: impl Iterator<Item = (&'a str, &'a Value)>,
    include_user_data: bool,
) -> Result<Session> {
    let mut keys: Vec<(String, &Value)> = Vec::new();
    for (key, value) in entries.filter(|(_, value)| !value.is_null()) {
        let key = node_key(key);
        match keys.iter_mut().find(|(seen, _)| *seen == key) {
            Some(seen) => seen.1 = value,
            None => keys.push((key, value)),
        }
    }

    let mut session = Session::new(String::new(), String::new(), String::new(), false);
    let mut user = AssociatedUser::default();
    let (mut has_id, mut has_shop) = (false, false);
    for (key, value) in keys {
        match key.as_str() {
            "id" => {
                session.id = string(&key, value)?;
                has_id = true;
            }
            "shop" => {
                session.shop = string(&key, value)?;
                has_shop = true;
            }
            "state" => session.state = string(&key, value)?,
            "isOnline" => session.is_online = is_online(value)?,
            "scope" => session.scope = Some(text(&key, value)?),
            "expires" => session.expires = date(&key, value)?,
            "accessToken" => session.access_token = Some(string(&key, value)?),
            "refreshToken" => {
                session.refresh_token = if is_falsy(value) {
                    None
                } else {
                    Some(text(&key, value)?)
                };
            }
            "refreshTokenExpires" => session.refresh_token_expires = date(&key, value)?,
            "onlineAccessInfo" => user.id = Some(user_id(&key, value)?),
            "userId" if include_user_data => user.id = Some(user_id(&key, value)?),
            "firstName" if include_user_data => user.first_name = Some(text(&key, value)?),
            "lastName" if include_user_data => user.last_name = Some(text(&key, value)?),
            "email" if include_user_data => user.email = Some(text(&key, value)?),
            "locale" if include_user_data => user.locale = Some(text(&key, value)?),
            "emailVerified" if include_user_data => user.email_verified = Some(flag(&key, value)?),
            "accountOwner" if include_user_data => user.account_owner = Some(flag(&key, value)?),
            "collaborator" if include_user_data => user.collaborator = Some(flag(&key, value)?),
            _ => {
                session.extra.insert(key, value.clone());
            }
        }
    }
    if !has_id {
        return Err(Error::invalid("the property array has no `id`"));
    }
    if !has_shop {
        return Err(Error::invalid("the property array has no `shop`"));
    }
    if session.is_online {
        session.online_access_info = Some(OnlineAccessInfo::new(user));
    }
    Ok(session)
}

/// JavaScript's falsy values among those a property array holds.
fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(flag) => !flag,
        Value::Number(number) => number.as_f64() == Some(0.0),
        Value::String(text) => text.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
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

/// Node's `String(value)` for the values that have a meaningful text.
fn text(key: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(Error::invalid(format!(
            "property `{key}` must be a string, a number or a boolean, got {}",
            describe(other)
        ))),
    }
}

/// `isOnline` as Node reads it: a string is `true` only when it says `true`.
fn is_online(value: &Value) -> Result<bool> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) => Ok(text.to_lowercase() == "true"),
        Value::Number(_) => Ok(!is_falsy(value)),
        other => Err(Error::invalid(format!(
            "property `isOnline` must be a boolean, a string or a number, got {}",
            describe(other)
        ))),
    }
}

/// A user flag: Node's `Boolean(value)`, except that `"false"` means false.
fn flag(key: &str, value: &Value) -> Result<bool> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        Value::String(_) | Value::Number(_) => Ok(!is_falsy(value)),
        other => Err(Error::invalid(format!(
            "property `{key}` must be a boolean, a string or a number, got {}",
            describe(other)
        ))),
    }
}

/// A date as Node reads one: falsy means none, anything else epoch milliseconds.
fn date(key: &str, value: &Value) -> Result<Option<std::time::SystemTime>> {
    if is_falsy(value) {
        return Ok(None);
    }
    from_json_value(value)
        .map(Some)
        .map_err(|reason| Error::invalid(format!("property `{key}`: {reason}")))
}

fn user_id(key: &str, value: &Value) -> Result<u64> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked just before
    let whole = |float: f64| {
        (float.fract() == 0.0 && (0.0..=9.007_199_254_740_991e15).contains(&float))
            .then_some(float as u64)
    };
    let parsed = match value {
        // `12.0` is 12 in JavaScript.
        Value::Number(number) => number.as_u64().or_else(|| number.as_f64().and_then(whole)),
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
    fn node_key_renames_and_lower_cases() {
        assert_eq!(node_key("ISONLINE"), "isOnline");
        assert_eq!(node_key("emailverified"), "emailVerified");
        assert_eq!(node_key("Email"), "email");
        assert_eq!(node_key("SomeField"), "somefield");
        for (lowered, name) in NODE_KEY_NAMES {
            assert_eq!(lowered, name.to_lowercase());
        }
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
