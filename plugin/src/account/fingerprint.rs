//! A linked mailbox's settings fingerprint: written when it is linked (`link.rs`), checked before
//! its tokens are used or sent anywhere (`access.rs`).

use crate::providers::Provider;

/// What the settings of a mailbox linked through `provider` as `address` depend on: the
/// provider, its client, its IMAP server, and every endpoint that is sent a token or the client
/// secret (token, revocation, userinfo). When any of them changes, the mailbox's tokens are
/// not used, nor sent anywhere, until it is linked again.
pub fn settings_fingerprint(provider: &Provider, address: &str) -> String {
    let text = format!(
        "v2\n{}\n{}\n{}\n{}\n{:?}\n{}\n{}\n{}\n{}",
        provider.id,
        provider.client_id,
        provider.imap.host,
        provider.imap.port,
        provider.imap.security,
        address.to_ascii_lowercase(),
        provider.token_url,
        provider.revoke_url.as_deref().unwrap_or(""),
        provider.userinfo_url.as_deref().unwrap_or(""),
    );
    crate::normalize::identity::hex_sha256(&[text.as_bytes()])
}
