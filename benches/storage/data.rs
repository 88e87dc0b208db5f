//! The sessions every benchmark stores: typical online sessions, 50 per shop.

use std::time::{Duration, SystemTime};

use shopify_session_storage::{AssociatedUser, OnlineAccessInfo, Session};

/// Sessions per shop, so that `find_sessions_by_shop` returns 50.
pub const PER_SHOP: u64 = 50;

pub fn shop(n: u64) -> String {
    format!("bench-{:06}.myshopify.com", n / PER_SHOP)
}

pub fn id(n: u64) -> String {
    format!("{}_{n}", shop(n))
}

/// A typical online session: scopes, a token, an expiry a day away, the user's details.
pub fn session(n: u64) -> Session {
    session_expiring(n, SystemTime::now() + Duration::from_secs(86_400))
}

pub fn session_expiring(n: u64, expires: SystemTime) -> Session {
    let shop = shop(n);
    let mut session = Session::new(id(n), &shop, "4c1b6b2e-0f5d-4a8e-9d0e-6f1f6f0c2a11", true);
    session.scope = Some("write_products,read_orders,read_customers".into());
    session.expires = Some(expires);
    session.access_token = Some(format!("shpua_{n:032x}"));
    let mut user = AssociatedUser::new(n + 1_000_000);
    user.first_name = Some("Jane".into());
    user.last_name = Some("Doe".into());
    user.email = Some(format!("jane{n}@example.com"));
    user.locale = Some("en".into());
    user.email_verified = Some(true);
    user.account_owner = Some(false);
    user.collaborator = Some(false);
    let mut info = OnlineAccessInfo::new(user);
    info.expires_in = Some(86_400);
    info.associated_user_scope = Some("write_products".into());
    session.online_access_info = Some(info);
    session
}
