//! Arbitrary bytes into the sled record codec: never a panic (allocations are bounded by the
//! codec's decode limit; run with `-malloc_limit_mb` to check), and whatever decodes re-encodes
//! and decodes to the same session. Records with sealed tokens (version 3) are decoded with a
//! fixed key set too, and must round-trip sealed, and not open under another id.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use shopify_session_storage::{
    encryption::{EncryptionKey, KeySet},
    internals::{decode_record, decode_record_with_keys, encode_record, encode_record_sealed},
};

/// The key `fuzz/seeds/decode_record/sealed-v3` was sealed with.
static KEYS: LazyLock<KeySet> =
    LazyLock::new(|| KeySet::new(EncryptionKey::new("fuzz", [7; 32]).expect("a valid key id")));

fuzz_target!(|bytes: &[u8]| {
    if let Ok((session, deadline)) = decode_record_with_keys("fuzz-id", bytes, Some(&KEYS)) {
        // Sealing adds a few dozen bytes, which a record at the size limit has no room for.
        if let Ok(sealed) = encode_record_sealed(&session, deadline, &KEYS) {
            let (again, again_deadline) = decode_record_with_keys("fuzz-id", &sealed, Some(&KEYS))
                .expect("a sealed record opens");
            assert_eq!(again, session);
            assert_eq!(again_deadline, deadline);
            assert!(decode_record_with_keys("other-id", &sealed, Some(&KEYS)).is_err());
        }
    }
    let Ok((session, deadline)) = decode_record("fuzz-id", bytes) else {
        return;
    };
    // A decoded record may break rules the store enforces on write (an empty shop, say); the
    // codec itself must still round-trip it.
    let encoded = encode_record(&session, deadline).expect("a decoded record re-encodes");
    let (again, again_deadline) = decode_record("fuzz-id", &encoded).expect("re-encoded record decodes");
    assert_eq!(again, session);
    assert_eq!(again_deadline, deadline);
});
