//! The CRM's message record as the guest's domain code sees it: plain Rust types that mirror
//! `wit/message.wit` one to one; `glue.rs` translates them at the component boundary.

/// Raw RFC 5322 bytes plus what the server knows about them.
#[derive(Debug, Clone, Default)]
pub struct RawMessage<'a> {
    pub bytes: &'a [u8],
    /// The server's internal date, seconds since the Unix epoch.
    pub internal_date: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxAddress {
    pub name: Option<String>,
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSource {
    Header,
    InternalDate,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDate {
    pub utc: String,
    pub offset_minutes: Option<i32>,
    pub source: DateSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: Option<String>,
    pub mime_type: String,
    pub size: u64,
    pub content_id: Option<String>,
    pub inline: bool,
    /// Lower-case hex, of the decoded bytes (of the raw bytes when not decoded).
    pub digest: String,
    pub digest_algorithm: DigestAlgorithm,
    pub decoded: bool,
}

/// The hash an attachment's digest was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// What records made before BLAKE3 carry; this plugin no longer makes it.
    Sha256,
    Blake3,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classification {
    pub auto_reply: bool,
    pub mailing_list: bool,
    pub bulk: bool,
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub list_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseWarning {
    EmptyInput,
    NoHeaders,
    MissingMessageId,
    MissingDate,
    UnparseableDate(String),
    MissingFrom,
    RawEightBitHeader(String),
    UnknownCharset(String),
    UnterminatedMultipart(String),
    UndecodablePart(u32),
    MalformedAddress(String),
    TextBodyTruncated(u64),
    HtmlBodyTruncated(u64),
    HeadersOnly(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub dedupe_key: String,
    pub message_id: String,
    pub message_id_derived: bool,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub thread_key: String,
    pub subject: Option<String>,
    pub from: Vec<MailboxAddress>,
    pub sender: Vec<MailboxAddress>,
    pub reply_to: Vec<MailboxAddress>,
    pub to: Vec<MailboxAddress>,
    pub cc: Vec<MailboxAddress>,
    pub bcc: Vec<MailboxAddress>,
    pub date: MessageDate,
    pub text_body: String,
    pub html_body: Option<String>,
    pub snippet: String,
    pub attachments: Vec<Attachment>,
    pub classification: Classification,
    pub size: u64,
    pub direction: Direction,
    /// Over the size limit: the record holds the headers only.
    pub truncated: bool,
    pub warnings: Vec<ParseWarning>,
}
