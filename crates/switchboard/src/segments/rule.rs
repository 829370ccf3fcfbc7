//! A segment's rules: AND/OR/NOT groups of conditions over contacts.
//!
//! The wire and stored form is JSON (docs/CAMPAIGNS.md, "Segments"):
//! `{"all": [cond, {"any": [cond, cond]}, {"not": cond}]}`, each condition
//! `{"field": …, "op": …, "value": …}`. It is parsed once into [`Rule`] (bad input is a 422 that
//! names the place: `all[1].any[0]: op "gte" needs a number`), and one evaluator decides every
//! contact, the same on SQLite and PostgreSQL: contacts are read a page at a time in id order,
//! with the facts that live in other tables (the latest conversation's status, the last inbound
//! message) fetched for the page in one query when a rule needs them.
//!
//! Relative dates (`withinDays`, `olderThanDays`) are counted from when the audience is
//! evaluated: at the preview, and when the campaign is planned (its first run).

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use crate::domain::Country;
use crate::entities::contacts;
use crate::entities::enums::ConversationStatus;

/// At most this many conditions in one segment, and this deep.
pub const MAX_CONDITIONS: usize = 100;
pub const MAX_DEPTH: usize = 5;

/// A segment: conditions joined by AND (`all`), OR (`any`) and NOT (`not`). Serialised as its
/// JSON form; deserialising parses (and validates) it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub enum Rule {
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Not(Box<Rule>),
    Is(Condition),
}

/// One test of one contact.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Has (or has not) the tag, case-insensitively.
    Tag { tag: String, has: bool },
    /// A test of the attribute `name`.
    Attribute { name: String, test: ValueTest },
    /// When the contact last wrote (any number); `Exists(false)`: never.
    LastInboundAt(DateTest),
    /// When the contact was first seen.
    CreatedAt(DateTest),
    /// The status of the contact's most recently active conversation; `None` in the list
    /// stands for "no conversation".
    ConversationStatus { any_of: Vec<Option<ConversationStatus>>, negate: bool },
    /// The country of the contact's number (ISO 3166 alpha-2, from the calling code and number
    /// plan); a contact without a number, or whose number maps to no country, is in no country.
    Country { any_of: Vec<Country>, negate: bool },
    /// Opted out of marketing messages (`false`: opted in, the default).
    OptedOut(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueTest {
    Exists(bool),
    /// Text comparison, case-insensitive, on the attribute as text (numbers as written).
    Equals {
        value: String,
        negate: bool,
    },
    Contains(String),
    Number(Cmp, f64),
    Date(DateTest),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DateTest {
    Exists(bool),
    Before(DateTime<Utc>),
    After(DateTime<Utc>),
    /// Within the last N days.
    WithinDays(u32),
    /// More than N days ago (a missing date is not).
    OlderThanDays(u32),
}

/// Where a segment is wrong, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub at: String,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.at, self.message) }
    }
}

fn invalid(at: &str, message: impl Into<String>) -> Invalid {
    Invalid { at: at.to_string(), message: message.into() }
}

/// What the evaluator knows of a contact beyond its row.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Of the most recently active conversation; `None`: no conversation.
    pub conversation_status: Option<ConversationStatus>,
}

impl TryFrom<Value> for Rule {
    type Error = Invalid;
    fn try_from(v: Value) -> Result<Self, Invalid> {
        Rule::parse(&v)
    }
}

impl From<Rule> for Value {
    fn from(r: Rule) -> Value {
        r.to_json()
    }
}

impl Rule {
    /// Parses the JSON form.
    pub fn parse(v: &Value) -> Result<Rule, Invalid> {
        let mut count = 0;
        let rule = parse_rule(v, "", 0, &mut count)?;
        if count == 0 {
            return Err(invalid("", "a segment needs at least one condition"));
        }
        Ok(rule)
    }

    /// Whether evaluating needs [`Facts`] (a query beyond the contacts table).
    pub fn needs_facts(&self) -> bool {
        match self {
            Rule::All(v) | Rule::Any(v) => v.iter().any(Rule::needs_facts),
            Rule::Not(r) => r.needs_facts(),
            Rule::Is(c) => matches!(c, Condition::LastInboundAt(_) | Condition::ConversationStatus { .. }),
        }
    }

    pub fn admits(&self, c: &contacts::Model, facts: &Facts, now: DateTime<Utc>) -> bool {
        match self {
            Rule::All(v) => v.iter().all(|r| r.admits(c, facts, now)),
            Rule::Any(v) => v.iter().any(|r| r.admits(c, facts, now)),
            Rule::Not(r) => !r.admits(c, facts, now),
            Rule::Is(cond) => cond.admits(c, facts, now),
        }
    }

    /// The JSON form (what [`Rule::parse`] reads back to the same rule).
    pub fn to_json(&self) -> Value {
        match self {
            Rule::All(v) => json!({ "all": v.iter().map(Rule::to_json).collect::<Vec<_>>() }),
            Rule::Any(v) => json!({ "any": v.iter().map(Rule::to_json).collect::<Vec<_>>() }),
            Rule::Not(r) => json!({ "not": r.to_json() }),
            Rule::Is(c) => c.to_json(),
        }
    }
}

fn parse_rule(v: &Value, at: &str, depth: usize, count: &mut usize) -> Result<Rule, Invalid> {
    if depth > MAX_DEPTH {
        return Err(invalid(at, format!("groups nest at most {MAX_DEPTH} deep")));
    }
    let Some(obj) = v.as_object() else {
        return Err(invalid(at, "must be an object: a condition, or {\"all\"|\"any\": [...]} or {\"not\": ...}"));
    };
    let join = |k: &str| if at.is_empty() { k.to_string() } else { format!("{at}.{k}") };
    for (key, group) in [("all", true), ("any", false)] {
        if let Some(items) = obj.get(key) {
            if obj.len() != 1 {
                return Err(invalid(at, format!("a group has only \"{key}\"")));
            }
            let Some(items) = items.as_array() else {
                return Err(invalid(&join(key), "must be a list"));
            };
            if items.is_empty() {
                return Err(invalid(&join(key), "must not be empty"));
            }
            let rules = items
                .iter()
                .enumerate()
                .map(|(i, x)| parse_rule(x, &format!("{}[{i}]", join(key)), depth + 1, count))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if group { Rule::All(rules) } else { Rule::Any(rules) });
        }
    }
    if let Some(inner) = obj.get("not") {
        if obj.len() != 1 {
            return Err(invalid(at, "a negation has only \"not\""));
        }
        return Ok(Rule::Not(Box::new(parse_rule(inner, &join("not"), depth + 1, count)?)));
    }
    *count += 1;
    if *count > MAX_CONDITIONS {
        return Err(invalid(at, format!("a segment has at most {MAX_CONDITIONS} conditions")));
    }
    Condition::parse(obj, at).map(Rule::Is)
}

const FIELDS: &str = "tag, attribute, lastInboundAt, createdAt, conversationStatus, country, optedOut";

impl Condition {
    fn parse(obj: &serde_json::Map<String, Value>, at: &str) -> Result<Condition, Invalid> {
        for k in obj.keys() {
            if !["field", "op", "value", "name"].contains(&k.as_str()) {
                return Err(invalid(at, format!("unknown key \"{k}\" (a condition has field, op, value, name)")));
            }
        }
        let field = obj.get("field").and_then(Value::as_str).ok_or_else(|| invalid(at, "needs \"field\""))?;
        let op = obj.get("op").and_then(Value::as_str).ok_or_else(|| invalid(at, "needs \"op\""))?;
        let value = obj.get("value");
        let bad_op = |allowed: &str| invalid(at, format!("field \"{field}\" takes op {allowed}, not \"{op}\""));
        if field != "attribute" && obj.contains_key("name") {
            return Err(invalid(at, "only an attribute condition has \"name\""));
        }
        Ok(match field {
            "tag" => {
                let has = match op {
                    "has" => true,
                    "notHas" => false,
                    _ => return Err(bad_op("has, notHas")),
                };
                Condition::Tag { tag: text(value, at, op)?, has }
            }
            "attribute" => {
                let name = obj
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|n| !n.is_empty() && n.len() <= 100)
                    .ok_or_else(|| invalid(at, "an attribute condition needs \"name\" (1 to 100 characters)"))?;
                let test = match op {
                    "exists" | "notExists" => {
                        no_value(value, at, op)?;
                        ValueTest::Exists(op == "exists")
                    }
                    "equals" | "notEquals" => {
                        let value = match value {
                            Some(Value::Number(n)) => n.to_string(),
                            Some(Value::Bool(b)) => b.to_string(),
                            _ => text(value, at, op)?,
                        };
                        ValueTest::Equals { value, negate: op == "notEquals" }
                    }
                    "contains" => ValueTest::Contains(text(value, at, op)?),
                    "gt" | "gte" | "lt" | "lte" => {
                        let n = value
                            .and_then(Value::as_f64)
                            .ok_or_else(|| invalid(at, format!("op \"{op}\" needs a number")))?;
                        let cmp = match op {
                            "gt" => Cmp::Gt,
                            "gte" => Cmp::Gte,
                            "lt" => Cmp::Lt,
                            _ => Cmp::Lte,
                        };
                        ValueTest::Number(cmp, n)
                    }
                    "before" | "after" | "withinDays" | "olderThanDays" => ValueTest::Date(date_test(op, value, at)?),
                    _ => {
                        return Err(bad_op(
                            "exists, notExists, equals, notEquals, contains, gt, gte, lt, lte, before, after, \
                             withinDays, olderThanDays",
                        ));
                    }
                };
                Condition::Attribute { name: name.to_string(), test }
            }
            "lastInboundAt" | "createdAt" => {
                let test = match op {
                    "exists" | "notExists" if field == "lastInboundAt" => {
                        no_value(value, at, op)?;
                        DateTest::Exists(op == "exists")
                    }
                    "before" | "after" | "withinDays" | "olderThanDays" => date_test(op, value, at)?,
                    _ if field == "lastInboundAt" => {
                        return Err(bad_op("before, after, withinDays, olderThanDays, exists, notExists"));
                    }
                    _ => return Err(bad_op("before, after, withinDays, olderThanDays")),
                };
                if field == "createdAt" { Condition::CreatedAt(test) } else { Condition::LastInboundAt(test) }
            }
            "conversationStatus" => {
                let negate = in_or_not(op).ok_or_else(|| bad_op("in, notIn"))?;
                let any_of = list(value, at, op)?
                    .into_iter()
                    .map(|s| match s.to_ascii_lowercase().as_str() {
                        "open" => Ok(Some(ConversationStatus::Open)),
                        "pending" => Ok(Some(ConversationStatus::Pending)),
                        "resolved" => Ok(Some(ConversationStatus::Resolved)),
                        "none" => Ok(None),
                        _ => Err(invalid(at, format!("\"{s}\" is not open, pending, resolved or none"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Condition::ConversationStatus { any_of, negate }
            }
            "country" => {
                let negate = in_or_not(op).ok_or_else(|| bad_op("in, notIn"))?;
                let any_of = list(value, at, op)?
                    .into_iter()
                    .map(|s| Country::parse(&s).map_err(|m| invalid(at, m)))
                    .collect::<Result<Vec<_>, _>>()?;
                Condition::Country { any_of, negate }
            }
            "optedOut" => {
                if op != "is" {
                    return Err(bad_op("is"));
                }
                let b = value.and_then(Value::as_bool).ok_or_else(|| invalid(at, "op \"is\" needs true or false"))?;
                Condition::OptedOut(b)
            }
            other => return Err(invalid(at, format!("unknown field \"{other}\" (one of {FIELDS})"))),
        })
    }

    fn admits(&self, c: &contacts::Model, facts: &Facts, now: DateTime<Utc>) -> bool {
        match self {
            Condition::Tag { tag, has } => {
                let found = c
                    .tags
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|t| t.trim().eq_ignore_ascii_case(tag));
                found == *has
            }
            Condition::Attribute { name, test } => test.admits(c.attributes.get(name.as_str()), now),
            Condition::LastInboundAt(t) => t.admits(facts.last_inbound_at, now),
            Condition::CreatedAt(t) => t.admits(Some(c.created_at), now),
            Condition::ConversationStatus { any_of, negate } => any_of.contains(&facts.conversation_status) != *negate,
            Condition::Country { any_of, negate } => {
                let country = c.wa_id.as_deref().and_then(Country::of_wa_id);
                country.is_some_and(|k| any_of.contains(&k)) != *negate
            }
            Condition::OptedOut(b) => c.opted_out == *b,
        }
    }

    fn to_json(&self) -> Value {
        let date = |field: &str, t: &DateTest| match t {
            DateTest::Exists(b) => json!({"field": field, "op": if *b { "exists" } else { "notExists" }}),
            DateTest::Before(d) => json!({"field": field, "op": "before", "value": d.to_rfc3339()}),
            DateTest::After(d) => json!({"field": field, "op": "after", "value": d.to_rfc3339()}),
            DateTest::WithinDays(n) => json!({"field": field, "op": "withinDays", "value": n}),
            DateTest::OlderThanDays(n) => json!({"field": field, "op": "olderThanDays", "value": n}),
        };
        let status = |s: &Option<ConversationStatus>| match s {
            Some(ConversationStatus::Open) => "open",
            Some(ConversationStatus::Pending) => "pending",
            Some(ConversationStatus::Resolved) => "resolved",
            None => "none",
        };
        let in_op = |negate: bool| if negate { "notIn" } else { "in" };
        match self {
            Condition::Tag { tag, has } => {
                json!({"field": "tag", "op": if *has { "has" } else { "notHas" }, "value": tag})
            }
            Condition::Attribute { name, test } => {
                let mut v = match test {
                    ValueTest::Exists(b) => json!({"op": if *b { "exists" } else { "notExists" }}),
                    ValueTest::Equals { value, negate } => {
                        json!({"op": if *negate { "notEquals" } else { "equals" }, "value": value})
                    }
                    ValueTest::Contains(s) => json!({"op": "contains", "value": s}),
                    ValueTest::Number(cmp, n) => {
                        let op = match cmp {
                            Cmp::Gt => "gt",
                            Cmp::Gte => "gte",
                            Cmp::Lt => "lt",
                            Cmp::Lte => "lte",
                        };
                        // Whole numbers as written (`90`, not `90.0`).
                        let value = if n.fract() == 0.0 && n.abs() < 9.0e15 { json!(*n as i64) } else { json!(n) };
                        json!({"op": op, "value": value})
                    }
                    ValueTest::Date(t) => date("", t),
                };
                v["field"] = json!("attribute");
                v["name"] = json!(name);
                v
            }
            Condition::LastInboundAt(t) => date("lastInboundAt", t),
            Condition::CreatedAt(t) => date("createdAt", t),
            Condition::ConversationStatus { any_of, negate } => json!({
                "field": "conversationStatus", "op": in_op(*negate),
                "value": any_of.iter().map(status).collect::<Vec<_>>(),
            }),
            Condition::Country { any_of, negate } => {
                let codes: Vec<&str> = any_of.iter().map(|c| c.0.as_ref()).collect();
                json!({"field": "country", "op": in_op(*negate), "value": codes})
            }
            Condition::OptedOut(b) => json!({"field": "optedOut", "op": "is", "value": b}),
        }
    }
}

impl ValueTest {
    fn admits(&self, v: Option<&Value>, now: DateTime<Utc>) -> bool {
        let v = v.filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()));
        let as_text = |v: &Value| match v {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        match self {
            ValueTest::Exists(b) => v.is_some() == *b,
            ValueTest::Equals { value, negate } => {
                v.is_some_and(|v| as_text(v).eq_ignore_ascii_case(value.trim())) != *negate
            }
            ValueTest::Contains(s) => v.is_some_and(|v| as_text(v).to_lowercase().contains(&s.trim().to_lowercase())),
            ValueTest::Number(cmp, n) => {
                let x = v.and_then(|v| match v {
                    Value::Number(x) => x.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                    _ => None,
                });
                x.is_some_and(|x| match cmp {
                    Cmp::Gt => x > *n,
                    Cmp::Gte => x >= *n,
                    Cmp::Lt => x < *n,
                    Cmp::Lte => x <= *n,
                })
            }
            ValueTest::Date(t) => t.admits(v.and_then(Value::as_str).and_then(parse_date), now),
        }
    }
}

impl DateTest {
    fn admits(&self, d: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let days = |n: u32| chrono::Duration::days(i64::from(n));
        match (self, d) {
            (DateTest::Exists(b), d) => d.is_some() == *b,
            (_, None) => false,
            (DateTest::Before(t), Some(d)) => d < *t,
            (DateTest::After(t), Some(d)) => d > *t,
            (DateTest::WithinDays(n), Some(d)) => d >= now - days(*n),
            (DateTest::OlderThanDays(n), Some(d)) => d < now - days(*n),
        }
    }
}

fn text(v: Option<&Value>, at: &str, op: &str) -> Result<String, Invalid> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= 500)
        .map(str::to_string)
        .ok_or_else(|| invalid(at, format!("op \"{op}\" needs a text value (1 to 500 characters)")))
}

fn no_value(v: Option<&Value>, at: &str, op: &str) -> Result<(), Invalid> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(invalid(at, format!("op \"{op}\" takes no value"))),
    }
}

fn list(v: Option<&Value>, at: &str, op: &str) -> Result<Vec<String>, Invalid> {
    let items = v.and_then(Value::as_array).filter(|a| !a.is_empty() && a.len() <= 300);
    let items = items.ok_or_else(|| invalid(at, format!("op \"{op}\" needs a list of 1 to 300 values")))?;
    items
        .iter()
        .map(|x| x.as_str().map(str::to_string).ok_or_else(|| invalid(at, "the list holds text values")))
        .collect()
}

fn in_or_not(op: &str) -> Option<bool> {
    match op {
        "in" => Some(false),
        "notIn" => Some(true),
        _ => None,
    }
}

fn date_test(op: &str, v: Option<&Value>, at: &str) -> Result<DateTest, Invalid> {
    match op {
        "withinDays" | "olderThanDays" => {
            let n = v
                .and_then(Value::as_u64)
                .filter(|n| (1..=36_500).contains(n))
                .ok_or_else(|| invalid(at, format!("op \"{op}\" needs a whole number of days (1 to 36500)")))?;
            let n = n as u32;
            Ok(if op == "withinDays" { DateTest::WithinDays(n) } else { DateTest::OlderThanDays(n) })
        }
        _ => {
            let d = v
                .and_then(Value::as_str)
                .and_then(parse_date)
                .ok_or_else(|| invalid(at, format!("op \"{op}\" needs a date: 2026-12-31 or 2026-12-31T09:00:00Z")))?;
            Ok(if op == "before" { DateTest::Before(d) } else { DateTest::After(d) })
        }
    }
}

/// RFC 3339, or a calendar date (its midnight, UTC).
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(wa: &str, tags: Value, attrs: Value, opted_out: bool, days_old: i64) -> contacts::Model {
        let now = Utc::now();
        contacts::Model {
            id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            wa_id: Some(wa.into()),
            user_id: None,
            profile_name: None,
            username: None,
            name: None,
            opted_out,
            opted_out_at: None,
            opt_out_source: None,
            tags,
            attributes: attrs,
            created_at: now - chrono::Duration::days(days_old),
            updated_at: now,
        }
    }

    fn rule(v: Value) -> Rule {
        Rule::parse(&v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn conditions_groups_and_negation() {
        let now = Utc::now();
        let berlin = contact(
            "4915112345678",
            json!(["VIP"]),
            json!({"city": "Berlin", "points": 120, "since": "2024-05-01", "code": "42"}),
            false,
            10,
        );
        let ny = contact("12125550123", json!([]), json!({"city": "New York", "points": "80"}), true, 400);
        let facts = Facts { last_inbound_at: Some(now - chrono::Duration::days(3)), conversation_status: None };
        let none = Facts::default();
        let cases: Vec<(Value, bool, bool)> = vec![
            (json!({"field": "tag", "op": "has", "value": "vip"}), true, false),
            (json!({"field": "tag", "op": "notHas", "value": "vip"}), false, true),
            (json!({"field": "attribute", "name": "city", "op": "equals", "value": "berlin"}), true, false),
            (json!({"field": "attribute", "name": "city", "op": "notEquals", "value": "berlin"}), false, true),
            (json!({"field": "attribute", "name": "city", "op": "contains", "value": "YORK"}), false, true),
            (json!({"field": "attribute", "name": "points", "op": "gte", "value": 100}), true, false),
            (json!({"field": "attribute", "name": "points", "op": "lt", "value": 100}), false, true),
            (json!({"field": "attribute", "name": "code", "op": "equals", "value": 42}), true, false),
            (json!({"field": "attribute", "name": "since", "op": "before", "value": "2025-01-01"}), true, false),
            (json!({"field": "attribute", "name": "since", "op": "exists"}), true, false),
            (json!({"field": "attribute", "name": "since", "op": "notExists"}), false, true),
            (json!({"field": "createdAt", "op": "withinDays", "value": 30}), true, false),
            (json!({"field": "createdAt", "op": "olderThanDays", "value": 365}), false, true),
            (json!({"field": "lastInboundAt", "op": "withinDays", "value": 7}), true, false),
            (json!({"field": "lastInboundAt", "op": "notExists"}), false, true),
            (json!({"field": "conversationStatus", "op": "in", "value": ["none"]}), true, true),
            (json!({"field": "conversationStatus", "op": "notIn", "value": ["open", "none"]}), false, false),
            (json!({"field": "country", "op": "in", "value": ["de", "AT"]}), true, false),
            (json!({"field": "country", "op": "in", "value": ["US"]}), false, true),
            (json!({"field": "country", "op": "notIn", "value": ["US"]}), true, false),
            (json!({"field": "optedOut", "op": "is", "value": true}), false, true),
            (
                json!({"any": [{"field": "tag", "op": "has", "value": "vip"},
                               {"field": "attribute", "name": "city", "op": "contains", "value": "york"}]}),
                true,
                true,
            ),
            (
                json!({"all": [{"field": "optedOut", "op": "is", "value": false},
                               {"not": {"field": "country", "op": "in", "value": ["US", "CA"]}}]}),
                true,
                false,
            ),
        ];
        for (v, want_berlin, want_ny) in cases {
            let r = rule(v.clone());
            assert_eq!(r.admits(&berlin, &facts, now), want_berlin, "berlin: {v}");
            assert_eq!(r.admits(&ny, &none, now), want_ny, "new york: {v}");
            // The stored form reads back to the same rule.
            assert_eq!(Rule::parse(&r.to_json()), Ok(r.clone()), "round trip: {v}");
        }
    }

    #[test]
    fn bad_segments_say_where_and_why() {
        let err = |v: Value| Rule::parse(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"all": [{"field": "tag", "op": "has", "value": "a"},
                               {"any": [{"field": "attribute", "name": "p", "op": "gte", "value": "x"}]}]})),
            "all[1].any[0]: op \"gte\" needs a number"
        );
        assert!(err(json!({"field": "colour", "op": "is"})).contains("unknown field \"colour\""));
        assert!(err(json!({"field": "tag", "op": "equals", "value": "a"})).contains("takes op has, notHas"));
        assert!(err(json!({"field": "country", "op": "in", "value": ["XX"]})).contains("not a country code"));
        assert!(err(json!({"field": "createdAt", "op": "before", "value": "soon"})).contains("needs a date"));
        assert!(err(json!({"field": "attribute", "op": "exists"})).contains("needs \"name\""));
        assert!(err(json!({"all": []})).contains("all: must not be empty"));
        assert!(
            err(json!({"all": [{"not": {"all": [{"any": [{"all": [{"any": [{"all": [
            {"field": "optedOut", "op": "is", "value": true}]}]}]}]}]}}]}))
            .contains("nest at most")
        );
        assert!(err(json!([1])).contains("must be an object"));
        let many: Vec<Value> =
            (0..=MAX_CONDITIONS).map(|_| json!({"field": "optedOut", "op": "is", "value": true})).collect();
        assert!(err(json!({"any": many})).contains("at most 100 conditions"));
    }

    #[test]
    fn countries_come_from_the_number_plan() {
        let of = |w: &str| Country::of_wa_id(w).map(|c| c.0.as_ref().to_string());
        assert_eq!(of("4915112345678").as_deref(), Some("DE"));
        assert_eq!(of("12125550123").as_deref(), Some("US"));
        assert_eq!(of("14165550123").as_deref(), Some("CA"));
        assert_eq!(of("442071234567").as_deref(), Some("GB"));
        assert_eq!(of("447911123456").as_deref(), Some("GG"), "Guernsey mobiles share +44");
        assert_eq!(of("999"), None);
    }
}
