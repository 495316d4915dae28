//! How the CLI shows the mailbox panel: the status as labelled lines, and a plugin's error or
//! warning as its user message in the chosen language, never with a secret in it.

use host_harness::bindings::mailbox::{
    AuthMethod, ImapSecurity, LinkState, MailboxError, MailboxStatus, UserMessage,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    En,
    Nl,
}

pub fn text(message: &UserMessage, lang: Lang) -> &str {
    match lang {
        Lang::En => &message.en,
        Lang::Nl => &message.nl,
    }
}

/// A mailbox call's answer, or why not: the call's failure, or the plugin's typed error as its
/// message in `lang`.
pub fn answer<T>(result: host_harness::mailbox::MailboxResult<T>, lang: Lang) -> anyhow::Result<T> {
    result?.map_err(|e| error(e, lang))
}

/// The plugin's typed error as an `anyhow` error: its message, then its kind for developers.
pub fn error(e: MailboxError, lang: Lang) -> anyhow::Error {
    anyhow::anyhow!("{}\n  ({:?})", text(&e.message, lang), e.kind)
}

pub fn status(mailbox: &str, s: &MailboxStatus, lang: Lang) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<14}{value}\n"));
    line("Mailbox", mailbox.to_string());
    line(
        "State",
        match s.state {
            LinkState::Unlinked => "unlinked",
            LinkState::Linked => "linked",
            LinkState::ReauthorizationNeeded => "re-authorisation needed",
        }
        .to_string(),
    );
    if let Some(reason) = &s.reauthorization_reason {
        line("Why", text(reason, lang).to_string());
    }
    if let Some(provider) = &s.provider {
        line("Provider", provider.clone());
    }
    if let Some(address) = &s.address {
        line("Address", address.clone());
    }
    match &s.settings {
        Some(settings) => line(
            "Settings",
            format!(
                "imap {}:{} {}, user {}, {}{}",
                settings.imap_host,
                settings.imap_port,
                match settings.security {
                    ImapSecurity::Tls => "TLS",
                    ImapSecurity::Starttls => "STARTTLS",
                    ImapSecurity::Plain => "plain",
                },
                settings.username,
                match settings.auth {
                    AuthMethod::Xoauth2 => "XOAUTH2",
                    AuthMethod::Password => "password",
                },
                if s.settings_read_only {
                    " (read-only)"
                } else {
                    ""
                }
            ),
        ),
        None => line("Settings", "(empty)".into()),
    }
    if let Some(at) = &s.linked_at {
        line("Linked at", at.clone());
    }
    if let Some(at) = &s.access_expires_at {
        line("Access until", at.clone());
    }
    let providers: Vec<String> = s
        .providers
        .iter()
        .map(|p| format!("{} ({})", p.display_name, p.id))
        .collect();
    line("Providers", providers.join(", "));
    line(
        "Link mailbox",
        match &s.link_unavailable_reason {
            None => "available".into(),
            Some(reason) => format!("unavailable: {}", text(reason, lang)),
        },
    );
    for hint in &s.provider_hints {
        line("Not offered", text(hint, lang).to_string());
    }
    out
}
