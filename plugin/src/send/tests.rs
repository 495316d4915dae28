//! The composed message read back with mail-parser: what a recipient's client sees.

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

use super::*;

fn draft() -> Draft {
    Draft {
        idempotency_key: "k1".into(),
        message_id: "k1.outbox@example.nl".into(),
        to: vec![DraftAddress {
            name: Some("Bob de Vries".into()),
            address: "bob@example.nl".into(),
        }],
        cc: vec![],
        bcc: vec![DraftAddress {
            name: None,
            address: "hidden@example.com".into(),
        }],
        subject: "Sollicitatie — één vraag".into(),
        text: "Hallo Bob,\n.\nTot ziens".into(),
        html: Some("<p>Hallo Bob</p>".into()),
        attachments: vec![AttachmentFile {
            filename: "cv.pdf".into(),
            mime_type: "application/pdf".into(),
            content: b"%PDF-1.4 fake".to_vec(),
        }],
        replies_to: None,
        date: 1_765_000_000,
    }
}

#[test]
fn a_draft_becomes_a_message_a_client_reads_back_whole() {
    let bytes = compose("anna@example.nl", &draft()).unwrap();
    let message = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(message.message_id(), Some("k1.outbox@example.nl"));
    assert_eq!(message.subject(), Some("Sollicitatie — één vraag"));
    assert_eq!(
        message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("anna@example.nl")
    );
    let to = message.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.name(), Some("Bob de Vries"));
    assert!(
        message.bcc().is_none(),
        "Bcc must not appear in the headers"
    );
    // Lines end with CRLF on the wire, whatever the draft used.
    assert_eq!(
        message.body_text(0).as_deref(),
        Some("Hallo Bob,\r\n.\r\nTot ziens")
    );
    assert_eq!(message.body_html(0).as_deref(), Some("<p>Hallo Bob</p>"));
    let attachment = message.attachment(0).unwrap();
    assert_eq!(attachment.attachment_name(), Some("cv.pdf"));
    assert_eq!(attachment.contents(), b"%PDF-1.4 fake");
    assert!(
        bytes.split(|&b| b == b'\n').all(|line| line.len() <= 1000),
        "every line within SMTP's limit"
    );
}

#[test]
fn a_reply_threads_under_the_message_it_answers() {
    let mut reply = draft();
    reply.subject = String::new();
    reply.replies_to = Some(RepliedMessage {
        message_id: "m2@example.nl".into(),
        references: vec!["m1@example.nl".into()],
        subject: Some("Sollicitatie".into()),
    });
    let bytes = compose("anna@example.nl", &reply).unwrap();
    let message = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(message.subject(), Some("Re: Sollicitatie"));
    assert_eq!(ids(message.in_reply_to()), ["m2@example.nl"]);
    assert_eq!(
        ids(message.references()),
        ["m1@example.nl", "m2@example.nl"]
    );
    assert_eq!(thread_key(&reply), "m1@example.nl");
}

#[test]
fn the_reply_prefix_is_added_once() {
    assert_eq!(reply_subject("Vraag"), "Re: Vraag");
    assert_eq!(reply_subject("RE: Vraag"), "RE: Vraag");
    assert_eq!(reply_subject("Antw: Vraag"), "Antw: Vraag");
    assert_eq!(reply_subject(""), "Re: ");
}

#[test]
fn a_draft_that_could_break_the_envelope_is_refused() {
    let mut bad = draft();
    bad.to[0].address = "bob@example.nl>\r\nRCPT TO:<eve@evil.example".into();
    assert!(matches!(
        check_draft(&bad),
        Err(SendFailure::InvalidDraft(_))
    ));
    let mut none = draft();
    none.to.clear();
    none.bcc.clear();
    assert!(matches!(
        check_draft(&none),
        Err(SendFailure::InvalidDraft(_))
    ));
    assert_eq!(check_draft(&draft()), Ok(()));
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
}
