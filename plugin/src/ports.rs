//! The host's capabilities as the domain code sees them: small traits that the wit-bindgen glue
//! implements over the imports, and that native tests implement in memory.

use std::collections::BTreeMap;

#[cfg(test)]
pub mod fakes;

use crate::model::{
    Change, ChangeReport, Delivery, DeliveryReport, ImapSecurity, InboxFailure, MAX_BODY_BYTES,
    Progress,
};
use crate::record::MessageRecord;

/// Why the host's policy refused a destination (mirrors the WIT `refusal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub destination: String,
    /// The policy's reason, as its WIT case name (`not-allowed`, `plain-transport`, ...).
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// `Debug` shows the method and URL only: headers and body may hold tokens and secrets.
#[derive(Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `Debug` shows the status only: the body may hold tokens.
#[derive(Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP exchange that did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    #[error("refused by the host's policy: {} ({})", .0.destination, .0.reason)]
    Refused(Refusal),
    #[error("{0}")]
    Network(String),
}

/// One HTTP request and its response, sent by the host; no redirects are followed.
pub trait Http {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure>;
}

/// The host's storage failed; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StorageFailure(pub String);

pub enum KvWrite {
    Set(String, Vec<u8>),
    Delete(String),
}

/// Key-value storage scoped by the host to one mailbox.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageFailure>;
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StorageFailure>;
    /// All the writes, or none of them.
    fn batch(&self, writes: Vec<KvWrite>) -> Result<(), StorageFailure>;
}

/// Why an IMAP socket operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketFailure {
    #[error("refused by the host's policy: {} ({})", .0.destination, .0.reason)]
    Refused(Refusal),
    #[error("{0}")]
    Unreachable(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("{0}")]
    Other(String),
}

/// A connection the host opened to an IMAP server (TLS done by the host).
pub trait ImapConnection {
    /// Up to `max` bytes; at least one.
    fn read(&mut self, max: u32) -> Result<Vec<u8>, SocketFailure>;
    fn write(&mut self, data: &[u8]) -> Result<(), SocketFailure>;
    fn start_tls(&mut self) -> Result<(), SocketFailure>;
    /// Hands the connection to the host to hold until the server sends something, it closes,
    /// or `wake_after_secs` pass; `note` comes back with it from `ImapSockets::unpark`.
    fn park(self: Box<Self>, note: &[u8], wake_after_secs: u32) -> Result<(), SocketFailure> {
        let _ = (note, wake_after_secs);
        Err(SocketFailure::Other(
            "this host does not hold connections".into(),
        ))
    }
}

/// Opens IMAP connections to destinations the host's policy allows.
pub trait ImapSockets {
    fn open(
        &self,
        host: &str,
        port: u16,
        security: ImapSecurity,
    ) -> Result<Box<dyn ImapConnection>, SocketFailure>;
    /// The connection this mailbox parked, with its note.
    fn unpark(&self) -> Option<(Box<dyn ImapConnection>, Vec<u8>)> {
        None
    }
}

/// Why a submission socket operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionFailure {
    /// The host refused: its policy, its envelope rules, or a call that may not send (why).
    #[error("refused by the host: {0}")]
    Refused(String),
    /// Over the host's cap on a message or a write.
    #[error("over the host's cap of {limit} bytes")]
    TooLarge { limit: u64, actual: u64 },
    /// More recipients than the host allows in one message.
    #[error("more than {limit} recipients")]
    TooManyRecipients { limit: u64 },
    /// The server could not be reached, or the connection failed (why).
    #[error("{0}")]
    Unreachable(String),
}

/// A connection the host opened to a submission server, for one `send` call.
pub trait SubmissionConnection {
    /// Up to `max` bytes; at least one.
    fn read(&mut self, max: u32) -> Result<Vec<u8>, SubmissionFailure>;
    fn write(&mut self, data: &[u8]) -> Result<(), SubmissionFailure>;
    fn start_tls(&mut self) -> Result<(), SubmissionFailure>;
}

/// Opens submission connections; the host lends them to `send` calls only.
pub trait Submissions {
    fn open(
        &self,
        host: &str,
        port: u16,
        security: ImapSecurity,
    ) -> Result<Box<dyn SubmissionConnection>, SubmissionFailure>;
}

/// The CRM's inbox: deliveries and changes, each call all or nothing and idempotent.
pub trait Inbox {
    /// Delivers `batch` (borrowed: a refused batch is still the caller's to retry in parts).
    fn deliver(
        &self,
        batch: &[Delivery],
        progress: Progress,
    ) -> Result<DeliveryReport, InboxFailure>;
    fn apply(&self, changes: Vec<Change>) -> Result<ChangeReport, InboxFailure>;
}

/// One message handed to another instance to normalise, as the sync would normalise it itself.
pub struct NormalizeJob {
    pub bytes: Vec<u8>,
    pub internal_date: Option<i64>,
    pub mailbox_address: String,
    pub max_body_bytes: u64,
    /// For a message fetched as its headers only: the server's size of the whole message.
    pub whole_size: Option<u64>,
}

/// A job that came back without a record, with its bytes.
pub struct JobFailure {
    /// The instance stopped while normalising it; false when none could take it after all.
    pub stopped: bool,
    pub reason: String,
    pub bytes: Vec<u8>,
}

/// Normalisation on other instances of the plugin, on other cores, while the caller goes on.
pub trait Normalizer {
    /// Hands `job` on under `ticket`; gives its bytes back when no instance can take it now.
    fn submit(&self, ticket: u64, job: NormalizeJob) -> Result<(), Vec<u8>>;
    /// The jobs finished since the last call; with `wait`, at least one when any is in flight.
    fn finished(&self, wait: bool) -> Vec<(u64, Result<MessageRecord, JobFailure>)>;
}

/// A log line's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
}

pub trait Log {
    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]);
}

/// One provider as the administrator configured it; endpoints are resolved by the host. `Debug`
/// leaves the client secret out.
#[derive(Clone, Default)]
pub struct ProviderConfig {
    pub id: String,
    pub display_name: String,
    pub enabled: bool,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub endpoints: BTreeMap<String, String>,
    pub scopes: Vec<String>,
    pub authorize_params: Vec<(String, String)>,
    /// Where a sent message's copy in Sent comes from.
    pub sent_copy: SentCopySetting,
}

/// The administrator's choice of where a sent message's copy in Sent comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SentCopySetting {
    /// Gmail and Microsoft save submitted mail themselves; other providers get a copy appended.
    #[default]
    Auto,
    Append,
    None,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("enabled", &self.enabled)
            .field("client_id", &self.client_id)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// The platform's limits on sync, read through `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncLimits {
    /// Above this a message is kept as metadata only, marked truncated.
    pub max_message_bytes: u64,
    /// Records per `inbox.deliver` call.
    pub max_delivery_batch: u32,
    /// How far back the first sync reaches.
    pub backfill_days: u32,
    /// The text body and the HTML body of a record are each cut at this many bytes.
    pub max_body_bytes: u64,
}

/// The host's defaults (`PluginLimits` in host-harness/sandbox/src/settings.rs); the plugin always gets
/// the limits through `config`, so these serve native tests only.
impl Default for SyncLimits {
    fn default() -> Self {
        SyncLimits {
            max_message_bytes: 50 * 1024 * 1024,
            max_delivery_batch: 200,
            backfill_days: 30,
            max_body_bytes: MAX_BODY_BYTES as u64,
        }
    }
}

/// The platform's settings, read through `config`.
#[derive(Debug, Clone, Default)]
pub struct PlatformConfig {
    pub providers: Vec<ProviderConfig>,
    pub feature_flags: Vec<String>,
    pub redirect_uri: Option<String>,
    pub limits: SyncLimits,
}

impl PlatformConfig {
    /// The feature flag that shows "Link mailbox".
    pub const LINK_FLAG: &'static str = "link-mailbox";

    pub fn linking_enabled(&self) -> bool {
        self.feature_flags.iter().any(|f| f == Self::LINK_FLAG)
    }
}

/// Everything one call may use: the host's capabilities, the settings and the time.
pub struct Env<'a> {
    pub http: &'a dyn Http,
    pub imap: &'a dyn ImapSockets,
    pub submission: &'a dyn Submissions,
    pub kv: &'a dyn KeyValue,
    pub inbox: &'a dyn Inbox,
    pub log: &'a dyn Log,
    pub normalizer: &'a dyn Normalizer,
    pub config: PlatformConfig,
    /// Seconds since the Unix epoch, read once per call.
    pub now: i64,
    /// Reads the time again, for calls that last (a sync outliving an access token).
    pub clock: fn() -> i64,
}
