//! The vendored mail-parser's faster MIME body decoders against its byte-at-a-time originals,
//! on many thousands of generated bodies: the same bytes, the same end, the same stream position.

use mail_parser::parsers::MessageStream;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BOUNDARY: &[u8] = b"b0undary";

/// A body of random pieces: clean (a few over 64 KiB) and damaged base64 lines, quoted-printable
/// text, padding, dashes, boundaries (with and without their line end), whitespace and 8-bit
/// bytes.
fn body(rng: &mut StdRng) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"QUJD",
        b"ZGVm",
        b"SGVsbG8gd29ybGQh",
        b"AAAA",
        b"////",
        b"++++",
        b"=",
        b"==",
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"\t",
        b"-",
        b"--",
        b"--b0undary",
        b"\r\n--b0undary--\r\n",
        b"\n--b0undary\n",
        b"=\r\n",
        b"=\n",
        b"=C3=A9",
        b"=c3=a9",
        b"=ZZ",
        b"=4",
        b"caf",
        b"\xff",
        b"\x00",
        b"\x0c",
        b"!",
        b"_",
        b"Gr=FC=DFe",
        b"plain text ",
        b"a-b",
        b"\r\r\n",
    ];
    let mut out = Vec::new();
    for _ in 0..rng.random_range(0..60) {
        if rng.random_bool(0.3) {
            // A run of whole clean lines, the decoders' fast case.
            for _ in 0..rng.random_range(1..6) {
                // Now and then a line longer than a gathered run (64 KiB), decoded in place.
                let quanta = if rng.random_bool(0.0005) {
                    rng.random_range(16_000..40_000)
                } else {
                    rng.random_range(1..20)
                };
                for _ in 0..quanta {
                    out.extend_from_slice(PIECES[rng.random_range(0..5)]);
                }
                out.extend_from_slice(if rng.random_bool(0.8) { b"\r\n" } else { b"\n" });
            }
        } else {
            out.extend_from_slice(PIECES[rng.random_range(0..PIECES.len())]);
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Encoding {
    Base64,
    QuotedPrintable,
}

/// Decodes with the faster decoder, or with the original when `reference`.
fn decode<'x>(
    stream: &mut MessageStream<'x>,
    boundary: &[u8],
    encoding: Encoding,
    reference: bool,
) -> (usize, Vec<u8>) {
    let (end, bytes) = match (encoding, reference) {
        (Encoding::Base64, false) => stream.decode_base64_mime(boundary),
        (Encoding::Base64, true) => stream.decode_base64_mime_reference(boundary),
        (Encoding::QuotedPrintable, false) => stream.decode_quoted_printable_mime(boundary),
        (Encoding::QuotedPrintable, true) => {
            stream.decode_quoted_printable_mime_reference(boundary)
        }
    };
    (end, bytes.into_owned())
}

fn same(encoding: Encoding) {
    let mut rng = StdRng::seed_from_u64(20261129);
    for case in 0..20_000 {
        let data = body(&mut rng);
        let skip = rng.random_range(0..=data.len().min(3));
        for boundary in [BOUNDARY, b""] {
            let mut a = MessageStream::new(&data);
            let mut b = MessageStream::new(&data);
            a.skip_bytes(skip);
            b.skip_bytes(skip);
            let got = decode(&mut a, boundary, encoding, false);
            let want = decode(&mut b, boundary, encoding, true);
            assert_eq!(
                (got.0, &got.1[..], a.offset()),
                (want.0, &want.1[..], b.offset()),
                "{encoding:?}, case {case}, boundary {:?}: {:?}",
                String::from_utf8_lossy(boundary),
                String::from_utf8_lossy(&data[skip..])
            );
        }
    }
}

#[test]
fn base64_decodes_as_the_original() {
    same(Encoding::Base64);
}

#[test]
fn quoted_printable_decodes_as_the_original() {
    same(Encoding::QuotedPrintable);
}
