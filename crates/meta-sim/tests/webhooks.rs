//! Webhook delivery: signatures, payload shapes, status lifecycle, batching, retries.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use meta_sim::{CustomerMessage, MediaInput};
use serde_json::{Value, json};

#[tokio::test]
async fn inbound_text_is_signed_and_shaped_like_meta() {
    let env = env().await;
    let wamid = env
        .sim()
        .customer_sends(PNID, USER, "Sheena Nelson", CustomerMessage::text("Does it come in another color?"))
        .await;
    assert!(wamid.starts_with("wamid.HBgL"));
    assert!(wait_until(Duration::from_secs(5), || !env.rx.deliveries().is_empty()).await);
    let d = &env.rx.deliveries()[0];
    assert!(d.signature_ok, "HMAC-SHA256 with the app secret must verify");
    let raw = std::str::from_utf8(&d.raw).unwrap();
    assert!(
        raw.starts_with(&format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"{DISPLAY}","phone_number_id":"{PNID}"}},"contacts":"#
        )),
        "keys in Meta's order: {raw}"
    );
    assert!(!verify("wrong-secret", &d.raw, &meta_sim::signature_header(SECRET, &d.raw)));
    let expected = json!({"object":"whatsapp_business_account","entry":[{"id":WABA,"changes":[{"value":{
        "messaging_product":"whatsapp",
        "metadata":{"display_phone_number":DISPLAY,"phone_number_id":PNID},
        "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":USER}],
        "messages":[{"from":USER,"id":wamid,"timestamp":d.body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"],
            "type":"text","text":{"body":"Does it come in another color?"}}]},
        "field":"messages"}]}]});
    assert_eq!(d.body, expected);
    let ts = d.body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"].as_str().unwrap();
    assert!(ts.parse::<u64>().unwrap() > 1_700_000_000);
    // Counted once the simulator has read the receiver's answer (just after the receiver saw it).
    assert!(wait_until(Duration::from_secs(5), || env.sim().stats().webhooks_delivered == 1).await);
    let stats = env.sim().stats();
    assert_eq!(stats.webhooks_delivered, 1);
    assert_eq!(stats.customer_messages, 1);
}

#[tokio::test]
async fn every_customer_message_type() {
    let env = env().await;
    let sim = env.sim();
    let out = {
        sim.customer_sends(PNID, USER, "S", CustomerMessage::text("hi")).await;
        let (_, r) = env.send(text_to(USER, "pick one")).await;
        r["messages"][0]["id"].as_str().unwrap().to_string()
    };
    let msgs = vec![
        CustomerMessage::Image {
            media: MediaInput::new("image/png", b"\x89PNG fake".to_vec()),
            caption: Some("Taj".into()),
        },
        CustomerMessage::Audio { media: MediaInput::default(), voice: true },
        CustomerMessage::Video { media: MediaInput::default(), caption: None },
        CustomerMessage::Document {
            media: MediaInput::default(),
            caption: Some("inv".into()),
            filename: Some("invoice.pdf".into()),
        },
        CustomerMessage::Sticker { media: MediaInput::default(), animated: false },
        CustomerMessage::Location {
            latitude: 37.44,
            longitude: -122.16,
            name: Some("Philz".into()),
            address: None,
            url: None,
        },
        CustomerMessage::Contacts {
            contacts: vec![
                json!({"name":{"formatted_name":"Lucía Gómez","first_name":"Lucía"},"phones":[{"phone":"+1 983 555 2319","wa_id":"19835552319","type":"MOBILE"}]}),
            ],
        },
        CustomerMessage::ButtonReply { id: "yes".into(), title: "Yes".into() },
        CustomerMessage::ListReply {
            id: "express".into(),
            title: "Express".into(),
            description: Some("Next day".into()),
        },
        CustomerMessage::Button { payload: "Unsubscribe".into(), text: "Unsubscribe".into() },
        CustomerMessage::Reaction { message_id: out.clone(), emoji: "👍".into() },
        CustomerMessage::Reaction { message_id: out.clone(), emoji: String::new() },
        CustomerMessage::text("quoted").reply_to(out.clone()),
        CustomerMessage::Raw {
            message: json!({"type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]}),
        },
    ];
    let n = msgs.len();
    for m in msgs {
        sim.customer_sends(PNID, USER, "S", m).await;
    }
    assert!(wait_until(Duration::from_secs(5), || env.rx.messages().len() == n + 1).await);
    let got: Vec<Value> = env.rx.messages();
    let by_type = |t: &str| -> Vec<Value> { got.iter().filter(|m| m["type"] == t).cloned().collect() };
    let image = &by_type("image")[0]["image"];
    assert_eq!(image["mime_type"], "image/png");
    assert_eq!(image["caption"], "Taj");
    assert!(image["sha256"].is_string() && image["id"].is_string());
    // The media is downloadable by the business.
    let (status, meta) = env.get(&format!("/v23.0/{}", image["id"].as_str().unwrap()), Some(TOKEN)).await;
    assert_eq!(status, 200);
    let bytes =
        env.http.get(meta["url"].as_str().unwrap()).bearer_auth(TOKEN).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], b"\x89PNG fake");
    let audio = &by_type("audio")[0]["audio"];
    assert_eq!(audio["voice"], true);
    assert_eq!(audio["mime_type"], "audio/ogg; codecs=opus");
    assert_eq!(by_type("document")[0]["document"]["filename"], "invoice.pdf");
    assert_eq!(by_type("sticker")[0]["sticker"]["animated"], false);
    assert_eq!(by_type("location")[0]["location"]["latitude"], 37.44);
    assert_eq!(by_type("contacts")[0]["contacts"][0]["phones"][0]["wa_id"], "19835552319");
    let inter = by_type("interactive");
    assert_eq!(inter[0]["interactive"]["type"], "button_reply");
    assert_eq!(inter[0]["interactive"]["button_reply"], json!({"id":"yes","title":"Yes"}));
    assert_eq!(inter[0]["context"], json!({"from": DISPLAY, "id": out}));
    assert_eq!(inter[1]["interactive"]["list_reply"]["description"], "Next day");
    assert_eq!(by_type("button")[0]["button"], json!({"payload":"Unsubscribe","text":"Unsubscribe"}));
    assert_eq!(by_type("button")[0]["context"]["id"], out.as_str());
    let reactions = by_type("reaction");
    assert_eq!(reactions[0]["reaction"], json!({"message_id": out, "emoji": "👍"}));
    assert_eq!(reactions[1]["reaction"]["emoji"], "");
    let quoted: Vec<_> = by_type("text").into_iter().filter(|m| m["text"]["body"] == "quoted").collect();
    assert_eq!(quoted[0]["context"]["id"], out.as_str());
    assert_eq!(by_type("unsupported")[0]["errors"][0]["code"], 131051);
    assert!(env.rx.deliveries().iter().all(|d| d.signature_ok));
}

/// Status delays far enough apart that concurrent POSTs arrive in order even on a busy machine.
fn spaced(c: &mut meta_sim::SimConfig) {
    c.status_delays.sent = Duration::ZERO;
    c.status_delays.delivered = Duration::from_millis(60);
    c.status_delays.read = Duration::from_millis(120);
}

#[tokio::test]
async fn status_lifecycle_sent_delivered_read_with_pricing() {
    let env = env_with(spaced).await;
    env.sim().customer_sends(PNID, USER, "S", CustomerMessage::text("hi")).await;
    let (_, r) = env.send(text_to(USER, "reply")).await;
    let wamid = r["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(wait_until(Duration::from_secs(5), || env.rx.statuses().len() == 3).await);
    let st = env.rx.statuses();
    let order: Vec<&str> = st.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(order, ["sent", "delivered", "read"]);
    for s in &st {
        assert_eq!(s["id"], wamid.as_str());
        assert_eq!(s["recipient_id"], USER);
        assert!(s["timestamp"].is_string());
    }
    // Free-form reply inside the window: PMP, free_customer_service, service.
    assert_eq!(
        st[0]["pricing"],
        json!({"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"service"})
    );
    assert_eq!(st[1]["pricing"], st[0]["pricing"]);
    assert!(st[2].get("pricing").is_none());
    // v23.0 still carries `conversation`; `expiration_timestamp` only on sent.
    assert_eq!(st[0]["conversation"]["origin"]["type"], "service");
    assert!(st[0]["conversation"]["expiration_timestamp"].is_string());
    assert!(st[1]["conversation"].get("expiration_timestamp").is_none());
    // v24.0+: no conversation; a marketing template is billable.
    env.sim().add_template(meta_sim::TemplateSpec {
        waba_id: WABA.into(),
        name: "promo".into(),
        language: "en_US".into(),
        category: "MARKETING".into(),
        components: json!([{"type":"BODY","text":"Sale!"}]),
        status: "APPROVED".into(),
    });
    let (status, r) = env
        .send_as(
            "v24.0",
            Some(TOKEN),
            json!({"messaging_product":"whatsapp","to":USER,"type":"template",
            "biz_opaque_callback_data":"campaign-7",
            "template":{"name":"promo","language":{"code":"en_US"}}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let w2 = r["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(wait_until(Duration::from_secs(5), || env.rx.statuses().len() == 6).await);
    let st: Vec<Value> = env.rx.statuses().into_iter().filter(|s| s["id"] == w2.as_str()).collect();
    assert_eq!(st.len(), 3);
    assert!(st.iter().all(|s| s.get("conversation").is_none()));
    assert!(st.iter().all(|s| s["biz_opaque_callback_data"] == "campaign-7"));
    assert_eq!(
        st[0]["pricing"],
        json!({"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"})
    );
}

#[tokio::test]
async fn skipped_delivered_out_of_order_and_duplicates() {
    let env = env_with(|c| {
        spaced(c);
        c.delivered_skip_probability = 1.0;
    })
    .await;
    env.sim().customer_sends(PNID, USER, "S", CustomerMessage::text("hi")).await;
    env.send(text_to(USER, "a")).await;
    assert!(wait_until(Duration::from_secs(5), || env.rx.statuses().len() == 2).await);
    let st = env.rx.statuses();
    assert_eq!(st[0]["status"], "sent");
    assert_eq!(st[1]["status"], "read");
    assert!(st[1]["pricing"].is_object(), "read carries pricing when delivered is skipped");

    env.sim().update_config(|c| {
        c.delivered_skip_probability = 0.0;
        c.out_of_order_probability = 1.0;
        c.duplicate_probability = 1.0;
    });
    let (_, r) = env.send(text_to(USER, "b")).await;
    let w = r["messages"][0]["id"].as_str().unwrap().to_string();
    let mine = || -> Vec<Value> { env.rx.statuses().into_iter().filter(|s| s["id"] == w.as_str()).collect() };
    assert!(wait_until(Duration::from_secs(5), || mine().len() == 4).await);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let st = mine();
    assert_eq!(st.len(), 4, "three statuses plus one duplicate");
    let pos = |name: &str| st.iter().position(|s| s["status"] == name).unwrap();
    assert!(pos("read") < pos("delivered"), "read arrives before delivered");
}

#[tokio::test]
async fn retries_until_the_receiver_recovers() {
    let env = env().await;
    env.rx.fail_next.store(3, Ordering::SeqCst);
    env.sim().customer_sends(PNID, USER, "S", CustomerMessage::text("hi")).await;
    // The simulator counts a delivery once it has read the receiver's answer, a moment after the
    // receiver recorded it: wait for both.
    assert!(
        wait_until(Duration::from_secs(10), || env.rx.deliveries().len() == 1
            && env.sim().stats().webhooks_delivered == 1)
        .await
    );
    assert_eq!(env.rx.attempts.load(Ordering::SeqCst), 4);
    let stats = env.sim().stats();
    assert_eq!(stats.webhook_attempts_failed, 3);
    assert_eq!(stats.webhooks_retried, 3);
    assert_eq!(stats.webhooks_delivered, 1);
    assert!(env.rx.deliveries()[0].signature_ok);

    // Unreachable receiver: attempts fail without reaching it, then succeed once it is back.
    env.sim().set_webhook_unreachable(true);
    env.sim().customer_sends(PNID, USER, "S", CustomerMessage::text("again")).await;
    assert!(wait_until(Duration::from_secs(5), || env.sim().stats().webhook_attempts_failed >= 5).await);
    assert_eq!(env.rx.deliveries().len(), 1);
    env.sim().set_webhook_unreachable(false);
    assert!(wait_until(Duration::from_secs(10), || env.rx.deliveries().len() == 2).await);
}

#[tokio::test]
async fn retry_window_drops_after_max_age() {
    let env = env_with(|c| {
        c.webhook_retry.time_scale = 0.0;
        c.webhook_retry.max_age = Duration::from_secs(60);
        c.webhook_retry.initial_backoff = Duration::from_secs(10);
    })
    .await;
    env.sim().set_webhook_unreachable(true);
    env.sim().customer_sends(PNID, USER, "S", CustomerMessage::text("hi")).await;
    assert!(wait_until(Duration::from_secs(5), || env.sim().stats().webhooks_dropped == 1).await);
    // immediate, 10, 20 (=30), 40 would exceed 60: 1 + 3 retries, then dropped.
    let s = env.sim().stats();
    assert_eq!(s.webhooks_retried, 3);
    assert_eq!(s.webhook_attempts_failed, 4);
}

#[tokio::test]
async fn batching_groups_updates_into_one_post() {
    let env = env_with(|c| {
        c.webhook_batch_max = 10;
        c.webhook_batch_linger = Duration::from_millis(100);
    })
    .await;
    for i in 0..5 {
        env.sim().customer_sends(PNID, &format!("1650555000{i}"), "S", CustomerMessage::text(format!("m{i}"))).await;
    }
    assert!(wait_until(Duration::from_secs(5), || env.rx.messages().len() == 5).await);
    let d = env.rx.deliveries();
    assert_eq!(d.len(), 1, "one POST");
    let value = &d[0].body["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messages"].as_array().unwrap().len(), 5);
    assert_eq!(value["contacts"].as_array().unwrap().len(), 5);
    assert!(d[0].signature_ok);
}

#[tokio::test]
async fn numbers_without_webhook_url_drop_updates() {
    let env = env().await;
    env.sim().set_webhook_url(PNID, None);
    env.sim().customer_sends(PNID, USER, "S", CustomerMessage::text("hi")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(env.rx.deliveries().is_empty());
    assert_eq!(env.sim().stats().webhook_items_dropped_no_url, 1);
}
