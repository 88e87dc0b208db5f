//! What a loaded session needs before it is handed out: nothing, an exchange at the token
//! endpoint, or a new OAuth grant.

use std::time::{Duration, SystemTime};

use super::TokenGrant;
use crate::Session;

/// What a session needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    /// It is good as it is (or cannot be made better, see [`need`]).
    Nothing,
    /// An exchange at the token endpoint.
    Exchange(TokenGrant),
    /// Its refresh token is past its date.
    RefreshTokenExpired,
    /// Its access token has expired and it has no refresh token.
    NotRefreshable,
}

/// What `session` needs at `now`: an access token that expires within `margin` is exchanged
/// for a new one while its refresh token lasts; a non-expiring offline token is migrated when
/// `migrate` says so. A session without a refresh token whose access token has not expired
/// yet is handed out as it is, for the time it has left.
pub(super) fn need(session: &Session, now: SystemTime, margin: Duration, migrate: bool) -> Need {
    let Some(expires) = session.expires else {
        let migrates = migrate && !session.is_online && session.access_token.is_some();
        return if migrates {
            Need::Exchange(TokenGrant::MigrateToExpiring)
        } else {
            Need::Nothing
        };
    };
    if expires > now.checked_add(margin).unwrap_or(now) {
        return Need::Nothing;
    }
    match (&session.refresh_token, session.refresh_token_expires) {
        (None, _) if expires > now => Need::Nothing,
        (None, _) => Need::NotRefreshable,
        (Some(_), Some(refresh_expires)) if refresh_expires <= now => Need::RefreshTokenExpired,
        (Some(_), _) => Need::Exchange(TokenGrant::RefreshToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn offline() -> Session {
        let mut session = Session::new("offline_a.myshopify.com", "a.myshopify.com", "", false);
        session.access_token = Some("shpat_x".into());
        session
    }

    fn at(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + MINUTE * 1_000 + MINUTE * u32::try_from(minutes).unwrap()
    }

    #[test]
    fn a_token_good_for_longer_than_the_margin_needs_nothing() {
        let mut session = offline();
        session.expires = Some(at(6));
        session.refresh_token = Some("shprt_x".into());
        assert_eq!(need(&session, at(0), 5 * MINUTE, false), Need::Nothing);
        assert_eq!(
            need(&session, at(1), 5 * MINUTE, false),
            Need::Exchange(TokenGrant::RefreshToken),
            "exactly at the margin it is refreshed"
        );
        assert_eq!(
            need(&session, at(9), 5 * MINUTE, false),
            Need::Exchange(TokenGrant::RefreshToken)
        );
    }

    #[test]
    fn a_refresh_token_past_its_date_needs_a_new_grant() {
        let mut session = offline();
        session.expires = Some(at(0));
        session.refresh_token = Some("shprt_x".into());
        session.refresh_token_expires = Some(at(10));
        assert_eq!(
            need(&session, at(9), MINUTE, false),
            Need::Exchange(TokenGrant::RefreshToken)
        );
        assert_eq!(
            need(&session, at(10), MINUTE, false),
            Need::RefreshTokenExpired
        );
    }

    #[test]
    fn without_a_refresh_token_a_token_serves_until_it_expires() {
        let mut session = offline();
        session.expires = Some(at(3));
        assert_eq!(need(&session, at(0), 5 * MINUTE, false), Need::Nothing);
        assert_eq!(
            need(&session, at(3), 5 * MINUTE, false),
            Need::NotRefreshable
        );
    }

    #[test]
    fn non_expiring_offline_tokens_migrate_only_when_asked() {
        let session = offline();
        assert_eq!(need(&session, at(0), MINUTE, false), Need::Nothing);
        assert_eq!(
            need(&session, at(0), MINUTE, true),
            Need::Exchange(TokenGrant::MigrateToExpiring)
        );
        let mut online = offline();
        online.is_online = true;
        assert_eq!(need(&online, at(0), MINUTE, true), Need::Nothing);
        let mut tokenless = offline();
        tokenless.access_token = None;
        assert_eq!(need(&tokenless, at(0), MINUTE, true), Need::Nothing);
    }
}
