//! The time-to-live rule every backend with expiry shares: when a stored session stops being
//! served, and how that is compared with the clock.
//!
//! All arithmetic is in `u64` milliseconds since the Unix epoch and saturates, so no deadline
//! can overflow `SystemTime` on any platform (Windows' `SystemTime` cannot hold
//! `UNIX_EPOCH + u64::MAX / 2` ms, which an earlier version computed eagerly).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Session;

/// The time-to-live settings of a store.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TtlPolicy {
    /// Kept this long past the session's own expiry.
    pub(crate) retention: Duration,
    /// Lifetime of a session with neither `expires` nor `refresh_token_expires`, from the
    /// moment it is stored; `None`: kept until deleted.
    pub(crate) offline_ttl: Option<Duration>,
}

impl TtlPolicy {
    /// The deadline, in epoch milliseconds, of `session` stored at `now_ms`: the later of
    /// `expires` and `refresh_token_expires` (a live refresh token keeps a session whose access
    /// token expired, since Shopify refreshes it from that token), or `now_ms + offline_ttl`
    /// when it has neither; plus retention. `None`: the session never expires.
    pub(crate) fn deadline_ms(&self, session: &Session, now_ms: u64) -> Option<u64> {
        let own = [session.expires, session.refresh_token_expires]
            .into_iter()
            .flatten()
            .map(epoch_millis)
            .max();
        let base = match own {
            Some(deadline) => deadline,
            None => now_ms.saturating_add(millis(self.offline_ttl?)),
        };
        Some(base.saturating_add(millis(self.retention)))
    }
}

/// Whether a session with this deadline has expired at `now_ms`.
pub(crate) fn is_expired(deadline_ms: Option<u64>, now_ms: u64) -> bool {
    deadline_ms.is_some_and(|deadline| now_ms >= deadline)
}

/// Milliseconds since the epoch: 0 for earlier times, `u64::MAX` for times beyond it.
pub(crate) fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, millis)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3_600);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_later_date_plus_retention_wins() {
        let policy = TtlPolicy {
            retention: HOUR,
            offline_ttl: None,
        };
        let mut session = Session::new("id", "shop", "", false);
        assert_eq!(policy.deadline_ms(&session, 0), None);
        session.expires = Some(at(10));
        assert_eq!(policy.deadline_ms(&session, 0), Some(3_610_000));
        session.refresh_token_expires = Some(at(20));
        assert_eq!(policy.deadline_ms(&session, 0), Some(3_620_000));
    }

    #[test]
    fn offline_ttl_counts_from_the_store() {
        let policy = TtlPolicy {
            retention: Duration::ZERO,
            offline_ttl: Some(HOUR),
        };
        let session = Session::new("id", "shop", "", false);
        assert_eq!(policy.deadline_ms(&session, 5_000), Some(3_605_000));
        assert!(!is_expired(Some(3_605_000), 3_604_999));
        assert!(is_expired(Some(3_605_000), 3_605_000));
        assert!(!is_expired(None, u64::MAX));
    }

    #[test]
    fn huge_durations_saturate_instead_of_overflowing() {
        let policy = TtlPolicy {
            retention: Duration::MAX,
            offline_ttl: Some(Duration::MAX),
        };
        let mut session = Session::new("id", "shop", "", false);
        assert_eq!(policy.deadline_ms(&session, u64::MAX - 1), Some(u64::MAX));
        session.expires = Some(at(0));
        assert_eq!(policy.deadline_ms(&session, 0), Some(u64::MAX));
        assert_eq!(epoch_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
