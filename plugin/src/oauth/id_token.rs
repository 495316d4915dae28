//! The claims of the ID token that came with the token response. It came straight from the
//! provider's token endpoint over TLS, so its signature need not be checked (OpenID Connect Core
//! 3.1.3.7); its audience still must be this client.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::providers::Dialect;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdClaims {
    pub sub: Option<String>,
    pub email: Option<String>,
    pub preferred_username: Option<String>,
    pub upn: Option<String>,
    #[serde(default)]
    aud: Audience,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl IdClaims {
    /// Reads the claims of `token` issued to `client_id`; why not, when they cannot be read.
    pub fn read(token: &str, client_id: &str) -> Result<Self, String> {
        let payload = token.split('.').nth(1).ok_or("the ID token is not a JWT")?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| "the ID token's claims are not base64url")?;
        let claims: IdClaims =
            serde_json::from_slice(&bytes).map_err(|_| "the ID token's claims are not JSON")?;
        let for_us = match &claims.aud {
            // OpenID Connect requires `aud`.
            Audience::None => false,
            Audience::One(a) => a == client_id,
            Audience::Many(list) => list.iter().any(|a| a == client_id),
        };
        if !for_us {
            return Err("the ID token was issued to another client".into());
        }
        Ok(claims)
    }

    /// The account's address. Microsoft's `email` claim is whatever the user typed in a
    /// profile, never verified: for Microsoft only the sign-in name (`preferred_username`, else
    /// `upn`) counts. Other providers: `email`, else those.
    pub fn address(&self, dialect: Dialect) -> Option<String> {
        let candidates = match dialect {
            Dialect::Microsoft => [None, self.preferred_username.as_ref(), self.upn.as_ref()],
            _ => [
                self.email.as_ref(),
                self.preferred_username.as_ref(),
                self.upn.as_ref(),
            ],
        };
        candidates
            .into_iter()
            .flatten()
            .find(|a| a.contains('@'))
            .map(|a| a.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn the_address_is_the_email_claim_or_microsofts_username() {
        let c = IdClaims::read(&jwt(r#"{"sub":"1","email":"a@x.nl","aud":"c"}"#), "c").unwrap();
        assert_eq!(c.address(Dialect::Google).as_deref(), Some("a@x.nl"));
        let c = IdClaims::read(
            &jwt(r#"{"sub":"1","preferred_username":"b@contoso.com","aud":["c"]}"#),
            "c",
        )
        .unwrap();
        assert_eq!(
            c.address(Dialect::Microsoft).as_deref(),
            Some("b@contoso.com")
        );
    }

    #[test]
    fn microsofts_unverified_email_claim_never_names_the_account() {
        // A guest user set their profile's email to the CEO's address.
        let c = IdClaims::read(
            &jwt(r#"{"sub":"1","email":"ceo@contoso.com","preferred_username":"anna@contoso.com","aud":"c"}"#),
            "c",
        )
        .unwrap();
        assert_eq!(
            c.address(Dialect::Microsoft).as_deref(),
            Some("anna@contoso.com")
        );
        let only_email = IdClaims::read(
            &jwt(r#"{"sub":"1","email":"ceo@contoso.com","aud":"c"}"#),
            "c",
        )
        .unwrap();
        assert_eq!(only_email.address(Dialect::Microsoft), None);
        assert_eq!(
            only_email.address(Dialect::Google).as_deref(),
            Some("ceo@contoso.com")
        );
    }

    #[test]
    fn a_token_for_another_client_or_not_a_jwt_is_refused() {
        assert!(IdClaims::read(&jwt(r#"{"aud":"other"}"#), "c").is_err());
        assert!(
            IdClaims::read(&jwt(r#"{"email":"a@x.nl"}"#), "c").is_err(),
            "no audience"
        );
        assert!(IdClaims::read("garbage", "c").is_err());
    }
}
