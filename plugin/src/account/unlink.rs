//! "Remove mailbox": revoke at the provider where it can (a failure is a warning, not a blocker),
//! then clear the tokens, settings, folder mapping and sync state. Delivered messages stay.

use super::model::Unlinked;
use super::status::build;
use super::store::{self, Account, Manual, Tokens};
use crate::errors::{ErrorKind, MailboxError};
use crate::i18n::UserMessage;
use crate::oauth::OAuth;
use crate::ports::{Env, KvWrite, Level};
use crate::providers::{self, display_name_of};

pub fn unlink(env: &Env) -> Result<Unlinked, MailboxError> {
    let account: Option<Account> = store::read(env.kv, store::ACCOUNT)?;
    let manual: Option<Manual> = store::read(env.kv, store::MANUAL)?;
    if account.is_none() && manual.is_none() {
        return Err(MailboxError::new(ErrorKind::NotLinked, ""));
    }
    let mut warnings = Vec::new();
    if let Some(account) = &account
        && let Some(tokens) = store::read::<Tokens>(env.kv, store::TOKENS)?
        && let Some(warning) = revoke(env, account, &tokens)
    {
        warnings.push(warning);
    }
    let mut writes = vec![
        KvWrite::Delete(store::ACCOUNT.into()),
        KvWrite::Delete(store::TOKENS.into()),
        KvWrite::Delete(store::MANUAL.into()),
    ];
    for prefix in store::LINKED_STATE_PREFIXES
        .iter()
        .chain(&[store::PENDING_PREFIX])
    {
        writes.extend(env.kv.list_keys(prefix)?.into_iter().map(KvWrite::Delete));
    }
    env.kv.batch(writes)?;
    env.log.log(
        Level::Info,
        "mailbox removed",
        &[(
            "provider",
            account.as_ref().map_or("manual", |a| a.provider.as_str()),
        )],
    );
    Ok(Unlinked {
        status: build(&env.config, None, None, None),
        warnings,
    })
}

/// Revokes the grant; the warning to show when that failed.
fn revoke(env: &Env, account: &Account, tokens: &Tokens) -> Option<UserMessage> {
    let name = display_name_of(&env.config, &account.provider);
    let outcome = providers::resolve(&env.config, &account.provider)
        .map_err(|e| e.message.en)
        .and_then(|provider| {
            // Endpoints changed since linking are not trusted with the refresh token.
            if account.settings_fingerprint.as_deref()
                != Some(
                    super::fingerprint::settings_fingerprint(&provider, &account.address).as_str(),
                )
            {
                return Err(MailboxError::new(ErrorKind::SettingsChanged, &name)
                    .message
                    .en);
            }
            OAuth::new(&provider, env.http)
                .revoke(&tokens.refresh_token)
                .map_err(|kind| MailboxError::new(kind, &name).message.en)
        });
    match outcome {
        Ok(_) => None,
        Err(detail) => {
            env.log.log(
                Level::Warn,
                "revocation failed; unlinking anyway",
                &[("provider", &account.provider)],
            );
            Some(UserMessage::new(
                "unlink.revocation_failed",
                vec![("provider", name), ("detail", detail)],
            ))
        }
    }
}
