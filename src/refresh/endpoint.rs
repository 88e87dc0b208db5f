//! The app's side of a refresh: its call to Shopify's token endpoint.

use std::future::Future;

use async_trait::async_trait;

use crate::{BoxError, Session};

/// Which exchange the token endpoint is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenGrant {
    /// Trade the session's refresh token for a new access token and a new refresh token
    /// (Shopify's `grant_type=refresh_token`; Node's `shopify.auth.refreshToken`).
    RefreshToken,
    /// Trade the session's non-expiring offline access token for an expiring one and a refresh
    /// token, once (Shopify's token exchange with `expiring=1`; Node's
    /// `shopify.auth.migrateToExpiringToken`). Asked for only when the refresher is built with
    /// [`migrate_non_expiring_tokens`](crate::refresh::TokenRefresherBuilder::migrate_non_expiring_tokens).
    MigrateToExpiring,
}

/// Why a call to the token endpoint gave no new session.
///
/// `?` on any error type makes a [`Failed`](RefreshFailure::Failed) one; say
/// [`RefreshFailure::rejected`] when Shopify refused the grant itself (an OAuth
/// `invalid_grant`, or a 4xx that names the refresh token), so that the app's callers learn that
/// the merchant must authorize the app again instead of retrying.
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshFailure {
    /// Shopify refused the refresh token (used already, revoked, expired): becomes
    /// [`Error::RefreshRejected`](crate::Error::RefreshRejected).
    Rejected(BoxError),
    /// Anything else (the network, a 5xx): becomes
    /// [`Error::RefreshFailed`](crate::Error::RefreshFailed), and the next call tries again.
    Failed(BoxError),
}

impl RefreshFailure {
    /// Shopify refused the grant: only a new OAuth grant helps.
    pub fn rejected(error: impl Into<BoxError>) -> Self {
        RefreshFailure::Rejected(error.into())
    }

    /// The exchange failed for another reason: the next call tries again.
    pub fn failed(error: impl Into<BoxError>) -> Self {
        RefreshFailure::Failed(error.into())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for RefreshFailure {
    fn from(error: E) -> Self {
        RefreshFailure::Failed(Box::new(error))
    }
}

/// The app's call to Shopify's token endpoint: given the session and the grant, it returns the
/// session with its new tokens and dates. This crate never sees the app's client secret; the
/// app makes the HTTP request with the client it already has.
///
/// Any `Fn(Session, TokenGrant) -> impl Future<Output = Result<Session, RefreshFailure>>` is one:
///
/// ```
/// use shopify_session_storage::{refresh::{RefreshFailure, TokenEndpoint, TokenGrant}, Session};
///
/// async fn exchange(mut session: Session, grant: TokenGrant) -> Result<Session, RefreshFailure> {
///     // POST https://{shop}/admin/oauth/access_token with the client id and secret and
///     // session.refresh_token (or, to migrate, session.access_token), then:
///     // From Shopify's answer: access_token, expires_in, refresh_token,
///     // refresh_token_expires_in.
///     let now = std::time::SystemTime::now();
///     session.access_token = Some("shpat_new".into());
///     session.expires = Some(now + std::time::Duration::from_secs(3_600));
///     session.refresh_token = Some("shprt_new".into());
///     session.refresh_token_expires = Some(now + std::time::Duration::from_secs(90 * 86_400));
///     Ok(session)
/// }
/// fn takes(_: impl TokenEndpoint) {}
/// takes(exchange);
/// ```
#[async_trait]
pub trait TokenEndpoint: Send + Sync + 'static {
    /// Makes the exchange for `session`.
    async fn exchange(
        &self,
        session: Session,
        grant: TokenGrant,
    ) -> Result<Session, RefreshFailure>;
}

#[async_trait]
impl<F, Fut> TokenEndpoint for F
where
    F: Fn(Session, TokenGrant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Session, RefreshFailure>> + Send + 'static,
{
    async fn exchange(
        &self,
        session: Session,
        grant: TokenGrant,
    ) -> Result<Session, RefreshFailure> {
        self(session, grant).await
    }
}
