//! What the panel keeps in the database: the administrator's choices ("Imap oAuth2": which
//! providers are enabled, and the "Link mailbox" flag), which override the settings file's, and
//! which mailbox each pending link attempt belongs to, so the OAuth callback finds it.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::db::Database;
use crate::settings::PlatformSettings;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS admin_choices (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS link_attempts (
    state      TEXT PRIMARY KEY,
    mailbox    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The feature flag that shows "Link mailbox".
pub const LINK_MAILBOX_FLAG: &str = "link-mailbox";

/// How long a link attempt's callback is awaited: the plugin's own limit on a link attempt.
const LINK_ATTEMPT_SECONDS: i64 = 10 * 60;

/// An administrator's choices, as the panel changes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminChoices {
    /// Whether "Link mailbox" is switched on (the feature flag).
    pub link_mailbox: bool,
    /// Each provider the settings name, enabled or not.
    pub providers: BTreeMap<String, bool>,
}

impl AdminChoices {
    /// The choices the settings make now.
    pub fn of(platform: &PlatformSettings) -> Self {
        AdminChoices {
            link_mailbox: platform
                .feature_flags
                .iter()
                .any(|f| f == LINK_MAILBOX_FLAG),
            providers: platform
                .providers
                .iter()
                .map(|p| (p.id.clone(), p.enabled))
                .collect(),
        }
    }

    /// The settings with these choices made; a provider the settings do not name is ignored.
    pub fn applied_to(&self, platform: &PlatformSettings) -> PlatformSettings {
        let mut next = platform.clone();
        next.feature_flags.retain(|f| f != LINK_MAILBOX_FLAG);
        if self.link_mailbox {
            next.feature_flags.push(LINK_MAILBOX_FLAG.into());
        }
        for provider in &mut next.providers {
            if let Some(enabled) = self.providers.get(&provider.id) {
                provider.enabled = *enabled;
            }
        }
        next
    }
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Database {
    /// The administrator's saved choices, if they made any.
    pub fn admin_choices(&self) -> rusqlite::Result<Option<AdminChoices>> {
        let value: Option<String> = self.read(|c| {
            c.query_row(
                "SELECT value FROM admin_choices WHERE name = 'platform'",
                [],
                |r| r.get(0),
            )
            .optional()
        })?;
        // Unreadable choices are as none: the settings file's hold.
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    pub fn set_admin_choices(&self, choices: &AdminChoices) -> rusqlite::Result<()> {
        let value = serde_json::to_string(choices)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO admin_choices (name, value) VALUES ('platform', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![value],
            )?;
            Ok(())
        })
    }

    /// Remembers that the link attempt with `state` belongs to `mailbox`; forgets expired ones.
    pub fn put_link_attempt(&self, state: &str, mailbox: &str) -> rusqlite::Result<()> {
        let now = now_seconds();
        self.with(|c| {
            c.execute(
                "DELETE FROM link_attempts WHERE expires_at < ?1",
                params![now],
            )?;
            c.execute(
                "INSERT OR REPLACE INTO link_attempts (state, mailbox, expires_at)
                 VALUES (?1, ?2, ?3)",
                params![state, mailbox, now + LINK_ATTEMPT_SECONDS],
            )?;
            Ok(())
        })
    }

    /// The mailbox of the link attempt with `state`, while it has not expired.
    pub fn link_attempt_mailbox(&self, state: &str) -> rusqlite::Result<Option<String>> {
        self.read(|c| {
            c.query_row(
                "SELECT mailbox FROM link_attempts WHERE state = ?1 AND expires_at >= ?2",
                params![state, now_seconds()],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_switch_providers_and_the_flag_and_survive_in_the_database() {
        let platform = PlatformSettings::default();
        let mut choices = AdminChoices::of(&platform);
        assert!(!choices.link_mailbox);
        assert!(!choices.providers["google"]);
        choices.link_mailbox = true;
        choices.providers.insert("google".into(), true);
        choices.providers.insert("unknown".into(), true);
        let applied = choices.applied_to(&platform);
        assert_eq!(applied.feature_flags, [LINK_MAILBOX_FLAG]);
        assert!(applied.providers.iter().all(|p| p.enabled));
        assert_eq!(
            applied.providers.len(),
            2,
            "an unknown provider is not added"
        );

        let db = Database::open_in_memory().unwrap();
        assert_eq!(db.admin_choices().unwrap(), None);
        db.set_admin_choices(&choices).unwrap();
        assert_eq!(db.admin_choices().unwrap(), Some(choices));
    }

    #[test]
    fn a_link_attempt_is_found_by_its_state_until_it_expires() {
        let db = Database::open_in_memory().unwrap();
        db.put_link_attempt("state-1", "anna").unwrap();
        assert_eq!(
            db.link_attempt_mailbox("state-1").unwrap().as_deref(),
            Some("anna")
        );
        assert_eq!(db.link_attempt_mailbox("state-2").unwrap(), None);
        db.with(|c| c.execute("UPDATE link_attempts SET expires_at = 0", []))
            .unwrap();
        assert_eq!(db.link_attempt_mailbox("state-1").unwrap(), None);
    }
}
