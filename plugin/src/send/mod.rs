//! Sending as the user: one draft the platform submitted, composed with mail-builder and handed
//! to the provider's submission server with the linked account's token (XOAUTH2 or OAUTHBEARER).

mod compose;
pub(crate) mod smtp;
#[cfg(test)]
mod tests;

pub use compose::{compose, reply_subject};

use crate::account::with_linked_access;
use crate::errors::{ErrorKind, MailboxError};
use crate::ports::{Env, Level, SentCopySetting, SubmissionFailure};
use crate::providers::{Provider, parse_submission_endpoint};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub message_id: String,
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
}

impl From<MailboxError> for SendFailure {
    fn from(e: MailboxError) -> Self {
        SendFailure::Mailbox(e)
    }
}

/// Sends `draft` from the linked mailbox.
pub fn send(env: &Env, draft: &Draft) -> Result<SendReceipt, SendFailure> {
    check_draft(draft)?;
    // The outer error is the mailbox's (not linked, authorisation lapsed); the inner, the send's.
    with_linked_access(env, |provider, account, token| {
        submit_with_token(
            env,
            provider,
            &account.address,
            &account.settings.username,
            token,
            draft,
        )
    })?
}

/// One attempt with `token`: `Ok(None)` when the server refused the token (the caller refreshes
/// it and tries once more); the inner result is the send's own outcome.
fn submit_with_token(
    env: &Env,
    provider: &Provider,
    address: &str,
    username: &str,
    token: &str,
    draft: &Draft,
) -> Result<Option<Result<SendReceipt, SendFailure>>, ErrorKind> {
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
    let receipt = |size| SendReceipt {
        message_id: draft.message_id.clone(),
        thread_key: thread_key(draft),
        sent_copy: sent_copy(provider),
        size,
    };
    Ok(Some(match submitted {
        Ok(Submitted::Accepted) => {
            env.log.log(
                Level::Info,
                "message submitted",
                &[
                    ("provider", &provider.id),
                    ("recipients", &recipients.len().to_string()),
                ],
            );
            Ok(receipt(message.len() as u64))
        }
        Ok(Submitted::TokenRejected) => return Ok(None),
        Err(failure) => Err(send_failure(failure)),
    }))
}

/// Where the copy in Sent comes from: Gmail and Microsoft keep what is submitted over SMTP
/// themselves, as may a server the administrator says does.
fn sent_copy(provider: &Provider) -> SentCopy {
    match (provider.sent_copy, provider.id.as_str()) {
        (SentCopySetting::Auto, "google" | "microsoft") => SentCopy::ByProvider,
        (SentCopySetting::None, _) => SentCopy::None,
        // Appending a copy to Sent is not done yet: no copy is made.
        (SentCopySetting::Auto | SentCopySetting::Append, _) => SentCopy::None,
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
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>'))
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
