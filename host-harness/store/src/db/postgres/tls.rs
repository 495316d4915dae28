//! How a node reaches PostgreSQL: in the clear (the default, for a database on loopback or a
//! private network), or over TLS through rustls when the URL asks for it, libpq's way:
//! `sslmode=require` or `verify-full`, and `sslrootcert=PATH` for a CA of the platform's own.
//! The server's certificate and name are always verified (against the web's roots and that CA):
//! `require` is as strict as `verify-full`. `prefer`, which falls back to the clear without a
//! word, is refused.

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig};
use tokio_postgres::config::SslMode;

use crate::db::{StoreError, StoreResult};

/// The pool's manager for `url`, with TLS when the URL asks for it.
pub(super) fn manager(url: &str, settings: ManagerConfig) -> StoreResult<Manager> {
    let (config, root) = split(url)?;
    match config.get_ssl_mode() {
        SslMode::Disable => Ok(Manager::from_config(
            config,
            tokio_postgres::NoTls,
            settings,
        )),
        _ => {
            let roots: Vec<std::path::PathBuf> = root.into_iter().collect();
            let tls = crate::tls::client_config(&roots)
                .map_err(|e| StoreError::Unreachable(format!("the database's TLS: {e}")))?;
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
            Ok(Manager::from_config(config, tls, settings))
        }
    }
}

/// The connection settings tokio-postgres takes, and the CA file the URL names (libpq's
/// `sslrootcert`, which tokio-postgres does not know).
fn split(url: &str) -> StoreResult<(tokio_postgres::Config, Option<std::path::PathBuf>)> {
    let invalid = |why: String| StoreError::Unreachable(format!("the database URL: {why}"));
    let mut parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    let mut root = None;
    let mut mode = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| match &*k {
            "sslrootcert" => {
                root = Some(std::path::PathBuf::from(v.into_owned()));
                None
            }
            "sslmode" => {
                mode = Some(v.into_owned());
                None
            }
            _ => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    let ssl_mode = match mode.as_deref() {
        None | Some("disable") => "disable",
        Some("require" | "verify-ca" | "verify-full") => "require",
        Some(other) => {
            return Err(invalid(format!(
                "sslmode={other} is not taken: use disable, or require or verify-full (the \
                 server's certificate and name are verified either way)"
            )));
        }
    };
    if root.is_some() && ssl_mode == "disable" {
        return Err(invalid(
            "sslrootcert is given without sslmode=verify-full or require".into(),
        ));
    }
    {
        let mut query = parsed.query_pairs_mut();
        query.clear().extend_pairs(kept);
        query.append_pair("sslmode", ssl_mode);
    }
    let config = tokio_postgres::Config::from_str(parsed.as_str())?;
    Ok((config, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_asks_for_tls_libpqs_way_and_never_for_a_silent_fallback() {
        let (config, root) = split("postgres://u@h/db").unwrap();
        assert_eq!((config.get_ssl_mode(), root), (SslMode::Disable, None));
        let (config, root) = split(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        assert_eq!(root.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        assert_eq!(
            config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(5))
        );
        assert_eq!(
            split("postgres://u@h/db?sslmode=require")
                .unwrap()
                .0
                .get_ssl_mode(),
            SslMode::Require
        );
        for refused in [
            "postgres://u@h/db?sslmode=prefer",
            "postgres://u@h/db?sslmode=allow",
            "postgres://u@h/db?sslrootcert=/etc/ca.pem",
        ] {
            assert!(split(refused).is_err(), "{refused}");
        }
    }
}
