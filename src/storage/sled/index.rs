//! Keys of the index trees.
//!
//! - `by_shop`: `shop ++ 0x00 ++ id` → empty. A shop's sessions are one prefix scan; `0x00`
//!   cannot occur in a valid shop (control characters are rejected), so `a` never matches
//!   `ab`'s entries.
//! - `by_expiry`: deadline as big-endian u64 epoch milliseconds `++ id` → empty. Keys sort by
//!   deadline, so the expired sessions are exactly the keys below `now + 1 ms`.

const SEPARATOR: u8 = 0;
const DEADLINE_BYTES: usize = 8;

/// The `by_shop` key of session `id` of `shop`.
pub(crate) fn shop_key(shop: &str, id: &str) -> Vec<u8> {
    let mut key = shop_prefix(shop);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The prefix shared by every `by_shop` key of `shop`.
pub(crate) fn shop_prefix(shop: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(shop.len() + 1 + 64);
    key.extend_from_slice(shop.as_bytes());
    key.push(SEPARATOR);
    key
}

/// Splits a `by_shop` key into shop and id; `None` for a key this crate did not write.
pub(crate) fn split_shop_key(key: &[u8]) -> Option<(&str, &str)> {
    let at = key.iter().position(|&byte| byte == SEPARATOR)?;
    let shop = std::str::from_utf8(&key[..at]).ok()?;
    let id = std::str::from_utf8(&key[at + 1..]).ok()?;
    Some((shop, id))
}

/// The `by_expiry` key of session `id` with this deadline.
pub(crate) fn expiry_key(deadline_ms: u64, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(DEADLINE_BYTES + id.len());
    key.extend_from_slice(&deadline_ms.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// Splits a `by_expiry` key into deadline and id; `None` for a key this crate did not write.
pub(crate) fn split_expiry_key(key: &[u8]) -> Option<(u64, &str)> {
    if key.len() < DEADLINE_BYTES {
        return None;
    }
    let (deadline, id) = key.split_at(DEADLINE_BYTES);
    let deadline = u64::from_be_bytes(deadline.try_into().ok()?);
    Some((deadline, std::str::from_utf8(id).ok()?))
}

/// The first `by_expiry` key of a session that is still live at `now_ms`: every key below it
/// has a deadline at or before `now_ms`.
pub(crate) fn first_live_expiry_key(now_ms: u64) -> [u8; DEADLINE_BYTES] {
    now_ms.saturating_add(1).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_back() {
        let key = shop_key("a.myshopify.com", "a.myshopify.com_7");
        assert_eq!(
            split_shop_key(&key),
            Some(("a.myshopify.com", "a.myshopify.com_7"))
        );
        assert!(key.starts_with(&shop_prefix("a.myshopify.com")));
        assert!(!shop_key("ab", "x").starts_with(&shop_prefix("a")));

        let key = expiry_key(1_000, "id");
        assert_eq!(split_expiry_key(&key), Some((1_000, "id")));
        assert_eq!(split_expiry_key(b"short"), None);
    }

    #[test]
    fn expiry_keys_sort_by_deadline() {
        let early = expiry_key(999, "zzz");
        let late = expiry_key(1_000, "aaa");
        assert!(early < late);
        assert!(early.as_slice() < first_live_expiry_key(999).as_slice());
        assert!(late.as_slice() >= first_live_expiry_key(999).as_slice());
    }
}
