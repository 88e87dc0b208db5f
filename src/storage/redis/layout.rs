//! Where the Node adapter (`@shopify/shopify-app-session-storage-redis`) keeps things, and so
//! where this storage does: every key starts with the prefix (default `shopify_sessions`) and
//! an underscore.
//!
//! | key | value |
//! |---|---|
//! | `{prefix}_{id}` | a session: the JSON text of `toPropertyArray(true)`, dates as epoch ms |
//! | `{prefix}_{shop}` | the shop's index: a JSON list of full session keys |
//! | `{prefix}_migrations` | the adapter's migration record, `{"migrateToVersion1_0_1":true}` |
//!
//! The three share one namespace, so a session id equal to `migrations` or to a shop domain
//! would collide with the others. Refused on store: the id or shop `migrations`, and an id
//! that is a shop domain (or equal to its own shop). A load of an id whose key holds a shop's
//! index (written by another client) finds no session, and the scripts never take a shop's
//! index for a session (or the reverse).
//!
//! One key of this crate's own lies outside that namespace: `refresh_lock:{prefix}:{id}`, the
//! refresh lock of a session (`refresh_lock.rs`): a random token, with the refresher's lock TTL
//! (30 s by default).
//! It does not start with the prefix because the Node adapter's one-time migration parses every
//! key that does as a session, and `shopify-sessions` walks `{prefix}_*`.

use crate::{Error, Result, Session, sanitize_shop};

/// The id whose key is the Node adapter's migration record.
pub(super) const MIGRATIONS_ID: &str = "migrations";

/// The prefix of Shopify's Node adapter.
pub const DEFAULT_PREFIX: &str = "shopify_sessions";

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    prefix: String,
}

impl Layout {
    pub(super) fn new(prefix: String) -> Self {
        Layout { prefix }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Refuses a session whose keys would be the adapter's own (see the module docs).
    pub(super) fn refuse_colliding(session: &Session) -> Result<()> {
        let refuse = |what: &str| Err(Error::invalid(what.to_owned()));
        if Self::is_reserved(&session.id) {
            return refuse(
                "the session id \"migrations\" is reserved: the Node Redis adapter keeps its \
                 migration record under that key",
            );
        }
        if Self::is_reserved(&session.shop) {
            return refuse(
                "the shop \"migrations\" is reserved: the Node Redis adapter keeps its migration \
                 record under the key of that shop's index",
            );
        }
        if session.id == session.shop || Self::is_shop_domain(&session.id) {
            return refuse(
                "the session id is a shop domain: the Node Redis adapter keeps that shop's index \
                 under its key",
            );
        }
        Ok(())
    }

    /// `{prefix}_{id}`.
    pub(super) fn session_key(&self, id: &str) -> String {
        format!("{}_{id}", self.prefix)
    }

    /// `{prefix}_{shop}`.
    pub(super) fn index_key(&self, shop: &str) -> String {
        format!("{}_{shop}", self.prefix)
    }

    /// `refresh_lock:{prefix}:{id}`.
    pub(super) fn lock_key(&self, id: &str) -> String {
        format!("refresh_lock:{}:{id}", self.prefix)
    }

    /// `{prefix}_migrations`.
    pub(super) fn marker_key(&self) -> String {
        self.session_key(MIGRATIONS_ID)
    }

    /// The session id of a full session key, `None` when the key is not under this prefix.
    pub(super) fn id_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('_')
    }

    /// Whether the part of a key after the prefix is spelled as a shop's index is: a shop
    /// domain. Shopify's shop names hold letters, digits and hyphens; `sanitize_shop` also
    /// takes underscores, which every offline id (`offline_{shop}`) has, and which the rest of
    /// a key under a longer prefix (`{prefix}_staging_...`) has.
    pub(super) fn is_shop_domain(id: &str) -> bool {
        !id.contains('_') && sanitize_shop(id).is_ok_and(|shop| shop == id)
    }

    /// Whether `id` can never name a session (its key is the migration record).
    pub(super) fn is_reserved(id: &str) -> bool {
        id == MIGRATIONS_ID
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_node_adapters() {
        let layout = Layout::new(DEFAULT_PREFIX.into());
        assert_eq!(
            layout.session_key("offline_a.myshopify.com"),
            "shopify_sessions_offline_a.myshopify.com"
        );
        assert_eq!(
            layout.index_key("a.myshopify.com"),
            "shopify_sessions_a.myshopify.com"
        );
        assert_eq!(layout.marker_key(), "shopify_sessions_migrations");
        assert_eq!(
            layout.id_of("shopify_sessions_a.myshopify.com_42"),
            Some("a.myshopify.com_42")
        );
        assert_eq!(layout.id_of("shopify_sessionsX"), None);
        assert_eq!(layout.id_of("other_x"), None);
    }
}
