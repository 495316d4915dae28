//! The `folders` export: WIT records to and from the folders module's domain types; the
//! conversion only, the logic stays in `folders`.

use super::Component;
use super::bindings::exports::crm::mail_sync::folders as wit;
use super::bindings::exports::crm::mail_sync::mailbox::MailboxError;
use super::host::with_env;
use super::mailbox::{error, mapping_problem, message};
use crate::folders as domain;
use crate::imap::{RemoteFolder, SpecialUse};

impl wit::Guest for Component {
    fn list_remote() -> Result<Vec<wit::RemoteFolder>, MailboxError> {
        with_env(|env| {
            domain::list_remote(env)
                .map(|folders| folders.into_iter().map(folder).collect())
                .map_err(error)
        })
    }

    fn suggest() -> Result<wit::FolderMapping, MailboxError> {
        with_env(|env| domain::suggest_mapping(env).map(mapping).map_err(error))
    }

    fn get_mapping() -> Result<wit::MappingStatus, MailboxError> {
        with_env(|env| domain::get_mapping(env).map(status).map_err(error))
    }

    fn set_mapping(m: wit::FolderMapping) -> Result<wit::MappingStatus, MailboxError> {
        let m = domain::FolderMapping {
            inbox: m.inbox,
            archive: m.archive,
            deleted: m.deleted,
            sent: m.sent,
        };
        with_env(|env| domain::set_mapping(env, &m).map(status).map_err(error))
    }
}

fn folder(f: RemoteFolder) -> wit::RemoteFolder {
    wit::RemoteFolder {
        name: f.name,
        delimiter: f.delimiter.map(String::from),
        special_use: f
            .special_use
            .into_iter()
            .map(|u| match u {
                SpecialUse::Inbox => wit::SpecialUse::Inbox,
                SpecialUse::All => wit::SpecialUse::All,
                SpecialUse::Archive => wit::SpecialUse::Archive,
                SpecialUse::Drafts => wit::SpecialUse::Drafts,
                SpecialUse::Flagged => wit::SpecialUse::Flagged,
                SpecialUse::Important => wit::SpecialUse::Important,
                SpecialUse::Junk => wit::SpecialUse::Junk,
                SpecialUse::Sent => wit::SpecialUse::Sent,
                SpecialUse::Trash => wit::SpecialUse::Trash,
            })
            .collect(),
        selectable: f.selectable,
    }
}

fn mapping(m: domain::FolderMapping) -> wit::FolderMapping {
    wit::FolderMapping {
        inbox: m.inbox,
        archive: m.archive,
        deleted: m.deleted,
        sent: m.sent,
    }
}

fn status(s: domain::MappingStatus) -> wit::MappingStatus {
    wit::MappingStatus {
        mapping: mapping(s.mapping),
        problems: s
            .problems
            .into_iter()
            .map(|p| wit::ReportedProblem {
                message: message(p.message()),
                problem: mapping_problem(p),
            })
            .collect(),
        listed_at: s.listed_at,
    }
}
