//! CSV reading for contact import (RFC 4180: quoted fields, doubled quotes, CRLF or LF) and the
//! per-row rules: phone numbers (`domain::parse_phone`), tags, attributes.

use serde_json::{Map, Value};

use crate::domain::{Country, parse_phone};

/// Files above this size are refused before parsing.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Data rows (the header excluded) a single import may hold.
pub const MAX_ROWS: usize = 10_000;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 50;
/// Serialised size limit of a contact's attributes.
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;
pub const MAX_NAME_CHARS: usize = 200;

/// One record of the file with its 1-based record number (the header is record 1).
#[derive(Debug, PartialEq)]
pub struct Record {
    pub row: usize,
    pub fields: Vec<String>,
}

/// Splits CSV text into records. Blank lines are skipped. An unterminated quote is an error.
pub fn parse(text: &str) -> Result<Vec<Record>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut quoted = false;
    let mut row = 0usize;
    let mut chars = text.chars().peekable();
    let mut end_record = |fields: &mut Vec<String>, field: &mut String, quoted: bool| {
        fields.push(std::mem::take(field));
        let blank = fields.len() == 1 && fields[0].is_empty() && !quoted;
        row += 1;
        if !blank {
            records.push(Record { row, fields: std::mem::take(fields) });
        } else {
            fields.clear();
            row -= 1;
        }
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted => {
                in_quotes = true;
                quoted = true;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                end_record(&mut fields, &mut field, quoted);
                quoted = false;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err("a quoted field is not closed".into());
    }
    if !field.is_empty() || !fields.is_empty() || quoted {
        end_record(&mut fields, &mut field, quoted);
    }
    Ok(records)
}

/// Trims, drops empty ones, deduplicates (first spelling kept) and checks the limits.
pub fn clean_tags<I, S>(tags: I) -> Result<Vec<String>, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.as_ref().trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > MAX_TAG_CHARS {
            return Err(format!("each tag must be at most {MAX_TAG_CHARS} characters"));
        }
        if t.chars().any(char::is_control) {
            return Err("tags must not contain control characters".into());
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    Ok(out)
}

/// Checks that attributes are a JSON object within the size limit.
pub fn check_attributes(v: &Value) -> Result<(), String> {
    if !v.is_object() {
        return Err("must be a JSON object".into());
    }
    if serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX) > MAX_ATTRIBUTES_BYTES {
        return Err(format!("must be at most {} KB when serialised", MAX_ATTRIBUTES_BYTES / 1024));
    }
    Ok(())
}

/// Where each known column sits in the header.
#[derive(Debug)]
pub struct Header {
    pub phone: usize,
    pub name: Option<usize>,
    pub tags: Option<usize>,
    /// Other columns: (index, attribute key).
    pub attributes: Vec<(usize, String)>,
    pub width: usize,
}

impl Header {
    pub fn parse(fields: &[String]) -> Result<Self, String> {
        let mut phone = None;
        let mut name = None;
        let mut tags = None;
        let mut attributes = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (i, raw) in fields.iter().enumerate() {
            let key = raw.trim();
            if key.is_empty() {
                return Err(format!("column {} of the header row has no name", i + 1));
            }
            let lower = key.to_lowercase();
            if seen.contains(&lower) {
                return Err(format!("the header row names column \"{key}\" twice"));
            }
            seen.push(lower.clone());
            match lower.as_str() {
                "phone" => phone = Some(i),
                "name" => name = Some(i),
                "tags" => tags = Some(i),
                _ => {
                    if key.chars().count() > 100 {
                        return Err(format!("column name \"{key}\" is longer than 100 characters"));
                    }
                    attributes.push((i, key.to_string()));
                }
            }
        }
        let phone = phone.ok_or("the header row needs a phone column")?;
        Ok(Self { phone, name, tags, attributes, width: fields.len() })
    }
}

/// One valid data row.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub row: usize,
    pub wa_id: String,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub attributes: Map<String, Value>,
}

/// Applies the row rules; `Err` is the reason the row is refused.
/// One data row; a phone without `+` is read in `country`'s format when one is given
/// (`domain::parse_phone`).
pub fn row(h: &Header, r: &Record, country: Option<Country>) -> Result<ImportRow, String> {
    if r.fields.len() > h.width {
        return Err(format!("has {} fields but the header has {}", r.fields.len(), h.width));
    }
    let get = |i: usize| r.fields.get(i).map(|s| s.trim()).unwrap_or("");
    let wa_id = parse_phone(get(h.phone), country)?;
    let name = match h.name.map(get).filter(|n| !n.is_empty()) {
        None => None,
        Some(n) if n.chars().count() > MAX_NAME_CHARS => {
            return Err(format!("name must be at most {MAX_NAME_CHARS} characters"));
        }
        Some(n) if n.chars().any(char::is_control) => {
            return Err("name must not contain control characters".into());
        }
        Some(n) => Some(n.to_string()),
    };
    let tags = match h.tags {
        Some(i) => clean_tags(get(i).split(';'))?,
        None => Vec::new(),
    };
    let mut attributes = Map::new();
    for (i, key) in &h.attributes {
        let v = get(*i);
        if !v.is_empty() {
            attributes.insert(key.clone(), Value::String(v.to_string()));
        }
    }
    check_attributes(&Value::Object(attributes.clone())).map_err(|e| format!("attributes {e}"))?;
    Ok(ImportRow { row: r.row, wa_id, name, tags, attributes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(rs: &[Record]) -> Vec<Vec<&str>> {
        rs.iter().map(|r| r.fields.iter().map(String::as_str).collect()).collect()
    }

    #[test]
    fn parses_quotes_crlf_and_blank_lines() {
        let rs = parse("\u{feff}phone,name\r\n\"+1 555\",\"Doe, \"\"J\"\"\"\r\n\r\n2,\"multi\nline\"\n3,").unwrap();
        assert_eq!(
            fields(&rs),
            vec![vec!["phone", "name"], vec!["+1 555", "Doe, \"J\""], vec!["2", "multi\nline"], vec!["3", ""],]
        );
        assert_eq!(rs.iter().map(|r| r.row).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert!(parse("a,\"b\n").is_err());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_limited() {
        assert_eq!(clean_tags([" vip ", "", "vip", "new"]).unwrap(), ["vip", "new"]);
        assert!(clean_tags(["x".repeat(51)]).is_err());
        assert!(clean_tags((0..51).map(|i| i.to_string())).is_err());
    }

    #[test]
    fn rows_map_columns() {
        let h = Header::parse(&["Phone".into(), "name".into(), "tags".into(), "city".into()]).unwrap();
        let r = row(
            &h,
            &Record { row: 2, fields: vec!["+15551234567".into(), " Ann ".into(), "a; b;a".into(), "Lisbon".into()] },
            None,
        )
        .unwrap();
        assert_eq!(r.wa_id, "15551234567");
        assert_eq!(r.name.as_deref(), Some("Ann"));
        assert_eq!(r.tags, ["a", "b"]);
        assert_eq!(r.attributes["city"], "Lisbon");
        assert!(Header::parse(&["name".into()]).is_err());
        assert!(Header::parse(&["phone".into(), "PHONE".into()]).is_err());
    }
}
