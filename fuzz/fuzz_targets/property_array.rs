//! Arbitrary JSON values into `from_property_array_json`, with and without user data: never a
//! panic, and whatever reads is written back and reads back to a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shopify_session_storage::Session;

fuzz_target!(|bytes: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    for include_user_data in [true, false] {
        let Ok(session) = Session::from_property_array_json(&value, include_user_data) else {
            continue;
        };
        // Reading is lossy by Shopify's design: property arrays drop some user fields, and a
        // date at the epoch is written as 0, which Node's reader (and so ours) takes for none.
        // So one write-read pass may lose data; after it, writing and reading are stable.
        let written = session.to_property_array_json(include_user_data);
        let reread = Session::from_property_array_json(&written, include_user_data)
            .expect("a written property array reads back");
        let rewritten = reread.to_property_array_json(include_user_data);
        let stable = Session::from_property_array_json(&rewritten, include_user_data)
            .expect("a rewritten property array reads back");
        assert_eq!(stable, reread, "include_user_data = {include_user_data}");
        assert_eq!(
            stable.to_property_array_json(include_user_data),
            rewritten,
            "include_user_data = {include_user_data}"
        );
    }
});
