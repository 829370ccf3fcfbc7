//! Send endpoint: auth, validation, limits, window, templates, injected failures, mark-as-read.

mod common;

use std::time::Duration;

use common::*;
use meta_sim::{CustomerMessage, ReviewRule, TemplateSpec};
use serde_json::json;

#[tokio::test]
async fn bad_or_missing_token_is_401_code_190() {
    let env = env().await;
    let (status, body) = env.send_as("v23.0", Some("wrong"), text_to(USER, "hi")).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), 190);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].is_string());
    let (status, body) = env.send_as("v23.0", None, text_to(USER, "hi")).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), 190);
    // A valid token of another number cannot use this one.
    env.sim().register_number(meta_sim::NumberSpec::new("w2", "p2", "15550000002", "other", "s"));
    let (status, body) = env.send_as("v23.0", Some("other"), text_to(USER, "hi")).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), 100);
    assert_eq!(body["error"]["error_subcode"], 33);
    assert_eq!(env.sim().stats().rejected_by_code.get(&190), Some(&2));
}

#[tokio::test]
async fn validation_errors_are_code_100_with_details() {
    let env = env().await;
    env.sim().customer_sends(PNID, USER, "Sheena", CustomerMessage::text("hello")).await;
    let buttons: Vec<_> =
        (0..4).map(|i| json!({"type":"reply","reply":{"id":format!("b{i}"),"title":format!("B{i}")}})).collect();
    let cases = vec![
        json!({"to": USER, "type": "text", "text": {"body": "x"}}),
        json!({"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}),
        json!({"messaging_product":"whatsapp","to":USER,"type":"hologram","hologram":{}}),
        json!({"messaging_product":"whatsapp","to":USER,"type":"text","text":{"body":"x".repeat(4097)}}),
        json!({"messaging_product":"whatsapp","to":USER,"type":"text","text":{}}),
        json!({"messaging_product":"whatsapp","to":USER,"type":"image","image":{}}),
        json!({"messaging_product":"whatsapp","to":USER,"type":"image","image":{"id":"999"}}),
        json!({"messaging_product":"whatsapp","to":USER,"type":"interactive","interactive":{"type":"button","body":{"text":"pick"},"action":{"buttons":buttons}}}),
        json!({"messaging_product":"whatsapp","to":USER,"type":"location","location":{"latitude":"north"}}),
        json!({"messaging_product":"whatsapp","to":"not-a-number","type":"text","text":{"body":"x"}}),
        json!({"messaging_product":"whatsapp","to":USER,"type":"template","template":{"name":"hello_world"}}),
    ];
    for body in cases {
        let (status, resp) = env.send(body.clone()).await;
        assert_eq!(status, 400, "{body} -> {resp}");
        assert_eq!(error_code(&resp), 100, "{body} -> {resp}");
        assert!(resp["error"]["error_data"]["details"].is_string(), "{body} -> {resp}");
        assert_eq!(resp["error"]["message"], "(#100) Invalid parameter");
    }
    // Malformed JSON.
    let resp = env
        .http
        .post(env.url(&format!("/v23.0/{PNID}/messages")))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Success shape, and `type` defaulting to text.
    let (status, resp) =
        env.send(json!({"messaging_product":"whatsapp","to":"+1 (650) 555-1234","text":{"body":"hi"}})).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["messaging_product"], "whatsapp");
    assert_eq!(resp["contacts"][0]["input"], "+1 (650) 555-1234");
    assert_eq!(resp["contacts"][0]["wa_id"], USER);
    let wamid = resp["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid.HBgL"), "{wamid}");
    assert!(resp["messages"][0].get("message_status").is_none());
    let sent = env.sim().sent_messages(PNID);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].wamid, wamid);
    assert_eq!(sent[0].body["text"]["body"], "hi");
}

#[tokio::test]
async fn throughput_limit_is_130429() {
    let env = env().await;
    env.sim().register_number(
        meta_sim::NumberSpec::new(WABA, PNID, DISPLAY, TOKEN, SECRET)
            .with_webhook_url(env.rx.url.clone())
            .with_throughput(5),
    );
    let mut codes = Vec::new();
    for i in 0..10 {
        // Templates need no window; distinct users avoid the pair limit.
        let body = json!({"messaging_product":"whatsapp","to":format!("1555000{i:04}"),"type":"template",
            "template":{"name":"hello_world","language":{"code":"en_US"}}});
        let (status, resp) = env.send(body).await;
        codes.push((status, error_code(&resp)));
    }
    assert!(codes[..5].iter().all(|c| c.0 == 200), "{codes:?}");
    assert!(codes.contains(&(400, 130429)), "{codes:?}");
    // Lifting limits lets everything through.
    env.sim().update_config(|c| c.limits_enabled = false);
    for i in 0..20 {
        let body = json!({"messaging_product":"whatsapp","to":format!("1555100{i:04}"),"type":"template",
            "template":{"name":"hello_world","language":{"code":"en_US"}}});
        assert_eq!(env.send(body).await.0, 200);
    }
}

#[tokio::test]
async fn pair_rate_limit_is_131056() {
    let env = env_with(|c| {
        c.pair_rate_burst = 3;
        c.pair_rate_interval = Duration::from_secs(6);
    })
    .await;
    env.sim().customer_sends(PNID, USER, "Sheena", CustomerMessage::text("hello")).await;
    for _ in 0..3 {
        assert_eq!(env.send(text_to(USER, "x")).await.0, 200);
    }
    let (status, resp) = env.send(text_to(USER, "x")).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&resp), 131056);
    assert!(resp["error"]["message"].as_str().unwrap().starts_with("(#131056)"));
    // Another user is not affected.
    let body = json!({"messaging_product":"whatsapp","to":"16505550000","type":"template",
        "template":{"name":"hello_world","language":{"code":"en_US"}}});
    assert_eq!(env.send(body).await.0, 200);
}

#[tokio::test]
async fn window_closed_sync_is_131047() {
    let env = env_with(|c| {
        c.window_failure_async = false;
        c.customer_service_window = Duration::from_millis(150);
    })
    .await;
    let (status, resp) = env.send(text_to(USER, "hi")).await;
    assert_eq!((status, error_code(&resp)), (400, 131047), "{resp}");
    env.sim().customer_sends(PNID, USER, "Sheena", CustomerMessage::text("hello")).await;
    assert!(env.sim().window_open(PNID, USER));
    assert_eq!(env.send(text_to(USER, "hi")).await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, resp) = env.send(text_to(USER, "hi")).await;
    assert_eq!((status, error_code(&resp)), (400, 131047));
    // Templates are allowed outside the window.
    let body = json!({"messaging_product":"whatsapp","to":USER,"type":"template",
        "template":{"name":"hello_world","language":{"code":"en_US"}}});
    let (status, resp) = env.send(body).await;
    assert_eq!(status, 200);
    assert_eq!(resp["messages"][0]["message_status"], "accepted");
}

#[tokio::test]
async fn window_closed_async_gives_failed_status_131047() {
    let env = env().await;
    let (status, resp) = env.send(text_to(USER, "hi")).await;
    assert_eq!(status, 200, "{resp}");
    let wamid = resp["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(wait_until(Duration::from_secs(5), || !env.rx.statuses().is_empty()).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let statuses = env.rx.statuses();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let s = &statuses[0];
    assert_eq!(s["id"], wamid.as_str());
    assert_eq!(s["status"], "failed");
    assert_eq!(s["errors"][0]["code"], 131047);
    assert!(s["errors"][0]["title"].is_string());
    assert!(s["errors"][0]["error_data"]["details"].is_string());
}

#[tokio::test]
async fn template_rules_132001_and_132000() {
    let env = env_with(|c| c.template_review = ReviewRule::NeverReview).await;
    let send_t = |name: &str, lang: &str, params: Vec<&str>| {
        let ps: Vec<_> = params.iter().map(|p| json!({"type":"text","text":p})).collect();
        json!({"messaging_product":"whatsapp","to":USER,"type":"template",
            "template":{"name":name,"language":{"code":lang},
            "components":[{"type":"body","parameters":ps}]}})
    };
    // Unknown template / language.
    let (status, resp) = env.send(send_t("nope", "en_US", vec![])).await;
    assert_eq!((status, error_code(&resp)), (404, 132001), "{resp}");
    let (_, resp) = env.send(send_t("hello_world", "pt_BR", vec![])).await;
    assert_eq!(error_code(&resp), 132001);
    // Pending (not approved) template.
    let (status, created) = env
        .post_json(
            &format!("/v23.0/{WABA}/message_templates"),
            Some(TOKEN),
            json!({"name":"order_update","language":"en_US","category":"utility",
                "components":[{"type":"BODY","text":"Hi {{1}}, order {{2}} shipped"}]}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["category"], "UTILITY");
    let (_, resp) = env.send(send_t("order_update", "en_US", vec!["a", "b"])).await;
    assert_eq!(error_code(&resp), 132001);
    // Approved, wrong parameter count.
    env.sim().add_template(TemplateSpec {
        waba_id: WABA.into(),
        name: "shipping".into(),
        language: "en_US".into(),
        category: "UTILITY".into(),
        components: json!([{"type":"BODY","text":"Hi {{1}}, order {{2}} shipped"}]),
        status: "APPROVED".into(),
    });
    let (status, resp) = env.send(send_t("shipping", "en_US", vec!["a"])).await;
    assert_eq!((status, error_code(&resp)), (400, 132000), "{resp}");
    let (status, resp) = env.send(send_t("shipping", "en_US", vec!["a", "b"])).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["messages"][0]["message_status"], "accepted");
    // Paused template.
    env.sim().set_template_status(WABA, "shipping", None, "PAUSED", None);
    let (_, resp) = env.send(send_t("shipping", "en_US", vec!["a", "b"])).await;
    assert_eq!(error_code(&resp), 132015);
}

#[tokio::test]
async fn injected_failures_sync_and_async() {
    let env = env().await;
    env.sim().customer_sends(PNID, USER, "Sheena", CustomerMessage::text("hello")).await;
    env.sim().inject_failures(PNID, 2, 131000);
    for _ in 0..2 {
        let (status, resp) = env.send(text_to(USER, "x")).await;
        assert_eq!((status, error_code(&resp)), (500, 131000), "{resp}");
    }
    env.sim().inject_failures(PNID, 1, 130429);
    let (status, resp) = env.send(text_to(USER, "x")).await;
    assert_eq!((status, error_code(&resp)), (400, 130429));
    assert_eq!(env.send(text_to(USER, "x")).await.0, 200);
    // Async: accepted, then a failed status.
    env.sim().inject_async_failures(PNID, 1, 131026);
    let (status, resp) = env.send(text_to(USER, "x")).await;
    assert_eq!(status, 200);
    let wamid = resp["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(
        wait_until(Duration::from_secs(5), || env
            .rx
            .statuses()
            .iter()
            .any(|s| s["id"] == wamid.as_str() && s["status"] == "failed" && s["errors"][0]["code"] == 131026))
        .await
    );
    let stats = env.sim().stats();
    assert_eq!(stats.rejected_by_code.get(&131000), Some(&2));
    assert_eq!(stats.async_failures, 1);
}

#[tokio::test]
async fn mark_as_read_and_typing_indicator() {
    let env = env().await;
    let wamid = env.sim().customer_sends(PNID, USER, "Sheena", CustomerMessage::text("hello")).await;
    let (status, resp) = env
        .send(json!({"messaging_product":"whatsapp","status":"read","message_id":wamid,
            "typing_indicator":{"type":"text"}}))
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({"success": true}));
    assert_eq!(env.sim().marked_read(PNID), vec![wamid]);
    let (status, resp) =
        env.send(json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.unknown"})).await;
    assert_eq!((status, error_code(&resp)), (400, 100));
}

#[tokio::test]
async fn phone_number_endpoint() {
    let env = env().await;
    let (status, body) = env.get(&format!("/v23.0/{PNID}"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], PNID);
    assert_eq!(body["display_phone_number"], DISPLAY);
    assert_eq!(body["quality_rating"], "GREEN");
    assert_eq!(body["platform_type"], "CLOUD_API");
    assert_eq!(body["code_verification_status"], "VERIFIED");
    assert_eq!(body["throughput"]["level"], "STANDARD");
    assert!(body["verified_name"].is_string());
    let (_, body) = env.get(&format!("/v24.0/{PNID}?fields=throughput"), Some(TOKEN)).await;
    assert_eq!(body, json!({"id": PNID, "throughput": {"level": "STANDARD"}}));
    let (status, body) = env.get(&format!("/v23.0/{PNID}"), None).await;
    assert_eq!((status, error_code(&body)), (401, 190));
    let (status, _) = env.get("/nonsense/path/here/x", Some(TOKEN)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn send_response_keys_in_meta_order() {
    let env = env().await;
    let body = json!({"messaging_product":"whatsapp","to":USER,"type":"template",
        "template":{"name":"hello_world","language":{"code":"en_US"}}});
    let raw = env
        .http
        .post(env.url(&format!("/v23.0/{PNID}/messages")))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!(
        r#"{{"messaging_product":"whatsapp","contacts":[{{"input":"{USER}","wa_id":"{USER}"}}],"messages":[{{"id":"wamid."#
    );
    assert!(raw.starts_with(&prefix), "{raw}");
    assert!(raw.ends_with(r#"","message_status":"accepted"}]}"#), "{raw}");
}
