//! `GET/POST /api/webhooks/whatsapp`: Meta's verification handshake and event delivery.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ingest::Ingestor;
use crate::error::{AppError, ErrorBody};
use crate::metrics::inc;
use crate::state::AppState;

/// Meta's documented maximum payload.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// `ingest`: this node's writer of acknowledged events.
pub fn router(ingest: Ingestor) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify, receive)).layer(DefaultBodyLimit::disable()).layer(Extension(ingest))
}

#[derive(Deserialize, IntoParams)]
pub struct VerifyParams {
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    pub mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

/// Meta's subscription handshake: echoes `hub.challenge` when `hub.verify_token` is the platform's
/// or one of the accounts' verify tokens.
#[utoipa::path(get, path = "/api/webhooks/whatsapp", tag = "webhooks", params(VerifyParams),
    responses((status = 200, description = "the challenge, as text/plain"), (status = 403, body = ErrorBody)))]
async fn verify(State(state): State<AppState>, Query(p): Query<VerifyParams>) -> Response {
    let (Some(mode), Some(token), Some(challenge)) = (p.mode, p.verify_token, p.challenge) else {
        return AppError::bad_request("invalid_handshake", "hub.mode, hub.verify_token and hub.challenge are required")
            .into_response();
    };
    let platform_ok = state
        .config
        .meta_verify_token
        .as_ref()
        .is_some_and(|t| switchboard_crypto::token::constant_time_eq(t.expose().as_bytes(), token.as_bytes()));
    if mode == "subscribe" && (platform_ok || state.directory.any_verify_token(&token).await) {
        return ([(axum::http::header::CONTENT_TYPE, "text/plain")], challenge).into_response();
    }
    AppError::forbidden("verify token does not match").into_response()
}

/// Receives Meta's signed events. The signature is checked over the raw bytes first; then the
/// raw event and its processing job are committed together, and only then is 200 returned.
#[utoipa::path(post, path = "/api/webhooks/whatsapp", tag = "webhooks",
    request_body(content = String, description = "Meta's webhook JSON, signed with X-Hub-Signature-256", content_type = "application/json"),
    responses((status = 200, description = "stored"), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 503, body = ErrorBody, description = "not stored: Meta will retry")))]
async fn receive(
    State(state): State<AppState>,
    Extension(ingest): Extension<Ingestor>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            inc(&state.metrics.webhooks_too_large_total);
            return AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "webhook bodies are limited to 3 MB",
            )
            .into_response();
        }
    };
    let Some(signature) = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()) else {
        inc(&state.metrics.webhooks_bad_signature_total);
        return AppError::unauthorized("missing X-Hub-Signature-256").into_response();
    };
    let Some(verified) = super::ingest::verify(&state, &body, signature).await else {
        inc(&state.metrics.webhooks_bad_signature_total);
        return AppError::unauthorized("invalid X-Hub-Signature-256").into_response();
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let kept = json!({
        "x-hub-signature-256": signature,
        "content-type": header("content-type"),
        "user-agent": header("user-agent"),
        "x-request-id": header("x-request-id"),
    });
    match ingest.store(body, kept, verified).await {
        Ok(_) => {
            inc(&state.metrics.webhooks_accepted_total);
            StatusCode::OK.into_response()
        }
        Err(_) => {
            inc(&state.metrics.webhooks_unavailable_total);
            let mut e = AppError::unavailable("database_unavailable", "the event could not be stored; retry later");
            e.retry_after = Some(1);
            e.into_response()
        }
    }
}
