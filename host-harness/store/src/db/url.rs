//! Which database a host uses, from its URL: a file path or `sqlite:PATH` for SQLite,
//! `postgres://…` (or `postgresql://…`) for PostgreSQL. Shown with any password hidden.

use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        let path = match text.strip_prefix("sqlite:") {
            Some(rest) => rest.strip_prefix("//").unwrap_or(rest),
            None => text,
        };
        if path.is_empty() {
            return Err("the database URL names no file".into());
        }
        if path.contains("://") {
            return Err(format!(
                "unknown database scheme in {}: use a file path, sqlite:PATH or postgres://…",
                text.split("://").next().unwrap_or_default()
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// The URL with its password, if any, replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "{}", path.display()),
            DatabaseUrl::Postgres(url) => match url::Url::parse(url) {
                Ok(parsed) => write!(f, "{}", crate::redact::url_without_secrets(parsed)),
                Err(_) => write!(f, "postgres://(unparsable URL)"),
            },
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_query_is_hidden_too() {
        let url = DatabaseUrl::parse(
            "postgres://u:pw1@h/db?sslmode=require&password=pw2&SSLPASSWORD=pw3",
        )
        .unwrap();
        for shown in [url.to_string(), format!("{url:?}")] {
            for secret in ["pw1", "pw2", "pw3"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            assert!(shown.contains("sslmode=require"), "{shown}");
        }
    }

    #[test]
    fn paths_and_sqlite_urls_are_sqlite_and_postgres_urls_postgres() {
        assert_eq!(
            DatabaseUrl::parse("/var/lib/m.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/m.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/m.db").unwrap(),
            DatabaseUrl::Sqlite("data/m.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/m.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/m.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://u@h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite:").is_err());
    }

    #[test]
    fn a_postgresql_database_takes_its_key_from_the_environment_or_a_named_file_only() {
        use crate::db::{Database, OpenError};
        let url = DatabaseUrl::parse("postgres://h/db").unwrap();
        let key = crate::at_rest::SecretKey::generate();
        assert!(Database::keys_for(&url, Some(&key.to_base64()), None).is_ok());
        assert!(matches!(
            Database::keys_for(&url, None, None),
            Err(OpenError::SharedKeyNeeded)
        ));
    }

    #[test]
    fn a_password_is_never_shown() {
        let url = DatabaseUrl::parse("postgres://mailsync:s3cret@db.internal:5432/crm").unwrap();
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.internal:5432/crm"), "{shown}");
    }
}
