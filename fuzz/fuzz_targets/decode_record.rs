//! Arbitrary bytes into the sled record codec: never a panic (allocations are bounded by the
//! codec's decode limit; run with `-malloc_limit_mb` to check), and whatever decodes re-encodes
//! and decodes to the same session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shopify_session_storage::internals::{decode_record, encode_record};

fuzz_target!(|bytes: &[u8]| {
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
