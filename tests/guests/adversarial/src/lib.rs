//! A hostile plugin: it exports the real contract, and each `normalize` call tries the escape
//! (or probes the capability) named by `mailbox-address`, reporting in `text-body` what the host
//! let it do.

#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    world: "mail-sync-plugin",
    path: "../../../wit",
});

mod copies;
mod leftovers;
mod submission;

use crm::mail_sync::{http_client, imap_socket, log, message as m, normalizer, storage};
use exports::crm::mail_sync::normalize::{Guest, RawMessage};

struct Hostile;

impl Guest for Hostile {
    fn normalize(message: RawMessage, attempt: String) -> m::MessageRecord {
        let argument = String::from_utf8_lossy(&message.bytes).into_owned();
        let outcome = match attempt.as_str() {
            "read-file" => read_file(),
            "read-env" => read_env(),
            "open-socket" => open_socket(&argument),
            "lookup-name" => lookup_name(),
            "http" => http(&argument),
            "imap" => imap(&argument),
            "imap-flood" => imap_flood(&argument),
            "imap-commands" => imap_commands(&argument),
            "submission-open" => submission::open_outside_send(&argument),
            "imap-park" => imap_park(&argument),
            "imap-unpark" => imap_unpark(),
            "unpark-and-write" => unpark_and_write(),
            "imap-session" => imap_session(&argument),
            "http-body" => http_body(&argument),
            "loop-forever" => loop_forever(),
            "allocate" => allocate(),
            "huge-argument" => huge_argument(),
            "host-copy" => copies::host_copy(&argument),
            "remember" => remember(),
            "scribble" => leftovers::scribble(&argument),
            "scan-memory" => leftovers::scan(&argument),
            "storage-write" => storage_write(&argument),
            "storage-flood" => storage_flood(&argument),
            "storage-read" => storage_read(),
            "storage-partial-batch" => storage_partial_batch(),
            "inbox-twice" => inbox_twice(),
            "log-secrets" => log_secrets(&argument),
            "read-config" => read_config(),
            "normalizer" => hand_on(&message.bytes),
            _ => "ok".to_string(),
        };
        record(outcome)
    }

    /// A job handed on runs the probe its mailbox address names, as `normalize` does.
    fn normalize_job(job: normalizer::Job) -> m::MessageRecord {
        let message = RawMessage {
            bytes: job.bytes,
            internal_date: job.internal_date,
        };
        Self::normalize(message, job.mailbox_address)
    }
}

/// Tries to hand a job to another instance (which would run the probe `normalizer` again).
fn hand_on(bytes: &[u8]) -> String {
    let job = normalizer::Job {
        bytes: bytes.to_vec(),
        internal_date: None,
        mailbox_address: "normalizer".into(),
        max_body_bytes: 1024,
        whole_size: None,
    };
    let taken = if normalizer::submit(1, &job) {
        "TAKEN"
    } else {
        "refused"
    };
    format!("{taken}; {} finished", normalizer::finished(true).len())
}

export!(Hostile);

/// The mailbox panel is not what this guest attacks through: every call says "not linked".
mod panel {
    use super::exports::crm::mail_sync::mailbox::*;

    fn refused<T>() -> Result<T, MailboxError> {
        Err(MailboxError {
            kind: ErrorKind::NotLinked,
            message: UserMessage {
                key: "mailbox.not_linked".into(),
                params: vec![],
                en: "not linked".into(),
                nl: "niet gekoppeld".into(),
            },
        })
    }

    impl Guest for super::Hostile {
        /// Linked as `anna@example.nl`, so the host lends a `send` call her address.
        fn status() -> Result<MailboxStatus, MailboxError> {
            Ok(MailboxStatus {
                state: LinkState::Linked,
                provider: Some("test".into()),
                address: Some("anna@example.nl".into()),
                settings: None,
                settings_read_only: true,
                reauthorization_reason: None,
                linked_at: None,
                access_expires_at: None,
                providers: vec![],
                link_available: false,
                link_unavailable_reason: None,
                provider_hints: vec![],
            })
        }
        fn link_start(_: LinkRequest) -> Result<LinkStarted, MailboxError> {
            refused()
        }
        fn link_complete(_: String, _: Vec<(String, String)>) -> Result<MailboxStatus, MailboxError> {
            refused()
        }
        fn unlink() -> Result<Unlinked, MailboxError> {
            refused()
        }
        fn set_settings(_: ManualSettings) -> Result<MailboxStatus, MailboxError> {
            refused()
        }
        fn check_access(_: bool) -> Result<AccessChecked, MailboxError> {
            refused()
        }
    }

    impl super::exports::crm::mail_sync::sync::Guest for super::Hostile {
        fn sync_once() -> Result<super::exports::crm::mail_sync::sync::SyncReport, MailboxError> {
            refused()
        }

        fn watch(
            _stop: bool,
        ) -> Result<super::exports::crm::mail_sync::sync::WatchReport, MailboxError> {
            refused()
        }
    }

    impl super::exports::crm::mail_sync::folders::Guest for super::Hostile {
        fn list_remote()
        -> Result<Vec<super::exports::crm::mail_sync::folders::RemoteFolder>, MailboxError>
        {
            refused()
        }
        fn suggest() -> Result<super::exports::crm::mail_sync::folders::FolderMapping, MailboxError>
        {
            refused()
        }
        fn get_mapping()
        -> Result<super::exports::crm::mail_sync::folders::MappingStatus, MailboxError> {
            refused()
        }
        fn set_mapping(
            _: super::exports::crm::mail_sync::folders::FolderMapping,
        ) -> Result<super::exports::crm::mail_sync::folders::MappingStatus, MailboxError> {
            refused()
        }
    }
}

fn read_file() -> String {
    let paths = ["/etc/passwd", "/", ".", "/proc/self/environ"];
    let results: Vec<String> = paths
        .iter()
        .map(|p| match std::fs::read(p) {
            Ok(bytes) => format!("READ {p} ({} bytes)", bytes.len()),
            Err(e) => format!("denied {p}: {:?}", e.kind()),
        })
        .collect();
    results.join("; ")
}

fn read_env() -> String {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let args: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    format!(
        "env={} args={} cwd={cwd:?} home={:?}",
        vars.len(),
        args.len(),
        std::env::var("HOME").ok()
    )
}

fn open_socket(target: &str) -> String {
    use wasi::sockets::{network::IpAddressFamily, tcp_create_socket::create_tcp_socket};
    let port: u16 = target.parse().unwrap_or(80);
    let network = wasi::sockets::instance_network::instance_network();
    let socket = match create_tcp_socket(IpAddressFamily::Ipv4) {
        Ok(s) => s,
        Err(e) => return format!("denied create: {e:?}"),
    };
    let address =
        wasi::sockets::network::IpSocketAddress::Ipv4(wasi::sockets::network::Ipv4SocketAddress {
            port,
            address: (127, 0, 0, 1),
        });
    if let Err(e) = socket.start_connect(&network, address) {
        return format!("denied connect: {e:?}");
    }
    socket.subscribe().block();
    match socket.finish_connect() {
        Ok(_) => "CONNECTED".to_string(),
        Err(e) => format!("denied connect: {e:?}"),
    }
}

fn lookup_name() -> String {
    let network = wasi::sockets::instance_network::instance_network();
    match wasi::sockets::ip_name_lookup::resolve_addresses(&network, "localhost") {
        Ok(stream) => {
            stream.subscribe().block();
            match stream.resolve_next_address() {
                Ok(Some(a)) => format!("RESOLVED {a:?}"),
                Ok(None) => "denied lookup: no address".into(),
                Err(e) => format!("denied lookup: {e:?}"),
            }
        }
        Err(e) => format!("denied lookup: {e:?}"),
    }
}

fn get(url: &str) -> Result<http_client::Response, http_client::HttpError> {
    http_client::send(&http_client::Request {
        method: http_client::Method::Get,
        url: url.to_string(),
        headers: vec![],
        body: vec![],
    })
}

fn http(url: &str) -> String {
    match get(url) {
        Ok(response) => {
            let location = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("location"))
                .map(|h| h.value.clone())
                .unwrap_or_default();
            format!("status {} location {location}", response.status)
        }
        Err(e) => describe_http_error(e),
    }
}

fn describe_http_error(e: http_client::HttpError) -> String {
    use http_client::HttpError as E;
    match e {
        E::Refused(r) => format!("refused {} {}", reason(r.reason), r.destination),
        E::RequestTooLarge(c) => format!("request-too-large {}", c.limit),
        E::ResponseTooLarge(c) => format!("response-too-large {}", c.limit),
        other => format!("failed {other:?}"),
    }
}

fn imap(target: &str) -> String {
    let (host, port) = target.rsplit_once(':').unwrap_or((target, "993"));
    match imap_socket::open(
        host,
        port.parse().unwrap_or(993),
        imap_socket::Security::Tls,
    ) {
        Ok(_) => "CONNECTED".into(),
        Err(imap_socket::SocketError::Refused(r)) => {
            format!("refused {} {}", reason(r.reason), r.destination)
        }
        Err(other) => format!("failed {other:?}"),
    }
}

/// `tls|starttls|plain host:port`: greeting, STARTTLS where asked, NOOP, then one more read.
fn imap_session(argument: &str) -> String {
    let (mode, target) = argument.split_once(' ').unwrap_or(("tls", argument));
    let (host, port) = target.rsplit_once(':').unwrap_or((target, "993"));
    let security = match mode {
        "starttls" | "starttls-skip" => imap_socket::Security::Starttls,
        "plain" => imap_socket::Security::Plain,
        _ => imap_socket::Security::Tls,
    };
    let run = || -> Result<String, imap_socket::SocketError> {
        let conn = imap_socket::open(host, port.parse().unwrap_or(993), security)?;
        if mode == "starttls-skip" {
            // Credentials in clear on a connection the policy granted for STARTTLS only.
            read_line(&conn)?;
            conn.write(b"a1 LOGIN anna secret\r\n")?;
            return Ok(format!("sent in clear; then {}", read_line(&conn)?));
        }
        if mode == "starttls" {
            read_line(&conn)?;
            conn.write(b"a0 STARTTLS\r\n")?;
            read_line(&conn)?;
            conn.start_tls()?;
        }
        let greeting = read_line(&conn)?;
        conn.write(b"a1 NOOP\r\n")?;
        let reply = read_line(&conn)?;
        let then = match conn.read(1024) {
            Err(imap_socket::SocketError::Closed) => "closed".to_string(),
            other => format!("{other:?}"),
        };
        Ok(format!("greeting {greeting}; reply {reply}; then {then}"))
    };
    match run() {
        Ok(s) => s,
        Err(imap_socket::SocketError::TlsFailed(_)) => "failed tls".into(),
        Err(e) => format!("failed {e:?}"),
    }
}

/// `PORT|LINE|LINE...`: a plain connection to loopback `PORT`, each line written as its own
/// write (CRLF added); reports, per line, `ok` or the host's refusal.
pub(crate) fn imap_commands(argument: &str) -> String {
    let mut parts = argument.split('|');
    let port = parts.next().and_then(|p| p.parse().ok()).unwrap_or(143);
    let conn = match imap_socket::open("127.0.0.1", port, imap_socket::Security::Plain) {
        Ok(conn) => conn,
        Err(e) => return format!("failed {e:?}"),
    };
    parts
        .map(|line| match conn.write(format!("{line}\r\n").as_bytes()) {
            Ok(()) => "ok".to_string(),
            Err(imap_socket::SocketError::ReadOnly(_)) => "read-only".to_string(),
            Err(e) => format!("failed {e:?}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Takes the mailbox's parked connection back and tries to change the mailbox through it.
fn unpark_and_write() -> String {
    let Some((conn, _)) = imap_socket::unpark() else {
        return "nothing parked".into();
    };
    match conn.write(b"a9 STORE 1 +FLAGS (\\Deleted)\r\n") {
        Ok(()) => "written".into(),
        Err(imap_socket::SocketError::ReadOnly(_)) => "read-only".into(),
        Err(e) => format!("failed {e:?}"),
    }
}

/// Reads up to and without the next CRLF.
fn read_line(conn: &imap_socket::Connection) -> Result<String, imap_socket::SocketError> {
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        line.extend(conn.read(1)?);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn http_body(url: &str) -> String {
    match get(url) {
        Ok(r) => format!("status {} body {} bytes", r.status, r.body.len()),
        Err(http_client::HttpError::TlsFailed(_)) => "failed tls".into(),
        Err(e) => describe_http_error(e),
    }
}

/// Opens plain connections to `port` on loopback, keeping them all, until the host says no.
fn imap_flood(port: &str) -> String {
    let port = port.parse().unwrap_or(143);
    let mut held = Vec::new();
    for _ in 0..10 {
        match imap_socket::open("127.0.0.1", port, imap_socket::Security::Plain) {
            Ok(c) => held.push(c),
            Err(imap_socket::SocketError::InvalidState(_)) => break,
            Err(other) => return format!("failed {other:?}"),
        }
    }
    let opened = held.len();
    drop(held.pop());
    let again = imap_socket::open("127.0.0.1", port, imap_socket::Security::Plain).is_ok();
    format!("opened {opened}; after closing one, open again: {again}")
}

/// Parks connections with the host as no honest plugin would: a note past the cap, a wake-up
/// centuries away, a second park over the first; then takes what is parked back.
fn imap_park(port: &str) -> String {
    let port = port.parse().unwrap_or(143);
    let open = || imap_socket::open("127.0.0.1", port, imap_socket::Security::Plain);
    let Ok(first) = open() else {
        return "cannot open".into();
    };
    let oversized = match imap_socket::park(first, &vec![b'n'; 4097], 60) {
        Err(imap_socket::SocketError::TooLarge(cap)) => format!("refused over {} bytes", cap.limit),
        other => format!("{other:?}"),
    };
    let Ok(second) = open() else {
        return format!("{oversized}; the refused connection was kept");
    };
    let forever = imap_socket::park(second, &[b'a'; 4096], u32::MAX).is_ok();
    let Ok(third) = open() else {
        return format!("{oversized}; cannot open a third");
    };
    let over = imap_socket::park(third, b"b", 60).is_ok();
    let Some((back, note)) = imap_socket::unpark() else {
        return format!("{oversized}; nothing parked");
    };
    let again = imap_socket::unpark().is_some();
    let left = imap_socket::park(back, b"left", u32::MAX).is_ok();
    format!(
        "{oversized}; parked forever: {forever}; parked over it: {over}; got back {:?}; again: {again}; left parked: {left}",
        String::from_utf8_lossy(&note)
    )
}

/// Takes the connection parked for this call's mailbox, if any.
fn imap_unpark() -> String {
    match imap_socket::unpark() {
        Some((_, note)) => format!("unparked {}", String::from_utf8_lossy(&note)),
        None => "nothing parked".into(),
    }
}

fn reason(r: crm::mail_sync::capability_types::RefusalReason) -> &'static str {
    use crm::mail_sync::capability_types::RefusalReason as R;
    match r {
        R::InvalidDestination => "invalid-destination",
        R::NotAllowed => "not-allowed",
        R::PlainTransport => "plain-transport",
        R::RefusedAddress => "refused-address",
        R::UserinfoInUrl => "userinfo-in-url",
        R::ForbiddenHeader => "forbidden-header",
    }
}

fn loop_forever() -> String {
    // Says it is in place, so a test need not guess when the loop has begun.
    log::log(log::Level::Info, "looping from now on", &[]);
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn allocate() -> String {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 16 * 1024 * 1024]);
        std::hint::black_box(&hoard);
    }
}

/// Counts its calls in a global: what a plugin would do to keep state between calls.
fn remember() -> String {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut heap = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let len = heap.len();
    heap.push(len);
    let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    format!("call {calls}, heap {}", heap.len())
}

static HEAP: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

/// 64 MiB and a key in one call: over the hostcall cap, so the host stops the call.
fn huge_argument() -> String {
    match storage::set("huge", &vec![7u8; 64 * 1024 * 1024]) {
        Ok(()) => "STORED".to_string(),
        Err(e) => format!("refused {e:?}"),
    }
}

fn storage_write(value: &str) -> String {
    match storage::set("secret", value.as_bytes()) {
        Ok(()) => "written".into(),
        Err(e) => format!("failed {e:?}"),
    }
}

/// Writes `argument` (a byte count) per key, key after key, until the host refuses.
fn storage_flood(argument: &str) -> String {
    let size = argument.parse().unwrap_or(0);
    for i in 0..1_000_000u32 {
        match storage::set(&format!("flood/{i}"), &vec![7u8; size]) {
            Ok(()) => {}
            Err(storage::StorageError::OverQuota(q)) => {
                return format!(
                    "stopped after {i} keys: over-quota {} bytes {} keys",
                    q.quota_bytes, q.quota_keys
                );
            }
            Err(e) => return format!("stopped after {i} keys: {e:?}"),
        }
    }
    "never stopped".into()
}

fn storage_read() -> String {
    let value = match storage::get("secret") {
        Ok(Some(v)) => format!("value {}", String::from_utf8_lossy(&v)),
        Ok(None) => "missing".into(),
        Err(e) => format!("failed {e:?}"),
    };
    let keys = storage::list_keys("")
        .map(|k| k.join(","))
        .unwrap_or_default();
    format!("{value}; keys [{keys}]")
}

/// A batch with one good write and one bad key: nothing of it may be stored.
fn storage_partial_batch() -> String {
    let writes = [
        storage::Write::Set(("partial".into(), b"x".to_vec())),
        storage::Write::Set((String::new(), b"y".to_vec())),
    ];
    let outcome = match storage::batch(&writes) {
        Ok(()) => "batch stored".to_string(),
        Err(storage::StorageError::InvalidKey(_)) => "batch invalid-key".to_string(),
        Err(e) => format!("batch failed {e:?}"),
    };
    let partial = storage::get("partial").ok().flatten().is_some();
    format!("{outcome}; partial write present: {partial}")
}

fn inbox_twice() -> String {
    let mut message = record("delivered".into());
    message.dedupe_key = "inbox-twice-key".into();
    let report = |r: Result<
        crm::mail_sync::inbox::DeliveryReport,
        crm::mail_sync::inbox::InboxError,
    >| match r {
        Ok(r) => format!("delivered {} already {}", r.created, r.unchanged),
        Err(e) => format!("failed {e:?}"),
    };
    use crm::mail_sync::inbox;
    let delivery = inbox_delivery(message, 1);
    let progress = inbox_progress(1);
    let first = report(inbox::deliver(std::slice::from_ref(&delivery), &progress));
    let second = report(inbox::deliver(&[delivery], &progress));
    format!("{first}; {second}")
}

/// `record` as INBOX's UID `uid` (UIDVALIDITY 1), unflagged, in the CRM's inbox.
fn inbox_delivery(record: m::MessageRecord, uid: u32) -> crm::mail_sync::inbox::Delivery {
    use crm::mail_sync::inbox;
    inbox::Delivery {
        record,
        crm_folder: m::CrmFolder::Inbox,
        location: inbox::Location {
            remote_folder: "INBOX".into(),
            uid_validity: 1,
            uid,
        },
        flags: inbox::MessageFlags {
            seen: false,
            answered: false,
            flagged: false,
            draft: false,
        },
        gmail: None,
    }
}

/// INBOX's progress: `done` messages of as many.
fn inbox_progress(done: u32) -> crm::mail_sync::inbox::Progress {
    crm::mail_sync::inbox::Progress {
        remote_folder: "INBOX".into(),
        crm_folder: m::CrmFolder::Inbox,
        done,
        total: done,
        bytes: 0,
    }
}

fn log_secrets(secret: &str) -> String {
    log::log(
        log::Level::Warn,
        &format!(
            "token refresh answered: Authorization: Bearer {secret} and refresh_token={secret}"
        ),
        &[
            log::Field {
                key: "refresh_token".into(),
                value: secret.into(),
            },
            log::Field {
                key: "folder".into(),
                value: "INBOX".into(),
            },
        ],
    );
    "logged".into()
}

fn read_config() -> String {
    let settings = crm::mail_sync::config::settings();
    let providers: Vec<String> = settings
        .providers
        .iter()
        .map(|p| {
            let secret = p
                .credentials
                .as_ref()
                .and_then(|c| c.client_secret.as_deref())
                .map(|s| format!(" secret {s}"))
                .unwrap_or_default();
            format!("{}:{}{secret}", p.id, if p.enabled { "on" } else { "off" })
        })
        .collect();
    format!(
        "providers {}; flags [{}]; backfill {} days",
        providers.join(","),
        settings.feature_flags.join(","),
        settings.limits.backfill_days
    )
}

fn record(outcome: String) -> m::MessageRecord {
    m::MessageRecord {
        dedupe_key: "adversarial".into(),
        message_id: "adversarial@invalid".into(),
        message_id_derived: true,
        in_reply_to: vec![],
        references: vec![],
        thread_key: "adversarial@invalid".into(),
        subject: None,
        from: vec![],
        sender: vec![],
        reply_to: vec![],
        to: vec![],
        cc: vec![],
        bcc: vec![],
        date: m::MessageDate {
            utc: "1970-01-01T00:00:00Z".into(),
            offset_minutes: None,
            source: m::DateSource::None,
        },
        text_body: outcome,
        html_body: None,
        snippet: String::new(),
        attachments: vec![],
        classification: m::Classification {
            auto_reply: false,
            mailing_list: false,
            bulk: false,
            auto_submitted: None,
            precedence: None,
            list_id: None,
        },
        size: 0,
        direction: m::Direction::Inbound,
        truncated: false,
        warnings: vec![],
    }
}
