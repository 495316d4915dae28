//! A malicious IMAP server for the protocol tests: a proper TLS greeting and login, then, at the
//! LIST, one of the answers a broken or hostile server might give; and a plain server that
//! refuses STARTTLS and keeps what it was sent in clear.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::tls_server::{TestPki, serve_imaps};

#[derive(Clone, Copy, Debug)]
pub enum Misbehaviour {
    /// Bytes that are not IMAP.
    Garbage,
    /// A line that never ends.
    EndlessLine,
    /// A literal announced at 4 GB, then streamed.
    GiganticLiteral,
    /// Well-formed LIST responses, without end.
    EndlessListing,
    /// A folder name in raw Latin-1 (invalid UTF-8, not modified UTF-7).
    InvalidUtf8Name,
    /// The greeting is BYE.
    ByeGreeting,
    /// Logins are refused for now (`NO [UNAVAILABLE]`), whatever the token.
    LoginUnavailable,
    /// The TLS handshake completes, then nothing: no greeting, ever.
    SilentGreeting,
    /// The LIST is never answered, and the connection stays open.
    SilentList,
}

/// How long a silent server keeps quiet: far longer than any test waits.
const SILENCE: Duration = Duration::from_secs(3600);

/// Starts the server on a free port; returns `imaps://127.0.0.1:<port>`.
pub async fn start(pki: &TestPki, misbehaviour: Misbehaviour) -> String {
    serve_imaps(pki, move |tls| serve(tls, misbehaviour)).await
}

async fn serve<S>(stream: S, misbehaviour: Misbehaviour) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    match misbehaviour {
        Misbehaviour::ByeGreeting => {
            return stream.write_all(b"* BYE Too many connections\r\n").await;
        }
        Misbehaviour::SilentGreeting => {
            tokio::time::sleep(SILENCE).await;
            return Ok(());
        }
        _ => {}
    }
    stream
        .write_all(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
        .await?;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let tag = line.split(' ').next().unwrap_or("*").to_string();
        let command = line.to_ascii_uppercase();
        if command.contains(" AUTHENTICATE ")
            && matches!(misbehaviour, Misbehaviour::LoginUnavailable)
        {
            stream
                .write_all(
                    format!("{tag} NO [UNAVAILABLE] Temporary authentication failure\r\n")
                        .as_bytes(),
                )
                .await?;
        } else if command.contains(" LIST ") {
            return misbehave(&mut stream, &tag, misbehaviour).await;
        } else if command.contains(" LOGOUT") {
            stream
                .write_all(format!("* BYE\r\n{tag} OK bye\r\n").as_bytes())
                .await?;
            return Ok(());
        } else {
            stream
                .write_all(format!("{tag} OK done\r\n").as_bytes())
                .await?;
        }
    }
}

async fn misbehave<S>(stream: &mut S, tag: &str, misbehaviour: Misbehaviour) -> std::io::Result<()>
where
    S: tokio::io::AsyncWrite + Unpin,
{
    let chunk = vec![b'a'; 64 * 1024];
    match misbehaviour {
        Misbehaviour::Garbage => {
            stream
                .write_all(b"\x00\x01\xfe\xff ))) not imap at all\r\n")
                .await?;
            stream
                .write_all(format!("{tag} OK LIST done\r\n").as_bytes())
                .await
        }
        Misbehaviour::InvalidUtf8Name => {
            stream
                .write_all(b"* LIST () \"/\" \"Priv\xe9\"\r\n")
                .await?;
            stream
                .write_all(format!("{tag} OK LIST done\r\n").as_bytes())
                .await
        }
        Misbehaviour::EndlessLine => {
            stream.write_all(b"* LIST () \"/\" ").await?;
            loop {
                stream.write_all(&chunk).await?;
            }
        }
        Misbehaviour::GiganticLiteral => {
            stream
                .write_all(b"* LIST () \"/\" {4000000000}\r\n")
                .await?;
            loop {
                stream.write_all(&chunk).await?;
            }
        }
        Misbehaviour::EndlessListing => {
            for n in 0u64.. {
                let line = format!("* LIST (\\HasNoChildren) \"/\" \"Folder {n:012}\"\r\n");
                stream.write_all(line.as_bytes()).await?;
            }
            Ok(())
        }
        Misbehaviour::SilentList => {
            tokio::time::sleep(SILENCE).await;
            Ok(())
        }
        Misbehaviour::ByeGreeting
        | Misbehaviour::LoginUnavailable
        | Misbehaviour::SilentGreeting => Ok(()),
    }
}

/// The lines a server received, in order.
pub type Received = Arc<Mutex<Vec<String>>>;

/// A plain IMAP server that offers STARTTLS and refuses it (`NO`), then answers nothing but
/// `BAD` and keeps every line it is sent; returns `imap://127.0.0.1:<port>` and those lines.
pub async fn start_refusing_starttls() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let received = Received::default();
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(tcp);
                let greeting =
                    b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=XOAUTH2] plain greeting\r\n";
                stream.write_all(greeting).await?;
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await? == 0 {
                        return Ok::<_, std::io::Error>(());
                    }
                    log.lock().expect("log").push(line.trim_end().to_string());
                    let tag = line.split(' ').next().unwrap_or("*").to_string();
                    let answer = if line.to_ascii_uppercase().contains("STARTTLS") {
                        format!("{tag} NO STARTTLS is not available now\r\n")
                    } else {
                        format!("{tag} BAD only STARTTLS was expected\r\n")
                    };
                    stream.write_all(answer.as_bytes()).await?;
                }
            });
        }
    });
    (format!("imap://127.0.0.1:{port}"), received)
}
