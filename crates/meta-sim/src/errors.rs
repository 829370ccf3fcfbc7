//! Graph API error bodies, shaped like Meta's:
//! `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
//!   "error_data":{"messaging_product":"whatsapp","details":"…"},"fbtrace_id":"…"}}`

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ids;

/// Title, default details and HTTP status of the error codes the simulator produces.
pub fn catalog(code: i64) -> (&'static str, &'static str, StatusCode) {
    match code {
        0 => ("AuthException", "We were unable to authenticate the app user.", StatusCode::UNAUTHORIZED),
        1 => ("API Unknown", "Invalid request or possible server error.", StatusCode::BAD_REQUEST),
        2 => ("API Service", "Temporary due to downtime or due to being overloaded.", StatusCode::SERVICE_UNAVAILABLE),
        4 => ("API Too Many Calls", "The app has reached its API call rate limit.", StatusCode::BAD_REQUEST),
        10 => ("Permission Denied", "Permission is either not granted or has been removed.", StatusCode::FORBIDDEN),
        100 => ("Invalid parameter", "Invalid parameter", StatusCode::BAD_REQUEST),
        190 => (
            "Invalid OAuth access token - Cannot parse access token",
            "Invalid OAuth access token.",
            StatusCode::UNAUTHORIZED,
        ),
        368 => (
            "Temporarily blocked for policies violations",
            "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.",
            StatusCode::BAD_REQUEST,
        ),
        80007 => {
            ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit.", StatusCode::BAD_REQUEST)
        }
        130429 => (
            "Rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number in a short period of time",
            StatusCode::BAD_REQUEST,
        ),
        130472 => (
            "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment",
            StatusCode::BAD_REQUEST,
        ),
        131000 => (
            "Something went wrong",
            "Message failed to send due to an unknown error.",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        131005 => ("Access denied", "Permission is either not granted or has been removed.", StatusCode::FORBIDDEN),
        131008 => {
            ("Required parameter is missing", "The request is missing a required parameter.", StatusCode::BAD_REQUEST)
        }
        131009 => {
            ("Parameter value is not valid", "One or more parameter values are invalid.", StatusCode::BAD_REQUEST)
        }
        131016 => ("Service unavailable", "A service is temporarily unavailable.", StatusCode::SERVICE_UNAVAILABLE),
        131021 => {
            ("Recipient cannot be sender", "Sender and recipient phone number is the same.", StatusCode::BAD_REQUEST)
        }
        131026 => (
            "Message undeliverable",
            "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number; the recipient has not accepted the new Terms of Service; the recipient is using an old WhatsApp version.",
            StatusCode::BAD_REQUEST,
        ),
        131031 => (
            "Account has been locked",
            "The WhatsApp Business Account is restricted or disabled for violating a platform policy.",
            StatusCode::BAD_REQUEST,
        ),
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            StatusCode::BAD_REQUEST,
        ),
        131048 => (
            "Spam rate limit hit",
            "Message failed to send because there are restrictions on how many messages can be sent from this phone number. This may be because too many previous messages were blocked or flagged as spam.",
            StatusCode::BAD_REQUEST,
        ),
        131049 => (
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
            StatusCode::BAD_REQUEST,
        ),
        131050 => (
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
            "The user has stopped marketing messages from this business.",
            StatusCode::BAD_REQUEST,
        ),
        131051 => ("Unsupported message type", "Message type is currently not supported.", StatusCode::BAD_REQUEST),
        131052 => ("Media download error", "Unable to download the media sent by the user.", StatusCode::BAD_REQUEST),
        131053 => ("Media upload error", "Unable to upload the media used in the message.", StatusCode::BAD_REQUEST),
        131056 => (
            "(Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
            StatusCode::BAD_REQUEST,
        ),
        131057 => ("Account in maintenance mode", "Business Account is in maintenance mode.", StatusCode::BAD_REQUEST),
        132000 => (
            "Number of parameters does not match the expected number of params",
            "The number of variable parameter values included in the request did not match the number of variable parameters defined in the template.",
            StatusCode::BAD_REQUEST,
        ),
        132001 => (
            "Template name does not exist in the translation",
            "The template does not exist in the specified language or the template has not been approved.",
            StatusCode::NOT_FOUND,
        ),
        132005 => ("Template hydrated text too long", "Translated text is too long.", StatusCode::BAD_REQUEST),
        132007 => (
            "Template format character policy violated",
            "Template content violates a WhatsApp policy.",
            StatusCode::BAD_REQUEST,
        ),
        132012 => (
            "Template parameter format mismatch",
            "Variable parameter values formatted incorrectly.",
            StatusCode::BAD_REQUEST,
        ),
        132015 => (
            "Template is paused",
            "Template is paused due to low quality so it cannot be sent in a template message.",
            StatusCode::BAD_REQUEST,
        ),
        132016 => (
            "Template is disabled",
            "Template has been paused too many times due to low quality and is now permanently disabled.",
            StatusCode::BAD_REQUEST,
        ),
        133010 => (
            "Phone number not registered",
            "The phone number is not registered on the WhatsApp Business Platform.",
            StatusCode::BAD_REQUEST,
        ),
        135000 => (
            "Generic user error",
            "Message failed to send because of an unknown error with your request parameters.",
            StatusCode::BAD_REQUEST,
        ),
        _ => {
            ("Simulated error", "Simulated failure injected through the meta-sim control API.", StatusCode::BAD_REQUEST)
        }
    }
}

/// A Graph API error response.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub http: StatusCode,
    pub code: i64,
    pub kind: &'static str,
    pub message: String,
    pub details: Option<String>,
    pub subcode: Option<i64>,
    /// Include `error_data.messaging_product` (WhatsApp endpoints do).
    pub whatsapp: bool,
}

impl GraphError {
    /// An error from the catalog: message `(#code) title`, default details.
    pub fn code(code: i64) -> Self {
        let (title, details, http) = catalog(code);
        Self {
            http,
            code,
            kind: "OAuthException",
            message: format!("(#{code}) {title}"),
            details: Some(details.to_string()),
            subcode: None,
            whatsapp: true,
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// `(#100) Invalid parameter` with the given details.
    pub fn invalid(details: impl Into<String>) -> Self {
        Self::code(100).with_details(details)
    }

    /// HTTP 401, code 190: missing, malformed or unknown access token.
    pub fn bad_token(missing: bool) -> Self {
        let message = if missing {
            "An active access token must be used to query information about the current user."
        } else {
            "Invalid OAuth access token - Cannot parse access token"
        };
        Self {
            http: StatusCode::UNAUTHORIZED,
            code: 190,
            kind: "OAuthException",
            message: message.into(),
            details: None,
            subcode: None,
            whatsapp: false,
        }
    }

    /// Graph's answer for an object that does not exist or that the token cannot see.
    pub fn unknown_object(method: &str, id: &str) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 100,
            kind: "GraphMethodException",
            message: format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
            details: None,
            subcode: Some(33),
            whatsapp: false,
        }
    }

    /// Unknown path / unsupported version.
    pub fn unknown_path(path: &str) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 2500,
            kind: "OAuthException",
            message: format!("Unknown path components: {path}"),
            details: None,
            subcode: None,
            whatsapp: false,
        }
    }

    pub fn body(&self) -> Value {
        let mut err = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            err["error_data"] = if self.whatsapp {
                json!({"messaging_product": "whatsapp", "details": details})
            } else {
                json!({"details": details})
            };
        }
        if let Some(sub) = self.subcode {
            err["error_subcode"] = json!(sub);
        }
        err["fbtrace_id"] = json!(ids::fbtrace_id());
        json!({ "error": err })
    }

    /// The `errors[]` element of a `failed` status webhook.
    pub fn webhook_error(code: i64, details: Option<&str>) -> Value {
        let (title, default_details, _) = catalog(code);
        json!({
            "code": code,
            "title": title,
            "message": title,
            "error_data": {"details": details.unwrap_or(default_details)},
            "href": "/documentation/business-messaging/whatsapp/support/error-codes",
        })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut resp = (self.http, axum::Json(self.body())).into_response();
        resp.headers_mut()
            .insert("www-authenticate", axum::http::HeaderValue::from_static("OAuth \"Facebook Platform\""));
        if self.http != StatusCode::UNAUTHORIZED {
            resp.headers_mut().remove("www-authenticate");
        }
        resp
    }
}
