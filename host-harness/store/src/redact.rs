//! Redaction of secrets from anything the host writes: bearer and refresh tokens, client
//! secrets, passwords and XOAUTH2 strings never reach a log line or the CLI's output.

use regex::Regex;

const MASK: &str = "[redacted]";

pub struct Redactor {
    patterns: Vec<Regex>,
    known_secrets: Vec<String>,
}

/// Field names whose values are secrets whatever they look like.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "token",
    "code",
    "code_verifier",
    "authorization",
    "secret",
    "assertion",
];

impl Redactor {
    /// `known_secrets` are literal values (client secrets from the settings) masked wherever
    /// they appear.
    pub fn new(known_secrets: Vec<String>) -> Self {
        let keys = SECRET_KEYS.join("|");
        let patterns = [
            r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*".to_string(),
            // key=value in forms and query strings, "key": "value" in JSON.
            format!(r#"(?i)\b({keys})=[^&\s"']+"#),
            format!(r#"(?i)"({keys})"\s*:\s*"[^"]*""#),
            // XOAUTH2 initial responses: base64 of "user=...\x01auth=Bearer ...".
            r"dXNlcj[A-Za-z0-9+/]{8,}=*".to_string(),
            // Google access tokens and JWTs.
            r"\bya29\.[A-Za-z0-9\-._~+/]+".to_string(),
            r"\beyJ[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]*".to_string(),
        ];
        let patterns = patterns.iter().filter_map(|p| Regex::new(p).ok()).collect();
        Redactor {
            patterns,
            known_secrets,
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.known_secrets {
            out = out.replace(secret.as_str(), MASK);
        }
        for (i, pattern) in self.patterns.iter().enumerate() {
            out = pattern
                .replace_all(&out, |caps: &regex::Captures<'_>| match (i, caps.get(1)) {
                    (0, Some(scheme)) => format!("{} {MASK}", scheme.as_str()),
                    (1, Some(key)) => format!("{}={MASK}", key.as_str()),
                    (2, Some(key)) => format!("\"{}\":\"{MASK}\"", key.as_str()),
                    _ => MASK.to_string(),
                })
                .into_owned();
        }
        out
    }

    /// A field's value, masked whole when its key names a secret.
    pub fn redact_field(&self, key: &str, value: &str) -> String {
        let key = key.to_ascii_lowercase();
        if SECRET_KEYS
            .iter()
            .any(|k| key == *k || key.ends_with(&format!("_{k}")))
        {
            MASK.to_string()
        } else {
            self.redact(value)
        }
    }
}

/// Query parameters whose values are secrets, by a part of their name.
const SECRET_PARAMETERS: &[&str] = &["password", "secret", "token", "key", "sig", "auth"];

/// `url` with every secret in it replaced by `***`, to show or log: the password of its user,
/// and any query parameter that carries one (`?password=`, `sslpassword=`, `?token=`, …).
pub fn url_without_secrets(mut url: url::Url) -> url::Url {
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let name = k.to_ascii_lowercase();
                let secret = SECRET_PARAMETERS.iter().any(|s| name.contains(s));
                let v = if secret { "***".into() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(vec!["s3cr3t-client-value".into()])
    }

    #[test]
    fn bearer_tokens_are_masked() {
        assert_eq!(
            r().redact("Authorization: Bearer ya29.a0AfH6SM-xyz"),
            "Authorization: Bearer [redacted]"
        );
    }

    #[test]
    fn form_and_json_secrets_are_masked() {
        let out = r().redact("grant_type=refresh_token&refresh_token=1//0gabc&client_id=abc");
        assert_eq!(
            out,
            "grant_type=refresh_token&refresh_token=[redacted]&client_id=abc"
        );
        let out = r().redact(r#"{"access_token": "tok123", "expires_in": 3599}"#);
        assert_eq!(out, r#"{"access_token":"[redacted]", "expires_in": 3599}"#);
    }

    #[test]
    fn known_client_secrets_are_masked_anywhere() {
        assert_eq!(
            r().redact("secret is s3cr3t-client-value!"),
            "secret is [redacted]!"
        );
    }

    #[test]
    fn xoauth2_strings_and_jwts_are_masked() {
        let xoauth = "dXNlcj1ib2JAZXhhbXBsZS5vcmcBYXV0aD1CZWFyZXIgdG9rAQE=";
        assert_eq!(
            r().redact(&format!("AUTHENTICATE XOAUTH2 {xoauth}")),
            "AUTHENTICATE XOAUTH2 [redacted]"
        );
        assert_eq!(r().redact("id eyJhbGc.eyJzdWIi.sig"), "id [redacted]");
    }

    #[test]
    fn secret_fields_are_masked_whole() {
        assert_eq!(r().redact_field("refresh_token", "anything"), "[redacted]");
        assert_eq!(r().redact_field("google_client_secret", "x"), "[redacted]");
        assert_eq!(r().redact_field("folder", "INBOX"), "INBOX");
    }
}
