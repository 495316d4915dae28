//! A server's answers, read as a session reads them (imap-next's client over the patched
//! imap-codec, with the session's options and cap): any bytes read or refused, never a panic or
//! a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    plugin::fuzzing::read_server_answers(bytes);
});
