//! The OpenID userinfo endpoint: the account's address when the ID token did not carry it. A 401
//! means the access token was rejected, which the caller answers with one refresh.

use serde::Deserialize;

use crate::errors::ErrorKind;
use crate::ports::{Http, HttpFailure, HttpRequest, Method};

#[derive(Debug, Clone, Deserialize)]
pub struct Userinfo {
    pub sub: Option<String>,
    pub email: Option<String>,
}

pub enum UserinfoOutcome {
    Answered(Userinfo),
    /// The endpoint refused the access token (401).
    TokenRejected,
}

pub fn fetch_userinfo(
    http: &dyn Http,
    url: &str,
    access_token: &str,
) -> Result<UserinfoOutcome, ErrorKind> {
    let response = http
        .send(HttpRequest {
            method: Method::Get,
            url: url.to_string(),
            headers: vec![
                ("Authorization".into(), format!("Bearer {access_token}")),
                ("Accept".into(), "application/json".into()),
            ],
            body: Vec::new(),
        })
        .map_err(|e| match e {
            HttpFailure::Refused(r) => ErrorKind::DestinationRefused(r),
            HttpFailure::Network(m) => ErrorKind::Network(m),
        })?;
    match response.status {
        200 => serde_json::from_slice(&response.body)
            .map(UserinfoOutcome::Answered)
            .map_err(|_| ErrorKind::MalformedResponse("the userinfo answer is not JSON".into())),
        401 => Ok(UserinfoOutcome::TokenRejected),
        429 | 500..=599 => Err(ErrorKind::ProviderUnavailable {
            status: response.status,
            retry_after_seconds: response
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok()),
        }),
        status => Err(ErrorKind::MalformedResponse(format!(
            "the userinfo endpoint answered HTTP {status}"
        ))),
    }
}
