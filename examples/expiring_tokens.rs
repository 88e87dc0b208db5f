//! Shopify's expiring offline tokens, refreshed once however many requests want them.
//!
//! `cargo run --example expiring_tokens [REQUESTS]`. Stores a shop's offline session whose
//! access token expires in a minute, then sends 100 (or REQUESTS) concurrent "requests" for it
//! through one
//! `TokenRefresher`. The token endpoint here is a function in this process that stands in for
//! Shopify's (`POST https://{shop}/admin/oauth/access_token` with `grant_type=refresh_token`),
//! and like Shopify's it accepts each refresh token once. Every request gets the new token, and
//! the endpoint is called exactly once.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use shopify_session_storage::{
    BoxError, Session, SessionStorage, SledSessionStorage, offline_session_id,
    refresh::{RefreshFailure, TokenGrant, TokenRefresher},
    sanitize_shop,
};

/// Shopify's token endpoint, faked: each refresh token works once, and an answer takes 200 ms.
#[derive(Default)]
pub struct FakeTokenEndpoint {
    calls: AtomicUsize,
    live_refresh_token: Mutex<String>,
}

impl FakeTokenEndpoint {
    async fn exchange(
        &self,
        mut session: Session,
        grant: TokenGrant,
    ) -> Result<Session, RefreshFailure> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
        {
            let mut live = self.live_refresh_token.lock().expect("not poisoned");
            if grant == TokenGrant::RefreshToken
                && session.refresh_token.as_deref() != Some(live.as_str())
            {
                // What Shopify answers for a refresh token used twice.
                return Err(RefreshFailure::rejected("invalid_grant"));
            }
            *live = format!("shprt_example_{call}");
        }
        session.access_token = Some(format!("shpat_example_{call}"));
        session.refresh_token = Some(format!("shprt_example_{call}"));
        session.expires = Some(SystemTime::now() + Duration::from_secs(3_600));
        session.refresh_token_expires = Some(SystemTime::now() + Duration::from_secs(90 * 86_400));
        Ok(session)
    }
}

/// Runs the example on the database at `path` with `requests` concurrent requests; returns how
/// many times the endpoint was called.
pub async fn run(path: &std::path::Path, requests: usize) -> Result<usize, BoxError> {
    let storage = SledSessionStorage::open(path)?;
    let shop = sanitize_shop("expiring-demo.myshopify.com")?;

    // The session the app stored at install: its access token expires in a minute, inside the
    // refresher's 5-minute margin.
    let mut session = Session::new(offline_session_id(&shop), &shop, "", false);
    session.scope = Some("read_products".into());
    session.access_token = Some("shpat_example_0".into());
    session.refresh_token = Some("shprt_example_0".into());
    session.expires = Some(SystemTime::now() + Duration::from_secs(60));
    session.refresh_token_expires = Some(SystemTime::now() + Duration::from_secs(90 * 86_400));
    storage.store_session(&session).await?;

    let endpoint = Arc::new(FakeTokenEndpoint {
        live_refresh_token: Mutex::new("shprt_example_0".into()),
        ..FakeTokenEndpoint::default()
    });
    let shopify = Arc::clone(&endpoint);
    let refresher = TokenRefresher::new(storage.clone(), move |session, grant| {
        let shopify = Arc::clone(&shopify);
        async move { shopify.exchange(session, grant).await }
    });

    let handles: Vec<_> = (0..requests)
        .map(|_| {
            let (refresher, id) = (refresher.clone(), session.id.clone());
            tokio::spawn(async move { refresher.fresh_session(&id).await })
        })
        .collect();
    let mut tokens = std::collections::BTreeSet::new();
    for handle in handles {
        let fresh = handle.await??.ok_or("the session was just stored")?;
        tokens.insert(fresh.access_token.unwrap_or_default());
    }
    let calls = endpoint.calls.load(Ordering::SeqCst);
    println!(
        "{requests} concurrent requests for {shop}: {calls} call(s) to the token endpoint, {} distinct token(s) handed out",
        tokens.len()
    );
    let stored = storage
        .load_session(&session.id)
        .await?
        .ok_or("the session is stored")?;
    println!(
        "stored session: expires in {:?}",
        stored
            .expires
            .and_then(|expires| expires.duration_since(SystemTime::now()).ok())
            .map(|left| Duration::from_secs(left.as_secs()))
    );
    Ok(calls)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let requests = match std::env::args().nth(1) {
        Some(requests) => requests.parse()?,
        None => 100,
    };
    let dir = tempfile::tempdir()?;
    let calls = run(&dir.path().join("sessions.db"), requests).await?;
    if calls != 1 {
        return Err(format!("expected one refresh, the endpoint was called {calls} times").into());
    }
    Ok(())
}
