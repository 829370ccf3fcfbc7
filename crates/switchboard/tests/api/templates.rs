//! Message templates end to end with meta-sim: create → PENDING → review webhook → send with
//! parameters → a body Meta's spec accepts; rejection, pause, sync, delete, validation, roles and
//! tenant isolation.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::entities::enums::{MessageStatus, Role};
use switchboard::entities::{jobs, messages, whatsapp_accounts};

use crate::helpers::{Account, TestApp, assert_error, spawn_app, wait_for};

// Also included by inbox.rs (a private module there).
#[allow(clippy::duplicate_mod)]
#[path = "../../../meta-cloud/tests/common/spec_check.rs"]
mod spec_check;

struct Tpl {
    app: TestApp,
    admin: Account,
    account_id: String,
    phone_number_id: String,
    waba_id: String,
}

impl Tpl {
    fn sim(&self) -> &meta_sim::MetaSim {
        &self.app.state.sandbox.as_ref().unwrap().sim
    }

    async fn create(&self, mut body: Value) -> reqwest::Response {
        body["whatsappAccountId"] = json!(self.account_id);
        self.app.post("/api/templates", &body, Some(&self.admin.access)).await
    }

    async fn create_ok(&self, body: Value) -> Value {
        let res = self.create(body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    async fn get(&self, id: &str) -> Value {
        let res = self.app.get(&format!("/api/templates/{id}"), Some(&self.admin.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// Waits for the status to arrive (by webhook).
    async fn wait_status(&self, id: &str, status: &str) -> Value {
        wait_for(&format!("template {status}"), || async {
            let t = self.get(id).await;
            (t["status"] == status).then_some(t)
        })
        .await
    }

    async fn send(&self, to: &str, template: Value) -> reqwest::Response {
        self.app
            .post(
                "/api/messages",
                &json!({"whatsappAccountId": self.account_id, "to": to, "type": "template", "template": template}),
                Some(&self.admin.access),
            )
            .await
    }

    /// The request meta-sim accepted for our message, once the message is delivered.
    async fn sent_body(&self, message_id: &str) -> Value {
        let id: uuid::Uuid = message_id.parse().unwrap();
        let m = wait_for("template message delivered", || async {
            let m = messages::Entity::find_by_id(id).one(&self.app.state.db).await.unwrap().unwrap();
            matches!(m.status, MessageStatus::Delivered | MessageStatus::Read).then_some(m)
        })
        .await;
        let wamid = m.wa_message_id.unwrap();
        let sent = self.sim().sent_messages(&self.phone_number_id);
        let s = sent.iter().find(|s| s.wamid == wamid).expect("meta-sim received the send");
        s.body.clone()
    }

    async fn template_jobs(&self) -> Vec<jobs::Model> {
        jobs::Entity::find()
            .filter(jobs::Column::Queue.eq("template-sync"))
            .all(&self.app.state.db)
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.payload["accountId"] == self.account_id.as_str())
            .collect()
    }
}

async fn setup() -> Tpl {
    let app = spawn_app().await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let res = app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let acct: Value = res.json().await.unwrap();
    let t = Tpl {
        account_id: acct["id"].as_str().unwrap().into(),
        phone_number_id: acct["phoneNumberId"].as_str().unwrap().into(),
        waba_id: acct["wabaId"].as_str().unwrap().into(),
        app,
        admin,
    };
    // Meta reviews in minutes; the simulator in milliseconds.
    t.sim().update_config(|c| c.template_review_delay = Duration::from_millis(30));
    t
}

fn order_update() -> Value {
    json!({
        "name": "order_update", "category": "UTILITY", "language": "en_US",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#1000"]}},
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.", "example": {"body_text": [["Ann", "#1000"]]}},
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Stop"},
                {"type": "URL", "text": "Track", "url": "https://shop.test/track/{{1}}", "example": ["https://shop.test/track/abc"]},
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550001234"}
            ]}
        ]
    })
}

fn field_names(body: &Value) -> Vec<String> {
    body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn create_review_and_send_with_parameters() {
    let t = setup().await;
    let created = t.create_ok(order_update()).await;
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["parameterFormat"], "POSITIONAL");
    assert_eq!(created["variables"], json!({"header": "text", "body": ["1", "2"], "buttons": [1]}));
    let meta_id = created["metaTemplateId"].as_str().expect("Meta's template id").to_string();
    assert!(t.sim().templates(&t.waba_id).iter().any(|x| x.id == meta_id && x.name == "order_update"));
    let id = created["id"].as_str().unwrap();

    // The same (number, name, language) again.
    assert_error(t.create(order_update()).await, StatusCode::CONFLICT, "template_exists").await;

    // Meta's review arrives by webhook.
    let approved = t.wait_status(id, "APPROVED").await;
    assert!(approved["rejectionReason"].is_null());

    // A missing or unknown parameter is a 422 naming it, before anything is queued.
    let res = t
        .send("15551230001", json!({"name": "order_update", "language": "en_US", "parameters": {"1": "Jessica"}}))
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let f = field_names(&b);
    for want in ["template.parameters.2", "template.parameters.header", "template.parameters.buttons.1"] {
        assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
    }
    let res = t
        .send(
            "15551230001",
            json!({"name": "order_update", "language": "en_US", "parameters":
                {"1": "Jessica", "2": "#1234", "3": "extra", "header": "#1234", "buttons": {"1": "x1", "2": "no"}}}),
        )
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let f = field_names(&b);
    assert!(f.contains(&"template.parameters.3".to_string()), "{f:?}");
    assert!(f.contains(&"template.parameters.buttons.2".to_string()), "{f:?}");
    assert_eq!(messages::Entity::find().all(&t.app.state.db).await.unwrap().len(), 0, "nothing queued");

    // A correct send reaches meta-sim in a shape Meta's spec accepts.
    let res = t
        .send(
            "+1 555 123 0001",
            json!({"name": "order_update", "language": "en_US",
                   "parameters": {"1": "Jessica", "2": "#1234", "header": "#1234", "buttons": {"1": "abc123"}}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let m: Value = res.json().await.unwrap();
    let body = t.sent_body(m["id"].as_str().unwrap()).await;
    assert!(spec_check::spec_errors(&body).is_empty(), "{:?}\n{body:#}", spec_check::spec_errors(&body));
    assert_eq!(
        body["template"]["components"],
        json!([
            {"type": "header", "parameters": [{"type": "text", "text": "#1234"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Jessica"}, {"type": "text", "text": "#1234"}]},
            {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "abc123"}]}
        ])
    );

    // Preview: the values given, the examples for the rest.
    let res =
        t.app.get(&format!("/api/templates/{id}/preview?1=Jessica&buttons.1=abc123"), Some(&t.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["header"], "Order #1000");
    assert_eq!(p["body"], "Hi Jessica, your order #1000 has shipped.");
    assert_eq!(p["footer"], "Reply STOP to opt out");
    assert_eq!(p["buttons"][1]["url"], "https://shop.test/track/abc123");
    assert_eq!(p["buttons"][2]["phoneNumber"], "+15550001234");
}

#[tokio::test]
async fn named_variables_media_header_and_copy_code() {
    let t = setup().await;
    let created = t
        .create_ok(json!({
            "name": "welcome_offer", "category": "MARKETING", "language": "en",
            "components": [
                {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2U="]}},
                {"type": "BODY", "text": "Hello {{first_name}}, here is {{discount}} off.",
                 "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ann"},
                                                        {"param_name": "discount", "example": "10%"}]}},
                {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SAVE10"}]}
            ]
        }))
        .await;
    assert_eq!(created["parameterFormat"], "NAMED");
    let id = created["id"].as_str().unwrap();
    t.wait_status(id, "APPROVED").await;
    let res = t
        .send(
            "15551230002",
            json!({"name": "welcome_offer", "language": "en", "parameters": {
                "first_name": "Jessica", "discount": "20%",
                "header": {"image": {"link": "https://shop.test/banner.png"}}, "buttons": {"0": "SAVE20"}}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let m: Value = res.json().await.unwrap();
    let body = t.sent_body(m["id"].as_str().unwrap()).await;
    // Meta's OpenAPI v23 lists sub_type quick_reply, url and catalog only, while its coupon-code
    // template page sends `copy_code` with a `coupon_code` parameter (and meta-sim accepts it).
    let errors: Vec<String> =
        spec_check::spec_errors(&body).into_iter().filter(|e| !e.contains("\"copy_code\" is not one of")).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let c = &body["template"]["components"];
    assert_eq!(c[0]["parameters"][0], json!({"type": "image", "image": {"link": "https://shop.test/banner.png"}}));
    assert_eq!(c[1]["parameters"][0], json!({"type": "text", "parameter_name": "first_name", "text": "Jessica"}));
    assert_eq!(c[2]["parameters"][0], json!({"type": "coupon_code", "coupon_code": "SAVE20"}));

    // An uploaded file as the header: the sender uploads it to Meta and sends Meta's id.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\nbanner".to_vec())
            .file_name("banner.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let res =
        t.app.client.post(t.app.url("/api/media")).bearer_auth(&t.admin.access).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let up: Value = res.json().await.unwrap();
    let res = t
        .send(
            "15551230002",
            json!({"name": "welcome_offer", "language": "en", "parameters": {
                "first_name": "Jessica", "discount": "20%",
                "header": {"image": {"localMediaId": up["id"]}}, "buttons": {"0": "SAVE20"}}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let m: Value = res.json().await.unwrap();
    let body = t.sent_body(m["id"].as_str().unwrap()).await;
    let image = &body["template"]["components"][0]["parameters"][0]["image"];
    assert!(image["id"].is_string() && image.get("localMediaId").is_none(), "{body}");
    let res = t
        .send(
            "15551230002",
            json!({"name": "welcome_offer", "language": "en", "parameters": {
                "first_name": "J", "discount": "1%", "header": {"image": {"localMediaId": uuid::Uuid::new_v4()}}, "buttons": {"0": "A"}}}),
        )
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(field_names(&b), vec!["template.parameters.header"]);

    // The wrong media kind for the header.
    let res = t
        .send(
            "15551230002",
            json!({"name": "welcome_offer", "language": "en", "parameters": {
                "first_name": "J", "discount": "1%", "header": {"video": {"link": "https://x.test/v.mp4"}}, "buttons": {"0": "A"}}}),
        )
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(field_names(&b), vec!["template.parameters.header"]);
}

#[tokio::test]
async fn rejection_with_reason_and_a_paused_template_refused_at_send() {
    let t = setup().await;
    // meta-sim rejects names containing "reject" with INVALID_FORMAT.
    let mut def = order_update();
    def["name"] = json!("promo_reject_me");
    let created = t.create_ok(def).await;
    let rejected = t.wait_status(created["id"].as_str().unwrap(), "REJECTED").await;
    assert_eq!(rejected["rejectionReason"], "INVALID_FORMAT");
    assert!(rejected["statusDetails"]["recommendation"].is_string(), "{rejected}");
    let res = t.send("15551230003", json!({"name": "promo_reject_me", "language": "en_US"})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "template_not_approved").await;

    let created = t.create_ok(order_update()).await;
    let id = created["id"].as_str().unwrap();
    t.wait_status(id, "APPROVED").await;
    assert!(t.sim().set_template_status(&t.waba_id, "order_update", None, "PAUSED", Some("LOW_QUALITY")));
    let paused = t.wait_status(id, "PAUSED").await;
    assert_eq!(paused["rejectionReason"], "LOW_QUALITY");
    let res = t
        .send(
            "15551230003",
            json!({"name": "order_update", "language": "en_US",
                   "parameters": {"1": "J", "2": "#1", "header": "#1", "buttons": {"1": "a"}}}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "template_not_approved").await;
    assert!(t.sim().set_template_status(&t.waba_id, "order_update", None, "DISABLED", None));
    let disabled = t.wait_status(id, "DISABLED").await;
    assert!(disabled["rejectionReason"].is_null());
    assert_eq!(t.sim().stats().sends_accepted, 0);
}

#[tokio::test]
async fn sync_adds_templates_made_at_meta_and_marks_deleted_ones() {
    let t = setup().await;
    // Account creation scheduled the hourly sync (an hour from now).
    let scheduled = t.template_jobs().await;
    assert_eq!(scheduled.len(), 1);
    assert!(scheduled[0].run_at > switchboard::db::now() + chrono::Duration::minutes(55));

    let spec: meta_sim::TemplateSpec = serde_json::from_value(json!({
        "waba_id": t.waba_id, "name": "made_at_meta", "language": "pt_BR", "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Olá {{1}}!"}]
    }))
    .unwrap();
    t.sim().add_template(spec);
    let res =
        t.app.post("/api/templates/sync", &json!({"whatsappAccountId": t.account_id}), Some(&t.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["data"][0]["added"], 2, "{r}"); // meta-sim's stock hello_world too
    let res = t.app.get("/api/templates?search=made&status=approved&language=pt_BR", Some(&t.admin.access)).await;
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["variables"]["body"], json!(["1"]));
    let id = list["data"][0]["id"].as_str().unwrap().to_string();

    // A second sync changes nothing.
    let res = t.app.post("/api/templates/sync", &json!({}), Some(&t.admin.access)).await;
    let r: Value = res.json().await.unwrap();
    assert_eq!((r["data"][0]["added"].as_u64(), r["data"][0]["updated"].as_u64()), (Some(0), Some(0)), "{r}");

    // A change the webhooks did not bring (here the local row went stale): sync updates it.
    {
        use sea_orm::{ActiveModelTrait, Set};
        let row = switchboard::entities::templates::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap())
            .one(&t.app.state.db)
            .await
            .unwrap()
            .unwrap();
        let mut am: switchboard::entities::templates::ActiveModel = row.into();
        am.status = Set("PAUSED".into());
        am.category = Set("MARKETING".into());
        am.components = Set(json!([{"type": "BODY", "text": "stale"}]));
        am.update(t.app.state.writer()).await.unwrap();
    }
    let res = t.app.post("/api/templates/sync", &json!({}), Some(&t.admin.access)).await;
    let r: Value = res.json().await.unwrap();
    assert_eq!((r["data"][0]["added"].as_u64(), r["data"][0]["updated"].as_u64()), (Some(0), Some(1)), "{r}");
    let synced = t.get(&id).await;
    assert_eq!((synced["status"].as_str(), synced["category"].as_str()), (Some("APPROVED"), Some("UTILITY")));
    assert_eq!(synced["components"][0]["text"], "Olá {{1}}!");

    // Deleted at Meta (another tool), then the hourly job runs.
    let acct = whatsapp_accounts::Entity::find_by_id(t.account_id.parse::<uuid::Uuid>().unwrap())
        .one(&t.app.state.db)
        .await
        .unwrap()
        .unwrap();
    let token = switchboard::accounts::service::access_token(&t.app.state, &acct).unwrap();
    t.app.state.graph_for(&acct).delete_template(&token, &t.waba_id, "made_at_meta", None).await.unwrap();
    let job = t.template_jobs().await.remove(0);
    let run = switchboard::templates::service::sync_handler();
    run(t.app.state.clone(), job).await.expect("sync job");
    assert_eq!(t.get(&id).await["status"], "DELETED");
    let res = t.app.get("/api/templates?status=DELETED", Some(&t.admin.access)).await;
    assert_eq!(res.json::<Value>().await.unwrap()["data"].as_array().unwrap().len(), 1);
    // The job scheduled its next run: one job per number and hour, never two.
    let jobs = t.template_jobs().await;
    assert!(!jobs.is_empty() && jobs.len() <= 2, "{jobs:?}");
    let keys: std::collections::HashSet<_> = jobs.iter().map(|j| j.unique_key.clone()).collect();
    assert_eq!(keys.len(), jobs.len());

    // More than a page (100) at Meta: sync follows the paging.
    for i in 0..105 {
        let spec: meta_sim::TemplateSpec =
            serde_json::from_value(json!({"waba_id": t.waba_id, "name": format!("bulk_{i:03}")})).unwrap();
        t.sim().add_template(spec);
    }
    let res = t.app.post("/api/templates/sync", &json!({}), Some(&t.admin.access)).await;
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["data"][0]["added"], 105, "{r}");
    assert_eq!(r["data"][0]["total"], 106, "{r}");

    // Within Meta's management budget: once it is used up, sync is a 429 and the job defers.
    for _ in 0..60 {
        let _ = switchboard::templates::service::take_call(&t.app.state, &t.waba_id).await;
    }
    let res = t.app.post("/api/templates/sync", &json!({}), Some(&t.admin.access)).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let job = t.template_jobs().await.remove(0);
    match run(t.app.state.clone(), job).await {
        Err(switchboard::jobs::Outcome::Defer { .. }) => {}
        other => panic!("expected a deferral, got {other:?}"),
    }
}

#[tokio::test]
async fn a_status_webhook_that_beats_the_create_answer_adopts_metas_id() {
    use sea_orm::{ActiveModelTrait, Set};
    let t = setup().await;
    // A create in flight: stored locally, Meta's answer (its id) not recorded yet.
    let now = switchboard::db::now();
    let local = switchboard::entities::templates::ActiveModel {
        id: Set(switchboard::db::new_id()),
        tenant_id: Set(t.admin.tenant_id.parse().unwrap()),
        whatsapp_account_id: Set(t.account_id.parse().unwrap()),
        name: Set("in_flight".into()),
        language: Set("en_US".into()),
        category: Set("UTILITY".into()),
        status: Set("PENDING".into()),
        components: Set(json!([{"type": "BODY", "text": "Hello"}])),
        meta_template_id: Set(None),
        rejection_reason: Set(None),
        quality_score: Set(None),
        status_details: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(t.app.state.writer())
    .await
    .unwrap();
    let spec: meta_sim::TemplateSpec =
        serde_json::from_value(json!({"waba_id": t.waba_id, "name": "in_flight", "status": "PENDING"})).unwrap();
    let meta_id = t.sim().add_template(spec);
    assert!(t.sim().set_template_status(&t.waba_id, "in_flight", Some("en_US"), "APPROVED", None));
    let approved = t.wait_status(&local.id.to_string(), "APPROVED").await;
    assert_eq!(approved["metaTemplateId"], meta_id);
}

#[tokio::test]
async fn delete_one_language_or_all() {
    let t = setup().await;
    let en = t.create_ok(order_update()).await;
    let mut es_def = order_update();
    es_def["language"] = json!("es");
    let es = t.create_ok(es_def).await;
    let mut de_def = order_update();
    de_def["language"] = json!("de");
    t.create_ok(de_def).await;
    assert_eq!(t.sim().templates(&t.waba_id).iter().filter(|x| x.name == "order_update").count(), 3);

    // Default: this language only (Meta's hsm_id).
    let res = t.app.delete(&format!("/api/templates/{}", en["id"].as_str().unwrap()), Some(&t.admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["deleted"], json!([en["id"]]));
    let left: Vec<String> =
        t.sim().templates(&t.waba_id).into_iter().filter(|x| x.name == "order_update").map(|x| x.language).collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&"en_US".to_string()));
    let res = t.app.get(&format!("/api/templates/{}", en["id"].as_str().unwrap()), Some(&t.admin.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // All languages, as Meta deletes by name.
    let res = t
        .app
        .delete(&format!("/api/templates/{}?allLanguages=true", es["id"].as_str().unwrap()), Some(&t.admin.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["deleted"].as_array().unwrap().len(), 2);
    assert!(t.sim().templates(&t.waba_id).iter().all(|x| x.name != "order_update"));
    let res = t.app.get("/api/templates", Some(&t.admin.access)).await;
    assert_eq!(res.json::<Value>().await.unwrap()["data"], json!([]));

    // Recreating the name works again.
    t.create_ok(order_update()).await;
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let t = setup().await;
    let res = t
        .create(json!({
            "name": "Order Update", "category": "PROMO", "language": "english",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "{{1}} and {{2}}"},
                {"type": "BODY", "text": format!("Hi {{{{1}}}}, order {{{{3}}}} {}", "x".repeat(1024))},
                {"type": "FOOTER", "text": "f".repeat(61)},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": "A", "url": "https://a.test/{{1}}"},
                    {"type": "URL", "text": "B", "url": "https://b.test"},
                    {"type": "URL", "text": "C", "url": "https://c.test"},
                    {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "call me"},
                    {"type": "QUICK_REPLY", "text": "a very long quick reply title"}
                ]}
            ]
        }))
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let f = field_names(&b);
    for want in [
        "name",
        "category",
        "language",
        "components[0].text",
        "components[1].text",
        "components[2].text",
        "components[3].buttons",
        "components[3].buttons[0].example",
        "components[3].buttons[3].phone_number",
        "components[3].buttons[4].text",
    ] {
        assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
    }

    // Examples are required for every variable; positional and named do not mix.
    let res = t
        .create(json!({"name": "x", "category": "UTILITY", "language": "en_US", "components": [
            {"type": "BODY", "text": "Hi {{1}}, code {{2}}.", "example": {"body_text": [["Ann"]]}}]}))
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(field_names(&b), vec!["components[0].example.body_text"]);
    let res = t
        .create(json!({"name": "x", "category": "UTILITY", "language": "en_US", "components": [
            {"type": "BODY", "text": "Hi {{1}}, code {{code}}."}]}))
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(field_names(&b), vec!["components[0].text"]);
    let res = t.create(json!({"name": "x", "category": "UTILITY", "language": "en_US", "components": []})).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(field_names(&b), vec!["components"]);
    let res = t
        .app
        .post(
            "/api/templates",
            &json!({"name": "x", "category": "UTILITY", "language": "en_US",
            "components": [{"type": "BODY", "text": "Hi"}]}),
            Some(&t.admin.access),
        )
        .await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(field_names(&b), vec!["whatsappAccountId"]);
    // Nothing reached Meta.
    assert_eq!(t.sim().stats().templates_created, 0);
}

#[tokio::test]
async fn roles_and_tenant_isolation_on_every_route() {
    let t = setup().await;
    let created = t.create_ok(order_update()).await;
    let id = created["id"].as_str().unwrap();

    // The list filters by category (any case) too; an unknown category or status is a 422.
    let count = |q: &'static str| {
        let t = &t;
        async move {
            let res = t.app.get(&format!("/api/templates?{q}"), Some(&t.admin.access)).await;
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            res.json::<Value>().await.unwrap()["data"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("category=utility&language=en_US&search=order").await, 1);
    assert_eq!(count("category=MARKETING").await, 0);
    assert_eq!(count("search=nothing_like_it").await, 0);
    let res = t.app.get("/api/templates?category=PROMO&status=LIVE", Some(&t.admin.access)).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(field_names(&b), vec!["status", "category"]);

    // An agent reads and previews, but cannot create, sync or delete.
    let agent = t.app.user_with_role(&t.admin.tenant_id, "agent@acme.test", Role::Agent).await;
    let res = t.app.get("/api/templates", Some(&agent)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(t.app.get(&format!("/api/templates/{id}"), Some(&agent)).await.status(), StatusCode::OK);
    assert_eq!(t.app.get(&format!("/api/templates/{id}/preview"), Some(&agent)).await.status(), StatusCode::OK);
    let mut def = order_update();
    def["whatsappAccountId"] = json!(t.account_id);
    def["name"] = json!("by_agent");
    assert_error(t.app.post("/api/templates", &def, Some(&agent)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(t.app.post("/api/templates/sync", &json!({}), Some(&agent)).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    assert_error(t.app.delete(&format!("/api/templates/{id}"), Some(&agent)).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    // A billing admin and the platform operator have no template route at all; nor has a caller
    // without a token.
    let billing = t.app.user_with_role(&t.admin.tenant_id, "billing@acme.test", Role::BillingAdmin).await;
    let root = t.app.system_admin().await;
    def["name"] = json!("by_outsider");
    for token in [Some(billing.as_str()), Some(root.as_str()), None] {
        let (status, code) = match token {
            Some(_) => (StatusCode::FORBIDDEN, "forbidden"),
            None => (StatusCode::UNAUTHORIZED, "unauthorized"),
        };
        assert_error(t.app.get("/api/templates", token).await, status, code).await;
        assert_error(t.app.get(&format!("/api/templates/{id}"), token).await, status, code).await;
        assert_error(t.app.get(&format!("/api/templates/{id}/preview"), token).await, status, code).await;
        assert_error(t.app.post("/api/templates", &def, token).await, status, code).await;
        assert_error(t.app.post("/api/templates/sync", &json!({}), token).await, status, code).await;
        assert_error(t.app.delete(&format!("/api/templates/{id}"), token).await, status, code).await;
    }

    // Another tenant sees nothing of A's, and A's ids are 404 everywhere.
    let b = t.app.register("Globex", "gil@globex.test").await;
    let list: Value = t.app.get("/api/templates", Some(&b.access)).await.json().await.unwrap();
    assert_eq!(list["data"], json!([]));
    let list: Value = t
        .app
        .get(&format!("/api/templates?whatsappAccountId={}", t.account_id), Some(&b.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
    for path in [format!("/api/templates/{id}"), format!("/api/templates/{id}/preview?1=x")] {
        assert_error(t.app.get(&path, Some(&b.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_error(
        t.app.delete(&format!("/api/templates/{id}"), Some(&b.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let mut def = order_update();
    def["whatsappAccountId"] = json!(t.account_id);
    def["name"] = json!("stolen");
    assert_error(t.app.post("/api/templates", &def, Some(&b.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = t.app.post("/api/templates/sync", &json!({"whatsappAccountId": t.account_id}), Some(&b.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = t
        .app
        .post(&format!("/api/templates/sync?whatsappAccountId={}", t.account_id), &json!({}), Some(&b.access))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // B's sync of its own (no numbers) touches nothing of A's.
    let res = t.app.post("/api/templates/sync", &json!({}), Some(&b.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(t.get(id).await["status"], "DELETED");
    assert_eq!(t.sim().templates(&t.waba_id).iter().filter(|x| x.name == "order_update").count(), 1);

    // Sending: A's number is not B's (404), and B's own number does not know A's template by name.
    t.wait_status(id, "APPROVED").await;
    let send = |account: &str| {
        json!({"whatsappAccountId": account, "to": "15551230009", "type": "template",
               "template": {"name": "order_update", "language": "en_US",
                            "parameters": {"1": "J", "2": "#1", "header": "#1", "buttons": {"1": "a"}}}})
    };
    let res = t.app.post("/api/messages", &send(&t.account_id), Some(&b.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = t.app.post("/api/whatsapp-accounts/sandbox", &json!({}), Some(&b.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b_account = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res = t.app.post("/api/messages", &send(&b_account), Some(&b.access)).await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(field_names(&body), vec!["template.name"]);
    assert_eq!(t.sim().stats().sends_accepted, 0);

    // Every template route is in the OpenAPI document.
    let doc: Value = t.app.get("/api/openapi.json", None).await.json().await.unwrap();
    for p in ["/api/templates", "/api/templates/sync", "/api/templates/{id}", "/api/templates/{id}/preview"] {
        assert!(doc["paths"][p].is_object(), "{p} missing from OpenAPI");
    }
}

#[tokio::test]
async fn meta_throttling_backs_the_sync_off() {
    for code in [4, 80007] {
        throttled_by(code).await;
    }
}

async fn throttled_by(code: i64) {
    // A Graph API that answers every call with Meta's 4 (app call limit) or 80007 (WABA rate limit).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let message = format!("(#{code}) Rate limit issues");
    let router = axum::Router::new().fallback(move || {
        let message = message.clone();
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": {"message": message, "type": "OAuthException",
                                            "code": code, "fbtrace_id": "A1"}})),
            )
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let app = crate::helpers::spawn_app_with(&[("SWITCHBOARD_GRAPH_API_URL", graph.as_str())]).await;
    let admin = app.register("Acme", "ana@acme.test").await;
    let acct = app.create_account(&admin.access, "1555000777", None).await;
    let res = app.post("/api/templates/sync", &json!({}), Some(&admin.access)).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "meta_rate_limited").await;

    let job = jobs::Entity::find()
        .filter(jobs::Column::Queue.eq("template-sync"))
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("the number's hourly sync is scheduled");
    assert_eq!(job.payload["accountId"], acct["id"]);
    match switchboard::templates::service::sync_handler()(app.state.clone(), job).await {
        Err(switchboard::jobs::Outcome::Retry { after: Some(after), .. }) => {
            assert!(after >= Duration::from_secs(300), "{after:?}")
        }
        other => panic!("code {code}: expected a backed-off retry, got {other:?}"),
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
}
