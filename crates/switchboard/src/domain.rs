//! Parsed input shared by the features (emails, passwords, display names): code behind these
//! types never re-validates. Machinery: it imports nothing of the crate.

/// A syntactically plausible, normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("must be an email address".into());
        };
        let ok = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok { Ok(Email(s)) } else { Err("must be an email address".into()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password, per OWASP: 10 to 128 characters counted as characters (not bytes: "é" is one),
/// anything printable allowed (spaces and any script included), but not only spaces or control
/// characters (ten spaces or ten NULs are not a password).
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN: usize = 10;
    pub const MAX: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let n = raw.chars().count();
        if n < Self::MIN {
            return Err(format!("must be at least {} characters", Self::MIN));
        }
        if n > Self::MAX {
            return Err(format!("must be at most {} characters", Self::MAX));
        }
        if raw.chars().all(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not be only spaces or control characters".into());
        }
        Ok(NewPassword(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

/// A display name (person or tenant): 1 to `max` characters after trimming, no control characters.
pub fn parse_name(raw: &str, max: usize) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("is required".into());
    }
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

/// A URL-safe slug derived from a tenant name.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            dash = false;
        } else if !dash && !out.is_empty() {
            out.push('-');
            dash = true;
        }
    }
    let s = out.trim_end_matches('-');
    let s: String = s.chars().take(48).collect();
    if s.is_empty() { "tenant".into() } else { s }
}

/// A phone number as WhatsApp ids are written: E.164 digits without `+`, parsed with
/// libphonenumber's metadata (`phonenumber`). Spaces, dashes, dots, slashes and parentheses are
/// ignored. A number with `+` (or, without a default country, any number: its digits start with
/// the country code) is international; with a default country, a number without `+` is read as
/// that country's national or international-dialling format (`030 1234567` or `0049 30 1234567`
/// in DE both give `49301234567`). Validity against the number plan is not required — ranges
/// change and Meta decides — but the result has 8 to 15 digits.
pub fn parse_phone(raw: &str, default_country: Option<Country>) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("phone is required".into());
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    if !body.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '/' | '(' | ')')) {
        return Err("phone must contain only digits (with an optional leading +)".into());
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    let international = s.starts_with('+') || default_country.is_none();
    if international {
        if digits.starts_with('0') {
            return Err("phone must start with the country code, not 0 (or name a default country)".into());
        }
        if !(8..=15).contains(&digits.len()) {
            return Err("phone must have 8 to 15 digits (E.164 with country code)".into());
        }
    }
    let parsed = if international {
        phonenumber::parse(None, format!("+{digits}"))
    } else {
        phonenumber::parse(default_country.map(|c| c.0), &digits)
    }
    .map_err(|e| format!("phone is not a phone number ({e})"))?;
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    let out = e164.trim_start_matches('+').to_string();
    if !(8..=15).contains(&out.len()) {
        return Err("phone must have 8 to 15 digits (E.164 with country code)".into());
    }
    Ok(out)
}

/// A country, ISO 3166 alpha-2 (`DE`), as libphonenumber knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country(pub phonenumber::country::Id);

impl Country {
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.trim()
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .map(Country)
            .map_err(|_| format!("\"{}\" is not a country code (ISO 3166 alpha-2, e.g. DE)", raw.trim()))
    }

    /// The country of a WhatsApp id (international digits) by libphonenumber's number plan
    /// (`+1 212…` is US, `+1 416…` CA); `None` when it maps to no single country.
    pub fn of_wa_id(wa_id: &str) -> Option<Self> {
        phonenumber::parse(None, format!("+{wa_id}")).ok()?.country().id().map(Country)
    }
}

/// An IANA time zone (`Europe/Madrid`, `UTC`), from the tz database bundled in the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.trim()
            .parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| "must be an IANA time zone name such as Europe/Madrid or UTC".to_string())
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ana@Example.COM ").unwrap().as_str(), "ana@example.com");
        for bad in ["", "ana", "ana@", "@x.com", "a@b", "a b@c.com", "a@@b.com", "a@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("long enough pw").is_ok());
        assert!(NewPassword::parse(&"x".repeat(129)).is_err());
        assert!(NewPassword::parse(&"x".repeat(128)).is_ok());
        // Characters, not bytes: ten two-byte characters are ten, 128 four-byte ones are allowed.
        assert!(NewPassword::parse(&"é".repeat(10)).is_ok());
        assert!(NewPassword::parse(&"😀".repeat(128)).is_ok());
        assert!(NewPassword::parse(&"é".repeat(9)).is_err());
        for bad in [" ".repeat(10), "\0".repeat(10), "\t \n\r\u{0b}\u{0c}  \u{85}\u{a0}".into(), "\u{3000}".repeat(12)]
        {
            assert!(NewPassword::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(format!("{:?}", NewPassword::parse("secret-secret").unwrap()), "NewPassword([redacted])");
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Coffee, Ltd."), "acme-coffee-ltd");
        assert_eq!(slugify("!!!"), "tenant");
        assert_eq!(slugify("Café Zürich"), "caf-z-rich");
    }

    #[test]
    fn phones_become_e164_digits() {
        let de = Some(Country::parse("de").unwrap());
        assert_eq!(parse_phone("+1 555-123-4567", None).unwrap(), "15551234567");
        assert_eq!(parse_phone("447700900123", None).unwrap(), "447700900123");
        assert_eq!(parse_phone("+49 (30) 1234.567", de).unwrap(), "49301234567");
        assert_eq!(parse_phone("030 1234567", de).unwrap(), "49301234567");
        assert_eq!(parse_phone("0049 30 1234567", de).unwrap(), "49301234567");
        assert_eq!(parse_phone("0151 12345678", de).unwrap(), "4915112345678");
        assert_eq!(parse_phone("+44 7700 900123", de).unwrap(), "447700900123");
        for bad in ["", "abc", "+12", "030 1234567", "+1234567890123456", "12a45678"] {
            assert!(parse_phone(bad, None).is_err(), "{bad}");
        }
        assert!(Country::parse("XX").is_err());
    }

    #[test]
    fn time_zones_come_from_the_tz_database() {
        for ok in ["UTC", "Europe/Madrid", "America/Argentina/Buenos_Aires", "Etc/GMT+5", " Asia/Kolkata "] {
            assert!(TimeZone::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["Mars/Base", "Europe", "Europe/", "Europe/Atlantis", "Europe/Ma drid", ""] {
            assert!(TimeZone::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TimeZone::parse("Europe/Berlin").unwrap().name(), "Europe/Berlin");
    }
}
