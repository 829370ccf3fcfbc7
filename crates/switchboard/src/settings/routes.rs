//! `/api/settings`: every tenant member reads them; TENANT_ADMIN changes them.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, BusinessHours, SettingsChanges, SettingsDto};
use crate::access::extract::{Authed, ClientIp, TenantAdminRole, TenantMember};
use crate::domain::{Email, parse_name};
use crate::error::{AppResult, ErrorBody, Validator};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, update_settings))
}

/// Theme changes; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThemeChanges {
    /// `#rrggbb`.
    pub color: Option<String>,
    /// 1 to 50 characters.
    pub name: Option<String>,
    /// An https URL; `null` removes the logo.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub logo_url: Option<Option<String>>,
}

/// Settings changes; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSettingsRequest {
    /// The workspace name, 1 to 100 characters.
    pub name: Option<String>,
    pub theme: Option<ThemeChanges>,
    /// `{"monday": {"open": "09:00", "close": "17:00"}, "sunday": null, …}`; missing days are
    /// closed; `null` removes business hours.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<BusinessHours>)]
    pub business_hours: Option<Option<Value>>,
    /// IANA name, e.g. `Europe/Madrid`.
    pub time_zone: Option<String>,
    /// 1 to 20 keywords of 1 to 30 characters (stored upper-case).
    pub opt_out_keywords: Option<Vec<String>>,
    pub auto_assign: Option<bool>,
    /// e.g. `en_US`.
    pub default_language: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub billing_email: Option<Option<String>>,
    /// `{"messages": 2, "days": 7}`: at most 2 marketing templates per contact in any 7 days,
    /// across campaigns; `null` removes the cap.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<service::MarketingCap>)]
    pub marketing_cap: Option<Option<Value>>,
}

fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::<T>::deserialize(d)?))
}

/// The tenant's settings (any member; only TENANT_ADMIN may change them).
#[utoipa::path(get, path = "/api/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = SettingsDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_settings(State(state): State<AppState>, auth: Authed<TenantMember>) -> AppResult<axum::Json<SettingsDto>> {
    Ok(axum::Json(service::get(&state, auth.tenant()?).await?))
}

/// Change settings (TENANT_ADMIN); recorded in the audit log as `settings.update`.
#[utoipa::path(patch, path = "/api/settings", tag = "settings", request_body = UpdateSettingsRequest,
    security(("bearer" = [])),
    responses((status = 200, body = SettingsDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    auth: Authed<TenantAdminRole>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<UpdateSettingsRequest>,
) -> AppResult<axum::Json<SettingsDto>> {
    let mut v = Validator::new();
    let mut ch = SettingsChanges {
        name: req.name.as_deref().and_then(|n| v.check("name", parse_name(n, 100))),
        ..Default::default()
    };
    if let Some(t) = &req.theme {
        ch.theme_color = t.color.as_deref().and_then(|c| v.check("theme.color", service::parse_color(c)));
        ch.theme_name = t.name.as_deref().and_then(|n| v.check("theme.name", parse_name(n, 50)));
        ch.theme_logo_url = match &t.logo_url {
            None => None,
            Some(None) => Some(None),
            Some(Some(u)) => v.check("theme.logoUrl", service::parse_logo_url(u)).map(Some),
        };
    }
    ch.business_hours = match &req.business_hours {
        None => None,
        Some(None) => Some(None),
        Some(Some(h)) => service::parse_business_hours(&mut v, h),
    };
    ch.time_zone = req.time_zone.as_deref().and_then(|z| v.check("timeZone", service::parse_time_zone(z)));
    ch.opt_out_keywords =
        req.opt_out_keywords.as_deref().and_then(|k| v.check("optOutKeywords", service::parse_keywords(k)));
    ch.auto_assign = req.auto_assign;
    ch.marketing_cap = match &req.marketing_cap {
        None => None,
        Some(None) => Some(None),
        Some(Some(c)) => v.check("marketingCap", service::MarketingCap::parse(c)).map(Some),
    };
    ch.default_language =
        req.default_language.as_deref().and_then(|l| v.check("defaultLanguage", service::parse_language(l)));
    ch.billing_email = match &req.billing_email {
        None => None,
        Some(None) => Some(None),
        Some(Some(e)) => v.check("billingEmail", Email::parse(e)).map(|e| Some(e.as_str().to_string())),
    };
    v.finish()?;
    Ok(axum::Json(service::update(&state, auth.tenant()?, auth.user_id(), ch, &ip).await?))
}
