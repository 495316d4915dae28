//! The vendored imap-codec's fragmentizer, which now moves a literal a slice at a time, sizes its
//! buffer to the literal and lets a large one go: fed any response in any chunks, it gives each
//! message's bytes exactly, and cuts one at its size cap.

use imap_codec::fragmentizer::Fragmentizer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A FETCH response with a literal of `len` bytes (any byte but NUL), then a tagged OK.
fn response(rng: &mut StdRng, n: usize, len: usize) -> (Vec<u8>, Vec<u8>) {
    let body: Vec<u8> = (0..len).map(|_| rng.random_range(1..=255u8)).collect();
    let fetch = [
        format!("* {n} FETCH (UID {n} BODY[] {{{len}}}\r\n").into_bytes(),
        body,
        b")\r\n".to_vec(),
    ]
    .concat();
    (fetch, format!("A{n} OK done\r\n").into_bytes())
}

/// Feeds `stream` in chunks of random sizes and collects each complete message's bytes, and
/// whether it went over the cap.
fn messages(
    fragmentizer: &mut Fragmentizer,
    stream: &[u8],
    rng: &mut StdRng,
) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut rest = stream;
    loop {
        // Sometimes only a fragment or two before more bytes come: what is left queued then
        // sits at an offset of the queue's ring, which the next bytes wrap around.
        let steps = if rest.is_empty() || rng.random_bool(0.5) {
            usize::MAX
        } else {
            rng.random_range(1..=2)
        };
        for _ in 0..steps {
            if fragmentizer.progress().is_none() {
                break;
            }
            if fragmentizer.is_message_complete() {
                out.push((
                    fragmentizer.message_bytes().to_vec(),
                    fragmentizer.is_max_message_size_exceeded(),
                ));
            }
            // As imap-next does once a message is decoded, and at any other time, where it must
            // do nothing: a large buffer let go, the messages after it still arrive whole.
            if rng.random_bool(0.5) {
                fragmentizer.release_message_buffer();
            }
        }
        if rest.is_empty() {
            return out;
        }
        // Small chunks as well as large: a message that ends inside a chunk leaves the next one's
        // first bytes queued, and the queue's ring then wraps around.
        let most = if rng.random_bool(0.5) { 64 } else { 70_000 };
        let take = rng.random_range(1..=rest.len().min(most));
        fragmentizer.enqueue_bytes(&rest[..take]);
        rest = &rest[take..];
    }
}

/// `rounds` streams of `responses` FETCH responses, each literal of up to `max_len` bytes, fed
/// to `fragmentizer()` in random chunks: every message comes out whole.
fn whole_in_any_chunks(
    seed: u64,
    rounds: usize,
    responses: std::ops::Range<u32>,
    max_len: usize,
    fragmentizer: impl Fn() -> Fragmentizer,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..rounds {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for n in 0..rng.random_range(responses.clone()) {
            let len = rng.random_range(0..max_len);
            let (fetch, ok) = response(&mut rng, n as usize, len);
            stream.extend_from_slice(&fetch);
            stream.extend_from_slice(&ok);
            expected.push((fetch, false));
            expected.push((ok, false));
        }
        assert_eq!(
            messages(&mut fragmentizer(), &stream, &mut rng),
            expected,
            "round {round}"
        );
    }
}

#[test]
fn literals_arrive_whole_in_any_chunks() {
    whole_in_any_chunks(7, 100, 1..6, 20_000, Fragmentizer::without_max_message_size);
}

#[test]
fn a_message_over_the_cap_is_cut_at_it_and_marked() {
    let mut rng = StdRng::seed_from_u64(8);
    for round in 0..100 {
        let cap = rng.random_range(10..50_000u32);
        let len = rng.random_range(0..100_000);
        let (fetch, ok) = response(&mut rng, 1, len);
        let stream = [fetch.clone(), ok.clone()].concat();
        let mut fragmentizer = Fragmentizer::new(cap);
        let got = messages(&mut fragmentizer, &stream, &mut rng);
        let over = fetch.len() > cap as usize;
        let kept = fetch[..fetch.len().min(cap as usize)].to_vec();
        assert_eq!(got[0], (kept, over), "round {round}, cap {cap}");
        assert_eq!(got[1], (ok.clone(), false), "round {round}");
    }
}

#[test]
fn large_literals_arrive_whole_when_their_buffers_are_let_go() {
    // Over and under the 1 MiB a buffer is kept at.
    whole_in_any_chunks(9, 8, 2..5, 2_500_000, || Fragmentizer::new(3_000_000));
}
