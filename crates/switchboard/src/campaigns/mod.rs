//! Campaigns (issue #17, first part; docs/CAMPAIGNS.md): one approved template sent from one number
//! to an audience of contacts, each with its own parameter values.
//!
//! - **Exactly once per recipient.** The audience is written as one `campaign_recipients` row per
//!   (campaign, contact) — a unique key, so planning twice adds nobody twice. A recipient's message
//!   is created with the client message id `campaign:{campaign}:{contact}`, unique per tenant: a
//!   crash between creating it and marking the recipient, a second run job, two nodes or two
//!   clicks on Resume find the same message and send nothing more. The sender's own guarantee
//!   (`send_started_at` committed before the request) does the rest.
//! - **Durable.** Planning and creating messages is the `campaign-run` job (`run`), one per start or
//!   resume (`run_generation` in its key); it re-reads the campaign each round, so pause and cancel
//!   take effect within a round.
//! - **Paced.** A round creates messages only while fewer than five seconds' worth of the number's
//!   throughput is queued and unsent, so the sender's per-number pacing sets the rate and a cancel
//!   leaves at most that much in flight.
//! - **Rules.** Marketing templates skip opted-out contacts (`opted_out`); a template no longer
//!   approved, a suspended tenant, a disabled number or the month's quota pause the campaign with
//!   the reason; a recipient whose parameters cannot be filled fails with the missing one.

pub mod export;
pub mod routes;
pub mod run;
pub mod service;
pub mod window;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::contacts;

/// Who receives a campaign: the given contacts, or every contact matching the tag rules and the
/// segment (all contacts when neither is given). Opted-out contacts are kept in the audience and
/// skipped at send time for marketing templates, with the reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Audience {
    /// Exactly these contacts (of the caller's tenant), instead of the tag rules and segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_ids: Option<Vec<Uuid>>,
    /// At least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_any: Vec<String>,
    /// Every one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_all: Vec<String>,
    /// None of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_none: Vec<String>,
    /// A segment: `{"all"|"any": [...]}`, `{"not": ...}` and conditions
    /// `{"field", "op", "value"}` over tags, attributes, country, last inbound message,
    /// conversation status, opt-out and creation date (docs/CAMPAIGNS.md, "Segments").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rules: Option<crate::segments::Rule>,
    /// A saved segment (`/api/segments`) instead of `rules`: the campaign keeps a copy of its
    /// rules as they were when the campaign was created, and this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<Uuid>,
}

impl Audience {
    /// Named contacts are instead of rules: both at once is refused, not silently narrowed.
    pub fn check(&self) -> Result<(), String> {
        let ruled = !self.tags_any.is_empty() || !self.tags_all.is_empty() || !self.tags_none.is_empty();
        if self.contact_ids.is_some() && (ruled || self.rules.is_some() || self.segment_id.is_some()) {
            return Err("contactIds is instead of tag rules and a segment; give one or the other".into());
        }
        if self.rules.is_some() && self.segment_id.is_some() {
            return Err("give rules or a saved segment's segmentId, not both".into());
        }
        Ok(())
    }

    /// Whether the segment needs facts beyond the contact row ([`crate::segments::Facts`]).
    pub fn needs_facts(&self) -> bool {
        self.rules.as_ref().is_some_and(crate::segments::Rule::needs_facts)
    }

    /// Whether a contact is in the audience (tag rules and segment; `contact_ids` is applied by
    /// the query).
    pub fn admits(
        &self,
        c: &contacts::Model,
        facts: &crate::segments::Facts,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let tags: Vec<&str> = c.tags.as_array().into_iter().flatten().filter_map(|t| t.as_str()).collect();
        let has = |t: &String| tags.iter().any(|x| x.eq_ignore_ascii_case(t));
        (self.tags_any.is_empty() || self.tags_any.iter().any(has))
            && self.tags_all.iter().all(has)
            && !self.tags_none.iter().any(has)
            && self.rules.as_ref().is_none_or(|r| r.admits(c, facts, now))
    }
}

/// Where a template parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum VarFrom {
    /// `value` itself.
    Constant,
    /// The contact's name (as saved, else their WhatsApp profile name).
    Name,
    /// The contact's phone number.
    Phone,
    /// The contact's attribute named by `value`.
    Attribute,
}

/// One template parameter's source, with a fallback for an empty value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variable {
    pub from: VarFrom,
    /// The constant, or the attribute's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Used when the source is empty; without one, such a recipient fails (`missing_variable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Template parameter (`"1"`, `"first_name"`, …) → its source.
pub type Variables = BTreeMap<String, Variable>;

/// Each parameter's value for one contact, or the first parameter that has none.
pub fn values_for(vars: &Variables, c: &contacts::Model) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut out = serde_json::Map::new();
    for (key, v) in vars {
        let raw = match v.from {
            VarFrom::Constant => v.value.clone(),
            VarFrom::Name => c.name.clone().or_else(|| c.profile_name.clone()),
            VarFrom::Phone => c.wa_id.as_ref().map(|w| format!("+{w}")),
            VarFrom::Attribute => v.value.as_deref().and_then(|k| c.attributes.get(k)).and_then(|x| match x {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            }),
        };
        let value = raw.filter(|s| !s.trim().is_empty()).or_else(|| v.fallback.clone());
        match value {
            Some(s) => out.insert(key.clone(), serde_json::Value::String(s)),
            None => return Err(key.clone()),
        };
    }
    Ok(out)
}

/// The client message id of a recipient's message: what makes it exactly once per attempt (a
/// retry after Meta limited the message is the next attempt, with its own id).
pub fn client_message_id(campaign: Uuid, contact: Uuid, attempt: i32) -> String {
    if attempt == 0 {
        format!("campaign:{campaign}:{contact}")
    } else {
        format!("campaign:{campaign}:{contact}:{attempt}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn contact(tags: serde_json::Value, attrs: serde_json::Value) -> contacts::Model {
        contacts::Model {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            wa_id: Some("15551234567".into()),
            user_id: None,
            profile_name: Some("Ann".into()),
            username: None,
            name: None,
            opted_out: false,
            opted_out_at: None,
            opt_out_source: None,
            tags,
            attributes: attrs,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn tag_rules_any_all_none() {
        let c = contact(json!(["VIP", "berlin"]), json!({}));
        let a = |any: &[&str], all: &[&str], none: &[&str]| Audience {
            contact_ids: None,
            tags_any: any.iter().map(|s| s.to_string()).collect(),
            tags_all: all.iter().map(|s| s.to_string()).collect(),
            tags_none: none.iter().map(|s| s.to_string()).collect(),
            rules: None,
            segment_id: None,
        };
        let (f, now) = (crate::segments::Facts::default(), chrono::Utc::now());
        assert!(a(&[], &[], &[]).admits(&c, &f, now));
        assert!(a(&["vip", "x"], &[], &[]).admits(&c, &f, now));
        assert!(!a(&["x"], &[], &[]).admits(&c, &f, now));
        assert!(a(&[], &["vip", "Berlin"], &[]).admits(&c, &f, now));
        assert!(!a(&[], &["vip", "paris"], &[]).admits(&c, &f, now));
        assert!(!a(&[], &[], &["berlin"]).admits(&c, &f, now));
    }

    #[test]
    fn values_come_from_their_source_or_the_fallback_or_fail() {
        let c = contact(json!([]), json!({"order": "#1001", "points": 42, "empty": ""}));
        let v = |from, value: Option<&str>, fallback: Option<&str>| Variable {
            from,
            value: value.map(str::to_string),
            fallback: fallback.map(str::to_string),
        };
        let mut vars = Variables::new();
        vars.insert("1".into(), v(VarFrom::Name, None, None));
        vars.insert("2".into(), v(VarFrom::Attribute, Some("order"), None));
        vars.insert("3".into(), v(VarFrom::Attribute, Some("points"), None));
        vars.insert("4".into(), v(VarFrom::Attribute, Some("empty"), Some("friend")));
        vars.insert("5".into(), v(VarFrom::Constant, Some("SALE"), None));
        vars.insert("6".into(), v(VarFrom::Phone, None, None));
        let got = values_for(&vars, &c).unwrap();
        assert_eq!(
            serde_json::Value::Object(got),
            json!({"1": "Ann", "2": "#1001", "3": "42", "4": "friend", "5": "SALE", "6": "+15551234567"})
        );
        vars.insert("7".into(), v(VarFrom::Attribute, Some("missing"), None));
        assert_eq!(values_for(&vars, &c), Err("7".into()));
    }
}
