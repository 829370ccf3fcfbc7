//! AES-256-GCM keyring for encrypting secrets at rest.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::{Zeroize, Zeroizing};

/// Version prefix of the ciphertext text format.
const VERSION: &str = "v1";
/// Nonce length (96 bits).
const NONCE_LEN: usize = 12;
/// GCM tag length.
const TAG_LEN: usize = 16;
/// Maximum key id length.
pub const MAX_KID_LEN: usize = 32;

const PAD_INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_ANY_PAD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PAD_INDIFFERENT);
const URL_SAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, PAD_INDIFFERENT);

/// Errors from keyring configuration and decryption. Never contains key material.
///
/// Configuration errors name the 1-based position of the offending entry in the
/// spec rather than echoing it, since an entry may be a (misplaced) key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AeadError {
    /// The spec or key list has no keys.
    #[error("no encryption keys configured")]
    Empty,
    /// An entry is not of the form `kid:base64key`.
    #[error("encryption key entry #{position} is not of the form kid:base64key")]
    MissingColon {
        /// 1-based position of the entry.
        position: usize,
    },
    /// A key id is not `[A-Za-z0-9_-]{1,32}`.
    #[error("encryption key entry #{position}: key id must match [A-Za-z0-9_-]{{1,32}}")]
    InvalidKid {
        /// 1-based position of the entry.
        position: usize,
    },
    /// A key is not valid base64 (standard or url-safe).
    #[error("encryption key entry #{position}: key is not valid base64")]
    BadBase64 {
        /// 1-based position of the entry.
        position: usize,
    },
    /// A key does not decode to 32 bytes.
    #[error("encryption key entry #{position}: key must be 32 bytes, got {len}")]
    WrongKeyLength {
        /// 1-based position of the entry.
        position: usize,
        /// Decoded length in bytes.
        len: usize,
    },
    /// The same key id appears twice.
    #[error("duplicate encryption key id {0:?}")]
    DuplicateKid(String),
    /// The ciphertext names a key id that is not in the keyring.
    #[error("ciphertext was encrypted with an unknown key id")]
    UnknownKey,
    /// The ciphertext is not `v1.<kid>.<base64url>` or is too short.
    #[error("malformed ciphertext")]
    Malformed,
    /// Authentication failed: wrong key, wrong associated data, or tampering.
    #[error("decryption failed")]
    Decrypt,
}

/// AES-256-GCM with random 96-bit nonce. A keyring of (key id, 32-byte key); the newest (last configured) encrypts; any decrypts by the key id in the ciphertext.
///
/// Ciphertext text format: "v1.<kid>.<base64url-nopad(nonce||ciphertext||tag)>". kid: [A-Za-z0-9_-]{1,32}.
/// AAD is supplied by the caller (Switchboard binds tenant id + purpose); a ciphertext
/// moved to another row/tenant/purpose fails to decrypt.
#[derive(Clone)]
pub struct Keyring {
    /// Oldest first; the last one is current. Never empty.
    keys: Vec<(String, Aes256Gcm)>,
}

impl fmt::Debug for Keyring {
    /// Prints only the key ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kids", &self.key_ids().collect::<Vec<_>>())
            .field("current", &self.current_kid())
            .finish()
    }
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    /// Parses SWITCHBOARD_ENCRYPTION_KEYS format: comma-separated "kid:base64key" (standard or url-safe base64, 32 bytes after decoding), oldest first, newest last. Errors name what is wrong (never print key material). Duplicate kids are an error.
    ///
    /// Whitespace around entries is ignored, as are empty entries (e.g. a trailing comma).
    pub fn parse(spec: &str) -> Result<Self, AeadError> {
        let mut keys = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let position = i + 1;
            let (kid, b64) = entry.split_once(':').ok_or(AeadError::MissingColon { position })?;
            let (kid, b64) = (kid.trim(), b64.trim());
            if !valid_kid(kid) {
                return Err(AeadError::InvalidKid { position });
            }
            let bytes = Zeroizing::new(
                STANDARD_ANY_PAD
                    .decode(b64)
                    .or_else(|_| URL_SAFE_ANY_PAD.decode(b64))
                    .map_err(|_| AeadError::BadBase64 { position })?,
            );
            let key: [u8; 32] =
                bytes.as_slice().try_into().map_err(|_| AeadError::WrongKeyLength { position, len: bytes.len() })?;
            keys.push((kid.to_owned(), key));
        }
        Self::from_keys(keys)
    }

    /// Builds a keyring from (key id, key) pairs, oldest first, newest (current) last.
    pub fn from_keys(keys: Vec<(String, [u8; 32])>) -> Result<Self, AeadError> {
        let mut out: Vec<(String, Aes256Gcm)> = Vec::with_capacity(keys.len());
        let mut result = Ok(());
        for (position, (kid, mut key)) in keys.into_iter().enumerate() {
            if result.is_ok() {
                if !valid_kid(&kid) {
                    result = Err(AeadError::InvalidKid { position: position + 1 });
                } else if out.iter().any(|(k, _)| *k == kid) {
                    result = Err(AeadError::DuplicateKid(kid.clone()));
                } else {
                    out.push((kid, Aes256Gcm::new(&key.into())));
                }
            }
            key.zeroize();
        }
        result?;
        if out.is_empty() {
            return Err(AeadError::Empty);
        }
        Ok(Self { keys: out })
    }

    /// A new random key as a spec entry "kid:base64" (kid e.g. "k" + unix-time or random), for first-run generation.
    ///
    /// The kid is `k<unix seconds>_<8 random hex digits>`; the key is standard base64.
    pub fn generate_spec_entry() -> String {
        let mut key = Zeroizing::new(crate::token::random_array::<32>());
        let suffix: [u8; 4] = crate::token::random_array();
        let secs = crate::jwt::now_unix().max(0);
        let mut out = format!("k{secs}_{}:", crate::token::hex_lower(&suffix));
        base64::engine::general_purpose::STANDARD.encode_string(key.as_slice(), &mut out);
        key.zeroize();
        out
    }

    /// The key id that [`Keyring::encrypt`] uses (the last configured key).
    pub fn current_kid(&self) -> &str {
        &self.current().0
    }

    /// All key ids, oldest first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(k, _)| k.as_str())
    }

    fn current(&self) -> &(String, Aes256Gcm) {
        self.keys.last().expect("keyring is never empty")
    }

    /// Encrypts `plaintext` bound to `aad` with the current key and a random nonce.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let (kid, cipher) = self.current();
        let nonce: [u8; NONCE_LEN] = crate::token::random_array();
        let ct = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption only fails for plaintexts over 64 GiB");
        let mut body = Vec::with_capacity(NONCE_LEN + ct.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ct);
        let mut out = String::with_capacity(VERSION.len() + kid.len() + 2 + body.len() * 4 / 3 + 4);
        out.push_str(VERSION);
        out.push('.');
        out.push_str(kid);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&body, &mut out);
        out
    }

    /// Decrypts a ciphertext from [`Keyring::encrypt`] with the key its key id names.
    ///
    /// Errors: `UnknownKey`, `Malformed`, `Decrypt` (tag failure; same error for wrong AAD or tampering).
    pub fn decrypt(&self, ciphertext: &str, aad: &[u8]) -> Result<Vec<u8>, AeadError> {
        let (kid, body) = split_ciphertext(ciphertext).ok_or(AeadError::Malformed)?;
        let cipher = self.keys.iter().find(|(k, _)| k == kid).map(|(_, c)| c).ok_or(AeadError::UnknownKey)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| AeadError::Malformed)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(AeadError::Malformed);
        }
        let (nonce, ct) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| AeadError::Malformed)?;
        cipher.decrypt(&Nonce::from(nonce), Payload { msg: ct, aad }).map_err(|_| AeadError::Decrypt)
    }

    /// True when the ciphertext was written with a key other than the current one (for `admin rotate-keys`).
    ///
    /// Also true for a malformed ciphertext (it is not known to use the current key);
    /// decrypting it will then report what is wrong.
    pub fn needs_rotation(&self, ciphertext: &str) -> bool {
        split_ciphertext(ciphertext).is_none_or(|(kid, _)| kid != self.current_kid())
    }
}

/// Splits "v1.<kid>.<body>" into (kid, body), checking the version and kid syntax.
fn split_ciphertext(ciphertext: &str) -> Option<(&str, &str)> {
    let rest = ciphertext.strip_prefix(VERSION)?.strip_prefix('.')?;
    let (kid, body) = rest.split_once('.')?;
    (valid_kid(kid) && !body.is_empty()).then_some((kid, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    fn key(b: u8) -> [u8; 32] {
        [b; 32]
    }

    fn ring(entries: &[(&str, u8)]) -> Keyring {
        Keyring::from_keys(entries.iter().map(|(k, b)| ((*k).to_owned(), key(*b))).collect()).unwrap()
    }

    const AAD: &[u8] = b"tenant:7|purpose:wa_access_token|row:42";

    #[test]
    fn round_trip_and_format() {
        let r = ring(&[("k1", 1)]);
        let ct = r.encrypt(b"EAAG-secret-token", AAD);
        assert!(ct.starts_with("v1.k1."), "{ct}");
        let body = ct.strip_prefix("v1.k1.").unwrap();
        assert!(!body.contains('='));
        let raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        assert_eq!(raw.len(), NONCE_LEN + b"EAAG-secret-token".len() + TAG_LEN);
        assert!(!ct.contains("EAAG"));
        assert_eq!(r.decrypt(&ct, AAD).unwrap(), b"EAAG-secret-token");
        // Empty plaintext works too.
        let e = r.encrypt(b"", AAD);
        assert_eq!(r.decrypt(&e, AAD).unwrap(), b"");
    }

    #[test]
    fn nonces_are_random() {
        let r = ring(&[("k1", 1)]);
        assert_ne!(r.encrypt(b"same", AAD), r.encrypt(b"same", AAD));
    }

    #[test]
    fn wrong_aad_fails() {
        let r = ring(&[("k1", 1)]);
        let ct = r.encrypt(b"secret", AAD);
        assert_eq!(r.decrypt(&ct, b"tenant:8|purpose:wa_access_token|row:42"), Err(AeadError::Decrypt));
        assert_eq!(r.decrypt(&ct, b""), Err(AeadError::Decrypt));
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let r = ring(&[("k1", 1)]);
        let ct = r.encrypt(b"secret payload", AAD);
        let body = URL_SAFE_NO_PAD.decode(ct.strip_prefix("v1.k1.").unwrap()).unwrap();
        for i in 0..body.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = body.clone();
                b[i] ^= bit;
                let t = format!("v1.k1.{}", URL_SAFE_NO_PAD.encode(&b));
                assert_eq!(r.decrypt(&t, AAD), Err(AeadError::Decrypt), "byte {i}");
            }
        }
        // Truncated tag.
        let t = format!("v1.k1.{}", URL_SAFE_NO_PAD.encode(&body[..body.len() - 1]));
        assert_eq!(r.decrypt(&t, AAD), Err(AeadError::Decrypt));
    }

    #[test]
    fn same_kid_different_key_fails() {
        let a = ring(&[("k1", 1)]);
        let b = ring(&[("k1", 2)]);
        let ct = a.encrypt(b"x", AAD);
        assert_eq!(b.decrypt(&ct, AAD), Err(AeadError::Decrypt));
    }

    #[test]
    fn unknown_kid_fails() {
        let a = ring(&[("old", 1)]);
        let b = ring(&[("new", 2)]);
        let ct = a.encrypt(b"x", AAD);
        assert_eq!(b.decrypt(&ct, AAD), Err(AeadError::UnknownKey));
    }

    #[test]
    fn malformed_ciphertexts() {
        let r = ring(&[("k1", 1)]);
        let ct = r.encrypt(b"x", AAD);
        let body = ct.strip_prefix("v1.k1.").unwrap();
        for bad in [
            String::new(),
            "v1".into(),
            "v1.".into(),
            "v1.k1".into(),
            "v1.k1.".into(),
            format!("v2.k1.{body}"),
            format!("V1.k1.{body}"),
            format!("v1..{body}"),
            format!("v1.k 1.{body}"),
            format!("v1.{}.{body}", "a".repeat(33)),
            format!("v1.k1.{body}="),
            format!("v1.k1.{body}.x"),
            format!("v1.k1.{}", &body[..20]),
            "v1.k1.!!!!".into(),
            format!(" v1.k1.{body}"),
        ] {
            assert_eq!(r.decrypt(&bad, AAD), Err(AeadError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn rotation() {
        let old = ring(&[("k1", 1)]);
        let ct_old = old.encrypt(b"legacy", AAD);
        assert!(!old.needs_rotation(&ct_old));

        let rotated = ring(&[("k1", 1), ("k2", 2)]);
        assert_eq!(rotated.current_kid(), "k2");
        assert_eq!(rotated.key_ids().collect::<Vec<_>>(), ["k1", "k2"]);
        // Old key still decrypts.
        assert_eq!(rotated.decrypt(&ct_old, AAD).unwrap(), b"legacy");
        assert!(rotated.needs_rotation(&ct_old));
        // New key encrypts.
        let ct_new = rotated.encrypt(b"legacy", AAD);
        assert!(ct_new.starts_with("v1.k2."));
        assert!(!rotated.needs_rotation(&ct_new));
        assert_eq!(rotated.decrypt(&ct_new, AAD).unwrap(), b"legacy");
        // The old keyring cannot read the new ciphertext.
        assert_eq!(old.decrypt(&ct_new, AAD), Err(AeadError::UnknownKey));
        // Malformed input is reported as needing attention.
        assert!(rotated.needs_rotation("garbage"));
    }

    #[test]
    fn parse_valid_specs() {
        let k1 = STANDARD.encode(key(1));
        let k2 = URL_SAFE.encode([0xfb; 32]); // contains '-'/'_'
        assert!(k2.contains('-') || k2.contains('_'));
        let k3 = STANDARD.encode([0xfb; 32]);
        assert!(k3.contains('+') || k3.contains('/'));
        let k4 = URL_SAFE_NO_PAD.encode(key(4));
        let spec = format!(" k1:{k1} , k2:{k2},k3:{k3},\nk4:{k4},");
        let r = Keyring::parse(&spec).unwrap();
        assert_eq!(r.key_ids().collect::<Vec<_>>(), ["k1", "k2", "k3", "k4"]);
        assert_eq!(r.current_kid(), "k4");
        // Parsed keys are the same keys as from_keys.
        let direct = ring(&[("k1", 1)]);
        let ct = direct.encrypt(b"x", AAD);
        assert_eq!(r.decrypt(&ct, AAD).unwrap(), b"x");
        // k2 and k3 are the same bytes in different alphabets.
        let ct = Keyring::parse(&format!("k2:{k3}")).unwrap().encrypt(b"y", AAD);
        assert_eq!(r.decrypt(&ct, AAD).unwrap(), b"y");
    }

    #[test]
    fn parse_errors() {
        let good = STANDARD.encode(key(9));
        let short = STANDARD.encode([9u8; 31]);
        let long = STANDARD.encode([9u8; 33]);
        let cases: Vec<(String, AeadError)> = vec![
            (String::new(), AeadError::Empty),
            ("  ,  , ".into(), AeadError::Empty),
            (good.clone(), AeadError::MissingColon { position: 1 }),
            (format!("k1:{good},k2{good}"), AeadError::MissingColon { position: 2 }),
            (format!(":{good}"), AeadError::InvalidKid { position: 1 }),
            (format!("k 1:{good}"), AeadError::InvalidKid { position: 1 }),
            (format!("k.1:{good}"), AeadError::InvalidKid { position: 1 }),
            (format!("{}:{good}", "a".repeat(33)), AeadError::InvalidKid { position: 1 }),
            ("k1:not base64!".into(), AeadError::BadBase64 { position: 1 }),
            ("k1:".into(), AeadError::WrongKeyLength { position: 1, len: 0 }),
            (format!("k1:{short}"), AeadError::WrongKeyLength { position: 1, len: 31 }),
            (format!("k1:{good},k2:{long}"), AeadError::WrongKeyLength { position: 2, len: 33 }),
            (format!("k1:{good},k1:{good}"), AeadError::DuplicateKid("k1".into())),
        ];
        for (spec, want) in cases {
            let got = Keyring::parse(&spec).unwrap_err();
            assert_eq!(got, want, "{spec:?}");
            let msg = got.to_string();
            assert!(!msg.contains(&good) && !msg.contains(&short), "{msg}");
        }
        // The maximum kid length is fine.
        assert!(Keyring::parse(&format!("{}:{good}", "a".repeat(32))).is_ok());
    }

    #[test]
    fn from_keys_errors() {
        assert_eq!(Keyring::from_keys(vec![]).unwrap_err(), AeadError::Empty);
        assert_eq!(
            Keyring::from_keys(vec![("a".into(), key(1)), ("a".into(), key(2))]).unwrap_err(),
            AeadError::DuplicateKid("a".into())
        );
        assert_eq!(
            Keyring::from_keys(vec![("a/b".into(), key(1))]).unwrap_err(),
            AeadError::InvalidKid { position: 1 }
        );
    }

    #[test]
    fn generate_spec_entry_parses() {
        let a = Keyring::generate_spec_entry();
        let b = Keyring::generate_spec_entry();
        assert_ne!(a, b);
        let (kid, b64) = a.split_once(':').unwrap();
        assert!(kid.starts_with('k') && valid_kid(kid), "{kid}");
        assert_eq!(STANDARD.decode(b64).unwrap().len(), 32);
        let r = Keyring::parse(&format!("{a},{b}")).unwrap();
        assert_eq!(r.current_kid(), b.split_once(':').unwrap().0);
        let ct = r.encrypt(b"z", AAD);
        assert_eq!(r.decrypt(&ct, AAD).unwrap(), b"z");
    }

    #[test]
    fn debug_prints_only_kids() {
        let spec_key = STANDARD.encode([0xab; 32]);
        let r = Keyring::parse(&format!("old:{spec_key},new:{}", STANDARD.encode(key(3)))).unwrap();
        let dbg = format!("{r:?}");
        assert_eq!(dbg, r#"Keyring { kids: ["old", "new"], current: "new" }"#);
        let pretty = format!("{r:#?}");
        assert!(!pretty.contains(&spec_key) && !pretty.contains("171"), "{pretty}");
    }

    #[test]
    fn garbage_never_panics() {
        let r = ring(&[("k1", 1)]);
        let good = r.encrypt(b"payload", AAD);
        let mut state: u64 = 0xD1B5_4A32_D192_ED03;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"v1k.ABCxyz019-_=+/ :,\xff";
        for round in 0..3000 {
            let len = (next() % 80) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            if round % 2 == 0 {
                let mut g = good.clone().into_bytes();
                let at = (next() % g.len() as u64) as usize;
                g.splice(at..at, bytes.iter().copied().take(3));
                bytes = g;
            }
            let s = String::from_utf8_lossy(&bytes);
            let _ = r.decrypt(&s, AAD);
            let _ = r.needs_rotation(&s);
            let _ = Keyring::parse(&s);
        }
    }
}
