//! Identifier generation shaped like Meta's.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// splitmix64 finaliser: a bijection on u64, so distinct counters give distinct outputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unique_u64() -> u64 {
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let salt = *SALT.get_or_init(|| rand::rng().random());
    mix(COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_add(salt))
}

/// A wamid with Meta's protobuf-ish layout: `0x1c 0x18 <len> <wa_id> 0x15 0x02 0x00 <dir> 0x18
/// <len> <HEX ID> 0x00`, base64 encoded. Outbound (`dir` 0x11) ids carry 18 hex characters,
/// inbound ones (0x12) 20, like real wamids. Unique for the life of the process.
pub fn wamid(wa_id: &str, inbound: bool) -> String {
    let wa = &wa_id.as_bytes()[..wa_id.len().min(100)];
    let u = unique_u64();
    let tail = if inbound {
        format!("3A{:02X}{:016X}", rand::rng().random::<u8>(), u)
    } else {
        format!("{:02X}{:016X}", rand::rng().random::<u8>(), u)
    };
    let mut raw = Vec::with_capacity(wa.len() + tail.len() + 12);
    raw.extend_from_slice(&[0x1c, 0x18, wa.len() as u8]);
    raw.extend_from_slice(wa);
    raw.extend_from_slice(&[0x15, 0x02, 0x00, if inbound { 0x12 } else { 0x11 }, 0x18]);
    raw.push(tail.len() as u8);
    raw.extend_from_slice(tail.as_bytes());
    raw.push(0x00);
    format!("wamid.{}", STANDARD.encode(raw))
}

/// A 16-digit numeric Graph object id (media, templates).
pub fn numeric_id() -> String {
    let n = 1_000_000_000_000_000u64 + unique_u64() % 8_999_999_999_999_999;
    n.to_string()
}

/// An `fbtrace_id`-like token.
pub fn fbtrace_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// 32 lowercase hex characters (conversation ids).
pub fn hex32() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// An opaque Graph paging cursor for a position.
pub fn cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_cursor(c: &str) -> Option<String> {
    URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok().and_then(|b| String::from_utf8(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wamid_layout_matches_meta() {
        let w = wamid("16467043595", false);
        assert!(w.starts_with("wamid.HBgLMTY0NjcwNDM1OTUVAgARGB"), "{w}");
        let w = wamid("16505551234", true);
        assert!(w.starts_with("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQ"), "{w}");
        assert_ne!(wamid("1", false), wamid("1", false));
    }
}
