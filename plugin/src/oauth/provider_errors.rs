//! What a provider's error codes mean for the user: the authorization redirect's `error`, and the
//! token endpoint's, read with Microsoft's `AADSTS` numbers where they say more than the code.

use crate::errors::{ErrorKind, ProviderSaid, aadsts_code};

/// Microsoft's numbers for "an administrator must consent first".
const ADMIN_CONSENT_AADSTS: &[u32] = &[65001, 90093, 90094];
/// Microsoft's number for a misconfigured application.
const MISCONFIGURED_APP_AADSTS: u32 = 650056;

/// The error the authorization redirect carried (`error`, `error_description`).
pub fn redirect_error(code: &str, description: Option<&str>) -> ErrorKind {
    let said = ProviderSaid::new(code, description);
    if let Some(kind) = by_aadsts(&said) {
        return kind;
    }
    match code {
        "access_denied" => ErrorKind::AccessDenied(said),
        "admin_policy_enforced" => ErrorKind::AdminPolicyEnforced(said),
        "org_internal" => ErrorKind::OrgInternal(said),
        "invalid_client" | "unauthorized_client" => ErrorKind::InvalidClient(said),
        "temporarily_unavailable" => ErrorKind::ProviderUnavailable {
            status: 503,
            retry_after_seconds: None,
        },
        "server_error" => ErrorKind::ProviderUnavailable {
            status: 500,
            retry_after_seconds: None,
        },
        _ => ErrorKind::ProviderError(said),
    }
}

/// What the token endpoint's error means, during a code exchange or a refresh. A refresh refused
/// with `invalid_grant` always needs a new link, whatever Microsoft's number says why (consent
/// withdrawn, 90 days unused, password changed).
pub fn token_error(said: ProviderSaid, refreshing: bool) -> ErrorKind {
    if refreshing && said.code == "invalid_grant" {
        return ErrorKind::ReauthorizationNeeded(said);
    }
    if let Some(kind) = by_aadsts(&said) {
        return kind;
    }
    match said.code.as_str() {
        "invalid_client" | "unauthorized_client" => ErrorKind::InvalidClient(said),
        "invalid_grant" if refreshing => ErrorKind::ReauthorizationNeeded(said),
        "invalid_grant" => ErrorKind::AuthorizationCodeInvalid(said),
        _ => ErrorKind::ProviderError(said),
    }
}

fn by_aadsts(said: &ProviderSaid) -> Option<ErrorKind> {
    let number = aadsts_code(said.description.as_deref())?;
    if ADMIN_CONSENT_AADSTS.contains(&number) {
        Some(ErrorKind::AdminConsentRequired(said.clone()))
    } else if number == MISCONFIGURED_APP_AADSTS {
        Some(ErrorKind::InvalidClient(said.clone()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn googles_redirect_errors_each_have_their_own_kind() {
        assert!(matches!(
            redirect_error("admin_policy_enforced", None),
            ErrorKind::AdminPolicyEnforced(_)
        ));
        assert!(matches!(
            redirect_error("org_internal", None),
            ErrorKind::OrgInternal(_)
        ));
        assert!(matches!(
            redirect_error("access_denied", Some("The user denied")),
            ErrorKind::AccessDenied(_)
        ));
    }

    #[test]
    fn microsofts_admin_consent_is_read_from_the_description_whatever_the_code() {
        for (code, text) in [
            (
                "consent_required",
                "AADSTS65001: The user or administrator has not consented",
            ),
            (
                "access_denied",
                "AADSTS90094: The grant requires admin permission.",
            ),
        ] {
            assert!(
                matches!(
                    redirect_error(code, Some(text)),
                    ErrorKind::AdminConsentRequired(_)
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn invalid_grant_is_a_dead_code_at_exchange_and_a_dead_authorisation_at_refresh() {
        let said = || ProviderSaid::new("invalid_grant", Some("Bad Request"));
        assert!(matches!(
            token_error(said(), false),
            ErrorKind::AuthorizationCodeInvalid(_)
        ));
        assert!(matches!(
            token_error(said(), true),
            ErrorKind::ReauthorizationNeeded(_)
        ));
        let withdrawn = ProviderSaid::new("invalid_grant", Some("AADSTS65001: consent withdrawn"));
        assert!(matches!(
            token_error(withdrawn.clone(), true),
            ErrorKind::ReauthorizationNeeded(_)
        ));
        assert!(matches!(
            token_error(withdrawn, false),
            ErrorKind::AdminConsentRequired(_)
        ));
    }
}
