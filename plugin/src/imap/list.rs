//! The mailbox's folders: LIST with special-use attributes (`RETURN (SPECIAL-USE)` where the
//! server has SPECIAL-USE; Gmail sends them on every LIST), the delimiter, selectability, and the
//! name decoded from modified UTF-7.

use imap_next::imap_types::command::CommandBody;
use imap_next::imap_types::flag::FlagNameAttribute;
use imap_next::imap_types::mailbox::Mailbox;
use imap_next::imap_types::response::Data;

use super::{ImapError, Session, utf7};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SpecialUse {
    Inbox,
    All,
    Archive,
    Drafts,
    Flagged,
    Important,
    Junk,
    Sent,
    Trash,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoteFolder {
    /// Decoded to UTF-8.
    pub name: String,
    pub delimiter: Option<char>,
    pub special_use: Vec<SpecialUse>,
    pub selectable: bool,
}

pub fn list_folders(session: &mut Session) -> Result<Vec<RemoteFolder>, ImapError> {
    session.capabilities()?;
    let answer = if session.has_capability("SPECIAL-USE") {
        session.raw_command("LIST \"\" \"*\" RETURN (SPECIAL-USE)")?
    } else {
        let list = CommandBody::list("", "*")
            .map_err(|_| ImapError::Protocol("cannot build LIST".into()))?;
        session.command(list)?
    };
    if !answer.is_ok() {
        return Err(ImapError::Protocol(format!(
            "LIST failed: {}",
            answer.describe()
        )));
    }
    let mut folders = Vec::new();
    for data in &answer.data {
        if let Data::List {
            items,
            delimiter,
            mailbox,
        } = data
        {
            folders.push(folder(
                items,
                delimiter.as_ref().map(|d| d.inner()),
                mailbox,
            )?);
        }
    }
    Ok(folders)
}

fn folder(
    items: &[FlagNameAttribute<'_>],
    delimiter: Option<char>,
    mailbox: &Mailbox<'_>,
) -> Result<RemoteFolder, ImapError> {
    let (name, mut special_use) = match mailbox {
        Mailbox::Inbox => ("INBOX".to_string(), vec![SpecialUse::Inbox]),
        Mailbox::Other(other) => {
            let raw: &[u8] = other.as_ref();
            let name = utf7::decode(raw).ok_or_else(|| {
                ImapError::Protocol(format!(
                    "a folder name is not modified UTF-7: {}",
                    String::from_utf8_lossy(raw)
                ))
            })?;
            (name, Vec::new())
        }
    };
    let mut selectable = true;
    for item in items {
        let attribute = item.to_string().to_ascii_lowercase();
        match attribute.as_str() {
            "\\noselect" | "\\nonexistent" => selectable = false,
            "\\all" => special_use.push(SpecialUse::All),
            "\\archive" => special_use.push(SpecialUse::Archive),
            "\\drafts" => special_use.push(SpecialUse::Drafts),
            "\\flagged" => special_use.push(SpecialUse::Flagged),
            "\\important" => special_use.push(SpecialUse::Important),
            "\\junk" => special_use.push(SpecialUse::Junk),
            "\\sent" => special_use.push(SpecialUse::Sent),
            "\\trash" => special_use.push(SpecialUse::Trash),
            _ => {}
        }
    }
    Ok(RemoteFolder {
        name,
        delimiter,
        special_use,
        selectable,
    })
}
