//! A malicious IMAP server for the protocol tests: a proper TLS greeting and login, then, at the
//! LIST, one of the answers a broken or hostile server might give.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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
}

/// Starts the server on a free port; returns `imaps://127.0.0.1:<port>`.
pub async fn start(pki: &TestPki, misbehaviour: Misbehaviour) -> String {
    serve_imaps(pki, move |tls| serve(tls, misbehaviour)).await
}

async fn serve<S>(stream: S, misbehaviour: Misbehaviour) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    if let Misbehaviour::ByeGreeting = misbehaviour {
        return stream.write_all(b"* BYE Too many connections\r\n").await;
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
        Misbehaviour::ByeGreeting | Misbehaviour::LoginUnavailable => Ok(()),
    }
}
