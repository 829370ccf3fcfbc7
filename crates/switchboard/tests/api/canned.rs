use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::entities::canned_responses;
use switchboard::entities::enums::Role;

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn create(app: &TestApp, token: &str, shortcut: &str, title: &str, body: &str) -> Value {
    let res = app
        .post("/api/canned-responses", &json!({"shortcut": shortcut, "title": title, "body": body}), Some(token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "create {shortcut}");
    res.json().await.unwrap()
}

async fn shortcuts(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let res = app.get(&format!("/api/canned-responses{query}"), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    b["data"].as_array().unwrap().iter().map(|c| c["shortcut"].as_str().unwrap().to_string()).collect()
}

fn fields(e: &Value) -> Vec<String> {
    e["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn canned_responses_crud_search_and_unique_shortcuts() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let hello = create(&app, &a.access, "hello", "Greeting", "Hi! How can we help?").await;
    assert_eq!(hello["shortcut"], "hello");
    assert_eq!(hello["title"], "Greeting");
    assert_eq!(hello["createdBy"], a.user_id.as_str());
    for k in ["id", "createdAt", "updatedAt"] {
        assert!(hello[k].is_string(), "{k}");
    }
    create(&app, &a.access, "refund_policy", "Refunds", "Refunds take 5 days.").await;
    create(&app, &a.access, "bye-1", "Closing", "Thanks, 100% resolved!").await;

    assert_eq!(shortcuts(&app, &a.access, "").await, ["bye-1", "hello", "refund_policy"]);
    assert_eq!(shortcuts(&app, &a.access, "?search=REFUND").await, ["refund_policy"]);
    assert_eq!(shortcuts(&app, &a.access, "?search=help").await, ["hello"]);
    assert_eq!(shortcuts(&app, &a.access, "?search=closing").await, ["bye-1"]);
    assert_eq!(shortcuts(&app, &a.access, "?search=100%25").await, ["bye-1"]);
    assert_eq!(shortcuts(&app, &a.access, "?search=%25%25").await, Vec::<String>::new());
    assert_eq!(shortcuts(&app, &a.access, "?search=_").await, ["refund_policy"]);

    // The shortcut is unique in the tenant, on create and on rename.
    let res = app
        .post("/api/canned-responses", &json!({"shortcut": "hello", "title": "Again", "body": "x"}), Some(&a.access))
        .await;
    assert_error(res, StatusCode::CONFLICT, "shortcut_taken").await;
    let path = format!("/api/canned-responses/{}", hello["id"].as_str().unwrap());
    let res = app.patch(&path, &json!({"shortcut": "bye-1"}), Some(&a.access)).await;
    assert_error(res, StatusCode::CONFLICT, "shortcut_taken").await;

    let res = app.patch(&path, &json!({"shortcut": "hi", "body": "Hello there"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let hi: Value = res.json().await.unwrap();
    assert_eq!(hi["shortcut"], "hi");
    assert_eq!(hi["title"], "Greeting", "absent fields are kept");
    assert_eq!(hi["body"], "Hello there");
    let got: Value = app.get(&path, Some(&a.access)).await.json().await.unwrap();
    assert_eq!(got, hi);

    assert_eq!(app.delete(&path, Some(&a.access)).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.get(&path, Some(&a.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.delete(&path, Some(&a.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    // The freed shortcut can be used again.
    create(&app, &a.access, "hi", "Greeting", "Hi again").await;
}

#[tokio::test]
async fn canned_input_is_validated_field_by_field() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let res = app
        .post(
            "/api/canned-responses",
            &json!({"shortcut": "Not Valid", "title": "t".repeat(101), "body": "   "}),
            Some(&a.access),
        )
        .await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["shortcut", "title", "body"]);
    let res = app.post("/api/canned-responses", &json!({}), Some(&a.access)).await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["shortcut", "title", "body"]);
    let res = app
        .post(
            "/api/canned-responses",
            &json!({"shortcut": "a".repeat(33), "title": "ok", "body": "b".repeat(4097)}),
            Some(&a.access),
        )
        .await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["shortcut", "body"]);

    // The limits themselves are accepted.
    let max = create(&app, &a.access, &"a".repeat(32), &"t".repeat(100), &"b".repeat(4096)).await;
    let path = format!("/api/canned-responses/{}", max["id"].as_str().unwrap());
    let res = app.patch(&path, &json!({"shortcut": "", "title": "", "body": ""}), Some(&a.access)).await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["shortcut", "title", "body"]);
    let res = app.patch(&path, &json!({"shortcut": "ümlaut"}), Some(&a.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(app.count(canned_responses::Entity).await, 1);
}

#[tokio::test]
async fn agents_maintain_replies_admins_delete_and_tenants_are_isolated() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let b = app.register("B", "b@b.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@a.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@a.test", Role::BillingAdmin).await;

    let c = create(&app, &agent, "thanks", "Thanks", "Thank you!").await;
    let path = format!("/api/canned-responses/{}", c["id"].as_str().unwrap());
    assert_eq!(shortcuts(&app, &agent, "").await, ["thanks"]);
    assert_eq!(app.get(&path, Some(&agent)).await.status(), StatusCode::OK);
    let res = app.patch(&path, &json!({"title": "Thank you"}), Some(&agent)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(app.delete(&path, Some(&agent)).await, StatusCode::FORBIDDEN, "forbidden").await;

    for (token, status, code) in
        [(Some(billing.as_str()), StatusCode::FORBIDDEN, "forbidden"), (None, StatusCode::UNAUTHORIZED, "unauthorized")]
    {
        assert_error(app.get("/api/canned-responses", token).await, status, code).await;
        assert_error(
            app.post("/api/canned-responses", &json!({"shortcut": "x", "title": "x", "body": "x"}), token).await,
            status,
            code,
        )
        .await;
        assert_error(app.get(&path, token).await, status, code).await;
        assert_error(app.patch(&path, &json!({"title": "x"}), token).await, status, code).await;
        assert_error(app.delete(&path, token).await, status, code).await;
    }

    // Tenant B: A's reply does not exist, B's list is its own, and B may use the same shortcut.
    assert_eq!(shortcuts(&app, &b.access, "").await, Vec::<String>::new());
    assert_eq!(shortcuts(&app, &b.access, "?search=thank").await, Vec::<String>::new());
    assert_error(app.get(&path, Some(&b.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        app.patch(&path, &json!({"body": "hijacked"}), Some(&b.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(app.delete(&path, Some(&b.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    create(&app, &b.access, "thanks", "B's thanks", "Cheers").await;
    let mine: Value = app.get(&path, Some(&a.access)).await.json().await.unwrap();
    assert_eq!(mine["title"], "Thank you");
    assert_eq!(mine["body"], "Thank you!");
    assert_eq!(shortcuts(&app, &a.access, "").await, ["thanks"]);
    assert_eq!(app.delete(&path, Some(&a.access)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(shortcuts(&app, &b.access, "").await, ["thanks"], "B's survives");
}

#[tokio::test]
async fn the_inbox_endpoints_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    for (path, methods) in [
        ("/api/contacts", &["get"][..]),
        ("/api/contacts/{id}", &["get", "patch"][..]),
        ("/api/contacts/import", &["post"][..]),
        ("/api/canned-responses", &["get", "post"][..]),
        ("/api/canned-responses/{id}", &["get", "patch", "delete"][..]),
        ("/api/conversations/{id}/notes", &["get", "post"][..]),
        ("/api/agents", &["get"][..]),
        ("/api/agents/me", &["patch"][..]),
        ("/api/agents/{id}", &["patch"][..]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} documented");
        }
    }
    assert!(doc["components"]["schemas"]["ContactDto"].is_object());
    assert!(doc["components"]["schemas"]["ImportReport"].is_object());
}
