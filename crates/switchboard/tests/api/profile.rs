//! A user's own profile: `PATCH /api/auth/me` (name) and `POST /api/auth/password`, for every role
//! but not for API keys; and the same two forms in Settings → Profile, which work without script.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use switchboard::entities::enums::Role;
use switchboard::entities::{agents, audit_log};

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn audit(app: &TestApp, action: &str) -> Vec<audit_log::Model> {
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action))
        .order_by_asc(audit_log::Column::CreatedAt)
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> Response {
    app.post("/api/auth/login", &json!({"email": email, "password": password}), None).await
}

#[tokio::test]
async fn name_changes_show_in_me_for_every_role() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let res = app.patch("/api/auth/me", &json!({"name": "  Ana María  "}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["user"]["name"], "Ana María");
    assert_eq!(b["tenant"]["id"], a.tenant_id.as_str());
    let me: Value = app.get("/api/auth/me", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(me["user"]["name"], "Ana María");
    // The inbox shows agents by their agent row's name: it follows.
    let agent = agents::Entity::find()
        .filter(agents::Column::UserId.eq(a.user_id.parse::<uuid::Uuid>().unwrap()))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agent.display_name, "Ana María");
    let entries = audit(&app, "user.updated").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor_user_id.unwrap().to_string(), a.user_id);
    assert_eq!(entries[0].details["name"], json!({"from": "Ana Admin", "to": "Ana María"}));

    let billing = app.user_with_role(&a.tenant_id, "bo@acme.test", Role::BillingAdmin).await;
    let res = app.patch("/api/auth/me", &json!({"name": "Bo"}), Some(&billing)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let root = app.system_admin().await;
    let res = app.patch("/api/auth/me", &json!({"name": "Root Operator"}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["user"]["name"], "Root Operator");
    assert!(b["tenant"].is_null());
}

#[tokio::test]
async fn bad_names_are_422_naming_the_field_and_anonymous_calls_401() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    for body in [json!({"name": "   "}), json!({}), json!({"name": "x".repeat(101)}), json!({"name": "a\u{0007}b"})] {
        let res = app.patch("/api/auth/me", &body, Some(&a.access)).await;
        let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(b["error"]["details"]["fields"][0]["field"], "name", "{body}");
    }
    let me: Value = app.get("/api/auth/me", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(me["user"]["name"], "Ana Admin");
    assert!(audit(&app, "user.updated").await.is_empty());

    // The web session's cookie works too, with the CSRF header like every cookie call.
    let cookie_patch = |csrf: Option<&'static str>| {
        let mut r = browser()
            .patch(app.url("/api/auth/me"))
            .header(COOKIE, format!("sb_access={}; sb_csrf={CSRF}", a.access))
            .json(&json!({"name": "Ana Cookie"}));
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.send()
    };
    assert_error(cookie_patch(None).await.unwrap(), StatusCode::FORBIDDEN, "csrf_failed").await;
    assert_eq!(cookie_patch(Some(CSRF)).await.unwrap().status(), StatusCode::OK);

    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    assert!(doc["paths"]["/api/auth/me"].get("patch").is_some());
    assert!(doc["paths"]["/api/auth/password"].get("post").is_some());

    let res = app.patch("/api/auth/me", &json!({"name": "X"}), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    let res = app.post("/api/auth/password", &body, None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.post("/api/auth/password", &json!({"newPassword": "short"}), Some(&a.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields: Vec<&str> =
        b["error"]["details"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["currentPassword", "newPassword"]);
}

#[tokio::test]
async fn api_keys_cannot_change_their_creators_account() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let res = app.post("/api/api-keys", &json!({"name": "CRM", "scopes": ["admin"]}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let key = res.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_string();
    let res = app.patch("/api/auth/me", &json!({"name": "Hijacked"}), Some(&key)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    let res = app.post("/api/auth/password", &body, Some(&key)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(login(&app, "ana@acme.test", PASSWORD).await.status(), StatusCode::OK);
    let me: Value = app.get("/api/auth/me", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(me["user"]["name"], "Ana Admin");
}

#[tokio::test]
async fn password_change_checks_the_current_one_and_ends_every_session() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    // A second session (another device).
    let other: Value = login(&app, "ana@acme.test", PASSWORD).await.json().await.unwrap();

    let wrong = json!({"currentPassword": "not my password", "newPassword": NEW_PASSWORD});
    let res = app.post("/api/auth/password", &wrong, Some(&a.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_current_password").await;
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "currentPassword");
    assert!(!b.to_string().contains("argon2"));
    // Nothing changed: the old password and the sessions still work.
    assert_eq!(login(&app, "ana@acme.test", NEW_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "ana@acme.test", PASSWORD).await.status(), StatusCode::OK);
    let r = app.post("/api/auth/refresh", &json!({"refreshToken": a.refresh}), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(audit(&app, "user.password_change_failed").await.len(), 1);
    assert!(audit(&app, "user.password_changed").await.is_empty());

    let ok = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    let res = app.post("/api/auth/password", &ok, Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(login(&app, "ana@acme.test", PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(login(&app, "ana@acme.test", NEW_PASSWORD).await.status(), StatusCode::OK);
    for rt in [&refreshed["refreshToken"], &other["refreshToken"]] {
        let r = app.post("/api/auth/refresh", &json!({"refreshToken": rt}), None).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let entries = audit(&app, "user.password_changed").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].target_id.as_deref(), Some(a.user_id.as_str()));
    assert!(!entries[0].details.to_string().contains(NEW_PASSWORD));
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_sign_ins() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let wrong = json!({"currentPassword": "not my password", "newPassword": NEW_PASSWORD});
    for _ in 0..5 {
        let res = app.post("/api/auth/password", &wrong, Some(&a.access)).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let ok = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    let res = app.post("/api/auth/password", &ok, Some(&a.access)).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(login(&app, "ana@acme.test", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

// ---------------------------------------------------------------- Settings → Profile (no script)

const CSRF: &str = "csrf-test-token-0123456789";

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `application/x-www-form-urlencoded`, as a browser submits a form.
fn urlencoded(form: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

async fn form_post(app: &TestApp, path: &str, access: &str, form: &[(&str, &str)]) -> Response {
    browser()
        .post(app.url(path))
        .header(COOKIE, format!("sb_access={access}; sb_csrf={CSRF}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(urlencoded(form))
        .send()
        .await
        .unwrap()
}

async fn profile_page(app: &TestApp, path: &str, access: &str) -> String {
    let res = browser()
        .get(app.url(path))
        .header(COOKIE, format!("sb_access={access}; sb_csrf={CSRF}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v[name.len() + 1..].split(';').next().unwrap_or("").to_string())
}

#[tokio::test]
async fn profile_forms_change_name_and_password_without_script() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let html = profile_page(&app, "/settings/profile", &a.access).await;
    assert!(
        html.contains("action=\"/settings/profile/name\"") && html.contains("action=\"/settings/profile/password\"")
    );
    assert!(html.contains(&format!("name=\"_csrf\" value=\"{CSRF}\"")));

    // Without the form's CSRF token: 403, nothing changes.
    let res = form_post(&app, "/settings/profile/name", &a.access, &[("name", "Mallory")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = form_post(&app, "/settings/profile/name", &a.access, &[("name", "Mallory"), ("_csrf", "wrong")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = form_post(
        &app,
        "/settings/profile/password",
        &a.access,
        &[("current_password", PASSWORD), ("new_password", NEW_PASSWORD), ("confirm_password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let me: Value = app.get("/api/auth/me", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(me["user"]["name"], "Ana Admin");
    assert_eq!(login(&app, "ana@acme.test", PASSWORD).await.status(), StatusCode::OK);
    // Not signed in: to the sign-in page.
    let res = browser()
        .post(app.url("/settings/profile/name"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(urlencoded(&[("name", "X"), ("_csrf", CSRF)]))
        .send()
        .await;
    assert_eq!(res.unwrap().headers()[LOCATION], "/login");

    // A bad name: the page again with the error on the field and the typed value.
    let res = form_post(&app, "/settings/profile/name", &a.access, &[("name", "  "), ("_csrf", CSRF)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"err-name\"") && html.contains("The name is required."), "{html}");

    let res = form_post(&app, "/settings/profile/name", &a.access, &[("name", "Ana Ruiz"), ("_csrf", CSRF)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/settings/profile?saved=name");
    let html = profile_page(&app, "/settings/profile?saved=name", &a.access).await;
    assert!(html.contains("data-testid=\"profile-notice\"") && html.contains("value=\"Ana Ruiz\""));

    // Password: wrong current, mismatched confirmation, too short — each on its field, nothing changes.
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[
                ("current_password", "nope nope nope"),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
            "err-current",
        ),
        (
            &[("current_password", PASSWORD), ("new_password", NEW_PASSWORD), ("confirm_password", "something else")],
            "err-confirm",
        ),
        (&[("current_password", PASSWORD), ("new_password", "short"), ("confirm_password", "short")], "err-new"),
    ];
    for (fields, err) in cases {
        let mut form = fields.to_vec();
        form.push(("_csrf", CSRF));
        let res = form_post(&app, "/settings/profile/password", &a.access, &form).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert!(res.text().await.unwrap().contains(&format!("id=\"{err}\"")), "{err}");
    }
    assert_eq!(login(&app, "ana@acme.test", PASSWORD).await.status(), StatusCode::OK);

    let res = form_post(
        &app,
        "/settings/profile/password",
        &a.access,
        &[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
            ("_csrf", CSRF),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/settings/profile?saved=password");
    // This browser is signed in again with a fresh session; every earlier one ended.
    let access = set_cookie(&res, "sb_access").expect("new access cookie");
    let refresh = set_cookie(&res, "sb_refresh").expect("new refresh cookie");
    let r = app.post("/api/auth/refresh", &json!({"refreshToken": a.refresh}), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.post("/api/auth/refresh", &json!({"refreshToken": refresh}), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let refresh = r.json::<Value>().await.unwrap()["refreshToken"].as_str().unwrap().to_string();
    let html = profile_page(&app, "/settings/profile?saved=password", &access).await;
    assert!(html.contains("Your password was changed"));
    assert_eq!(login(&app, "ana@acme.test", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "ana@acme.test", NEW_PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(audit(&app, "user.updated").await.len(), 1);
    assert_eq!(audit(&app, "user.password_changed").await.len(), 1);

    // Signing out with the plain form (no script, so no CSRF header) ends this browser's session.
    let res = browser()
        .post(app.url("/logout"))
        .header(COOKIE, format!("sb_access={access}; sb_refresh={refresh}; sb_csrf={CSRF}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(urlencoded(&[("_csrf", CSRF)]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/login");
    let r = app.post("/api/auth/refresh", &json!({"refreshToken": refresh}), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "signed out");
}
