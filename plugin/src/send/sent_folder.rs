//! The mapped Sent folder, over the session a `send` call may write on: whether it already
//! holds a message (an earlier attempt was accepted), and a copy appended where the provider
//! keeps none.

use imap_next::imap_types::command::CommandBody;
use imap_next::imap_types::flag::Flag;

use crate::account::Account;
use crate::errors::ErrorKind;
use crate::folders::{imap_kind, logged_in};
use crate::imap::examine::{ExamineError, examine, search};
use crate::imap::{ImapError, Session, utf7};
use crate::ports::Env;
use crate::providers::Provider;

pub struct SentFolder {
    session: Session,
    name: String,
}

/// Logs in for `name`; `Ok(None)` when the server refused the token.
pub fn open(
    env: &Env,
    provider: &Provider,
    account: &Account,
    token: &str,
    name: &str,
) -> Result<Option<SentFolder>, ErrorKind> {
    let session = logged_in(env, provider, account, token)?;
    Ok(session.map(|session| SentFolder {
        session,
        name: name.to_string(),
    }))
}

impl SentFolder {
    /// Whether a message with this Message-ID is in the folder (looked at afresh each time).
    pub fn holds(&mut self, message_id: &str) -> Result<bool, ErrorKind> {
        examine(&mut self.session, &self.name, None).map_err(|e| match e {
            ExamineError::Refused(why) => ErrorKind::FolderMissing(format!("{}: {why}", self.name)),
            ExamineError::Imap(e) => imap_kind(e),
        })?;
        // With its brackets, so that `<k1@x>` is not found in `<k10@x>`.
        let criteria = format!("HEADER Message-ID \"<{message_id}>\"");
        let found = search(&mut self.session, &criteria).map_err(imap_kind)?;
        Ok(!found.is_empty())
    }

    /// Appends `message`, marked seen, as a mail client keeps what it sent.
    pub fn append(&mut self, message: &[u8]) -> Result<(), ErrorKind> {
        let body = CommandBody::append(
            utf7::encode(&self.name),
            vec![Flag::Seen],
            None,
            message.to_vec(),
        )
        .map_err(|e| ErrorKind::ImapProtocol(format!("APPEND to {}: {e:?}", self.name)))?;
        let answer = self.session.command(body).map_err(imap_kind)?;
        if answer.is_ok() {
            Ok(())
        } else {
            Err(imap_kind(ImapError::Protocol(format!(
                "APPEND to {} refused: {}",
                self.name,
                answer.describe()
            ))))
        }
    }

    pub fn close(self) {
        self.session.logout();
    }
}
