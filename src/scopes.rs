//! [`AuthScopes`]: OAuth scope sets with Shopify's implied scopes.

use std::{collections::HashSet, convert::Infallible, fmt, str::FromStr};

/// A set of OAuth access scopes, compared as Shopify compares them.
///
/// `write_x` implies `read_x` and `unauthenticated_write_x` implies `unauthenticated_read_x`;
/// an authenticated scope never implies an unauthenticated one. Parsing trims whitespace
/// around entries and drops empty ones. Two sets are equal when they are the same once implied
/// scopes are removed; `Display` writes that reduced set, comma-joined, in first-seen order, and
/// iteration yields it in the same order.
///
/// ```
/// use shopify_session_storage::AuthScopes;
///
/// let granted: AuthScopes = "write_products, read_orders".parse().unwrap();
/// assert!(granted.has(&AuthScopes::from("read_products,read_orders")));
/// assert!(!granted.has(&AuthScopes::from("write_orders")));
/// assert_eq!(AuthScopes::from("read_products,write_products").to_string(), "write_products");
/// ```
#[derive(Clone, Default)]
pub struct AuthScopes {
    /// The scopes as given, without duplicates and without those implied by others, in
    /// first-seen order.
    reduced: Vec<String>,
    /// The scopes as given plus every scope they imply.
    expanded: HashSet<String>,
}

impl AuthScopes {
    /// Builds a set from individual scope names (each trimmed; empty ones dropped).
    pub fn new<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut given: Vec<String> = Vec::new();
        for scope in scopes {
            let scope = scope.as_ref().trim();
            if !scope.is_empty() && !given.iter().any(|seen| seen == scope) {
                given.push(scope.to_string());
            }
        }
        let implied: HashSet<String> = given.iter().filter_map(|s| implied_scope(s)).collect();
        let reduced = given
            .iter()
            .filter(|scope| !implied.contains(*scope))
            .cloned()
            .collect();
        let mut expanded: HashSet<String> = given.into_iter().collect();
        expanded.extend(implied);
        AuthScopes { reduced, expanded }
    }

    /// Whether every scope of `required` is covered by this set, implied scopes counted.
    #[must_use]
    pub fn has(&self, required: &AuthScopes) -> bool {
        required
            .reduced
            .iter()
            .all(|scope| self.expanded.contains(scope))
    }

    /// Whether this set covers `scope` (one scope name).
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.expanded.contains(scope.trim())
    }

    /// The reduced scopes, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.reduced.iter().map(String::as_str)
    }

    /// Every scope covered, the implied ones included, in no particular order.
    pub fn expanded(&self) -> impl Iterator<Item = &str> {
        self.expanded.iter().map(String::as_str)
    }

    /// The number of reduced scopes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.reduced.len()
    }

    /// Whether the set holds no scope.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.reduced.is_empty()
    }
}

/// The scope that `scope` implies, if any: `write_x` → `read_x`,
/// `unauthenticated_write_x` → `unauthenticated_read_x`.
fn implied_scope(scope: &str) -> Option<String> {
    let (prefix, rest) = match scope.strip_prefix("unauthenticated_") {
        Some(rest) => ("unauthenticated_", rest),
        None => ("", scope),
    };
    rest.strip_prefix("write_")
        .map(|resource| format!("{prefix}read_{resource}"))
}

impl PartialEq for AuthScopes {
    fn eq(&self, other: &Self) -> bool {
        self.reduced.len() == other.reduced.len()
            && self
                .reduced
                .iter()
                .all(|scope| other.reduced.contains(scope))
    }
}

impl Eq for AuthScopes {}

impl fmt::Display for AuthScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reduced.join(","))
    }
}

impl fmt::Debug for AuthScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthScopes").field(&self.reduced).finish()
    }
}

impl FromStr for AuthScopes {
    type Err = Infallible;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        Ok(AuthScopes::from(list))
    }
}

impl From<&str> for AuthScopes {
    /// Parses a comma-separated list.
    fn from(list: &str) -> Self {
        AuthScopes::new(list.split(','))
    }
}

impl From<Vec<String>> for AuthScopes {
    fn from(scopes: Vec<String>) -> Self {
        AuthScopes::new(scopes)
    }
}

impl From<&[&str]> for AuthScopes {
    fn from(scopes: &[&str]) -> Self {
        AuthScopes::new(scopes)
    }
}

impl<'a> IntoIterator for &'a AuthScopes {
    type Item = &'a str;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, String>, fn(&String) -> &str>;

    fn into_iter(self) -> Self::IntoIter {
        self.reduced.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_scopes_are_only_implied_by_their_own_kind() {
        assert_eq!(
            implied_scope("unauthenticated_write_checkouts").as_deref(),
            Some("unauthenticated_read_checkouts")
        );
        assert_eq!(
            implied_scope("write_checkouts").as_deref(),
            Some("read_checkouts")
        );
        assert_eq!(implied_scope("read_checkouts"), None);
    }

    #[test]
    fn equality_ignores_order_and_implied_scopes() {
        let a = AuthScopes::from("write_orders, read_orders, read_customers");
        let b = AuthScopes::new(["read_customers", "write_orders"]);
        assert_eq!(a, b);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            ["write_orders", "read_customers"]
        );
        assert!(a.contains("read_orders"));
        assert_eq!(AuthScopes::from(" , ").len(), 0);
    }
}
