//! [`Session::equals`]: Node's notion of the same session, next to the strict derived
//! `PartialEq`.

use super::Session;

impl Session {
    /// Whether `other` is the same session as Node's `Session#equals` judges it: the same `id`,
    /// `shop`, `state` and `isOnline`, and the same property arrays with user data once sorted
    /// by key.
    ///
    /// So dates are compared to the millisecond, and what a property array does not hold is
    /// ignored: `expires_in`, `associated_user_scope` and unknown keys of the online access
    /// info, and the session's own unknown keys ([`Session::extra`]). Use it to compare a
    /// session with what a store that keeps Shopify's shapes gave back; `==` stays strict,
    /// field for field.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use shopify_session_storage::Session;
    ///
    /// let mut stored = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
    /// stored.expires = Some(UNIX_EPOCH + Duration::from_micros(1_500_250));
    /// stored.extra.insert("note".into(), "kept by this crate".into());
    ///
    /// let json = serde_json::to_value(&stored)?; // milliseconds, as Node writes them
    /// let mut loaded: Session = serde_json::from_value(json)?;
    /// loaded.extra.clear();
    ///
    /// assert!(stored.equals(&loaded));
    /// assert_ne!(stored, loaded);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[must_use]
    pub fn equals(&self, other: &Session) -> bool {
        let mandatory_match = self.id == other.id
            && self.shop == other.shop
            && self.state == other.state
            && self.is_online == other.is_online;
        if !mandatory_match {
            return false;
        }
        let sorted = |session: &Session| {
            let mut entries = session.node_property_array(true);
            entries.sort_by_key(|(key, _)| *key);
            entries
        };
        sorted(self) == sorted(other)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use crate::{AssociatedUser, OnlineAccessInfo, Session};

    fn online() -> Session {
        let mut session = Session::new("a.myshopify.com_1", "a.myshopify.com", "st", true);
        session.scope = Some("read_products".into());
        session.access_token = Some("token".into());
        session.expires = Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        let mut user = AssociatedUser::new(1);
        user.email = Some("e@example.com".into());
        session.online_access_info = Some(OnlineAccessInfo::new(user));
        session
    }

    #[test]
    fn ignores_what_property_arrays_do_not_hold() {
        let base = online();
        let mut other = base.clone();
        other.expires = other.expires.map(|t| t + Duration::from_micros(999));
        other.extra.insert("unknown".into(), json!(1));
        let info = other.online_access_info.as_mut().unwrap();
        info.expires_in = Some(60);
        info.associated_user_scope = Some("x".into());
        info.extra.insert("session".into(), json!("s"));
        assert!(base.equals(&other) && other.equals(&base));
        assert_ne!(base, other, "PartialEq stays strict");
    }

    #[test]
    fn sees_every_property_array_field() {
        let base = online();
        let changes: [fn(&mut Session); 8] = [
            |s| s.state = "other".into(),
            |s| s.is_online = false,
            |s| s.scope = None,
            |s| s.access_token = Some(String::new()),
            |s| s.refresh_token = Some("r".into()),
            |s| s.expires = s.expires.map(|t| t + Duration::from_millis(1)),
            |s| s.online_access_info.as_mut().unwrap().associated_user.email = None,
            |s| s.online_access_info.as_mut().unwrap().associated_user.id = Some(2),
        ];
        for (index, change) in changes.into_iter().enumerate() {
            let mut other = base.clone();
            change(&mut other);
            assert!(!base.equals(&other), "change {index} went unseen");
        }
    }
}
