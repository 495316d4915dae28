//! SASL with the access token: XOAUTH2 (Google's and Microsoft's), or OAUTHBEARER (RFC 7628)
//! when the server lacks XOAUTH2; the initial response inline with SASL-IR. A failure
//! continuation is answered as each mechanism asks, and the tagged NO means "token rejected".

use imap_next::client::Event;
use imap_next::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_next::imap_types::command::{Command, CommandBody};
use imap_next::imap_types::response::{Code, StatusKind};

use super::session::status_kind;
use super::{ImapError, Session};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    Accepted,
    /// The server refused the token (its text).
    Rejected(String),
}

/// A NO that says the credentials were refused (RFC 5530), or says nothing: as opposed to
/// `[UNAVAILABLE]`, `[LIMIT]` and the like, which a new token would not change.
fn token_refused(code: Option<&Code<'_>>) -> bool {
    match code {
        None => true,
        Some(Code::Other(other)) => {
            let code = String::from_utf8_lossy(other.inner()).to_ascii_uppercase();
            matches!(
                code.as_str(),
                "AUTHENTICATIONFAILED" | "AUTHORIZATIONFAILED" | "EXPIRED"
            )
        }
        Some(_) => false,
    }
}

/// A refusal that asks us to slow down: RFC 5530's `[LIMIT]`, Microsoft's `[THROTTLED]`, or
/// Gmail's "Too many simultaneous connections" (sent with `[ALERT]`).
fn throttled(code: Option<&Code<'_>>, text: &str) -> bool {
    let coded = match code {
        Some(Code::Other(other)) => {
            let code = String::from_utf8_lossy(other.inner()).to_ascii_uppercase();
            matches!(code.as_str(), "THROTTLED" | "LIMIT")
        }
        _ => false,
    };
    coded
        || text
            .to_ascii_lowercase()
            .contains("too many simultaneous connections")
}

pub fn authenticate(
    session: &mut Session,
    user: &str,
    token: &str,
) -> Result<AuthOutcome, ImapError> {
    session.capabilities()?;
    let (mechanism, initial, failure_answer) = if session.has_capability("AUTH=XOAUTH2") {
        (
            AuthMechanism::XOAuth2,
            format!("user={user}\x01auth=Bearer {token}\x01\x01"),
            Vec::new(),
        )
    } else if session.has_capability("AUTH=OAUTHBEARER") {
        (
            AuthMechanism::OAuthBearer,
            // RFC 5801: `,` and `=` in the authorization identity are escaped.
            format!(
                "n,a={},\x01auth=Bearer {token}\x01\x01",
                user.replace('=', "=3D").replace(',', "=2C")
            ),
            vec![0x01],
        )
    } else {
        return Err(ImapError::Protocol(
            "the server offers neither XOAUTH2 nor OAUTHBEARER".into(),
        ));
    };
    let sasl_ir = session.has_capability("SASL-IR");
    let body = if sasl_ir {
        CommandBody::authenticate_with_ir(mechanism, initial.clone().into_bytes())
    } else {
        CommandBody::authenticate(mechanism)
    };
    let tag = session.tag();
    session.begin_command();
    session.client.enqueue_command(Command { tag, body });
    let mut initial = (!sasl_ir).then_some(initial);
    loop {
        match session.next_event()? {
            Event::AuthenticateContinuationRequestReceived { .. } => {
                // The first `+` asks for the initial response; any later one carries the error,
                // which each mechanism answers with its own "done".
                let answer = match initial.take() {
                    Some(first) => first.into_bytes(),
                    None => failure_answer.clone(),
                };
                session
                    .client
                    .set_authenticate_data(AuthenticateData::r#continue(answer))
                    .map_err(|_| {
                        ImapError::Protocol("unexpected AUTHENTICATE continuation".into())
                    })?;
            }
            Event::AuthenticateStatusReceived { status, .. } => {
                let text = status.text().inner().to_string();
                return Ok(match status_kind(&status) {
                    Some(StatusKind::Ok) => {
                        // Capabilities change once authenticated (RFC 3501 6.2.2).
                        session.set_capabilities_from(status.code());
                        AuthOutcome::Accepted
                    }
                    Some(StatusKind::No) if token_refused(status.code()) => {
                        AuthOutcome::Rejected(text)
                    }
                    Some(StatusKind::No) if throttled(status.code(), &text) => {
                        return Err(ImapError::Throttled(text));
                    }
                    Some(StatusKind::No) => {
                        return Err(ImapError::Unavailable(format!(
                            "the server refused the login for now: {text}"
                        )));
                    }
                    _ => {
                        return Err(ImapError::Protocol(format!("AUTHENTICATE failed: {text}")));
                    }
                });
            }
            _ => {}
        }
    }
}
