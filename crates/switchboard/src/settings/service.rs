//! Reading and changing a tenant's settings. The name, theme and billing email live in `tenants`
//! columns; the rest in its `settings` JSON (keys the webhook processor reads: `optOutKeywords`,
//! `autoAssign`).

use sea_orm::{ActiveModelTrait, EntityTrait, QuerySelect, Set, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit;
use crate::entities::tenants;
use crate::error::{AppError, AppResult, Validator};
use crate::ids::{TenantId, UserId};
use crate::state::AppState;
use crate::tenants::Theme;

pub const WEEKDAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// Opening hours of one day, `HH:MM` (24-hour clock, the tenant's time zone), open before close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DayHours {
    pub open: String,
    pub close: String,
}

/// Opening hours per weekday; `null` means closed that day.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct BusinessHours {
    pub monday: Option<DayHours>,
    pub tuesday: Option<DayHours>,
    pub wednesday: Option<DayHours>,
    pub thursday: Option<DayHours>,
    pub friday: Option<DayHours>,
    pub saturday: Option<DayHours>,
    pub sunday: Option<DayHours>,
}

/// At most `messages` marketing templates per contact in any `days` days, across campaigns; a
/// campaign skips a contact at the cap (`frequency_cap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketingCap {
    /// 1 to 100.
    pub messages: u32,
    /// 1 to 90.
    pub days: u32,
}

impl MarketingCap {
    pub fn parse(v: &Value) -> Result<Self, String> {
        let cap: MarketingCap = serde_json::from_value(v.clone())
            .map_err(|_| "must be {\"messages\": 1-100, \"days\": 1-90} or null".to_string())?;
        if !(1..=100).contains(&cap.messages) || !(1..=90).contains(&cap.days) {
            return Err("messages must be 1 to 100 and days 1 to 90".into());
        }
        Ok(cap)
    }
}

/// A tenant's settings as the API shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsDto {
    pub name: String,
    pub theme: Theme,
    /// `null`: no business hours set.
    pub business_hours: Option<BusinessHours>,
    /// IANA time zone name, e.g. `Europe/Madrid`.
    pub time_zone: String,
    /// A whole inbound message equal to one of these (case-insensitive) opts the contact out.
    pub opt_out_keywords: Vec<String>,
    /// Round-robin assignment of new conversations to online agents.
    pub auto_assign: bool,
    /// Template language used when none is given, e.g. `en_US`.
    pub default_language: String,
    pub billing_email: Option<String>,
    /// The marketing frequency cap per contact; `null`: none.
    pub marketing_cap: Option<MarketingCap>,
}

impl SettingsDto {
    /// The workspace's clock (UTC when the stored name is not a known zone).
    pub fn zone(&self) -> crate::domain::TimeZone {
        crate::domain::TimeZone::parse(&self.time_zone).unwrap_or(crate::domain::TimeZone(chrono_tz::UTC))
    }
}

/// Reads the settings of a tenant row, with defaults for missing keys.
pub fn dto(t: &tenants::Model) -> SettingsDto {
    let defaults = crate::tenants::default_settings();
    let get = |k: &str| t.settings.get(k).filter(|v| !v.is_null()).or_else(|| defaults.get(k)).cloned();
    SettingsDto {
        name: t.name.clone(),
        theme: Theme { color: t.theme_color.clone(), name: t.theme_name.clone(), logo_url: t.theme_logo_url.clone() },
        business_hours: t.settings.get("businessHours").cloned().and_then(|v| serde_json::from_value(v).ok()),
        time_zone: get("timeZone").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "UTC".into()),
        opt_out_keywords: get("optOutKeywords").and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default(),
        auto_assign: get("autoAssign").and_then(|v| v.as_bool()).unwrap_or(false),
        default_language: get("defaultLanguage")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "en_US".into()),
        billing_email: t.billing_email.clone(),
        marketing_cap: t.settings.get("marketingCap").and_then(|v| MarketingCap::parse(v).ok()),
    }
}

pub async fn get(state: &AppState, tenant: TenantId) -> AppResult<SettingsDto> {
    let t = crate::tenants::find(&state.db, tenant).await?.ok_or_else(|| AppError::not_found("tenant"))?;
    Ok(dto(&t))
}

/// `#rrggbb`, stored lower-case.
pub fn parse_color(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let ok = s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok { Ok(s.to_ascii_lowercase()) } else { Err("must be a colour like #0f766e".into()) }
}

/// An `https://` URL with a host, at most 2048 characters.
pub fn parse_logo_url(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let err = || "must be an https:// URL".to_string();
    if s.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let uri: axum::http::Uri = s.parse().map_err(|_| err())?;
    if uri.scheme_str() != Some("https") || uri.host().is_none_or(str::is_empty) {
        return Err(err());
    }
    Ok(s.to_string())
}

/// An IANA zone name known to the tz database (`domain::TimeZone`), stored canonically.
pub fn parse_time_zone(raw: &str) -> Result<String, String> {
    crate::domain::TimeZone::parse(raw).map(|z| z.name().to_string())
}

/// A WhatsApp language code: `en`, `en_US`, `fil`.
pub fn parse_language(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let (lang, region) = match s.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok = region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()));
    if lang_ok && region_ok { Ok(s.to_string()) } else { Err("must be a language code such as en_US".into()) }
}

/// 1 to 20 keywords of 1 to 30 characters, trimmed, upper-cased, deduplicated.
pub fn parse_keywords(raw: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for k in raw {
        let k = k.trim().to_uppercase();
        if k.is_empty() || k.chars().count() > 30 || k.chars().any(char::is_control) {
            return Err("each keyword must be 1 to 30 characters".into());
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    if out.is_empty() || out.len() > 20 {
        return Err("must hold 1 to 20 keywords".into());
    }
    Ok(out)
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Checks business hours (`null`, or an object of weekdays each `null` or `{open, close}`),
/// recording errors under `businessHours.<day>.<open|close>`.
pub fn parse_business_hours(v: &mut Validator, raw: &Value) -> Option<Option<BusinessHours>> {
    const F: &str = "businessHours";
    let obj = match raw {
        Value::Null => return Some(None),
        Value::Object(o) => o,
        _ => {
            v.push(F, "must be null or an object of weekdays");
            return None;
        }
    };
    let mut ok = true;
    for k in obj.keys() {
        if !WEEKDAYS.contains(&k.as_str()) {
            v.push(&format!("{F}.{k}"), "is not a weekday (monday … sunday)");
            ok = false;
        }
    }
    let mut days: Vec<Option<DayHours>> = Vec::new();
    for day in WEEKDAYS {
        let field = format!("{F}.{day}");
        match obj.get(day) {
            None | Some(Value::Null) => days.push(None),
            Some(Value::Object(h)) => {
                let mut times = [0u32; 2];
                let mut day_ok = true;
                for (i, key) in ["open", "close"].into_iter().enumerate() {
                    match h.get(key).and_then(Value::as_str).and_then(parse_hhmm) {
                        Some(t) => times[i] = t,
                        None => {
                            v.push(&format!("{field}.{key}"), "must be a time HH:MM");
                            day_ok = false;
                        }
                    }
                }
                ok &= day_ok;
                if day_ok && times[0] >= times[1] {
                    v.push(&format!("{field}.close"), "must be after open");
                    ok = false;
                }
                let text = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                days.push(Some(DayHours { open: text("open"), close: text("close") }));
            }
            Some(_) => {
                v.push(&field, "must be null or {\"open\":\"HH:MM\",\"close\":\"HH:MM\"}");
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let mut it = days.into_iter();
    let mut next = || it.next().flatten();
    Some(Some(BusinessHours {
        monday: next(),
        tuesday: next(),
        wednesday: next(),
        thursday: next(),
        friday: next(),
        saturday: next(),
        sunday: next(),
    }))
}

/// Parsed changes; `None` leaves a setting as it is.
#[derive(Default)]
pub struct SettingsChanges {
    pub name: Option<String>,
    pub theme_color: Option<String>,
    pub theme_name: Option<String>,
    pub theme_logo_url: Option<Option<String>>,
    pub business_hours: Option<Option<BusinessHours>>,
    pub time_zone: Option<String>,
    pub opt_out_keywords: Option<Vec<String>>,
    pub auto_assign: Option<bool>,
    pub default_language: Option<String>,
    pub billing_email: Option<Option<String>>,
    pub marketing_cap: Option<Option<MarketingCap>>,
}

/// Applies the changes and records `settings.update` with the keys that changed.
pub async fn update(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    ch: SettingsChanges,
    ip: &str,
) -> AppResult<SettingsDto> {
    let txn = state.writer().begin().await?;
    let t = tenants::Entity::find_by_id(tenant.0)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("tenant"))?;
    let before = dto(&t);
    let mut settings = match &t.settings {
        Value::Object(_) => t.settings.clone(),
        _ => crate::tenants::default_settings(),
    };
    let mut am: tenants::ActiveModel = t.clone().into();
    if let Some(n) = ch.name {
        am.name = Set(n);
    }
    if let Some(c) = ch.theme_color {
        am.theme_color = Set(c);
    }
    if let Some(n) = ch.theme_name {
        am.theme_name = Set(n);
    }
    if let Some(u) = ch.theme_logo_url {
        am.theme_logo_url = Set(u);
    }
    if let Some(e) = ch.billing_email {
        am.billing_email = Set(e);
    }
    if let Some(h) = ch.business_hours {
        settings["businessHours"] = serde_json::to_value(h).map_err(AppError::internal)?;
    }
    if let Some(z) = ch.time_zone {
        settings["timeZone"] = json!(z);
    }
    if let Some(k) = ch.opt_out_keywords {
        settings["optOutKeywords"] = json!(k);
    }
    if let Some(a) = ch.auto_assign {
        settings["autoAssign"] = json!(a);
    }
    if let Some(l) = ch.default_language {
        settings["defaultLanguage"] = json!(l);
    }
    if let Some(c) = ch.marketing_cap {
        settings["marketingCap"] = serde_json::to_value(c).map_err(AppError::internal)?;
    }
    am.settings = Set(settings);
    am.updated_at = Set(crate::db::now());
    let updated = am.update(&txn).await?;
    let after = dto(&updated);
    let (b, a) = (serde_json::to_value(&before).unwrap_or_default(), serde_json::to_value(&after).unwrap_or_default());
    let changed: Vec<&str> = [
        "name",
        "theme",
        "businessHours",
        "timeZone",
        "optOutKeywords",
        "autoAssign",
        "defaultLanguage",
        "billingEmail",
        "marketingCap",
    ]
    .into_iter()
    .filter(|k| b.get(k) != a.get(k))
    .collect();
    if !changed.is_empty() {
        audit::record(
            &txn,
            audit::Entry {
                tenant_id: Some(tenant.0),
                actor_user_id: Some(actor.0),
                action: "settings.update",
                target_type: Some("tenant"),
                target_id: Some(tenant.0.to_string()),
                details: json!({ "changed": changed }),
                ip: Some(ip),
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(parse_color("#0F766E").unwrap(), "#0f766e");
        for bad in ["0f766e", "#0f766", "#0f766g", "#0f766e0"] {
            assert!(parse_color(bad).is_err(), "{bad}");
        }
        assert!(parse_logo_url("https://cdn.example.com/logo.png").is_ok());
        for bad in ["http://x.com/a.png", "https://", "javascript:alert(1)", "logo.png"] {
            assert!(parse_logo_url(bad).is_err(), "{bad}");
        }
        for ok in ["UTC", "Europe/Madrid", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            assert!(parse_time_zone(ok).is_ok(), "{ok}");
        }
        for bad in ["Mars/Base", "Europe", "Europe/", "Europe/Atlantis", "Europe/Ma drid"] {
            assert!(parse_time_zone(bad).is_err(), "{bad}");
        }
        for ok in ["en", "en_US", "pt_BR", "fil"] {
            assert!(parse_language(ok).is_ok(), "{ok}");
        }
        for bad in ["EN", "en-US", "en_us", "english"] {
            assert!(parse_language(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_keywords(&[" stop".into(), "STOP".into(), "Baja".into()]).unwrap(), vec!["STOP", "BAJA"]);
        assert!(parse_keywords(&[]).is_err());
        assert!(parse_keywords(&["x".repeat(31)]).is_err());
    }

    #[test]
    fn business_hours() {
        let mut v = Validator::new();
        let h = parse_business_hours(&mut v, &json!({"monday": {"open": "09:00", "close": "17:30"}, "sunday": null}));
        assert!(v.finish().is_ok());
        let h = h.unwrap().unwrap();
        assert_eq!(h.monday.unwrap().close, "17:30");
        assert!(h.tuesday.is_none());
        let mut v = Validator::new();
        assert!(parse_business_hours(&mut v, &json!({"monday": {"open": "18:00", "close": "09:00"}})).is_none());
        assert!(parse_business_hours(&mut v, &json!({"funday": null})).is_none());
        assert!(parse_business_hours(&mut v, &json!({"monday": {"open": "9", "close": "24:00"}})).is_none());
        let e = v.finish().unwrap_err();
        let fields: Vec<String> =
            e.details["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_string()).collect();
        assert_eq!(
            fields,
            [
                "businessHours.monday.close",
                "businessHours.funday",
                "businessHours.monday.open",
                "businessHours.monday.close"
            ]
        );
    }
}
