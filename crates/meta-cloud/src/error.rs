//! Graph API responses and errors: the send success body, the Graph error body, and a catalogue
//! of Meta's documented error codes with a class and a retry hint for each.
//!
//! Meta advises branching on `code` (plus `error_data.details`), never on the HTTP status, the
//! title or the subcode; the same codes also arrive asynchronously in failed statuses and in
//! `value.errors[]`, so everything here is keyed on the code alone.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Success body of `POST /{phone_number_id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendResponse {
    /// Always `whatsapp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<String>,
    /// The recipient as given and as resolved.
    #[serde(default)]
    pub contacts: Vec<SendResponseContact>,
    /// The accepted message(s).
    #[serde(default)]
    pub messages: Vec<SendResponseMessage>,
}

impl SendResponse {
    /// The `wamid` of the (first) accepted message.
    pub fn message_id(&self) -> Option<&str> {
        self.messages.first().map(|m| m.id.as_str())
    }
}

/// `contacts[]` of a send response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendResponseContact {
    /// The `to` value you sent.
    #[serde(default)]
    pub input: String,
    /// The WhatsApp ID Meta resolved it to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// The BSUID, when sending by `recipient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `messages[]` of a send response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendResponseMessage {
    /// The message ID (`wamid.…`).
    pub id: String,
    /// `accepted`, `held_for_quality_assessment` or `paused` (paced templates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_status: Option<String>,
    /// Group ID, for group sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

/// `{"success": true}` as answered by mark-as-read, delete media and delete template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SuccessResponse {
    /// Whether Meta applied the change.
    #[serde(default)]
    pub success: bool,
}

/// The Graph error envelope: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphErrorResponse {
    /// The error.
    pub error: GraphErrorBody,
}

/// The `error` object of a Graph API error response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GraphErrorBody {
    /// `(#<code>) <title>`.
    #[serde(default)]
    pub message: String,
    /// `OAuthException`, `GraphMethodException`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// The code to branch on (see [`classify`]).
    #[serde(default)]
    pub code: i64,
    /// Deprecated by Meta, still seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_subcode: Option<i64>,
    /// `messaging_product` and `details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<GraphErrorData>,
    /// Trace ID to quote to Meta support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbtrace_id: Option<String>,
    /// Graph's own transient hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_transient: Option<bool>,
    /// A title meant for end users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_title: Option<String>,
    /// A message meant for end users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_msg: Option<String>,
}

impl GraphErrorBody {
    /// `error_data.details`, if any.
    pub fn details(&self) -> Option<&str> {
        self.error_data.as_ref()?.details.as_deref()
    }
    /// The catalogue class of `code`.
    pub fn class(&self) -> ErrorClass {
        classify(self.code)
    }
}

/// `error.error_data`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GraphErrorData {
    /// `whatsapp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<String>,
    /// What went wrong, in more detail than the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// What a caller should do about an error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Throttling or a transient server problem: retry later (see [`retry_after`]).
    RetryLater,
    /// 131047: more than 24 h since the user last wrote; only a template can be sent.
    WindowClosed,
    /// Token expired/invalid or missing permission: stop sending for this account and ask the
    /// tenant to fix its credentials. Retrying cannot help.
    Credentials,
    /// The template is missing, unapproved, paused, disabled or its parameters are wrong.
    Template,
    /// The request or the recipient cannot succeed as is: do not retry.
    Permanent,
    /// Held back for quality/ecosystem reasons (131048, 131049): do not retry before 24 h.
    QualityHold,
    /// A code absent from Meta's catalogue: treat as permanent, but log it.
    Unknown,
}

impl ErrorClass {
    /// True for classes where sending the same request again can succeed without changes.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::RetryLater | ErrorClass::QualityHold)
    }
}

/// Classifies a Meta error code (see the module docs for why only the code is used).
pub fn classify(code: i64) -> ErrorClass {
    use ErrorClass::*;
    match code {
        1 | 2 | 4 | 80007 | 130429 | 131000 | 131016 | 131056 | 131057 | 133004 | 133016 => RetryLater,
        131047 => WindowClosed,
        0 | 3 | 10 | 190 | 200..=299 | 131005 | 131031 => Credentials,
        132000..=132018 | 132068 | 132069 => Template,
        131048 | 131049 => QualityHold,
        33 | 100 | 368 | 130472 | 130497 | 131008 | 131009 | 131021 | 131026 | 131030 | 131037 | 131042 | 131045
        | 131050 | 131051 | 131052 | 131053 | 131062 | 131063 | 131064 | 133000 | 133005 | 133006 | 133008 | 133009
        | 133010 | 133015 | 135000 | 137000 => Permanent,
        _ => Unknown,
    }
}

/// Meta's title for a documented code.
pub fn title(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "AuthException: could not authenticate the app user",
        1 => "API Unknown",
        2 => "API Service: temporary downtime or overload",
        3 => "API Method: capability or permissions issue",
        4 => "API Too Many Calls",
        10 => "API Permission Denied",
        33 => "Parameter value is not valid",
        100 => "Invalid parameter",
        190 => "Access token has expired",
        200..=299 => "API Permission",
        368 => "Temporarily blocked for policies violations",
        80007 => "Rate limit issues",
        130429 => "Rate limit hit",
        130472 => "User's number is part of an experiment",
        130497 => "Business account is restricted from messaging users in this country",
        131000 => "Something went wrong",
        131005 => "Access denied",
        131008 => "Required parameter is missing",
        131009 => "Parameter value is not valid",
        131016 => "Service unavailable",
        131021 => "Recipient cannot be sender",
        131026 => "Message undeliverable",
        131030 => "Recipient phone number not in allowed list",
        131031 => "Account has been locked",
        131037 => "WhatsApp provided number needs display name approval before message can be sent",
        131042 => "Business eligibility payment issue",
        131045 => "Incorrect certificate",
        131047 => "Re-engagement message",
        131048 => "Spam rate limit hit",
        131049 => "This message was not delivered to maintain healthy ecosystem engagement",
        131050 => "User has stopped marketing messages from you",
        131051 => "Unsupported message type",
        131052 => "Media download error",
        131053 => "Media upload error",
        131056 => "(Business Account, Consumer Account) pair rate limit hit",
        131057 => "Account in maintenance mode",
        131062 => "Business-scoped user ID recipients not supported",
        131063 => "Marketing templates disabled for Cloud API",
        131064 => "Messaging limit reached due to template classification violations",
        132000 => "Template param count mismatch",
        132001 => "Template does not exist",
        132005 => "Template hydrated text too long",
        132007 => "Template format character policy violated",
        132008 => "Template parameter format mismatch",
        132012 => "Template parameter format mismatch",
        132015 => "Template is paused",
        132016 => "Template is disabled",
        132018 => "Invalid template parameters",
        132068 => "Flow is in blocked state",
        132069 => "Flow is in throttled state",
        133000 => "Incomplete deregistration",
        133004 => "Server temporarily unavailable",
        133005 => "Two step verification PIN mismatch",
        133006 => "Phone number re-verification needed",
        133008 => "Too many two step verification PIN guesses",
        133009 => "Two step verification PIN guessed too fast",
        133010 => "Phone number not registered",
        133015 => "Please wait a few minutes before attempting to register this phone number",
        133016 => "Account register/deregister rate limit exceeded",
        135000 => "Generic user error",
        137000 => "Recipient identity key mismatch",
        _ => return None,
    })
}

/// How long to wait before retry number `attempt` (0 = the first retry) of a request that failed
/// with `code`, or `None` when it should not be retried (any more).
///
/// - 131056 (pair rate limit): 4^attempt seconds, as Meta documents; up to 8 retries.
/// - 130429 (throughput): 2^attempt seconds, capped at 64 s; up to 10 retries.
/// - 131057 (maintenance, e.g. the ≤1 min throughput upgrade): 15 s per attempt; up to 6.
/// - 2, 131016, 133004 (service unavailable): 5·2^attempt s, capped at 5 min; up to 6.
/// - 131000 (unknown server error): 5·2^attempt s, 3 retries; 1 (API Unknown): once.
/// - 4, 80007 (management API hourly limits): 60·2^attempt s, capped at 1 h; up to 6.
/// - 133016 (register rate limit): 1 h, 3 retries.
/// - 131048, 131049 (quality hold): 24 h, once.
pub fn retry_after(code: i64, attempt: u32) -> Option<Duration> {
    let secs = |s: u64| Some(Duration::from_secs(s));
    let exp = |base: u64, cap: u64| secs(base.saturating_mul(1u64 << attempt.min(20)).min(cap));
    match code {
        131056 if attempt < 8 => secs(4u64.pow(attempt)),
        130429 if attempt < 10 => exp(1, 64),
        131057 if attempt < 6 => secs(15 * u64::from(attempt + 1)),
        2 | 131016 | 133004 if attempt < 6 => exp(5, 300),
        131000 if attempt < 3 => exp(5, 300),
        1 if attempt < 1 => secs(5),
        4 | 80007 if attempt < 6 => exp(60, 3600),
        133016 if attempt < 3 => secs(3600),
        131048 | 131049 if attempt < 1 => secs(24 * 3600),
        _ => None,
    }
}
