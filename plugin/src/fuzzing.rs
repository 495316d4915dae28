//! The parsers of hostile input, reached from the fuzz targets in `plugin/fuzz/` (with the
//! `fuzzing` feature only): what a server or a sender controls goes in, and nothing may panic.

use imap_next::{Interrupt, Io, State};

pub use crate::imap::raw_fetch::read_fetch;
pub use crate::imap::utf7;
pub use crate::normalize::header_repair::repair_header_block;
pub use crate::normalize::normalize;
pub use crate::record::RawMessage;

/// Reads `bytes` as a server's answers, with the session's own reader (imap-next's client, the
/// session's options and response cap), until it needs more input or gives up; how many
/// answers it read.
pub fn read_server_answers(bytes: &[u8]) -> usize {
    let mut client = crate::imap::session::reader_for_fuzzing();
    client.enqueue_input(bytes);
    let mut answers = 0;
    // Each round reads an answer or consumes input, so this ends; the bound only guards it.
    for _ in 0..=bytes.len() + 1 {
        match client.next() {
            Ok(_) => answers += 1,
            Err(Interrupt::Io(Io::NeedMoreInput)) => break,
            Err(Interrupt::Io(Io::Output(_))) => {}
            Err(Interrupt::Error(_)) => break,
        }
    }
    answers
}

/// Runs one submission against a server that answers with `bytes`, whatever the plugin writes:
/// whether it ended (it always must, with an outcome or a failure).
pub fn submit_against_replies(bytes: &[u8]) -> bool {
    let server = crate::send::smtp::ScriptedServer::new(bytes);
    let _ = crate::send::smtp::submit_to(&server);
    true
}
