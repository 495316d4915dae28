//! Normalisation, specified message by message over the corpus in `tests/corpus/`: each test
//! names one behaviour and asserts the record's field values.

use plugin::{DateSource, Direction, MessageRecord, ParseWarning, RawMessage, normalize};

const MAILBOX: &str = "bob@crm-customer.nl";
const INTERNAL_DATE: i64 = 1_711_000_000; // 2024-03-21T05:46:40Z

fn corpus(name: &str) -> Vec<u8> {
    let path = format!("{}/../tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("corpus file {path}: {e}"))
}

fn record(name: &str) -> MessageRecord {
    let bytes = corpus(name);
    normalize(
        &RawMessage {
            bytes: &bytes,
            internal_date: Some(INTERNAL_DATE),
        },
        MAILBOX,
    )
}

fn addresses(list: &[plugin::MailboxAddress]) -> Vec<(Option<&str>, &str)> {
    list.iter()
        .map(|a| (a.name.as_deref(), a.address.as_str()))
        .collect()
}

#[test]
fn plain_message_gives_ids_addresses_date_and_body() {
    let r = record("01-plain.eml");
    assert_eq!(r.message_id, "plain-1@mail.example.org");
    assert!(!r.message_id_derived);
    assert_eq!(r.thread_key, "plain-1@mail.example.org");
    assert_eq!(r.subject.as_deref(), Some("Quarterly planning"));
    assert_eq!(
        addresses(&r.from),
        [(Some("Anna de Vries"), "anna@example.org")]
    );
    assert_eq!(
        addresses(&r.to),
        [
            (Some("Bob Jansen"), "bob@crm-customer.nl"),
            (None, "carol@partner.example.com")
        ]
    );
    assert_eq!(addresses(&r.cc), [(None, "dave@example.net")]);
    assert_eq!(r.date.utc, "2024-03-05T12:30:00Z");
    assert_eq!(r.date.offset_minutes, Some(120));
    assert_eq!(r.date.source, DateSource::Header);
    assert!(
        r.text_body
            .starts_with("Hi Bob,\n\nShall we meet on Thursday")
    );
    assert_eq!(r.html_body, None);
    assert!(
        r.snippet
            .starts_with("Hi Bob, Shall we meet on Thursday to go through")
    );
    assert!(r.attachments.is_empty());
    assert_eq!(r.direction, Direction::Inbound);
    assert_eq!(r.size, corpus("01-plain.eml").len() as u64);
    assert_eq!(r.dedupe_key.len(), 64);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn encoded_words_in_subject_and_names_are_decoded() {
    let r = record("02-encoded-subject.eml");
    assert_eq!(r.subject.as_deref(), Some("Café ☕ and résumé"));
    assert_eq!(
        addresses(&r.from),
        [(Some("Jürgen Müller"), "juergen@example.de")]
    );
    assert_eq!(r.text_body, "Grüße aus München.");
    assert_eq!(r.date.utc, "2024-03-06T08:00:00Z");
    assert_eq!(r.date.offset_minutes, Some(60));
}

#[test]
fn html_only_message_gets_text_derived_from_html() {
    let r = record("03-html-only.eml");
    let html = r.html_body.as_deref().expect("html body");
    assert!(html.contains("<b>20%</b>"));
    assert!(r.text_body.contains("Spring offer"), "{}", r.text_body);
    assert!(
        r.text_body.contains("Save 20% on all plans."),
        "{}",
        r.text_body
    );
    assert!(!r.text_body.contains('<'));
    assert_eq!(r.date.offset_minutes, Some(-300));
    assert_eq!(r.date.utc, "2024-03-07T15:15:00Z");
}

#[test]
fn alternative_message_keeps_plain_text_and_html() {
    let r = record("04-alternative.eml");
    assert_eq!(r.text_body, "The plain version.");
    assert!(r.html_body.as_deref().unwrap().contains("<i>HTML</i>"));
    assert!(r.attachments.is_empty(), "{:?}", r.attachments);
}

#[test]
fn attachments_have_name_type_size_cid_inline_and_hash() {
    let r = record("05-attachments.eml");
    assert_eq!(r.attachments.len(), 2, "{:?}", r.attachments);
    let logo = r
        .attachments
        .iter()
        .find(|a| a.mime_type == "image/png")
        .unwrap();
    assert_eq!(logo.filename.as_deref(), Some("logo.png"));
    assert_eq!(logo.content_id.as_deref(), Some("logo@example.org"));
    assert!(logo.inline);
    assert_eq!(logo.size, 208);
    // BLAKE3 of the decoded image, as Python's `blake3` package gives it.
    assert_eq!(
        logo.digest,
        "9198aad7b43d68adba0f8e4540f4543258e9f005f21a5398be481ff21431366e"
    );
    assert_eq!(logo.digest_algorithm, plugin::DigestAlgorithm::Blake3);
    let pdf = r
        .attachments
        .iter()
        .find(|a| a.mime_type == "application/pdf")
        .unwrap();
    assert_eq!(pdf.filename.as_deref(), Some("contract.pdf"));
    assert!(!pdf.inline);
    assert_eq!(pdf.size, 1055);
    assert_eq!(
        pdf.digest,
        "42f04cb5b2393b3479b97133917bed0dadd5821527ac276f5621a7b20f60d135"
    );
    assert!(pdf.decoded && logo.decoded);
    assert!(
        r.html_body
            .as_deref()
            .unwrap()
            .contains("cid:logo@example.org")
    );
}

#[test]
fn single_byte_charsets_come_out_as_utf8() {
    let latin1 = record("06-latin1-qp.eml");
    assert_eq!(latin1.text_body, "Crème brûlée et café.");
    assert_eq!(latin1.subject.as_deref(), Some("Thé"));
    assert_eq!(
        addresses(&latin1.from),
        [(Some("Renée"), "renee@example.fr")]
    );

    let cp1252 = record("07-windows-1252.eml");
    assert_eq!(cp1252.text_body, "Prijs: € 1.250,00 – “inclusief” btw.");

    let koi8 = record("10-koi8-r.eml");
    assert_eq!(koi8.text_body, "Привет, мир");
}

#[test]
fn multi_byte_charsets_come_out_as_utf8() {
    let jp = record("08-iso-2022-jp.eml");
    assert_eq!(jp.text_body, "こんにちは、会議の資料です。");
    assert_eq!(jp.subject.as_deref(), Some("会議の資料"));

    let gb = record("09-gb2312.eml");
    assert_eq!(gb.text_body, "你好，这是报价单。");
    assert_eq!(gb.subject.as_deref(), Some("报价单"));
}

#[test]
fn groups_are_flattened_and_domains_lower_cased() {
    let r = record("11-groups.eml");
    assert_eq!(
        addresses(&r.to),
        [
            (None, "sara@example.org"),
            (Some("Tom T."), "tom@example.org"),
            (None, "bob@crm-customer.nl"),
        ]
    );
    assert_eq!(addresses(&r.bcc), [(None, "hidden@secret.example")]);
}

#[test]
fn reply_carries_thread_key_of_the_first_reference_and_sender_reply_to() {
    let r = record("12-reply.eml");
    assert_eq!(r.in_reply_to, ["plain-1@mail.example.org"]);
    assert_eq!(
        r.references,
        ["root-0@mail.example.org", "plain-1@mail.example.org"]
    );
    assert_eq!(r.thread_key, "root-0@mail.example.org");
    assert_eq!(
        addresses(&r.sender),
        [(Some("Assistant"), "assistant@crm-customer.nl")]
    );
    assert_eq!(
        addresses(&r.reply_to),
        [(Some("Sales"), "sales@crm-customer.nl")]
    );
    assert_eq!(r.direction, Direction::Outbound);
}

#[test]
fn missing_message_id_is_derived_stably_across_server_copies() {
    let a = record("13-no-message-id.eml");
    let b = record("13b-no-message-id-other-copy.eml");
    assert!(a.message_id_derived);
    assert!(a.message_id.ends_with("@derived.mail-sync.invalid"));
    assert_eq!(a.message_id, b.message_id);
    assert_eq!(a.dedupe_key, b.dedupe_key);
    assert!(a.warnings.contains(&ParseWarning::MissingMessageId));
    assert_ne!(a.dedupe_key, record("01-plain.eml").dedupe_key);
}

#[test]
fn missing_date_falls_back_to_the_internal_date() {
    let r = record("14-no-date.eml");
    assert_eq!(r.date.source, DateSource::InternalDate);
    assert_eq!(r.date.utc, "2024-03-21T05:46:40Z");
    assert_eq!(r.date.offset_minutes, None);
    assert!(r.warnings.contains(&ParseWarning::MissingDate));
}

#[test]
fn unparseable_date_falls_back_and_says_what_it_was() {
    let r = record("15-bad-date.eml");
    assert_eq!(r.date.source, DateSource::InternalDate);
    assert!(
        r.warnings
            .contains(&ParseWarning::UnparseableDate("yesterday afternoon".into()))
    );
    let bytes = corpus("15-bad-date.eml");
    let without_internal = normalize(
        &RawMessage {
            bytes: &bytes,
            internal_date: None,
        },
        MAILBOX,
    );
    assert_eq!(without_internal.date.source, DateSource::None);
}

#[test]
fn auto_replies_are_detected() {
    let r = record("16-auto-reply.eml");
    assert!(r.classification.auto_reply);
    assert_eq!(
        r.classification.auto_submitted.as_deref(),
        Some("auto-replied")
    );
    assert!(!r.classification.mailing_list);
    assert!(!record("01-plain.eml").classification.auto_reply);
}

#[test]
fn lists_and_bulk_mail_are_detected() {
    let r = record("17-list.eml");
    assert!(r.classification.mailing_list);
    assert!(r.classification.bulk);
    assert_eq!(
        r.classification.list_id.as_deref(),
        Some("product-news.lists.example.com")
    );
    assert_eq!(r.classification.precedence.as_deref(), Some("bulk"));
    assert!(!r.classification.auto_reply);
}

#[test]
fn direction_is_outbound_when_the_mailbox_wrote_it_whatever_the_case() {
    assert_eq!(record("18-outbound.eml").direction, Direction::Outbound);
    assert_eq!(record("17-list.eml").direction, Direction::Inbound);
}

#[test]
fn undeclared_boundary_still_gives_the_text_with_a_warning() {
    let r = record("19-bad-boundary.eml");
    let text_kept =
        r.text_body.contains("never declared") || r.attachments.iter().any(|a| a.size > 0);
    assert!(text_kept, "{r:?}");
    assert!(
        r.warnings
            .contains(&ParseWarning::UnterminatedMultipart("DECLARED".into())),
        "{:?}",
        r.warnings
    );
}

#[test]
fn truncated_message_keeps_what_arrived_and_warns() {
    let r = record("20-truncated.eml");
    assert_eq!(r.text_body, "The attachment below was cut off.");
    assert!(
        r.warnings
            .contains(&ParseWarning::UnterminatedMultipart("CUT".into()))
    );
    let pdf = r
        .attachments
        .iter()
        .find(|a| a.filename.as_deref() == Some("report.pdf"));
    assert!(pdf.is_some_and(|a| a.size > 0), "{:?}", r.attachments);
}

#[test]
fn raw_eight_bit_headers_are_read_as_utf8_and_reported() {
    let r = record("21-eight-bit-headers.eml");
    assert_eq!(r.subject.as_deref(), Some("Café without encoded words"));
    assert_eq!(
        addresses(&r.from),
        [(Some("René Müller"), "rene@example.org")]
    );
    assert!(
        r.warnings
            .contains(&ParseWarning::RawEightBitHeader("Subject".into()))
    );
    assert!(
        r.warnings
            .contains(&ParseWarning::RawEightBitHeader("From".into()))
    );
}

#[test]
fn bytes_without_headers_become_a_record_that_keeps_the_text() {
    let r = record("22-no-headers.eml");
    assert!(
        r.text_body.contains("Just a body with no header block"),
        "{r:?}"
    );
    assert!(r.message_id_derived);
    assert!(
        r.warnings.contains(&ParseWarning::MissingFrom)
            || r.warnings.contains(&ParseWarning::NoHeaders)
    );
    assert_eq!(r.date.source, DateSource::InternalDate);
}

#[test]
fn empty_input_becomes_a_record_with_warnings() {
    let r = record("23-empty.eml");
    assert_eq!(r.size, 0);
    assert!(r.warnings.contains(&ParseWarning::EmptyInput));
    assert!(r.message_id_derived);
    assert!(!r.dedupe_key.is_empty());
    assert_eq!(r.text_body, "");
}

#[test]
fn unknown_charset_is_read_as_utf8_and_reported() {
    let r = record("24-unknown-charset.eml");
    assert_eq!(r.text_body, "Plain ASCII text in an unknown charset.");
    assert!(
        r.warnings
            .contains(&ParseWarning::UnknownCharset("x-made-up-charset".into()))
    );
}

#[test]
fn forwarded_message_is_kept_as_a_message_attachment() {
    let r = record("25-forwarded.eml");
    assert_eq!(r.text_body, "Forwarding the message below.");
    let fwd = r
        .attachments
        .iter()
        .find(|a| a.mime_type == "message/rfc822")
        .expect("attachment");
    assert!(fwd.size > 50);
}

#[test]
fn missing_from_is_reported() {
    let r = record("14-no-date.eml");
    assert!(!r.warnings.contains(&ParseWarning::MissingFrom));
    let bytes = b"Subject: hi\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n";
    let r = normalize(
        &RawMessage {
            bytes,
            internal_date: None,
        },
        MAILBOX,
    );
    assert!(r.warnings.contains(&ParseWarning::MissingFrom));
    assert_eq!(r.direction, Direction::Inbound);
}

#[test]
fn snippet_collapses_whitespace_and_stops_at_200_characters() {
    let long = format!(
        "Message-ID: <s@x>\r\nFrom: a@b.c\r\n\r\n{}\r\n",
        "word\t\r\n ".repeat(100)
    );
    let r = normalize(
        &RawMessage {
            bytes: long.as_bytes(),
            internal_date: None,
        },
        MAILBOX,
    );
    assert!(r.snippet.chars().count() <= 200);
    assert!(r.snippet.starts_with("word word word"));
    assert!(!r.snippet.contains('\t') && !r.snippet.contains('\n'));
}

#[test]
fn the_same_message_gives_the_same_dedupe_key_and_others_differ() {
    let keys: std::collections::BTreeSet<String> =
        std::fs::read_dir(format!("{}/../tests/corpus", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with("13b"))
            .map(|n| record(&n).dedupe_key)
            .collect();
    let files = std::fs::read_dir(format!("{}/../tests/corpus", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .count();
    assert_eq!(keys.len(), files - 1);
    // The same message, seen again at another internal date in another mailbox, keeps its key,
    // and that key is the one pinned here (a changed key would duplicate every stored message).
    let bytes = corpus("01-plain.eml");
    let seen_again = normalize(
        &RawMessage {
            bytes: &bytes,
            internal_date: Some(INTERNAL_DATE + 86_400),
        },
        "anna@example.nl",
    );
    let pinned = "a90a13ae9889bac659ed8ae693b44bcbeb24f2d82b6bd2ae615f08450241ff70";
    assert_eq!(seen_again.dedupe_key, pinned);
    assert_eq!(record("01-plain.eml").dedupe_key, pinned);
}

#[test]
fn latin1_bytes_in_headers_are_read_as_windows_1252_not_replaced() {
    let bytes = b"Message-ID: <l1@x>\r\nDate: Mon, 4 Mar 2024 10:00:00 +0000\r\nFrom: Ren\xe9 <rene@example.org>\r\nSubject: Caf\xe9 cr\xe8me \x80 5\r\n\r\nbody\r\n";
    let r = normalize(
        &RawMessage {
            bytes,
            internal_date: None,
        },
        MAILBOX,
    );
    assert_eq!(r.subject.as_deref(), Some("Café crème € 5"));
    assert_eq!(addresses(&r.from), [(Some("René"), "rene@example.org")]);
    assert_eq!(r.text_body, "body");
    assert_eq!(r.size, bytes.len() as u64);
    assert_eq!(
        r.warnings,
        [
            ParseWarning::RawEightBitHeader("From".into()),
            ParseWarning::RawEightBitHeader("Subject".into())
        ]
    );
}

#[test]
fn east_asian_and_european_charsets_come_out_as_utf8_in_body_and_subject() {
    for (file, text) in [
        ("26-shift-jis.eml", "お見積もりを送ります。"),
        ("27-euc-kr.eml", "견적서를 보내드립니다."),
        ("28-big5.eml", "這是報價單。"),
        ("29-iso-8859-2.eml", "Dzień dobry, zażółć gęślą jaźń."),
        ("30-iso-8859-7.eml", "Καλημέρα σας."),
        ("31-windows-1251.eml", "Добрый день, счёт во вложении."),
    ] {
        let r = record(file);
        assert_eq!(r.text_body, text, "{file}");
        assert_eq!(r.subject.as_deref(), Some(text), "{file}");
        assert!(r.warnings.is_empty(), "{file}: {:?}", r.warnings);
    }
}

#[test]
fn a_character_split_between_adjacent_encoded_words_is_read_whole() {
    let r = record("32-split-encoded-word.eml");
    assert_eq!(
        r.subject.as_deref(),
        Some("Ваше сообщение не доставлено. Mail failure.")
    );
    assert_eq!(
        addresses(&r.from),
        [(Some("Почтовый робот"), "mailer-daemon@example.ru")]
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn raw_header_bytes_are_read_in_the_charset_the_message_declares() {
    let r = record("33-raw-gb2312-subject.eml");
    assert_eq!(r.subject.as_deref(), Some("邮件传输失败！"));
    assert_eq!(r.text_body, "邮件传输失败！");
    assert_eq!(
        r.warnings,
        [ParseWarning::RawEightBitHeader("Subject".into())]
    );
}

/// Every input that once failed the `normalize` fuzz target (`plugin/fuzz/regressions/`) gives
/// a record, in this debug build with its assertions, bodies within the cap.
#[test]
fn inputs_that_once_failed_the_fuzzer_give_a_record() {
    let dir = format!("{}/fuzz/regressions/normalize", env!("CARGO_MANIFEST_DIR"));
    let inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    assert!(!inputs.is_empty(), "no inputs in {dir}");
    for path in inputs {
        let bytes = std::fs::read(&path).unwrap();
        let r = normalize(
            &RawMessage {
                bytes: &bytes,
                internal_date: Some(INTERNAL_DATE),
            },
            MAILBOX,
        );
        let cap = plugin::normalize::MAX_BODY_BYTES;
        assert!(r.text_body.len() <= cap, "{}", path.display());
        assert!(!r.message_id.is_empty(), "{}", path.display());
    }
}
