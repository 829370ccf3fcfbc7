use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::db::DbOptions;

use crate::helpers::{spawn_app, start, test_config};

#[tokio::test]
async fn health_reports_database_and_queues() {
    let app = spawn_app().await;
    let res = app.get("/api/health", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["status"], "ok");
    assert_eq!(b["database"]["status"], "ok");
    assert!(b["redis"].is_null());
    assert!(b["jobs"].is_array());
    assert_eq!(app.get("/api/health/ready", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/health/live", None).await.status(), StatusCode::OK);
}

/// With the database unreachable: health and readiness say 503, liveness still 200, and a write
/// is refused with 503 rather than a 500 or a false success.
#[tokio::test]
async fn health_is_503_when_the_database_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let url = "postgres://postgres@127.0.0.1:1/none";
    let config = test_config(dir.path(), url, &[]);
    let state = switchboard::startup::build_state(config.clone(), false, DbOptions { max_connections: 2, lazy: true })
        .await
        .unwrap();
    let app = start(state, config, dir).await;
    let res = app.get("/api/health", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["database"]["status"], "unavailable");
    assert!(!b.to_string().contains("127.0.0.1:1"), "no connection details leak");
    assert_eq!(app.get("/api/health/ready", None).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/api/health/live", None).await.status(), StatusCode::OK);
    let res = app
        .post(
            "/api/auth/register",
            &json!({"tenantName": "A", "name": "A", "email": "a@a.test", "password": "long enough pw"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"]["code"], "database_unavailable");
}

#[tokio::test]
async fn openapi_document_and_docs_are_served() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/health",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from OpenAPI");
    }
    let res = app.get("/api/docs/", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("swagger"));
}
