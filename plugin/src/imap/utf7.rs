//! Modified UTF-7 (RFC 3501 5.1.3), the encoding of IMAP folder names: printable ASCII as it is,
//! `&-` for `&`, and other characters as UTF-16 in base64 with `,` for `/` between `&` and `-`.

use base64::Engine;
use base64::alphabet::IMAP_MUTF7;
use base64::engine::general_purpose::{GeneralPurpose, NO_PAD};

const MUTF7: GeneralPurpose = GeneralPurpose::new(&IMAP_MUTF7, NO_PAD);

/// Decodes a folder name; `None` when it is not valid modified UTF-7.
pub fn decode(name: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte != b'&' {
            if !(0x20..0x7f).contains(&byte) {
                return None;
            }
            out.push(byte as char);
            rest = tail;
            continue;
        }
        let end = tail.iter().position(|&b| b == b'-')?;
        let (encoded, after) = (&tail[..end], &tail[end + 1..]);
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = MUTF7.decode(encoded).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            for c in char::decode_utf16(units) {
                out.push(c.ok()?);
            }
        }
        rest = after;
    }
    // One spelling per name: `&AGE-` for `a`, or two adjacent encoded runs, are refused, so two
    // wire names never decode to the same folder.
    (encode(&out).as_bytes() == name).then_some(out)
}

/// Encodes a folder name for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&MUTF7.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_accented_and_japanese_names_decode() {
        for (wire, name) in [
            ("[Gmail]/Prullenbak", "[Gmail]/Prullenbak"),
            ("Verzonden &- Ontvangen", "Verzonden & Ontvangen"),
            ("Priv&AOk-", "Privé"),
            ("Re&AOc-u/Fa&AOc-ade", "Reçu/Façade"),
            ("&ZeVnLIqe-", "日本語"),
            ("[Gmail]/&MFkweTBmMG4w4TD8MOs-", "[Gmail]/すべてのメール"),
        ] {
            assert_eq!(decode(wire.as_bytes()).as_deref(), Some(name), "{wire}");
            assert_eq!(encode(name), wire, "{name}");
        }
    }

    #[test]
    fn invalid_names_are_refused() {
        assert_eq!(decode(b"&ZeVnLIqe"), None, "unterminated");
        assert_eq!(decode("Privé".as_bytes()), None, "raw 8-bit");
        assert_eq!(decode(b"&2D0-"), None, "lone surrogate");
        assert_eq!(decode(b"&AGE-"), None, "ASCII encoded");
        assert_eq!(decode(b"&AOk-&AOk-"), None, "two runs where one belongs");
    }
}
