use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::access::extract::AccessClaims;
use switchboard::entities::enums::Role;

use crate::helpers::{PASSWORD, assert_error, spawn_app};

#[tokio::test]
async fn register_creates_a_tenant_and_its_admin() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/api/auth/register",
            &json!({"tenantName": "Acme Coffee", "name": "Ana", "email": "Ana@Acme.test", "password": PASSWORD}),
            None,
        )
        .await;
    // Accepted, without a session: the answer must be the same when the email is taken.
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.headers().contains_key("x-request-id"));
    let accepted: Value = res.json().await.unwrap();
    assert_eq!(accepted["status"], "accepted");
    assert!(accepted.get("accessToken").is_none());
    let res = app.post("/api/auth/login", &json!({"email": "ana@acme.test", "password": PASSWORD}), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["user"]["email"], "ana@acme.test");
    assert_eq!(b["user"]["role"], "TENANT_ADMIN");
    assert_eq!(b["tenant"]["slug"], "acme-coffee");
    assert_eq!(b["tenant"]["status"], "active");
    assert_eq!(b["tokenType"], "Bearer");
    assert_eq!(b["expiresIn"], 900);
    assert!(b["user"].get("passwordHash").is_none());
    assert!(!b.to_string().contains("argon2"), "no hash in responses");

    let me: Value = app.get("/api/auth/me", b["accessToken"].as_str()).await.json().await.unwrap();
    assert_eq!(me["user"]["id"], b["user"]["id"]);
    assert_eq!(me["tenant"]["id"], b["tenant"]["id"]);
    assert_eq!(me["tenant"]["limits"]["maxAgents"], 10);
}

#[tokio::test]
async fn register_lists_every_invalid_field() {
    let app = spawn_app().await;
    let res =
        app.post("/api/auth/register", &json!({"tenantName": " ", "email": "nope", "password": "short"}), None).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields: Vec<&str> =
        b["error"]["details"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["tenantName", "name", "email", "password"]);
}

#[tokio::test]
async fn malformed_bodies_get_clear_errors() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    let res = app.client.post(app.url("/api/auth/login")).body("email=x").send().await.unwrap();
    assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let res = app.post("/api/auth/login", &json!({"email": 5}), None).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let res = app.get("/api/nothing-here", None).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get("/api/auth/login", None).await;
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

/// Sign-up used to answer 409 `email_taken`, which told anyone which emails have an account.
#[tokio::test]
async fn a_taken_email_gets_the_same_answer_as_a_new_one_whatever_its_case() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let app = spawn_app().await;
    let first = app.register("One", "dup@x.test").await;
    let sign_up = |tenant: &'static str, email: &'static str| {
        let app = &app;
        async move {
            let res = app
                .post(
                    "/api/auth/register",
                    &json!({"tenantName": tenant, "name": "B", "email": email, "password": "another long password"}),
                    None,
                )
                .await;
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let taken = sign_up("Two", "DUP@x.test").await;
    let new = sign_up("Three", "new@x.test").await;
    assert_eq!(taken, new, "a taken email is indistinguishable from a new one");
    assert_eq!(taken.0, StatusCode::ACCEPTED);
    // Nothing was created for the taken email, and its owner's password is unchanged.
    assert_eq!(app.count(switchboard::entities::tenants::Entity).await, 2);
    let res =
        app.post("/api/auth/login", &json!({"email": "dup@x.test", "password": "another long password"}), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.post("/api/auth/login", &json!({"email": "dup@x.test", "password": PASSWORD}), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The owner's tenant sees the attempt in its audit log.
    let n = switchboard::entities::audit_log::Entity::find()
        .filter(switchboard::entities::audit_log::Column::TenantId.eq(first.tenant_id.parse::<uuid::Uuid>().unwrap()))
        .filter(switchboard::entities::audit_log::Column::Action.eq("auth.register_existing"))
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn same_tenant_name_gets_a_distinct_slug() {
    let app = spawn_app().await;
    app.register("Acme", "a@x.test").await;
    let res = app
        .post(
            "/api/auth/register",
            &json!({"tenantName": "Acme", "name": "B", "email": "b@x.test", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = app.post("/api/auth/login", &json!({"email": "b@x.test", "password": PASSWORD}), None).await;
    let b: Value = res.json().await.unwrap();
    assert_ne!(b["tenant"]["slug"], "acme");
    assert!(b["tenant"]["slug"].as_str().unwrap().starts_with("acme-"));
}

#[tokio::test]
async fn login_with_unknown_email_and_wrong_password_look_the_same() {
    let app = spawn_app().await;
    let acct = app.register("Acme", "ana@x.test").await;
    let ok = app.post("/api/auth/login", &json!({"email": "ANA@x.test", "password": PASSWORD}), None).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let b: Value = ok.json().await.unwrap();
    assert_eq!(b["user"]["id"], acct.user_id.as_str());
    assert!(b["user"]["lastLoginAt"].is_string());

    let wrong = app.post("/api/auth/login", &json!({"email": "ana@x.test", "password": "wrong password!"}), None).await;
    let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown =
        app.post("/api/auth/login", &json!({"email": "who@x.test", "password": "wrong password!"}), None).await;
    let unknown = assert_error(unknown, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    app.register("Acme", "ana@x.test").await;
    for _ in 0..5 {
        let r =
            app.post("/api/auth/login", &json!({"email": "ana@x.test", "password": "not the password"}), None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.post("/api/auth/login", &json!({"email": "ana@x.test", "password": PASSWORD}), None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let acct = app.register("Acme", "ana@x.test").await;
    let r1 = app.post("/api/auth/refresh", &json!({"refreshToken": acct.refresh}), None).await;
    assert_eq!(r1.status(), StatusCode::OK);
    let b1: Value = r1.json().await.unwrap();
    let second = b1["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(second, acct.refresh);
    assert_eq!(app.get("/api/auth/me", b1["accessToken"].as_str()).await.status(), StatusCode::OK);

    // The first token was used: presenting it again is a replay and kills the whole family.
    let replay = app.post("/api/auth/refresh", &json!({"refreshToken": acct.refresh}), None).await;
    assert_error(replay, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let after = app.post("/api/auth/refresh", &json!({"refreshToken": second}), None).await;
    assert_error(after, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let garbage = app.post("/api/auth/refresh", &json!({"refreshToken": "rt_nonsense"}), None).await;
    assert_error(garbage, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let acct = app.register("Acme", "ana@x.test").await;
    let res = app.post("/api/auth/logout", &json!({"refreshToken": acct.refresh}), Some(&acct.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let r = app.post("/api/auth/refresh", &json!({"refreshToken": acct.refresh}), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Logout needs a valid access token.
    let r = app.post("/api/auth/logout", &json!({}), None).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn access_tokens_are_checked_strictly() {
    let app = spawn_app().await;
    let acct = app.register("Acme", "ana@x.test").await;
    let me = |t: String| {
        let app = &app;
        async move { app.get("/api/auth/me", Some(&t)).await.status() }
    };
    assert_eq!(me(acct.access.clone()).await, StatusCode::OK);

    // No token, garbage, a tampered payload.
    assert_eq!(app.get("/api/auth/me", None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me("abc.def.ghi".into()).await, StatusCode::UNAUTHORIZED);
    let parts: Vec<&str> = acct.access.split('.').collect();
    let mut claims: Value = {
        use base64::Engine;
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
    };
    claims["role"] = json!("SYSTEM_ADMIN");
    assert_eq!(me(format!("{}.{}.{}", parts[0], b64(&claims), parts[2])).await, StatusCode::UNAUTHORIZED);
    // alg "none".
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), parts[1]);
    assert_eq!(me(none).await, StatusCode::UNAUTHORIZED);

    // Correctly signed but expired, wrong audience, or the wrong token type.
    let now = chrono::Utc::now().timestamp();
    let base = AccessClaims {
        sub: acct.user_id.parse().unwrap(),
        tenant: Some(acct.tenant_id.parse().unwrap()),
        role: Role::TenantAdmin,
        typ: "access".into(),
        aud: "switchboard".into(),
        iat: now,
        exp: now + 600,
    };
    let sign = |c: &AccessClaims| app.state.jwt.encode(c).unwrap();
    assert_eq!(me(sign(&base)).await, StatusCode::OK);
    assert_eq!(me(sign(&AccessClaims { exp: now - 1, ..base.clone() })).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(sign(&AccessClaims { aud: "other".into(), ..base.clone() })).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(sign(&AccessClaims { typ: "refresh".into(), ..base.clone() })).await, StatusCode::UNAUTHORIZED);
    // A tenant role without a tenant is inconsistent.
    assert_eq!(me(sign(&AccessClaims { tenant: None, ..base.clone() })).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn roles_are_enforced() {
    let app = spawn_app().await;
    let acct = app.register("Acme", "ana@x.test").await;
    let res = app.get("/api/admin/tenants", Some(&acct.access)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.get("/api/admin/tenants", None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let root = app.system_admin().await;
    let res = app.get("/api/admin/tenants", Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["data"].as_array().unwrap().len(), 1);
    let me: Value = app.get("/api/auth/me", Some(&root)).await.json().await.unwrap();
    assert_eq!(me["user"]["role"], "SYSTEM_ADMIN");
    assert!(me["tenant"].is_null());
}

#[tokio::test]
async fn suspended_tenant_cannot_sign_in() {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    use switchboard::entities::{enums::TenantStatus, tenants};
    let app = spawn_app().await;
    let acct = app.register("Acme", "ana@x.test").await;
    let t = tenants::Entity::find_by_id(acct.tenant_id.parse::<uuid::Uuid>().unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut am: tenants::ActiveModel = t.into();
    am.status = Set(TenantStatus::Suspended);
    am.update(&app.state.db).await.unwrap();
    let r = app.post("/api/auth/login", &json!({"email": "ana@x.test", "password": PASSWORD}), None).await;
    assert_error(r, StatusCode::FORBIDDEN, "tenant_suspended").await;
    let r = app.post("/api/auth/refresh", &json!({"refreshToken": acct.refresh}), None).await;
    assert_error(r, StatusCode::FORBIDDEN, "tenant_suspended").await;
}
