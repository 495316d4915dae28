//! A Gmail-like IMAP server for the sync proofs: `X-GM-EXT-1` and CONDSTORE without QRESYNC,
//! one message under several labels (the same X-GM-MSGID under another UID in each folder),
//! answering only what sync asks, and keeping the commands it was sent. Dovecot has no Gmail
//! extensions, so this script stands in for them. It is as strict as Gmail where sync relies on
//! it: SEARCH honours SINCE, UID ranges and LARGER, and a body fetch without PEEK is refused
//! (Gmail would mark the message read).

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
    /// When Gmail received it, as IMAP writes it (`24-Nov-2026 10:00:00 +0000`).
    pub internal_date: &'static str,
}

/// A folder: its name, its special-use attribute, and its messages by UID (1, 2, ...).
#[derive(Clone)]
pub struct GmailFolder {
    pub name: &'static str,
    pub special_use: &'static str,
    pub messages: Vec<GmailMessage>,
    /// Drop the connection once this many message bodies of the folder were sent on it (once:
    /// the server forgets it when it cuts).
    pub cut_after_bodies: Option<usize>,
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

/// The UIDs of a set such as `1:2,4` or `5:*` (`*` is the highest UID; `5:*` is `*:5`).
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
    let mut bodies_sent = 0;
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
            bodies_sent = 0;
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
        } else if let Some(criteria) = upper.strip_prefix("UID SEARCH") {
            let f = selected.as_ref().expect("a folder is selected");
            match search(f, criteria) {
                Ok(found) => {
                    out.push_str("* SEARCH");
                    for uid in found {
                        out.push_str(&format!(" {uid}"));
                    }
                    out.push_str("\r\n");
                }
                Err(criterion) => {
                    let refusal = format!("{tag} BAD Could not parse command: {criterion}\r\n");
                    stream.write_all(refusal.as_bytes()).await?;
                    continue;
                }
            }
        } else if (upper.contains("BODY[")
            || upper.contains("RFC822 ")
            || upper.contains("RFC822)"))
            && upper.starts_with("UID FETCH")
        {
            // Gmail would mark the messages read: sync must only ever PEEK.
            let refusal = format!("{tag} BAD [CLIENTBUG] a body fetch without PEEK\r\n");
            stream.write_all(refusal.as_bytes()).await?;
            continue;
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
                    // `BODY.PEEK[HEADER]` for a message over the size limit, else the whole.
                    let (section, body) = if upper.contains("BODY.PEEK[HEADER]") {
                        ("HEADER", header_of(&m.raw))
                    } else {
                        ("", &m.raw[..])
                    };
                    bytes.extend(
                        format!(
                            "* {uid} FETCH (UID {uid} FLAGS ({flags}) INTERNALDATE \"{}\" RFC822.SIZE {} BODY[{section}] {{{}}}\r\n",
                            m.internal_date,
                            m.raw.len(),
                            body.len()
                        )
                        .as_bytes(),
                    );
                    bytes.extend(body);
                    bytes.extend(b")\r\n");
                    bodies_sent += 1;
                    if f.cut_after_bodies == Some(bodies_sent) {
                        forget_cut(&mailbox, f.name);
                        return stream.write_all(&bytes).await;
                    }
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

/// The cut of folder `name` happened: the next connections go on to the end.
fn forget_cut(mailbox: &Mailbox, name: &str) {
    let mut folders = mailbox.lock().expect("mailbox");
    if let Some(folder) = folders.iter_mut().find(|f| f.name == name) {
        folder.cut_after_bodies = None;
    }
}

/// The UIDs of `folder` that `criteria` finds (`SINCE 1-Jan-2024`, `UID 5:*`, `LARGER 1000`, all
/// of them ANDed), or the criterion this server does not know.
fn search(folder: &GmailFolder, criteria: &str) -> Result<Vec<usize>, String> {
    let mut found: Vec<usize> = (1..=folder.messages.len())
        .filter(|uid| !folder.messages[uid - 1].expunged)
        .collect();
    let mut words = criteria.split_whitespace();
    while let Some(word) = words.next() {
        let value = words.next().ok_or_else(|| word.to_string())?;
        match word {
            "SINCE" => {
                let since = day(value).ok_or_else(|| value.to_string())?;
                found.retain(|uid| {
                    day(folder.messages[uid - 1].internal_date).is_some_and(|d| d >= since)
                });
            }
            "LARGER" => {
                let size: usize = value.parse().map_err(|_| value.to_string())?;
                found.retain(|uid| folder.messages[uid - 1].raw.len() > size);
            }
            "UID" => {
                let last = folder.messages.len();
                let within = uids(value, last);
                found.retain(|uid| within.contains(uid));
            }
            other => return Err(other.to_string()),
        }
    }
    Ok(found)
}

/// `24-Nov-2026` (and any time after it) as (year, month, day), for comparing.
fn day(date: &str) -> Option<(u32, u32, u32)> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let date = date.split_whitespace().next()?;
    let mut parts = date.split('-');
    let d = parts.next()?.parse().ok()?;
    let month = parts.next()?.to_ascii_uppercase();
    let m = MONTHS.iter().position(|name| *name == month)? as u32 + 1;
    let y = parts.next()?.parse().ok()?;
    Some((y, m, d))
}

/// A message's header block, up to and with the blank line that ends it.
fn header_of(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw, |end| &raw[..end + 4])
}
