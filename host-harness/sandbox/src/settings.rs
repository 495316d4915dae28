//! The host's configuration file: the platform administrator's settings that the plugin reads
//! through `config`, the policy, and the extra TLS trust anchors. TOML, every field defaulted.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::Policy;
pub use crate::providers::{ProviderSettings, SecretText, SentCopy};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostSettings {
    pub platform: PlatformSettings,
    pub policy: Policy,
    pub tls: TlsSettings,
    pub storage: StorageSettings,
    /// The always-on service's own section (`[service]`), read by the service itself.
    pub service: toml::Table,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// The database: a file path or `sqlite:PATH` (SQLite), or `postgres://…` for several
    /// nodes on one PostgreSQL [default: `--db`, `MAILSYNC_DB`, else a file in the user's data
    /// directory]. Never printed by `Debug`: the URL may hold a password.
    pub database: Option<SecretText>,
    /// The file holding the key stored secrets are sealed with (base64 of 32 bytes, mode 0600)
    /// [default: `MAILSYNC_SECRET_KEY`, else `<database>.key`, made on first use].
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM files whose certificates are trusted besides the web PKI roots (tests use a private CA).
    pub extra_roots: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformSettings {
    pub providers: Vec<ProviderSettings>,
    pub feature_flags: Vec<String>,
    pub redirect_uri: Option<String>,
    pub limits: PluginLimits,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        // As in the source document: Microsoft is available, Google must be switched on.
        let provider = |id: &str, enabled| ProviderSettings {
            id: id.into(),
            enabled,
            ..Default::default()
        };
        PlatformSettings {
            providers: vec![provider("microsoft", true), provider("google", false)],
            feature_flags: Vec::new(),
            redirect_uri: None,
            limits: PluginLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    pub max_message_bytes: u64,
    pub max_delivery_batch: u32,
    pub backfill_days: u32,
    /// The text body and the HTML body of a record are each cut at this many bytes.
    pub max_body_bytes: u64,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            max_message_bytes: 50 * 1024 * 1024,
            max_delivery_batch: 200,
            backfill_days: 30,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// A settings file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl HostSettings {
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.into(),
            source,
        })?;
        let settings: HostSettings = toml::from_str(&text).map_err(|e| SettingsError::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?;
        settings
            .effective_policy()
            .validate()
            .map_err(|e| SettingsError::Invalid {
                path: path.into(),
                message: e.to_string(),
            })?;
        Ok(settings)
    }

    /// The policy as enforced: the settings' own grants plus each enabled provider's, derived from
    /// its endpoints.
    pub fn effective_policy(&self) -> Policy {
        crate::providers::policy_with_provider_grants(&self.policy, &self.platform.providers)
    }

    /// Every client secret in the settings, for the log redactor.
    pub fn secrets(&self) -> Vec<String> {
        self.platform
            .providers
            .iter()
            .filter_map(|p| p.client_secret.as_ref())
            .map(|s| s.expose().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_settings_file_loads_and_keeps_the_default_grants() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../settings.example.toml");
        let settings = HostSettings::load(&path).expect("the example loads");
        assert_eq!(settings.policy.providers, Policy::default().providers);
        let effective = settings.effective_policy();
        assert_eq!(
            effective.providers["microsoft"].imap,
            ["imaps://outlook.office365.com:993"]
        );
        assert!(
            !effective.providers.contains_key("google"),
            "google is disabled"
        );
        assert_eq!(settings.platform.feature_flags, ["link-mailbox"]);
        assert_eq!(settings.platform.providers.len(), 2);
        assert!(
            settings
                .platform
                .providers
                .iter()
                .any(|p| p.id == "microsoft" && p.enabled)
        );
    }

    #[test]
    fn debug_never_prints_a_client_secret() {
        let mut settings = HostSettings::default();
        settings.platform.providers[0].client_secret = Some("s3cr3t-value".into());
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("[redacted]"));
        let toml = toml::to_string(&settings).unwrap();
        let again: HostSettings = toml::from_str(&toml).unwrap();
        assert_eq!(
            again.platform.providers[0]
                .client_secret
                .as_ref()
                .map(SecretText::expose),
            Some("s3cr3t-value")
        );
    }

    #[test]
    fn an_unknown_field_is_a_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[policy]\nmemory_limit = 1\n").unwrap();
        let err = HostSettings::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("bad.toml") && err.contains("memory_limit"),
            "{err}"
        );
    }

    #[test]
    fn a_policy_allowing_plain_transport_off_loopback_does_not_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.toml");
        std::fs::write(&path, "[policy]\nplain_hosts = [\"mail.example.com\"]\n").unwrap();
        let err = HostSettings::load(&path).unwrap_err().to_string();
        assert!(err.contains("not localhost or a loopback address"), "{err}");
    }
}
