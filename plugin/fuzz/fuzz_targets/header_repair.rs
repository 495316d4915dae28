//! Header repair (8-bit bytes re-read as UTF-8, an unterminated block, military zones, split
//! encoded words): any header block repaired or left alone, never a panic, and never grown past
//! what re-reading can make of it (a byte becomes at most 3 UTF-8 bytes; a zone letter `-0000`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Some(repaired) = plugin::fuzzing::repair_header_block(bytes) {
        assert!(
            repaired.len() <= bytes.len() * 5 + 2,
            "repair grew the block"
        );
    }
});
