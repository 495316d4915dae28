//! OAuth2 with a provider, through the `oauth2` crate over the host's `http-client`: the
//! authorization URL with PKCE, the code exchange, refresh, revocation, and the account's address.

mod client;
mod host_http;
mod id_token;
mod provider_errors;
mod userinfo;

pub use client::{AuthorizationStart, IssuedTokens, OAuth};
pub use id_token::IdClaims;
pub use provider_errors::redirect_error;
pub use userinfo::{UserinfoOutcome, fetch_userinfo};
