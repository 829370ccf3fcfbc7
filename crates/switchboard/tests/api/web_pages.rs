//! The web app's dashboard, templates, settings and platform pages, as a browser sees them: cookie
//! sessions (`sb_access`, `sb_refresh`, `sb_csrf`), roles (403 page), sign-in redirects, the
//! dashboard's SVG over a known data set, the theme as CSS variables, tenant isolation of pages that
//! take an id; and the session machinery the pages rely on (CSRF on cookie calls, transparent
//! refresh).

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with, wait_for};

const CSRF: &str = "csrf-test-token-0123456789";

/// A client that shows redirects instead of following them, like reading a browser's network log.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn cookies(access: &str) -> String {
    format!("sb_access={access}; sb_csrf={CSRF}")
}

/// GETs a page with the session cookie (or none): status, body, Location.
async fn page(app: &TestApp, path: &str, access: Option<&str>) -> (StatusCode, String, Option<String>) {
    let mut r = browser().get(app.url(path));
    if let Some(a) = access {
        r = r.header(COOKIE, cookies(a));
    }
    let res = r.send().await.expect("request");
    let status = res.status();
    let location = res.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_string());
    (status, res.text().await.unwrap(), location)
}

async fn page_ok(app: &TestApp, path: &str, access: &str) -> String {
    let (status, body, _) = page(app, path, Some(access)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// An API call authenticated by cookie, with the CSRF header when `csrf` is given.
async fn cookie_call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    access: &str,
    csrf: Option<&str>,
) -> Response {
    let mut r = browser().request(method, app.url(path)).header(COOKIE, cookies(access));
    if let Some(c) = csrf {
        r = r.header("x-csrf-token", c);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    r.send().await.expect("request")
}

/// The `<svg …>…</svg>` element with the given test id.
fn svg<'a>(html: &'a str, test_id: &str) -> &'a str {
    let at = html.find(&format!("data-testid=\"{test_id}\"")).unwrap_or_else(|| panic!("{test_id} in page"));
    let start = html[..at].rfind("<svg").expect("svg start");
    let end = at + html[at..].find("</svg>").expect("svg end") + "</svg>".len();
    &html[start..end]
}

/// The value of a cookie set by a response.
fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v[name.len() + 1..].split(';').next().unwrap_or("").to_string())
}

struct Team {
    admin: crate::helpers::Account,
    agent: String,
    billing: String,
    system: String,
}

async fn team(app: &TestApp) -> Team {
    let admin = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&admin.tenant_id, "al@acme.test", Role::Agent).await;
    let billing = app.user_with_role(&admin.tenant_id, "bo@acme.test", Role::BillingAdmin).await;
    let system = app.system_admin().await;
    Team { admin, agent, billing, system }
}

#[tokio::test]
async fn each_page_admits_its_roles_and_signs_in_the_others() {
    let app = spawn_app().await;
    let t = team(&app).await;
    const A: Role = Role::TenantAdmin;
    const G: Role = Role::Agent;
    const B: Role = Role::BillingAdmin;
    const S: Role = Role::SystemAdmin;
    let pages: &[(&str, &[Role])] = &[
        // Tenant-wide figures: the roles the analytics API admits.
        ("/dashboard", &[A, B]),
        ("/templates", &[A, G]),
        ("/templates/new", &[A]),
        ("/campaigns", &[A, G, B]),
        ("/campaigns/new", &[A]),
        ("/campaigns/segments", &[A, G, B]),
        ("/settings/accounts", &[A, G]),
        ("/settings/team", &[A]),
        ("/settings/theme", &[A]),
        ("/settings/workspace", &[A]),
        ("/settings/plan", &[A, B]),
        ("/settings/api-keys", &[A]),
        ("/settings/webhooks", &[A]),
        ("/settings/profile", &[A, G, B]),
        ("/admin", &[S]),
    ];
    let users = [(A, t.admin.access.as_str()), (G, &t.agent), (B, &t.billing), (S, &t.system)];
    for (path, allowed) in pages {
        for (role, token) in &users {
            let (status, body, _) = page(&app, path, Some(token)).await;
            if allowed.contains(role) {
                assert_eq!(status, StatusCode::OK, "{path} as {role}");
                assert!(body.contains("<main id=\"main\""), "{path} as {role} renders in the layout");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{path} as {role}");
                assert!(body.contains("Not allowed"), "{path} as {role} shows the 403 page");
            }
        }
        let (status, _, location) = page(&app, path, None).await;
        assert!(status.is_redirection(), "{path} signed out: {status}");
        let location = location.unwrap();
        assert!(location.starts_with("/login?next="), "{path} → {location}");
    }
    // The settings sub-navigation lists only what the role may open; /settings opens the first.
    for (token, first, hidden) in [
        (t.admin.access.as_str(), "/settings/accounts", None),
        (&t.agent, "/settings/accounts", Some("/settings/team")),
        (&t.billing, "/settings/plan", Some("/settings/accounts")),
    ] {
        let (status, _, location) = page(&app, "/settings", Some(token)).await;
        assert!(status.is_redirection());
        assert_eq!(location.as_deref(), Some(first));
        let body = page_ok(&app, "/settings/profile", token).await;
        assert!(body.contains(&format!("href=\"{first}\"")));
        if let Some(h) = hidden {
            assert!(!body.contains(&format!("href=\"{h}\"")), "{h} is hidden");
        }
    }
    let admin_nav = page_ok(&app, "/settings/profile", &t.admin.access).await;
    for s in ["accounts", "team", "workspace", "theme", "plan", "api-keys", "webhooks", "profile"] {
        assert!(admin_nav.contains(&format!("href=\"/settings/{s}\"")), "admin sees {s}");
    }
    let (status, _, _) = page(&app, "/settings", Some(&t.system)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A forged or stale cookie is no session.
    let (status, _, location) = page(&app, "/dashboard", Some("not-a-token")).await;
    assert!(status.is_redirection());
    assert!(location.unwrap().starts_with("/login"));
}

#[tokio::test]
async fn the_dashboard_draws_the_customer_messages() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let empty = page_ok(&app, "/dashboard", &admin.access).await;
    let chart = svg(&empty, "chart-messages");
    assert!(chart.contains("role=\"img\"") && chart.contains("aria-label=\"") && chart.contains("<title>"));
    assert!(chart.contains(&format!("data-date=\"{today}\" data-series=\"in\" data-value=\"0\"")));
    assert_eq!(chart.matches("data-series=\"in\"").count(), 30, "a bar per day for 30 days");
    assert!(empty.contains("data-testid=\"dashboard-start\""), "a new workspace is told where to start");

    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    for (from, text) in [("15551230001", "Hi"), ("15551230001", "Anyone?"), ("15551230002", "Hello")] {
        let res = app
            .post(
                &format!("/api/whatsapp-accounts/{id}/sandbox/messages"),
                &json!({"from": from, "message": {"type": "text", "body": text}}),
                Some(&admin.access),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let want = format!("data-date=\"{today}\" data-series=\"in\" data-value=\"3\"");
    // The chart reads the daily counters, the figures the messages: wait for both.
    let html = wait_for("the dashboard counts 3 messages in", || async {
        let html = page_ok(&app, "/dashboard", &admin.access).await;
        let figures = html.matches("data-kpi=\"messages-in\">3<").count() == 2;
        (figures && svg(&html, "chart-messages").contains(&want)).then_some(html)
    })
    .await;
    let chart = svg(&html, "chart-messages");
    assert!(chart.contains(&format!("data-date=\"{today}\" data-series=\"out\" data-value=\"0\"")));
    assert!(chart.contains("3 received and 0 sent"), "the label sums the range");
    assert!(!html.contains("data-testid=\"dashboard-start\""));
    // Today's and the 30 days' figures: 3 in, 2 conversations opened; the table repeats the chart.
    let kpis: Vec<&str> = html.match_indices("data-kpi=").map(|(i, _)| &html[i..i + 30]).collect();
    assert_eq!(html.matches("data-kpi=\"messages-in\">3<").count(), 2, "{kpis:?}");
    assert_eq!(html.matches("data-kpi=\"opened\">2<").count(), 2, "{kpis:?}");
    assert!(html.contains(&format!("<tr data-date=\"{today}\"><th scope=\"row\">{today}</th><td>3</td><td>0</td>")));
    assert!(svg(&html, "chart-rates").contains("no data"), "nothing sent: no rates");
    assert!(html.contains("data-testid=\"agents-table\"") && html.contains("ana@acme.test"));
    // Another tenant's dashboard does not see them.
    let other = app.register("Other", "olga@other.test").await;
    let html = page_ok(&app, "/dashboard", &other.access).await;
    assert!(
        svg(&html, "chart-messages").contains(&format!("data-date=\"{today}\" data-series=\"in\" data-value=\"0\""))
    );
}

#[tokio::test]
async fn the_theme_set_through_the_api_colors_every_page() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let html = page_ok(&app, "/settings/theme", &admin.access).await;
    assert!(html.contains("--brand: #0f766e;"));
    for hook in [
        "data-api=\"PATCH /api/settings\"",
        "name=\"theme.color\" value=\"#0f766e\" data-testid=\"theme-color\"",
        "name=\"theme.name\"",
        "name=\"theme.logoUrl\"",
        "data-testid=\"save-theme\"",
    ] {
        assert!(html.contains(hook), "{hook}");
    }
    let body =
        json!({"theme": {"color": "#FACC15", "name": "Acme Yellow", "logoUrl": "https://cdn.acme.test/logo.png"}});
    let res = cookie_call(&app, reqwest::Method::PATCH, "/api/settings", Some(&body), &admin.access, Some(CSRF)).await;
    assert_eq!(res.status(), StatusCode::OK);
    for path in ["/settings/theme", "/dashboard", "/templates", "/settings/profile"] {
        let html = page_ok(&app, path, &admin.access).await;
        assert!(html.contains("--brand: #facc15; --brand-ink: #111111;"), "{path} has the theme");
        assert!(html.contains("Acme Yellow"), "{path} has the product name");
        assert!(html.contains("src=\"https://cdn.acme.test/logo.png\""), "{path} has the logo");
    }
    let html = page_ok(&app, "/settings/theme", &admin.access).await;
    assert!(html.contains("value=\"#facc15\" data-testid=\"theme-color\""));
    // Invalid values are refused by field (the form shows them next to the inputs).
    let bad = json!({"theme": {"color": "red"}});
    let res = cookie_call(&app, reqwest::Method::PATCH, "/api/settings", Some(&bad), &admin.access, Some(CSRF)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "theme.color");
}

#[tokio::test]
async fn cookie_calls_need_the_csrf_header() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let body = json!({"name": "Acme Two"});
    let patch = reqwest::Method::PATCH;
    let res = cookie_call(&app, patch.clone(), "/api/settings", Some(&body), &admin.access, None).await;
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = cookie_call(&app, patch.clone(), "/api/settings", Some(&body), &admin.access, Some("wrong")).await;
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res =
        cookie_call(&app, reqwest::Method::POST, "/api/whatsapp-accounts/sandbox", None, &admin.access, None).await;
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    // Safe methods need no token; with the token the change goes through.
    let res = cookie_call(&app, reqwest::Method::GET, "/api/settings", None, &admin.access, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Acme");
    let res = cookie_call(&app, patch, "/api/settings", Some(&body), &admin.access, Some(CSRF)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Acme Two");
    let res =
        cookie_call(&app, reqwest::Method::POST, "/api/whatsapp-accounts/sandbox", None, &admin.access, Some(CSRF))
            .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // A bearer token is not a cookie: no CSRF token needed.
    let res = app.patch("/api/settings", &json!({"name": "Acme Three"}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_cookie_renews_a_missing_or_expired_access_cookie() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    // No access cookie at all: the page is served and new cookies come back.
    let res = browser()
        .get(app.url("/dashboard"))
        .header(COOKIE, format!("sb_refresh={}; sb_csrf={CSRF}", admin.refresh))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let access = set_cookie(&res, "sb_access").expect("a new access cookie");
    let refresh = set_cookie(&res, "sb_refresh").expect("a rotated refresh cookie");
    assert!(!access.is_empty() && !refresh.is_empty());
    assert_ne!(refresh, admin.refresh, "the refresh token rotates");
    let cookie_line = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("sb_access="))
        .unwrap();
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Lax"));
    assert!(res.text().await.unwrap().contains("data-testid=\"chart-messages\""));
    page_ok(&app, "/settings/profile", &access).await;

    // An expired access cookie (signed by us, 16 minutes old) with the new refresh cookie: an API
    // call succeeds, including an unsafe one with the CSRF header.
    let claims = expired_claims(&app, &access);
    assert_eq!(claims.sub.to_string(), admin.user_id);
    let expired = app.state.jwt.encode(&claims).unwrap();
    let (status, _, _) = page(&app, "/settings/profile", Some(&expired)).await;
    assert!(status.is_redirection(), "the expired token alone is no session");
    let res = browser()
        .patch(app.url("/api/settings"))
        .header(COOKIE, format!("sb_access={expired}; sb_refresh={refresh}; sb_csrf={CSRF}"))
        .header("x-csrf-token", CSRF)
        .json(&json!({"name": "Renewed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie(&res, "sb_access").is_some_and(|a| !a.is_empty() && a != expired));
    assert!(set_cookie(&res, "sb_refresh").is_some_and(|r| !r.is_empty() && r != refresh));
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Renewed");

    // A refresh token that is not valid signs the browser out (cookies cleared, sign-in page).
    let res = browser()
        .get(app.url("/dashboard"))
        .header(COOKIE, format!("sb_refresh=bogus; sb_csrf={CSRF}"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(set_cookie(&res, "sb_access").as_deref(), Some(""));
    assert_eq!(set_cookie(&res, "sb_refresh").as_deref(), Some(""));
}

/// The claims of `access`, moved 16 minutes into the past.
fn expired_claims(app: &TestApp, access: &str) -> switchboard::access::extract::AccessClaims {
    let validation = switchboard_crypto::jwt::Validation {
        audience: switchboard::access::extract::AUDIENCE.into(),
        typ: switchboard::access::extract::ACCESS_TYP.into(),
        now: chrono::Utc::now().timestamp(),
        leeway_secs: 0,
    };
    let mut c: switchboard::access::extract::AccessClaims = app.state.jwt.decode(access, &validation).unwrap();
    c.iat -= 16 * 60;
    c.exp -= 16 * 60;
    c
}

#[tokio::test]
async fn the_accounts_page_offers_a_sandbox_and_lists_the_numbers() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&admin.tenant_id, "al@acme.test", Role::Agent).await;
    let html = page_ok(&app, "/settings/accounts?welcome=1", &admin.access).await;
    assert!(html.contains("data-testid=\"welcome\""));
    assert!(html.contains("href=\"/sandbox\"") && html.contains("href=\"/inbox\""));
    assert!(html.contains("data-testid=\"add-sandbox\" data-action=\"POST /api/whatsapp-accounts/sandbox\""));
    assert!(!html.contains("data-testid=\"account-row\""));
    assert!(html.contains(&format!("{}/api/webhooks/whatsapp", app.state.public_url())));
    assert!(!page_ok(&app, "/settings/accounts", &admin.access).await.contains("data-testid=\"welcome\""));

    let res =
        cookie_call(&app, reqwest::Method::POST, "/api/whatsapp-accounts/sandbox", None, &admin.access, Some(CSRF))
            .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let acct: Value = res.json().await.unwrap();
    let html = page_ok(&app, "/settings/accounts", &admin.access).await;
    assert_eq!(html.matches("data-testid=\"account-row\"").count(), 1);
    assert!(html.contains(acct["displayPhoneNumber"].as_str().unwrap()));
    assert!(html.contains(&format!("data-copy=\"{}\"", acct["webhook"]["verifyToken"].as_str().unwrap())));
    assert!(html.contains("data-api=\"POST /api/whatsapp-accounts\""), "the connect form");
    // Agents read the list without the management controls.
    let html = page_ok(&app, "/settings/accounts", &agent).await;
    assert_eq!(html.matches("data-testid=\"account-row\"").count(), 1);
    assert!(!html.contains("data-testid=\"add-sandbox\""));
    assert!(!html.contains("data-api=\"POST /api/whatsapp-accounts\""));
    assert!(!html.contains(acct["webhook"]["verifyToken"].as_str().unwrap()), "the verify token is for admins");
    // The API's validation errors name the form's fields.
    let res = cookie_call(
        &app,
        reqwest::Method::POST,
        "/api/whatsapp-accounts?validate=false",
        Some(&json!({"wabaId": "12x", "accessToken": "short"})),
        &admin.access,
        Some(CSRF),
    )
    .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let html = page_ok(&app, "/settings/accounts", &admin.access).await;
    for f in b["error"]["details"]["fields"].as_array().unwrap() {
        let name = f["field"].as_str().unwrap();
        assert!(html.contains(&format!("name=\"{name}\"")), "the form has {name}");
    }
}

#[tokio::test]
async fn templates_show_status_and_rejection_reasons() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let agent = app.user_with_role(&admin.tenant_id, "al@acme.test", Role::Agent).await;
    let html = page_ok(&app, "/templates/new", &admin.access).await;
    assert!(!html.contains("data-template-form"), "no number, no form");
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&admin.access)).await;
    let account = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let html = page_ok(&app, "/templates/new", &admin.access).await;
    assert!(html.contains("data-template-form") && html.contains("data-testid=\"template-preview\""));
    assert!(html.contains(&format!("<option value=\"{account}\" selected>")));

    // Meta (the simulator) will reject it after its review delay.
    let sim = &app.state.sandbox.as_ref().unwrap().sim;
    sim.set_template_outcome("order_update", meta_sim::ReviewOutcome::Reject { reason: "INVALID_FORMAT".into() });
    let def = json!({"whatsappAccountId": account, "name": "order_update", "category": "UTILITY", "language": "en_US",
        "components": [{"type": "BODY", "text": "Hi {{1}}, your order ships.", "example": {"body_text": [["Ann"]]}}]});
    let res = app.post("/api/templates", &def, Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id: uuid::Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let html = page_ok(&app, "/templates", &admin.access).await;
    assert!(html.contains("data-status=\"PENDING\"") || html.contains("data-status=\"REJECTED\""));
    assert!(html.contains("order_update") && html.contains("Hi {{1}}, your order ships."));
    assert!(html.contains(&format!("data-action=\"DELETE /api/templates/{id}\"")));
    assert!(html.contains("data-action=\"POST /api/templates/sync\""));
    assert!(html.contains("data-live-templates"), "the list follows template.updated");

    // The review arrives by webhook; the page shows the status and the reason.
    let html = wait_for("the template rejected", || async {
        let html = page_ok(&app, "/templates?status=rejected", &admin.access).await;
        html.contains("data-status=\"REJECTED\"").then_some(html)
    })
    .await;
    assert!(html.contains("data-testid=\"rejection-reason\">INVALID_FORMAT"));
    // Meta's details (recommendation) are shown with the reason.
    let row = switchboard::entities::templates::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
    let mut row: switchboard::entities::templates::ActiveModel = row.into();
    row.status_details = Set(Some(json!({"rejection_info": {"reason": "Variables are not formatted correctly"}})));
    row.update(app.state.writer()).await.unwrap();
    let html = page_ok(&app, "/templates?status=REJECTED", &admin.access).await;
    assert!(html.contains("INVALID_FORMAT · Variables are not formatted correctly"));
    let html = page_ok(&app, "/templates?status=APPROVED", &admin.access).await;
    assert!(!html.contains("data-testid=\"template-row\""));
    // Agents read the list but cannot manage it.
    let html = page_ok(&app, "/templates", &agent).await;
    assert!(html.contains("order_update"));
    assert!(!html.contains("DELETE /api/templates") && !html.contains("/templates/new"));
    // Another tenant sees none of it.
    let other = app.register("Other", "olga@other.test").await;
    assert!(!page_ok(&app, "/templates", &other.access).await.contains("order_update"));
}

#[tokio::test]
async fn settings_sections_show_their_data() {
    let app = spawn_app_with(&[("SWITCHBOARD_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let billing = app.user_with_role(&admin.tenant_id, "bo@acme.test", Role::BillingAdmin).await;
    // Team: members with roles; an invited one shows as invited.
    let res = app.post("/api/users", &json!({"email": "ivy@acme.test", "role": "AGENT"}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = page_ok(&app, "/settings/team", &admin.access).await;
    assert_eq!(html.matches("data-testid=\"member-row\"").count(), 3);
    assert!(html.contains("ivy@acme.test") && html.contains(">invited<"));
    assert!(html.contains("data-api=\"POST /api/users\""));
    assert!(html.contains("data-testid=\"presence\"") && html.contains("name=\"maxConcurrent\""), "agents' capacity");
    // API keys: listed by prefix, never the secret.
    let res = app.post("/api/api-keys", &json!({"name": "CRM", "scopes": ["send"]}), Some(&admin.access)).await;
    let key: Value = res.json().await.unwrap();
    let html = page_ok(&app, "/settings/api-keys", &admin.access).await;
    assert!(html.contains("CRM") && html.contains(key["prefix"].as_str().unwrap()));
    assert!(!html.contains(key["key"].as_str().unwrap()));
    // Plan: the limits and this month's usage.
    let html = page_ok(&app, "/settings/plan", &billing).await;
    assert!(html.contains("data-testid=\"plan-name\">starter<"));
    assert!(html.contains("data-testid=\"meter-messages\"") && html.contains("data-testid=\"meter-seats\""));
    assert!(html.contains("Messages sent this month: 0 of 50000"));
    // Workspace: the general settings and business hours, in the form's field names.
    let change = json!({"businessHours": {"monday": {"open": "09:00", "close": "17:30"}}, "optOutKeywords": ["stop", "baja"],
        "autoAssign": true});
    assert_eq!(app.patch("/api/settings", &change, Some(&admin.access)).await.status(), StatusCode::OK);
    let html = page_ok(&app, "/settings/workspace", &admin.access).await;
    assert!(html.contains("name=\"businessHours.monday.open\" value=\"09:00\""));
    assert!(html.contains("name=\"businessHours.monday.close\" value=\"17:30\""));
    assert!(html.contains("name=\"businessHours.tuesday.open\" value=\"\""));
    assert!(html.contains("value=\"STOP, BAJA\"") && html.contains("data-type=\"bool\" checked"));
    // Profile: the user's own details; presence only for inbox roles.
    let html = page_ok(&app, "/settings/profile", &admin.access).await;
    assert!(html.contains("ana@acme.test") && html.contains("data-api=\"PATCH /api/agents/me\""));
    assert!(!page_ok(&app, "/settings/profile", &billing).await.contains("PATCH /api/agents/me"));

    // Webhooks: the endpoint and its deliveries page; another tenant's id is a 404 page.
    let res = app
        .post(
            "/api/webhook-endpoints",
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "description": "CRM sync"}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ep: Value = res.json().await.unwrap();
    let id = ep["id"].as_str().unwrap();
    let html = page_ok(&app, "/settings/webhooks", &admin.access).await;
    assert!(html.contains(&format!("href=\"/settings/webhooks/{id}\"")) && html.contains("CRM sync"));
    assert!(!html.contains(ep["secret"].as_str().unwrap()));
    let html = page_ok(&app, &format!("/settings/webhooks/{id}"), &admin.access).await;
    assert!(html.contains("http://127.0.0.1:9/hook"));
    let other = app.register("Other", "olga@other.test").await;
    let (status, body, _) = page(&app, &format!("/settings/webhooks/{id}"), Some(&other.access)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("127.0.0.1:9"));
    let (status, _, _) = page(&app, "/settings/webhooks/not-an-id", Some(&admin.access)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = page(&app, &format!("/settings/webhooks/{id}"), Some(&billing)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_platform_page_lists_tenants_and_suspends_them() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    app.register("Globex", "gil@globex.test").await;
    let system = app.system_admin().await;
    let html = page_ok(&app, "/admin", &system).await;
    assert_eq!(html.matches("data-testid=\"tenant-row\"").count(), 2);
    assert!(html.contains("Acme") && html.contains("Globex"));
    assert!(html.contains("data-kpi=\"tenants\">2<"));
    let suspend = format!(
        "data-action=\"PATCH /api/admin/tenants/{}\" data-body='{{\"status\":\"suspended\"}}'",
        admin.tenant_id
    );
    assert!(html.contains(&suspend), "a suspend button per tenant");

    let body = json!({"status": "suspended"});
    let res = cookie_call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/admin/tenants/{}", admin.tenant_id),
        Some(&body),
        &system,
        Some(CSRF),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = page_ok(&app, "/admin?status=suspended", &system).await;
    assert_eq!(html.matches("data-testid=\"tenant-row\"").count(), 1);
    assert!(html.contains("data-testid=\"reactivate\"") && html.contains("Acme"));
    let html = page_ok(&app, "/admin?status=active", &system).await;
    assert_eq!(html.matches("data-testid=\"tenant-row\"").count(), 1);
    assert!(html.contains("Globex"));
}

#[tokio::test]
async fn sign_up_in_the_browser_then_sign_in_lands_on_the_accounts_page() {
    let app = spawn_app().await;
    let res = browser().get(app.url("/signup")).send().await.unwrap();
    let csrf = set_cookie(&res, "sb_csrf").expect("a CSRF cookie for the form");
    let form = format!("_csrf={csrf}&tenant_name=Acme&name=Ana&email=ana%40acme.test&password=correct+horse+battery");
    let res = browser()
        .post(app.url("/signup"))
        .header(COOKIE, format!("sb_csrf={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    // The same page whether the email was new or taken: the sign-in form, email filled in, no
    // session yet (a session would tell that the email was new).
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie(&res, "sb_access").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("data-testid=\"form-notice\"") && html.contains("value=\"ana@acme.test\""), "{html}");
    assert!(html.contains("name=\"next\" value=\"/settings/accounts?welcome=1\""));
    let form = format!(
        "_csrf={csrf}&email=ana%40acme.test&password=correct+horse+battery&next=%2Fsettings%2Faccounts%3Fwelcome%3D1"
    );
    let res = browser()
        .post(app.url("/login"))
        .header(COOKIE, format!("sb_csrf={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()[LOCATION], "/settings/accounts?welcome=1");
    let access = set_cookie(&res, "sb_access").unwrap();
    let res = browser()
        .get(app.url("/settings/accounts?welcome=1"))
        .header(COOKIE, format!("sb_access={access}; sb_csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-testid=\"welcome\"") && html.contains("data-testid=\"add-sandbox\""));
    assert!(html.contains(&format!("<meta name=\"csrf-token\" content=\"{csrf}\">")));
}

#[tokio::test]
async fn an_invitation_link_signs_the_invitee_in() {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let invite = app.invite(&admin.access, "ivy@acme.test", "AGENT").await;
    let url = invite["inviteUrl"].as_str().unwrap();
    let path = &url[url.find("/invite/").unwrap()..];
    let res = browser().get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csrf = set_cookie(&res, "sb_csrf").unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("action=\"{path}\"")));
    let submit = |form: String| {
        browser()
            .post(app.url(path))
            .header(COOKIE, format!("sb_csrf={csrf}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    // A short password is refused next to its field; a wrong CSRF token is refused.
    let res = submit(format!("_csrf={csrf}&name=Ivy&password=short")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("id=\"err-password\""));
    let res = submit("_csrf=wrong&name=Ivy&password=correct+horse+battery".into()).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Accepted: signed in and sent to the inbox, as an agent.
    let res = submit(format!("_csrf={csrf}&name=Ivy+Agent&password=correct+horse+battery")).await.unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()[LOCATION], "/inbox");
    let access = set_cookie(&res, "sb_access").unwrap();
    let html = page_ok(&app, "/settings/profile", &access).await;
    assert!(html.contains("Ivy Agent") && html.contains("ivy@acme.test") && html.contains("Agent"));
    // The link works once.
    let res = submit(format!("_csrf={csrf}&password=correct+horse+battery")).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("not valid or was already used"));
}
