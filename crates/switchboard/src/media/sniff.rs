//! What an uploaded file really is, from its bytes, and Meta's per-type size limits.
//!
//! Written out rather than taken from a general detection crate: WhatsApp accepts a short, fixed
//! list of types, each with one or two signatures, and the sticker limit depends on whether a WebP
//! is animated (a flag in its `VP8X` chunk), which general detectors do not report.

/// 1 MiB.
const MB: usize = 1024 * 1024;

/// Meta's largest media (documents): uploads over this are refused before the type is known.
pub const MAX_BYTES: usize = 100 * MB;

/// The type's size limit (Cloud API media limits). `animated` matters for stickers only.
pub fn limit(mime: &str, animated: bool) -> usize {
    match mime {
        "image/webp" if animated => 500 * 1024,
        "image/webp" => 100 * 1024,
        m if m.starts_with("image/") => 5 * MB,
        m if m.starts_with("video/") || m.starts_with("audio/") => 16 * MB,
        _ => MAX_BYTES,
    }
}

/// An animated WebP (`VP8X` header with the animation flag): a sticker of up to 500 KB.
pub fn is_animated_webp(b: &[u8]) -> bool {
    is_webp(b) && b.get(12..16) == Some(b"VP8X") && b.get(20).is_some_and(|f| f & 0x02 != 0)
}

fn is_webp(b: &[u8]) -> bool {
    b.len() >= 16 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP"
}

/// ISO base media (MP4, M4A, 3GP): `ftyp` box first; its major brand.
fn iso_brand(b: &[u8]) -> Option<&[u8]> {
    (b.get(4..8) == Some(b"ftyp")).then(|| b.get(8..12)).flatten()
}

/// ADTS AAC frame: sync word 0xFFF with layer 00.
fn is_adts(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] == 0xFF && (b[1] & 0xF6) == 0xF0
}

/// MP3: an ID3 tag, or an MPEG audio frame sync (layer bits not 00).
fn is_mp3(b: &[u8]) -> bool {
    b.starts_with(b"ID3") || (b.len() >= 2 && b[0] == 0xFF && (b[1] & 0xE0) == 0xE0 && (b[1] & 0x06) != 0)
}

fn contains(b: &[u8], needle: &[u8]) -> bool {
    b.windows(needle.len()).any(|w| w == needle)
}

const ZIP: &[u8] = b"PK\x03\x04";
const CFB: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Do the bytes have the form of `mime` (one of the types WhatsApp accepts)?
pub fn matches(mime: &str, b: &[u8]) -> bool {
    match mime {
        "image/jpeg" => b.starts_with(b"\xFF\xD8\xFF"),
        "image/png" => b.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/webp" => is_webp(b),
        "video/3gpp" => iso_brand(b).is_some_and(|br| br.starts_with(b"3g")),
        "video/mp4" | "audio/mp4" => iso_brand(b).is_some_and(|br| !br.starts_with(b"3g") && br != b"qt  "),
        "audio/aac" => is_adts(b) || b.starts_with(b"ADIF") || iso_brand(b).is_some(),
        "audio/mpeg" => is_mp3(b),
        "audio/amr" => b.starts_with(b"#!AMR"),
        "audio/ogg" => b.starts_with(b"OggS"),
        "application/pdf" => b.starts_with(b"%PDF-"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            b.starts_with(ZIP) && contains(b, b"word/")
        }
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => {
            b.starts_with(ZIP) && contains(b, b"xl/")
        }
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            b.starts_with(ZIP) && contains(b, b"ppt/")
        }
        "application/msword" | "application/vnd.ms-excel" | "application/vnd.ms-powerpoint" => b.starts_with(CFB),
        // Text: valid UTF-8 without NULs (which no text has and every binary format above does).
        "text/plain" => !b.contains(&0) && std::str::from_utf8(b).is_ok(),
        _ => false,
    }
}

/// What the bytes look like, for the error message.
pub fn detect(b: &[u8]) -> &'static str {
    const CANDIDATES: &[&str] = &[
        "image/jpeg",
        "image/png",
        "image/webp",
        "video/3gpp",
        "video/mp4",
        "audio/mpeg",
        "audio/amr",
        "audio/ogg",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/msword",
    ];
    if b.starts_with(ZIP) {
        return CANDIDATES[9..12].iter().find(|m| matches(m, b)).copied().unwrap_or("application/zip");
    }
    if let Some(m) = CANDIDATES.iter().find(|m| matches(m, b)) {
        return m;
    }
    let head = String::from_utf8_lossy(&b[..b.len().min(512)]).to_ascii_lowercase();
    if head.trim_start().starts_with("<!doctype html") || head.contains("<html") || head.contains("<script") {
        return "text/html";
    }
    if matches("text/plain", b) { "text/plain" } else { "application/octet-stream" }
}

/// Served inline only when a browser shows it without running it; anything else downloads.
pub fn inline_safe(mime: &str) -> bool {
    let m = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(m.as_str(), "image/jpeg" | "image/png" | "image/webp" | "image/gif")
        || m.starts_with("audio/")
        || m.starts_with("video/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        assert!(matches("image/png", b"\x89PNG\r\n\x1a\n...."));
        assert!(!matches("image/png", b"<html><script>alert(1)</script>"));
        assert!(matches("image/jpeg", b"\xFF\xD8\xFF\xE0"));
        assert!(matches("application/pdf", b"%PDF-1.7"));
        assert!(matches("audio/ogg", b"OggS\0\x02"));
        assert!(matches("video/mp4", b"\0\0\0\x18ftypmp42"));
        assert!(!matches("video/mp4", b"\0\0\0\x18ftyp3gp4"));
        assert!(matches("video/3gpp", b"\0\0\0\x18ftyp3gp4"));
        assert!(matches("audio/mpeg", b"ID3\x04"));
        assert!(matches("audio/aac", b"\xFF\xF1\x50\x80"));
        assert!(matches("text/plain", "héllo\n".as_bytes()));
        assert!(!matches("text/plain", b"\x89PNG\r\n\x1a\n"));
        assert!(matches(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"PK\x03\x04....word/document.xml"
        ));
        assert!(!matches(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            b"PK\x03\x04....word/document.xml"
        ));
        assert_eq!(detect(b"<!DOCTYPE html><p>hi"), "text/html");
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n"), "image/png");
    }

    #[test]
    fn sticker_limits_depend_on_animation() {
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\0\0".to_vec();
        assert!(!is_animated_webp(&webp));
        webp[20] = 0x02;
        assert!(is_animated_webp(&webp));
        assert_eq!(limit("image/webp", false), 100 * 1024);
        assert_eq!(limit("image/webp", true), 500 * 1024);
        assert_eq!(limit("image/png", false), 5 * 1024 * 1024);
        assert_eq!(limit("audio/ogg", false), 16 * 1024 * 1024);
        assert_eq!(limit("application/pdf", false), 100 * 1024 * 1024);
        assert!(inline_safe("image/png") && inline_safe("audio/ogg; codecs=opus") && !inline_safe("image/svg+xml"));
        assert!(!inline_safe("text/plain") && !inline_safe("application/pdf"));
    }
}
