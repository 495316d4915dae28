//! The `oauth2` crate's client for one provider: the authorization URL (state and PKCE S256), the
//! code exchange, refresh and revocation, each failure read as an `ErrorKind`.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, ErrorResponse, ExtraTokenFields, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::host_http::HostHttp;
use super::provider_errors::token_error;
use crate::errors::{ErrorKind, ProviderSaid};
use crate::ports::{Http, HttpFailure};
use crate::providers::Provider;

/// The token response's OpenID Connect field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;
type ProviderClient = Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointSet,
>;

/// Where to send the user, and what to keep until the callback.
pub struct AuthorizationStart {
    pub url: String,
    pub state: String,
    pub pkce_verifier: String,
}

/// What the token endpoint issued.
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in_seconds: Option<u64>,
    pub id_token: Option<String>,
}

pub struct OAuth<'a> {
    provider: &'a Provider,
    http: HostHttp<'a>,
}

impl<'a> OAuth<'a> {
    pub fn new(provider: &'a Provider, http: &'a dyn Http) -> Self {
        OAuth {
            provider,
            http: HostHttp::new(http),
        }
    }

    fn client(&self) -> Result<ProviderClient, ErrorKind> {
        let p = self.provider;
        let bad = |what: &str| ErrorKind::ProviderNotConfigured(format!("a valid {what}"));
        let mut client = Client::new(ClientId::new(p.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(p.authorize_url.clone()).map_err(|_| bad("authorize endpoint"))?,
            )
            .set_token_uri(TokenUrl::new(p.token_url.clone()).map_err(|_| bad("token endpoint"))?)
            .set_revocation_url_option(
                p.revoke_url
                    .clone()
                    .map(RevocationUrl::new)
                    .transpose()
                    .map_err(|_| bad("revocation endpoint"))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(p.redirect_uri.clone()).map_err(|_| bad("redirect URI"))?,
            );
        if let Some(secret) = &p.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }

    /// The consent page's URL with a fresh random `state` and a PKCE S256 challenge.
    pub fn authorization_url(
        &self,
        login_hint: Option<&str>,
    ) -> Result<AuthorizationStart, ErrorKind> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client()?;
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.provider.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        for (name, value) in self.provider.authorize_params() {
            request = request.add_extra_param(*name, *value);
        }
        for (name, value) in &self.provider.extra_authorize_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
            request = request.add_extra_param("login_hint", hint);
        }
        let (url, state) = request.url();
        Ok(AuthorizationStart {
            url: url.to_string(),
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the callback's code, proving possession of the PKCE verifier.
    pub fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<IssuedTokens, ErrorKind> {
        let answer = self
            .client()?
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request(&self.http);
        self.issued(answer, false)
    }

    /// A new access token for `refresh_token` (and, when the provider rotates, a new refresh token).
    pub fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens, ErrorKind> {
        let client = self.client()?;
        let token = RefreshToken::new(refresh_token.to_string());
        let mut request = client.exchange_refresh_token(&token);
        if self.provider.refresh_repeats_scopes() {
            request = request.add_scopes(self.provider.scopes.iter().cloned().map(Scope::new));
        }
        let answer = request.request(&self.http);
        self.issued(answer, true)
    }

    /// Revokes the grant of `refresh_token` where the provider has a revocation endpoint;
    /// `Ok(false)` when it has none.
    pub fn revoke(&self, refresh_token: &str) -> Result<bool, ErrorKind> {
        self.revoke_token(StandardRevocableToken::RefreshToken(RefreshToken::new(
            refresh_token.to_string(),
        )))
    }

    /// Revokes what a code exchange issued (its refresh token, else its access token), where the
    /// provider can; for a grant that linking does not keep.
    pub fn revoke_issued(&self, issued: &IssuedTokens) -> Result<bool, ErrorKind> {
        match &issued.refresh_token {
            Some(t) => self.revoke(t),
            None => self.revoke_token(StandardRevocableToken::AccessToken(
                oauth2::AccessToken::new(issued.access_token.clone()),
            )),
        }
    }

    fn revoke_token(&self, token: StandardRevocableToken) -> Result<bool, ErrorKind> {
        let client = self.client()?;
        let Ok(request) = client.revoke_token(token) else {
            // With an endpoint the `oauth2` crate will not use (not https), revocation was not
            // attempted: that is a failure to report, not "no endpoint".
            return match self.provider.revoke_url {
                None => Ok(false),
                Some(_) => Err(ErrorKind::ProviderNotConfigured(
                    "a revocation endpoint over https".into(),
                )),
            };
        };
        request
            .request(&self.http)
            .map(|()| true)
            .map_err(|e| self.failure(e, true))
    }

    fn issued(
        &self,
        answer: Result<TokenAnswer, RequestTokenError<HttpFailure, BasicErrorResponse>>,
        refreshing: bool,
    ) -> Result<IssuedTokens, ErrorKind> {
        let answer = answer.map_err(|e| self.failure(e, refreshing))?;
        if answer.access_token().secret().is_empty() {
            return Err(ErrorKind::MalformedResponse(
                "the token endpoint issued an empty access token".into(),
            ));
        }
        Ok(IssuedTokens {
            access_token: answer.access_token().secret().clone(),
            refresh_token: answer.refresh_token().map(|t| t.secret().clone()),
            expires_in_seconds: answer.expires_in().map(|d| d.as_secs()),
            id_token: answer.extra_fields().id_token.clone(),
        })
    }

    /// Reads a failed token-endpoint request. A 429 or 5xx is "retry later" whatever its body;
    /// error texts never quote the body, which may hold a token.
    fn failure<T: ErrorResponse + ErrorCode>(
        &self,
        error: RequestTokenError<HttpFailure, T>,
        refreshing: bool,
    ) -> ErrorKind {
        if let (Some(status), retry_after) = self.http.last_response()
            && (status == 429 || status >= 500)
            && !matches!(error, RequestTokenError::Request(_))
        {
            return ErrorKind::ProviderUnavailable {
                status,
                retry_after_seconds: retry_after,
            };
        }
        match error {
            RequestTokenError::ServerResponse(e) => {
                let (code, description) = e.code_and_description();
                token_error(ProviderSaid::new(&code, description.as_deref()), refreshing)
            }
            RequestTokenError::Request(HttpFailure::Refused(r)) => ErrorKind::DestinationRefused(r),
            RequestTokenError::Request(HttpFailure::Network(m)) => ErrorKind::Network(m),
            RequestTokenError::Parse(e, _body) => ErrorKind::MalformedResponse(format!(
                "the token endpoint's answer is not a valid token response (at `{}`)",
                e.path()
            )),
            RequestTokenError::Other(m) => ErrorKind::MalformedResponse(m),
        }
    }
}

/// The `error` code and `error_description` of a token or revocation error response.
pub trait ErrorCode {
    fn code_and_description(&self) -> (String, Option<String>);
}

impl<T: oauth2::ErrorResponseType + AsRef<str>> ErrorCode for oauth2::StandardErrorResponse<T> {
    fn code_and_description(&self) -> (String, Option<String>) {
        (
            self.error().as_ref().to_string(),
            self.error_description().cloned(),
        )
    }
}
