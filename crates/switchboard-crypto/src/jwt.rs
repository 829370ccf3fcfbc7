//! Strict HS256-only JSON Web Tokens.
//!
//! Only tokens whose header says `"alg":"HS256"` and `"typ":"JWT"` are accepted;
//! there is no algorithm negotiation, so `none`, `HS512`, `RS256` and key-confusion
//! tricks are rejected before any signature work.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Minimum HS256 secret length in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// Tokens longer than this are rejected as malformed without further parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// base64url of `{"alg":"HS256","typ":"JWT"}`.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Errors from JWT handling. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three unpadded base64url parts, or a part is not valid JSON.
    #[error("malformed token")]
    Malformed,
    /// The header is not `{"alg":"HS256","typ":"JWT"}` (extra fields aside).
    #[error("unsupported token header")]
    BadHeader,
    /// The HMAC does not match.
    #[error("bad token signature")]
    BadSignature,
    /// `exp` is in the past (beyond the allowed leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the allowed leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` is missing or does not contain the expected audience.
    #[error("wrong token audience")]
    WrongAudience,
    /// The `typ` claim is missing or not the expected one.
    #[error("wrong token type")]
    WrongType,
    /// The claims are not a JSON object, lack a numeric `exp`, or do not fit the claims type.
    #[error("invalid token claims: {0}")]
    InvalidClaims(String),
    /// The signing secret is shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("JWT secret must be at least 32 bytes")]
    WeakSecret,
}

/// What [`JwtKeys::decode`] checks besides the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Expected `aud` (the claim may be this string or an array containing it).
    pub audience: String,
    /// Expected `typ` claim (e.g. "access", "refresh").
    pub typ: String,
    /// Current time, unix seconds.
    pub now: i64,
    /// Clock-skew allowance in seconds for `exp`/`nbf` (negative values count as 0).
    pub leeway_secs: i64,
}

impl Validation {
    /// A validation for `audience` and `typ` at the current system time, with no leeway.
    pub fn new(audience: impl Into<String>, typ: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            typ: typ.into(),
            now: now_unix(),
            leeway_secs: 0,
        }
    }
}

/// The current system time as unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// HS256 signing/verification key. Debug does not print the secret.
#[derive(Clone)]
pub struct JwtKeys {
    mac: HmacSha256,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys { alg: HS256, secret: [redacted] }")
    }
}

/// The header fields we look at; unknown fields are ignored, duplicates are rejected.
#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    crit: Option<IgnoredAny>,
}

impl JwtKeys {
    /// Creates HS256 keys; the secret must be at least 32 bytes ([`JwtError::WeakSecret`]).
    pub fn new(secret: &[u8]) -> Result<Self, JwtError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(JwtError::WeakSecret);
        }
        let mac = <HmacSha256 as Mac>::new_from_slice(secret).map_err(|_| JwtError::WeakSecret)?;
        Ok(Self { mac })
    }

    fn sign(&self, signing_input: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(signing_input);
        mac.finalize().into_bytes().into()
    }

    /// Signs `claims` (which must serialize to a JSON object) as an HS256 JWT.
    pub fn encode<C: serde::Serialize>(&self, claims: &C) -> Result<String, JwtError> {
        let value =
            serde_json::to_value(claims).map_err(|e| JwtError::InvalidClaims(e.to_string()))?;
        if !value.is_object() {
            return Err(JwtError::InvalidClaims(
                "claims must serialize to a JSON object".into(),
            ));
        }
        let payload =
            serde_json::to_vec(&value).map_err(|e| JwtError::InvalidClaims(e.to_string()))?;
        let mut token = String::with_capacity(HEADER_B64.len() + payload.len() * 4 / 3 + 48);
        token.push_str(HEADER_B64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let sig = self.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut token);
        Ok(token)
    }

    /// Checks: three base64url (no padding) parts; header; HMAC constant-time; payload JSON object with numeric `exp` > now (no leeway beyond `leeway_secs`), `aud` equal to expected (string, or array containing it), `typ` claim equal to expected_typ; then deserializes into C.
    ///
    /// If an `nbf` claim is present it must be numeric and not in the future
    /// (beyond the leeway).
    pub fn decode<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        v: &Validation,
    ) -> Result<C, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        if h64.is_empty() || p64.is_empty() || s64.is_empty() {
            return Err(JwtError::Malformed);
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(h64)
            .map_err(|_| JwtError::Malformed)?;
        let payload_bytes = URL_SAFE_NO_PAD
            .decode(p64)
            .map_err(|_| JwtError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(s64)
            .map_err(|_| JwtError::Malformed)?;

        let header: Header =
            serde_json::from_slice(&header_bytes).map_err(|_| JwtError::BadHeader)?;
        if header.alg != "HS256" || header.typ.as_deref() != Some("JWT") || header.crit.is_some() {
            return Err(JwtError::BadHeader);
        }

        let signing_input_len = h64.len() + 1 + p64.len();
        let mut mac = self.mac.clone();
        mac.update(&token.as_bytes()[..signing_input_len]);
        // `verify_slice` is constant-time and rejects any length other than 32.
        mac.verify_slice(&sig).map_err(|_| JwtError::BadSignature)?;

        let payload: Value =
            serde_json::from_slice(&payload_bytes).map_err(|_| JwtError::Malformed)?;
        let Value::Object(claims) = &payload else {
            return Err(JwtError::InvalidClaims(
                "claims are not a JSON object".into(),
            ));
        };
        let leeway = v.leeway_secs.max(0);

        let exp = claims
            .get("exp")
            .ok_or_else(|| JwtError::InvalidClaims("missing exp".into()))?;
        let exp = numeric_date(exp)
            .ok_or_else(|| JwtError::InvalidClaims("exp is not a number".into()))?;
        if !exp.is_after(v.now.saturating_sub(leeway)) {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf)
                .ok_or_else(|| JwtError::InvalidClaims("nbf is not a number".into()))?;
            if nbf.is_after(v.now.saturating_add(leeway)) {
                return Err(JwtError::NotYetValid);
            }
        }

        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == v.audience,
            Some(Value::Array(list)) => {
                list.iter().any(|a| a.as_str() == Some(v.audience.as_str()))
            }
            _ => false,
        };
        if !aud_ok {
            return Err(JwtError::WrongAudience);
        }

        match claims.get("typ") {
            Some(Value::String(t)) if *t == v.typ => {}
            _ => return Err(JwtError::WrongType),
        }

        serde_json::from_value(payload).map_err(|e| JwtError::InvalidClaims(e.to_string()))
    }
}

/// A JSON NumericDate: integer seconds, or a (finite) fractional number.
#[derive(Clone, Copy, Debug)]
enum NumericDate {
    Int(i64),
    Float(f64),
}

impl NumericDate {
    /// Strictly later than `t`.
    fn is_after(self, t: i64) -> bool {
        match self {
            NumericDate::Int(i) => i > t,
            #[allow(clippy::cast_precision_loss)]
            NumericDate::Float(f) => f > t as f64,
        }
    }
}

fn numeric_date(v: &Value) -> Option<NumericDate> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(NumericDate::Int(i));
    }
    n.as_f64().filter(|f| f.is_finite()).map(NumericDate::Float)
}
