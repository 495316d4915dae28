//! The mailbox panel's typed errors (mirroring the WIT `error-kind`), each with the message the
//! user sees: what happened and what to do, in English and Dutch.

use crate::i18n::UserMessage;
use crate::ports::Refusal;

/// What the provider said: its error code and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSaid {
    pub code: String,
    pub description: Option<String>,
}

impl ProviderSaid {
    pub fn new(code: &str, description: Option<&str>) -> Self {
        ProviderSaid {
            code: code.to_string(),
            description: description.map(str::to_string),
        }
    }

    /// The code to show: Microsoft's `AADSTS…` number when the description has one.
    pub fn shown_code(&self) -> String {
        aadsts_code(self.description.as_deref())
            .map(|n| format!("AADSTS{n}"))
            .unwrap_or_else(|| self.code.clone())
    }
}

/// The number of the first `AADSTS<digits>` in a Microsoft error description.
pub fn aadsts_code(description: Option<&str>) -> Option<u32> {
    let text = description?;
    let start = text.find("AADSTS")? + "AADSTS".len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateProblem {
    Missing,
    Unknown,
    Expired,
    AlreadyUsed,
    OtherUser,
    OtherIssuer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    LinkingDisabled,
    ProviderNotEnabled(String),
    ProviderNotConfigured(String),
    AccessDenied(ProviderSaid),
    AdminPolicyEnforced(ProviderSaid),
    OrgInternal(ProviderSaid),
    AdminConsentRequired(ProviderSaid),
    InvalidClient(ProviderSaid),
    AuthorizationCodeInvalid(ProviderSaid),
    ProviderError(ProviderSaid),
    StateInvalid(StateProblem),
    ProviderUnavailable {
        status: u16,
        retry_after_seconds: Option<u32>,
    },
    DestinationRefused(Refusal),
    Network(String),
    MalformedResponse(String),
    AddressUnknown,
    DifferentAccount {
        linked: String,
        offered: String,
    },
    LinkedToOtherProvider(String),
    NotLinked,
    SettingsReadOnly,
    InvalidSettings {
        field: &'static str,
        problem: String,
    },
    ReauthorizationNeeded(ProviderSaid),
    Storage(String),
    SettingsChanged,
    ImapUnreachable(String),
    ImapTlsFailed(String),
    ImapProtocol(String),
    ImapThrottled(String),
    MappingInvalid(MappingProblem),
    NothingMapped,
    InboxFailed(String),
    FolderMissing(String),
}

/// A CRM folder's mapping that cannot be saved, or no longer holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MappingProblem {
    /// `inbox`, `archive`, `deleted` or `sent`.
    pub crm_folder: String,
    pub remote: String,
    pub kind: MappingProblemKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MappingProblemKind {
    Missing,
    NotSelectable,
    UsedTwice,
}

impl MappingProblem {
    pub fn message(&self) -> UserMessage {
        let key = match self.kind {
            MappingProblemKind::Missing => "mapping.missing",
            MappingProblemKind::NotSelectable => "mapping.not_selectable",
            MappingProblemKind::UsedTwice => "mapping.used_twice",
        };
        UserMessage::new(
            key,
            vec![
                ("crm_folder", self.crm_folder.clone()),
                ("remote", self.remote.clone()),
            ],
        )
    }
}

/// A typed error and the message the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxError {
    pub kind: ErrorKind,
    /// Boxed: errors travel by value through every `Result`.
    pub message: Box<UserMessage>,
}

impl MailboxError {
    /// `provider` is the display name of the provider involved ("Google"), for the message.
    pub fn new(kind: ErrorKind, provider: &str) -> Self {
        let message = Box::new(message_for(&kind, provider));
        MailboxError { kind, message }
    }
}

impl From<crate::ports::StorageFailure> for MailboxError {
    fn from(e: crate::ports::StorageFailure) -> Self {
        MailboxError::new(ErrorKind::Storage(e.0), "")
    }
}

fn message_for(kind: &ErrorKind, provider: &str) -> UserMessage {
    use ErrorKind as K;
    let p = || ("provider", provider.to_string());
    let code = |said: &ProviderSaid| ("code", said.shown_code());
    let (key, params): (&'static str, Vec<(&'static str, String)>) = match kind {
        K::LinkingDisabled => ("link.disabled", vec![]),
        K::ProviderNotEnabled(id) => ("provider.not_enabled", vec![("provider", id.clone())]),
        K::ProviderNotConfigured(missing) => (
            "provider.not_configured",
            vec![p(), ("missing", missing.clone())],
        ),
        K::AccessDenied(_) => ("link.access_denied", vec![p()]),
        K::AdminPolicyEnforced(_) => ("link.admin_policy_enforced", vec![p()]),
        K::OrgInternal(_) => ("link.org_internal", vec![p()]),
        K::AdminConsentRequired(s) => ("link.admin_consent_required", vec![p(), code(s)]),
        K::InvalidClient(_) => ("link.invalid_client", vec![p()]),
        K::AuthorizationCodeInvalid(_) => ("link.code_invalid", vec![p()]),
        K::ProviderError(s) => ("provider.error", vec![p(), code(s)]),
        K::StateInvalid(problem) => (
            match problem {
                StateProblem::Missing => "link.state_missing",
                StateProblem::Unknown => "link.state_unknown",
                StateProblem::Expired => "link.state_expired",
                StateProblem::AlreadyUsed => "link.state_used",
                StateProblem::OtherUser => "link.state_other_user",
                StateProblem::OtherIssuer => "link.state_other_issuer",
            },
            vec![],
        ),
        K::ProviderUnavailable {
            status,
            retry_after_seconds: Some(seconds),
        } => (
            "provider.unavailable_retry_after",
            vec![
                p(),
                ("status", status.to_string()),
                ("seconds", seconds.to_string()),
            ],
        ),
        K::ProviderUnavailable { status, .. } => (
            "provider.unavailable",
            vec![p(), ("status", status.to_string())],
        ),
        K::DestinationRefused(r) => (
            "policy.refused",
            vec![("destination", r.destination.clone())],
        ),
        K::Network(detail) => ("network.failed", vec![p(), ("detail", detail.clone())]),
        K::MalformedResponse(detail) => {
            ("provider.malformed", vec![p(), ("detail", detail.clone())])
        }
        K::AddressUnknown => ("link.address_unknown", vec![p()]),
        K::DifferentAccount { linked, offered } => (
            "link.different_account",
            vec![("linked", linked.clone()), ("offered", offered.clone())],
        ),
        K::LinkedToOtherProvider(name) => ("link.other_provider", vec![("provider", name.clone())]),
        K::NotLinked => ("mailbox.not_linked", vec![]),
        K::SettingsReadOnly => ("settings.read_only", vec![]),
        K::InvalidSettings { field, problem } => (
            "settings.invalid",
            vec![("field", field.to_string()), ("problem", problem.clone())],
        ),
        K::ReauthorizationNeeded(s) => ("reauth.needed", vec![p(), code(s)]),
        K::Storage(_) => ("storage.failed", vec![]),
        K::SettingsChanged => ("settings.changed", vec![p()]),
        K::ImapUnreachable(detail) => ("imap.unreachable", vec![("detail", detail.clone())]),
        K::ImapTlsFailed(detail) => ("imap.tls_failed", vec![("detail", detail.clone())]),
        K::ImapProtocol(detail) => ("imap.protocol", vec![("detail", detail.clone())]),
        K::ImapThrottled(detail) => ("imap.throttled", vec![("detail", detail.clone())]),
        K::MappingInvalid(problem) => return problem.message(),
        K::NothingMapped => ("sync.nothing_mapped", vec![]),
        K::InboxFailed(detail) => ("sync.inbox_failed", vec![("detail", detail.clone())]),
        K::FolderMissing(folder) => ("sync.folder_missing", vec![("folder", folder.clone())]),
    };
    UserMessage::new(key, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aadsts_number_is_read_from_microsofts_description() {
        let said = ProviderSaid::new(
            "invalid_grant",
            Some("AADSTS65001: The user or administrator has not consented. Trace ID: 1"),
        );
        assert_eq!(said.shown_code(), "AADSTS65001");
        assert_eq!(
            ProviderSaid::new("access_denied", None).shown_code(),
            "access_denied"
        );
    }

    #[test]
    fn the_trusted_app_error_tells_the_user_to_ask_the_administrator() {
        let e = MailboxError::new(
            ErrorKind::AdminPolicyEnforced(ProviderSaid::new("admin_policy_enforced", None)),
            "Google",
        );
        assert!(e.message.en.contains("trusted app"), "{}", e.message.en);
        assert!(e.message.nl.contains("vertrouwde app"), "{}", e.message.nl);
        assert!(e.message.en.starts_with("Google"));
    }
}
