//! argon2id password hashing with PHC string output.

use std::sync::OnceLock;

use argon2::password_hash::{self, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::OsRng;

/// OWASP-recommended argon2id memory cost, in KiB.
pub const M_COST_KIB: u32 = 19_456;
/// OWASP-recommended argon2id number of passes.
pub const T_COST: u32 = 2;
/// OWASP-recommended argon2id parallelism.
pub const P_COST: u32 = 1;

/// Errors from password hashing and verification. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The stored hash is not a usable argon2 PHC string.
    #[error("malformed password hash: {0}")]
    MalformedHash(String),
    /// Hashing failed (e.g. the password is longer than argon2 allows).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// argon2id, OWASP parameters (m=19456 KiB, t=2, p=1), PHC string output, random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Verifies against a PHC string; Ok(false) for mismatch, Err only for a malformed hash.
///
/// The argon2 variant, version and cost parameters are taken from the PHC string,
/// so hashes made with older parameters keep verifying. The comparison of the
/// hash outputs is constant-time.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|e| PasswordError::MalformedHash(e.to_string()))?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(PasswordError::MalformedHash("missing salt or hash output".into()));
    }
    match hasher().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::Password) => Ok(false),
        Err(e) => Err(PasswordError::MalformedHash(e.to_string())),
    }
}

static DUMMY_HASH: OnceLock<String> = OnceLock::new();

fn dummy_hash() -> &'static str {
    DUMMY_HASH.get_or_init(|| {
        // A random password nobody knows, hashed with the current parameters.
        let pw = crate::token::random_token("dummy_", 24);
        hash_password(&pw).expect("hashing a short random password cannot fail")
    })
}

/// Computes the dummy hash used by [`verify_dummy`] now, so the first unknown-account
/// login is not slower than the others. Optional; call once at startup.
pub fn init_dummy_hash() {
    let _ = dummy_hash();
}

/// Burns the same time as a real verification, for unknown accounts (login timing must not reveal whether an email exists). Uses a lazily computed dummy hash.
pub fn verify_dummy(password: &str) {
    let result = verify_password(password, dummy_hash());
    std::hint::black_box(result.ok());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify_right_and_wrong() {
        let h = hash_password("correct horse battery staple").unwrap();
        assert_eq!(verify_password("correct horse battery staple", &h), Ok(true));
        assert_eq!(verify_password("correct horse battery stapl", &h), Ok(false));
        assert_eq!(verify_password("", &h), Ok(false));
    }

    #[test]
    fn phc_string_says_argon2id_owasp_params() {
        let h = hash_password("pw").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(h.split('$').count(), 6, "{h}");
    }

    #[test]
    fn salts_are_random() {
        let a = hash_password("same").unwrap();
        let b = hash_password("same").unwrap();
        assert_ne!(a, b);
        assert_eq!(verify_password("same", &a), Ok(true));
        assert_eq!(verify_password("same", &b), Ok(true));
    }

    #[test]
    fn malformed_hashes_are_errors() {
        let good = hash_password("pw").unwrap();
        let no_hash = good.rsplit_once('$').unwrap().0.to_owned();
        for bad in [
            "",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            no_hash.as_str(),
            "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=1,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
        ] {
            assert!(
                matches!(verify_password("pw", bad), Err(PasswordError::MalformedHash(_))),
                "{bad:?} -> {:?}",
                verify_password("pw", bad)
            );
        }
    }

    #[test]
    fn verifies_other_argon2_parameters() {
        // Hashes written with older/cheaper parameters still verify.
        let params = Params::new(64, 1, 1, None).unwrap();
        let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::from_b64("c29tZXNhbHQ").unwrap();
        let h = a.hash_password(b"legacy", &salt).unwrap().to_string();
        assert!(h.contains("m=64,t=1,p=1"));
        assert_eq!(verify_password("legacy", &h), Ok(true));
        assert_eq!(verify_password("legacz", &h), Ok(false));
    }

    #[test]
    fn dummy_verification_runs() {
        init_dummy_hash();
        verify_dummy("whatever");
        verify_dummy("");
        assert!(dummy_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn errors_do_not_contain_the_password() {
        let err = verify_password("hunter2", "garbage").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
