//! The whole of normalisation: any bytes a sender can put in a message become one record, never
//! a panic, with bodies within the cap.
#![no_main]

use plugin::fuzzing::{RawMessage, normalize};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let raw = RawMessage {
        bytes,
        internal_date: Some(1_700_000_000),
    };
    let record = normalize(&raw, "anna@example.nl");
    let cap = plugin::normalize::MAX_BODY_BYTES as usize;
    assert!(record.text_body.len() <= cap, "a text body over the cap");
    assert!(record.html_body.as_ref().is_none_or(|h| h.len() <= cap));
});
