//! Messages whose bodies stress the transfer decoders: base64 and quoted-printable with every
//! line length, line ending, padding and kind of damage, so a faster decoder can be held to the old.

use base64::Engine;

/// Every case, deterministic: each a whole message with the damaged body as text and as attachment.
pub fn messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, body) in base64_bodies().into_iter().enumerate() {
        out.push(single_part(&format!("b64-{i}"), "base64", &body));
        out.push(attached(&format!("b64-att-{i}"), "base64", &body));
    }
    for (i, body) in quoted_printable_bodies().into_iter().enumerate() {
        out.push(single_part(&format!("qp-{i}"), "quoted-printable", &body));
        out.push(attached(&format!("qp-att-{i}"), "quoted-printable", &body));
    }
    out
}

/// Bytes from a fixed linear congruential sequence: the same on every run and machine.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

fn wrap(encoded: &[u8], width: usize, eol: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in encoded.chunks(width.max(1)) {
        out.extend_from_slice(line);
        out.extend_from_slice(eol);
    }
    out
}

fn base64_bodies() -> Vec<Vec<u8>> {
    let b64 = |data: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(data)
            .into_bytes()
    };
    let mut bodies = Vec::new();
    // Clean bodies: every length near a quantum, every common width, both line endings.
    for len in [0, 1, 2, 3, 4, 5, 56, 57, 58, 1000, 4097, 70_001] {
        for (width, eol) in [
            (76, &b"\r\n"[..]),
            (64, b"\n"),
            (72, b"\r\n"),
            (4, b"\r\n"),
            (100_000, b"\r\n"),
        ] {
            bodies.push(wrap(&b64(&payload(len, len as u64)), width, eol));
        }
    }
    let clean = wrap(&b64(&payload(3000, 7)), 76, b"\r\n");
    // Damage at the start, in the middle and near the end of the body.
    for at in [0, 1, 77, 1500, clean.len() - 5] {
        for bad in [b'!', b'*', b'-', b'_', 0xC3, 0x00, b'=', b' ', b'\t'] {
            let mut body = clean.clone();
            body.insert(at, bad);
            bodies.push(body);
        }
        let mut cut = clean.clone();
        cut.truncate(at);
        bodies.push(cut);
    }
    // Spaces and tabs before line ends; missing, short and extra padding; URL-safe letters.
    bodies.push(
        String::from_utf8(clean.clone())
            .unwrap()
            .replace("\r\n", " \t\r\n")
            .into_bytes(),
    );
    let unpadded = b64(&payload(1001, 3));
    bodies.push(wrap(&unpadded[..unpadded.len() - 1], 76, b"\r\n"));
    bodies.push(wrap(&unpadded[..unpadded.len() - 2], 76, b"\r\n"));
    bodies.push([wrap(&unpadded, 76, b"\r\n"), b"==\r\n".to_vec()].concat());
    bodies.push([b64(b"ab"), b"\r\n".to_vec(), b64(b"cd"), b"\r\n".to_vec()].concat());
    bodies.push(
        String::from_utf8(clean.clone())
            .unwrap()
            .replace('+', "-")
            .replace('/', "_")
            .into_bytes(),
    );
    bodies.push(b"\r\n\r\n  \r\n".to_vec());
    bodies.push(b"====\r\n".to_vec());
    bodies
}

fn quoted_printable_bodies() -> Vec<Vec<u8>> {
    let text = "Gr\u{fc}\u{df}e aus K\u{f6}ln, caf\u{e9} \u{2014} 10\u{202f}\u{20ac} ";
    let encode = |s: &str, width: usize| {
        let mut out = Vec::new();
        let mut line = 0;
        for &b in s.as_bytes() {
            let piece = if b == b'=' || !(0x20..0x7f).contains(&b) {
                format!("={b:02X}").into_bytes()
            } else {
                vec![b]
            };
            if line + piece.len() > width {
                out.extend_from_slice(b"=\r\n");
                line = 0;
            }
            line += piece.len();
            out.extend_from_slice(&piece);
        }
        out.extend_from_slice(b"\r\n");
        out
    };
    let long = text.repeat(200);
    let mut bodies = vec![
        encode(&long, 76),
        encode(&long, 10),
        encode(&long, 100_000),
        String::from_utf8(encode(&long, 76))
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes(),
        String::from_utf8(encode(&long, 76))
            .unwrap()
            .to_lowercase()
            .into_bytes(),
    ];
    for bad in [
        &b"=ZZ"[..],
        b"=",
        b"=4",
        b"= \r\n",
        b"=\t\r\n",
        b"\xff",
        b"\x00",
        b"  \r\n",
    ] {
        for at in [0usize, 40, 3000] {
            let mut body = encode(&long, 76);
            let at = at.min(body.len());
            body.splice(at..at, bad.iter().copied());
            bodies.push(body);
        }
        let mut body = encode(&long, 76);
        body.extend_from_slice(bad);
        bodies.push(body);
    }
    bodies.push(b"plain ascii with trailing space   \r\nand a tab\t\r\n".to_vec());
    bodies.push(b"=\r\n".to_vec());
    bodies.push(Vec::new());
    bodies
}

fn head(id: &str) -> String {
    format!(
        "Message-ID: <{id}@cases.example.org>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\n\
         From: Cases <cases@example.org>\r\nTo: bob@crm-customer.nl\r\nSubject: Case {id}\r\n\
         MIME-Version: 1.0\r\n"
    )
}

fn single_part(id: &str, encoding: &str, body: &[u8]) -> Vec<u8> {
    [
        head(id).into_bytes(),
        format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
        )
        .into_bytes(),
        body.to_vec(),
    ]
    .concat()
}

fn attached(id: &str, encoding: &str, body: &[u8]) -> Vec<u8> {
    [
        head(id).into_bytes(),
        b"Content-Type: multipart/mixed; boundary=\"cut\"\r\n\r\n--cut\r\n\
          Content-Type: text/plain\r\n\r\nSee the file.\r\n--cut\r\n\
          Content-Type: application/octet-stream; name=\"f.bin\"\r\n"
            .to_vec(),
        format!(
            "Content-Transfer-Encoding: {encoding}\r\nContent-Disposition: attachment; filename=\"f.bin\"\r\n\r\n"
        )
        .into_bytes(),
        body.to_vec(),
        b"\r\n--cut\r\nContent-Type: text/html; charset=utf-8\r\n".to_vec(),
        format!("Content-Transfer-Encoding: {encoding}\r\n\r\n").into_bytes(),
        body.to_vec(),
        b"--cut--\r\n".to_vec(),
    ]
    .concat()
}
