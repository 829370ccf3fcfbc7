//! X-Hub-Signature-256 signing/verification and the error-code catalogue.

use std::time::Duration;

use meta_cloud::error::{ErrorClass, GraphErrorResponse, SendResponse, SuccessResponse, classify, retry_after, title};
use meta_cloud::signature::{sign, verify};

const SECRET: &[u8] = b"app-secret-123";
const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

#[test]
fn sign_format() {
    let sig = sign(SECRET, BODY);
    let hex = sig.strip_prefix("sha256=").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    assert_eq!(sign(SECRET, BODY), sig, "deterministic");
    // RFC 4231 test case 2.
    assert_eq!(
        sign(b"Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn verify_accepts_only_the_right_signature() {
    let sig = sign(SECRET, BODY);
    assert!(verify(SECRET, BODY, &sig));
    assert!(verify(SECRET, BODY, &format!(" {sig} ")), "surrounding whitespace tolerated");
    assert!(verify(SECRET, BODY, &format!("sha256={}", sig[7..].to_uppercase())), "hex case-insensitive");
    assert!(!verify(b"wrong-secret", BODY, &sig), "wrong secret");
    let mut tampered = BODY.to_vec();
    tampered[5] ^= 1;
    assert!(!verify(SECRET, &tampered, &sig), "tampered body");
    assert!(!verify(SECRET, b"", &sig), "empty body");
    assert!(!verify(SECRET, BODY, &sig[7..]), "missing prefix");
    assert!(!verify(SECRET, BODY, &sig.replace("sha256=", "sha1=")), "wrong prefix");
    assert!(!verify(SECRET, BODY, ""), "empty header");
    assert!(!verify(SECRET, BODY, "sha256="), "empty digest");
    assert!(!verify(SECRET, BODY, &sig[..sig.len() - 2]), "truncated");
    assert!(!verify(SECRET, BODY, &format!("{sig}00")), "too long");
    assert!(!verify(SECRET, BODY, &format!("sha256={}", "zz".repeat(32))), "not hex");
    assert!(!verify(SECRET, BODY, &format!("sha256={}", "é".repeat(32))), "non-ascii");
}

#[test]
fn classification_table() {
    use ErrorClass::*;
    let table: &[(i64, ErrorClass)] = &[
        (130429, RetryLater),
        (131056, RetryLater),
        (131057, RetryLater),
        (131000, RetryLater),
        (131016, RetryLater),
        (1, RetryLater),
        (2, RetryLater),
        (4, RetryLater),
        (80007, RetryLater),
        (133004, RetryLater),
        (131047, WindowClosed),
        (0, Credentials),
        (3, Credentials),
        (10, Credentials),
        (190, Credentials),
        (200, Credentials),
        (250, Credentials),
        (299, Credentials),
        (131005, Credentials),
        (131031, Credentials),
        (132000, Template),
        (132001, Template),
        (132005, Template),
        (132007, Template),
        (132008, Template),
        (132012, Template),
        (132015, Template),
        (132016, Template),
        (132018, Template),
        (132068, Template),
        (132069, Template),
        (131026, Permanent),
        (131050, Permanent),
        (131051, Permanent),
        (131052, Permanent),
        (131053, Permanent),
        (131008, Permanent),
        (131009, Permanent),
        (131021, Permanent),
        (131030, Permanent),
        (100, Permanent),
        (33, Permanent),
        (368, Permanent),
        (130472, Permanent),
        (133010, Permanent),
        (137000, Permanent),
        (131048, QualityHold),
        (131049, QualityHold),
        (300, Unknown),
        (999_999, Unknown),
        (-1, Unknown),
    ];
    for &(code, class) in table {
        assert_eq!(classify(code), class, "code {code}");
        if class != Unknown {
            assert!(title(code).is_some(), "title for {code}");
        }
    }
    assert_eq!(title(131047), Some("Re-engagement message"));
    assert_eq!(title(424242), None);
    assert!(RetryLater.is_retryable() && QualityHold.is_retryable());
    assert!(!Permanent.is_retryable() && !Credentials.is_retryable() && !Template.is_retryable());
}

#[test]
fn retry_hints() {
    // Pair rate limit: Meta's 4^X seconds.
    assert_eq!(retry_after(131056, 0), Some(Duration::from_secs(1)));
    assert_eq!(retry_after(131056, 1), Some(Duration::from_secs(4)));
    assert_eq!(retry_after(131056, 3), Some(Duration::from_secs(64)));
    assert_eq!(retry_after(131056, 8), None);
    assert_eq!(retry_after(130429, 10), None);
    assert!(retry_after(130429, 20).is_none());
    assert!(retry_after(130429, 9).unwrap() <= Duration::from_secs(64));
    assert_eq!(retry_after(131049, 0), Some(Duration::from_secs(24 * 3600)));
    assert_eq!(retry_after(131048, 1), None);
    assert_eq!(retry_after(1, 1), None);
    for code in [131047, 190, 132001, 131026, 100, 0, 424242] {
        assert_eq!(retry_after(code, 0), None, "{code}");
    }
    // Every RetryLater code has a hint on the first attempt; no overflow on huge attempts.
    for code in [1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133004, 133016] {
        assert!(retry_after(code, 0).is_some(), "{code}");
        let _ = retry_after(code, u32::MAX);
    }
}

#[test]
fn response_bodies() {
    let ok: SendResponse = serde_json::from_str(
        r#"{"messaging_product":"whatsapp","contacts":[{"input":"+16505551234","wa_id":"16505551234"}],
            "messages":[{"id":"wamid.HBgL","message_status":"accepted"}]}"#,
    )
    .unwrap();
    assert_eq!(ok.message_id(), Some("wamid.HBgL"));
    assert_eq!(ok.contacts[0].wa_id.as_deref(), Some("16505551234"));
    assert_eq!(ok.messages[0].message_status.as_deref(), Some("accepted"));
    let s: SuccessResponse = serde_json::from_str(r#"{"success":true}"#).unwrap();
    assert!(s.success);

    let err: GraphErrorResponse = serde_json::from_str(
        r#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
            "error_data":{"messaging_product":"whatsapp","details":"Message failed to send"},
            "error_subcode":2494055,"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#,
    )
    .unwrap();
    assert_eq!(err.error.code, 130429);
    assert_eq!(err.error.error_type.as_deref(), Some("OAuthException"));
    assert_eq!(err.error.error_subcode, Some(2494055));
    assert_eq!(err.error.details(), Some("Message failed to send"));
    assert_eq!(err.error.class(), ErrorClass::RetryLater);
    // Minimal body (no subcode, no data).
    let err: GraphErrorResponse = serde_json::from_str(r#"{"error":{"message":"x","code":190}}"#).unwrap();
    assert_eq!(err.error.class(), ErrorClass::Credentials);
}
