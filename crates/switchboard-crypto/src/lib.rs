//! Cryptographic building blocks for Switchboard.
//!
//! * [`secret`]: a redacting string wrapper for secrets in configuration.
//! * [`password`]: argon2id password hashing (PHC strings).
//! * [`jwt`]: strict HS256-only JSON Web Tokens.
//! * [`aead`]: an AES-256-GCM keyring with key ids, for encrypting secrets at rest.
//! * [`token`]: random tokens, SHA-256 / HMAC-SHA-256 helpers and constant-time comparison.
//!
//! Everything here is synchronous; password hashing is deliberately slow and
//! should be run on a blocking thread (e.g. `tokio::task::spawn_blocking`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aead;
pub mod jwt;
pub mod password;
pub mod secret;
pub mod token;
