//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw POST body keyed with the **app** secret.
//!
//! Always verify over the raw bytes as received: re-serialised JSON differs in whitespace and
//! escaping and would never match.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header name Meta signs webhooks with.
pub const HEADER: &str = "X-Hub-Signature-256";

const PREFIX: &str = "sha256=";

/// Computes the header value for `body`: `sha256=<64 lowercase hex digits>`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(PREFIX.len() + 64);
    out.push_str(PREFIX);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Checks a `X-Hub-Signature-256` header value against `body`, in constant time.
///
/// Returns false for a missing `sha256=` prefix, malformed hex or a wrong length. Hex digits are
/// accepted in either case; surrounding whitespace is ignored.
pub fn verify(app_secret: &[u8], body: &[u8], header_value: &str) -> bool {
    let Some(hex) = header_value.trim().strip_prefix(PREFIX) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    // verify_slice compares in constant time (subtle) and rejects wrong lengths.
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    bytes.chunks_exact(2).map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?)).collect()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
