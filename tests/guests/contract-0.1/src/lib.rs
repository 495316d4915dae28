//! A plugin built against `crm:mail-sync@0.1.0` (`wit/since_v0.1.0`, the last release's contract):
//! `sync-once` uses the imports a syncing plugin uses (config, storage, log, inbox), `normalize`
//! writes the IMAP commands named in its input, and the panel answers "not linked".

#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    world: "mail-sync-plugin",
    path: "../../../wit/since_v0.1.0",
});

use crm::mail_sync::{config, imap_socket, inbox, log, message as m, storage};
use exports::crm::mail_sync::mailbox::{ErrorKind, MailboxError, UserMessage};
use exports::crm::mail_sync::sync::{FolderReport, SyncReport, WatchReport};

struct Old;

fn record(key: &str, text: String) -> m::MessageRecord {
    m::MessageRecord {
        dedupe_key: key.into(),
        message_id: format!("{key}@example.nl"),
        message_id_derived: false,
        in_reply_to: vec![],
        references: vec![],
        thread_key: format!("{key}@example.nl"),
        subject: Some(format!("old contract {key}")),
        from: vec![m::MailboxAddress {
            name: None,
            address: "bob@example.nl".into(),
        }],
        sender: vec![],
        reply_to: vec![],
        to: vec![],
        cc: vec![],
        bcc: vec![],
        date: m::MessageDate {
            utc: "2026-12-01T09:00:00Z".into(),
            offset_minutes: Some(0),
            source: m::DateSource::Header,
        },
        snippet: text.chars().take(200).collect(),
        text_body: text,
        html_body: None,
        attachments: vec![],
        classification: m::Classification {
            auto_reply: false,
            mailing_list: false,
            bulk: false,
            auto_submitted: None,
            precedence: None,
            list_id: None,
        },
        size: 10,
        direction: m::Direction::Inbound,
        truncated: false,
        warnings: vec![],
    }
}

impl exports::crm::mail_sync::sync::Guest for Old {
    /// Delivers one record per run, numbered by a counter kept in storage.
    fn sync_once() -> Result<SyncReport, MailboxError> {
        let limits = config::settings().limits;
        let runs = storage::get("runs").ok().flatten().map_or(0, |v| v.len());
        storage::set("runs", &vec![1u8; runs + 1]).map_err(|_| refused())?;
        log::log(log::Level::Info, "old contract sync", &[]);
        let delivery = inbox::Delivery {
            record: record(&format!("old-{runs}"), format!("batch cap {}", limits.max_delivery_batch)),
            crm_folder: m::CrmFolder::Inbox,
            location: inbox::Location {
                remote_folder: "INBOX".into(),
                uid_validity: 1,
                uid: runs as u32 + 1,
            },
            flags: inbox::MessageFlags {
                seen: false,
                answered: false,
                flagged: false,
                draft: false,
            },
            gmail: None,
        };
        let progress = inbox::Progress {
            remote_folder: "INBOX".into(),
            crm_folder: m::CrmFolder::Inbox,
            done: 1,
            total: 1,
            bytes: 10,
        };
        let report = inbox::deliver(&[delivery], &progress).map_err(|_| refused())?;
        Ok(SyncReport {
            started_at: "2026-12-01T09:00:00Z".into(),
            folders: vec![FolderReport {
                crm_folder: m::CrmFolder::Inbox,
                remote_folder: "INBOX".into(),
                created: report.created,
                updated: report.updated,
                removed: 0,
                skipped: report.unchanged,
                truncated: 0,
                bytes: 10,
                uid_validity_reset: false,
                first_sync: runs == 0,
                error: None,
                millis: 1,
            }],
            complete: true,
            imap_commands: 0,
            millis: 1,
        })
    }

    fn watch(_stop: bool) -> Result<WatchReport, MailboxError> {
        Err(refused())
    }
}

impl exports::crm::mail_sync::normalize::Guest for Old {
    /// `PORT|LINE|LINE...`: each line written to a plain loopback connection; the outcomes, in
    /// the record's text.
    fn normalize(message: exports::crm::mail_sync::normalize::RawMessage, _: String) -> m::MessageRecord {
        let argument = String::from_utf8_lossy(&message.bytes).into_owned();
        let mut parts = argument.split('|');
        let port = parts.next().and_then(|p| p.parse().ok()).unwrap_or(143);
        let outcome = match imap_socket::open("127.0.0.1", port, imap_socket::Security::Plain) {
            Ok(conn) => parts
                .map(|line| match conn.write(format!("{line}\r\n").as_bytes()) {
                    Ok(()) => "ok".to_string(),
                    Err(imap_socket::SocketError::InvalidState(_)) => "invalid-state".to_string(),
                    Err(e) => format!("failed {e:?}"),
                })
                .collect::<Vec<_>>()
                .join(","),
            Err(e) => format!("failed {e:?}"),
        };
        record("normalized", outcome)
    }

    fn normalize_job(job: crm::mail_sync::normalizer::Job) -> m::MessageRecord {
        record("job", String::from_utf8_lossy(&job.bytes).into_owned())
    }
}

fn refused() -> MailboxError {
    MailboxError {
        kind: ErrorKind::NotLinked,
        message: UserMessage {
            key: "mailbox.not_linked".into(),
            params: vec![],
            en: "not linked".into(),
            nl: "niet gekoppeld".into(),
        },
    }
}

mod panel {
    use super::exports::crm::mail_sync::folders::{self, FolderMapping, MappingStatus, RemoteFolder};
    use super::exports::crm::mail_sync::mailbox::*;

    impl Guest for super::Old {
        fn status() -> Result<MailboxStatus, MailboxError> {
            Err(super::refused())
        }
        fn link_start(_: LinkRequest) -> Result<LinkStarted, MailboxError> {
            Err(super::refused())
        }
        fn link_complete(_: String, _: Vec<(String, String)>) -> Result<MailboxStatus, MailboxError> {
            Err(super::refused())
        }
        fn unlink() -> Result<Unlinked, MailboxError> {
            Err(super::refused())
        }
        fn set_settings(_: ManualSettings) -> Result<MailboxStatus, MailboxError> {
            Err(super::refused())
        }
        fn check_access(_: bool) -> Result<AccessChecked, MailboxError> {
            Err(super::refused())
        }
    }

    impl folders::Guest for super::Old {
        fn list_remote() -> Result<Vec<RemoteFolder>, MailboxError> {
            Err(super::refused())
        }
        fn suggest() -> Result<FolderMapping, MailboxError> {
            Err(super::refused())
        }
        fn get_mapping() -> Result<MappingStatus, MailboxError> {
            Err(super::refused())
        }
        fn set_mapping(_: FolderMapping) -> Result<MappingStatus, MailboxError> {
            Err(super::refused())
        }
    }
}

export!(Old);
