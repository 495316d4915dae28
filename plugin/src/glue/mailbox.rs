//! The `mailbox` export: WIT records to and from the account module's domain types, and the
//! typed errors as the WIT's; the conversion only, the logic stays in `account`.

use super::Component;
use super::bindings::exports::crm::mail_sync::mailbox as wit;
use super::host::{wit_refusal, with_env};
use crate::account as domain;
use crate::errors::{
    ErrorKind, MailboxError, MappingProblem, MappingProblemKind, ProviderSaid, StateProblem,
};
use crate::i18n::UserMessage;
use crate::providers::ImapSecurity;

impl wit::Guest for Component {
    fn status() -> Result<wit::MailboxStatus, wit::MailboxError> {
        with_env(|env| domain::status(env).map(status).map_err(error))
    }

    fn link_start(request: wit::LinkRequest) -> Result<wit::LinkStarted, wit::MailboxError> {
        let request = domain::LinkRequest {
            user: request.user,
            provider: request.provider,
            login_hint: request.login_hint,
            redirect_port: request.redirect_port,
        };
        with_env(|env| {
            domain::link_start(env, &request)
                .map(|s| wit::LinkStarted {
                    authorization_url: s.authorization_url,
                    expires_at: s.expires_at,
                })
                .map_err(error)
        })
    }

    fn link_complete(
        user: String,
        query: Vec<(String, String)>,
    ) -> Result<wit::MailboxStatus, wit::MailboxError> {
        with_env(|env| {
            domain::link_complete(env, &user, &query)
                .map(status)
                .map_err(error)
        })
    }

    fn unlink() -> Result<wit::Unlinked, wit::MailboxError> {
        with_env(|env| {
            domain::unlink(env)
                .map(|u| wit::Unlinked {
                    status: status(u.status),
                    warnings: u.warnings.into_iter().map(message).collect(),
                })
                .map_err(error)
        })
    }

    fn set_settings(
        settings: wit::ManualSettings,
    ) -> Result<wit::MailboxStatus, wit::MailboxError> {
        let settings = domain::ManualSettings {
            imap_host: settings.imap_host,
            imap_port: settings.imap_port,
            security: match settings.security {
                wit::ImapSecurity::Tls => ImapSecurity::Tls,
                wit::ImapSecurity::Starttls => ImapSecurity::StartTls,
                wit::ImapSecurity::Plain => ImapSecurity::Plain,
            },
            username: settings.username,
            password: settings.password,
        };
        with_env(|env| {
            domain::set_settings(env, &settings)
                .map(status)
                .map_err(error)
        })
    }

    fn check_access(force: bool) -> Result<wit::AccessChecked, wit::MailboxError> {
        with_env(|env| {
            domain::check_access(env, force)
                .map(|c| wit::AccessChecked {
                    refreshed: c.refreshed,
                    refresh_token_rotated: c.refresh_token_rotated,
                    expires_at: c.expires_at,
                })
                .map_err(error)
        })
    }
}

fn status(s: domain::MailboxStatus) -> wit::MailboxStatus {
    wit::MailboxStatus {
        state: match s.state {
            domain::LinkState::Unlinked => wit::LinkState::Unlinked,
            domain::LinkState::Linked => wit::LinkState::Linked,
            domain::LinkState::ReauthorizationNeeded => wit::LinkState::ReauthorizationNeeded,
        },
        provider: s.provider,
        address: s.address,
        settings: s.settings.map(|m| wit::MailSettings {
            imap_host: m.imap_host,
            imap_port: m.imap_port,
            security: match m.security {
                ImapSecurity::Tls => wit::ImapSecurity::Tls,
                ImapSecurity::StartTls => wit::ImapSecurity::Starttls,
                ImapSecurity::Plain => wit::ImapSecurity::Plain,
            },
            username: m.username,
            auth: match m.auth {
                domain::AuthMethod::XOAuth2 => wit::AuthMethod::Xoauth2,
                domain::AuthMethod::Password => wit::AuthMethod::Password,
            },
        }),
        settings_read_only: s.settings_read_only,
        reauthorization_reason: s.reauthorization_reason.map(message),
        linked_at: s.linked_at,
        access_expires_at: s.access_expires_at,
        providers: s
            .providers
            .into_iter()
            .map(|p| wit::ProviderChoice {
                id: p.id,
                display_name: p.display_name,
            })
            .collect(),
        link_available: s.link_available,
        link_unavailable_reason: s.link_unavailable_reason.map(message),
        provider_hints: s.provider_hints.into_iter().map(message).collect(),
    }
}

pub(super) fn message(m: UserMessage) -> wit::UserMessage {
    wit::UserMessage {
        key: m.key.to_string(),
        params: m
            .params
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        en: m.en,
        nl: m.nl,
    }
}

fn said(s: ProviderSaid) -> wit::ProviderSaid {
    wit::ProviderSaid {
        code: s.code,
        description: s.description,
    }
}

pub(super) fn mapping_problem(p: MappingProblem) -> wit::MappingProblem {
    wit::MappingProblem {
        crm_folder: p.crm_folder,
        remote: p.remote,
        problem: match p.kind {
            MappingProblemKind::Missing => wit::MappingProblemKind::Missing,
            MappingProblemKind::NotSelectable => wit::MappingProblemKind::NotSelectable,
            MappingProblemKind::UsedTwice => wit::MappingProblemKind::UsedTwice,
        },
    }
}

pub(super) fn error(e: MailboxError) -> wit::MailboxError {
    use wit::ErrorKind as W;
    let kind = match e.kind {
        ErrorKind::LinkingDisabled => W::LinkingDisabled,
        ErrorKind::ProviderNotEnabled(p) => W::ProviderNotEnabled(p),
        ErrorKind::ProviderNotConfigured(m) => W::ProviderNotConfigured(m),
        ErrorKind::AccessDenied(s) => W::AccessDenied(said(s)),
        ErrorKind::AdminPolicyEnforced(s) => W::AdminPolicyEnforced(said(s)),
        ErrorKind::OrgInternal(s) => W::OrgInternal(said(s)),
        ErrorKind::AdminConsentRequired(s) => W::AdminConsentRequired(said(s)),
        ErrorKind::InvalidClient(s) => W::InvalidClient(said(s)),
        ErrorKind::AuthorizationCodeInvalid(s) => W::AuthorizationCodeInvalid(said(s)),
        ErrorKind::ProviderError(s) => W::ProviderError(said(s)),
        ErrorKind::StateInvalid(p) => W::StateInvalid(match p {
            StateProblem::Missing => wit::StateProblem::Missing,
            StateProblem::Unknown => wit::StateProblem::Unknown,
            StateProblem::Expired => wit::StateProblem::Expired,
            StateProblem::AlreadyUsed => wit::StateProblem::AlreadyUsed,
            StateProblem::OtherUser => wit::StateProblem::OtherUser,
            StateProblem::OtherIssuer => wit::StateProblem::OtherIssuer,
        }),
        ErrorKind::ProviderUnavailable {
            status,
            retry_after_seconds,
        } => W::ProviderUnavailable(wit::RetryLater {
            status,
            retry_after_seconds,
        }),
        ErrorKind::DestinationRefused(r) => W::DestinationRefused(wit_refusal(&r)),
        ErrorKind::Network(m) => W::Network(m),
        ErrorKind::MalformedResponse(m) => W::MalformedResponse(m),
        ErrorKind::AddressUnknown => W::AddressUnknown,
        ErrorKind::DifferentAccount { linked, offered } => {
            W::DifferentAccount(wit::DifferentAccount { linked, offered })
        }
        ErrorKind::LinkedToOtherProvider(p) => W::LinkedToOtherProvider(p),
        ErrorKind::NotLinked => W::NotLinked,
        ErrorKind::SettingsReadOnly => W::SettingsReadOnly,
        ErrorKind::InvalidSettings { field, problem } => {
            W::InvalidSettings(format!("{field}: {problem}"))
        }
        ErrorKind::ReauthorizationNeeded(s) => W::ReauthorizationNeeded(said(s)),
        ErrorKind::Storage(m) => W::Storage(m),
        ErrorKind::SettingsChanged => W::SettingsChanged,
        ErrorKind::ImapUnreachable(m) => W::ImapUnreachable(m),
        ErrorKind::ImapTlsFailed(m) => W::ImapTlsFailed(m),
        ErrorKind::ImapProtocol(m) => W::ImapProtocol(m),
        ErrorKind::ImapThrottled(m) => W::ImapThrottled(m),
        ErrorKind::MappingInvalid(p) => W::MappingInvalid(mapping_problem(p)),
        ErrorKind::NothingMapped => W::NothingMapped,
        ErrorKind::InboxFailed(m) => W::InboxFailed(m),
        ErrorKind::FolderMissing(f) => W::FolderMissing(f),
    };
    wit::MailboxError {
        kind,
        message: message(*e.message),
    }
}
