//! ID tokens as the providers issue them: a JWT whose claims name the account. Google's carry
//! `email`; Microsoft's here carry only `preferred_username`, as for accounts without a mail
//! attribute. The signature is random: the plugin reads ID tokens received over TLS only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::world::{Account, Flavour};

pub fn id_token(
    flavour: Flavour,
    issuer: &str,
    client_id: &str,
    account: &Account,
    now: i64,
) -> String {
    let header = serde_json::json!({ "alg": "RS256", "kid": "fake-key", "typ": "JWT" });
    let mut claims = serde_json::json!({
        "iss": issuer,
        "aud": client_id,
        "sub": account.sub,
        "iat": now,
        "exp": now + 3600,
    });
    match flavour {
        Flavour::Google => {
            claims["email"] = account.email.clone().into();
            claims["email_verified"] = true.into();
        }
        Flavour::Microsoft => {
            claims["preferred_username"] = account.email.clone().into();
        }
    }
    let signature: [u8; 64] = rand::random();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}
