//! A Gmail-like IMAP server for the sync proofs: `X-GM-EXT-1` and CONDSTORE without QRESYNC,
//! one message under several labels (the same X-GM-MSGID under another UID in each folder),
//! answering only what sync asks, and keeping the commands it was sent. Dovecot has no Gmail
//! extensions, so this script stands in for them.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::tls_server::{TestPki, serve_imaps};

/// A message as Gmail holds it.
#[derive(Clone)]
pub struct GmailMessage {
    pub gm_msgid: u64,
    pub gm_thrid: u64,
    pub labels: &'static str,
    pub seen: bool,
    pub raw: Vec<u8>,
    /// Gone from this folder (archived, deleted); its UID is not reused.
    pub expunged: bool,
    /// The mod-sequence of its last change (CONDSTORE).
    pub modseq: u64,
}

/// A folder: its name, its special-use attribute, and its messages by UID (1, 2, ...).
#[derive(Clone)]
pub struct GmailFolder {
    pub name: &'static str,
    pub special_use: &'static str,
    pub messages: Vec<GmailMessage>,
}

/// The server's mailbox, which a test may change between syncs.
pub type Mailbox = Arc<Mutex<Vec<GmailFolder>>>;

/// The command lines the server received, in order.
pub type Commands = Arc<Mutex<Vec<String>>>;

/// Starts the server on a free port; returns `imaps://127.0.0.1:<port>` and what it will be sent.
pub async fn start(pki: &TestPki, folders: Mailbox) -> (String, Commands) {
    start_with(pki, folders, true).await
}

/// As `start`; without `condstore`, the server has no mod-sequences (an older IMAP server).
pub async fn start_with(pki: &TestPki, folders: Mailbox, condstore: bool) -> (String, Commands) {
    let commands = Commands::default();
    let log = commands.clone();
    let endpoint = serve_imaps(pki, move |tls| {
        serve(tls, folders.clone(), log.clone(), condstore)
    })
    .await;
    (endpoint, commands)
}

/// The UIDs of a set such as `1:2,4` (no `*`: sync never sends one with Gmail's items).
fn uids(set: &str, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for part in set.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        let bound = |s: &str| {
            if s == "*" {
                max
            } else {
                s.parse().unwrap_or(0)
            }
        };
        let (a, b) = (bound(a), bound(b));
        out.extend(a.min(b).max(1)..=a.max(b).min(max));
    }
    out
}

async fn serve<S>(
    stream: S,
    mailbox: Mailbox,
    log: Commands,
    condstore: bool,
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    let extra = if condstore { " CONDSTORE" } else { "" };
    stream
        .write_all(
            format!(
                "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 X-GM-EXT-1{extra}] Gimap ready\r\n"
            )
            .as_bytes(),
        )
        .await?;
    let mut selected: Option<GmailFolder> = None;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        let (tag, command) = line.split_once(' ').unwrap_or((line, ""));
        if !command.to_ascii_uppercase().starts_with("AUTHENTICATE") {
            log.lock().expect("log").push(command.to_string());
        }
        let upper = command.to_ascii_uppercase();
        let folders = mailbox.lock().expect("mailbox").clone();
        let mut out = String::new();
        if upper.starts_with("CAPABILITY") {
            out.push_str(&format!(
                "* CAPABILITY IMAP4rev1 X-GM-EXT-1 UIDPLUS{extra}\r\n"
            ));
        } else if upper.starts_with("LIST") {
            for f in &folders {
                out.push_str(&format!(
                    "* LIST (\\HasNoChildren{}) \"/\" \"{}\"\r\n",
                    f.special_use, f.name
                ));
            }
        } else if upper.starts_with("EXAMINE") {
            let name = command.split('"').nth(1).unwrap_or("");
            selected = folders.iter().find(|f| f.name == name).cloned();
            match &selected {
                Some(f) => {
                    out.push_str(&format!(
                        "* {} EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n* OK [UIDNEXT {}] next\r\n",
                        f.messages.iter().filter(|m| !m.expunged).count(),
                        f.messages.len() + 1,
                    ));
                    if condstore {
                        let highest = f.messages.iter().map(|m| m.modseq).max().unwrap_or(1);
                        out.push_str(&format!("* OK [HIGHESTMODSEQ {highest}] modseq\r\n"));
                    }
                }
                None => {
                    stream
                        .write_all(format!("{tag} NO [NONEXISTENT] Unknown Mailbox\r\n").as_bytes())
                        .await?;
                    continue;
                }
            }
        } else if upper.starts_with("UID SEARCH") {
            let f = selected.as_ref().expect("a folder is selected");
            // Everything is recent and small: SINCE and UID ranges find all, LARGER none.
            out.push_str("* SEARCH");
            if !upper.contains("LARGER") {
                for (i, m) in f.messages.iter().enumerate() {
                    if !m.expunged {
                        out.push_str(&format!(" {}", i + 1));
                    }
                }
            }
            out.push_str("\r\n");
        } else if upper.starts_with("UID FETCH") {
            let f = selected.as_ref().expect("a folder is selected");
            let set = command.split(' ').nth(2).unwrap_or("");
            let changed_since: u64 = upper
                .split("CHANGEDSINCE ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches(')').parse().ok())
                .unwrap_or(0);
            let mut bytes = Vec::new();
            for uid in uids(set, f.messages.len()) {
                let m = &f.messages[uid - 1];
                let flags = if m.seen { "\\Seen" } else { "" };
                if m.expunged || m.modseq <= changed_since {
                    continue;
                } else if !upper.contains("BODY") && !upper.contains("X-GM-MSGID") {
                    let modseq = if condstore {
                        format!(" MODSEQ ({})", m.modseq)
                    } else {
                        String::new()
                    };
                    bytes.extend(
                        format!("* {uid} FETCH (UID {uid} FLAGS ({flags}){modseq})\r\n").as_bytes(),
                    );
                } else if upper.contains("X-GM-MSGID") {
                    bytes.extend(
                        format!(
                            "* {uid} FETCH (X-GM-THRID {} X-GM-MSGID {} X-GM-LABELS ({}) UID {uid})\r\n",
                            m.gm_thrid, m.gm_msgid, m.labels
                        )
                        .as_bytes(),
                    );
                } else {
                    bytes.extend(
                        format!(
                            "* {uid} FETCH (UID {uid} FLAGS ({flags}) INTERNALDATE \"24-Nov-2026 10:00:00 +0000\" RFC822.SIZE {} BODY[] {{{}}}\r\n",
                            m.raw.len(),
                            m.raw.len()
                        )
                        .as_bytes(),
                    );
                    bytes.extend(&m.raw);
                    bytes.extend(b")\r\n");
                }
            }
            bytes.extend(format!("{tag} OK Success\r\n").as_bytes());
            stream.write_all(&bytes).await?;
            continue;
        } else if upper.starts_with("LOGOUT") {
            stream
                .write_all(format!("* BYE LOGOUT Requested\r\n{tag} OK 73 good day\r\n").as_bytes())
                .await?;
            return Ok(());
        }
        out.push_str(&format!("{tag} OK Success\r\n"));
        stream.write_all(out.as_bytes()).await?;
    }
}
