//! What a property array cannot give back, kept beside it by stores that write Node's format
//! (the Redis storage) so that a session loads as it was stored.
//!
//! `to_property_array(true)` read back with `from_property_array(.., true)` loses, by Node's
//! design: the user's `expires_in`, `associated_user_scope` and unknown keys; a user on an
//! offline session, or none on an online one; the case of [`Session::extra`]'s keys; and the
//! values Node's reader takes for "none": a `refreshToken` of `""` and a date at the epoch
//! (0 ms). The remainder is a JSON object of just those parts, empty when nothing is lost.
//! Dates keep the millisecond precision of property arrays, as in Node.
//!
//! A user the property array keeps (an online session's) is not written again: only its lost
//! parts are, under `onlineAccessInfoLost`, shaped as `onlineAccessInfo` JSON that holds
//! nothing else (`expires_in`, `associated_user_scope`, unknown keys, and an `associated_user`
//! of unknown keys only). Shopify's OAuth response always has `expires_in` and
//! `associated_user_scope`, so this is every online session's remainder, and repeating the user
//! there made its value about 60% longer. A user the property array loses as a whole goes
//! under `onlineAccessInfo`, which is also how earlier versions wrote every user; both are read,
//! never together. (Unknown keys spelled as the user's own fields would read back as those
//! fields in either form: [`Session::validate`] refuses them before any store.)

use serde_json::{Map, Value};

use super::{
    AssociatedUser, OnlineAccessInfo, Session,
    dates::{from_epoch_millis, to_epoch_millis},
};
use crate::{Error, Result};

impl Session {
    /// The remainder of this session that its property array loses (see the module docs).
    ///
    /// # Errors
    /// [`Error::InvalidSession`] when a date is outside the years 0 to 9999, which a property
    /// array cannot hold in a form any reader (Node's or this crate's) reads back.
    pub(crate) fn property_array_remainder(&self) -> Result<Map<String, Value>> {
        let mut remainder = Map::new();
        match self.user_loss() {
            UserLoss::Nothing => {}
            UserLoss::Whole => {
                let info = serde_json::to_value(&self.online_access_info).map_err(Error::Json)?;
                remainder.insert("onlineAccessInfo".into(), info);
            }
            UserLoss::Parts(info) => {
                let lost = OnlineAccessInfo {
                    expires_in: info.expires_in,
                    associated_user_scope: info.associated_user_scope.clone(),
                    associated_user: AssociatedUser {
                        extra: info.associated_user.extra.clone(),
                        ..AssociatedUser::default()
                    },
                    extra: info.extra.clone(),
                };
                let lost = serde_json::to_value(&lost).map_err(Error::Json)?;
                remainder.insert(LOST_PARTS.into(), lost);
            }
        }
        if !self.extra.is_empty() {
            let extra = self.extra.clone().into_iter().collect();
            remainder.insert("extra".into(), Value::Object(extra));
        }
        if self.refresh_token.as_deref() == Some("") {
            remainder.insert("refreshToken".into(), "".into());
        }
        for (key, date) in [
            ("expires", self.expires),
            ("refreshTokenExpires", self.refresh_token_expires),
        ] {
            let Some(millis) = date.map(to_epoch_millis) else {
                continue;
            };
            from_epoch_millis(millis).map_err(|reason| {
                Error::invalid(format!(
                    "`{key}` cannot be stored in a property array: {reason}"
                ))
            })?;
            if millis == 0 {
                remainder.insert(key.into(), 0.into());
            }
        }
        Ok(remainder)
    }

    /// Puts back what [`property_array_remainder`](Self::property_array_remainder) kept.
    ///
    /// # Errors
    /// A description of the shape expected, when `remainder` is not one this crate writes
    /// (it names no value: a misplaced one could be a token).
    pub(crate) fn restore_property_array_remainder(
        &mut self,
        mut remainder: Map<String, Value>,
    ) -> std::result::Result<(), String> {
        let shape = || {
            "the remainder of a property array must be an object of `onlineAccessInfo` (a user \
             or null), `onlineAccessInfoLost` (the lost parts of an online session's user), \
             `extra` (an object), `refreshToken` (\"\"), `expires` and `refreshTokenExpires` (0)"
                .to_string()
        };
        // The writer gives either the whole user or its lost parts, never both.
        if remainder.contains_key("onlineAccessInfo") && remainder.contains_key(LOST_PARTS) {
            return Err(shape());
        }
        // A `null` user means "no user", which a missing member does not.
        if let Some(info) = remainder.remove("onlineAccessInfo") {
            self.online_access_info = serde_json::from_value(info).map_err(|_| shape())?;
        }
        if let Some(lost) = remainder.remove(LOST_PARTS) {
            let mut lost: OnlineAccessInfo = serde_json::from_value(lost).map_err(|_| shape())?;
            let user_extra = std::mem::take(&mut lost.associated_user.extra);
            // Only an online session's property array gives back a user to complete, and the
            // lost parts hold none of the user's own fields.
            match &mut self.online_access_info {
                Some(info) if lost.associated_user == AssociatedUser::default() => {
                    info.expires_in = lost.expires_in;
                    info.associated_user_scope = lost.associated_user_scope;
                    info.extra = lost.extra;
                    info.associated_user.extra = user_extra;
                }
                _ => return Err(shape()),
            }
        }
        match remainder.remove("extra") {
            Some(Value::Object(extra)) => self.extra.extend(extra),
            None => {}
            Some(_) => return Err(shape()),
        }
        match remainder.remove("refreshToken") {
            Some(Value::String(token)) if token.is_empty() => self.refresh_token = Some(token),
            None => {}
            Some(_) => return Err(shape()),
        }
        for key in ["expires", "refreshTokenExpires"] {
            let date = match remainder.remove(key) {
                Some(Value::Number(millis)) if millis.as_i64() == Some(0) => {
                    Some(from_epoch_millis(0).map_err(|_| shape())?)
                }
                None => continue,
                Some(_) => return Err(shape()),
            };
            if key == "expires" {
                self.expires = date;
            } else {
                self.refresh_token_expires = date;
            }
        }
        if remainder.is_empty() {
            Ok(())
        } else {
            Err(shape())
        }
    }

    /// What of this session's user the property array loses: Node gives every online session
    /// a user and no offline one, and keeps only the user's own fields.
    fn user_loss(&self) -> UserLoss<'_> {
        match (&self.online_access_info, self.is_online) {
            (None, false) => UserLoss::Nothing,
            (None, true) | (Some(_), false) => UserLoss::Whole,
            (Some(info), true) => {
                if info.expires_in.is_none()
                    && info.associated_user_scope.is_none()
                    && info.extra.is_empty()
                    && info.associated_user.extra.is_empty()
                {
                    UserLoss::Nothing
                } else {
                    UserLoss::Parts(info)
                }
            }
        }
    }
}

/// The remainder's member for the lost parts of a user the property array keeps.
const LOST_PARTS: &str = "onlineAccessInfoLost";

/// What a property array loses of a session's user.
enum UserLoss<'a> {
    Nothing,
    /// The user itself: one on an offline session, or none on an online one.
    Whole,
    /// Parts of the user of an online session, which the property array gives back.
    Parts(&'a OnlineAccessInfo),
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::{Value, json};

    use crate::{AssociatedUser, OnlineAccessInfo, Session};

    /// The property array and its remainder, read back.
    fn round_trip(session: &Session) -> Session {
        let remainder = session.property_array_remainder().unwrap();
        let mut read =
            Session::from_property_array_json(&session.to_property_array_json(true), true).unwrap();
        // to_property_array also writes extra's keys, lower-cased on reading: the remainder
        // gives them back as they were.
        read.extra.clear();
        read.restore_property_array_remainder(remainder).unwrap();
        read
    }

    #[test]
    fn a_session_node_could_write_has_no_remainder() {
        let mut session = Session::new("a.myshopify.com_1", "a.myshopify.com", "s", true);
        session.expires = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        session.refresh_token = Some("r".into());
        session.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(1)));
        assert!(session.property_array_remainder().unwrap().is_empty());
    }

    #[test]
    fn every_loss_is_given_back() {
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
        online.refresh_token = Some(String::new());
        online.expires = Some(UNIX_EPOCH);
        online.refresh_token_expires = Some(UNIX_EPOCH);

        let mut no_user = Session::new("a.myshopify.com_2", "a.myshopify.com", "", true);
        no_user.online_access_info = None;
        let mut offline_with_user =
            Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
        offline_with_user.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(3)));

        // A user with no id, and unknown keys holding null, with lost parts.
        let mut nameless = Session::new("a.myshopify.com_3", "a.myshopify.com", "", true);
        let mut info = OnlineAccessInfo::new(AssociatedUser::default());
        info.expires_in = Some(60);
        info.extra.insert("session".into(), Value::Null);
        info.associated_user
            .extra
            .insert("avatar".into(), Value::Null);
        nameless.online_access_info = Some(info);

        for session in [online, no_user, offline_with_user, nameless] {
            assert_eq!(round_trip(&session), session, "{}", session.id);
        }
    }

    /// An online session's user is in its property array: the remainder holds only the parts
    /// the array loses, and a remainder that repeats the whole user (as earlier versions wrote
    /// it) still reads.
    #[test]
    fn a_user_the_property_array_keeps_is_not_written_again() {
        let mut session = Session::new("a.myshopify.com_1", "a.myshopify.com", "", true);
        let mut user = AssociatedUser::new(7);
        user.email = Some("jane@example.com".into());
        user.first_name = Some("Jane".into());
        let mut info = OnlineAccessInfo::new(user);
        info.expires_in = Some(86_400);
        info.associated_user_scope = Some("write_products".into());
        session.online_access_info = Some(info);

        let remainder = session.property_array_remainder().unwrap();
        assert_eq!(
            Value::Object(remainder),
            json!({"onlineAccessInfoLost": {
                "expires_in": 86_400,
                "associated_user_scope": "write_products",
                "associated_user": {},
            }})
        );
        assert_eq!(round_trip(&session), session);

        let earlier = json!({"onlineAccessInfo": session.online_access_info});
        let Value::Object(earlier) = earlier else {
            unreachable!()
        };
        let mut read =
            Session::from_property_array_json(&session.to_property_array_json(true), true).unwrap();
        read.restore_property_array_remainder(earlier).unwrap();
        assert_eq!(read, session);
    }

    #[test]
    fn dates_no_reader_can_read_are_refused_and_bad_remainders_named() {
        let mut session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
        session.expires = Some(UNIX_EPOCH + Duration::from_secs(400_000_000_000));
        let error = session.property_array_remainder().unwrap_err().to_string();
        assert!(error.contains("`expires`"), "{error}");

        for bad in [
            json!({"what": 1}),
            json!({"extra": 1}),
            json!({"refreshToken": "SECRET"}),
            json!({"expires": 5}),
            json!({"onlineAccessInfo": "SECRET"}),
            // Lost parts name no user field, and complete an online session's user only.
            json!({"onlineAccessInfoLost": {"associated_user": {"email": "SECRET"}}}),
            json!({"onlineAccessInfoLost": {"associated_user": {}, "expires_in": "SECRET"}}),
            json!({"onlineAccessInfoLost": {"associated_user": {}}}),
        ] {
            let Value::Object(bad) = bad else {
                unreachable!()
            };
            let error = Session::new("x", "s", "", false)
                .restore_property_array_remainder(bad)
                .unwrap_err();
            assert!(!error.contains("SECRET"), "{error}");
        }

        // On an online session, whose property array gives back a user: parts that carry a
        // user field, or come with a whole user, are not what the writer writes.
        let mut online = Session::new("a.myshopify.com_1", "a.myshopify.com", "", true);
        online.online_access_info = Some(OnlineAccessInfo::new(AssociatedUser::new(1)));
        for bad in [
            json!({"onlineAccessInfoLost": {"associated_user": {"email": "SECRET"}}}),
            json!({"onlineAccessInfoLost": {"associated_user": {}, "expires_in": "SECRET"}}),
        ] {
            let Value::Object(bad) = bad else {
                unreachable!()
            };
            let error = online
                .clone()
                .restore_property_array_remainder(bad)
                .unwrap_err();
            assert!(!error.contains("SECRET"), "{error}");
        }
        let both = json!({
            "onlineAccessInfo": {"associated_user": {"id": 1}},
            "onlineAccessInfoLost": {"associated_user": {}, "expires_in": 60},
        });
        let Value::Object(both) = both else {
            unreachable!()
        };
        assert!(online.restore_property_array_remainder(both).is_err());
    }
}
