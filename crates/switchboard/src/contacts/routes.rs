//! `/api/contacts`: the inbox roles read, edit and import contacts.

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::csv;
use super::service::{self, ContactChanges, ContactDto, Cursor, ImportReport, ListQuery};
use crate::access::extract::{Authed, InboxRole};
use crate::error::{AppError, AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_contacts)).routes(routes!(get_contact, update_contact)).merge(
        OpenApiRouter::new()
            .routes(routes!(import_contacts))
            // The handler reports an oversized file in the API's error format.
            .layer(DefaultBodyLimit::max(csv::MAX_BYTES)),
    )
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// Part of the name, profile name or phone number.
    pub search: Option<String>,
    /// Only contacts carrying this tag (exact).
    pub tag: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u64>)]
    pub limit: Option<String>,
}

/// A page of contacts, most recently updated first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactPage {
    pub data: Vec<ContactDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateContactRequest {
    /// A string sets it; `null` or `""` clears it; absent leaves it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// Replaces the tags: at most 50, each at most 50 characters (trimmed, deduplicated).
    pub tags: Option<Vec<String>>,
    /// Replaces the attributes: a JSON object of at most 16 KB.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    pub opted_out: Option<bool>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

/// The tenant's contacts: search, tag filter, keyset paging.
#[utoipa::path(get, path = "/api/contacts", tag = "contacts", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = ContactPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_contacts(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Query(p): Query<ListParams>,
) -> AppResult<axum::Json<ContactPage>> {
    let mut v = Validator::new();
    let limit = match p.limit.as_deref().map(|l| l.trim().parse::<u64>()) {
        None => 50,
        Some(Ok(l)) if (1..=200).contains(&l) => l,
        Some(_) => {
            v.push("limit", "must be between 1 and 200");
            0
        }
    };
    let cursor = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => v.check("cursor", Cursor::decode(c).ok_or_else(|| "is not a valid cursor".to_string())),
    };
    let search = p.search.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
        v.push("search", "must be at most 100 characters");
    }
    let tag = p.tag.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    v.finish()?;
    let q = ListQuery { search, tag, cursor, limit };
    let (rows, next) = service::list(&state.db, auth.tenant()?, &q).await?;
    Ok(axum::Json(ContactPage {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|c| c.encode()),
    }))
}

/// One contact.
#[utoipa::path(get, path = "/api/contacts/{id}", tag = "contacts", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ContactDto), (status = 404, body = ErrorBody)))]
async fn get_contact(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<ContactDto>> {
    let c = service::get(&state.db, auth.tenant()?, id).await?;
    Ok(axum::Json(c.into()))
}

/// Change a contact's name, tags, attributes or opt-out (publishes `contact.updated`).
#[utoipa::path(patch, path = "/api/contacts/{id}", tag = "contacts", params(("id" = Uuid, Path)),
    request_body = UpdateContactRequest, security(("bearer" = [])),
    responses((status = 200, body = ContactDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_contact(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<UpdateContactRequest>,
) -> AppResult<axum::Json<ContactDto>> {
    let mut v = Validator::new();
    let name = match req.name {
        None => None,
        Some(None) => Some(None),
        Some(Some(n)) if n.trim().is_empty() => Some(None),
        Some(Some(n)) => v.check("name", crate::domain::parse_name(&n, csv::MAX_NAME_CHARS)).map(Some),
    };
    let tags = req.tags.and_then(|t| v.check("tags", csv::clean_tags(t)));
    let attributes = req.attributes.and_then(|a| v.check("attributes", csv::check_attributes(&a).map(|_| a)));
    v.finish()?;
    let changes = ContactChanges { name, tags, attributes, opted_out: req.opted_out };
    let c = service::update(&state, auth.tenant()?, auth.user_id(), id, changes).await?;
    Ok(axum::Json(c.into()))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ImportParams {
    /// ISO 3166 country (`DE`) whose national format phones without `+` are written in. Without
    /// it every phone must start with its country code.
    pub default_country: Option<String>,
}

/// Import contacts from CSV (`Content-Type: text/csv`, at most 10,000 rows and 5 MB).
///
/// The header row names the columns: `phone` (required; international with `+`, or — with
/// `defaultCountry` — that country's national format; spaces, dashes, dots and parentheses allowed),
/// `name`, `tags` (separated by `;`); any other column becomes an attribute. Contacts are matched
/// by phone: new ones are created; existing ones get the row's name (when set), its tags added
/// and its attributes merged. Rows that break a rule are refused and reported with the reason;
/// the others are applied.
#[utoipa::path(post, path = "/api/contacts/import", tag = "contacts", params(ImportParams),
    request_body(content = String, content_type = "text/csv"), security(("bearer" = [])),
    responses((status = 200, body = ImportReport), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "more than 5 MB or 10,000 rows"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody, description = "no header row or no phone column")))]
async fn import_contacts(
    State(state): State<AppState>,
    auth: Authed<InboxRole>,
    headers: HeaderMap,
    Query(p): Query<ImportParams>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> AppResult<axum::Json<ImportReport>> {
    let country = match p.default_country.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Some(crate::domain::Country::parse(c).map_err(|m| AppError::field("defaultCountry", m))?),
        None => None,
    };
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(mime.as_str(), "text/csv" | "application/csv") {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: text/csv",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the file is larger than {} MB", csv::MAX_BYTES / (1024 * 1024)),
            )
        } else {
            AppError::new(e.status(), "invalid_body", e.body_text())
        }
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv", "the file is not UTF-8 text"))?;
    let (rows, refused) = service::parse_import(text, country)?;
    let report = service::import(&state, auth.tenant()?, auth.user_id(), rows, refused).await?;
    Ok(axum::Json(report))
}
