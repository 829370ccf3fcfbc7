//! Send requests: Meta's 50 official bodies round-trip exactly, builder output validates against
//! Meta's OpenAPI spec (with the README's documented adjustments), and `validate()` enforces the
//! documented limits naming the field.

use meta_cloud::send::{
    ContactCard, ContactName, ContactPhone, Header, Interactive, InteractiveAction, ListRow, ListSection, Location,
    MarkRead, Media, MessageBody, OutboundMessage, ReplyButton, SendRequest, Template, TemplateParameter, Text,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn send_examples() -> Map<String, Value> {
    serde_json::from_str(include_str!("fixtures/official-send-examples.json")).unwrap()
}

// ---- round-trip -------------------------------------------------------------------------------

#[test]
fn every_official_send_example_round_trips_exactly() {
    let ex = send_examples();
    assert_eq!(ex.len(), 50);
    let mut raw_bodies = Vec::new();
    for (name, v) in &ex {
        let req: SendRequest = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(&back, v, "{name} does not round-trip");
        // And from the raw text, as a server would receive it.
        let text = serde_json::to_string(v).unwrap();
        let again: SendRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(again, req, "{name}");
        if let SendRequest::Message(m) = &req
            && let MessageBody::Raw { .. } = m.body
        {
            raw_bodies.push(name.clone());
        }
    }
    // Only the multi-product example (a placeholder header type) is kept as a whole raw body; every
    // other example is typed (unmodelled interactive actions and template parameters are kept
    // raw at their own level).
    assert_eq!(raw_bodies, vec!["Send Multi-Product Message".to_string()]);
}

#[test]
fn typed_views_of_official_examples() {
    let ex = send_examples();
    let get = |n: &str| -> SendRequest { serde_json::from_value(ex[n].clone()).unwrap() };
    let msg = |n: &str| match get(n) {
        SendRequest::Message(m) => m,
        other => panic!("{other:?}"),
    };

    let m = msg("Send Reply to Text Message");
    assert_eq!(m.context.unwrap().message_id, "<MSGID_OF_PREV_MSG>");
    assert!(matches!(m.body, MessageBody::Text(Text { preview_url: Some(false), .. })));

    let m = msg("Send Text Message with Preview URL");
    assert!(!m.write_type && m.recipient_type.is_none());
    assert!(matches!(m.body, MessageBody::Text(Text { preview_url: Some(true), .. })));

    assert!(matches!(
        msg("Send Document Message by ID").body,
        MessageBody::Document(Media { filename: Some(_), id: Some(_), link: None, .. })
    ));
    assert!(
        matches!(msg("Send Location Message").body, MessageBody::Location(Location { latitude, .. }) if latitude > 37.0)
    );
    assert!(matches!(msg("Send Contact Message").body, MessageBody::Contacts(ref c) if c[0].phones.len() == 2));
    assert!(matches!(msg("Send Reply with Reaction Message").body, MessageBody::Reaction(ref r) if r.emoji == "😀"));

    match msg("Send Reply Button").body {
        MessageBody::Interactive(Interactive { action: InteractiveAction::Buttons(b), .. }) => assert_eq!(b.len(), 2),
        other => panic!("{other:?}"),
    }
    match msg("Send List Message").body {
        MessageBody::Interactive(Interactive { action: InteractiveAction::List { sections, .. }, header, .. }) => {
            assert_eq!(sections.len(), 2);
            assert!(matches!(header, Some(Header::Text { .. })));
        }
        other => panic!("{other:?}"),
    }
    for n in [
        "Send Catalog Message",
        "Send Published Flow by ID",
        "Send Order Details Message",
        "Send Single Product Message",
    ] {
        assert!(
            matches!(
                msg(n).body,
                MessageBody::Interactive(Interactive { action: InteractiveAction::Other { .. }, .. })
            ),
            "{n}"
        );
    }

    match msg("Send Message Template Interactive").body {
        MessageBody::Template(t) => {
            let c = t.components.unwrap();
            assert!(matches!(c[0].parameters.as_ref().unwrap()[0], TemplateParameter::Image { .. }));
            assert!(
                matches!(c[1].parameters.as_ref().unwrap()[1], TemplateParameter::Currency { ref currency, .. } if currency.amount_1000 == 100990)
            );
            assert!(matches!(c[1].parameters.as_ref().unwrap()[2], TemplateParameter::DateTime { .. }));
            assert!(matches!(c[2].parameters.as_ref().unwrap()[0], TemplateParameter::Payload { .. }));
        }
        other => panic!("{other:?}"),
    }
    match msg("Send Sample Issue Resolution Template").body {
        MessageBody::Template(t) => {
            assert_eq!(t.language.policy.as_deref(), Some("deterministic"));
            // `"text": true` is not a string: kept verbatim.
            assert!(matches!(t.components.unwrap()[1].parameters.as_ref().unwrap()[0], TemplateParameter::Raw(_)));
        }
        other => panic!("{other:?}"),
    }
    match get("Send typing indicator and read receipt") {
        SendRequest::MarkRead(m) => assert!(m.typing_indicator.is_some()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_fields_and_types_are_kept() {
    let v = json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {"body": "x", "new_flag": 1},
                   "biz_opaque_callback_data": "cb", "future_top": {"a": 1}});
    let req: SendRequest = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&req).unwrap(), v);
    let v =
        json!({"messaging_product": "whatsapp", "recipient": "US.1", "type": "voice_call", "voice_call": {"x": [1]}});
    let req: SendRequest = serde_json::from_value(v.clone()).unwrap();
    assert!(
        matches!(&req, SendRequest::Message(m) if matches!(&m.body, MessageBody::Raw { type_name, .. } if type_name == "voice_call"))
    );
    assert_eq!(serde_json::to_value(&req).unwrap(), v);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u32>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        prop_oneof![
            Just("text"),
            Just("reply"),
            Just("button"),
            Just("list"),
            Just("cta_url"),
            Just("body"),
            Just("individual"),
            Just("image"),
            Just("read"),
            Just("0"),
            Just("x")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        let key = prop_oneof![
            Just("type"),
            Just("text"),
            Just("body"),
            Just("preview_url"),
            Just("id"),
            Just("link"),
            Just("caption"),
            Just("interactive"),
            Just("action"),
            Just("buttons"),
            Just("reply"),
            Just("title"),
            Just("header"),
            Just("footer"),
            Just("template"),
            Just("name"),
            Just("language"),
            Just("code"),
            Just("components"),
            Just("parameters"),
            Just("index"),
            Just("sub_type"),
            Just("payload"),
            Just("context"),
            Just("message_id"),
            Just("sections"),
            Just("rows"),
            Just("latitude"),
            Just("longitude"),
            Just("emoji"),
            Just("to"),
        ]
        .prop_map(String::from);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever a request contains, parsing it and serialising it back gives the same JSON.
    #[test]
    fn any_request_round_trips(
        kind in prop_oneof![Just("text"), Just("image"), Just("interactive"), Just("template"), Just("location"),
            Just("reaction"), Just("contacts"), Just("brand_new")],
        body in arb_json(),
        extra in prop::collection::btree_map(prop_oneof![Just("context"), Just("recipient_type"), Just("to"), Just("x")], arb_json(), 0..3),
        with_type in any::<bool>(),
    ) {
        let mut m = serde_json::Map::new();
        m.insert("messaging_product".into(), json!("whatsapp"));
        for (k, v) in extra { m.insert(k.into(), v); }
        if with_type { m.insert("type".into(), json!(kind)); }
        m.insert(kind.into(), body);
        let v = Value::Object(m);
        if let Ok(req) = serde_json::from_value::<SendRequest>(v.clone()) {
            prop_assert_eq!(serde_json::to_value(&req).unwrap(), v);
            let _ = req.validate();
        }
    }
}

// ---- builders ---------------------------------------------------------------------------------

fn builder_requests() -> Vec<(&'static str, SendRequest)> {
    let to = "+1 (650) 555-1234";
    vec![
        ("text", OutboundMessage::text(to, "hello").into()),
        (
            "text preview reply",
            OutboundMessage::new(to, MessageBody::Text(Text::new("see https://example.com").preview_url(true)))
                .reply_to("wamid.prev")
                .callback_data("cb-1")
                .into(),
        ),
        ("image id", OutboundMessage::image(to, Media::id("123").caption("cap")).into()),
        ("image link", OutboundMessage::image(to, Media::link("https://example.com/a.jpg")).into()),
        ("audio", OutboundMessage::audio(to, Media::id("123")).into()),
        ("video", OutboundMessage::video(to, Media::link("https://example.com/v.mp4").caption("v")).into()),
        ("document", OutboundMessage::document(to, Media::id("123").caption("c").filename("report.pdf")).into()),
        ("sticker", OutboundMessage::sticker(to, Media::id("123")).into()),
        (
            "location",
            OutboundMessage::location(
                to,
                Location::new(37.758056, -122.425332).name("META HQ").address("1 Hacker Way"),
            )
            .into(),
        ),
        (
            "contacts",
            OutboundMessage::contacts(
                to,
                vec![ContactCard {
                    name: Some(ContactName {
                        formatted_name: Some("John Smith".into()),
                        first_name: Some("John".into()),
                        ..Default::default()
                    }),
                    phones: vec![ContactPhone {
                        phone: Some("+1 650 555 1234".into()),
                        wa_id: Some("16505551234".into()),
                        phone_type: Some("WORK".into()),
                    }],
                    ..Default::default()
                }],
            )
            .into(),
        ),
        ("reaction", OutboundMessage::reaction(to, "wamid.x", "👍").into()),
        ("unreact", OutboundMessage::reaction(to, "wamid.x", "").into()),
        (
            "buttons",
            OutboundMessage::interactive(
                to,
                Interactive::buttons(
                    "Pick one",
                    vec![
                        ReplyButton::new("yes", "Yes"),
                        ReplyButton::new("no", "No"),
                        ReplyButton::new("later", "Later"),
                    ],
                )
                .header(Header::Text { text: "Question".into() })
                .footer("footer"),
            )
            .into(),
        ),
        (
            "buttons image header",
            OutboundMessage::interactive(
                to,
                Interactive::buttons("Pick", vec![ReplyButton::new("a", "A")])
                    .header(Header::Image { image: Media::link("https://example.com/i.png") }),
            )
            .into(),
        ),
        (
            "list",
            OutboundMessage::interactive(
                to,
                Interactive::list(
                    "Choose shipping",
                    "Options",
                    vec![
                        ListSection::new("Fast", vec![ListRow::new("express", "Express").description("Next day")]),
                        ListSection::new("Slow", vec![ListRow::new("ground", "Ground")]),
                    ],
                )
                .header(Header::Text { text: "Shipping".into() })
                .footer("f"),
            )
            .into(),
        ),
        (
            "cta_url",
            OutboundMessage::interactive(
                to,
                Interactive::cta_url("Tickets", "See Dates", "https://example.com/dates").footer("f"),
            )
            .into(),
        ),
        ("template plain", OutboundMessage::template(to, Template::new("hello_world", "en_US")).into()),
        (
            "template positional",
            OutboundMessage::template(
                to,
                Template::new("order_confirmation", "en_US")
                    .policy("deterministic")
                    .header(vec![TemplateParameter::Image { image: Media::link("https://example.com/h.jpg") }])
                    .body(vec![
                        TemplateParameter::text("Jessica"),
                        TemplateParameter::currency("$100.99", "USD", 100990),
                        TemplateParameter::date_time("February 25, 1977"),
                    ])
                    .button("quick_reply", 0, vec![TemplateParameter::payload("STOP")])
                    .button("url", 1, vec![TemplateParameter::text("order/123")]),
            )
            .into(),
        ),
        (
            "template named",
            OutboundMessage::template(
                to,
                Template::new("welcome", "pt_BR")
                    .header(vec![TemplateParameter::Document { document: Media::id("55").filename("a.pdf") }])
                    .body(vec![
                        TemplateParameter::named("first_name", "Jessica"),
                        TemplateParameter::named("order_id", "SKBUP2"),
                    ]),
            )
            .into(),
        ),
        (
            "template video header",
            OutboundMessage::template(
                to,
                Template::new("promo", "en").header(vec![TemplateParameter::Video { video: Media::id("9") }]),
            )
            .into(),
        ),
        ("mark read", MarkRead::new("wamid.in").into()),
        ("mark read typing", MarkRead::new("wamid.in").with_typing_indicator().into()),
    ]
}

#[test]
fn builders_produce_meta_json() {
    let reqs = builder_requests();
    let get = |n: &str| reqs.iter().find(|(k, _)| *k == n).unwrap().1.to_value();
    assert_eq!(
        get("text"),
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+1 (650) 555-1234",
               "type": "text", "text": {"body": "hello"}})
    );
    let v = get("text preview reply");
    assert_eq!(v["context"], json!({"message_id": "wamid.prev"}));
    assert_eq!(v["text"]["preview_url"], true);
    assert_eq!(v["biz_opaque_callback_data"], "cb-1");
    assert_eq!(
        get("buttons")["interactive"]["action"]["buttons"][0],
        json!({"type": "reply", "reply": {"id": "yes", "title": "Yes"}})
    );
    assert_eq!(get("cta_url")["interactive"]["type"], "cta_url");
    assert_eq!(
        get("cta_url")["interactive"]["action"],
        json!({"name": "cta_url", "parameters": {"display_text": "See Dates", "url": "https://example.com/dates"}})
    );
    let t = get("template positional");
    assert_eq!(t["template"]["language"], json!({"code": "en_US", "policy": "deterministic"}));
    assert_eq!(
        t["template"]["components"][2],
        json!({"type": "button", "sub_type": "quick_reply", "index": "0",
        "parameters": [{"type": "payload", "payload": "STOP"}]})
    );
    assert_eq!(
        t["template"]["components"][1]["parameters"][1],
        json!({"type": "currency", "currency": {"fallback_value": "$100.99", "code": "USD", "amount_1000": 100990}})
    );
    assert_eq!(
        get("template named")["template"]["components"][1]["parameters"][0],
        json!({"type": "text", "parameter_name": "first_name", "text": "Jessica"})
    );
    assert_eq!(
        get("mark read typing"),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in", "typing_indicator": {"type": "text"}})
    );
    // Builders round-trip through the parser too.
    for (name, r) in &reqs {
        let back: SendRequest = serde_json::from_value(r.to_value()).unwrap();
        assert_eq!(&back, r, "{name}");
    }
}

#[test]
fn builders_pass_own_validation_and_the_official_schema() {
    for (name, r) in builder_requests() {
        r.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let errors = spec_errors(&r.to_value());
        assert!(errors.is_empty(), "{name} fails Meta's schema: {errors:#?}\n{}", r.to_value());
    }
}

#[test]
fn schema_check_is_not_vacuous() {
    // Most official examples validate with the README's adjustments (the README counts 44 of 50).
    let ex = send_examples();
    let ok = ex.values().filter(|v| spec_errors(v).is_empty()).count();
    println!("{ok} of 50 official send examples validate against the adjusted spec");
    assert!(ok >= 44, "only {ok} of 50 official examples validate");
    // And broken requests are rejected by the schema as well as by validate().
    let four = OutboundMessage::interactive(
        "1",
        Interactive::buttons("b", (0..4).map(|i| ReplyButton::new(format!("id{i}"), format!("t{i}"))).collect()),
    );
    assert!(!spec_errors(&SendRequest::from(four.clone()).to_value()).is_empty());
    assert!(four.validate().unwrap_err().has("interactive.action.buttons"));
    let mut v = SendRequest::from(OutboundMessage::text("1", "x")).to_value();
    v["text"]["unknown"] = json!(1);
    assert!(!spec_errors(&v).is_empty());
    let long = OutboundMessage::interactive(
        "1",
        Interactive::buttons("b", vec![ReplyButton::new("a", "A")]).header(Header::Text { text: "h".repeat(61) }),
    );
    assert!(!spec_errors(&SendRequest::from(long.clone()).to_value()).is_empty());
    assert!(long.validate().unwrap_err().has("interactive.header.text"));
}

// ---- validate() -------------------------------------------------------------------------------

fn errs(m: impl Into<SendRequest>) -> Vec<String> {
    match m.into().validate() {
        Ok(()) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| e.field).collect(),
    }
}

#[test]
fn validation_limits_name_the_field() {
    assert!(errs(OutboundMessage::text("16505551234", "a".repeat(4096))).is_empty());
    assert_eq!(errs(OutboundMessage::text("16505551234", "a".repeat(4097))), ["text.body"]);
    // Characters, not bytes.
    assert!(errs(OutboundMessage::text("16505551234", "é".repeat(4096))).is_empty());
    assert_eq!(errs(OutboundMessage::text("16505551234", "")), ["text.body"]);
    assert_eq!(errs(OutboundMessage::text("", "x")), ["to"]);
    assert_eq!(errs(OutboundMessage::text("abc", "x")), ["to"]);
    assert_eq!(errs(OutboundMessage::text("+1 650 abc 1234", "x")), ["to"]);
    assert_eq!(errs(OutboundMessage::text("1234567890123456", "x")), ["to"]);
    assert!(errs(OutboundMessage::text("GROUP_ID==", "x").to_group()).is_empty());
    assert!(errs(OutboundMessage::text("x", "x").to_user_id("US.1")).is_empty());
    assert_eq!(errs(OutboundMessage::text("1", "x").reply_to("")), ["context.message_id"]);

    assert_eq!(errs(OutboundMessage::image("1", Media::id("1").caption("c".repeat(1025)))), ["image.caption"]);
    assert_eq!(errs(OutboundMessage::image("1", Media::default())), ["image.id"]);
    assert_eq!(
        errs(OutboundMessage::image(
            "1",
            Media { id: Some("1".into()), link: Some("https://a/b".into()), ..Default::default() }
        )),
        ["image.link"]
    );
    assert_eq!(errs(OutboundMessage::image("1", Media::link("ftp://x/y"))), ["image.link"]);
    assert_eq!(errs(OutboundMessage::image("1", Media::link("https://"))), ["image.link"]);
    assert!(errs(OutboundMessage::image("1", Media::link("http://x"))).is_empty());
    assert_eq!(errs(OutboundMessage::audio("1", Media::id("1").caption("x"))), ["audio.caption"]);
    assert_eq!(errs(OutboundMessage::image("1", Media::id("1").filename("x"))), ["image.filename"]);
    assert_eq!(errs(OutboundMessage::location("1", Location::new(91.0, 0.0))), ["location.latitude"]);
    assert_eq!(errs(OutboundMessage::contacts("1", vec![ContactCard::default()])), ["contacts[0].name.formatted_name"]);
    assert_eq!(errs(OutboundMessage::reaction("1", "", "x")), ["reaction.message_id"]);

    let b = |id: &str, t: &str| ReplyButton::new(id, t);
    assert_eq!(
        errs(OutboundMessage::interactive("1", Interactive::buttons("x", vec![]))),
        ["interactive.action.buttons"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive(
            "1",
            Interactive::buttons("x", vec![b("a", "A"), b("b", "B"), b("c", "C"), b("d", "D")])
        )),
        ["interactive.action.buttons"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive("1", Interactive::buttons("x", vec![b("a", &"T".repeat(21))]))),
        ["interactive.action.buttons[0].reply.title"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive("1", Interactive::buttons("x", vec![b(&"i".repeat(257), "T")]))),
        ["interactive.action.buttons[0].reply.id"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive("1", Interactive::buttons("x", vec![b("a", "A"), b("a", "B")]))),
        ["interactive.action.buttons[1].reply.id"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive("1", Interactive::buttons("b".repeat(1025), vec![b("a", "A")]))),
        ["interactive.body.text"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive(
            "1",
            Interactive::buttons("x", vec![b("a", "A")])
                .header(Header::Text { text: "h".repeat(61) })
                .footer("f".repeat(61))
        )),
        ["interactive.footer.text", "interactive.header.text"]
    );

    let row = |i: usize| ListRow::new(format!("r{i}"), format!("Row {i}"));
    let list =
        |sections: Vec<ListSection>| OutboundMessage::interactive("1", Interactive::list("body", "Menu", sections));
    assert!(errs(list(vec![ListSection::new("S", (0..10).map(row).collect())])).is_empty());
    assert_eq!(errs(list(vec![ListSection::new("S", (0..11).map(row).collect())])), ["interactive.action.sections"]);
    assert_eq!(
        errs(list(
            (0..11)
                .map(|i| ListSection::new(format!("S{i}"), vec![]))
                .chain([ListSection::new("x", vec![row(0)])])
                .collect()
        )),
        ["interactive.action.sections"]
    );
    assert_eq!(
        errs(list(vec![ListSection::new("S", vec![ListRow::new("a", "t".repeat(25)).description("d".repeat(73))])])),
        ["interactive.action.sections[0].rows[0].title", "interactive.action.sections[0].rows[0].description"]
    );
    assert_eq!(
        errs(list(vec![ListSection::new("s".repeat(25), vec![row(0)])])),
        ["interactive.action.sections[0].title"]
    );
    assert_eq!(
        errs(list(vec![
            ListSection { title: None, rows: vec![row(0)] },
            ListSection { title: None, rows: vec![row(1)] }
        ])),
        ["interactive.action.sections[0].title", "interactive.action.sections[1].title"]
    );
    assert_eq!(
        errs(list(vec![ListSection::new("a", vec![row(0)]), ListSection::new("b", vec![row(0)])])),
        ["interactive.action.sections[1].rows[0].id"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive(
            "1",
            Interactive::list("body", "M".repeat(21), vec![ListSection::new("S", vec![row(0)])])
        )),
        ["interactive.action.button"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive("1", Interactive::cta_url("b", "d".repeat(21), "https://x.io"))),
        ["interactive.action.parameters.display_text"]
    );
    assert_eq!(
        errs(OutboundMessage::interactive("1", Interactive::cta_url("b", "d", "javascript:alert(1)"))),
        ["interactive.action.parameters.url"]
    );

    assert_eq!(errs(OutboundMessage::template("1", Template::new("Bad Name", "en"))), ["template.name"]);
    assert_eq!(errs(OutboundMessage::template("1", Template::new("ok", ""))), ["template.language.code"]);
    assert_eq!(
        errs(OutboundMessage::template(
            "1",
            Template::new("ok", "en").body(vec![TemplateParameter::text("a"), TemplateParameter::named("b", "c")])
        )),
        ["template.components[0].parameters"]
    );
    assert_eq!(
        errs(OutboundMessage::template(
            "1",
            Template::new("ok", "en").body(vec![TemplateParameter::currency("$1", "usd", 1000)])
        )),
        ["template.components[0].parameters[0].currency.code"]
    );
    assert_eq!(errs(MarkRead::new("")), ["message_id"]);

    // Several problems are all reported, and the message is readable.
    let e = SendRequest::from(OutboundMessage::text("", "")).validate().unwrap_err();
    assert_eq!(e.0.len(), 2);
    assert!(e.to_string().contains("text.body: must not be empty"), "{e}");
}

#[path = "common/spec_check.rs"]
mod spec_check;
use spec_check::spec_errors;
