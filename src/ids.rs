//! Session ids and shop domains, as Shopify's libraries form them.

use crate::{Error, Result};

/// The id of a shop's offline session: `offline_{shop}`.
///
/// ```
/// assert_eq!(
///     shopify_session_storage::offline_session_id("demo.myshopify.com"),
///     "offline_demo.myshopify.com"
/// );
/// ```
#[must_use]
pub fn offline_session_id(shop: &str) -> String {
    format!("offline_{shop}")
}

/// The id of a staff user's online session: `{shop}_{user_id}`.
///
/// ```
/// assert_eq!(
///     shopify_session_storage::online_session_id("demo.myshopify.com", 42),
///     "demo.myshopify.com_42"
/// );
/// ```
#[must_use]
pub fn online_session_id(shop: &str, user_id: u64) -> String {
    format!("{shop}_{user_id}")
}

/// The shop domains Shopify issues.
const SHOP_DOMAINS: [&str; 2] = [".myshopify.com", ".myshopify.io"];

/// The admin URL form: `admin.shopify.com/store/NAME`.
const ADMIN_PREFIX: &str = "admin.shopify.com/store/";

/// Normalizes a shop given by a user or a request to its lowercase `NAME.myshopify.com` (or
/// `.myshopify.io`) domain.
///
/// Accepts `NAME.myshopify.com`, `NAME.myshopify.io` and `admin.shopify.com/store/NAME`, with or
/// without `https://` and trailing slashes, in any case. `NAME` starts with a letter or digit
/// and holds only letters, digits, `-` and `_`.
///
/// # Errors
/// [`Error::InvalidShop`] with the input, for anything else.
///
/// ```
/// use shopify_session_storage::sanitize_shop;
///
/// assert_eq!(sanitize_shop("https://Demo.myshopify.com/")?, "demo.myshopify.com");
/// assert_eq!(sanitize_shop("admin.shopify.com/store/demo")?, "demo.myshopify.com");
/// assert!(sanitize_shop("demo.example.com").is_err());
/// # Ok::<(), shopify_session_storage::Error>(())
/// ```
pub fn sanitize_shop(input: &str) -> Result<String> {
    let invalid = || Error::InvalidShop(input.to_string());
    let lower = input.trim().to_ascii_lowercase();
    let without_scheme = lower.strip_prefix("https://").unwrap_or(&lower);
    let host = without_scheme.trim_end_matches('/');

    if let Some(name) = host.strip_prefix(ADMIN_PREFIX) {
        return if is_shop_name(name) {
            Ok(format!("{name}.myshopify.com"))
        } else {
            Err(invalid())
        };
    }
    let is_shop_domain = SHOP_DOMAINS
        .iter()
        .any(|domain| host.strip_suffix(domain).is_some_and(is_shop_name));
    if is_shop_domain {
        Ok(host.to_string())
    } else {
        Err(invalid())
    }
}

fn is_shop_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_shopify_forms() {
        for (input, expected) in [
            ("shop.myshopify.com", "shop.myshopify.com"),
            ("SHOP-1.MyShopify.IO", "shop-1.myshopify.io"),
            ("https://shop_2.myshopify.com//", "shop_2.myshopify.com"),
            (
                "HTTPS://ADMIN.SHOPIFY.COM/STORE/Shop/",
                "shop.myshopify.com",
            ),
        ] {
            assert_eq!(sanitize_shop(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for input in [
            "",
            "myshopify.com",
            ".myshopify.com",
            "-shop.myshopify.com",
            "shop.myshopify.com.evil.com",
            "evil.com/shop.myshopify.com",
            "sub.shop.myshopify.com",
            "http://shop.myshopify.com",
            "admin.shopify.com/store/",
            "admin.shopify.com/store/a/b",
            "shop.myshopify.com?x=1",
        ] {
            let error = sanitize_shop(input).unwrap_err();
            assert!(
                matches!(error, Error::InvalidShop(ref s) if s == input),
                "{input}"
            );
        }
    }
}
