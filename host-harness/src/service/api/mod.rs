//! The HTTP API for the CRM platform (axum, JSON): the panel's calls under `/api/v1`, the event
//! stream, `/healthz` and `/metrics`. Authentication sits at the edge: every `/api` request
//! needs the platform's bearer token from the settings.

mod errors;
mod events_routes;
mod mailbox_request;
mod mailbox_routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

pub use errors::{ApiError, Lang};

use super::ServiceContext;

/// The service's routes.
pub fn router(ctx: Arc<ServiceContext>) -> Router {
    let mailbox = "/api/v1/mailboxes/{id}";
    let api = Router::new()
        .route(mailbox, get(mailbox_routes::status))
        .route(&format!("{mailbox}/link"), post(mailbox_routes::link_start))
        .route(
            &format!("{mailbox}/link/complete"),
            post(mailbox_routes::link_complete),
        )
        .route(&format!("{mailbox}/folders"), get(mailbox_routes::folders))
        .route(
            &format!("{mailbox}/suggestion"),
            get(mailbox_routes::suggestion),
        )
        .route(
            &format!("{mailbox}/mapping"),
            get(mailbox_routes::mapping).put(mailbox_routes::set_mapping),
        )
        .route(&format!("{mailbox}/unlink"), post(mailbox_routes::unlink))
        .route(&format!("{mailbox}/sync"), post(mailbox_routes::sync_now))
        .route(&format!("{mailbox}/reports"), get(mailbox_routes::reports))
        .route(
            &format!("{mailbox}/messages"),
            get(mailbox_routes::messages),
        )
        .route("/api/v1/events", get(events_routes::list))
        .route("/api/v1/events/stream", get(events_routes::stream))
        .route_layer(middleware::from_fn_with_state(ctx.clone(), require_bearer));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(api)
        .with_state(ctx)
}

async fn metrics(State(ctx): State<Arc<ServiceContext>>) -> Response {
    let mut response = Response::new(ctx.metrics.encode().into());
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Lets a request through only with `Authorization: Bearer <the platform's token>`. Without a
/// token in the settings, no request gets through.
async fn require_bearer(
    State(ctx): State<Arc<ServiceContext>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let offered = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (offered, ctx.config.api_token.as_ref()) {
        (Some(offered), Some(token))
            if same_secret(offered.as_bytes(), token.expose().as_bytes()) =>
        {
            Ok(next.run(request).await)
        }
        _ => Err(ApiError::Unauthorized),
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
