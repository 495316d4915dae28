//! The raw reader of FETCH answers imap-codec cannot parse (a server's broken literal, a NUL):
//! any bytes read or refused, never a panic, and a UID only from a well-formed answer.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Some(fetched) = plugin::fuzzing::read_fetch(bytes) {
        if let Some(body) = &fetched.body {
            assert!(body.len() <= bytes.len(), "a body longer than the answer");
        }
    }
});
