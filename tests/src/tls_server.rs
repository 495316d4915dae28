//! Loopback TLS servers for the transport tests: a private CA made on the spot (its PEM is what
//! the host's settings trust), and scripted IMAP or HTTPS peers behind it.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A private CA and a server certificate for 127.0.0.1 and localhost signed by it.
pub struct TestPki {
    pub ca_pem: PathBuf,
    /// The server certificate and its key, PEM, for servers that read files (Dovecot).
    pub server_cert_pem: String,
    pub server_key_pem: String,
    acceptor: TlsAcceptor,
    _dir: Option<tempfile::TempDir>,
}

impl TestPki {
    /// A PKI whose CA PEM lives in a temporary directory removed with it.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pki = Self::in_dir(dir.path());
        pki._dir = Some(dir);
        pki
    }

    /// A PKI whose server certificate names only `names` (none of them this machine's).
    pub fn for_names(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pki = Self::in_dir_for(dir.path(), names);
        pki._dir = Some(dir);
        pki
    }

    /// A PKI whose CA PEM is written to `dir/ca.pem`, which outlives it.
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self::in_dir_for(dir, &["127.0.0.1", "localhost"])
    }

    fn in_dir_for(dir: &std::path::Path, names: &[&str]) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf = CertificateParams::new(names)
            .expect("server params")
            .signed_by(&leaf_key, &issuer)
            .expect("server certificate");

        std::fs::create_dir_all(dir).expect("PKI directory");
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca_cert.pem()).expect("write CA PEM");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let leaf_key_pem = leaf_key.serialize_pem();
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server TLS config");
        TestPki {
            ca_pem,
            server_cert_pem: leaf.pem(),
            server_key_pem: leaf_key_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            _dir: None,
        }
    }

    /// Accepts TLS with the server certificate for 127.0.0.1 and localhost.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves every connection to a free loopback port over TLS with `serve`, each on a task of its
/// own (a handshake that fails is dropped); returns `imaps://127.0.0.1:<port>`.
pub async fn serve_imaps<F, Fut>(pki: &TestPki, serve: F) -> String
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let acceptor = pki.acceptor();
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, serve) = (acceptor.clone(), serve.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = serve(tls).await;
                }
            });
        }
    });
    format!("imaps://127.0.0.1:{port}")
}

/// What a test server says on each connection.
#[derive(Clone, Copy)]
pub enum Script {
    /// TLS from the first byte, then a greeting, one tagged answer, and close.
    ImapTls,
    /// A plain greeting, STARTTLS, then as `ImapTls`.
    ImapStartTls,
    /// TLS, then one HTTP/1.1 response with a body of this many bytes.
    Https { body_len: usize },
}

/// Starts a loopback server running `script` for every connection; returns its port.
pub async fn start(pki: &TestPki, script: Script) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("local address").port();
    let acceptor = pki.acceptor.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = serve(acceptor, tcp, script).await;
            });
        }
    });
    port
}

async fn serve(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    script: Script,
) -> std::io::Result<()> {
    let mut tcp = BufReader::new(tcp);
    if let Script::ImapStartTls = script {
        tcp.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] plain greeting\r\n")
            .await?;
        let command = read_line(&mut tcp).await?;
        if !command.ends_with("STARTTLS") {
            return tcp.write_all(b"a0 BAD expected STARTTLS\r\n").await;
        }
        tcp.write_all(b"a0 OK begin TLS now\r\n").await?;
    }
    let tls = acceptor.accept(tcp.into_inner()).await?;
    let mut tls = BufReader::new(tls);
    match script {
        Script::Https { body_len } => {
            while !read_line(&mut tls).await?.is_empty() {}
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
            );
            tls.write_all(head.as_bytes()).await?;
            tls.write_all(&vec![b'x'; body_len]).await?;
        }
        _ => {
            tls.write_all(b"* OK secure greeting\r\n").await?;
            let command = read_line(&mut tls).await?;
            let tag = command.split(' ').next().unwrap_or("*").to_string();
            tls.write_all(format!("{tag} OK NOOP completed\r\n").as_bytes())
                .await?;
        }
    }
    tls.shutdown().await
}

async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
) -> std::io::Result<String> {
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    Ok(line.trim_end().to_string())
}
