//! The HTTP server under the API and the panel: hyper's HTTP/1 with a timer, so that no client
//! holds the node. A header that is slow to arrive is cut off, a request that takes too long is
//! answered 503, connections are capped, bodies are bounded, and shutdown is graceful.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

/// The `[service.http]` section: what one client may take of a node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// How long a client has to send a request's whole header before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// How long a request may take until its answer starts (an event stream's events are not
    /// counted: its answer starts at once); past it, 503.
    pub request_timeout_secs: u64,
    /// Connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// The largest request body taken (JSON and forms are small).
    pub max_body_bytes: usize,
    /// Event streams open at once, in all and for one panel session.
    pub max_streams: usize,
    pub max_streams_per_session: usize,
    /// How long a graceful shutdown waits for open requests before closing them.
    pub shutdown_grace_secs: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout_secs: 10,
            request_timeout_secs: 60,
            max_connections: 1024,
            max_body_bytes: 1 << 20,
            max_streams: 256,
            max_streams_per_session: 4,
            shutdown_grace_secs: 30,
        }
    }
}

impl HttpLimits {
    /// Refuses a limit of zero, which would refuse everything.
    pub fn check(&self) -> Result<(), String> {
        let zero = [
            (
                "header_read_timeout_secs",
                self.header_read_timeout_secs as usize,
            ),
            ("request_timeout_secs", self.request_timeout_secs as usize),
            ("max_connections", self.max_connections),
            ("max_body_bytes", self.max_body_bytes),
            ("max_streams", self.max_streams),
            ("max_streams_per_session", self.max_streams_per_session),
        ]
        .into_iter()
        .find(|(_, v)| *v == 0);
        match zero {
            Some((name, _)) => Err(format!("service.http.{name} must be more than 0")),
            None => Ok(()),
        }
    }
}

/// Serves `app` on `listener` until `stop` is cancelled, within `limits`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let app = app
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(limits.request_timeout_secs),
        ))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            _ = stop.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: the listener stays, and tries again shortly.
                    tracing::warn!(error = %e, "a connection could not be accepted");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away, or sends what is not HTTP, ends its connection only.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    let grace = Duration::from_secs(limits.shutdown_grace_secs);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open requests did not end within the shutdown's grace; closed");
    }
    Ok(())
}
