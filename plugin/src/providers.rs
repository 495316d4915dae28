//! The mail providers the plugin links through: Google, Microsoft 365, or one defined wholly in
//! the host's config. Scopes, consent parameters and IMAP settings per provider; endpoints come
//! resolved from the host's config.

pub use crate::model::{ImapEndpoint, ImapSecurity};

use crate::errors::{ErrorKind, MailboxError};
use crate::ports::{PlatformConfig, ProviderConfig};

/// Whose error codes and quirks a provider has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Google,
    Microsoft,
    Generic,
}

/// A provider ready to link through: enabled, with credentials and every endpoint it needs.
/// `Debug` leaves the client secret out.
#[derive(Clone)]
pub struct Provider {
    pub id: String,
    pub display_name: String,
    pub dialect: Dialect,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub authorize_url: String,
    pub token_url: String,
    pub revoke_url: Option<String>,
    pub userinfo_url: Option<String>,
    /// Who answers the authorization request (RFC 9207's `iss`); a `*` stands for one path
    /// segment (Microsoft's tenant).
    pub issuer: Option<String>,
    pub imap: ImapEndpoint,
    /// The SMTP submission server (`smtps://host:port` or `smtp://host:port`), when set.
    pub submission: Option<String>,
    pub sent_copy: crate::ports::SentCopySetting,
    pub scopes: Vec<String>,
    /// The administrator's extra authorization-URL parameters.
    pub extra_authorize_params: Vec<(String, String)>,
    pub redirect_uri: String,
}

impl Provider {
    /// The provider with its redirect URI on loopback port `port`. A configured redirect URI
    /// with port 0 (`http://127.0.0.1:0/...`) leaves the port to the app that listens for the
    /// redirect, as RFC 8252 (7.3) allows native apps; Google and Microsoft accept any port on
    /// a loopback redirect. Any other redirect URI is used as configured, and takes no port.
    pub fn on_redirect_port(mut self, port: Option<u16>) -> Result<Self, MailboxError> {
        let url = oauth2::url::Url::parse(&self.redirect_uri).ok();
        let open_port = url.as_ref().is_some_and(|u| {
            u.scheme() == "http"
                && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
                && u.port() == Some(0)
        });
        let refuse = |what: &str| {
            Err(MailboxError::new(
                ErrorKind::ProviderNotConfigured(what.to_string()),
                &self.display_name,
            ))
        };
        match (port, url) {
            (None, _) if open_port => {
                refuse("a redirect port: the redirect URI leaves it to the app that listens")
            }
            (None, _) => Ok(self),
            (Some(0), _) => refuse("a redirect port other than 0"),
            (Some(port), Some(mut url)) if open_port => {
                let _ = url.set_port(Some(port));
                self.redirect_uri = url.to_string();
                Ok(self)
            }
            (Some(_), _) => refuse("a redirect URI on a loopback address with port 0"),
        }
    }

    /// Whether `iss`, from an authorization response, names this provider (RFC 9207): when
    /// the provider's issuer is known, it must match; a response may come without one.
    pub fn is_issuer(&self, iss: &str) -> bool {
        let Some(expected) = &self.issuer else {
            return true;
        };
        match expected.split_once('*') {
            None => iss == expected,
            Some((before, after)) => iss
                .strip_prefix(before)
                .and_then(|rest| rest.strip_suffix(after))
                .is_some_and(|tenant| !tenant.is_empty() && !tenant.contains('/')),
        }
    }
}

const GOOGLE_SCOPES: &[&str] = &["https://mail.google.com/", "openid", "email"];
const MICROSOFT_SCOPES: &[&str] = &[
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
    "openid",
    "email",
];

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .field("imap", &self.imap)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Extra parameters of the authorization URL: Google returns a refresh token only with
    /// offline access and a fresh consent.
    pub fn authorize_params(&self) -> &'static [(&'static str, &'static str)] {
        match self.dialect {
            Dialect::Google => &[("access_type", "offline"), ("prompt", "consent")],
            Dialect::Microsoft | Dialect::Generic => &[],
        }
    }

    /// Whether a refresh request repeats the scopes. Microsoft's documentation asks for them;
    /// Google and RFC 6749 default to the original grant's.
    pub fn refresh_repeats_scopes(&self) -> bool {
        self.dialect == Dialect::Microsoft
    }
}

/// The provider `id` as the platform's config defines it, ready to link; or why it cannot be.
pub fn resolve(config: &PlatformConfig, id: &str) -> Result<Provider, MailboxError> {
    let Some(p) = config.providers.iter().find(|p| p.id == id && p.enabled) else {
        return Err(MailboxError::new(
            ErrorKind::ProviderNotEnabled(display_name_of(config, id)),
            id,
        ));
    };
    let missing = |what: &str| {
        MailboxError::new(
            ErrorKind::ProviderNotConfigured(what.to_string()),
            &p.display_name,
        )
    };
    let endpoint = |name: &str| p.endpoints.get(name).filter(|v| !v.is_empty()).cloned();
    let dialect = match p.id.as_str() {
        "google" => Dialect::Google,
        "microsoft" => Dialect::Microsoft,
        _ => Dialect::Generic,
    };
    let scopes = scopes_for(p, dialect);
    if scopes.is_empty() {
        return Err(missing("scopes"));
    }
    Ok(Provider {
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        dialect,
        client_id: p
            .client_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| missing("client id"))?,
        client_secret: p.client_secret.clone().filter(|s| !s.is_empty()),
        authorize_url: endpoint("authorize").ok_or_else(|| missing("authorize endpoint"))?,
        token_url: endpoint("token").ok_or_else(|| missing("token endpoint"))?,
        revoke_url: endpoint("revoke"),
        userinfo_url: endpoint("userinfo"),
        issuer: endpoint("issuer"),
        imap: endpoint("imap")
            .as_deref()
            .and_then(parse_imap_endpoint)
            .ok_or_else(|| missing("IMAP server"))?,
        submission: endpoint("submission"),
        sent_copy: p.sent_copy,
        scopes,
        extra_authorize_params: p.authorize_params.clone(),
        redirect_uri: config
            .redirect_uri
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| missing("redirect URI"))?,
    })
}

/// The name the panel shows for `id`, even when the provider is not enabled.
pub fn display_name_of(config: &PlatformConfig, id: &str) -> String {
    config
        .providers
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.display_name.clone())
        .unwrap_or_else(|| id.to_string())
}

fn scopes_for(p: &ProviderConfig, dialect: Dialect) -> Vec<String> {
    if !p.scopes.is_empty() {
        return p.scopes.clone();
    }
    let defaults = match dialect {
        Dialect::Google => GOOGLE_SCOPES,
        Dialect::Microsoft => MICROSOFT_SCOPES,
        Dialect::Generic => &[],
    };
    defaults.iter().map(|s| s.to_string()).collect()
}

/// `imaps://host:port` (implicit TLS) or `imap://host:port` (STARTTLS).
pub fn parse_imap_endpoint(value: &str) -> Option<ImapEndpoint> {
    parse_endpoint(value, ("imaps://", 993), ("imap://", 143))
}

/// A submission server's endpoint: `smtps://host[:port]` (implicit TLS, 465) or
/// `smtp://host[:port]` (STARTTLS, 587).
pub fn parse_submission_endpoint(value: &str) -> Option<ImapEndpoint> {
    parse_endpoint(value, ("smtps://", 465), ("smtp://", 587))
}

/// `value` under the implicit-TLS scheme `tls` or the STARTTLS scheme `starttls`, each with
/// its default port.
fn parse_endpoint(value: &str, tls: (&str, u16), starttls: (&str, u16)) -> Option<ImapEndpoint> {
    let (security, rest, default_port) = if let Some(rest) = value.strip_prefix(tls.0) {
        (ImapSecurity::Tls, rest, tls.1)
    } else if let Some(rest) = value.strip_prefix(starttls.0) {
        (ImapSecurity::StartTls, rest, starttls.1)
    } else {
        return None;
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            (h, p.parse().ok()?)
        }
        _ => (rest, default_port),
    };
    (!host.is_empty()).then(|| ImapEndpoint {
        host: host.to_string(),
        port,
        security,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id: &str, enabled: bool) -> PlatformConfig {
        let endpoints = [
            ("authorize", "https://accounts.example/auth"),
            ("token", "https://accounts.example/token"),
            ("imap", "imaps://imap.example.com:993"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        PlatformConfig {
            providers: vec![ProviderConfig {
                id: id.into(),
                display_name: "Example".into(),
                enabled,
                client_id: Some("client".into()),
                client_secret: None,
                endpoints,
                scopes: vec![],
                authorize_params: vec![],
                sent_copy: Default::default(),
            }],
            feature_flags: vec!["link-mailbox".into()],
            redirect_uri: Some("http://127.0.0.1:8765/cb".into()),
            limits: Default::default(),
        }
    }

    #[test]
    fn a_redirect_port_is_taken_only_where_the_configured_uri_leaves_it_open() {
        let with_redirect = |uri: &str| {
            let mut c = config("google", true);
            c.redirect_uri = Some(uri.into());
            resolve(&c, "google").unwrap()
        };
        let open = with_redirect("http://127.0.0.1:0/oauth/callback");
        assert_eq!(
            open.clone()
                .on_redirect_port(Some(49152))
                .unwrap()
                .redirect_uri,
            "http://127.0.0.1:49152/oauth/callback"
        );
        let refused = |p: Provider, port| match p.on_redirect_port(port) {
            Err(e) => matches!(e.kind, ErrorKind::ProviderNotConfigured(_)),
            Ok(_) => false,
        };
        assert!(refused(open.clone(), None), "port 0 is not a redirect");
        assert!(refused(open, Some(0)));
        let fixed = with_redirect("http://127.0.0.1:8765/cb");
        assert_eq!(
            fixed.clone().on_redirect_port(None).unwrap().redirect_uri,
            "http://127.0.0.1:8765/cb"
        );
        assert!(refused(fixed, Some(49152)), "a configured port is kept");
        let remote = with_redirect("https://crm.example.com:0/cb");
        assert!(refused(remote, Some(49152)), "loopback only");
    }

    #[test]
    fn google_asks_for_mail_openid_email_with_offline_access_and_consent() {
        let p = resolve(&config("google", true), "google").unwrap();
        assert_eq!(p.scopes, GOOGLE_SCOPES);
        assert_eq!(
            p.authorize_params(),
            &[("access_type", "offline"), ("prompt", "consent")]
        );
        assert_eq!(
            p.imap,
            ImapEndpoint {
                host: "imap.example.com".into(),
                port: 993,
                security: ImapSecurity::Tls
            }
        );
    }

    #[test]
    fn microsoft_asks_for_imap_and_offline_access_and_repeats_scopes_on_refresh() {
        let p = resolve(&config("microsoft", true), "microsoft").unwrap();
        assert!(p.scopes.contains(&"offline_access".to_string()));
        assert!(p.refresh_repeats_scopes());
    }

    #[test]
    fn a_disabled_provider_and_a_custom_one_without_scopes_are_refused_with_reasons() {
        let err = resolve(&config("google", false), "google").unwrap_err();
        assert!(matches!(err.kind, ErrorKind::ProviderNotEnabled(_)));
        let err = resolve(&config("acme", true), "acme").unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderNotConfigured("scopes".into()));
    }

    #[test]
    fn imap_endpoints_name_their_security() {
        let e = parse_imap_endpoint("imap://127.0.0.1:1143").unwrap();
        assert_eq!((e.port, e.security), (1143, ImapSecurity::StartTls));
        assert_eq!(parse_imap_endpoint("imaps://h").unwrap().port, 993);
        assert!(parse_imap_endpoint("https://h").is_none());
    }

    #[test]
    fn the_issuer_matches_exactly_or_by_one_tenant_segment() {
        let mut p = resolve(&config("google", true), "google").unwrap();
        p.issuer = Some("https://accounts.google.com".into());
        assert!(p.is_issuer("https://accounts.google.com"));
        assert!(!p.is_issuer("https://accounts.google.com.evil"));
        p.issuer = Some("https://login.microsoftonline.com/*/v2.0".into());
        assert!(p.is_issuer(
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
        ));
        assert!(!p.is_issuer("https://login.microsoftonline.com//v2.0"));
        assert!(!p.is_issuer("https://login.microsoftonline.com/a/b/v2.0"));
        assert!(!p.is_issuer("https://evil.example/x/v2.0"));
        p.issuer = None;
        assert!(p.is_issuer("anything: the provider names no issuer"));
    }
}
