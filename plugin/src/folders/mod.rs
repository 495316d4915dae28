//! "Edit folders": the mailbox's folders fetched over IMAP with the linked account's token, the
//! mapping their special-use attributes suggest, and the saved mapping of the CRM's inbox,
//! archive, deleted and sent folders (each to one remote folder, or to none).

mod mapping;
mod suggest;

use serde::{Deserialize, Serialize};

pub use mapping::problems;
pub use suggest::suggest;

pub use crate::model::CrmFolder;

use crate::account::store;
use crate::account::{Account, with_linked_access};
use crate::errors::{ErrorKind, MailboxError, MappingProblem};
use crate::imap::{self, AuthOutcome, ImapError, RemoteFolder};
use crate::normalize::dates::utc_rfc3339;
use crate::ports::{Env, Level, SocketFailure};
use crate::providers::{ImapEndpoint, Provider};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderMapping {
    pub inbox: Option<String>,
    pub archive: Option<String>,
    pub deleted: Option<String>,
    pub sent: Option<String>,
}

impl FolderMapping {
    /// The CRM folders in sync priority order, with the remote folder each maps to.
    pub fn entries(&self) -> [(CrmFolder, Option<&str>); 4] {
        [
            (CrmFolder::Inbox, self.inbox.as_deref()),
            (CrmFolder::Sent, self.sent.as_deref()),
            (CrmFolder::Archive, self.archive.as_deref()),
            (CrmFolder::Deleted, self.deleted.as_deref()),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingStatus {
    pub mapping: FolderMapping,
    pub problems: Vec<MappingProblem>,
    pub listed_at: Option<String>,
}

/// Fetches the folders from the server, and remembers them for the mapping's status.
pub fn list_remote(env: &Env) -> Result<Vec<RemoteFolder>, MailboxError> {
    let folders = with_linked_access(env, |provider, account, token| {
        fetch_folders(env, provider, account, token)
    })?;
    let listed = mapping::Listed {
        at: env.now,
        folders: folders.clone(),
    };
    env.kv
        .batch(vec![store::set(mapping::LISTED_KEY, &listed)])?;
    Ok(folders)
}

/// One IMAP session: log in, LIST, LOGOUT. `Ok(None)` when the server rejected the token.
fn fetch_folders(
    env: &Env,
    provider: &Provider,
    account: &Account,
    token: &str,
) -> Result<Option<Vec<RemoteFolder>>, ErrorKind> {
    let Some(mut session) = logged_in(env, provider, account, token)? else {
        return Ok(None);
    };
    let folders = imap::list_folders(&mut session).map_err(imap_kind)?;
    session.logout();
    Ok(Some(folders))
}

/// A session with the account's IMAP server (connect, identify, authenticate with `token`);
/// `Ok(None)` when the server rejected the token.
pub(crate) fn logged_in(
    env: &Env,
    provider: &Provider,
    account: &Account,
    token: &str,
) -> Result<Option<imap::Session>, ErrorKind> {
    let endpoint = ImapEndpoint {
        host: account.settings.imap_host.clone(),
        port: account.settings.imap_port,
        security: account.settings.security,
    };
    let mut session = imap::connect(env.imap, &endpoint).map_err(imap_kind)?;
    imap::identify(&mut session).map_err(imap_kind)?;
    match imap::authenticate(&mut session, &account.settings.username, token).map_err(imap_kind)? {
        AuthOutcome::Accepted => Ok(Some(session)),
        AuthOutcome::Rejected(text) => {
            env.log.log(
                Level::Info,
                "IMAP server rejected the access token",
                &[("provider", &provider.id), ("server", &text)],
            );
            session.logout();
            Ok(None)
        }
    }
}

/// The storage key of the saved mapping.
pub(crate) fn mapping_key() -> &'static str {
    mapping::MAPPING_KEY
}

pub fn suggest_mapping(env: &Env) -> Result<FolderMapping, MailboxError> {
    Ok(suggest(&list_remote(env)?))
}

/// The saved mapping, with what no longer holds as of the folders last listed.
pub fn get_mapping(env: &Env) -> Result<MappingStatus, MailboxError> {
    let saved: FolderMapping = store::read(env.kv, mapping::MAPPING_KEY)?.unwrap_or_default();
    let listed: Option<mapping::Listed> = store::read(env.kv, mapping::LISTED_KEY)?;
    Ok(MappingStatus {
        problems: listed
            .as_ref()
            .map(|l| problems(&saved, &l.folders))
            .unwrap_or_default(),
        listed_at: listed.map(|l| utc_rfc3339(l.at)),
        mapping: saved,
    })
}

/// Validates `mapping` against the server's folders now, and saves it.
pub fn set_mapping(env: &Env, mapping: &FolderMapping) -> Result<MappingStatus, MailboxError> {
    let folders = list_remote(env)?;
    if let Some(problem) = problems(mapping, &folders).into_iter().next() {
        return Err(MailboxError::new(ErrorKind::MappingInvalid(problem), ""));
    }
    env.kv
        .batch(vec![store::set(mapping::MAPPING_KEY, mapping)])?;
    env.log.log(Level::Info, "folder mapping saved", &[]);
    get_mapping(env)
}

/// The error kind the user sees for an IMAP failure.
pub(crate) fn imap_kind(e: ImapError) -> ErrorKind {
    match e {
        ImapError::Socket(SocketFailure::Refused(r)) => ErrorKind::DestinationRefused(r),
        ImapError::Socket(SocketFailure::Tls(m)) => ErrorKind::ImapTlsFailed(m),
        ImapError::Socket(SocketFailure::Unreachable(m)) => ErrorKind::ImapUnreachable(m),
        ImapError::Socket(SocketFailure::Closed) => {
            ErrorKind::ImapUnreachable("the server closed the connection".into())
        }
        ImapError::Socket(SocketFailure::Other(m)) => ErrorKind::ImapUnreachable(m),
        ImapError::Protocol(m) => ErrorKind::ImapProtocol(m),
        ImapError::Unavailable(m) => ErrorKind::ImapUnreachable(m),
        ImapError::Throttled(m) => ErrorKind::ImapThrottled(m),
    }
}
