//! A submission server's replies, as the plugin's SMTP client reads them through a whole
//! submission (smtp-proto's reply parser, the EHLO reader, the client's steps): any bytes end
//! the submission with an outcome or a failure, never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    plugin::fuzzing::submit_against_replies(bytes);
});
