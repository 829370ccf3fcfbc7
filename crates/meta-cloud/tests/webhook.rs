//! Webhook parsing: Meta's 16 official examples, the shapes documented elsewhere (statuses,
//! templates, BSUID, voice, un-react, flows, forwarded), tolerance, and a no-panic property test.

use meta_cloud::error::ErrorClass;
use meta_cloud::webhook::{
    ChangeValue, InteractiveReply, MessageKind, StatusKind, WebhookEvent, WebhookPayload, parse_webhook,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn examples() -> serde_json::Map<String, Value> {
    let text = include_str!("fixtures/official-webhook-examples.json");
    serde_json::from_str(text).expect("fixture is JSON")
}

fn parse_example(name: &str) -> WebhookPayload {
    let ex = examples();
    let v = ex.get(name).unwrap_or_else(|| panic!("no example {name}"));
    parse_webhook(serde_json::to_vec(v).unwrap().as_slice()).expect("parses")
}

fn only_message(p: &WebhookPayload) -> &meta_cloud::webhook::InboundMessage {
    let msgs: Vec<_> = p.messages().collect();
    assert_eq!(msgs.len(), 1);
    msgs[0]
}

#[test]
fn every_official_example_parses_and_keeps_every_item() {
    let ex = examples();
    assert_eq!(ex.len(), 16);
    for (name, v) in &ex {
        let p = parse_webhook(serde_json::to_vec(v).unwrap().as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.object, "whatsapp_business_account", "{name}");
        assert!(!p.entry.is_empty(), "{name}");
        // Every raw message is kept, typed or not.
        let raw_count: usize = v["entry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["changes"].as_array().unwrap())
            .map(|c| c["value"]["messages"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(p.messages().count(), raw_count, "{name}");
        assert!(p.events().count() >= 1, "{name}");
        for m in p.messages() {
            assert!(!matches!(m.kind, MessageKind::Other { .. }), "{name}: typed view expected");
            assert!(m.raw.is_object());
        }
    }
}

#[test]
fn text_message() {
    let p = parse_example("Text Message");
    let m = only_message(&p);
    assert!(matches!(&m.kind, MessageKind::Text(t) if t.body == "Does it come in another color?"));
    assert_eq!(m.from.as_deref(), Some("16505551234"));
    assert_eq!(m.timestamp_secs(), Some(1749416383));
    assert_eq!(m.text(), Some("Does it come in another color?"));
    let ev: Vec<_> = p.events().collect();
    match ev[0] {
        WebhookEvent::Message { waba_id, phone_number_id, contact, message } => {
            assert_eq!(waba_id, "419561257915477");
            assert_eq!(phone_number_id, Some("106540352242922"));
            assert_eq!(contact.unwrap().name(), Some("Sheena Nelson"));
            assert_eq!(message.id, m.id);
        }
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn product_inquiry_context_and_ad_referral() {
    let p = parse_example("Text Message with Context (Product Inquiry)");
    let ctx = only_message(&p).context.clone().unwrap();
    assert_eq!(ctx.from.as_deref(), Some("15550783881"));
    let rp = ctx.referred_product.unwrap();
    assert_eq!(rp.catalog_id, "194836987003835");
    assert_eq!(rp.product_retailer_id, "di9ozbzfi4");

    let p = parse_example("Text Message from Click to WhatsApp Ad");
    let r = only_message(&p).referral.clone().unwrap();
    assert_eq!(r.source_type.as_deref(), Some("ad"));
    assert_eq!(r.media_type.as_deref(), Some("image"));
    assert!(r.ctwa_clid.unwrap().starts_with("Aff-"));
    assert_eq!(r.welcome_message.unwrap().text, "Hi there! Let us know how we can help!");
}

#[test]
fn reaction_image_location_contacts() {
    let p = parse_example("Reaction Message");
    match &only_message(&p).kind {
        MessageKind::Reaction(r) => {
            assert_eq!(r.emoji.as_deref(), Some("👍"));
            assert!(!r.is_removal());
            assert!(r.message_id.starts_with("wamid."));
        }
        k => panic!("{k:?}"),
    }

    let p = parse_example("Image Message");
    match &only_message(&p).kind {
        MessageKind::Image(i) => {
            assert_eq!(i.id, "1003383421387256");
            assert_eq!(i.caption.as_deref(), Some("Taj Mahal"));
            assert_eq!(i.mime_type.as_deref(), Some("image/jpeg"));
        }
        k => panic!("{k:?}"),
    }

    let p = parse_example("Location Message");
    match &only_message(&p).kind {
        MessageKind::Location(l) => {
            assert!((l.latitude - 37.44221496582).abs() < 1e-9);
            assert_eq!(l.name.as_deref(), Some("Philz Coffee"));
        }
        k => panic!("{k:?}"),
    }

    let p = parse_example("Contact Sharing Message");
    match &only_message(&p).kind {
        MessageKind::Contacts(cards) => {
            assert_eq!(cards[0].name.as_ref().unwrap().formatted_name.as_deref(), Some("Lucía Gómez"));
            assert_eq!(cards[0].phones[0].wa_id.as_deref(), Some("19835552319"));
            assert_eq!(cards[0].org.as_ref().unwrap().company.as_deref(), Some("Google"));
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn unsupported_button_interactive_order_system() {
    let p = parse_example("Unsupported Message");
    let m = only_message(&p);
    assert!(matches!(m.kind, MessageKind::Unsupported { inner_type: None }));
    assert_eq!(m.errors[0].code, Some(131051));
    assert_eq!(m.errors[0].details(), Some("Message type is currently not supported."));
    assert_eq!(m.errors[0].class(), Some(ErrorClass::Permanent));

    let p = parse_example("Button Message");
    let m = only_message(&p);
    assert!(matches!(&m.kind, MessageKind::Button(b) if b.payload.as_deref() == Some("Unsubscribe")));
    assert!(m.context.as_ref().unwrap().id.as_deref().unwrap().starts_with("wamid."));

    let p = parse_example("Interactive List Reply Message");
    match &only_message(&p).kind {
        MessageKind::Interactive(InteractiveReply::ListReply { id, title, description }) => {
            assert_eq!(id, "priority_express");
            assert_eq!(title, "Priority Mail Express");
            assert_eq!(description.as_deref(), Some("Next Day to 2 Days"));
        }
        k => panic!("{k:?}"),
    }

    let p = parse_example("Interactive Button Reply Message");
    assert!(matches!(&only_message(&p).kind,
        MessageKind::Interactive(InteractiveReply::ButtonReply { id, title }) if id == "cancel-button" && title == "Cancel"));

    let p = parse_example("Order Message");
    match &only_message(&p).kind {
        MessageKind::Order(o) => {
            assert_eq!(o.catalog_id.as_deref(), Some("194836987003835"));
            assert_eq!(o.product_items.len(), 2);
            assert_eq!(o.product_items[0].quantity, Some(2.0));
            assert_eq!(o.product_items[0].item_price, Some(30.0));
        }
        k => panic!("{k:?}"),
    }

    let p = parse_example("System Message");
    let m = only_message(&p);
    match &m.kind {
        MessageKind::System(s) => {
            assert_eq!(s.system_type.as_deref(), Some("user_changed_number"));
            assert_eq!(s.wa_id.as_deref(), Some("12195555358"));
        }
        k => panic!("{k:?}"),
    }
    // System messages carry no contacts block.
    assert!(matches!(p.events().next(), Some(WebhookEvent::Message { contact: None, .. })));
}

#[test]
fn group_webhooks_are_kept_raw() {
    for name in ["Group Create Message", "Group Settings Update", "Group Remove Participants"] {
        let p = parse_example(name);
        let ev: Vec<_> = p.events().collect();
        assert_eq!(ev.len(), 1, "{name}");
        match ev[0] {
            WebhookEvent::Other { field, value, waba_id } => {
                assert!(field.starts_with("group_"), "{name}");
                assert_eq!(waba_id, "102290129340398");
                assert!(value["groups"][0]["group_id"].is_string());
            }
            ref other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn payloads_serialize_back_to_meta_json() {
    // Every official example re-serialises to exactly the JSON it was parsed from.
    for (name, v) in &examples() {
        let p: WebhookPayload = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(&serde_json::to_value(&p).unwrap(), v, "{name}");
    }
    // Unknown fields on contacts, errors and template updates survive too.
    let v = json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "time": 7, "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "1", "phone_number_id": "P"},
            "contacts": [{"profile": {"name": "N"}, "wa_id": "1", "identity_key_hash": "k"}],
            "messages": [{"from": "1", "id": "m", "timestamp": "1", "type": "brand_new", "brand_new": {"x": 1}}],
            "statuses": [{"id": "s", "status": "sent", "timestamp": "1", "future": true}],
            "errors": [{"code": 1, "title": "t", "new_field": [1]}],
            "groups": []}},
        {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 5,
            "message_template_name": "n", "message_template_language": "en_US", "reason": "NONE", "new_info": {"a": 1}}}
    ]}]});
    let p = parse_webhook(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&p).unwrap(), v);
}

#[test]
fn a_simulator_can_build_webhooks_with_the_model() {
    use meta_cloud::webhook::{
        Change, Contact, Entry, InboundMessage, MessageStatus, MessagesValue, Metadata, Profile,
    };
    let value = MessagesValue {
        messaging_product: Some("whatsapp".into()),
        metadata: Some(Metadata { display_phone_number: Some("15550783881".into()), phone_number_id: "PN".into() }),
        contacts: vec![Contact {
            wa_id: Some("16505551234".into()),
            profile: Some(Profile { name: Some("Sheena".into()), username: None }),
            ..Default::default()
        }],
        messages: vec![InboundMessage::from_raw(json!({"from": "16505551234", "id": "wamid.1", "timestamp": "1",
            "type": "text", "text": {"body": "hi"}}))],
        statuses: vec![MessageStatus::from_raw(json!({"id": "wamid.2", "status": "read", "timestamp": "2"}))],
        ..Default::default()
    };
    let payload = WebhookPayload {
        object: "whatsapp_business_account".into(),
        entry: vec![Entry {
            id: "WABA".into(),
            time: None,
            changes: vec![Change { field: "messages".into(), value: ChangeValue::Messages(value) }],
        }],
    };
    let bytes = serde_json::to_vec(&payload).unwrap();
    let back = parse_webhook(&bytes).unwrap();
    assert_eq!(back, payload);
    assert_eq!(back.messages().next().unwrap().text(), Some("hi"));
}

fn envelope(field: &str, value: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "time": 1751247548, "changes": [{"field": field, "value": value}]}]}))
    .unwrap()
}

fn messages_value(extra: Value) -> Value {
    let mut v = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "PN1"}});
    v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    v
}

#[test]
fn statuses_pricing_conversation_errors() {
    let body = envelope(
        "messages",
        messages_value(json!({"statuses": [
            {"id": "wamid.A", "status": "sent", "timestamp": "1750030073", "recipient_id": "16505551234",
             "conversation": {"id": "72b1", "expiration_timestamp": "1750116480", "origin": {"type": "marketing"}},
             "pricing": {"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"}},
            {"id": "wamid.B", "status": "delivered", "timestamp": "1698266945", "recipient_id": "972987654321",
             "pricing": {"billable": true, "pricing_model": "CBP", "category": "authentication-international"}},
            {"id": "wamid.C", "status": "read", "timestamp": "1", "recipient_user_id": "US.1349"},
            {"id": "wamid.D", "status": "played", "timestamp": "2"},
            {"id": "wamid.E", "status": "failed", "timestamp": "1751142888", "recipient_id": "16505551234",
             "errors": [{"code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement.",
               "message": "x", "error_data": {"details": "d"}, "href": "/documentation/x"}]},
            {"id": "wamid.F", "status": "deleted_future", "timestamp": "3"}
        ]})),
    );
    let p = parse_webhook(&body).unwrap();
    let st: Vec<_> = p.statuses().collect();
    assert_eq!(st.len(), 6);
    assert_eq!(st[0].status, StatusKind::Sent);
    let conv = st[0].conversation.as_ref().unwrap();
    assert_eq!(conv.origin.as_ref().unwrap().origin_type.as_deref(), Some("marketing"));
    assert_eq!(conv.expiration_timestamp.as_deref(), Some("1750116480"));
    let pr = st[0].pricing.as_ref().unwrap();
    assert_eq!(
        (pr.billable, pr.pricing_model.as_deref(), pr.pricing_type.as_deref()),
        (Some(true), Some("PMP"), Some("regular"))
    );
    assert_eq!(st[1].pricing.as_ref().unwrap().pricing_model.as_deref(), Some("CBP"));
    assert_eq!(st[1].pricing.as_ref().unwrap().normalized_category().as_deref(), Some("authentication_international"));
    assert_eq!(st[2].status, StatusKind::Read);
    assert_eq!(st[2].recipient_id, None);
    assert_eq!(st[2].recipient_user_id.as_deref(), Some("US.1349"));
    assert_eq!(st[3].status, StatusKind::Played);
    assert_eq!(st[4].status, StatusKind::Failed);
    assert_eq!(st[4].errors[0].code, Some(131049));
    assert_eq!(st[4].errors[0].class(), Some(ErrorClass::QualityHold));
    assert_eq!(st[5].status, StatusKind::Other("deleted_future".into()));
    assert!(StatusKind::Read.rank() > StatusKind::Delivered.rank());
    assert!(st.iter().all(|s| s.raw.is_object()));
    assert!(p.events().all(|e| matches!(e, WebhookEvent::Status { phone_number_id: Some("PN1"), .. })));
}

#[test]
fn value_errors_become_error_events() {
    let body = envelope(
        "messages",
        messages_value(json!({"errors": [{"code": 130429, "title": "Rate limit hit", "message": "Rate limit hit",
            "error_data": {"details": "too many"}, "href": "/documentation/x"}]})),
    );
    let p = parse_webhook(&body).unwrap();
    let ev: Vec<_> = p.events().collect();
    assert!(matches!(ev[..], [WebhookEvent::Error { error, .. }] if error.code == Some(130429)
        && error.class() == Some(ErrorClass::RetryLater)));
}

#[test]
fn template_updates_are_typed_and_other_fields_raw() {
    let p = parse_webhook(&envelope(
        "message_template_status_update",
        json!({"event": "REJECTED", "message_template_id": 1689556908129832_i64, "message_template_name": "order_confirmation",
               "message_template_language": "en-US", "reason": "INVALID_FORMAT", "message_template_category": "UTILITY",
               "rejection_info": {"reason": "r", "recommendation": "x"}}),
    ))
    .unwrap();
    assert_eq!(p.entry[0].time, Some(1751247548));
    match p.events().next().unwrap() {
        WebhookEvent::TemplateStatus { waba_id, update } => {
            assert_eq!(waba_id, "WABA1");
            assert_eq!(update.event, "REJECTED");
            assert_eq!(update.message_template_id, Some(1689556908129832));
            assert_eq!(update.reason.as_deref(), Some("INVALID_FORMAT"));
            assert_eq!(update.rejection_info.as_ref().unwrap()["recommendation"], "x");
        }
        other => panic!("{other:?}"),
    }
    // reason null (scheduled for deletion)
    let p = parse_webhook(&envelope(
        "message_template_status_update",
        json!({"event": "PENDING_DELETION", "message_template_id": 1, "message_template_name": "n",
               "message_template_language": "en_US", "reason": null}),
    ))
    .unwrap();
    assert!(matches!(&p.entry[0].changes[0].value, ChangeValue::TemplateStatus(u) if u.reason.is_none()));

    let p = parse_webhook(&envelope(
        "template_category_update",
        json!({"message_template_id": 2, "message_template_name": "n", "message_template_language": "en_US",
               "previous_category": "UTILITY", "new_category": "MARKETING"}),
    ))
    .unwrap();
    assert!(matches!(p.events().next(), Some(WebhookEvent::TemplateCategory { update, .. })
        if update.new_category.as_deref() == Some("MARKETING")));

    let p = parse_webhook(&envelope(
        "message_template_quality_update",
        json!({"previous_quality_score": "GREEN", "new_quality_score": "YELLOW", "message_template_id": 3,
               "message_template_name": "n", "message_template_language": "en_US"}),
    ))
    .unwrap();
    assert!(matches!(p.events().next(), Some(WebhookEvent::TemplateQuality { update, .. })
        if update.new_quality_score.as_deref() == Some("YELLOW")));

    let p = parse_webhook(&envelope(
        "account_update",
        json!({"event": "VOLUME_BASED_PRICING_TIER_UPDATE", "volume_tier_info": {"tier": "25000001:50000000"}}),
    ))
    .unwrap();
    assert!(matches!(p.events().next(), Some(WebhookEvent::Other { field: "account_update", value, .. })
        if value["volume_tier_info"]["tier"] == "25000001:50000000"));
}

#[test]
fn bsuid_username_users_without_phone() {
    let body = envelope(
        "messages",
        messages_value(json!({
            "contacts": [{"profile": {"name": "N", "username": "@nn"}, "user_id": "US.1", "parent_user_id": "US.ENT.2"}],
            "messages": [{"from_user_id": "US.1", "id": "wamid.X", "timestamp": "5", "type": "text", "text": {"body": "hi"}}]
        })),
    );
    let p = parse_webhook(&body).unwrap();
    match p.events().next().unwrap() {
        WebhookEvent::Message { contact: Some(c), message, .. } => {
            assert_eq!(message.from, None);
            assert_eq!(message.sender(), Some("US.1"));
            assert_eq!(message.from_user_id.as_deref(), Some("US.1"));
            assert_eq!(c.wa_id, None);
            assert_eq!(c.user_id.as_deref(), Some("US.1"));
            assert_eq!(c.profile.as_ref().unwrap().username.as_deref(), Some("@nn"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pywa_style_variants() {
    let msgs = json!([
        {"from": "1", "id": "a", "timestamp": "1", "type": "audio",
         "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": "AUD", "voice": true}},
        {"from": "1", "id": "b", "timestamp": "1", "type": "reaction", "reaction": {"message_id": "wamid.Z", "emoji": ""}},
        {"from": "1", "id": "c", "timestamp": "1", "type": "reaction", "reaction": {"message_id": "wamid.Z"}},
        {"from": "1", "id": "d", "timestamp": "1", "type": "interactive", "context": {"from": "2", "id": "wamid.Q"},
         "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"flow_token\":\"T\"}"}}},
        {"from": "1", "id": "e", "timestamp": "1", "type": "text", "text": {"body": "fwd"}, "context": {"forwarded": true}},
        {"from": "1", "id": "f", "timestamp": "1", "type": "text", "text": {"body": "fwd"}, "context": {"frequently_forwarded": true}},
        {"from": "1", "id": "g", "timestamp": "1", "type": "unsupported", "unsupported": {"type": "pool"},
         "errors": [{"code": 131051, "title": "Message type unknown"}]},
        {"from": "1", "id": "h", "timestamp": "1", "type": "sticker", "sticker": {"mime_type": "image/webp", "sha256": "s", "id": "ST", "animated": true}},
        {"from": "1", "id": "i", "timestamp": "1", "type": "document",
         "document": {"caption": "c", "filename": "f.pdf", "mime_type": "application/pdf", "sha256": "s", "id": "DOC"}},
        {"from": "1", "id": "j", "timestamp": "1", "type": "image",
         "image": {"mime_type": "image/jpeg", "sha256": "s", "id": "IMG", "url": "https://lookaside.fbsbx.com/x?mid=1"}},
        {"from": "1", "id": "k", "timestamp": "1", "type": "video", "video": {"mime_type": "video/mp4", "sha256": "s", "id": "VID"}},
        {"from": "1", "id": "l", "timestamp": "1", "type": "request_welcome"},
        {"from": "1", "id": "m", "timestamp": "1", "type": "edit", "edit": {"original_message_id": "wamid.O", "message": {"type": "text"}}},
        {"from": "1", "id": "n", "timestamp": "1", "type": "text", "text": {"body": 42}},
        {"from": "1", "id": "o", "timestamp": "1", "type": "system",
         "system": {"body": "changed", "type": "customer_identity_changed", "identity": {"acknowledged": true, "hash": "h"}}}
    ]);
    let body = envelope(
        "messages",
        messages_value(json!({"contacts": [{"wa_id": "1", "profile": {"name": "U"}}], "messages": msgs})),
    );
    let p = parse_webhook(&body).unwrap();
    let m: Vec<_> = p.messages().collect();
    assert_eq!(m.len(), 15, "nothing dropped");
    assert!(matches!(&m[0].kind, MessageKind::Audio(a) if a.voice == Some(true) && a.id == "AUD"));
    assert_eq!(m[0].media().map(|a| a.id.as_str()), Some("AUD"));
    assert_eq!(m[1].media(), None);
    assert_eq!(m[0].sender(), Some("1"));
    assert!(matches!(&m[1].kind, MessageKind::Reaction(r) if r.is_removal()));
    assert!(matches!(&m[2].kind, MessageKind::Reaction(r) if r.is_removal() && r.emoji.is_none()));
    match &m[3].kind {
        MessageKind::Interactive(r @ InteractiveReply::NfmReply { name, .. }) => {
            assert_eq!(name.as_deref(), Some("flow"));
            assert_eq!(r.flow_response().unwrap()["flow_token"], "T");
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(m[4].context.as_ref().unwrap().forwarded, Some(true));
    assert_eq!(m[5].context.as_ref().unwrap().frequently_forwarded, Some(true));
    assert!(matches!(&m[6].kind, MessageKind::Unsupported { inner_type: Some(t) } if t == "pool"));
    assert!(matches!(&m[7].kind, MessageKind::Sticker(s) if s.animated == Some(true)));
    assert!(matches!(&m[8].kind, MessageKind::Document(d) if d.filename.as_deref() == Some("f.pdf")));
    assert!(matches!(&m[9].kind, MessageKind::Image(i) if i.url.as_deref().unwrap().starts_with("https://lookaside")));
    assert!(matches!(&m[10].kind, MessageKind::Video(v) if v.id == "VID"));
    assert!(
        matches!(&m[11].kind, MessageKind::Other { type_name, body } if type_name == "request_welcome" && body.is_null())
    );
    assert!(
        matches!(&m[12].kind, MessageKind::Other { type_name, body } if type_name == "edit" && body["original_message_id"] == "wamid.O")
    );
    // Unexpected shape inside a known type: falls back to Other, raw kept, batch intact.
    assert!(matches!(&m[13].kind, MessageKind::Other { type_name, .. } if type_name == "text"));
    assert_eq!(m[13].raw["text"]["body"], 42);
    assert!(matches!(&m[14].kind, MessageKind::System(s) if s.identity.as_ref().unwrap()["hash"] == "h"));
    // Every message found its contact (single contact block).
    assert!(p.events().all(|e| matches!(e, WebhookEvent::Message { contact: Some(_), .. })));
}

#[test]
fn batches_mixing_wabas_and_fields() {
    let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [
        {"id": "W1", "changes": [
            {"field": "messages", "value": messages_value(json!({"messages": [{"from": "1", "id": "a", "timestamp": "1", "type": "text", "text": {"body": "x"}}]}))},
            {"field": "messages", "value": messages_value(json!({"statuses": [{"id": "s", "status": "sent", "timestamp": "1"}]}))}]},
        {"id": "W2", "time": 5, "changes": [{"field": "history", "value": {"history": []}}]},
        "garbage",
        {"id": 12345, "changes": "not-an-array"}
    ]}))
    .unwrap();
    let p = parse_webhook(&body).unwrap();
    let ev: Vec<_> = p.events().collect();
    assert_eq!(ev.len(), 5);
    assert!(matches!(ev[0], WebhookEvent::Message { waba_id: "W1", .. }));
    assert!(matches!(ev[1], WebhookEvent::Status { waba_id: "W1", .. }));
    assert!(matches!(ev[2], WebhookEvent::Other { waba_id: "W2", field: "history", .. }));
    assert!(matches!(ev[3], WebhookEvent::Other { value: Value::String(_), .. }));
    assert!(matches!(ev[4], WebhookEvent::Other { waba_id: "12345", .. }));
}

#[test]
fn hard_failures_only_for_non_envelopes() {
    assert!(parse_webhook(b"").is_err());
    assert!(parse_webhook(b"{not json").is_err());
    assert!(parse_webhook(b"[1,2]").is_err());
    assert!(parse_webhook(b"{\"object\":\"x\"}").is_err());
    assert!(parse_webhook(b"{\"entry\":{}}").is_err());
    assert!(parse_webhook(b"{\"entry\":[]}").unwrap().entry.is_empty());
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        prop_oneof![
            Just("messages"),
            Just("text"),
            Just("type"),
            Just("entry"),
            Just("changes"),
            Just("value"),
            Just("statuses"),
            Just("interactive"),
            Just("errors"),
            Just("contacts"),
            Just("id"),
            Just(""),
        ]
        .prop_map(|s| Value::String(s.into())),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let key = prop_oneof![
            Just("object".to_string()),
            Just("entry".to_string()),
            Just("changes".to_string()),
            Just("field".to_string()),
            Just("value".to_string()),
            Just("messages".to_string()),
            Just("statuses".to_string()),
            Just("type".to_string()),
            Just("text".to_string()),
            Just("interactive".to_string()),
            Just("metadata".to_string()),
            Just("contacts".to_string()),
            Just("errors".to_string()),
            Just("context".to_string()),
            "[a-z_]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_webhook(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(p) = parse_webhook(&bytes) {
            for e in p.events() { let _ = format!("{e:?}"); }
            for m in p.messages() { let _ = (m.text(), m.timestamp_secs()); }
        }
        // The same value wrapped in a valid envelope must parse (the envelope is all that is required).
        let wrapped = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": "P"}, "messages": [v.clone()], "statuses": [v.clone()]}}]}]});
        let p = parse_webhook(&serde_json::to_vec(&wrapped).unwrap()).expect("envelope parses");
        prop_assert_eq!(p.messages().count(), 1);
        prop_assert_eq!(p.statuses().count(), 1);
    }
}
