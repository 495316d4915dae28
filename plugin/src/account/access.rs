//! The access token: refreshed within 60 s of its expiry, or once after a server rejected it. A
//! rotated refresh token is saved; `invalid_grant` moves the mailbox to "re-authorisation needed".

use super::model::AccessChecked;
use super::store::{self, Account, StoredProviderSaid, Tokens};
use crate::errors::{ErrorKind, MailboxError, ProviderSaid};
use crate::normalize::dates::utc_rfc3339;
use crate::oauth::OAuth;
use crate::ports::{Env, Level};
use crate::providers::{self, Provider};

/// Refresh this long before the access token expires.
pub const REFRESH_MARGIN_SECONDS: i64 = 60;

/// Makes sure the linked mailbox has a valid access token; refreshes when due or `force`d.
pub fn check_access(env: &Env, force: bool) -> Result<AccessChecked, MailboxError> {
    let not_linked = || MailboxError::new(ErrorKind::NotLinked, "");
    let account: Account = store::read(env.kv, store::ACCOUNT)?.ok_or_else(not_linked)?;
    let provider = providers::resolve(&env.config, &account.provider)?;
    if let Some(reason) = &account.reauthorization {
        return Err(MailboxError::new(
            ErrorKind::ReauthorizationNeeded(reason.said()),
            &provider.display_name,
        ));
    }
    let mut tokens: Tokens = store::read(env.kv, store::TOKENS)?.ok_or_else(not_linked)?;
    let due = tokens
        .expires_at
        .is_some_and(|at| at - REFRESH_MARGIN_SECONDS <= env.now);
    let mut checked = AccessChecked {
        refreshed: false,
        refresh_token_rotated: false,
        expires_at: tokens.expires_at.map(utc_rfc3339).unwrap_or_default(),
    };
    if !(force || due) {
        return Ok(checked);
    }
    match refresh(env, &provider, &mut tokens) {
        Ok(rotated) => {
            env.kv.batch(vec![store::set(store::TOKENS, &tokens)])?;
            checked.refreshed = true;
            checked.refresh_token_rotated = rotated;
            checked.expires_at = tokens.expires_at.map(utc_rfc3339).unwrap_or_default();
            Ok(checked)
        }
        Err(ErrorKind::ReauthorizationNeeded(said)) => {
            mark_reauthorization_needed(env, account, &said)?;
            Err(MailboxError::new(
                ErrorKind::ReauthorizationNeeded(said),
                &provider.display_name,
            ))
        }
        Err(kind) => Err(MailboxError::new(kind, &provider.display_name)),
    }
}

/// Refreshes `tokens` in memory; true when the provider rotated the refresh token.
fn refresh(env: &Env, provider: &Provider, tokens: &mut Tokens) -> Result<bool, ErrorKind> {
    let issued = OAuth::new(provider, env.http).refresh(&tokens.refresh_token)?;
    tokens.access_token = issued.access_token;
    tokens.expires_at = issued.expires_in_seconds.map(|s| env.now + s as i64);
    let rotated = issued
        .refresh_token
        .filter(|t| !t.is_empty() && *t != tokens.refresh_token)
        .map(|t| tokens.refresh_token = t)
        .is_some();
    env.log.log(
        Level::Info,
        "access token refreshed",
        &[
            ("provider", &provider.id),
            ("refresh_token_rotated", if rotated { "yes" } else { "no" }),
        ],
    );
    Ok(rotated)
}

fn mark_reauthorization_needed(
    env: &Env,
    mut account: Account,
    said: &ProviderSaid,
) -> Result<(), MailboxError> {
    account.reauthorization = Some(StoredProviderSaid::from(said));
    env.kv.batch(vec![store::set(store::ACCOUNT, &account)])?;
    env.log.log(
        Level::Warn,
        "re-authorisation needed",
        &[("provider", &account.provider), ("error", &said.code)],
    );
    Ok(())
}

/// Runs `use_token` for the linked mailbox with a valid access token: refreshed when due, and
/// once more when `use_token` reports it rejected. Refreshed tokens are saved; a provider that no
/// longer accepts the authorisation moves the mailbox to "re-authorisation needed". Refused when
/// the settings changed since the mailbox was linked.
pub fn with_linked_access<T>(
    env: &Env,
    mut use_token: impl FnMut(&Provider, &Account, &str) -> Result<Option<T>, ErrorKind>,
) -> Result<T, MailboxError> {
    let not_linked = || MailboxError::new(ErrorKind::NotLinked, "");
    let account: Account = store::read(env.kv, store::ACCOUNT)?.ok_or_else(not_linked)?;
    let provider = providers::resolve(&env.config, &account.provider)?;
    let fail = |kind| MailboxError::new(kind, &provider.display_name);
    if let Some(reason) = &account.reauthorization {
        return Err(fail(ErrorKind::ReauthorizationNeeded(reason.said())));
    }
    if account.settings_fingerprint.as_deref()
        != Some(super::link::settings_fingerprint(&provider, &account.address).as_str())
    {
        return Err(fail(ErrorKind::SettingsChanged));
    }
    let mut tokens: Tokens = store::read(env.kv, store::TOKENS)?.ok_or_else(not_linked)?;
    let before = tokens.clone();
    let outcome = with_access_token(env, &provider, &mut tokens, |token| {
        use_token(&provider, &account, token)
    });
    if tokens.access_token != before.access_token || tokens.refresh_token != before.refresh_token {
        env.kv.batch(vec![store::set(store::TOKENS, &tokens)])?;
    }
    if let Err(MailboxError {
        kind: ErrorKind::ReauthorizationNeeded(said),
        ..
    }) = &outcome
    {
        mark_reauthorization_needed(env, account.clone(), said)?;
    }
    outcome
}

/// Runs `use_token` with a valid access token from `tokens` (refreshed in memory when due). When
/// it reports the token rejected (`Ok(None)`), refreshes once and tries again; a second rejection
/// means the provider no longer accepts the authorisation. The caller saves `tokens`.
pub fn with_access_token<T>(
    env: &Env,
    provider: &Provider,
    tokens: &mut Tokens,
    mut use_token: impl FnMut(&str) -> Result<Option<T>, ErrorKind>,
) -> Result<T, MailboxError> {
    let fail = |kind| MailboxError::new(kind, &provider.display_name);
    if tokens
        .expires_at
        .is_some_and(|at| at - REFRESH_MARGIN_SECONDS <= env.now)
    {
        refresh(env, provider, tokens).map_err(fail)?;
    }
    if let Some(answer) = use_token(&tokens.access_token).map_err(fail)? {
        return Ok(answer);
    }
    env.log.log(
        Level::Info,
        "access token rejected; refreshing once",
        &[("provider", &provider.id)],
    );
    refresh(env, provider, tokens).map_err(fail)?;
    use_token(&tokens.access_token)
        .map_err(fail)?
        .ok_or_else(|| {
            fail(ErrorKind::ReauthorizationNeeded(ProviderSaid::new(
                "token_rejected",
                Some("the server rejected a freshly refreshed access token"),
            )))
        })
}
