//! Random tokens, hashing and comparison helpers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// URL-safe random token with a prefix, e.g. random_token("rt_", 32) -> "rt_<43 chars>"; from OsRng.
///
/// The random part is `bytes` bytes from the operating system's CSPRNG, encoded
/// as unpadded base64url (`[A-Za-z0-9_-]`). Panics only if the OS RNG fails.
pub fn random_token(prefix: &str, bytes: usize) -> String {
    let mut buf = Zeroizing::new(vec![0u8; bytes]);
    OsRng.fill_bytes(&mut buf);
    let mut out = String::with_capacity(prefix.len() + bytes.div_ceil(3) * 4);
    out.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(buf.as_slice(), &mut out);
    out
}

/// Lowercase hex SHA-256, for storing refresh tokens/API keys hashed.
pub fn sha256_hex(data: &[u8]) -> String {
    hex_lower(&Sha256::digest(data))
}

/// Compares two byte strings in time independent of their contents (lengths may leak).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// HMAC-SHA-256 of `data` under `key` (any key length).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Fills a fixed-size array from the OS CSPRNG.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0x0f)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_token_format() {
        let t = random_token("rt_", 32);
        assert!(t.starts_with("rt_"));
        assert_eq!(t.len(), 3 + 43);
        assert!(t[3..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        let decoded = URL_SAFE_NO_PAD.decode(&t[3..]).unwrap();
        assert_eq!(decoded.len(), 32);
        assert_eq!(random_token("", 0), "");
        assert_eq!(random_token("sk_", 16).len(), 3 + 22);
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_token("x", 32);
        let b = random_token("x", 32);
        assert_ne!(a, b);
    }

    #[test]
    fn sha256_hex_known_vectors() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex_lower(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
