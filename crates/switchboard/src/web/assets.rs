//! Static assets compiled into the binary, served with a content hash for cache busting.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (file name, content type, body). The core files are on every page; the others are each owned by
/// one area of the app and loaded by its pages.
const FILES: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../web/static/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../web/static/app.js")),
    ("inbox.css", "text/css; charset=utf-8", include_str!("../../web/static/inbox.css")),
    ("inbox.js", "text/javascript; charset=utf-8", include_str!("../../web/static/inbox.js")),
    ("admin.css", "text/css; charset=utf-8", include_str!("../../web/static/admin.css")),
    ("admin.js", "text/javascript; charset=utf-8", include_str!("../../web/static/admin.js")),
];

/// A short hash of the assets, appended to their URLs (`?v=…`) so browsers never run stale code.
pub fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let all: String = FILES.iter().map(|(_, _, body)| *body).collect();
        switchboard_crypto::token::sha256_hex(all.as_bytes())[..12].to_string()
    })
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, kind, body)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return crate::error::AppError::not_found("asset").into_response();
    };
    let (kind, body) = (*kind, *body);
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // URLs carry the content hash, so a year is safe.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    res
}
