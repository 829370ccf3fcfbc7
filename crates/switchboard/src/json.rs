//! Request input in the API's error format: a JSON body extractor, and the `Idempotency-Key`
//! header every retry-safe endpoint reads.

use axum::extract::{FromRequest, Request, rejection::JsonRejection};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Like `axum::Json`, but a malformed body is a 400/415/422 in `{"error":…}` form.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_body",
                    format!(
                        "the request body does not match the schema: {}",
                        std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.body_text())
                    ),
                ),
                JsonRejection::JsonSyntaxError(_) => {
                    AppError::bad_request("invalid_json", "the request body is not valid JSON")
                }
                JsonRejection::MissingJsonContentType(_) => AppError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "expected Content-Type: application/json",
                ),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    AppError::new(other.status(), "payload_too_large", "the request body is too large")
                }
                other => AppError::new(other.status(), "invalid_body", other.body_text()),
            }),
        }
    }
}

/// An optional JSON body (`Option<ApiJson<T>>`): `None` when the request has no `Content-Type`
/// (no body was sent); otherwise as [`ApiJson`].
impl<S, T> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state).await.map(Some)
    }
}

/// The idempotency key of a request: the `Idempotency-Key` header, else `body` (a client id the
/// request body carries), else none. 1 to 128 characters; a header that is not visible ASCII is
/// refused, never ignored.
pub fn idempotency_key(headers: &axum::http::HeaderMap, body: Option<&str>) -> Result<Option<String>, AppError> {
    let (key, field) = match headers.get("idempotency-key") {
        Some(v) => match v.to_str() {
            Ok(k) => (Some(k.to_string()), "Idempotency-Key"),
            Err(_) => return Err(AppError::field("Idempotency-Key", "must be 1 to 128 visible ASCII characters")),
        },
        None => (body.map(str::to_string), "clientMessageId"),
    };
    match key {
        Some(k) if k.is_empty() || k.len() > 128 => Err(AppError::field(field, "must be 1 to 128 characters")),
        other => Ok(other),
    }
}
