//! The [`Session`] record, as Shopify's libraries define it.

pub(crate) mod dates;
mod debug;
mod equals;
mod json;
mod property_array;
#[cfg(feature = "redis")]
mod remainder;

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use self::dates::describe as describe_json;
use crate::{AuthScopes, Error, Result};

/// The longest session id [`Session::validate`] accepts, in bytes.
pub const MAX_ID_LEN: usize = 512;

/// How close to its expiry [`Session::is_active`] already treats a token as expired, as
/// Shopify's libraries do.
pub const DEFAULT_EXPIRY_MARGIN: Duration = Duration::from_millis(500);

/// One Shopify session: an offline (per-shop) or online (per-staff-user) access token with
/// what Shopify returned alongside it.
///
/// Field for field the same record as `Session` in Shopify's Node library. Its JSON form
/// (`serde`) is exactly `JSON.stringify(session.toObject())`; its property-array form is the
/// one Shopify's Redis and KV adapters store ([`Session::to_property_array`],
/// [`Session::from_property_array`]). Keys this crate does not know are kept in [`Session::extra`]
/// and written back.
///
/// `Debug` never prints the access or refresh token, nor the values of `extra`, nor the user's
/// e-mail address and names.
///
/// Where this crate deliberately differs from Node's `Session`, the README's "Differences from
/// Shopify's Node library" lists it.
///
/// ```
/// use shopify_session_storage::{AuthScopes, Session};
///
/// let mut session = Session::new("offline_demo.myshopify.com", "demo.myshopify.com", "", false);
/// session.scope = Some("write_products".into());
/// session.access_token = Some("shpat_secret".into());
///
/// assert!(session.is_active(&AuthScopes::from("read_products")));
/// assert!(!format!("{session:?}").contains("shpat_secret"));
///
/// let json = serde_json::to_value(&session)?;
/// assert_eq!(json["isOnline"], false);
/// assert_eq!(serde_json::from_value::<Session>(json)?, session);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Session {
    /// The session id: `offline_{shop}` for offline sessions, `{shop}_{user id}` for online ones
    /// (see [`offline_session_id`](crate::offline_session_id)).
    pub id: String,
    /// The shop's domain, e.g. `example.myshopify.com`.
    pub shop: String,
    /// The OAuth state nonce.
    pub state: String,
    /// Whether this is an online (per-user) session.
    pub is_online: bool,
    /// The granted scopes, comma-separated.
    pub scope: Option<String>,
    /// When the access token expires.
    pub expires: Option<SystemTime>,
    /// The access token.
    pub access_token: Option<String>,
    /// The refresh token of an expiring offline token.
    pub refresh_token: Option<String>,
    /// When the refresh token expires.
    pub refresh_token_expires: Option<SystemTime>,
    /// The user behind an online session.
    pub online_access_info: Option<OnlineAccessInfo>,
    /// Top-level keys this crate does not know, kept as they were read.
    pub extra: BTreeMap<String, Value>,
}

/// What Shopify's OAuth response says about the user of an online session. Serialized with
/// `snake_case` keys, as Shopify sends them.
///
/// `Debug` prints the keys of `extra`, not their values (Shopify's `session` value is among
/// them).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineAccessInfo {
    /// Lifetime of the access token in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// The scopes granted to this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_user_scope: Option<String>,
    /// The staff user.
    pub associated_user: AssociatedUser,
    /// Other keys of the OAuth response (Shopify sends e.g. `account_number` and `session`).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The staff user of an online session.
///
/// `Debug` redacts the e-mail address and names and prints only the keys of `extra`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssociatedUser {
    /// The user's id. `None` only for a user read from a property array that names none: Node's
    /// `fromPropertyArray` gives every online session a user, `{}` when it has no data for it,
    /// and this crate keeps that user as it is (written back as `{}` in JSON, left out of
    /// property arrays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Locale, e.g. `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Whether the email address is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Whether the user owns the shop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_owner: Option<bool>,
    /// Whether the user is a collaborator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collaborator: Option<bool>,
    /// Other keys Shopify sent for the user, kept as they were read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl AssociatedUser {
    /// A user with this id and no other details.
    #[must_use]
    pub fn new(id: u64) -> Self {
        AssociatedUser {
            id: Some(id),
            ..AssociatedUser::default()
        }
    }
}

impl OnlineAccessInfo {
    /// Access info for `user` with no other details.
    #[must_use]
    pub fn new(user: AssociatedUser) -> Self {
        OnlineAccessInfo {
            expires_in: None,
            associated_user_scope: None,
            associated_user: user,
            extra: BTreeMap::new(),
        }
    }
}

/// The keys of `onlineAccessInfo` JSON, which [`OnlineAccessInfo::extra`] may not use: they
/// would be read back as these fields (the extras share the object).
pub(crate) const ONLINE_ACCESS_INFO_KEYS: [&str; 3] =
    ["expires_in", "associated_user_scope", "associated_user"];

/// The keys of `associated_user` JSON, which [`AssociatedUser::extra`] may not use, for the
/// same reason.
pub(crate) const ASSOCIATED_USER_KEYS: [&str; 8] = [
    "id",
    "first_name",
    "last_name",
    "email",
    "locale",
    "email_verified",
    "account_owner",
    "collaborator",
];

/// The top-level keys of session JSON. [`Session::extra`] may not use them, in any case,
/// because property arrays are read case-insensitively.
pub(crate) const SESSION_KEYS: [&str; 10] = [
    "id",
    "shop",
    "state",
    "isOnline",
    "scope",
    "expires",
    "accessToken",
    "refreshToken",
    "refreshTokenExpires",
    "onlineAccessInfo",
];

impl Session {
    /// A session with no scope, dates, tokens or user.
    pub fn new(
        id: impl Into<String>,
        shop: impl Into<String>,
        state: impl Into<String>,
        is_online: bool,
    ) -> Self {
        Session {
            id: id.into(),
            shop: shop.into(),
            state: state.into(),
            is_online,
            scope: None,
            expires: None,
            access_token: None,
            refresh_token: None,
            refresh_token_expires: None,
            online_access_info: None,
            extra: BTreeMap::new(),
        }
    }

    /// Checks what every storage needs before it writes: `id` and `shop` are non-empty and free
    /// of control characters, `id` is at most [`MAX_ID_LEN`] bytes, and no key of `extra` (of the
    /// session, its access info or its user) is one of the owner's own keys, which a store
    /// would read back as that field.
    ///
    /// # Errors
    /// [`Error::InvalidSession`] naming the field that is wrong.
    ///
    /// ```
    /// # use shopify_session_storage::{Error, Session};
    /// let session = Session::new("", "demo.myshopify.com", "", false);
    /// let error = session.validate().unwrap_err();
    /// assert!(matches!(error, Error::InvalidSession(_)));
    /// assert!(error.to_string().contains("`id`"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        check_identifier("id", &self.id)?;
        check_identifier("shop", &self.shop)?;
        if self.id.len() > MAX_ID_LEN {
            return Err(Error::invalid(format!(
                "`id` is {} bytes long, at most {MAX_ID_LEN} are allowed",
                self.id.len()
            )));
        }
        if let Some(key) = self
            .extra
            .keys()
            .find(|key| SESSION_KEYS.iter().any(|own| own.eq_ignore_ascii_case(key)))
        {
            return Err(Error::invalid(format!(
                "`extra` holds the key {key:?}, which is one of the session's own fields"
            )));
        }
        if let Some(info) = &self.online_access_info {
            for (field, extra, own) in [
                (
                    "onlineAccessInfo.extra",
                    &info.extra,
                    &ONLINE_ACCESS_INFO_KEYS[..],
                ),
                (
                    "onlineAccessInfo.associated_user.extra",
                    &info.associated_user.extra,
                    &ASSOCIATED_USER_KEYS[..],
                ),
            ] {
                if let Some(key) = extra.keys().find(|key| own.contains(&key.as_str())) {
                    return Err(Error::invalid(format!(
                        "`{field}` holds the key {key:?}, which is one of its owner's own fields"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether the session can be used for `required` scopes: it has an access token, the token
    /// does not expire within [`DEFAULT_EXPIRY_MARGIN`], and its scopes cover `required`.
    #[must_use]
    pub fn is_active(&self, required: &AuthScopes) -> bool {
        self.is_active_within(required, DEFAULT_EXPIRY_MARGIN)
    }

    /// Like [`Session::is_active`], with the expiry margin given.
    #[must_use]
    pub fn is_active_within(&self, required: &AuthScopes, margin: Duration) -> bool {
        self.is_active_at(required, margin, SystemTime::now())
    }

    /// Like [`Session::is_active_within`], at the time `now` instead of the system clock's: pass
    /// a [`Clock`](crate::Clock)'s `now()` to agree with a storage built on that clock.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use shopify_session_storage::{AuthScopes, Clock, ManualClock, Session};
    ///
    /// let clock = ManualClock::new(UNIX_EPOCH);
    /// let mut session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
    /// session.access_token = Some("shpat_...".into());
    /// session.expires = Some(UNIX_EPOCH + Duration::from_secs(60));
    ///
    /// let none = AuthScopes::from("");
    /// assert!(session.is_active_at(&none, Duration::ZERO, clock.now()));
    /// clock.advance(Duration::from_secs(61));
    /// assert!(!session.is_active_at(&none, Duration::ZERO, clock.now()));
    /// ```
    #[must_use]
    pub fn is_active_at(&self, required: &AuthScopes, margin: Duration, now: SystemTime) -> bool {
        self.access_token
            .as_deref()
            .is_some_and(|token| !token.is_empty())
            && !self.is_expired_at(margin, now)
            && !self.is_scope_changed(required)
    }

    /// Whether the access token expires within `within` from now (`expires - within` is before
    /// now). A session without `expires` never expires.
    #[must_use]
    pub fn is_expired(&self, within: Duration) -> bool {
        self.is_expired_at(within, SystemTime::now())
    }

    /// Like [`Session::is_expired`], at the time `now` instead of the system clock's.
    #[must_use]
    pub fn is_expired_at(&self, within: Duration, now: SystemTime) -> bool {
        self.expires.is_some_and(|expires| {
            let threshold = expires
                .checked_sub(within)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            threshold < now
        })
    }

    /// Whether the granted scopes no longer cover `required`: the negation of
    /// [`Session::is_scope_included`].
    #[must_use]
    pub fn is_scope_changed(&self, required: &AuthScopes) -> bool {
        !self.is_scope_included(required)
    }

    /// Whether the granted scopes cover every scope in `required`, implied scopes counted
    /// (`write_products` covers `read_products`).
    #[must_use]
    pub fn is_scope_included(&self, required: &AuthScopes) -> bool {
        AuthScopes::from(self.scope.as_deref().unwrap_or("")).has(required)
    }
}

fn check_identifier(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(format!("`{field}` is empty")));
    }
    if let Some(position) = value.chars().position(char::is_control) {
        return Err(Error::invalid(format!(
            "`{field}` contains a control character at character {position}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_session() -> Session {
        let mut session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "s", false);
        session.access_token = Some("shpat_TOPSECRET".into());
        session.refresh_token = Some("shprt_TOPSECRET".into());
        session
            .extra
            .insert("appToken".into(), "xyz_TOPSECRET".into());
        session
    }

    #[test]
    fn validate_names_the_field() {
        let mut session = token_session();
        session.shop = "a\nb".into();
        let message = session.validate().unwrap_err().to_string();
        assert!(
            message.contains("`shop`") && message.contains("control"),
            "{message}"
        );

        let mut session = token_session();
        session.id = "x".repeat(MAX_ID_LEN + 1);
        assert!(session.validate().unwrap_err().to_string().contains("`id`"));
        session.id = "x".repeat(MAX_ID_LEN);
        session.validate().unwrap();

        let mut session = token_session();
        session.extra.insert("AccessToken".into(), Value::Null);
        assert!(
            session
                .validate()
                .unwrap_err()
                .to_string()
                .contains("extra")
        );

        // The extras of the access info and of the user share their owner's JSON object.
        let mut info = OnlineAccessInfo::new(AssociatedUser::new(1));
        info.extra.insert("account_number".into(), Value::Null);
        info.associated_user
            .extra
            .insert("avatar".into(), Value::Null);
        let mut session = token_session();
        session.online_access_info = Some(info.clone());
        session.validate().unwrap();
        for (owner, key) in [("info", "expires_in"), ("user", "email"), ("user", "id")] {
            let mut named = info.clone();
            if owner == "info" {
                named.extra.insert(key.into(), Value::Null);
            } else {
                named.associated_user.extra.insert(key.into(), Value::Null);
            }
            session.online_access_info = Some(named);
            let message = session.validate().unwrap_err().to_string();
            assert!(message.contains(&format!("{key:?}")), "{message}");
        }
    }

    /// The keys `validate` keeps out of the extras are the fields' JSON names.
    #[test]
    fn own_keys_are_the_json_names_of_the_fields() {
        let mut user = AssociatedUser::new(1);
        user.first_name = Some(String::new());
        user.last_name = Some(String::new());
        user.email = Some(String::new());
        user.locale = Some(String::new());
        user.email_verified = Some(true);
        user.account_owner = Some(true);
        user.collaborator = Some(true);
        let mut info = OnlineAccessInfo::new(user.clone());
        info.expires_in = Some(1);
        info.associated_user_scope = Some(String::new());
        let keys = |value: Value| -> Vec<String> {
            let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        let sorted = |names: &[&str]| -> Vec<String> {
            let mut names: Vec<String> = names.iter().map(ToString::to_string).collect();
            names.sort();
            names
        };
        assert_eq!(
            keys(serde_json::to_value(&user).unwrap()),
            sorted(&ASSOCIATED_USER_KEYS)
        );
        assert_eq!(
            keys(serde_json::to_value(&info).unwrap()),
            sorted(&ONLINE_ACCESS_INFO_KEYS)
        );
    }

    #[test]
    fn expiry_and_activity() {
        let scopes = AuthScopes::from("read_products");
        let mut session = token_session();
        session.scope = Some("write_products".into());
        assert!(session.is_active(&scopes));
        assert!(!session.is_expired(Duration::ZERO));

        session.expires = Some(SystemTime::now() + Duration::from_millis(200));
        assert!(!session.is_expired(Duration::ZERO));
        assert!(session.is_expired(Duration::from_secs(1)));
        assert!(!session.is_active(&scopes), "within the 500 ms margin");
        assert!(session.is_active_within(&scopes, Duration::ZERO));

        let now = SystemTime::now();
        let expires = session.expires.unwrap();
        assert!(!session.is_expired_at(Duration::ZERO, expires));
        assert!(session.is_expired_at(Duration::ZERO, expires + Duration::from_millis(1)));
        assert!(!session.is_active_at(&scopes, Duration::ZERO, expires + Duration::from_secs(1)));
        assert!(session.is_active_at(
            &scopes,
            Duration::from_secs(1),
            now - Duration::from_secs(5)
        ));

        session.expires = None;
        assert!(session.is_scope_changed(&AuthScopes::from("write_orders")));
        session.access_token = Some(String::new());
        assert!(!session.is_active(&scopes), "an empty token is no token");
    }
}
