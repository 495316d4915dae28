//! A draft as an RFC 5322 message, built by mail-builder: encoded headers, the text and HTML
//! alternative, attachments, and the reply's threading headers.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;

use super::{Draft, DraftAddress};

/// How many of the replied message's references a reply carries (the first and the latest).
const MAX_REFERENCES: usize = 20;

/// The message `from` sends for `draft`.
pub fn compose(from: &str, draft: &Draft) -> std::io::Result<Vec<u8>> {
    let mut builder = MessageBuilder::new()
        .from(Address::new_address(None::<&str>, from.to_string()))
        .message_id(draft.message_id.clone())
        .date(draft.date)
        .subject(subject(draft));
    if !draft.to.is_empty() {
        builder = builder.to(addresses(&draft.to));
    }
    if !draft.cc.is_empty() {
        builder = builder.cc(addresses(&draft.cc));
    }
    // Bcc goes in the envelope only: no header names its recipients.
    if let Some(replied) = &draft.replies_to {
        builder = builder
            .in_reply_to(replied.message_id.clone())
            .references(MessageId::from(references(
                &replied.references,
                &replied.message_id,
            )));
    }
    builder = builder.text_body(draft.text.clone());
    if let Some(html) = &draft.html {
        builder = builder.html_body(html.clone());
    }
    for file in &draft.attachments {
        builder = builder.attachment(
            file.mime_type.clone(),
            file.filename.clone(),
            file.content.clone(),
        );
    }
    builder.write_to_vec()
}

fn addresses(list: &[DraftAddress]) -> Address<'static> {
    Address::new_list(
        list.iter()
            .map(|a| Address::new_address(a.name.clone(), a.address.clone()))
            .collect(),
    )
}

/// A reply's References: the replied message's, then the replied message itself (RFC 5322
/// 3.6.4), keeping the first (the thread's root) and the latest when there are many.
fn references(earlier: &[String], replied: &str) -> Vec<String> {
    let mut all: Vec<String> = earlier.to_vec();
    all.push(replied.to_string());
    if all.len() > MAX_REFERENCES {
        let tail = all.split_off(all.len() - (MAX_REFERENCES - 1));
        all.truncate(1);
        all.extend(tail);
    }
    all
}

fn subject(draft: &Draft) -> String {
    match &draft.replies_to {
        Some(replied) if draft.subject.trim().is_empty() => {
            reply_subject(replied.subject.as_deref().unwrap_or(""))
        }
        Some(_) => reply_subject(&draft.subject),
        None => draft.subject.clone(),
    }
}

/// `Re: ` before a subject that does not already start with a reply prefix (English `Re:`, Dutch
/// `Antw:`, German `AW:`, ... in any case).
pub fn reply_subject(subject: &str) -> String {
    let trimmed = subject.trim_start();
    let lower = trimmed.to_lowercase();
    let replied = ["re:", "antw:", "aw:", "sv:", "vs:", "ref:"]
        .iter()
        .any(|p| lower.starts_with(p));
    if replied {
        trimmed.to_string()
    } else {
        format!("Re: {trimmed}")
    }
}
