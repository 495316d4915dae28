//! The host's imports behind the domain's port traits, and the `Env` of one call: the settings
//! read through `config` and the time read once through the WASI clock.

use std::collections::BTreeMap;

use super::bindings::crm::mail_sync::{
    capability_types, config, http_client, imap_socket, inbox, log, message, storage,
    submission_socket,
};
use crate::ports::{
    Env, Http, HttpFailure, HttpRequest, HttpResponse, ImapConnection, ImapSockets, Inbox,
    KeyValue, KvWrite, Level, Log, Method, PlatformConfig, ProviderConfig, Refusal, SocketFailure,
    StorageFailure, SubmissionConnection, SubmissionFailure, Submissions, SyncLimits,
};
use crate::providers::ImapSecurity;
use crate::sync as domain;

pub struct HostHttp;
pub struct HostImap;
pub struct HostSubmission;
pub struct HostStorage;
pub struct HostLog;
pub struct HostInbox;

/// Seconds since the Unix epoch, from the WASI wall clock (the host's).
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs `f` with the environment of one call.
pub fn with_env<T>(f: impl FnOnce(&Env) -> T) -> T {
    let env = Env {
        http: &HostHttp,
        imap: &HostImap,
        submission: &HostSubmission,
        kv: &HostStorage,
        inbox: &HostInbox,
        log: &HostLog,
        normalizer: &super::normalizer::HostNormalizer,
        config: platform_config(config::settings()),
        now: now(),
        clock: now,
    };
    f(&env)
}

fn platform_config(s: config::PlatformSettings) -> PlatformConfig {
    PlatformConfig {
        providers: s
            .providers
            .into_iter()
            .map(|p| ProviderConfig {
                id: p.id,
                display_name: p.display_name,
                enabled: p.enabled,
                client_id: p.credentials.as_ref().map(|c| c.client_id.clone()),
                client_secret: p.credentials.and_then(|c| c.client_secret),
                endpoints: p
                    .endpoints
                    .into_iter()
                    .map(|e| (e.name, e.value))
                    .collect::<BTreeMap<_, _>>(),
                scopes: p.scopes,
                authorize_params: p.authorize_params,
                sent_copy: match p.sent_copy {
                    config::SentCopy::Auto => crate::ports::SentCopySetting::Auto,
                    config::SentCopy::Append => crate::ports::SentCopySetting::Append,
                    config::SentCopy::None => crate::ports::SentCopySetting::None,
                },
            })
            .collect(),
        feature_flags: s.feature_flags,
        redirect_uri: s.redirect_uri,
        limits: SyncLimits {
            max_message_bytes: s.limits.max_message_bytes,
            max_delivery_batch: s.limits.max_delivery_batch,
            max_body_bytes: s.limits.max_body_bytes,
            backfill_days: s.limits.backfill_days,
        },
    }
}

pub fn refusal(r: capability_types::Refusal) -> Refusal {
    use capability_types::RefusalReason as R;
    let reason = match r.reason {
        R::InvalidDestination => "invalid-destination",
        R::NotAllowed => "not-allowed",
        R::PlainTransport => "plain-transport",
        R::RefusedAddress => "refused-address",
        R::UserinfoInUrl => "userinfo-in-url",
        R::ForbiddenHeader => "forbidden-header",
    };
    Refusal {
        destination: r.destination,
        reason: reason.to_string(),
    }
}

pub fn wit_refusal(r: &Refusal) -> capability_types::Refusal {
    use capability_types::RefusalReason as R;
    let reason = match r.reason.as_str() {
        "invalid-destination" => R::InvalidDestination,
        "plain-transport" => R::PlainTransport,
        "refused-address" => R::RefusedAddress,
        "userinfo-in-url" => R::UserinfoInUrl,
        "forbidden-header" => R::ForbiddenHeader,
        _ => R::NotAllowed,
    };
    capability_types::Refusal {
        destination: r.destination.clone(),
        reason,
    }
}

impl Http for HostHttp {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        use http_client::HttpError as E;
        let request = http_client::Request {
            method: match request.method {
                Method::Get => http_client::Method::Get,
                Method::Post => http_client::Method::Post,
            },
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| http_client::Header { name, value })
                .collect(),
            body: request.body,
        };
        match http_client::send(&request) {
            Ok(r) => Ok(HttpResponse {
                status: r.status,
                headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                body: r.body,
            }),
            Err(E::Refused(r)) => Err(HttpFailure::Refused(refusal(r))),
            Err(E::TimedOut) => Err(HttpFailure::Network("no answer in time".into())),
            Err(E::RequestTooLarge(c)) => Err(HttpFailure::Network(format!(
                "request over the host's cap of {} bytes",
                c.limit
            ))),
            Err(E::ResponseTooLarge(c)) => Err(HttpFailure::Network(format!(
                "answer over the host's cap of {} bytes",
                c.limit
            ))),
            Err(E::ResolveFailed(m)) => Err(HttpFailure::Network(format!("name lookup: {m}"))),
            Err(E::ConnectFailed(m)) => Err(HttpFailure::Network(format!("connect: {m}"))),
            Err(E::TlsFailed(m)) => Err(HttpFailure::Network(format!("TLS: {m}"))),
            Err(E::Transport(m)) => Err(HttpFailure::Network(m)),
        }
    }
}

fn socket_failure(e: imap_socket::SocketError) -> SocketFailure {
    use imap_socket::SocketError as E;
    match e {
        E::Refused(r) => SocketFailure::Refused(refusal(r)),
        E::ResolveFailed(m) => SocketFailure::Unreachable(format!("name lookup: {m}")),
        E::ConnectFailed(m) => SocketFailure::Unreachable(format!("connect: {m}")),
        E::TimedOut => SocketFailure::Unreachable("no answer in time".into()),
        E::TlsFailed(m) => SocketFailure::Tls(m),
        E::Closed => SocketFailure::Closed,
        E::InvalidState(m) => SocketFailure::Other(m),
        E::TooLarge(c) => SocketFailure::Other(format!("over the host's cap of {} bytes", c.limit)),
        E::Io(m) => SocketFailure::Unreachable(m),
        E::ReadOnly(m) => SocketFailure::Other(format!("refused by the host: {m}")),
    }
}

fn submission_failure(e: submission_socket::SubmissionError) -> SubmissionFailure {
    use submission_socket::SubmissionError as E;
    match e {
        E::Refused(r) => {
            let r = refusal(r);
            SubmissionFailure::Refused(format!("{} ({})", r.destination, r.reason))
        }
        E::NotLent => {
            SubmissionFailure::Refused("the submission socket is lent to send calls only".into())
        }
        E::Envelope(submission_socket::EnvelopeRefusal::TooManyRecipients(c)) => {
            SubmissionFailure::TooManyRecipients { limit: c.limit }
        }
        E::Envelope(submission_socket::EnvelopeRefusal::MessageTooLarge(c)) => {
            SubmissionFailure::TooLarge {
                limit: c.limit,
                actual: c.actual,
            }
        }
        E::Envelope(why) => SubmissionFailure::Refused(format!("{why:?}")),
        E::TooLarge(c) => SubmissionFailure::TooLarge {
            limit: c.limit,
            actual: c.actual,
        },
        E::ResolveFailed(m) => SubmissionFailure::Unreachable(format!("name lookup: {m}")),
        E::ConnectFailed(m) => SubmissionFailure::Unreachable(format!("connect: {m}")),
        E::TimedOut => SubmissionFailure::Unreachable("no answer in time".into()),
        E::TlsFailed(m) => SubmissionFailure::Unreachable(format!("TLS: {m}")),
        E::Closed => SubmissionFailure::Unreachable("the server closed the connection".into()),
        E::InvalidState(m) | E::Io(m) => SubmissionFailure::Unreachable(m),
    }
}

struct HostSubmissionConnection(submission_socket::Connection);

impl SubmissionConnection for HostSubmissionConnection {
    fn read(&mut self, max: u32) -> Result<Vec<u8>, SubmissionFailure> {
        self.0.read(max).map_err(submission_failure)
    }

    fn write(&mut self, data: &[u8]) -> Result<(), SubmissionFailure> {
        self.0.write(data).map_err(submission_failure)
    }

    fn start_tls(&mut self) -> Result<(), SubmissionFailure> {
        self.0.start_tls().map_err(submission_failure)
    }
}

impl Submissions for HostSubmission {
    fn open(
        &self,
        host: &str,
        port: u16,
        security: ImapSecurity,
    ) -> Result<Box<dyn SubmissionConnection>, SubmissionFailure> {
        let security = match security {
            ImapSecurity::Tls => submission_socket::Security::Tls,
            ImapSecurity::StartTls => submission_socket::Security::Starttls,
            ImapSecurity::Plain => submission_socket::Security::Plain,
        };
        let conn = submission_socket::open(host, port, security).map_err(submission_failure)?;
        Ok(Box::new(HostSubmissionConnection(conn)))
    }
}

/// The host's connection; `None` once handed back to the host by `park`.
struct HostConnection(Option<imap_socket::Connection>);

impl HostConnection {
    fn conn(&self) -> Result<&imap_socket::Connection, SocketFailure> {
        self.0.as_ref().ok_or(SocketFailure::Closed)
    }
}

impl ImapConnection for HostConnection {
    fn read(&mut self, max: u32) -> Result<Vec<u8>, SocketFailure> {
        self.conn()?.read(max).map_err(socket_failure)
    }

    fn write(&mut self, data: &[u8]) -> Result<(), SocketFailure> {
        self.conn()?.write(data).map_err(socket_failure)
    }

    fn start_tls(&mut self) -> Result<(), SocketFailure> {
        self.conn()?.start_tls().map_err(socket_failure)
    }

    fn park(mut self: Box<Self>, note: &[u8], wake_after_secs: u32) -> Result<(), SocketFailure> {
        let conn = self.0.take().ok_or(SocketFailure::Closed)?;
        imap_socket::park(conn, note, wake_after_secs).map_err(socket_failure)
    }
}

impl Drop for HostConnection {
    fn drop(&mut self) {
        if let Some(conn) = &self.0 {
            conn.close();
        }
    }
}

impl ImapSockets for HostImap {
    fn open(
        &self,
        host: &str,
        port: u16,
        security: ImapSecurity,
    ) -> Result<Box<dyn ImapConnection>, SocketFailure> {
        let security = match security {
            ImapSecurity::Tls => imap_socket::Security::Tls,
            ImapSecurity::StartTls => imap_socket::Security::Starttls,
            ImapSecurity::Plain => imap_socket::Security::Plain,
        };
        let conn = imap_socket::open(host, port, security).map_err(socket_failure)?;
        Ok(Box::new(HostConnection(Some(conn))))
    }

    fn unpark(&self) -> Option<(Box<dyn ImapConnection>, Vec<u8>)> {
        let (conn, note) = imap_socket::unpark()?;
        Some((Box::new(HostConnection(Some(conn))), note))
    }
}

fn storage_failure(e: storage::StorageError) -> StorageFailure {
    StorageFailure(match e {
        storage::StorageError::InvalidKey(m) => format!("invalid key: {m}"),
        storage::StorageError::TooLarge(c) => format!("over the host's cap of {} bytes", c.limit),
        storage::StorageError::Unavailable(m) => m,
        storage::StorageError::OverQuota(q) => format!(
            "over the mailbox's storage quota of {} bytes and {} keys",
            q.quota_bytes, q.quota_keys
        ),
    })
}

impl KeyValue for HostStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageFailure> {
        storage::get(key).map_err(storage_failure)
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StorageFailure> {
        storage::list_keys(prefix).map_err(storage_failure)
    }

    fn batch(&self, writes: Vec<KvWrite>) -> Result<(), StorageFailure> {
        let writes: Vec<storage::Write> = writes
            .into_iter()
            .map(|w| match w {
                KvWrite::Set(k, v) => storage::Write::Set((k, v)),
                KvWrite::Delete(k) => storage::Write::Delete(k),
            })
            .collect();
        storage::batch(&writes).map_err(storage_failure)
    }
}

impl Log for HostLog {
    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        let level = match level {
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
        };
        let fields: Vec<log::Field> = fields
            .iter()
            .map(|(k, v)| log::Field {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect();
        log::log(level, message, &fields);
    }
}

pub fn wit_crm_folder(f: domain::CrmFolder) -> message::CrmFolder {
    match f {
        domain::CrmFolder::Inbox => message::CrmFolder::Inbox,
        domain::CrmFolder::Sent => message::CrmFolder::Sent,
        domain::CrmFolder::Archive => message::CrmFolder::Archive,
        domain::CrmFolder::Deleted => message::CrmFolder::Deleted,
    }
}

pub(super) fn location(l: domain::Location) -> inbox::Location {
    inbox::Location {
        remote_folder: l.remote_folder,
        uid_validity: l.uid_validity,
        uid: l.uid,
    }
}

pub(super) fn flags(f: domain::Flags) -> inbox::MessageFlags {
    inbox::MessageFlags {
        seen: f.seen,
        answered: f.answered,
        flagged: f.flagged,
        draft: f.draft,
    }
}

fn inbox_failure(e: inbox::InboxError) -> domain::InboxFailure {
    let (refused_content, message) = match e {
        inbox::InboxError::TooLarge(c) => (
            true,
            format!(
                "{} bytes, over the host's cap of {} bytes",
                c.actual, c.limit
            ),
        ),
        inbox::InboxError::InvalidRecord(m) => (true, format!("a record was refused: {m}")),
        inbox::InboxError::Unavailable(m) => (false, m),
    };
    domain::InboxFailure {
        refused_content,
        message,
    }
}

impl Inbox for HostInbox {
    fn deliver(
        &self,
        batch: &[domain::Delivery],
        progress: domain::Progress,
    ) -> Result<domain::DeliveryReport, domain::InboxFailure> {
        let batch: Vec<inbox::Delivery> = batch
            .iter()
            .map(|d| inbox::Delivery {
                record: super::record_convert::to_wit(d.record.clone()),
                crm_folder: wit_crm_folder(d.crm_folder),
                location: location(d.location.clone()),
                flags: flags(d.flags),
                gmail: d.gmail.as_ref().map(|g| inbox::GmailIds {
                    message_id: g.message_id,
                    thread_id: g.thread_id,
                    labels: g.labels.clone(),
                }),
            })
            .collect();
        let progress = inbox::Progress {
            remote_folder: progress.remote_folder,
            crm_folder: wit_crm_folder(progress.crm_folder),
            done: progress.done,
            total: progress.total,
            bytes: progress.bytes,
        };
        inbox::deliver(&batch, &progress)
            .map(|r| domain::DeliveryReport {
                created: r.created,
                updated: r.updated,
                unchanged: r.unchanged,
            })
            .map_err(inbox_failure)
    }

    fn apply(
        &self,
        changes: Vec<domain::Change>,
    ) -> Result<domain::ChangeReport, domain::InboxFailure> {
        let changes: Vec<inbox::Change> = changes
            .into_iter()
            .map(|c| match c {
                domain::Change::FlagsChanged(l, f) => {
                    inbox::Change::FlagsChanged((location(l), flags(f)))
                }
                domain::Change::Vanished(l) => inbox::Change::Vanished(location(l)),
                domain::Change::FolderReset(folder, validity) => {
                    inbox::Change::FolderReset((folder, validity))
                }
                domain::Change::Present {
                    remote_folder,
                    uid_validity,
                    up_to,
                    uids,
                } => inbox::Change::Present(inbox::PresentUids {
                    remote_folder,
                    uid_validity,
                    up_to,
                    uids,
                }),
            })
            .collect();
        inbox::apply(&changes)
            .map(|r| domain::ChangeReport {
                updated: r.updated,
                removed: r.removed,
                unknown: r.unknown,
            })
            .map_err(inbox_failure)
    }
}
