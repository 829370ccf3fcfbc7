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
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    /// Parses SWITCHBOARD_ENCRYPTION_KEYS format: comma-separated "kid:base64key" (standard or url-safe base64, 32 bytes after decoding), oldest first, newest last. Errors name what is wrong (never print key material). Duplicate kids are an error.
    ///
    /// Whitespace around entries is ignored, as are empty entries (e.g. a trailing comma).
    pub fn parse(spec: &str) -> Result<Self, AeadError> {
        let mut keys = Vec::new();
        for (i, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let position = i + 1;
            let (kid, b64) = entry
                .split_once(':')
                .ok_or(AeadError::MissingColon { position })?;
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
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| AeadError::WrongKeyLength {
                        position,
                        len: bytes.len(),
                    })?;
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
                    result = Err(AeadError::InvalidKid {
                        position: position + 1,
                    });
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
        base64::engine::general_purpose::STANDARD.encode_string(&*key, &mut out);
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
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
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
        let cipher = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, c)| c)
            .ok_or(AeadError::UnknownKey)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| AeadError::Malformed)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(AeadError::Malformed);
        }
        let (nonce, ct) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| AeadError::Malformed)?;
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
            .map_err(|_| AeadError::Decrypt)
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
