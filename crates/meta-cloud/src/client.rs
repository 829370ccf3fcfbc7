//! Graph API client (feature `client`).
//!
//! Multi-tenant by design: the client holds no credentials; every call takes the tenant's own
//! [`AccessToken`]. The token only ever travels in the `Authorization` header (marked sensitive),
//! never in a URL, and [`AccessToken`]'s `Debug` is redacted, so it cannot leak through logs of
//! requests, errors or configs. The bearer token is also only ever sent to the configured base
//! URL or to `https` media URLs Meta handed out: a `paging.next` link pointing elsewhere is not
//! followed (the `after` cursor is used against the configured base instead).

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorClass, GraphErrorBody, GraphErrorResponse, SendResponse, SuccessResponse, classify};
use crate::send::{MarkRead, SendRequest};

/// Default Graph API base URL.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// Default Graph API version.
pub const DEFAULT_API_VERSION: &str = "v23.0";
/// Stop following `paging.next` after this many pages (a broken cursor must not loop forever).
pub const MAX_PAGES: usize = 100;

/// A tenant's Graph API access token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        AccessToken(token.into())
    }
    /// The secret itself, for callers that must store it (encrypted).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

impl From<String> for AccessToken {
    fn from(s: String) -> Self {
        AccessToken(s)
    }
}

impl From<&str> for AccessToken {
    fn from(s: &str) -> Self {
        AccessToken(s.to_owned())
    }
}

/// Why a Graph call failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with a Graph error body.
    #[error("Graph API error (HTTP {status}): code {} {}", body.code, body.message)]
    Api {
        /// HTTP status.
        status: u16,
        /// The `error` object (boxed: keeps `Result<_, GraphError>` small on the happy path).
        body: Box<GraphErrorBody>,
        /// `classify(body.code)`.
        class: ErrorClass,
    },
    /// A non-success HTTP status without a Graph error body (e.g. an expired media URL's 404).
    #[error("unexpected HTTP {status}: {snippet}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of the body, for logs.
        snippet: String,
    },
    /// The request timed out.
    #[error("Graph API request timed out")]
    Timeout,
    /// The connection could not be made: the request was certainly not sent (safe to retry).
    #[error("Graph API connection failed: {0}")]
    Connect(String),
    /// Connection, TLS or protocol failure.
    #[error("Graph API transport error: {0}")]
    Transport(String),
    /// A success body that does not match the expected shape.
    #[error("could not decode Graph API response: {0}")]
    Decode(String),
    /// A caller argument that cannot be put in a Graph URL (e.g. an ID with `/`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl GraphError {
    /// The catalogue class, for API errors.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            GraphError::Api { class, .. } => Some(*class),
            _ => None,
        }
    }

    /// The Meta error code, for API errors.
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Api { body, .. } => Some(body.code),
            _ => None,
        }
    }

    /// Suggested wait before retry number `attempt`, or `None` if retrying cannot help.
    /// Timeouts, transport errors and 5xx/429 statuses back off exponentially (1 s … 64 s, 6 tries).
    pub fn retry_after(&self, attempt: u32) -> Option<Duration> {
        let backoff = || (attempt < 6).then(|| Duration::from_secs(1u64 << attempt.min(6)));
        match self {
            GraphError::Api { body, .. } => crate::error::retry_after(body.code, attempt),
            GraphError::Timeout | GraphError::Transport(_) | GraphError::Connect(_) => backoff(),
            GraphError::Status { status, .. } if *status == 429 || *status >= 500 => backoff(),
            _ => None,
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            GraphError::Timeout
        } else if e.is_connect() {
            GraphError::Connect(e.without_url().to_string())
        } else if e.is_decode() {
            GraphError::Decode(e.without_url().to_string())
        } else {
            // without_url: media URLs carry signed query strings; keep them out of logs.
            GraphError::Transport(e.without_url().to_string())
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Graph base URL without trailing slash (a fake server in tests).
    pub base_url: String,
    /// API version path segment, e.g. `v23.0`.
    pub api_version: String,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.into(),
            api_version: DEFAULT_API_VERSION.into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("switchboard-meta-cloud/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// `POST /{phone_number_id}/media` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedMedia {
    /// The new media ID (valid 30 days).
    pub id: String,
}

/// `GET /{media_id}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Download URL (expires after 5 minutes; needs the bearer token).
    pub url: String,
    /// MIME type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Base64 SHA-256.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Size in bytes.
    #[serde(default, deserialize_with = "de_opt_u64")]
    pub file_size: Option<u64>,
    /// Media ID.
    #[serde(default)]
    pub id: Option<String>,
    /// `whatsapp`.
    #[serde(default)]
    pub messaging_product: Option<String>,
}

/// Downloaded media bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDownload {
    /// The file.
    pub bytes: Vec<u8>,
    /// `Content-Type` as served.
    pub content_type: Option<String>,
}

/// Filters for listing templates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateQuery {
    /// `fields=` (e.g. `name,status,language,category,components`).
    pub fields: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// `status=` filter (e.g. `APPROVED`).
    pub status: Option<String>,
    /// `name=` filter.
    pub name: Option<String>,
}

/// A message template as listed by `GET /{waba_id}/message_templates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateInfo {
    /// Template ID.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Language code (`en_US`).
    #[serde(default)]
    pub language: Option<String>,
    /// `APPROVED`, `PENDING`, `REJECTED`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// `MARKETING`, `UTILITY`, `AUTHENTICATION`.
    #[serde(default)]
    pub category: Option<String>,
    /// `positional` or `named`.
    #[serde(default)]
    pub parameter_format: Option<String>,
    /// Components as Meta returns them.
    #[serde(default)]
    pub components: Option<Value>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /{waba_id}/message_templates` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateTemplate {
    /// `[a-z0-9_]`, ≤ 512.
    pub name: String,
    /// `marketing`, `utility` or `authentication`.
    pub category: String,
    /// `en_US`, ...
    pub language: String,
    /// `positional` or `named`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_format: Option<String>,
    /// Components, in Meta's template-definition shape.
    pub components: Value,
}

/// `POST /{waba_id}/message_templates` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedTemplate {
    /// Template ID.
    pub id: String,
    /// Usually `PENDING`.
    #[serde(default)]
    pub status: Option<String>,
    /// The category Meta assigned.
    #[serde(default)]
    pub category: Option<String>,
}

/// Fields read by [`GraphClient::phone_number`].
pub const PHONE_NUMBER_FIELDS: &str = "id,display_phone_number,verified_name,quality_rating,code_verification_status,name_status,platform_type,throughput";

/// `GET /{phone_number_id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumberInfo {
    /// Phone number ID.
    #[serde(default)]
    pub id: Option<String>,
    /// Display number.
    #[serde(default)]
    pub display_phone_number: Option<String>,
    /// Verified business name.
    #[serde(default)]
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    #[serde(default)]
    pub quality_rating: Option<String>,
    /// `VERIFIED`, `NOT_VERIFIED`, ...
    #[serde(default)]
    pub code_verification_status: Option<String>,
    /// Display-name review status.
    #[serde(default)]
    pub name_status: Option<String>,
    /// `CLOUD_API`, ...
    #[serde(default)]
    pub platform_type: Option<String>,
    /// `{"level": "STANDARD"}`.
    #[serde(default)]
    pub throughput: Option<Value>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

/// The Graph API client. Cheap to clone (shares one connection pool).
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    api_version: String,
}

impl GraphClient {
    /// Builds a client (rustls, no proxy magic beyond reqwest's defaults).
    pub fn new(config: ClientConfig) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent)
            .build()
            .map_err(GraphError::from_reqwest)?;
        Ok(Self::with_http(http, config.base_url, config.api_version))
    }

    /// Wraps an existing reqwest client (to share a pool with the rest of the app).
    pub fn with_http(http: reqwest::Client, base_url: impl Into<String>, api_version: impl Into<String>) -> Self {
        GraphClient {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_version: api_version.into().trim_matches('/').to_owned(),
        }
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The configured API version.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// `POST /{version}/{phone_number_id}/messages`.
    pub async fn send_message(
        &self,
        token: &AccessToken,
        phone_number_id: &str,
        request: &SendRequest,
    ) -> Result<SendResponse, GraphError> {
        let url = self.url(&[phone_number_id, "messages"])?;
        self.call(self.http.post(url).json(request), token).await
    }

    /// Marks `message_id` as read (same endpoint), optionally with a typing indicator.
    pub async fn mark_read(
        &self,
        token: &AccessToken,
        phone_number_id: &str,
        message_id: &str,
        typing_indicator: bool,
    ) -> Result<SuccessResponse, GraphError> {
        let mut body = MarkRead::new(message_id);
        if typing_indicator {
            body = body.with_typing_indicator();
        }
        let url = self.url(&[phone_number_id, "messages"])?;
        self.call(self.http.post(url).json(&body), token).await
    }

    /// `POST /{version}/{phone_number_id}/media` (multipart).
    pub async fn upload_media(
        &self,
        token: &AccessToken,
        phone_number_id: &str,
        bytes: Vec<u8>,
        mime_type: &str,
        filename: &str,
    ) -> Result<UploadedMedia, GraphError> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(mime_type)
            .map_err(|_| GraphError::InvalidArgument(format!("bad MIME type {mime_type:?}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_owned())
            .part("file", part);
        let url = self.url(&[phone_number_id, "media"])?;
        self.call(self.http.post(url).multipart(form), token).await
    }

    /// `GET /{version}/{media_id}`: a fresh download URL (valid 5 minutes) and metadata.
    pub async fn media_info(&self, token: &AccessToken, media_id: &str) -> Result<MediaInfo, GraphError> {
        let url = self.url(&[media_id])?;
        self.call(self.http.get(url), token).await
    }

    /// `DELETE /{version}/{media_id}`.
    pub async fn delete_media(&self, token: &AccessToken, media_id: &str) -> Result<SuccessResponse, GraphError> {
        let url = self.url(&[media_id])?;
        self.call(self.http.delete(url), token).await
    }

    /// Downloads from a media URL with the bearer token. The URL must be `https` or under the
    /// configured base URL, so the token is never sent to an arbitrary plain-http host.
    pub async fn download_media_url(&self, token: &AccessToken, url: &str) -> Result<MediaDownload, GraphError> {
        if !(url.starts_with("https://") || url.starts_with(&format!("{}/", self.base_url))) {
            return Err(GraphError::InvalidArgument("media URL must be https".into()));
        }
        let resp = self.send(self.http.get(url), token).await?;
        let resp = check_status(resp).await?;
        let content_type =
            resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = resp.bytes().await.map_err(GraphError::from_reqwest)?.to_vec();
        Ok(MediaDownload { bytes, content_type })
    }

    /// Downloads media by ID. Uses `known_url` (e.g. the webhook's `url`) when given, else fetches
    /// one; if the URL answers 404 (expired after 5 minutes), fetches a fresh URL once and retries.
    pub async fn download_media(
        &self,
        token: &AccessToken,
        media_id: &str,
        known_url: Option<&str>,
    ) -> Result<MediaDownload, GraphError> {
        let url = match known_url {
            Some(u) => u.to_owned(),
            None => self.media_info(token, media_id).await?.url,
        };
        match self.download_media_url(token, &url).await {
            Err(e) if is_not_found(&e) => {
                let refreshed = self.media_info(token, media_id).await?.url;
                self.download_media_url(token, &refreshed).await
            }
            other => other,
        }
    }

    /// `GET /{version}/{waba_id}/message_templates`, following pages (at most [`MAX_PAGES`]).
    pub async fn list_templates(
        &self,
        token: &AccessToken,
        waba_id: &str,
        query: &TemplateQuery,
    ) -> Result<Vec<TemplateInfo>, GraphError> {
        let base = self.url(&[waba_id, "message_templates"])?;
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(f) = &query.fields {
            params.push(("fields", f.clone()));
        }
        if let Some(l) = query.limit {
            params.push(("limit", l.to_string()));
        }
        if let Some(s) = &query.status {
            params.push(("status", s.clone()));
        }
        if let Some(n) = &query.name {
            params.push(("name", n.clone()));
        }
        let mut out = Vec::new();
        let mut request = self.http.get(&base).query(&params);
        for _ in 0..MAX_PAGES {
            let page: Page<TemplateInfo> = self.call(request, token).await?;
            out.extend(page.data);
            let Some(paging) = page.paging else { break };
            let after = paging.cursors.and_then(|c| c.after);
            request = match (paging.next, after) {
                // Only follow `next` to our own Graph host: it is sent with the bearer token.
                (Some(next), _) if next.starts_with(&format!("{}/", self.base_url)) => self.http.get(next),
                (Some(_), Some(after)) => {
                    let mut p = params.clone();
                    p.push(("after", after));
                    self.http.get(&base).query(&p)
                }
                _ => break,
            };
        }
        Ok(out)
    }

    /// `POST /{version}/{waba_id}/message_templates`.
    pub async fn create_template(
        &self,
        token: &AccessToken,
        waba_id: &str,
        template: &CreateTemplate,
    ) -> Result<CreatedTemplate, GraphError> {
        let url = self.url(&[waba_id, "message_templates"])?;
        self.call(self.http.post(url).json(template), token).await
    }

    /// `DELETE /{version}/{waba_id}/message_templates?name=..[&hsm_id=..]`: without `hsm_id`
    /// every language of the template is deleted.
    pub async fn delete_template(
        &self,
        token: &AccessToken,
        waba_id: &str,
        name: &str,
        hsm_id: Option<&str>,
    ) -> Result<SuccessResponse, GraphError> {
        let url = self.url(&[waba_id, "message_templates"])?;
        let mut params = vec![("name", name)];
        if let Some(id) = hsm_id {
            params.push(("hsm_id", id));
        }
        self.call(self.http.delete(url).query(&params), token).await
    }

    /// `GET /{version}/{phone_number_id}?fields=…`: also the cheapest way to check credentials.
    pub async fn phone_number(
        &self,
        token: &AccessToken,
        phone_number_id: &str,
    ) -> Result<PhoneNumberInfo, GraphError> {
        let url = self.url(&[phone_number_id])?;
        self.call(self.http.get(url).query(&[("fields", PHONE_NUMBER_FIELDS)]), token).await
    }

    /// Any other Graph call: `method /{version}/{path}` with an optional JSON body.
    pub async fn request_json(
        &self,
        token: &AccessToken,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, GraphError> {
        let url = self.url(path)?;
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.call(req, token).await
    }

    fn url(&self, segments: &[&str]) -> Result<String, GraphError> {
        let mut url = format!("{}/{}", self.base_url, self.api_version);
        for s in segments {
            // IDs come from tenant configuration; refuse anything that would change the path.
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
                return Err(GraphError::InvalidArgument(format!("not a valid Graph ID or path segment: {s:?}")));
            }
            url.push('/');
            url.push_str(s);
        }
        Ok(url)
    }

    async fn send(&self, req: RequestBuilder, token: &AccessToken) -> Result<Response, GraphError> {
        // bearer_auth marks the header sensitive, so it is hidden from reqwest's Debug output.
        req.bearer_auth(&token.0).send().await.map_err(GraphError::from_reqwest)
    }

    async fn call<T: DeserializeOwned>(&self, req: RequestBuilder, token: &AccessToken) -> Result<T, GraphError> {
        let resp = check_status(self.send(req, token).await?).await?;
        let bytes = resp.bytes().await.map_err(GraphError::from_reqwest)?;
        serde_json::from_slice(&bytes).map_err(|e| GraphError::Decode(e.to_string()))
    }
}

fn is_not_found(e: &GraphError) -> bool {
    match e {
        GraphError::Status { status, .. } | GraphError::Api { status, .. } => *status == 404,
        _ => false,
    }
}

async fn check_status(resp: Response) -> Result<Response, GraphError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let bytes = resp.bytes().await.map_err(GraphError::from_reqwest)?;
    Err(error_from_body(status, &bytes))
}

fn error_from_body(status: StatusCode, bytes: &[u8]) -> GraphError {
    match serde_json::from_slice::<GraphErrorResponse>(bytes) {
        Ok(r) => GraphError::Api { status: status.as_u16(), class: classify(r.error.code), body: Box::new(r.error) },
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let snippet: String = text.chars().take(200).collect();
            GraphError::Status { status: status.as_u16(), snippet }
        }
    }
}

fn de_opt_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}
