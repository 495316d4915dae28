//! A node reaches PostgreSQL over TLS through rustls when its URL asks for it (libpq's
//! `sslmode`, and `sslrootcert` for the platform's own CA), against a real cluster that takes TLS
//! connections only: the server's certificate is verified, and nothing falls back to the clear.

use host_harness::Database;
use host_harness::at_rest::KeyRing;
use host_harness::db::{DatabaseUrl, KvWrite};
use tests::postgres::PostgresCluster;
use tests::tls_server::TestPki;

fn connect(url: &str) -> Result<Database, String> {
    let url = DatabaseUrl::parse(url).map_err(|e| e.to_string())?;
    Database::connect(&url, KeyRing::ephemeral()).map_err(|e| e.to_string())
}

#[test]
fn a_node_reaches_postgresql_over_verified_tls_and_never_in_the_clear() {
    let pki = TestPki::new();
    let cluster = PostgresCluster::start_with_tls(&pki);
    let url = cluster.fresh_database();
    let with = |mode: &str, ca: &std::path::Path| {
        format!("{url}?sslmode={mode}&sslrootcert={}", ca.display())
    };

    // Over TLS, verified against the platform's CA: the store works.
    for mode in ["verify-full", "require"] {
        let db = connect(&with(mode, &pki.ca_pem)).unwrap_or_else(|e| panic!("{mode}: {e}"));
        db.kv_write("a", &[KvWrite::Set("k".into(), mode.as_bytes().to_vec())])
            .expect("a write over TLS");
        assert_eq!(
            db.kv_get("a", "k").unwrap().as_deref(),
            Some(mode.as_bytes())
        );
        db.kv_write("a", &[KvWrite::Delete("k".into())]).unwrap();
    }

    // In the clear, the server lets nobody in; the host never asks for the clear by itself.
    let clear = connect(&url).err().expect("refused in the clear");
    assert!(clear.contains("pg_hba.conf"), "{clear}");
    // A certificate the host cannot verify (another CA, or only the web's roots) is refused.
    let stranger = TestPki::new();
    for url in [
        with("verify-full", &stranger.ca_pem),
        format!("{url}?sslmode=require"),
    ] {
        let refused = connect(&url)
            .err()
            .expect("an unverified server is refused");
        assert!(
            refused.to_lowercase().contains("certificate"),
            "{url}: {refused}"
        );
    }
    // `prefer`, which would fall back to the clear without a word, is refused outright.
    let prefer = connect(&format!("{url}?sslmode=prefer"))
        .err()
        .expect("refused");
    assert!(prefer.contains("sslmode=prefer"), "{prefer}");
}
