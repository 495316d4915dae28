//! The suggested mapping: from special-use attributes only, never from names, so a Gmail account
//! in Dutch (`[Gmail]/Prullenbak`) or an old `[Google Mail]/…` one gets the same suggestion.

use super::FolderMapping;
use crate::imap::{RemoteFolder, SpecialUse};

pub fn suggest(folders: &[RemoteFolder]) -> FolderMapping {
    let with = |uses: &[SpecialUse]| {
        uses.iter().find_map(|wanted| {
            folders
                .iter()
                .find(|f| f.selectable && f.special_use.contains(wanted))
                .map(|f| f.name.clone())
        })
    };
    FolderMapping {
        inbox: with(&[SpecialUse::Inbox]),
        // Gmail has no \Archive: archiving removes the Inbox label, so "All Mail" is the archive.
        archive: with(&[SpecialUse::Archive, SpecialUse::All]),
        deleted: with(&[SpecialUse::Trash]),
        sent: with(&[SpecialUse::Sent]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, uses: &[SpecialUse]) -> RemoteFolder {
        RemoteFolder {
            name: name.into(),
            delimiter: Some('/'),
            special_use: uses.to_vec(),
            selectable: true,
        }
    }

    #[test]
    fn a_localised_gmail_account_is_mapped_by_attribute() {
        let mut gmail_root = folder("[Gmail]", &[]);
        gmail_root.selectable = false;
        let folders = [
            folder("INBOX", &[SpecialUse::Inbox]),
            gmail_root,
            folder("[Gmail]/Alle berichten", &[SpecialUse::All]),
            folder("[Gmail]/Prullenbak", &[SpecialUse::Trash]),
            folder("[Gmail]/Verzonden berichten", &[SpecialUse::Sent]),
            folder("[Gmail]/Belangrijk", &[SpecialUse::Important]),
            folder("Archive", &[]),
        ];
        assert_eq!(
            suggest(&folders),
            FolderMapping {
                inbox: Some("INBOX".into()),
                archive: Some("[Gmail]/Alle berichten".into()),
                deleted: Some("[Gmail]/Prullenbak".into()),
                sent: Some("[Gmail]/Verzonden berichten".into()),
            }
        );
    }

    #[test]
    fn archive_is_preferred_to_all_and_names_alone_suggest_nothing() {
        let folders = [
            folder("Alles", &[SpecialUse::All]),
            folder("Archief", &[SpecialUse::Archive]),
            folder("Trash", &[]),
        ];
        let s = suggest(&folders);
        assert_eq!(s.archive.as_deref(), Some("Archief"));
        assert_eq!(
            s.deleted, None,
            "a folder named Trash without \\Trash is not suggested"
        );
    }
}
