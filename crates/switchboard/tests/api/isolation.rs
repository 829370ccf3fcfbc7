use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// Each tenant sees only itself; another tenant's refresh token cannot be ended by a stranger.
#[tokio::test]
async fn tenants_see_only_themselves() {
    let app = spawn_app().await;
    let a = app.register("Tenant A", "a@a.test").await;
    let b = app.register("Tenant B", "b@b.test").await;
    let me_a: Value = app.get("/api/auth/me", Some(&a.access)).await.json().await.unwrap();
    let me_b: Value = app.get("/api/auth/me", Some(&b.access)).await.json().await.unwrap();
    assert_eq!(me_a["tenant"]["id"], a.tenant_id.as_str());
    assert_eq!(me_b["tenant"]["id"], b.tenant_id.as_str());
    assert_ne!(me_a["tenant"]["id"], me_b["tenant"]["id"]);

    // B presenting A's refresh token at logout is refused and A's session survives.
    let r = app.post("/api/auth/logout", &json!({"refreshToken": a.refresh}), Some(&b.access)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.post("/api/auth/refresh", &json!({"refreshToken": a.refresh}), None).await;
    assert_eq!(r.status(), StatusCode::OK);
}
