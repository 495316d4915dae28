//! `http-client`: one request and its response. The policy checks the URL, the headers and every
//! resolved address first; the host follows no redirects and caps both bodies.

use std::time::Duration;

use crate::bindings::http_client::{self, Header, HttpError, Method, Request, Response};
use crate::capabilities::resolve::{ResolveError, allowed_addresses};
use crate::capabilities::{size_cap, wit_refusal};
use crate::shared::Shared;
use crate::state::HostState;

impl http_client::Host for HostState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let provider = self.provider().await?;
        Ok(send(&self.shared, provider.as_deref(), req).await)
    }
}

pub async fn send(
    shared: &Shared,
    provider: Option<&str>,
    req: Request,
) -> Result<Response, HttpError> {
    let platform = shared.platform();
    let policy = &platform.policy;
    let body_len = req.body.len() as u64;
    if body_len > policy.http_request_cap_bytes {
        return Err(HttpError::RequestTooLarge(size_cap(
            policy.http_request_cap_bytes,
            body_len,
        )));
    }
    let names: Vec<&str> = req.headers.iter().map(|h| h.name.as_str()).collect();
    let dest = policy
        .check_http(provider, &req.url, &names)
        .map_err(|r| HttpError::Refused(wit_refusal(r)))?;
    let connect_timeout = Duration::from_millis(policy.connect_timeout_ms);
    let addrs = allowed_addresses(policy, &dest, connect_timeout)
        .await
        .map_err(|e| match e {
            ResolveError::Refused(r) => HttpError::Refused(wit_refusal(r)),
            ResolveError::Failed(m) => HttpError::ResolveFailed(m),
            ResolveError::TimedOut => HttpError::TimedOut,
        })?;

    // A client pinned to the checked addresses: reqwest does no lookup of its own.
    let client = reqwest::Client::builder()
        .use_preconfigured_tls((*shared.tls).clone())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(connect_timeout)
        .timeout(Duration::from_millis(policy.io_timeout_ms))
        .resolve_to_addrs(&dest.host, &addrs)
        .build()
        .map_err(|e| HttpError::Transport(e.to_string()))?;

    let mut builder = client.request(method(req.method), &req.url).body(req.body);
    for h in &req.headers {
        builder = builder.header(&h.name, &h.value);
    }
    let mut response = builder.send().await.map_err(transport_error)?;
    let cap = policy.http_response_cap_bytes;
    if let Some(len) = response.content_length().filter(|len| *len > cap) {
        return Err(HttpError::ResponseTooLarge(size_cap(cap, len)));
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_string(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > cap {
            return Err(HttpError::ResponseTooLarge(size_cap(
                cap,
                body.len() as u64,
            )));
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn transport_error(e: reqwest::Error) -> HttpError {
    // The URL stays out of error texts: a query string may carry a secret.
    let e = e.without_url();
    if e.is_timeout() {
        return HttpError::TimedOut;
    }
    if let Some(tls) = tls_failure(&e) {
        return HttpError::TlsFailed(tls);
    }
    if e.is_connect() {
        HttpError::ConnectFailed(full_message(&e))
    } else {
        HttpError::Transport(full_message(&e))
    }
}

/// The TLS failure somewhere in an error's chain. hyper and tokio-rustls wrap rustls's error in
/// `io::Error`s whose `source` skips it, so the chain is read both by type and by rustls's texts.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    const RUSTLS_TEXTS: &[&str] = &[
        "invalid peer certificate",
        "received fatal alert",
        "peer is incompatible",
        "peer misbehaved",
        "handshake",
    ];
    let mut source = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return Some(err.to_string());
        }
        let text = err.to_string();
        if RUSTLS_TEXTS.iter().any(|t| text.contains(t)) {
            return Some(text);
        }
        source = err.source();
    }
    None
}

fn full_message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}
