//! Linking: `link-start` makes the consent URL with a one-time state and PKCE; `link-complete`
//! checks the state, exchanges the code, learns the address and stores the account. Linking again
//! keeps the mailbox's identity, folder mapping and sync state, and refuses another account.

use super::access::with_access_token;
use super::fingerprint::settings_fingerprint;
use super::model::{AuthMethod, LinkRequest, LinkStarted, MailSettings, MailboxStatus};
use super::status::build;
use super::store::{self, Account, PendingLink, Tokens};
use crate::errors::{ErrorKind, MailboxError, StateProblem};
use crate::normalize::dates::utc_rfc3339;
use crate::oauth::{
    IdClaims, IssuedTokens, OAuth, UserinfoOutcome, fetch_userinfo, redirect_error,
};
use crate::ports::{Env, KvWrite, Level};
use crate::providers::{self, Provider, display_name_of};

pub fn link_start(env: &Env, request: &LinkRequest) -> Result<LinkStarted, MailboxError> {
    if !env.config.linking_enabled() {
        return Err(MailboxError::new(ErrorKind::LinkingDisabled, ""));
    }
    let provider = providers::resolve(&env.config, &request.provider)?
        .on_redirect_port(request.redirect_port)?;
    let fail = |kind| MailboxError::new(kind, &provider.display_name);
    if let Some(account) = store::read::<Account>(env.kv, store::ACCOUNT)?
        && account.provider != provider.id
    {
        return Err(fail(ErrorKind::LinkedToOtherProvider(display_name_of(
            &env.config,
            &account.provider,
        ))));
    }
    let start = OAuth::new(&provider, env.http)
        .authorization_url(request.login_hint.as_deref())
        .map_err(fail)?;
    let expires_at = env.now + store::LINK_ATTEMPT_SECONDS;
    let mut writes = forget_old_attempts(env, &provider.id)?;
    writes.push(store::set(
        &store::pending_key(&start.state),
        &PendingLink {
            provider: provider.id.clone(),
            user: request.user.clone(),
            pkce_verifier: start.pkce_verifier,
            expires_at,
            used: false,
            redirect_port: request.redirect_port,
        },
    ));
    env.kv.batch(writes)?;
    env.log.log(
        Level::Info,
        "link started",
        &[("provider", &provider.id), ("user", &request.user)],
    );
    Ok(LinkStarted {
        authorization_url: start.url,
        expires_at: utc_rfc3339(expires_at),
    })
}

/// Link attempts a mailbox keeps at once, the new one included; the oldest go first.
pub const MAX_PENDING_ATTEMPTS: usize = 10;

/// Deletes attempts for another provider (the user changed their choice), those long over, and
/// the oldest beyond `MAX_PENDING_ATTEMPTS - 1`, to make room for a new one.
fn forget_old_attempts(env: &Env, provider: &str) -> Result<Vec<KvWrite>, MailboxError> {
    let mut writes = Vec::new();
    let mut kept = Vec::new();
    for key in env.kv.list_keys(store::PENDING_PREFIX)? {
        match store::read::<PendingLink>(env.kv, &key) {
            Ok(Some(p))
                if p.provider == provider
                    && p.expires_at + store::ATTEMPT_MEMORY_SECONDS >= env.now =>
            {
                kept.push((p.expires_at, key));
            }
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => writes.push(KvWrite::Delete(key)),
        }
    }
    kept.sort();
    let excess = kept.len().saturating_sub(MAX_PENDING_ATTEMPTS - 1);
    writes.extend(
        kept.into_iter()
            .take(excess)
            .map(|(_, key)| KvWrite::Delete(key)),
    );
    Ok(writes)
}

/// Completes linking with the callback's query parameters.
pub fn link_complete(
    env: &Env,
    user: &str,
    query: &[(String, String)],
) -> Result<MailboxStatus, MailboxError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let state_error = |p| MailboxError::new(ErrorKind::StateInvalid(p), "");
    let state = param("state")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| state_error(StateProblem::Missing))?;
    if state.len() > 128
        || !state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(state_error(StateProblem::Unknown));
    }
    let key = store::pending_key(state);
    let mut pending: PendingLink =
        store::read(env.kv, &key)?.ok_or_else(|| state_error(StateProblem::Unknown))?;
    if pending.used {
        return Err(state_error(StateProblem::AlreadyUsed));
    }
    if pending.expires_at < env.now {
        return Err(state_error(StateProblem::Expired));
    }
    // Checked before the state is spent: a colleague's browser cannot use up the user's link,
    // nor receive the user's mailbox.
    if pending.user != user {
        env.log.log(
            Level::Warn,
            "a link was completed by another user than the one who started it; refused",
            &[],
        );
        return Err(state_error(StateProblem::OtherUser));
    }
    // The code is exchanged with the redirect URI it was issued for.
    let provider = providers::resolve(&env.config, &pending.provider)?
        .on_redirect_port(pending.redirect_port)?;
    // A response naming another issuer is a mix-up (RFC 9207): its code is never exchanged, and
    // the state is kept for the real answer.
    if let Some(iss) = param("iss")
        && !provider.is_issuer(iss)
    {
        env.log.log(
            Level::Warn,
            "an authorization response named another issuer; refused",
            &[("provider", &provider.id)],
        );
        return Err(state_error(StateProblem::OtherIssuer));
    }
    // Usable once, whatever happens next.
    pending.used = true;
    env.kv.batch(vec![store::set(&key, &pending)])?;

    let fail = |kind| MailboxError::new(kind, &provider.display_name);
    if let Some(code) = param("error") {
        let kind = redirect_error(code, param("error_description"));
        env.log.log(
            Level::Warn,
            "link refused at the provider",
            &[("provider", &provider.id), ("error", code)],
        );
        return Err(fail(kind));
    }
    let code = param("code").filter(|c| !c.is_empty()).ok_or_else(|| {
        fail(ErrorKind::MalformedResponse(
            "the callback carried neither a code nor an error".into(),
        ))
    })?;
    let oauth = OAuth::new(&provider, env.http);
    let issued = oauth
        .exchange_code(code, &pending.pkce_verifier)
        .map_err(fail)?;
    let (account, tokens) = match account_from_grant(env, &provider, &pending.user, &issued) {
        Ok(accepted) => accepted,
        Err(e) => {
            // A grant for another account, or a first link that failed, is not kept: leave no
            // live authorisation behind. (Revoking a grant of the linked account itself would
            // also revoke the authorisation the mailbox still holds.)
            let other_grant = matches!(
                e.kind,
                ErrorKind::DifferentAccount { .. } | ErrorKind::LinkedToOtherProvider(_)
            );
            if other_grant || store::read::<Account>(env.kv, store::ACCOUNT)?.is_none() {
                let _ = oauth.revoke_issued(&issued);
            }
            return Err(e);
        }
    };
    env.kv.batch(vec![
        store::set(store::ACCOUNT, &account),
        store::set(store::TOKENS, &tokens),
        KvWrite::Delete(store::MANUAL.into()),
    ])?;
    env.log.log(
        Level::Info,
        "mailbox linked",
        &[("provider", &provider.id), ("address", &account.address)],
    );
    Ok(build(&env.config, Some(&account), Some(&tokens), None))
}

/// The account (new, or the linked one again) and its tokens from a grant; refused when it is
/// another account or another provider than the linked one, or lacks what linking needs.
fn account_from_grant(
    env: &Env,
    provider: &Provider,
    user: &str,
    issued: &IssuedTokens,
) -> Result<(Account, Tokens), MailboxError> {
    let fail = |kind| MailboxError::new(kind, &provider.display_name);
    let existing: Option<Account> = store::read(env.kv, store::ACCOUNT)?;
    let refresh_token = match (&issued.refresh_token, &existing) {
        (Some(t), _) => t.clone(),
        // Linking again without a new refresh token keeps the old one, unless it is dead.
        (None, Some(old)) if old.reauthorization.is_none() => {
            store::read::<Tokens>(env.kv, store::TOKENS)?
                .map(|t| t.refresh_token)
                .unwrap_or_default()
        }
        _ => String::new(),
    };
    if refresh_token.is_empty() {
        return Err(fail(ErrorKind::MalformedResponse(
            "the provider issued no refresh token".into(),
        )));
    }
    let mut tokens = Tokens {
        access_token: issued.access_token.clone(),
        refresh_token,
        expires_at: issued.expires_in_seconds.map(|s| env.now + s as i64),
    };
    let (address, subject) = learn_identity(env, provider, issued, &mut tokens)?;
    let account = match existing {
        Some(old) if old.provider != provider.id => {
            return Err(fail(ErrorKind::LinkedToOtherProvider(display_name_of(
                &env.config,
                &old.provider,
            ))));
        }
        Some(old) if !same_account(&old, &address, subject.as_deref()) => {
            return Err(fail(ErrorKind::DifferentAccount {
                linked: old.address,
                offered: address,
            }));
        }
        // Linking again refreshes the settings from the provider's current configuration, and
        // takes the account's address as it is now (the same subject may have a new address).
        Some(old) => Account {
            reauthorization: None,
            subject: subject.or(old.subject),
            user: user.to_string(),
            settings: linked_settings(provider, &address),
            settings_fingerprint: Some(settings_fingerprint(provider, &address)),
            address,
            ..old
        },
        None => Account {
            provider: provider.id.clone(),
            settings: linked_settings(provider, &address),
            settings_fingerprint: Some(settings_fingerprint(provider, &address)),
            address,
            subject,
            user: user.to_string(),
            linked_at: env.now,
            reauthorization: None,
        },
    };
    Ok((account, tokens))
}

/// The account's address and subject: from the ID token, else from the userinfo endpoint (with
/// one refresh if it rejects the fresh access token).
fn learn_identity(
    env: &Env,
    provider: &Provider,
    issued: &IssuedTokens,
    tokens: &mut Tokens,
) -> Result<(String, Option<String>), MailboxError> {
    let fail = |kind| MailboxError::new(kind, &provider.display_name);
    let claims = match &issued.id_token {
        Some(token) => IdClaims::read(token, &provider.client_id)
            .map_err(|m| fail(ErrorKind::MalformedResponse(m)))?,
        None => IdClaims::default(),
    };
    if let Some(address) = claims.address(provider.dialect) {
        return Ok((address, claims.sub));
    }
    let Some(url) = &provider.userinfo_url else {
        return Err(fail(ErrorKind::AddressUnknown));
    };
    // Nothing is stored before the account is accepted: the caller saves the tokens.
    let info = with_access_token(
        env,
        provider,
        tokens,
        |_| Ok(()),
        |token| match fetch_userinfo(env.http, url, token)? {
            UserinfoOutcome::Answered(info) => Ok(Some(info)),
            UserinfoOutcome::TokenRejected => Ok(None),
        },
    )?;
    match info.email.filter(|e| e.contains('@')) {
        Some(address) => Ok((address, info.sub.or(claims.sub))),
        None => Err(fail(ErrorKind::AddressUnknown)),
    }
}

fn linked_settings(provider: &Provider, address: &str) -> MailSettings {
    MailSettings {
        imap_host: provider.imap.host.clone(),
        imap_port: provider.imap.port,
        security: provider.imap.security,
        username: address.to_string(),
        auth: AuthMethod::XOAuth2,
    }
}

/// The same account: by the provider's subject when both have one, else by address.
fn same_account(old: &Account, address: &str, subject: Option<&str>) -> bool {
    match (old.subject.as_deref(), subject) {
        (Some(a), Some(b)) => a == b,
        _ => old.address.eq_ignore_ascii_case(address),
    }
}
