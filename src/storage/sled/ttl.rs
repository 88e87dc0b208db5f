//! When a stored session expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Session;

/// The time-to-live settings of a store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TtlPolicy {
    /// Kept this long past the session's own expiry.
    pub(crate) retention: Duration,
    /// Lifetime of a session with neither `expires` nor `refresh_token_expires`, from the
    /// moment it is stored; `None`: kept until deleted.
    pub(crate) offline_ttl: Option<Duration>,
}

impl TtlPolicy {
    /// The deadline, in epoch milliseconds, of `session` stored at `now`: the later of
    /// `expires` and `refresh_token_expires` (a live refresh token keeps a session whose access
    /// token expired), or `now + offline_ttl` when it has neither; plus retention.
    pub(crate) fn deadline_ms(&self, session: &Session, now: SystemTime) -> Option<u64> {
        let own = match (session.expires, session.refresh_token_expires) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (one, other) => one.or(other),
        };
        let base = match own {
            Some(deadline) => deadline,
            None => now.checked_add(self.offline_ttl?).unwrap_or(far_future()),
        };
        let deadline = base.checked_add(self.retention).unwrap_or(far_future());
        Some(epoch_millis(deadline))
    }
}

/// Whether a session with this deadline has expired at `now_ms`.
pub(crate) fn is_expired(deadline_ms: Option<u64>, now_ms: u64) -> bool {
    deadline_ms.is_some_and(|deadline| now_ms >= deadline)
}

/// Milliseconds since the epoch, 0 for earlier times.
pub(crate) fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}

fn far_future() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::MAX / 2)
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
        assert_eq!(policy.deadline_ms(&session, at(0)), None);
        session.expires = Some(at(10));
        assert_eq!(policy.deadline_ms(&session, at(0)), Some(3_610_000));
        session.refresh_token_expires = Some(at(20));
        assert_eq!(policy.deadline_ms(&session, at(0)), Some(3_620_000));
    }

    #[test]
    fn offline_ttl_counts_from_the_store() {
        let policy = TtlPolicy {
            retention: Duration::ZERO,
            offline_ttl: Some(HOUR),
        };
        let session = Session::new("id", "shop", "", false);
        assert_eq!(policy.deadline_ms(&session, at(5)), Some(3_605_000));
        assert!(!is_expired(Some(3_605_000), 3_604_999));
        assert!(is_expired(Some(3_605_000), 3_605_000));
        assert!(!is_expired(None, u64::MAX));
    }
}
