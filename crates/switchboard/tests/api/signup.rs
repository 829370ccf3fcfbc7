//! Issue 14, weak spots: sign-up throttled per address, passwords per OWASP, sign-in throttling
//! that an attacker cannot turn against the account's owner, and the client address taken from a
//! trusted reverse proxy's `X-Forwarded-For`.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use switchboard::entities::audit_log;

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app, spawn_app_with};

const BEHIND_PROXY: (&str, &str) = ("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.1/32, ::1");

async fn sign_up(app: &TestApp, email: &str, password: &str, from: Option<&str>) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/api/auth/register"))
        .json(&json!({"tenantName": "Acme", "name": "Ana", "email": email, "password": password}));
    if let Some(ip) = from {
        r = r.header("x-forwarded-for", ip);
    }
    r.send().await.unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str, from: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_up_is_throttled_per_client_address() {
    let app = spawn_app_with(&[BEHIND_PROXY]).await;
    for i in 0..10 {
        let res = sign_up(&app, &format!("u{i}@x.test"), PASSWORD, Some("203.0.113.7")).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "sign-up {i}");
    }
    let res = sign_up(&app, "u10@x.test", PASSWORD, Some("203.0.113.7")).await;
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_registrations").await;
    // Someone else, behind the same proxy, is not affected.
    assert_eq!(sign_up(&app, "u11@x.test", PASSWORD, Some("198.51.100.2")).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn passwords_are_counted_in_characters_and_cannot_be_blank() {
    let app = spawn_app().await;
    for (i, bad) in
        [" ".repeat(10), "\0".repeat(10), "\t\n \r\u{a0}\u{3000}    ".into(), "é".repeat(9), "x".repeat(129)]
            .iter()
            .enumerate()
    {
        let res = sign_up(&app, &format!("bad{i}@x.test"), bad, None).await;
        let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(b["error"]["details"]["fields"][0]["field"], "password", "{bad:?}");
    }
    // Ten two-byte characters are ten characters; 128 four-byte ones are within the maximum.
    for (i, good) in ["é".repeat(10), "😀".repeat(128), "a b c d e f".into()].iter().enumerate() {
        let email = format!("good{i}@x.test");
        assert_eq!(sign_up(&app, &email, good, None).await.status(), StatusCode::ACCEPTED, "{good:?}");
        let res = app.post("/api/auth/login", &json!({"email": email, "password": good}), None).await;
        assert_eq!(res.status(), StatusCode::OK, "{good:?}");
    }
    // The same rule for a new password.
    let a = app.register("Acme", "ana@acme.test").await;
    let res = app
        .post(
            "/api/auth/password",
            &json!({"currentPassword": PASSWORD, "newPassword": " ".repeat(12)}),
            Some(&a.access),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn wrong_passwords_from_one_address_do_not_lock_the_owner_out() {
    let app = spawn_app_with(&[BEHIND_PROXY]).await;
    app.register("Acme", "ana@acme.test").await;
    let attacker = "203.0.113.7";
    for _ in 0..5 {
        let res = login(&app, "ana@acme.test", "not the password", attacker).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // The attacker now waits, even with the right password...
    let res = login(&app, "ana@acme.test", PASSWORD, attacker).await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // ...and waits longer after each further failure.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(login(&app, "ana@acme.test", "still not it", attacker).await.status(), StatusCode::UNAUTHORIZED);
    let res = login(&app, "ana@acme.test", PASSWORD, attacker).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "2");
    // The owner, from their own address, signs in at once.
    assert_eq!(login(&app, "ana@acme.test", PASSWORD, "198.51.100.2").await.status(), StatusCode::OK);
}

async fn failed_login_ips(app: &TestApp) -> Vec<Option<String>> {
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("auth.login_failed"))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.ip)
        .collect()
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    // Without trusted proxies the header is the client's own claim: ignored.
    let app = spawn_app().await;
    app.register("Acme", "ana@acme.test").await;
    for i in 0..5 {
        let res = login(&app, "ana@acme.test", "not the password", &format!("203.0.113.{i}")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login(&app, "ana@acme.test", PASSWORD, "203.0.113.99").await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert!(failed_login_ips(&app).await.iter().all(|ip| ip.as_deref() == Some("127.0.0.1")));

    // Behind a trusted proxy, the address it appended is the client's (a forged one left of it is not).
    let app = spawn_app_with(&[BEHIND_PROXY]).await;
    app.register("Acme", "ana@acme.test").await;
    let res = login(&app, "ana@acme.test", "not the password", "6.6.6.6, 203.0.113.7").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(failed_login_ips(&app).await, vec![Some("203.0.113.7".to_string())]);
}
