//! Automatic and list mail: Auto-Submitted, auto-reply headers, Precedence and List-Id, so the
//! CRM can keep out-of-office replies and newsletters apart from conversations.

use mail_parser::Message;

use crate::record::Classification;

pub fn classify(message: &Message<'_>) -> Classification {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let auto_submitted = header("Auto-Submitted");
    let precedence = header("Precedence").map(|p| p.to_lowercase());
    let list_id = header("List-Id").map(|raw| list_identifier(&raw));

    let submitted_automatically = auto_submitted
        .as_deref()
        .is_some_and(|v| !v.to_lowercase().starts_with("no"));
    let auto_reply_header = ["X-Autoreply", "X-Autorespond"]
        .iter()
        .any(|h| header(h).is_some());
    let precedence_is = |value: &str| precedence.as_deref() == Some(value);

    Classification {
        auto_reply: submitted_automatically || auto_reply_header || precedence_is("auto_reply"),
        mailing_list: list_id.is_some()
            || header("List-Unsubscribe").is_some()
            || precedence_is("list"),
        bulk: precedence_is("bulk") || precedence_is("junk"),
        auto_submitted,
        precedence,
        list_id,
    }
}

/// `Team news <news.example.com>` → `news.example.com`.
fn list_identifier(raw: &str) -> String {
    match (raw.rfind('<'), raw.rfind('>')) {
        (Some(start), Some(end)) if start < end => raw[start + 1..end].trim().to_string(),
        _ => raw.trim().to_string(),
    }
}
