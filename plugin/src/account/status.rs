//! The panel's status: the link state, the settings and whether they are read-only, and what the
//! panel may offer (the enabled providers, and whether "Link mailbox" is available).

use super::model::{AuthMethod, LinkState, MailSettings, MailboxStatus, ProviderChoice};
use super::store::{self, Account, Manual, Tokens};
use crate::errors::{ErrorKind, MailboxError};
use crate::i18n::UserMessage;
use crate::normalize::dates::utc_rfc3339;
use crate::ports::{Env, PlatformConfig};
use crate::providers::display_name_of;

pub fn status(env: &Env) -> Result<MailboxStatus, MailboxError> {
    let account: Option<Account> = store::read(env.kv, store::ACCOUNT)?;
    let tokens: Option<Tokens> = store::read(env.kv, store::TOKENS)?;
    let manual: Option<Manual> = store::read(env.kv, store::MANUAL)?;
    Ok(build(
        &env.config,
        account.as_ref(),
        tokens.as_ref(),
        manual,
    ))
}

/// The status from what storage holds.
pub(super) fn build(
    config: &PlatformConfig,
    account: Option<&Account>,
    tokens: Option<&Tokens>,
    manual: Option<Manual>,
) -> MailboxStatus {
    let providers: Vec<ProviderChoice> = config
        .providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| ProviderChoice {
            id: p.id.clone(),
            display_name: p.display_name.clone(),
        })
        .collect();
    // The source's "Google cannot be selected": say why a provider is missing, and who can help.
    let provider_hints = config
        .providers
        .iter()
        .filter(|p| !p.enabled)
        .map(|p| {
            UserMessage::new(
                "provider.not_enabled",
                vec![("provider", p.display_name.clone())],
            )
        })
        .collect();
    let link_unavailable_reason = if !config.linking_enabled() {
        Some(*MailboxError::new(ErrorKind::LinkingDisabled, "").message)
    } else if providers.is_empty() {
        Some(UserMessage::new("link.no_provider", vec![]))
    } else {
        None
    };
    let mut status = MailboxStatus {
        state: LinkState::Unlinked,
        provider: None,
        address: None,
        settings: None,
        settings_read_only: false,
        reauthorization_reason: None,
        linked_at: None,
        access_expires_at: None,
        providers,
        link_available: link_unavailable_reason.is_none(),
        link_unavailable_reason,
        provider_hints,
    };
    if let Some(account) = account {
        let name = display_name_of(config, &account.provider);
        status.state = if account.reauthorization.is_some() {
            LinkState::ReauthorizationNeeded
        } else {
            LinkState::Linked
        };
        status.reauthorization_reason = account
            .reauthorization
            .as_ref()
            .map(|r| *MailboxError::new(ErrorKind::ReauthorizationNeeded(r.said()), &name).message);
        status.provider = Some(account.provider.clone());
        status.address = Some(account.address.clone());
        status.settings = Some(account.settings.clone());
        status.settings_read_only = true;
        status.linked_at = Some(utc_rfc3339(account.linked_at));
        status.access_expires_at = tokens.and_then(|t| t.expires_at).map(utc_rfc3339);
    } else if let Some(m) = manual {
        status.settings = Some(MailSettings {
            imap_host: m.imap_host,
            imap_port: m.imap_port,
            security: m.security,
            username: m.username,
            auth: AuthMethod::Password,
        });
    }
    status
}
