//! The mail providers: what the settings say of each (`ProviderSettings`), their real endpoints,
//! and the one place they become grants: an enabled provider may reach its own destinations only.

use std::collections::BTreeMap;

use crate::policy::{Grant, Policy};
use serde::{Deserialize, Serialize};

/// A secret from the settings (a client secret): `Debug` shows only that it is there, and its
/// bytes are wiped when dropped.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(zeroize::Zeroizing<String>);

impl SecretText {
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretText {
    fn from(s: String) -> Self {
        SecretText(zeroize::Zeroizing::new(s))
    }
}

impl From<&str> for SecretText {
    fn from(s: &str) -> Self {
        SecretText::from(s.to_string())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderSettings {
    pub id: String,
    /// The dropdown's name for it [default: "Google", "Microsoft 365", or the id].
    pub display_name: Option<String>,
    pub enabled: bool,
    pub client_id: Option<String>,
    /// Never printed by `Debug`; wiped from memory when dropped.
    pub client_secret: Option<SecretText>,
    pub tenant: Option<String>,
    /// Overrides of `authorize`, `token`, `revoke`, `userinfo` (URLs), `imap`
    /// (`imaps://host:port` or `imap://host:port`) and `submission` (`smtps://host:port` or
    /// `smtp://host:port`); the real endpoints are the defaults.
    pub endpoints: BTreeMap<String, String>,
    /// The scopes to ask for; empty means the plugin's own for `google` and `microsoft`.
    pub scopes: Vec<String>,
    /// Extra parameters of the authorization URL (a custom provider's `access_type`, ...).
    pub authorize_params: BTreeMap<String, String>,
    /// Where a sent message's copy in Sent comes from [default: auto, the provider's own way].
    pub sent_copy: SentCopy,
}

/// Where a sent message's copy in the Sent folder comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentCopy {
    /// Gmail and Microsoft save submitted mail themselves; other providers get a copy appended.
    #[default]
    Auto,
    Append,
    None,
}

/// Microsoft's tenant when the settings name none: work, school and personal accounts.
pub const DEFAULT_MICROSOFT_TENANT: &str = "common";

/// The endpoints the plugin reaches over HTTP; `authorize` is opened in the user's browser only.
const HTTP_ENDPOINTS: &[&str] = &["token", "revoke", "userinfo"];

/// The provider's real endpoints, for the providers the plugin knows.
fn known_endpoints(id: &str, tenant: Option<&str>) -> Vec<(&'static str, String)> {
    match id {
        "google" => vec![
            (
                "authorize",
                "https://accounts.google.com/o/oauth2/v2/auth".into(),
            ),
            ("token", "https://oauth2.googleapis.com/token".into()),
            ("revoke", "https://oauth2.googleapis.com/revoke".into()),
            (
                "userinfo",
                "https://openidconnect.googleapis.com/v1/userinfo".into(),
            ),
            ("imap", "imaps://imap.gmail.com:993".into()),
            ("submission", "smtps://smtp.gmail.com:465".into()),
            // Named in Google's authorization responses (RFC 9207); never contacted.
            ("issuer", "https://accounts.google.com".into()),
        ],
        "microsoft" => {
            let tenant = tenant.unwrap_or(DEFAULT_MICROSOFT_TENANT);
            let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
            vec![
                ("authorize", format!("{base}/authorize")),
                ("token", format!("{base}/token")),
                ("imap", "imaps://outlook.office365.com:993".into()),
                ("submission", "smtp://smtp.office365.com:587".into()),
                // A multi-tenant sign-in is answered by the user's own tenant: any one of them.
                (
                    "issuer",
                    match tenant {
                        "common" | "organizations" | "consumers" => {
                            "https://login.microsoftonline.com/*/v2.0".into()
                        }
                        t => format!("https://login.microsoftonline.com/{t}/v2.0"),
                    },
                ),
            ]
        }
        _ => Vec::new(),
    }
}

/// The name a provider's dropdown entry shows when the settings give none.
pub fn default_display_name(id: &str) -> String {
    match id {
        "google" => "Google".into(),
        "microsoft" => "Microsoft 365".into(),
        other => other.into(),
    }
}

impl ProviderSettings {
    /// The provider's endpoints: its real ones, with the administrator's overrides on top.
    pub fn resolved_endpoints(&self) -> BTreeMap<String, String> {
        let mut endpoints: BTreeMap<String, String> =
            known_endpoints(&self.id, self.tenant.as_deref())
                .into_iter()
                .map(|(name, url)| (name.to_string(), url))
                .collect();
        endpoints.extend(self.endpoints.clone());
        endpoints
    }

    pub fn display_name(&self) -> String {
        self.display_name
            .clone()
            .unwrap_or_else(|| default_display_name(&self.id))
    }

    /// What this provider's mailboxes may reach: the origins of its HTTP endpoints and its IMAP
    /// server. An endpoint that is not a URL grants nothing (the policy check refuses it later).
    pub fn derived_grant(&self) -> Grant {
        let endpoints = self.resolved_endpoints();
        let http = HTTP_ENDPOINTS
            .iter()
            .filter_map(|name| endpoints.get(*name))
            .filter_map(|value| url::Url::parse(value).ok())
            .map(|url| url.origin().ascii_serialization())
            .filter(|origin| origin != "null")
            .collect();
        let imap = endpoints.get("imap").cloned().into_iter().collect();
        let submission = endpoints.get("submission").cloned().into_iter().collect();
        Grant {
            http,
            imap,
            submission,
        }
    }
}

/// The policy with each enabled provider's derived grant added to what the settings name.
pub fn policy_with_provider_grants(policy: &Policy, providers: &[ProviderSettings]) -> Policy {
    let mut policy = policy.clone();
    for provider in providers.iter().filter(|p| p.enabled) {
        let derived = provider.derived_grant();
        let grant = policy.providers.entry(provider.id.clone()).or_default();
        for entry in derived.http {
            if !grant.http.contains(&entry) {
                grant.http.push(entry);
            }
        }
        for entry in derived.imap {
            if !grant.imap.contains(&entry) {
                grant.imap.push(entry);
            }
        }
        for entry in derived.submission {
            if !grant.submission.contains(&entry) {
                grant.submission.push(entry);
            }
        }
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: &str, enabled: bool) -> ProviderSettings {
        ProviderSettings {
            id: id.into(),
            enabled,
            ..Default::default()
        }
    }

    #[test]
    fn google_is_granted_its_token_revocation_userinfo_and_imap_servers_only() {
        let grant = provider("google", true).derived_grant();
        assert_eq!(
            grant.http,
            [
                "https://oauth2.googleapis.com",
                "https://oauth2.googleapis.com",
                "https://openidconnect.googleapis.com"
            ]
        );
        assert_eq!(grant.imap, ["imaps://imap.gmail.com:993"]);
    }

    #[test]
    fn microsoft_endpoints_carry_the_tenant_and_no_revocation() {
        let mut ms = provider("microsoft", true);
        ms.tenant = Some("contoso.onmicrosoft.com".into());
        let endpoints = ms.resolved_endpoints();
        assert_eq!(
            endpoints["token"],
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert!(!endpoints.contains_key("revoke"));
        assert_eq!(
            ms.derived_grant().http,
            ["https://login.microsoftonline.com"]
        );
    }

    #[test]
    fn an_override_replaces_the_real_endpoint_and_its_grant() {
        let mut google = provider("google", true);
        google
            .endpoints
            .insert("token".into(), "https://127.0.0.1:8443/token".into());
        let policy = policy_with_provider_grants(&Policy::default(), &[google]);
        let grant = &policy.providers["google"];
        assert!(grant.http.contains(&"https://127.0.0.1:8443".to_string()));
        assert!(
            policy
                .check_http(Some("google"), "https://oauth2.googleapis.com/token", &[])
                .is_ok(),
            "the revocation endpoint keeps its real origin"
        );
    }

    #[test]
    fn a_disabled_provider_is_granted_nothing() {
        let policy = policy_with_provider_grants(
            &Policy::default(),
            &[provider("google", false), provider("microsoft", true)],
        );
        assert!(!policy.providers.contains_key("google"));
        assert!(
            policy
                .check_imap(
                    Some("microsoft"),
                    "outlook.office365.com",
                    993,
                    crate::policy::ImapSecurity::Tls
                )
                .is_ok()
        );
    }
}
