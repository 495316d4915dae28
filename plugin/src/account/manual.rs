//! Settings entered by hand for a mailbox that is not linked; refused while linked, since linking
//! filled them in and made them read-only. The password is stored, never shown again.

use super::model::{MailboxStatus, ManualSettings};
use super::status::build;
use super::store::{self, Account, Manual};
use crate::errors::{ErrorKind, MailboxError};
use crate::ports::Env;

pub fn set_settings(env: &Env, settings: &ManualSettings) -> Result<MailboxStatus, MailboxError> {
    if store::read::<Account>(env.kv, store::ACCOUNT)?.is_some() {
        return Err(MailboxError::new(ErrorKind::SettingsReadOnly, ""));
    }
    validate(settings)?;
    let manual = Manual {
        imap_host: settings.imap_host.trim().to_ascii_lowercase(),
        imap_port: settings.imap_port,
        security: settings.security,
        username: settings.username.trim().to_string(),
        password: settings.password.clone(),
    };
    env.kv.batch(vec![store::set(store::MANUAL, &manual)])?;
    Ok(build(&env.config, None, None, Some(manual)))
}

fn validate(s: &ManualSettings) -> Result<(), MailboxError> {
    let invalid = |field, problem: &str| {
        Err(MailboxError::new(
            ErrorKind::InvalidSettings {
                field,
                problem: problem.to_string(),
            },
            "",
        ))
    };
    let host = s.imap_host.trim();
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok {
        return invalid("imap-host", "a host name or IP address is required");
    }
    if s.imap_port == 0 {
        return invalid("imap-port", "a port from 1 to 65535 is required");
    }
    if s.username.trim().is_empty() {
        return invalid("username", "a user name is required");
    }
    if s.password.is_empty() {
        return invalid("password", "a password is required");
    }
    Ok(())
}
