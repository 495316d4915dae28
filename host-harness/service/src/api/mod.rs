//! The HTTP API for the CRM platform (axum, JSON): the panel's calls under `/api/v1`, the event
//! stream, the administrator's settings, `/healthz` and `/metrics`. Authentication sits at the
//! edge: every `/api` request needs the platform's bearer token or a panel session.

mod admin_routes;
pub mod auth;
mod events_routes;
mod mailbox_request;
mod mailbox_routes;
mod outbox_routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use tower::limit::GlobalConcurrencyLimitLayer;

use crate::context::ServiceContext;

/// The API's routes, `/healthz` and `/metrics` (the panel's are beside them).
pub fn router(ctx: Arc<ServiceContext>) -> Router<Arc<ServiceContext>> {
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
        .route(
            &format!("{mailbox}/outbox"),
            post(outbox_routes::queue)
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(send_body_limit(&ctx)))
                .layer(GlobalConcurrencyLimitLayer::new(SENDS_READ_AT_ONCE)),
        )
        .route(
            &format!("{mailbox}/messages/{{message}}/actions"),
            post(outbox_routes::act),
        )
        .route(
            &format!("{mailbox}/outbox/{{entry}}"),
            get(outbox_routes::entry),
        )
        .route("/api/v1/events", get(events_routes::list))
        .route("/api/v1/events/stream", get(events_routes::stream))
        .route(
            "/api/v1/webhooks/{index}/dead-letters",
            get(events_routes::dead_letters),
        )
        .route(
            "/api/v1/settings",
            get(admin_routes::settings).put(admin_routes::set_settings),
        )
        .route("/api/v1/panel/sessions", post(admin_routes::panel_session))
        .route_layer(middleware::from_fn_with_state(
            ctx.clone(),
            auth::authenticate,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(api)
}

/// Sends whose bodies (up to `send_body_limit` each) are read at once; more wait their turn.
pub const SENDS_READ_AT_ONCE: usize = 4;

/// The largest send the outbox route reads: the policy's message cap, in base64, and room for
/// the rest of the JSON.
fn send_body_limit(ctx: &ServiceContext) -> usize {
    let cap = ctx.host.shared().platform().policy.send_max_message_bytes;
    usize::try_from(cap.div_ceil(3) * 4 + (256 << 10)).unwrap_or(usize::MAX)
}

async fn metrics(State(ctx): State<Arc<ServiceContext>>) -> Response {
    let mut response = Response::new(ctx.metrics.encode().into());
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
