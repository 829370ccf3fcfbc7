//! End-to-end use of the public API, the way the Switchboard server wires it.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard_crypto::aead::{AeadError, Keyring};
use switchboard_crypto::jwt::{JwtError, JwtKeys, Validation};
use switchboard_crypto::password::{PasswordError, hash_password, init_dummy_hash, verify_dummy, verify_password};
use switchboard_crypto::secret::SecretString;
use switchboard_crypto::token::{constant_time_eq, hmac_sha256, random_token, sha256_hex};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    tenant: u64,
    aud: String,
    typ: String,
    exp: i64,
    iat: i64,
}

#[derive(Debug, Deserialize)]
struct Config {
    jwt_secret: SecretString,
    encryption_keys: SecretString,
}

#[test]
fn login_issue_and_check_tokens() {
    let spec = format!("{},{}", Keyring::generate_spec_entry(), Keyring::generate_spec_entry());
    let config_json = format!(r#"{{"jwt_secret":"{}","encryption_keys":"{spec}"}}"#, random_token("", 48));
    let config: Config = serde_json::from_str(&config_json).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains(config.jwt_secret.expose()), "{debug}");
    assert!(!debug.contains(config.encryption_keys.expose()), "{debug}");

    // Sign-up and login.
    let phc = hash_password("s3cure pa55word").unwrap();
    assert_eq!(verify_password("s3cure pa55word", &phc), Ok(true));
    assert_eq!(verify_password("wrong", &phc), Ok(false));
    assert!(matches!(verify_password("x", "$argon2id$v=19$broken"), Err(PasswordError::MalformedHash(_))));

    // Access token.
    let keys = JwtKeys::new(config.jwt_secret.expose().as_bytes()).unwrap();
    let now = 1_800_000_000;
    let claims = AccessClaims {
        sub: "u_1".into(),
        tenant: 7,
        aud: "switchboard-api".into(),
        typ: "access".into(),
        exp: now + 900,
        iat: now,
    };
    let jwt = keys.encode(&claims).unwrap();
    let mut v = Validation::new("switchboard-api", "access");
    v.now = now;
    assert_eq!(keys.decode::<AccessClaims>(&jwt, &v).unwrap(), claims);
    v.now = now + 900;
    assert_eq!(keys.decode::<AccessClaims>(&jwt, &v), Err(JwtError::Expired));
    v.now = now;
    v.typ = "refresh".into();
    assert_eq!(keys.decode::<AccessClaims>(&jwt, &v), Err(JwtError::WrongType));

    // Refresh token stored hashed.
    let refresh = random_token("rt_", 32);
    let stored = sha256_hex(refresh.as_bytes());
    assert_eq!(stored.len(), 64);
    assert!(constant_time_eq(sha256_hex(refresh.as_bytes()).as_bytes(), stored.as_bytes()));

    // WhatsApp access token encrypted at rest, bound to tenant + purpose.
    let ring = Keyring::parse(config.encryption_keys.expose()).unwrap();
    let aad = b"tenant=7;purpose=wa_token";
    let ct = ring.encrypt(b"EAAGm0PX4ZCpsBA", aad);
    assert!(!ring.needs_rotation(&ct));
    assert_eq!(ring.decrypt(&ct, aad).unwrap(), b"EAAGm0PX4ZCpsBA");
    assert_eq!(ring.decrypt(&ct, b"tenant=8;purpose=wa_token"), Err(AeadError::Decrypt));
    assert!(!format!("{ring:?}").contains(config.encryption_keys.expose()));

    // Webhook signature style HMAC.
    assert_eq!(hmac_sha256(b"k", b"body"), hmac_sha256(b"k", b"body"));
    assert_ne!(hmac_sha256(b"k", b"body"), hmac_sha256(b"k2", b"body"));
}

fn min_time(mut f: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn dummy_verification_costs_about_as_much_as_a_real_one() {
    init_dummy_hash();
    let phc = hash_password("pw").unwrap();
    let real = min_time(|| {
        let _ = verify_password("guess", &phc);
    });
    let dummy = min_time(|| verify_dummy("guess"));
    // Loose bounds: a shared 2-core machine is noisy, but a dummy that skips
    // the argon2 work would be orders of magnitude faster.
    assert!(dummy * 3 >= real && dummy <= real * 3, "real {real:?} vs dummy {dummy:?}");
}
