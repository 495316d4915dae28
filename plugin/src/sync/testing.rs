//! Helpers for sync's native tests: a folder's IMAP answers written out, stored checkpoints, and
//! one folder's run over a scripted server against the in-memory fakes.

use super::checkpoint::{self, Checkpoint};
use super::folder::{FolderSync, Pending};
use super::{CrmFolder, FolderReport, SyncError};
use crate::imap::Session;
use crate::ports::Env;
use crate::ports::fakes::{Fakes, Script, ScriptedConnection, Transcript};

/// A server without CONDSTORE or QRESYNC.
pub const GREETING: &str = "* OK [CAPABILITY IMAP4rev1] ready\r\n";
pub const FOLDER: &str = "INBOX";

/// EXAMINE's answer; `modseq` is the folder's HIGHESTMODSEQ, `extra` untagged lines before it.
pub fn examine_with(validity: u32, uid_next: u32, exists: u32, modseq: Option<u64>) -> String {
    let modseq = modseq.map_or(String::new(), |m| {
        format!("* OK [HIGHESTMODSEQ {m}] modseq\r\n")
    });
    format!(
        "* {exists} EXISTS\r\n* OK [UIDVALIDITY {validity}] uids\r\n\
         * OK [UIDNEXT {uid_next}] next\r\n{modseq}{{tag}} OK [READ-ONLY] done\r\n"
    )
}

pub fn examine(validity: u32, uid_next: u32, exists: u32) -> String {
    examine_with(validity, uid_next, exists, None)
}

/// UID SEARCH's answer.
pub fn search(uids: &[u32]) -> String {
    let found: String = uids.iter().map(|u| format!(" {u}")).collect();
    format!("* SEARCH{found}\r\n{{tag}} OK done\r\n")
}

/// A small message from Bob to Anna.
pub fn message(uid: u32, subject: &str) -> String {
    format!(
        "From: Bob <bob@example.com>\r\nTo: anna@example.nl\r\nSubject: {subject}\r\n\
         Message-ID: <{uid}@example.com>\r\nDate: Sat, 1 Jun 2024 10:00:00 +0000\r\n\r\n\
         Hello, this is message {uid}.\r\n"
    )
}

/// FETCH responses of whole messages (`section` `BODY[]` or `BODY[HEADER]`), untagged.
pub fn fetched_section(section: &str, messages: &[(u32, &str)]) -> String {
    let mut out = String::new();
    for (uid, subject) in messages {
        let body = message(*uid, subject);
        let len = body.len();
        out.push_str(&format!(
            "* {uid} FETCH (UID {uid} FLAGS (\\Seen) INTERNALDATE \"01-Jun-2024 10:00:00 +0000\" \
             RFC822.SIZE {len} {section} {{{len}}}\r\n{body})\r\n"
        ));
    }
    out
}

/// A UID FETCH's whole answer: the messages, then the command's OK.
pub fn fetch(messages: &[(u32, &str)]) -> String {
    fetched_section("BODY[]", messages) + "{tag} OK done\r\n"
}

/// A UID FETCH (UID FLAGS)'s whole answer; `flags` as IMAP writes them (`\\Seen \\Flagged`).
pub fn flags(messages: &[(u32, &str)]) -> String {
    let mut out: String = messages
        .iter()
        .map(|(uid, f)| format!("* {uid} FETCH (UID {uid} FLAGS ({f}))\r\n"))
        .collect();
    out.push_str("{tag} OK done\r\n");
    out
}

/// A checkpoint of a folder synced to `last_uid`, with its first sync's window kept.
pub fn synced(uid_validity: u32, last_uid: u32, exists: Option<u32>) -> Checkpoint {
    Checkpoint {
        uid_validity,
        last_uid,
        synced_since: Some("1-Jan-2024".into()),
        exists,
        ..Checkpoint::default()
    }
}

pub fn save(fakes: &Fakes, c: &Checkpoint) {
    checkpoint::save(&fakes.kv, FOLDER, c).expect("saved");
}

/// The folder's checkpoint as stored.
pub fn stored(fakes: &Fakes) -> Checkpoint {
    checkpoint::load(&fakes.kv, FOLDER)
        .expect("readable")
        .expect("a checkpoint")
}

/// One run of `FOLDER` (the CRM's inbox) over `script`.
pub struct Ran {
    pub outcome: Result<Pending, SyncError>,
    pub report: FolderReport,
    pub transcript: Transcript,
}

impl Ran {
    pub fn pending(&self) -> &Pending {
        match &self.outcome {
            Ok(p) => p,
            Err(e) => panic!("the run failed: {e}"),
        }
    }

    /// Whether any command line written starts with `prefix`.
    pub fn sent(&self, prefix: &str) -> bool {
        self.transcript
            .commands()
            .iter()
            .any(|c| c.starts_with(prefix))
    }
}

pub fn run(fakes: &Fakes, script: Script, qresync: bool) -> Ran {
    run_with(fakes, &fakes.normalizer, script, qresync)
}

/// `run`, handing messages to `normalizer` instead of normalising them all in the call.
pub fn run_with(
    fakes: &Fakes,
    normalizer: &dyn crate::ports::Normalizer,
    script: Script,
    qresync: bool,
) -> Ran {
    let (conn, transcript) = ScriptedConnection::new(script);
    let mut session =
        Session::start(Box::new(conn), crate::imap::MAX_RESPONSE_BYTES).expect("greeting");
    let mut env = fakes.env();
    env.normalizer = normalizer;
    let sync = inbox_sync(&env, FOLDER, qresync);
    let mut report = FolderReport::new(CrmFolder::Inbox, FOLDER);
    let outcome = sync.run(&mut session, &mut report);
    Ran {
        outcome,
        report,
        transcript,
    }
}

/// A run of `folder` as the CRM's inbox, for Anna.
pub fn inbox_sync<'a>(env: &'a Env<'a>, folder: &'a str, qresync: bool) -> FolderSync<'a> {
    FolderSync {
        env,
        crm_folder: CrmFolder::Inbox,
        remote_folder: folder,
        address: "anna@example.nl",
        gmail: false,
        qresync,
    }
}

/// The last UID of every checkpoint written for `FOLDER`, in order.
pub fn checkpoints_written(fakes: &Fakes) -> Vec<u32> {
    let key = format!("{}{FOLDER}", checkpoint::PREFIX);
    let written: Vec<Checkpoint> = fakes.kv.written(&key);
    written.iter().map(|c| c.last_uid).collect()
}

/// An inbox that fails (not for content) every call holding `uid`.
pub fn failing_on(uid: u32) -> crate::ports::fakes::FakeInbox {
    crate::ports::fakes::FakeInbox::judged(move |d| {
        (d.location.uid == uid).then(|| super::InboxFailure {
            refused_content: false,
            message: "the inbox is down".into(),
        })
    })
}
