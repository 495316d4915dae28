//! Sending as the user: one draft the platform submitted, composed with mail-builder and handed
//! to the provider's submission server with the linked account's token (XOAUTH2 or OAUTHBEARER).

mod compose;
mod journal;
mod sent_folder;
pub(crate) mod smtp;
#[cfg(test)]
mod tests;

pub use compose::{compose, reply_subject};

use crate::account::{Account, store, with_linked_access};
use crate::errors::{ErrorKind, MailboxError};
use crate::folders::{self, FolderMapping};
use crate::ports::{Env, Level, SentCopySetting, SubmissionFailure};
use crate::providers::{Provider, parse_submission_endpoint};
use sent_folder::SentFolder;
use smtp::{SmtpFailure, Submitted};

/// An address of a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftAddress {
    pub name: Option<String>,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFile {
    pub filename: String,
    pub mime_type: String,
    pub content: Vec<u8>,
}

/// The CRM message a draft answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepliedMessage {
    pub message_id: String,
    pub references: Vec<String>,
    pub subject: Option<String>,
}

/// One message the platform asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub idempotency_key: String,
    pub message_id: String,
    pub to: Vec<DraftAddress>,
    pub cc: Vec<DraftAddress>,
    pub bcc: Vec<DraftAddress>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<AttachmentFile>,
    pub replies_to: Option<RepliedMessage>,
    /// Seconds since the Unix epoch.
    pub date: i64,
}

impl Draft {
    /// Every recipient's address: to, cc and bcc.
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .map(|a| a.address.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentCopy {
    ByProvider,
    Appended,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// The server accepted it in this call.
    Sent,
    /// The mapped Sent folder already holds it: an earlier attempt was accepted.
    AlreadySent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub message_id: String,
    pub outcome: SendOutcome,
    pub thread_key: String,
    pub sent_copy: SentCopy,
    pub size: u64,
}

/// Why a draft was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    Mailbox(MailboxError),
    InvalidDraft(String),
    /// Each refused address with the server's reply.
    RecipientsRefused(Vec<(String, String)>),
    TooLarge {
        limit: u64,
        actual: u64,
    },
    /// The provider's own sending limit (its reply).
    ProviderLimit(String),
    /// Refused for good (the reply).
    Rejected(String),
    /// Failed for now (why); the outbox tries again.
    Temporary(String),
    /// The submission server refused even a fresh token of the provider (its name): sending is
    /// not allowed for this account, though reading is.
    NotAuthorisedToSend(String),
}

impl From<MailboxError> for SendFailure {
    fn from(e: MailboxError) -> Self {
        SendFailure::Mailbox(e)
    }
}

/// Sends `draft` from the linked mailbox.
pub fn send(env: &Env, draft: &Draft) -> Result<SendReceipt, SendFailure> {
    check_draft(draft)?;
    if journal::holds(env, draft.date, &draft.message_id)? {
        env.log.log(
            Level::Info,
            "the server accepted this message before: not sent again",
            &[],
        );
        return Ok(SendReceipt {
            message_id: draft.message_id.clone(),
            outcome: SendOutcome::AlreadySent,
            thread_key: thread_key(draft),
            sent_copy: SentCopy::None,
            size: 0,
        });
    }
    let mapping: FolderMapping = store::read(env.kv, folders::mapping_key())?.unwrap_or_default();
    let sent = mapping.sent.as_deref();
    // The outer error is the mailbox's (not linked, authorisation lapsed); the inner, the send's.
    // A submission server that refuses even a fresh token refuses sending, not the mailbox
    // (Microsoft tenants switch SMTP AUTH off, a token may lack the sending scope): the send
    // fails, and the mailbox stays linked and syncing.
    let mut attempts = 0;
    with_linked_access(env, |provider, account, token| {
        attempts += 1;
        let first = attempts == 1;
        let refused = || -> Result<Option<Result<SendReceipt, SendFailure>>, ErrorKind> {
            if first {
                Ok(None) // a fresh token, and once more
            } else {
                Ok(Some(Err(SendFailure::NotAuthorisedToSend(
                    provider.display_name.clone(),
                ))))
            }
        };
        let Some(opened) = sent
            .map(|name| sent_folder::open(env, provider, account, token, name))
            .transpose()?
        else {
            return match submit_with_token(env, provider, account, token, draft, None)? {
                None => refused(),
                answer => Ok(answer),
            };
        };
        let Some(mut folder) = opened else {
            return Ok(None); // the token was refused: a fresh one, and again
        };
        if folder.holds(&draft.message_id)? {
            folder.close();
            env.log.log(
                Level::Info,
                "the message is in Sent already: not sent again",
                &[("provider", &provider.id)],
            );
            return Ok(Some(Ok(SendReceipt {
                message_id: draft.message_id.clone(),
                outcome: SendOutcome::AlreadySent,
                thread_key: thread_key(draft),
                sent_copy: SentCopy::None,
                size: 0,
            })));
        }
        let outcome = submit_with_token(env, provider, account, token, draft, Some(&mut folder));
        folder.close();
        match outcome? {
            None => refused(),
            answer => Ok(answer),
        }
    })?
}

/// One attempt with `token`: `Ok(None)` when the submission server refused the token; the inner
/// result is the send's own outcome.
fn submit_with_token(
    env: &Env,
    provider: &Provider,
    account: &Account,
    token: &str,
    draft: &Draft,
    sent: Option<&mut SentFolder>,
) -> Result<Option<Result<SendReceipt, SendFailure>>, ErrorKind> {
    let (address, username) = (&account.address, &account.settings.username);
    let Some(endpoint) = provider
        .submission
        .as_deref()
        .and_then(parse_submission_endpoint)
    else {
        return Ok(Some(Err(SendFailure::Rejected(format!(
            "{} has no submission server in the CRM's settings",
            provider.display_name
        )))));
    };
    let message = match compose(address, draft) {
        Ok(message) => message,
        Err(e) => return Ok(Some(Err(SendFailure::InvalidDraft(e.to_string())))),
    };
    let recipients: Vec<&str> = draft.recipients().collect();
    let submitted = smtp::submit(
        env.submission,
        &endpoint,
        username,
        token,
        address,
        &recipients,
        &message,
    );
    Ok(Some(match submitted {
        Ok(Submitted::Accepted) => {
            let searchable = sent.is_some();
            let copy = keep_copy(env, provider, sent, &message);
            // No copy a later attempt could find in Sent: the journal keeps that it went.
            if !searchable || copy == SentCopy::None {
                journal::record(env, draft.date, &draft.message_id);
            }
            env.log.log(
                Level::Info,
                "message submitted",
                &[
                    ("provider", &provider.id),
                    ("recipients", &recipients.len().to_string()),
                ],
            );
            Ok(SendReceipt {
                message_id: draft.message_id.clone(),
                outcome: SendOutcome::Sent,
                thread_key: thread_key(draft),
                sent_copy: copy,
                size: message.len() as u64,
            })
        }
        Ok(Submitted::TokenRejected) => return Ok(None),
        Err(failure) => Err(send_failure(failure)),
    }))
}

/// The copy in Sent of a message the server accepted: Gmail and Microsoft keep what is
/// submitted over SMTP themselves; for any other provider (or where the administrator says so)
/// it is appended to the mapped Sent folder, which was just found not to hold it. The message
/// is sent whatever happens here: a failed append is logged, never an error (an error would
/// have the message sent again).
fn keep_copy(
    env: &Env,
    provider: &Provider,
    sent: Option<&mut SentFolder>,
    message: &[u8],
) -> SentCopy {
    let by_provider = matches!(provider.id.as_str(), "google" | "microsoft");
    match (provider.sent_copy, sent) {
        (SentCopySetting::None, _) => SentCopy::None,
        (SentCopySetting::Auto, _) if by_provider => SentCopy::ByProvider,
        (_, None) => SentCopy::None,
        (_, Some(folder)) => match folder.append(message) {
            Ok(()) => SentCopy::Appended,
            Err(e) => {
                env.log.log(
                    Level::Warn,
                    "the message was sent, but its copy could not be added to Sent",
                    &[("provider", &provider.id), ("error", &format!("{e:?}"))],
                );
                SentCopy::None
            }
        },
    }
}

/// The thread the message joins, as normalisation names it: the first reference, else the
/// message replied to, else the message itself.
fn thread_key(draft: &Draft) -> String {
    match &draft.replies_to {
        Some(replied) => replied
            .references
            .first()
            .unwrap_or(&replied.message_id)
            .clone(),
        None => draft.message_id.clone(),
    }
}

fn check_draft(draft: &Draft) -> Result<(), SendFailure> {
    let invalid = |why: String| Err(SendFailure::InvalidDraft(why));
    if draft.recipients().next().is_none() {
        return invalid("the draft has no recipient".into());
    }
    if let Some(bad) = draft.recipients().find(|a| !plausible_address(a)) {
        return invalid(format!("\"{bad}\" is not an e-mail address"));
    }
    if !plausible_message_id(&draft.message_id) {
        return invalid("the draft's Message-ID is not of the form id@domain".into());
    }
    Ok(())
}

/// `local@domain`, with no space, angle bracket or control character that could break the
/// envelope or the header.
fn plausible_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && address
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !matches!(c, '<' | '>' | ',' | ';'))
}

fn plausible_message_id(id: &str) -> bool {
    id.contains('@')
        && id.len() <= 250
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'))
}

fn send_failure(f: SmtpFailure) -> SendFailure {
    match f {
        SmtpFailure::Unreachable(why) => SendFailure::Temporary(why),
        SmtpFailure::Refused(why) => SendFailure::Rejected(why),
        SmtpFailure::RecipientsRefused(list) => SendFailure::RecipientsRefused(list),
        SmtpFailure::TooLarge { limit, actual } => SendFailure::TooLarge { limit, actual },
        SmtpFailure::TooManyRecipients { limit } => {
            SendFailure::InvalidDraft(format!("more than {limit} recipients in one message"))
        }
        SmtpFailure::Reply { code, text } => {
            let reply = format!("{code} {text}");
            if code == 550 && text.contains("5.4.5") {
                SendFailure::ProviderLimit(reply)
            } else if code == 552 {
                SendFailure::TooLarge {
                    limit: 0,
                    actual: 0,
                }
            } else if (400..500).contains(&code) {
                SendFailure::Temporary(reply)
            } else {
                SendFailure::Rejected(reply)
            }
        }
    }
}

impl From<SubmissionFailure> for SmtpFailure {
    fn from(e: SubmissionFailure) -> Self {
        match e {
            SubmissionFailure::Refused(why) => SmtpFailure::Refused(why),
            SubmissionFailure::TooLarge { limit, actual } => {
                SmtpFailure::TooLarge { limit, actual }
            }
            SubmissionFailure::TooManyRecipients { limit } => {
                SmtpFailure::TooManyRecipients { limit }
            }
            SubmissionFailure::Unreachable(why) => SmtpFailure::Unreachable(why),
        }
    }
}
