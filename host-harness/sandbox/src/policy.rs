//! The capability boundary in one place: which destinations a mailbox's provider may reach over
//! HTTP and IMAP, and the limits every call runs under. Everything a guest asks for is checked here.
//!
//! Destinations follow Spin's `scheme://host:port` grammar (`https`, `http`, `imaps` for implicit
//! TLS, `imap` for STARTTLS or plain). A check always runs on the absolute destination the host
//! itself parsed and then on every address the name resolved to, never on anything the guest could
//! spoof (a relative URL, a Host header, userinfo).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Why a destination was refused; mirrors `capability-types.refusal-reason` in the WIT contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    InvalidDestination,
    NotAllowed,
    PlainTransport,
    RefusedAddress,
    UserinfoInUrl,
    ForbiddenHeader,
}

/// A refusal, with the destination as the host read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination {destination} refused by the host policy: {reason:?}")]
pub struct Refusal {
    pub destination: String,
    pub reason: RefusalReason,
}

/// The transport an IMAP or submission connection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapSecurity {
    Tls,
    StartTls,
    Plain,
}

/// A destination that passed the check: what to resolve and connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// True for transport without TLS (`http`, or `imap` with plain security).
    pub plain: bool,
}

impl Destination {
    fn new(scheme: &str, host: String, port: u16) -> Self {
        let plain = scheme == "http";
        Destination {
            scheme: scheme.to_string(),
            host,
            port,
            plain,
        }
    }

    fn same_target(&self, other: &Destination) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// What one provider's mailboxes may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `https://host[:port]` (or `http://` for a plain-allowed loopback host).
    #[serde(default)]
    pub http: Vec<String>,
    /// `imaps://host[:port]` (implicit TLS) or `imap://host[:port]` (STARTTLS, or plain loopback).
    #[serde(default)]
    pub imap: Vec<String>,
    /// The SMTP submission server, lent to `send` calls only: `smtps://host[:port]` (implicit
    /// TLS, 465) or `smtp://host[:port]` (STARTTLS, 587; or plain loopback).
    #[serde(default)]
    pub submission: Vec<String>,
}

/// The host's policy: grants per provider and the limits of every call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub providers: BTreeMap<String, Grant>,
    /// Hosts that may resolve to loopback or private addresses (refused for every other name;
    /// plain hosts are local too).
    pub local_hosts: Vec<String>,
    /// Loopback hosts that may be reached without TLS. Each must be `localhost` or a loopback IP.
    pub plain_hosts: Vec<String>,
    pub memory_limit_bytes: u64,
    /// Instances alive at once in this host, each in a slot of its pool (made when the host
    /// starts); a call beyond them waits for a slot to free.
    pub instances_at_once: u32,
    /// Instances that sync calls, all together, may hand messages to, to normalise them on other
    /// cores while their own instance goes on fetching; 0 keeps normalisation in the sync's own
    /// instance. Each takes a slot of the pool when one is free, never waiting for one. Unset:
    /// one per core, up to 16 and to half of `instances_at_once`.
    pub normalize_workers: Option<u32>,
    pub call_time_budget_ms: u64,
    /// The time budget of one sync call, which fetches a whole backfill window at first.
    pub sync_time_budget_ms: u64,
    pub http_response_cap_bytes: u64,
    pub http_request_cap_bytes: u64,
    pub imap_read_cap_bytes: u32,
    pub imap_write_cap_bytes: u64,
    /// IMAP connections one call may hold open at once.
    pub imap_connections_per_call: u32,
    /// IMAP connections one mailbox may hold open at once, across all its calls (a sync and a
    /// watch): the provider's own cap is shared with the user's mail apps.
    pub imap_connections_per_account: u32,
    pub storage_value_cap_bytes: u64,
    /// What one mailbox may keep in the plugin's storage, in bytes and in keys.
    pub storage_quota_bytes: u64,
    pub storage_quota_keys: u64,
    pub inbox_batch_cap_bytes: u64,
    /// What one call into the host may copy out of the guest (its arguments, as the host holds
    /// them); past it the call is stopped before the copy.
    pub hostcall_cap_bytes: u64,
    pub connect_timeout_ms: u64,
    pub io_timeout_ms: u64,
    /// The largest message one `send` may submit, as written to the server.
    pub send_max_message_bytes: u64,
    /// The most recipients (to, cc and bcc together) of one message.
    pub send_max_recipients: u32,
    /// The most messages one mailbox may send in a minute, and in a day, on all nodes together.
    pub send_per_minute: u32,
    pub send_per_day: u32,
    /// The most unfinished entries (sends and actions) one mailbox's outbox holds; past it the
    /// platform's next one is refused until some finish.
    pub outbox_max_open: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            // Each enabled provider's grant is derived from its endpoints (`providers.rs`).
            providers: BTreeMap::new(),
            local_hosts: Vec::new(),
            plain_hosts: Vec::new(),
            memory_limit_bytes: 256 * 1024 * 1024,
            instances_at_once: 256,
            normalize_workers: None,
            call_time_budget_ms: 30_000,
            sync_time_budget_ms: 30 * 60_000,
            http_response_cap_bytes: 4 * 1024 * 1024,
            http_request_cap_bytes: 1024 * 1024,
            imap_read_cap_bytes: 256 * 1024,
            imap_write_cap_bytes: 1024 * 1024,
            imap_connections_per_call: 4,
            imap_connections_per_account: 2,
            storage_value_cap_bytes: 4 * 1024 * 1024,
            storage_quota_bytes: 64 * 1024 * 1024,
            storage_quota_keys: 10_000,
            inbox_batch_cap_bytes: 128 * 1024 * 1024,
            hostcall_cap_bytes: 64 * 1024 * 1024,
            connect_timeout_ms: 10_000,
            io_timeout_ms: 30_000,
            // Gmail's and Microsoft's own cap on a message is 25 MiB.
            send_max_message_bytes: 25 * 1024 * 1024,
            // Microsoft 365 allows 500 recipients a message, Gmail 100 to the address fields.
            send_max_recipients: 100,
            // A person's pace, well inside Gmail's (2,000 a day for Workspace) and Microsoft's
            // (30 a minute, 10,000 recipients a day) own limits.
            send_per_minute: 30,
            send_per_day: 2000,
            // Five days of sends at the daily rate, with actions beside them.
            outbox_max_open: 10_000,
        }
    }
}

/// A policy that cannot be enforced as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("grant `{entry}` for provider `{provider}` is not a scheme://host[:port] destination")]
    BadGrant { provider: String, entry: String },
    #[error("plain host `{0}` is not localhost or a loopback address")]
    PlainHostNotLoopback(String),
    #[error("instances_at_once is {0}; it must be between 1 and {MAX_INSTANCES_AT_ONCE}")]
    InstancesAtOnce(u32),
    #[error("normalize_workers is {0}; it must be at most instances_at_once ({1})")]
    NormalizeWorkers(u32, u32),
}

/// The most instances one host may hold at once: each reserves two pool slots of 4 GiB of
/// address space for its linear memory (so no bounds checks are compiled in), 8 TiB for this many.
pub const MAX_INSTANCES_AT_ONCE: u32 = 1024;

impl Policy {
    /// Refuses a policy whose grants cannot be read or that allows plain transport off loopback.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (provider, grant) in &self.providers {
            for entry in grant
                .http
                .iter()
                .chain(&grant.imap)
                .chain(&grant.submission)
            {
                if parse_grant(entry).is_none() {
                    return Err(PolicyError::BadGrant {
                        provider: provider.clone(),
                        entry: entry.clone(),
                    });
                }
            }
        }
        if !(1..=MAX_INSTANCES_AT_ONCE).contains(&self.instances_at_once) {
            return Err(PolicyError::InstancesAtOnce(self.instances_at_once));
        }
        if let Some(workers) = self.normalize_workers
            && workers > self.instances_at_once
        {
            return Err(PolicyError::NormalizeWorkers(
                workers,
                self.instances_at_once,
            ));
        }
        for host in &self.plain_hosts {
            let loopback = host == "localhost"
                || parse_host(host)
                    .and_then(|h| h.parse::<IpAddr>().ok())
                    .is_some_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(PolicyError::PlainHostNotLoopback(host.clone()));
            }
        }
        Ok(())
    }

    /// `normalize_workers`, or when unset one per core of this machine, up to 16 and to half of
    /// `instances_at_once`.
    pub fn normalize_workers(&self) -> u32 {
        self.normalize_workers.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores.min(16) as u32).min(self.instances_at_once / 2)
        })
    }

    /// Checks an HTTP request's URL and headers for `provider`; on success, the destination the
    /// host will resolve and connect to.
    pub fn check_http(
        &self,
        provider: Option<&str>,
        url: &str,
        header_names: &[&str],
    ) -> Result<Destination, Refusal> {
        let parsed =
            url::Url::parse(url).map_err(|_| refusal(url, RefusalReason::InvalidDestination))?;
        let scheme = parsed.scheme().to_string();
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(refusal(url, RefusalReason::InvalidDestination)),
        };
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| refusal(url, RefusalReason::InvalidDestination))?;
        let dest = Destination::new(&scheme, host, port);
        if !matches!(dest.scheme.as_str(), "http" | "https") {
            return Err(refusal(
                &dest.to_string(),
                RefusalReason::InvalidDestination,
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refusal(&dest.to_string(), RefusalReason::UserinfoInUrl));
        }
        if let Some(name) = header_names.iter().find(|n| is_forbidden_header(n)) {
            return Err(Refusal {
                destination: format!("{dest} (header {name})"),
                reason: RefusalReason::ForbiddenHeader,
            });
        }
        self.check_granted(provider, &dest, |g| &g.http)?;
        if dest.plain {
            self.check_plain(&dest)?;
        }
        self.check_literal_address(&dest)?;
        Ok(dest)
    }

    /// Checks an IMAP connection request for `provider`.
    pub fn check_imap(
        &self,
        provider: Option<&str>,
        host: &str,
        port: u16,
        security: ImapSecurity,
    ) -> Result<Destination, Refusal> {
        self.check_stream(provider, (host, port), security, ("imaps", "imap"), |g| {
            &g.imap
        })
    }

    /// Checks a submission connection request for `provider`: `smtps` for implicit TLS, `smtp`
    /// for STARTTLS (or plain loopback).
    pub fn check_submission(
        &self,
        provider: Option<&str>,
        host: &str,
        port: u16,
        security: ImapSecurity,
    ) -> Result<Destination, Refusal> {
        self.check_stream(provider, (host, port), security, ("smtps", "smtp"), |g| {
            &g.submission
        })
    }

    /// A byte stream's destination under the scheme for its security (`schemes`: implicit TLS,
    /// then STARTTLS or plain), checked against the grant list `list` picks.
    fn check_stream(
        &self,
        provider: Option<&str>,
        (host, port): (&str, u16),
        security: ImapSecurity,
        schemes: (&str, &str),
        list: impl Fn(&Grant) -> &Vec<String>,
    ) -> Result<Destination, Refusal> {
        let scheme = if security == ImapSecurity::Tls {
            schemes.0
        } else {
            schemes.1
        };
        let Some(host) = parse_host(host) else {
            return Err(refusal(
                &format!("{scheme}://{host}:{port}"),
                RefusalReason::InvalidDestination,
            ));
        };
        let mut dest = Destination::new(scheme, host, port);
        dest.plain = security == ImapSecurity::Plain;
        self.check_granted(provider, &dest, list)?;
        if dest.plain {
            self.check_plain(&dest)?;
        }
        self.check_literal_address(&dest)?;
        Ok(dest)
    }

    /// Checks the addresses a granted name resolved to; only the allowed ones may be connected to.
    pub fn check_resolved(
        &self,
        dest: &Destination,
        addresses: &[IpAddr],
    ) -> Result<Vec<IpAddr>, Refusal> {
        let local_ok = self
            .local_hosts
            .iter()
            .chain(&self.plain_hosts)
            .any(|h| same_host(h, &dest.host));
        let allowed: Vec<IpAddr> = addresses
            .iter()
            .copied()
            .filter(|ip| local_ok || is_public(*ip))
            .filter(|ip| !dest.plain || ip.is_loopback())
            .collect();
        if allowed.is_empty() {
            return Err(refusal(&dest.to_string(), RefusalReason::RefusedAddress));
        }
        Ok(allowed)
    }

    fn check_granted(
        &self,
        provider: Option<&str>,
        dest: &Destination,
        list: impl Fn(&Grant) -> &Vec<String>,
    ) -> Result<(), Refusal> {
        let granted = provider
            .and_then(|p| self.providers.get(p))
            .map(|grant| {
                list(grant)
                    .iter()
                    .filter_map(|g| parse_grant(g))
                    .any(|g| g.same_target(dest))
            })
            .unwrap_or(false);
        if granted {
            Ok(())
        } else {
            Err(refusal(&dest.to_string(), RefusalReason::NotAllowed))
        }
    }

    fn check_plain(&self, dest: &Destination) -> Result<(), Refusal> {
        if self.plain_hosts.iter().any(|h| same_host(h, &dest.host)) {
            Ok(())
        } else {
            Err(refusal(&dest.to_string(), RefusalReason::PlainTransport))
        }
    }

    /// An IP literal is its own resolution: check it now.
    fn check_literal_address(&self, dest: &Destination) -> Result<(), Refusal> {
        match dest.host.parse::<IpAddr>() {
            Ok(ip) => self.check_resolved(dest, &[ip]).map(|_| ()),
            Err(_) => Ok(()),
        }
    }
}

fn refusal(destination: &str, reason: RefusalReason) -> Refusal {
    Refusal {
        destination: destination.to_string(),
        reason,
    }
}

/// `scheme://host[:port]` with the scheme's default port, as a destination.
fn parse_grant(entry: &str) -> Option<Destination> {
    let (scheme, rest) = entry.split_once("://")?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        "imaps" => 993,
        "imap" => 143,
        "smtps" => 465,
        "smtp" => 587,
        _ => return None,
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '@', '?', '#']) || rest.is_empty() {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, p.parse().ok()?),
        _ => (rest, default_port),
    };
    Some(Destination::new(scheme, parse_host(host)?, port))
}

/// A host name lower-cased, or an IP literal (brackets removed from IPv6) in canonical form.
fn parse_host(host: &str) -> Option<String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    let valid = !bare.is_empty()
        && bare.len() <= 253
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then(|| bare.to_ascii_lowercase())
}

fn same_host(entry: &str, host: &str) -> bool {
    parse_host(entry).is_some_and(|h| h == host)
}

/// Headers that steer where or how a request goes; the host sets them itself.
fn is_forbidden_header(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "content-length"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "expect"
    ) || name.starts_with("proxy-")
        || name.starts_with(':')
}

/// Addresses any public name may resolve to: not loopback, private, link-local, shared,
/// unspecified, broadcast, documentation, benchmarking, reserved or multicast; an IPv6 address
/// that embeds an IPv4 one (mapped, compatible, NAT64, 6to4) is judged by the address it embeds.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (o[0] == 100 && (64..128).contains(&o[1]))
                // IETF protocol assignments, 192.0.0.0/24.
                || (o[0], o[1], o[2]) == (192, 0, 0)
                // Benchmarking, 198.18.0.0/15.
                || (o[0] == 198 && (18..20).contains(&o[1]))
                // Reserved for future use, 240.0.0.0/4.
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10 (deprecated).
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                // Documentation, 2001:db8::/32 and 3fff::/20.
                || (s[0], s[1]) == (0x2001, 0x0db8)
                || (s[0] & 0xfff0) == 0x3ff0
                // Local-use NAT64, 64:ff9b:1::/48 (its whole range, whatever it embeds).
                || (s[0], s[1], s[2]) == (0x64, 0xff9b, 1))
        }
    }
}

/// The IPv4 address an IPv6 one carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, deprecated), well-known NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return Some(mapped);
    }
    match s {
        // `::` and `::1` are themselves, not IPv4-compatible addresses.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(v4(s[6], s[7])),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(v4(s[6], s[7])),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let mut p = Policy::default();
        p.providers.insert(
            "test".into(),
            Grant {
                http: vec![
                    "https://api.example.com".into(),
                    "https://[2606:4700::1]:8443".into(),
                    "https://93.184.216.34".into(),
                    "http://127.0.0.1:8080".into(),
                    "https://rebind.example.com".into(),
                    "https://dev.local.test".into(),
                ],
                imap: vec![
                    "imaps://imap.example.com".into(),
                    "imap://mail.example.com".into(),
                    "imap://127.0.0.1:1143".into(),
                ],
                submission: vec![
                    "smtps://smtp.example.com".into(),
                    "smtp://submit.example.com".into(),
                    "smtp://127.0.0.1:1587".into(),
                ],
            },
        );
        p.local_hosts = vec!["127.0.0.1".into(), "dev.local.test".into()];
        p.plain_hosts = vec!["127.0.0.1".into()];
        p.validate().expect("test policy is valid");
        p
    }

    fn http(url: &str) -> Result<Destination, RefusalReason> {
        policy()
            .check_http(Some("test"), url, &[])
            .map_err(|r| r.reason)
    }

    fn public(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn granted_https_url_passes_with_its_default_port() {
        let d = http("https://api.example.com/oauth/token?x=1").unwrap();
        assert_eq!(d.to_string(), "https://api.example.com:443");
        assert!(!d.plain);
    }

    #[test]
    fn host_names_compare_case_insensitively() {
        assert!(http("https://API.Example.COM/").is_ok());
    }

    #[test]
    fn relative_url_is_refused() {
        assert_eq!(http("/oauth/token"), Err(RefusalReason::InvalidDestination));
        assert_eq!(
            http("//api.example.com/x"),
            Err(RefusalReason::InvalidDestination)
        );
    }

    #[test]
    fn other_schemes_are_refused() {
        assert_eq!(
            http("file:///etc/passwd"),
            Err(RefusalReason::InvalidDestination)
        );
        assert_eq!(
            http("ftp://api.example.com/"),
            Err(RefusalReason::InvalidDestination)
        );
    }

    #[test]
    fn a_host_header_is_refused_whatever_its_case() {
        let p = policy();
        let r = p.check_http(
            Some("test"),
            "https://api.example.com/",
            &["Accept", "HoSt"],
        );
        assert_eq!(r.unwrap_err().reason, RefusalReason::ForbiddenHeader);
        let r = p.check_http(
            Some("test"),
            "https://api.example.com/",
            &["Proxy-Authorization"],
        );
        assert_eq!(r.unwrap_err().reason, RefusalReason::ForbiddenHeader);
        assert!(
            p.check_http(Some("test"), "https://api.example.com/", &["Authorization"])
                .is_ok()
        );
    }

    #[test]
    fn userinfo_in_the_url_is_refused() {
        assert_eq!(
            http("https://user:pw@api.example.com/"),
            Err(RefusalReason::UserinfoInUrl)
        );
        // The classic confusion: the real host is evil.example.
        assert_eq!(
            http("https://api.example.com@evil.example/"),
            Err(RefusalReason::UserinfoInUrl)
        );
    }

    #[test]
    fn a_host_not_in_the_grant_is_refused() {
        assert_eq!(
            http("https://evil.example/"),
            Err(RefusalReason::NotAllowed)
        );
        assert_eq!(
            http("https://api.example.com.evil.example/"),
            Err(RefusalReason::NotAllowed)
        );
    }

    #[test]
    fn a_port_outside_the_list_is_refused() {
        assert_eq!(
            http("https://api.example.com:8443/"),
            Err(RefusalReason::NotAllowed)
        );
        assert_eq!(
            http("http://127.0.0.1:8081/"),
            Err(RefusalReason::NotAllowed)
        );
    }

    #[test]
    fn an_ip_literal_is_allowed_only_when_granted_and_public() {
        assert!(http("https://93.184.216.34/").is_ok());
        assert_eq!(
            http("https://93.184.216.35/"),
            Err(RefusalReason::NotAllowed)
        );
        // Decimal and hex spellings of an address are read as the address they are.
        assert_eq!(
            http("https://1572395042/").map(|d| d.host),
            Ok("93.184.216.34".to_string())
        );
        assert_eq!(
            http("https://0x5db8d822/").map(|d| d.host),
            Ok("93.184.216.34".to_string())
        );
    }

    #[test]
    fn ipv6_literals_are_canonicalised_and_checked() {
        let d = http("https://[2606:4700:0:0::1]:8443/").unwrap();
        assert_eq!(d.host, "2606:4700::1");
        assert_eq!(d.to_string(), "https://[2606:4700::1]:8443");
        assert_eq!(
            http("https://[2606:4700::2]:8443/"),
            Err(RefusalReason::NotAllowed)
        );
        assert_eq!(http("https://[::1]/"), Err(RefusalReason::NotAllowed));
    }

    #[test]
    fn plain_http_is_allowed_only_for_a_named_loopback_host() {
        let d = http("http://127.0.0.1:8080/token").unwrap();
        assert!(d.plain);
        let mut p = policy();
        p.providers
            .get_mut("test")
            .unwrap()
            .http
            .push("http://api.example.com".into());
        let r = p.check_http(Some("test"), "http://api.example.com/", &[]);
        assert_eq!(r.unwrap_err().reason, RefusalReason::PlainTransport);
    }

    #[test]
    fn instances_at_once_must_leave_one_slot_and_fit_the_address_space() {
        let mut p = policy();
        assert_eq!(p.validate(), Ok(()));
        p.instances_at_once = 0;
        assert_eq!(p.validate(), Err(PolicyError::InstancesAtOnce(0)));
        p.instances_at_once = MAX_INSTANCES_AT_ONCE + 1;
        assert_eq!(
            p.validate(),
            Err(PolicyError::InstancesAtOnce(MAX_INSTANCES_AT_ONCE + 1))
        );
        p.instances_at_once = 1;
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.normalize_workers(), 0, "half of one instance");
        p.normalize_workers = Some(2);
        assert_eq!(p.validate(), Err(PolicyError::NormalizeWorkers(2, 1)));
        p.normalize_workers = Some(1);
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.normalize_workers(), 1);
    }

    #[test]
    fn a_policy_naming_a_non_loopback_plain_host_is_invalid() {
        let mut p = policy();
        p.plain_hosts.push("10.0.0.1".into());
        assert_eq!(
            p.validate(),
            Err(PolicyError::PlainHostNotLoopback("10.0.0.1".into()))
        );
        p.plain_hosts = vec!["mail.example.com".into()];
        assert!(p.validate().is_err());
    }

    #[test]
    fn a_malformed_grant_makes_the_policy_invalid() {
        let mut p = policy();
        p.providers
            .get_mut("test")
            .unwrap()
            .http
            .push("https://x.example/path".into());
        assert!(matches!(p.validate(), Err(PolicyError::BadGrant { .. })));
    }

    #[test]
    fn a_dns_name_resolving_to_a_refused_address_is_refused() {
        let p = policy();
        let d = p
            .check_http(Some("test"), "https://rebind.example.com/", &[])
            .unwrap();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "255.255.255.254",
            "192.0.2.10",
            "fec0::1",
            "2001:db8::5",
            "3fff::1",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::5db8:d822",
            "::127.0.0.1",
            "::10.0.0.1",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
        ] {
            let r = p.check_resolved(&d, &[public(refused)]);
            assert_eq!(
                r.unwrap_err().reason,
                RefusalReason::RefusedAddress,
                "{refused}"
            );
        }
        // Only the public addresses of a mixed answer are kept.
        let kept = p
            .check_resolved(&d, &[public("127.0.0.1"), public("93.184.216.34")])
            .unwrap();
        assert_eq!(kept, vec![public("93.184.216.34")]);
        // An IPv6 address that embeds a public IPv4 one is public, as is a plain global one.
        for kept in [
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "::ffff:93.184.216.34",
            "2606:4700:4700::1111",
        ] {
            assert!(p.check_resolved(&d, &[public(kept)]).is_ok(), "{kept}");
        }
    }

    #[test]
    fn a_local_host_may_resolve_to_private_addresses() {
        let p = policy();
        let d = p
            .check_http(Some("test"), "https://dev.local.test/", &[])
            .unwrap();
        assert!(p.check_resolved(&d, &[public("10.0.0.5")]).is_ok());
    }

    #[test]
    fn plain_transport_must_resolve_to_loopback() {
        let p = policy();
        let d = p
            .check_http(Some("test"), "http://127.0.0.1:8080/", &[])
            .unwrap();
        assert!(p.check_resolved(&d, &[public("127.0.0.1")]).is_ok());
    }

    #[test]
    fn no_provider_or_an_unknown_one_reaches_nothing() {
        let p = policy();
        assert_eq!(
            p.check_http(None, "https://api.example.com/", &[])
                .unwrap_err()
                .reason,
            RefusalReason::NotAllowed
        );
        assert_eq!(
            p.check_http(Some("other"), "https://api.example.com/", &[])
                .unwrap_err()
                .reason,
            RefusalReason::NotAllowed
        );
    }

    #[test]
    fn providers_do_not_share_grants() {
        let mut p = Policy::default();
        p.providers.insert(
            "google".into(),
            Grant {
                http: vec!["https://oauth2.googleapis.com".into()],
                imap: vec![],
                submission: vec![],
            },
        );
        assert!(
            p.check_http(Some("google"), "https://oauth2.googleapis.com/token", &[])
                .is_ok()
        );
        let r = p.check_http(
            Some("microsoft"),
            "https://oauth2.googleapis.com/token",
            &[],
        );
        assert_eq!(r.unwrap_err().reason, RefusalReason::NotAllowed);
    }

    #[test]
    fn submission_is_granted_by_its_own_list_with_smtp_ports() {
        let p = policy();
        let t = Some("test");
        let tls = p.check_submission(t, "smtp.example.com", 465, ImapSecurity::Tls);
        assert_eq!(tls.unwrap().to_string(), "smtps://smtp.example.com:465");
        assert!(
            p.check_submission(t, "submit.example.com", 587, ImapSecurity::StartTls)
                .is_ok()
        );
        assert!(
            p.check_submission(t, "127.0.0.1", 1587, ImapSecurity::Plain)
                .is_ok()
        );
        // An IMAP grant is no submission grant, nor another port, nor plain off loopback.
        for (host, port, security) in [
            ("imap.example.com", 993, ImapSecurity::Tls),
            ("smtp.example.com", 25, ImapSecurity::Tls),
            ("submit.example.com", 587, ImapSecurity::Plain),
        ] {
            assert!(
                p.check_submission(t, host, port, security).is_err(),
                "{host}:{port}"
            );
        }
        assert!(
            p.check_submission(None, "smtp.example.com", 465, ImapSecurity::Tls)
                .is_err()
        );
    }

    #[test]
    fn imap_checks_scheme_for_the_security_asked() {
        let p = policy();
        let t = Some("test");
        assert!(
            p.check_imap(t, "imap.example.com", 993, ImapSecurity::Tls)
                .is_ok()
        );
        // Granted for implicit TLS only: STARTTLS on 143 is another destination.
        assert_eq!(
            p.check_imap(t, "imap.example.com", 143, ImapSecurity::StartTls)
                .unwrap_err()
                .reason,
            RefusalReason::NotAllowed
        );
        assert!(
            p.check_imap(t, "mail.example.com", 143, ImapSecurity::StartTls)
                .is_ok()
        );
        assert_eq!(
            p.check_imap(t, "mail.example.com", 143, ImapSecurity::Plain)
                .unwrap_err()
                .reason,
            RefusalReason::PlainTransport
        );
        assert!(
            p.check_imap(t, "127.0.0.1", 1143, ImapSecurity::Plain)
                .is_ok()
        );
        assert_eq!(
            p.check_imap(t, "imap.example.com", 994, ImapSecurity::Tls)
                .unwrap_err()
                .reason,
            RefusalReason::NotAllowed
        );
        assert_eq!(
            p.check_imap(t, "bad host!", 993, ImapSecurity::Tls)
                .unwrap_err()
                .reason,
            RefusalReason::InvalidDestination
        );
    }

    #[test]
    fn the_default_policy_is_valid() {
        // Its values against docs/security.md: `tests/tests/documented_limits.rs`.
        assert!(Policy::default().validate().is_ok());
    }
}
