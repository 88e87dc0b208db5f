//! `Debug` for the session types, written by hand so that logs never hold a secret.
//!
//! Redacted: access and refresh tokens, the values of every `extra` map (unknown keys can hold
//! anything, Shopify's own `session` value among them), and the user's e-mail address and names.
//! Ids, shops, scopes, dates and flags are printed: they are what one debugs with.

use std::{collections::BTreeMap, fmt};

use serde_json::Value;

use super::{AssociatedUser, OnlineAccessInfo, Session};

/// Prints whether a value is set, never the value.
struct Redacted<'a>(&'a Option<String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(<redacted>)"
        } else {
            "None"
        })
    }
}

/// Prints the keys of a map, not its values.
struct KeysOnly<'a>(&'a BTreeMap<String, Value>);

impl fmt::Debug for KeysOnly<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("shop", &self.shop)
            .field("state", &self.state)
            .field("is_online", &self.is_online)
            .field("scope", &self.scope)
            .field("expires", &self.expires)
            .field("access_token", &Redacted(&self.access_token))
            .field("refresh_token", &Redacted(&self.refresh_token))
            .field("refresh_token_expires", &self.refresh_token_expires)
            .field("online_access_info", &self.online_access_info)
            .field("extra_keys", &KeysOnly(&self.extra))
            .finish()
    }
}

impl fmt::Debug for OnlineAccessInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnlineAccessInfo")
            .field("expires_in", &self.expires_in)
            .field("associated_user_scope", &self.associated_user_scope)
            .field("associated_user", &self.associated_user)
            .field("extra_keys", &KeysOnly(&self.extra))
            .finish()
    }
}

impl fmt::Debug for AssociatedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssociatedUser")
            .field("id", &self.id)
            .field("first_name", &Redacted(&self.first_name))
            .field("last_name", &Redacted(&self.last_name))
            .field("email", &Redacted(&self.email))
            .field("locale", &self.locale)
            .field("email_verified", &self.email_verified)
            .field("account_owner", &self.account_owner)
            .field("collaborator", &self.collaborator)
            .field("extra_keys", &KeysOnly(&self.extra))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tokens_personal_data_and_unknown_values_are_redacted() {
        let mut user = AssociatedUser::new(42);
        user.first_name = Some("FIRST_SECRET".into());
        user.last_name = Some("LAST_SECRET".into());
        user.email = Some("MAIL_SECRET@example.com".into());
        user.locale = Some("en".into());
        user.extra
            .insert("title".into(), json!("USER_EXTRA_SECRET"));
        let mut info = OnlineAccessInfo::new(user);
        info.extra
            .insert("session".into(), json!("INFO_EXTRA_SECRET"));
        let mut session = Session::new("a.myshopify.com_42", "a.myshopify.com", "st", true);
        session.access_token = Some("ACCESS_SECRET".into());
        session.refresh_token = Some("REFRESH_SECRET".into());
        session.online_access_info = Some(info);
        session
            .extra
            .insert("appToken".into(), json!("EXTRA_SECRET"));

        let text = format!("{session:?} {session:#?}");
        assert!(!text.contains("SECRET"), "{text}");
        for visible in [
            "a.myshopify.com_42",
            "Some(42)",
            "\"en\"",
            "title",
            "session",
            "appToken",
        ] {
            assert!(text.contains(visible), "{visible} missing from {text}");
        }
    }
}
