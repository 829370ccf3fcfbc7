//! A campaign's recipients with their outcomes as CSV, streamed a page at a time (the file is
//! never held whole in memory): `GET /api/campaigns/{id}/recipients.csv`.

use bytes::Bytes;
use futures_util::Stream;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::service::{self, Recipient};
use crate::ids::TenantId;

/// Recipients read per page.
const PAGE: u64 = 1_000;

pub const HEADER: [&str; 13] = [
    "contact_id",
    "phone",
    "name",
    "state",
    "reason",
    "detail",
    "message_id",
    "message_status",
    "error_code",
    "error_title",
    "sent_at",
    "delivered_at",
    "read_at",
];

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'`:
/// names and details come from customers and from Meta.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() }
}

fn record(r: &Recipient) -> [String; 13] {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let (phone, name) = match &r.contact {
        Some(c) => (c.wa_id.clone().unwrap_or_default(), c.name.clone().or(c.profile_name.clone()).unwrap_or_default()),
        None => (String::new(), String::new()),
    };
    let m = r.message.as_ref();
    [
        r.row.contact_id.to_string(),
        phone,
        cell(&name),
        r.row.state.as_str().to_string(),
        r.row.reason.clone().unwrap_or_default(),
        cell(r.row.detail.as_deref().unwrap_or("")),
        r.row.message_id.map(|m| m.to_string()).unwrap_or_default(),
        m.map(|m| m.status.as_str().to_string()).unwrap_or_default(),
        m.and_then(|m| m.error_code).map(|c| c.to_string()).unwrap_or_default(),
        cell(m.and_then(|m| m.error_title.as_deref()).unwrap_or("")),
        time(m.and_then(|m| m.sent_at)),
        time(m.and_then(|m| m.delivered_at)),
        time(m.and_then(|m| m.read_at)),
    ]
}

/// The CSV lines of `rows` (with the header first when `header`).
pub fn lines(rows: &[Recipient], header: bool) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 160));
    if header {
        let _ = w.write_record(HEADER);
    }
    for r in rows {
        let _ = w.write_record(record(r));
    }
    w.into_inner().unwrap_or_default()
}

/// The whole file, a page per chunk. A database error mid-way ends the stream with an error, so
/// the download fails visibly instead of ending short.
pub fn stream(
    db: DatabaseConnection,
    tenant: TenantId,
    campaign: Uuid,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some((None::<Uuid>, true)), move |cursor| {
        let db = db.clone();
        async move {
            let (after, first) = cursor?;
            match service::recipients(&db, tenant, campaign, None, after, PAGE).await {
                Err(e) => Some((Err(std::io::Error::other(e.message)), None)),
                Ok(rows) => {
                    let next = (rows.len() as u64 == PAGE).then(|| rows.last().map(|r| r.row.id)).flatten();
                    if rows.is_empty() && !first {
                        return None;
                    }
                    let chunk = Bytes::from(lines(&rows, first));
                    Some((Ok(chunk), next.map(|n| (Some(n), false))))
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::enums::RecipientState;
    use crate::entities::{campaign_recipients, contacts};

    #[test]
    fn names_are_quoted_and_formulas_defused() {
        let now = chrono::Utc::now();
        let r = Recipient {
            row: campaign_recipients::Model {
                id: Uuid::nil(),
                tenant_id: Uuid::nil(),
                campaign_id: Uuid::nil(),
                contact_id: Uuid::nil(),
                state: RecipientState::Skipped,
                reason: Some("opted_out".into()),
                detail: Some("-1 \"quoted\", with comma".into()),
                message_id: None,
                attempt: 0,
                created_at: now,
                updated_at: now,
            },
            contact: Some(contacts::Model {
                id: Uuid::nil(),
                tenant_id: Uuid::nil(),
                wa_id: Some("15550100001".into()),
                user_id: None,
                profile_name: None,
                username: None,
                name: Some("=HYPERLINK(\"http://x\")".into()),
                opted_out: true,
                opted_out_at: None,
                opt_out_source: None,
                tags: serde_json::json!([]),
                attributes: serde_json::json!({}),
                created_at: now,
                updated_at: now,
            }),
            message: None,
        };
        let text = String::from_utf8(lines(&[r], true)).unwrap();
        let mut it = text.lines();
        assert_eq!(it.next().unwrap(), HEADER.join(","));
        let row = it.next().unwrap();
        assert!(row.contains(r#"'=HYPERLINK(""http://x"")"#), "{row}");
        assert!(row.contains(r#""'-1 ""quoted"", with comma""#), "{row}");
        assert!(row.contains(",skipped,opted_out,"), "{row}");
    }
}
