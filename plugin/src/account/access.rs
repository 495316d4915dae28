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
    let (account, provider, mut tokens) = load_usable(env)?;
    let due = tokens
        .expires_at
        .is_some_and(|at| at - REFRESH_MARGIN_SECONDS <= env.now);
    let mut checked = AccessChecked {
        refreshed: false,
        refresh_token_rotated: false,
        expires_at: tokens.expires_at.map(utc_rfc3339),
    };
    if !(force || due) {
        return Ok(checked);
    }
    match refresh(env, &provider, &mut tokens) {
        Ok(rotated) => {
            env.kv.batch(vec![store::set(store::TOKENS, &tokens)])?;
            checked.refreshed = true;
            checked.refresh_token_rotated = rotated;
            checked.expires_at = tokens.expires_at.map(utc_rfc3339);
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
    let (account, provider, mut tokens) = load_usable(env)?;
    let save = |tokens: &Tokens| env.kv.batch(vec![store::set(store::TOKENS, tokens)]);
    let outcome = with_access_token(env, &provider, &mut tokens, save, |token| {
        use_token(&provider, &account, token)
    });
    if let Err(MailboxError {
        kind: ErrorKind::ReauthorizationNeeded(said),
        ..
    }) = &outcome
    {
        mark_reauthorization_needed(env, account.clone(), said)?;
    }
    outcome
}

/// The linked account, its provider and tokens, when they may be used: linked, not waiting for
/// re-authorisation, and with the settings the mailbox was linked with.
fn load_usable(env: &Env) -> Result<(Account, Provider, Tokens), MailboxError> {
    let not_linked = || MailboxError::new(ErrorKind::NotLinked, "");
    let account: Account = store::read(env.kv, store::ACCOUNT)?.ok_or_else(not_linked)?;
    let provider = providers::resolve(&env.config, &account.provider)?;
    let fail = |kind| MailboxError::new(kind, &provider.display_name);
    if let Some(reason) = &account.reauthorization {
        return Err(fail(ErrorKind::ReauthorizationNeeded(reason.said())));
    }
    if account.settings_fingerprint.as_deref()
        != Some(super::fingerprint::settings_fingerprint(&provider, &account.address).as_str())
    {
        return Err(fail(ErrorKind::SettingsChanged));
    }
    let tokens: Tokens = store::read(env.kv, store::TOKENS)?.ok_or_else(not_linked)?;
    Ok((account, provider, tokens))
}

/// Runs `use_token` with a valid access token from `tokens` (refreshed when due). When it reports
/// the token rejected (`Ok(None)`), refreshes once and tries again; a second rejection means the
/// provider no longer accepts the authorisation. Each refresh is handed to `save` at once, before
/// the token is used, so a rotated refresh token is never lost.
pub fn with_access_token<T>(
    env: &Env,
    provider: &Provider,
    tokens: &mut Tokens,
    save: impl Fn(&Tokens) -> Result<(), crate::ports::StorageFailure>,
    mut use_token: impl FnMut(&str) -> Result<Option<T>, ErrorKind>,
) -> Result<T, MailboxError> {
    let fail = |kind| MailboxError::new(kind, &provider.display_name);
    if tokens
        .expires_at
        .is_some_and(|at| at - REFRESH_MARGIN_SECONDS <= env.now)
    {
        refresh(env, provider, tokens).map_err(fail)?;
        save(tokens)?;
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
    save(tokens)?;
    use_token(&tokens.access_token)
        .map_err(fail)?
        .ok_or_else(|| {
            fail(ErrorKind::ReauthorizationNeeded(ProviderSaid::new(
                "token_rejected",
                Some("the server rejected a freshly refreshed access token"),
            )))
        })
}
