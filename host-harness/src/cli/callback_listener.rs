//! The loopback redirect listener of RFC 8252: an HTTP server on the redirect URI's 127.0.0.1
//! port that takes the provider's redirect, hands its query to the link flow, and shows the
//! outcome in the browser tab.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// A callback that arrived: its query, and where to send the page the browser shows.
pub struct Callback {
    pub query: Vec<(String, String)>,
    pub reply: oneshot::Sender<String>,
}

pub struct CallbackListener {
    callbacks: mpsc::Receiver<Callback>,
    /// The port listened on: the redirect URI's, or the free one taken for its port 0.
    pub port: u16,
}

impl CallbackListener {
    /// Listens where `redirect_uri` points, which must be `http://127.0.0.1:<port>/<path>` (or
    /// `localhost`); port 0 takes any free port (RFC 8252, 7.3), named by `port`.
    pub async fn bind(redirect_uri: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(redirect_uri)
            .map_err(|e| anyhow::anyhow!("the redirect URI {redirect_uri} is not a URL: {e}"))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        let (true, "http", Some(port)) = (loopback, url.scheme(), url.port()) else {
            anyhow::bail!(
                "the redirect URI {redirect_uri} is not a loopback address with a port; set \
                 platform.redirect_uri to one such as http://127.0.0.1:8765/oauth/callback (RFC 8252)"
            );
        };
        let addr: SocketAddr = if url.host_str() == Some("[::1]") {
            ([0, 0, 0, 0, 0, 0, 0, 1], port).into()
        } else {
            ([127, 0, 0, 1], port).into()
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the callback: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| anyhow::anyhow!("cannot read the callback's port: {e}"))?
            .port();
        let path = url.path().to_string();
        let (sender, callbacks) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (sender, path) = (sender.clone(), path.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(req, path.clone(), sender.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(CallbackListener { callbacks, port })
    }

    /// The next callback to the redirect path.
    pub async fn next(&mut self) -> Option<Callback> {
        self.callbacks.recv().await
    }
}

async fn answer(
    req: Request<Incoming>,
    path: String,
    sender: mpsc::Sender<Callback>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != path {
        return Ok(page(404, "Not found"));
    }
    let query = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let (reply, outcome) = oneshot::channel();
    if sender.send(Callback { query, reply }).await.is_err() {
        return Ok(page(
            410,
            "This link attempt is over. Return to the terminal.",
        ));
    }
    let text = outcome
        .await
        .unwrap_or_else(|_| "Return to the terminal.".into());
    Ok(page(200, &text))
}

fn page(status: u16, text: &str) -> Response<Full<Bytes>> {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!("<!doctype html><meta charset=utf-8><title>Mailbox</title><p>{escaped}</p>");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
