//! What the panel keeps in the database: the administrator's choices ("Imap oAuth2": which
//! providers are enabled, and the "Link mailbox" flag), which override the settings file's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::db::{Database, StoreResult};
use crate::settings::PlatformSettings;

/// The feature flag that shows "Link mailbox".
pub const LINK_MAILBOX_FLAG: &str = "link-mailbox";

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

/// Where the administrator's choices are kept: the store's admin values, as JSON.
pub trait AdminChoicesStore {
    /// The administrator's saved choices, if they made any.
    fn admin_choices(&self) -> StoreResult<Option<AdminChoices>>;
    fn set_admin_choices(&self, choices: &AdminChoices) -> StoreResult<()>;
}

impl AdminChoicesStore for Database {
    fn admin_choices(&self) -> StoreResult<Option<AdminChoices>> {
        let value = self.admin().admin_value("platform")?;
        // Unreadable choices are as none: the settings file's hold.
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    fn set_admin_choices(&self, choices: &AdminChoices) -> StoreResult<()> {
        let value = serde_json::to_string(choices).expect("plain data serialises");
        self.admin().set_admin_value("platform", &value)
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
}
