//! Media upload/URL/expiry/download, templates create→review→webhook, paging, control API.

mod common;

use std::time::Duration;

use common::*;
use meta_sim::{ReviewOutcome, TemplateSpec};
use serde_json::{Value, json};

fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----metasimboundary42";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    if let Some((filename, ct, data)) = file {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(env: &Env, fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (u16, Value) {
    let (ct, body) = multipart(fields, file);
    let resp = env
        .http
        .post(env.url(&format!("/v23.0/{PNID}/media")))
        .bearer_auth(TOKEN)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn media_upload_url_download_expiry_delete() {
    let env = env_with(|c| c.media_url_ttl = Duration::from_millis(300)).await;
    let data = b"%PDF-1.4 fake invoice".to_vec();
    let (status, body) = upload(
        &env,
        &[("messaging_product", "whatsapp"), ("type", "application/pdf")],
        Some(("invoice.pdf", "application/pdf", &data)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(id.bytes().all(|b| b.is_ascii_digit()));

    let (status, meta) = env.get(&format!("/v23.0/{id}"), Some(TOKEN)).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["messaging_product"], "whatsapp");
    assert_eq!(meta["mime_type"], "application/pdf");
    assert_eq!(meta["file_size"], data.len());
    assert_eq!(meta["id"], id.as_str());
    use sha2::Digest;
    assert_eq!(meta["sha256"], hex::encode(sha2::Sha256::digest(&data)));
    let url = meta["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&env.running.base_url));

    // Download needs the token.
    let r = env.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = env.http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = env.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(&r.bytes().await.unwrap()[..], &data[..]);
    // A tampered URL is 404.
    let r = env.http.get(url.replace("hash=", "hash=0")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The media can be sent by id.
    env.sim().customer_sends(PNID, USER, "S", meta_sim::CustomerMessage::text("hi")).await;
    let (status, _) = env
        .send(json!({"messaging_product":"whatsapp","to":USER,"type":"document","document":{"id":id,"filename":"invoice.pdf"}}))
        .await;
    assert_eq!(status, 200);

    // After the TTL the URL is 404; a new GET gives a fresh URL.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = env.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (_, meta) = env.get(&format!("/v23.0/{id}"), Some(TOKEN)).await;
    let r = env.http.get(meta["url"].as_str().unwrap()).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // Delete.
    let r = env.http.delete(env.url(&format!("/v23.0/{id}"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true}));
    let (status, body) = env.get(&format!("/v23.0/{id}"), Some(TOKEN)).await;
    assert_eq!((status, error_code(&body)), (400, 100));
    assert_eq!(env.sim().stats().media_uploaded, 1);
}

#[tokio::test]
async fn media_upload_validation() {
    let env = env().await;
    let (status, body) = upload(&env, &[("type", "image/png")], Some(("a.png", "image/png", b"png"))).await;
    assert_eq!((status, error_code(&body)), (400, 100));
    let (status, body) = upload(&env, &[("messaging_product", "whatsapp")], None).await;
    assert_eq!((status, error_code(&body)), (400, 100));
    let (status, body) = upload(
        &env,
        &[("messaging_product", "whatsapp"), ("type", "application/x-msdownload")],
        Some(("a.exe", "application/x-msdownload", b"MZ")),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, 131053));
    let (status, body) = upload(
        &env,
        &[("messaging_product", "whatsapp"), ("type", "image/png")],
        Some(("a.jpg", "image/jpeg", b"jpg")),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, 131053), "MIME mismatch");
    let big = vec![0u8; 5 * 1024 * 1024 + 1];
    let (status, body) = upload(
        &env,
        &[("messaging_product", "whatsapp"), ("type", "image/jpeg")],
        Some(("big.jpg", "image/jpeg", &big)),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, 131053), "over 5 MB");
}

#[tokio::test]
async fn template_create_review_and_status_webhooks() {
    let env = env().await;
    let path = format!("/v23.0/{WABA}/message_templates");
    let (status, ok) = env
        .post_json(
            &path,
            Some(TOKEN),
            json!({"name":"order_confirmation","language":"en_US","category":"utility",
            "components":[{"type":"BODY","text":"Order {{1}} confirmed","example":{"body_text":[["123"]]}}]}),
        )
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["status"], "PENDING");
    let (_, rej) = env
        .post_json(
            &path,
            Some(TOKEN),
            json!({"name":"please_reject_me","language":"en_US","category":"MARKETING",
            "components":[{"type":"BODY","text":"Buy now"}]}),
        )
        .await;
    assert_eq!(rej["status"], "PENDING");
    // Invalid name, category, duplicates.
    let (status, body) = env
        .post_json(&path, Some(TOKEN), json!({"name":"Bad-Name","language":"en_US","category":"UTILITY","components":[{"type":"BODY","text":"x"}]}))
        .await;
    assert_eq!((status, error_code(&body)), (400, 100));
    let (_, body) = env
        .post_json(
            &path,
            Some(TOKEN),
            json!({"name":"x","language":"en_US","category":"SPAM","components":[{"type":"BODY","text":"x"}]}),
        )
        .await;
    assert_eq!(error_code(&body), 100);
    let (_, body) = env
        .post_json(&path, Some(TOKEN), json!({"name":"order_confirmation","language":"en_US","category":"UTILITY","components":[{"type":"BODY","text":"x"}]}))
        .await;
    assert_eq!(error_code(&body), 100, "duplicate name+language");

    assert!(wait_until(Duration::from_secs(5), || env.rx.changes("message_template_status_update").len() == 2).await);
    let events = env.rx.changes("message_template_status_update");
    let approved = events.iter().find(|v| v["event"] == "APPROVED").unwrap();
    assert_eq!(approved["message_template_id"], ok["id"].as_str().unwrap().parse::<u64>().unwrap());
    assert_eq!(approved["message_template_name"], "order_confirmation");
    assert_eq!(approved["message_template_language"], "en_US");
    assert_eq!(approved["reason"], "NONE");
    assert_eq!(approved["message_template_category"], "UTILITY");
    let rejected = events.iter().find(|v| v["event"] == "REJECTED").unwrap();
    assert_eq!(rejected["reason"], "INVALID_FORMAT");
    assert_eq!(rejected["rejection_info"]["reason"], "INVALID_FORMAT");
    let d = env.rx.deliveries();
    assert!(d.iter().all(|d| d.signature_ok));
    assert!(d[0].body["entry"][0]["time"].is_u64());

    // Approved template can be sent; GET by id shows the status.
    let (_, t) = env.get(&format!("/v23.0/{}?fields=status,name", ok["id"].as_str().unwrap()), Some(TOKEN)).await;
    assert_eq!(t, json!({"status":"APPROVED","name":"order_confirmation","id":ok["id"]}));
    let (status, r) = env
        .send(
            json!({"messaging_product":"whatsapp","to":USER,"type":"template","template":{"name":"order_confirmation",
            "language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"123"}]}]}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");

    // Per-name override.
    env.sim().set_template_outcome("fancy", ReviewOutcome::Reject { reason: "PROMOTIONAL".into() });
    env.post_json(
        &path,
        Some(TOKEN),
        json!({"name":"fancy","language":"en_US","category":"MARKETING","components":[{"type":"BODY","text":"x"}]}),
    )
    .await;
    assert!(wait_until(Duration::from_secs(5), || env.rx.changes("message_template_status_update").len() == 3).await);
    assert_eq!(env.rx.changes("message_template_status_update")[2]["reason"], "PROMOTIONAL");

    // Delete by name.
    let r =
        env.http.delete(env.url(&format!("{path}?name=order_confirmation"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r =
        env.http.delete(env.url(&format!("{path}?name=order_confirmation"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Unauthorized listing.
    let (status, _) = env.get(&path, Some("bad")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn template_listing_pages_with_cursors() {
    let env = env().await;
    for i in 0..6 {
        env.sim().add_template(TemplateSpec {
            waba_id: WABA.into(),
            name: format!("tpl_{i}"),
            language: "en_US".into(),
            category: "UTILITY".into(),
            components: json!([{"type":"BODY","text":"Hi {{1}}"}]),
            status: if i % 2 == 0 { "APPROVED".into() } else { "REJECTED".into() },
        });
    }
    // 7 templates with hello_world; pages of 3.
    let mut names = Vec::new();
    let mut path = format!("/v23.0/{WABA}/message_templates?limit=3&fields=name,status");
    let mut pages = 0;
    loop {
        let (status, body) = env.get(&path, Some(TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for t in body["data"].as_array().unwrap() {
            assert!(t["id"].is_string() && t["status"].is_string());
            assert!(t.get("components").is_none(), "fields restricts output");
            names.push(t["name"].as_str().unwrap().to_string());
        }
        assert!(body["paging"]["cursors"]["before"].is_string());
        assert!(body["paging"]["cursors"]["after"].is_string());
        match body["paging"]["next"].as_str() {
            Some(next) => path = next.strip_prefix(&env.running.base_url).unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 7);
    assert_eq!(names[0], "hello_world");
    // Filter by status, and `before` walks back.
    let (_, body) = env.get(&format!("/v23.0/{WABA}/message_templates?status=APPROVED&limit=10"), Some(TOKEN)).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 4);
    let (_, p1) = env.get(&format!("/v23.0/{WABA}/message_templates?limit=2"), Some(TOKEN)).await;
    let after = p1["paging"]["cursors"]["after"].as_str().unwrap();
    let (_, p2) = env.get(&format!("/v23.0/{WABA}/message_templates?limit=2&after={after}"), Some(TOKEN)).await;
    assert_eq!(p2["data"][0]["name"], "tpl_1");
    let before = p2["paging"]["cursors"]["before"].as_str().unwrap();
    let (_, back) = env.get(&format!("/v23.0/{WABA}/message_templates?limit=2&before={before}"), Some(TOKEN)).await;
    assert_eq!(back["data"], p1["data"]);
    assert!(p2["paging"]["previous"].is_string());
}

#[tokio::test]
async fn control_api_over_http() {
    let running = meta_sim::MetaSim::spawn(meta_sim::SimConfig::fast()).await.unwrap();
    let rx = Receiver::start("s3cret").await;
    let http = reqwest::Client::new();
    let base = running.base_url.clone();
    let post = |path: &str, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, _) = post(
        "/_sim/numbers",
        json!({"waba_id":"w1","phone_number_id":"p1","display_phone_number":"15550001111",
        "access_token":"tok","app_secret":"s3cret","webhook_url":rx.url}),
    )
    .await;
    assert_eq!(status, 201);
    let numbers: Value = http.get(format!("{base}/_sim/numbers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(numbers[0]["phone_number_id"], "p1");
    let (status, r) = post(
        "/_sim/customer_messages",
        json!({"phone_number_id":"p1","from":USER,"profile_name":"Ana",
        "message":{"type":"image","mime_type":"image/png","data_base64":"aGVsbG8=","caption":"pic"}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let wamid = r["wamid"].as_str().unwrap().to_string();
    assert!(wait_until(Duration::from_secs(5), || rx.messages().len() == 1).await);
    assert_eq!(rx.messages()[0]["id"], wamid.as_str());
    assert_eq!(rx.messages()[0]["image"]["caption"], "pic");
    let (status, _) = post(
        "/_sim/customer_messages",
        json!({"phone_number_id":"p1","from":USER,"reply_to":wamid,
        "message":{"type":"button_reply","id":"y","title":"Yes"}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        "/_sim/customer_messages",
        json!({"phone_number_id":"nope","from":USER,"message":{"type":"text","body":"x"}}),
    )
    .await;
    assert_eq!(status, 404);

    // Business sends; /sent lists it.
    let r = http
        .post(format!("{base}/v23.0/p1/messages"))
        .bearer_auth("tok")
        .json(&json!({"messaging_product":"whatsapp","to":USER,"type":"text","text":{"body":"hello"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let sent: Value = http.get(format!("{base}/_sim/numbers/p1/sent")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sent[0]["body"]["text"]["body"], "hello");
    assert_eq!(sent[0]["type"], "text");

    // Failures.
    let (status, _) = post("/_sim/failures", json!({"phone_number_id":"p1","count":1,"code":131048})).await;
    assert_eq!(status, 200);
    let r = http
        .post(format!("{base}/v23.0/p1/messages"))
        .bearer_auth("tok")
        .json(&json!({"messaging_product":"whatsapp","to":USER,"text":{"body":"x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 131048);

    // Review rule, template add, template status.
    let (status, _) = post("/_sim/template_review", json!({"rule":"reject_all","reason":"SCAM"})).await;
    assert_eq!(status, 200);
    assert_eq!(running.sim.config().template_review, meta_sim::ReviewRule::RejectAll { reason: "SCAM".into() });
    let (status, _) = post("/_sim/template_outcomes", json!({"name":"x","outcome":"approve"})).await;
    assert_eq!(status, 200);
    let (status, t) =
        post("/_sim/templates", json!({"waba_id":"w1","name":"direct","components":[{"type":"BODY","text":"Hi"}]}))
            .await;
    assert_eq!(status, 201, "{t}");
    let (status, _) =
        post("/_sim/template_status", json!({"waba_id":"w1","name":"direct","status":"PAUSED","reason":"NONE"})).await;
    assert_eq!(status, 200);
    assert!(wait_until(Duration::from_secs(5), || !rx.changes("message_template_status_update").is_empty()).await);
    assert_eq!(rx.changes("message_template_status_update")[0]["event"], "PAUSED");

    // Unreachable + stats.
    let (status, _) = post("/_sim/webhook_unreachable", json!({"unreachable": true})).await;
    assert_eq!(status, 200);
    let stats: Value = http.get(format!("{base}/_sim/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["sends_accepted"], 1);
    assert_eq!(stats["rejected_by_code"]["131048"], 1);
    assert_eq!(stats["customer_messages"], 2);

    // Config patch.
    let r = http
        .patch(format!("{base}/_sim/config"))
        .json(&json!({"webhook_batch_max": 50, "status_delays": {"read": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cfg = running.sim.config();
    assert_eq!(cfg.webhook_batch_max, 50);
    assert_eq!(cfg.status_delays.read, Duration::from_millis(1));
    assert_eq!(cfg.status_delays.delivered, Duration::from_millis(5));

    // Reset.
    let (status, _) = post("/_sim/reset", json!({})).await;
    assert_eq!(status, 200);
    assert!(running.sim.numbers().is_empty());
    assert_eq!(running.sim.stats().sends_accepted, 0);
    running.shutdown();
}
