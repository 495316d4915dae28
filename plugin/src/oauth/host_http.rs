//! The `oauth2` crate's HTTP client, over the host's `http-client` capability. It remembers the
//! last response's status and Retry-After, which the crate's errors do not carry.

use std::cell::Cell;

use oauth2::http::{HeaderName, HeaderValue, StatusCode};
use oauth2::{HttpRequest, HttpResponse, SyncHttpClient};

use crate::ports::{Http, HttpFailure, HttpRequest as HostRequest, Method};

pub struct HostHttp<'a> {
    http: &'a dyn Http,
    last_status: Cell<Option<u16>>,
    last_retry_after: Cell<Option<u32>>,
}

impl<'a> HostHttp<'a> {
    pub fn new(http: &'a dyn Http) -> Self {
        HostHttp {
            http,
            last_status: Cell::new(None),
            last_retry_after: Cell::new(None),
        }
    }

    /// The status of the last response, and its Retry-After in seconds.
    pub fn last_response(&self) -> (Option<u16>, Option<u32>) {
        (self.last_status.get(), self.last_retry_after.get())
    }
}

impl SyncHttpClient for HostHttp<'_> {
    type Error = HttpFailure;

    fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let method = if request.method() == oauth2::http::Method::GET {
            Method::Get
        } else {
            Method::Post
        };
        let headers = request
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let response = self.http.send(HostRequest {
            method,
            url: request.uri().to_string(),
            headers,
            body: request.body().clone(),
        })?;
        self.last_status.set(Some(response.status));
        self.last_retry_after.set(
            response
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok()),
        );
        let mut builder = oauth2::http::Response::builder().status(
            StatusCode::from_u16(response.status)
                .map_err(|_| HttpFailure::Network(format!("HTTP status {}", response.status)))?,
        );
        for (name, value) in &response.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                builder = builder.header(n, v);
            }
        }
        builder
            .body(response.body)
            .map_err(|e| HttpFailure::Network(e.to_string()))
    }
}
