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
        Self { audience: audience.into(), typ: typ.into(), now: now_unix(), leeway_secs: 0 }
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
        let value = serde_json::to_value(claims).map_err(|e| JwtError::InvalidClaims(e.to_string()))?;
        if !value.is_object() {
            return Err(JwtError::InvalidClaims("claims must serialize to a JSON object".into()));
        }
        let payload = serde_json::to_vec(&value).map_err(|e| JwtError::InvalidClaims(e.to_string()))?;
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
    pub fn decode<C: serde::de::DeserializeOwned>(&self, token: &str, v: &Validation) -> Result<C, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed);
        };
        if h64.is_empty() || p64.is_empty() || s64.is_empty() {
            return Err(JwtError::Malformed);
        }
        let header_bytes = URL_SAFE_NO_PAD.decode(h64).map_err(|_| JwtError::Malformed)?;
        let payload_bytes = URL_SAFE_NO_PAD.decode(p64).map_err(|_| JwtError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(s64).map_err(|_| JwtError::Malformed)?;

        let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| JwtError::BadHeader)?;
        if header.alg != "HS256" || header.typ.as_deref() != Some("JWT") || header.crit.is_some() {
            return Err(JwtError::BadHeader);
        }

        let signing_input_len = h64.len() + 1 + p64.len();
        let mut mac = self.mac.clone();
        mac.update(&token.as_bytes()[..signing_input_len]);
        // `verify_slice` is constant-time and rejects any length other than 32.
        mac.verify_slice(&sig).map_err(|_| JwtError::BadSignature)?;

        let payload: Value = serde_json::from_slice(&payload_bytes).map_err(|_| JwtError::Malformed)?;
        let Value::Object(claims) = &payload else {
            return Err(JwtError::InvalidClaims("claims are not a JSON object".into()));
        };
        let leeway = v.leeway_secs.max(0);

        let exp = claims.get("exp").ok_or_else(|| JwtError::InvalidClaims("missing exp".into()))?;
        let exp = numeric_date(exp).ok_or_else(|| JwtError::InvalidClaims("exp is not a number".into()))?;
        if !exp.is_after(v.now.saturating_sub(leeway)) {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf).ok_or_else(|| JwtError::InvalidClaims("nbf is not a number".into()))?;
            if nbf.is_after(v.now.saturating_add(leeway)) {
                return Err(JwtError::NotYetValid);
            }
        }

        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == v.audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(v.audience.as_str())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_700_000_000;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        sub: String,
        aud: String,
        typ: String,
        exp: i64,
    }

    fn keys() -> JwtKeys {
        JwtKeys::new(SECRET).unwrap()
    }

    fn validation() -> Validation {
        Validation { audience: "switchboard".into(), typ: "access".into(), now: NOW, leeway_secs: 0 }
    }

    fn claims() -> Claims {
        Claims { sub: "user-1".into(), aud: "switchboard".into(), typ: "access".into(), exp: NOW + 60 }
    }

    fn b64(data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(data)
    }

    /// Builds a token by hand with an arbitrary header and payload, signed with SECRET.
    fn craft(header: &str, payload: &Value) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.to_string().as_bytes()));
        let sig = crate::token::hmac_sha256(SECRET, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    fn payload() -> Value {
        json!({"sub":"user-1","aud":"switchboard","typ":"access","exp":NOW + 60})
    }

    fn decode(token: &str) -> Result<Value, JwtError> {
        keys().decode::<Value>(token, &validation())
    }

    #[test]
    fn header_constant_is_exact() {
        assert_eq!(URL_SAFE_NO_PAD.decode(HEADER_B64).unwrap(), br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let t = k.encode(&claims()).unwrap();
        assert_eq!(t.split('.').count(), 3);
        assert!(!t.contains('='));
        assert_eq!(k.decode::<Claims>(&t, &validation()).unwrap(), claims());
    }

    #[test]
    fn hand_crafted_hs256_token_verifies() {
        let t = craft(r#"{"alg":"HS256","typ":"JWT"}"#, &payload());
        assert_eq!(decode(&t).unwrap(), payload());
        // Extra header fields like kid are ignored.
        let t = craft(r#"{"typ":"JWT","kid":"k1","alg":"HS256"}"#, &payload());
        assert_eq!(decode(&t).unwrap(), payload());
    }

    #[test]
    fn tampered_payload_rejected() {
        let t = keys().encode(&claims()).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let mut evil = payload();
        evil["sub"] = json!("admin");
        let forged = format!("{}.{}.{}", parts[0], b64(evil.to_string().as_bytes()), parts[2]);
        assert_eq!(decode(&forged), Err(JwtError::BadSignature));
    }

    #[test]
    fn tampered_signature_rejected() {
        let t = keys().encode(&claims()).unwrap();
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[0] ^= 1;
        assert_eq!(decode(&format!("{input}.{}", b64(&sig))), Err(JwtError::BadSignature));
        // Truncated signature.
        assert_eq!(decode(&format!("{input}.{}", b64(&sig[..31]))), Err(JwtError::BadSignature));
        // Signed with another key.
        let other = JwtKeys::new(b"another-secret-another-secret-xx").unwrap();
        let t2 = other.encode(&claims()).unwrap();
        assert_eq!(decode(&t2), Err(JwtError::BadSignature));
    }

    #[test]
    fn alg_none_rejected() {
        let p = b64(payload().to_string().as_bytes());
        let h = b64(br#"{"alg":"none","typ":"JWT"}"#);
        // Unsigned, as a real "none" token would be (empty signature part).
        assert!(decode(&format!("{h}.{p}.")).is_err());
        // With an otherwise valid signature.
        assert_eq!(decode(&craft(r#"{"alg":"none","typ":"JWT"}"#, &payload())), Err(JwtError::BadHeader));
        assert_eq!(decode(&craft(r#"{"alg":"None","typ":"JWT"}"#, &payload())), Err(JwtError::BadHeader));
    }

    #[test]
    fn other_algs_rejected() {
        for header in [
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"alg":"hs256","typ":"JWT"}"#,
            r#"{"alg":"HS256 ","typ":"JWT"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":null,"typ":"JWT"}"#,
            r#"{"alg":["HS256"],"typ":"JWT"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":"JWE"}"#,
            r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#,
            r#"{"alg":"none","alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256","alg":"none","typ":"JWT"}"#,
            r#"["HS256"]"#,
            "not json",
        ] {
            assert_eq!(decode(&craft(header, &payload())), Err(JwtError::BadHeader), "{header}");
        }
    }

    #[test]
    fn expired_rejected_with_leeway_respected() {
        let k = keys();
        let mut c = claims();
        c.exp = NOW;
        let t = k.encode(&c).unwrap();
        assert_eq!(k.decode::<Claims>(&t, &validation()), Err(JwtError::Expired));
        c.exp = NOW - 100;
        let t = k.encode(&c).unwrap();
        assert_eq!(k.decode::<Claims>(&t, &validation()), Err(JwtError::Expired));
        let mut v = validation();
        v.leeway_secs = 100;
        assert_eq!(k.decode::<Claims>(&t, &v), Err(JwtError::Expired));
        v.leeway_secs = 101;
        assert_eq!(k.decode::<Claims>(&t, &v).unwrap(), c);
        c.exp = NOW + 1;
        let t = k.encode(&c).unwrap();
        assert_eq!(k.decode::<Claims>(&t, &validation()).unwrap(), c);
    }

    #[test]
    fn exp_must_be_present_and_numeric() {
        for p in [
            json!({"aud":"switchboard","typ":"access"}),
            json!({"aud":"switchboard","typ":"access","exp":"9999999999"}),
            json!({"aud":"switchboard","typ":"access","exp":null}),
        ] {
            assert!(
                matches!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)), Err(JwtError::InvalidClaims(_))),
                "{p}"
            );
        }
        // Fractional NumericDate is accepted.
        let p = json!({"aud":"switchboard","typ":"access","exp": (NOW as f64) + 0.5});
        assert!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)).is_ok());
        let p = json!({"aud":"switchboard","typ":"access","exp": (NOW as f64) - 0.5});
        assert_eq!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)), Err(JwtError::Expired));
    }

    #[test]
    fn nbf_in_future_rejected() {
        let mut p = payload();
        p["nbf"] = json!(NOW + 10);
        assert_eq!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)), Err(JwtError::NotYetValid));
        p["nbf"] = json!(NOW);
        assert!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)).is_ok());
    }

    #[test]
    fn wrong_audience_rejected() {
        let k = keys();
        let mut c = claims();
        c.aud = "someone-else".into();
        let t = k.encode(&c).unwrap();
        assert_eq!(k.decode::<Claims>(&t, &validation()), Err(JwtError::WrongAudience));
        let mut p = payload();
        p.as_object_mut().unwrap().remove("aud");
        assert_eq!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)), Err(JwtError::WrongAudience));
        p["aud"] = json!(["other", 5, null]);
        assert_eq!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)), Err(JwtError::WrongAudience));
        p["aud"] = json!({"switchboard": true});
        assert_eq!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)), Err(JwtError::WrongAudience));
    }

    #[test]
    fn audience_array_accepted() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Multi {
            aud: Vec<String>,
            typ: String,
            exp: i64,
        }
        let k = keys();
        let c = Multi { aud: vec!["billing".into(), "switchboard".into()], typ: "access".into(), exp: NOW + 5 };
        let t = k.encode(&c).unwrap();
        assert_eq!(k.decode::<Multi>(&t, &validation()).unwrap(), c);
    }

    #[test]
    fn wrong_typ_rejected() {
        let k = keys();
        let mut c = claims();
        c.typ = "refresh".into();
        let t = k.encode(&c).unwrap();
        assert_eq!(k.decode::<Claims>(&t, &validation()), Err(JwtError::WrongType));
        let mut p = payload();
        p.as_object_mut().unwrap().remove("typ");
        assert_eq!(decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &p)), Err(JwtError::WrongType));
    }

    #[test]
    fn claims_type_mismatch_is_invalid_claims() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Needs {
            tenant_id: u64,
        }
        let t = keys().encode(&claims()).unwrap();
        assert!(matches!(keys().decode::<Needs>(&t, &validation()), Err(JwtError::InvalidClaims(_))));
        // Non-object payloads.
        assert!(matches!(
            decode(&craft(r#"{"alg":"HS256","typ":"JWT"}"#, &json!([1, 2]))),
            Err(JwtError::InvalidClaims(_))
        ));
        assert!(matches!(keys().encode(&5), Err(JwtError::InvalidClaims(_))));
    }

    #[test]
    fn weak_secret_rejected() {
        assert_eq!(JwtKeys::new(b"").unwrap_err(), JwtError::WeakSecret);
        assert_eq!(JwtKeys::new(&[7u8; 31]).unwrap_err(), JwtError::WeakSecret);
        assert!(JwtKeys::new(&[7u8; 32]).is_ok());
    }

    #[test]
    fn debug_hides_secret() {
        let s = format!("{:?}", keys());
        assert!(!s.contains("0123456789"), "{s}");
    }

    #[test]
    fn malformed_structure_rejected() {
        let t = keys().encode(&claims()).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        for bad in [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{t}."),
            format!("{t}.{}", parts[2]),
            format!(".{}.{}", parts[1], parts[2]),
            format!("{}..{}", parts[0], parts[2]),
            format!("{}={}", t, ""),
            format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
            format!("{}.{}+.{}", parts[0], parts[1], parts[2]),
            format!(" {t}"),
            "a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(decode(&bad), Err(JwtError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn every_single_character_mutation_is_rejected() {
        let t = keys().encode(&claims()).unwrap();
        let bytes = t.as_bytes();
        for i in 0..bytes.len() {
            for repl in [b'A', b'z', b'0', b'-', b'_', b'.', b'='] {
                if bytes[i] == repl {
                    continue;
                }
                let mut m = bytes.to_vec();
                m[i] = repl;
                let m = String::from_utf8(m).unwrap();
                assert!(decode(&m).is_err(), "mutation at {i} accepted: {m}");
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic xorshift so failures reproduce.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}\"\\:\x00\xff";
        let k = keys();
        let v = validation();
        let good = k.encode(&claims()).unwrap();
        for round in 0..3000 {
            let len = (next() % 200) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            if round % 3 == 0 {
                // Splice random bytes into a valid token.
                let mut g = good.clone().into_bytes();
                let at = (next() % g.len() as u64) as usize;
                g.splice(at..at, bytes.iter().copied().take(4));
                bytes = g;
            }
            let s = String::from_utf8_lossy(&bytes);
            let _ = k.decode::<Value>(&s, &v);
            let _ = k.decode::<Claims>(&s, &v);
        }
        // Crafted edge cases: valid base64 of odd JSON in each slot.
        for header in ["{}", "null", "1e999", "\"\"", "{\"alg\":{}}", "[[[[[[[[[[]]]]]]]]]]"] {
            for p in [json!(null), json!({}), json!({"exp": 1e300, "aud": "switchboard", "typ": "access"})] {
                let t = craft(header, &p);
                let _ = k.decode::<Value>(&t, &v);
            }
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let t = format!("{}.{}.{}", HEADER_B64, b64(deep.as_bytes()), b64(&[0; 32]));
        assert!(k.decode::<Value>(&t, &v).is_err());
    }
}
