//! User-facing messages: a key plus parameters, rendered in English and Dutch from the catalog.
//! Every error and warning the mailbox panel shows is one of these.

mod catalog;

/// A message for the user, with both renderings filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    pub key: &'static str,
    pub params: Vec<(&'static str, String)>,
    pub en: String,
    pub nl: String,
}

impl UserMessage {
    /// Renders `key` with `params`. A key missing from the catalog renders as the key itself, so
    /// a message is never empty (a unit test checks that every key used is present).
    pub fn new(key: &'static str, params: Vec<(&'static str, String)>) -> Self {
        let (en, nl) = catalog::texts(key).unwrap_or((key, key));
        UserMessage {
            key,
            en: fill(en, &params),
            nl: fill(nl, &params),
            params,
        }
    }
}

fn fill(template: &str, params: &[(&'static str, String)]) -> String {
    let mut text = template.to_string();
    for (name, value) in params {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_entry_has_both_languages_and_the_same_placeholders() {
        for key in catalog::KEYS {
            let (en, nl) = catalog::texts(key).expect(key);
            assert!(!en.is_empty() && !nl.is_empty(), "{key}");
            assert_ne!(en, nl, "{key} is not translated");
            let holes = |s: &str| {
                let mut v: Vec<String> = s
                    .split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(h, _)| h.to_string()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(holes(en), holes(nl), "{key}");
        }
    }

    #[test]
    fn parameters_are_filled_into_both_renderings() {
        let m = UserMessage::new(
            "link.different_account",
            vec![("linked", "a@x.nl".into()), ("offered", "b@x.nl".into())],
        );
        assert!(
            m.en.contains("a@x.nl") && m.en.contains("b@x.nl"),
            "{}",
            m.en
        );
        assert!(
            m.nl.contains("a@x.nl") && m.nl.contains("b@x.nl"),
            "{}",
            m.nl
        );
        assert!(!m.en.contains('{') && !m.nl.contains('{'));
    }
}
