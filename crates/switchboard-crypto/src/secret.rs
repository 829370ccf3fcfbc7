//! A string wrapper that never prints its contents.

use std::fmt;

use serde::Deserialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A string whose Debug/Display print "[redacted]". Clone, PartialEq (constant-time), Deserialize.
///
/// The contents are zeroed when the value is dropped. It deliberately does not
/// implement `Serialize`, so it cannot be written back out by accident.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// Returns the secret value; call sites of this are the places a secret can leak.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns true when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl PartialEq for SecretString {
    /// Constant-time in the contents (the length may be revealed).
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_secret() {
        let s = SecretString::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{:#?}", Some(&s)), "Some(\n    [redacted],\n)");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn equality_compares_contents() {
        let a = SecretString::new("abc");
        assert_eq!(a, a.clone());
        assert_eq!(a, SecretString::from("abc"));
        assert_ne!(a, SecretString::new("abd"));
        assert_ne!(a, SecretString::new("abcd"));
        assert_ne!(a, SecretString::new(""));
        assert!(SecretString::default().is_empty());
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        #[derive(Deserialize, Debug)]
        struct Config {
            token: SecretString,
        }
        let c: Config = serde_json::from_str(r#"{"token":"s3cr3t"}"#).unwrap();
        assert_eq!(c.token.expose(), "s3cr3t");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(serde_json::from_str::<Config>(r#"{"token":5}"#).is_err());
    }
}
