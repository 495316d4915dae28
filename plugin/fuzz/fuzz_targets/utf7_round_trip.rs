//! Folder names in modified UTF-7 (RFC 3501): whatever decodes encodes back to the same bytes,
//! and any name encodes to something that decodes back to it.
#![no_main]

use plugin::fuzzing::utf7;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Some(name) = utf7::decode(bytes) {
        let again = utf7::decode(utf7::encode(&name).as_bytes());
        assert_eq!(
            again.as_deref(),
            Some(name.as_str()),
            "decode(encode(x)) != x"
        );
    }
    if let Ok(name) = std::str::from_utf8(bytes) {
        let encoded = utf7::encode(name);
        assert_eq!(utf7::decode(encoded.as_bytes()).as_deref(), Some(name));
    }
});
