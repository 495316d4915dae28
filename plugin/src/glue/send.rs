//! The `send` export: the WIT draft to the domain's, and the domain's outcome to the WIT receipt
//! or a typed error with its message in English and Dutch.

use super::Component;
use super::bindings::exports::crm::mail_sync::send as wit;
use super::host::with_env;
use super::mailbox::{error, message};
use crate::i18n::UserMessage;
use crate::send as domain;

impl wit::Guest for Component {
    fn send(draft: wit::Draft) -> Result<wit::SendReceipt, wit::SendError> {
        let draft = domain_draft(draft);
        with_env(|env| {
            let receipt = domain::send(env, &draft).map_err(send_error)?;
            Ok(wit::SendReceipt {
                message_id: receipt.message_id,
                thread_key: receipt.thread_key,
                outcome: match receipt.outcome {
                    domain::SendOutcome::Sent => wit::SendOutcome::Sent,
                    domain::SendOutcome::AlreadySent => wit::SendOutcome::AlreadySent,
                },
                sent_copy: match receipt.sent_copy {
                    domain::SentCopy::ByProvider => wit::SentCopy::ByProvider,
                    domain::SentCopy::Appended => wit::SentCopy::Appended,
                    domain::SentCopy::None => wit::SentCopy::None,
                },
                size: receipt.size,
            })
        })
    }
}

fn domain_draft(d: wit::Draft) -> domain::Draft {
    let addresses = |list: Vec<super::bindings::crm::mail_sync::message::MailboxAddress>| {
        list.into_iter()
            .map(|a| domain::DraftAddress {
                name: a.name,
                address: a.address,
            })
            .collect()
    };
    domain::Draft {
        idempotency_key: d.idempotency_key,
        message_id: d.message_id,
        to: addresses(d.to),
        cc: addresses(d.cc),
        bcc: addresses(d.bcc),
        subject: d.subject,
        text: d.text,
        html: d.html,
        attachments: d
            .attachments
            .into_iter()
            .map(|a| domain::AttachmentFile {
                filename: a.filename,
                mime_type: a.mime_type,
                content: a.content,
            })
            .collect(),
        replies_to: d.replies_to.map(|r| domain::RepliedMessage {
            message_id: r.message_id,
            references: r.references,
            subject: r.subject,
        }),
        date: chrono::DateTime::parse_from_rfc3339(&d.date)
            .map(|t| t.timestamp())
            .unwrap_or(0),
    }
}

fn said(
    key: &'static str,
    params: Vec<(&'static str, String)>,
) -> super::bindings::exports::crm::mail_sync::mailbox::UserMessage {
    message(UserMessage::new(key, params))
}

fn send_error(f: domain::SendFailure) -> wit::SendError {
    use domain::SendFailure as F;
    match f {
        F::Mailbox(e) => wit::SendError::Mailbox(error(e)),
        F::InvalidDraft(why) => {
            wit::SendError::InvalidDraft(said("send.invalid_draft", vec![("why", why)]))
        }
        F::RecipientsRefused(list) => wit::SendError::RecipientsRefused(
            list.into_iter()
                .map(|(address, reply)| wit::RefusedRecipient { address, reply })
                .collect(),
        ),
        F::TooLarge { limit, actual } => {
            wit::SendError::TooLarge(super::bindings::crm::mail_sync::capability_types::SizeCap {
                limit,
                actual,
            })
        }
        F::ProviderLimit(reply) => {
            wit::SendError::ProviderLimit(said("send.provider_limit", vec![("reply", reply)]))
        }
        F::Rejected(reply) => {
            wit::SendError::Rejected(said("send.rejected", vec![("reply", reply)]))
        }
        F::Temporary(why) => wit::SendError::Temporary(said("send.temporary", vec![("why", why)])),
        F::NotAuthorisedToSend(provider) => {
            wit::SendError::Rejected(said("send.not_authorised", vec![("provider", provider)]))
        }
    }
}
