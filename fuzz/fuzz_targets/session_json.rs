//! Arbitrary bytes as session JSON: never a panic, and whatever parses is written back, and
//! that JSON reads back to the same session and writes the same JSON again (dates are written
//! with millisecond precision, so the first write may round; after that it is stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shopify_session_storage::Session;

fuzz_target!(|bytes: &[u8]| {
    let Ok(session) = serde_json::from_slice::<Session>(bytes) else {
        return;
    };
    let first = serde_json::to_string(&session).expect("a parsed session can be written");
    let reread: Session = serde_json::from_str(&first).expect("written JSON reads back");
    let second = serde_json::to_string(&reread).expect("it can be written again");
    assert_eq!(first, second);
    let third: Session = serde_json::from_str(&second).unwrap();
    assert_eq!(third, reread);
});
