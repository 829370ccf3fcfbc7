use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use switchboard::entities::contacts;
use switchboard::entities::enums::Role;

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn import(app: &TestApp, token: &str, csv: &str) -> Value {
    let res = app.post_raw("/api/contacts/import", "text/csv", csv.to_string(), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "import");
    res.json().await.unwrap()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let res = app.get(&format!("/api/contacts{query}"), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "list {query}");
    res.json().await.unwrap()
}

fn wa_ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|c| c["waId"].as_str().unwrap().to_string()).collect()
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
async fn import_reports_good_and_refused_rows_and_upserts_by_phone() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let long_tag = "t".repeat(51);
    let csv = format!(
        "Phone,name,tags,City,plan\n\
         +1 555-123-4567,Ann Lee,vip; new ;vip,Lisbon,gold\n\
         12ab34567,Bad,,,\n\
         1234567,Short,,,\n\
         \"447700900123\",\"Doe, \"\"Jo\"\"\",,Porto,\n\
         15551234567,Dup,,,\n\
         4915112345678,Tags,{long_tag},,\n\
         4915112345679,Wide,,,,extra\n\
         \n\
         0044770090012,Zero,,,\n"
    );
    let report = import(&app, &a.access, &csv).await;
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["updated"], 0);
    let refused: Vec<(u64, String)> = report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    let rows: Vec<u64> = refused.iter().map(|r| r.0).collect();
    assert_eq!(rows, [3, 4, 6, 7, 8, 9], "{report}");
    assert!(refused[0].1.contains("digits"), "{refused:?}");
    assert!(refused[1].1.contains("8 to 15"), "{refused:?}");
    assert!(refused[2].1.contains("duplicate") && refused[2].1.contains("row 2"));
    assert!(refused[3].1.contains("50 characters"), "{refused:?}");
    assert!(refused[4].1.contains("fields"), "{refused:?}");
    assert!(refused[5].1.contains("0"), "{refused:?}");

    let page = list(&app, &a.access, "").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["nextCursor"].is_null());
    let ann = page["data"].as_array().unwrap().iter().find(|c| c["waId"] == "15551234567").unwrap().clone();
    assert_eq!(ann["name"], "Ann Lee");
    assert_eq!(ann["tags"], json!(["vip", "new"]));
    assert_eq!(ann["attributes"], json!({"City": "Lisbon", "plan": "gold"}));
    assert_eq!(ann["optedOut"], false);
    assert!(ann["optedOutAt"].is_null() && ann["profileName"].is_null());
    for k in ["id", "userId", "createdAt", "updatedAt"] {
        assert!(ann.get(k).is_some(), "{k} in {ann}");
    }
    let jo = page["data"].as_array().unwrap().iter().find(|c| c["waId"] == "447700900123").unwrap().clone();
    assert_eq!(jo["name"], "Doe, \"Jo\"");

    // The same phone again updates: name replaced, tags added, attributes merged.
    let report = import(
        &app,
        &a.access,
        "phone,name,tags,plan,score\r\n15551234567,Ann L.,gold;vip,platinum,9\r\n15550000001,,,,\r\n",
    )
    .await;
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["updated"], 1);
    assert_eq!(report["refused"], json!([]));
    let c: Value =
        app.get(&format!("/api/contacts/{}", ann["id"].as_str().unwrap()), Some(&a.access)).await.json().await.unwrap();
    assert_eq!(c["name"], "Ann L.");
    assert_eq!(c["tags"], json!(["vip", "new", "gold"]));
    assert_eq!(c["attributes"], json!({"City": "Lisbon", "plan": "platinum", "score": "9"}));
    assert_eq!(c["createdAt"], ann["createdAt"]);
    assert_eq!(app.count(contacts::Entity).await, 3);
}

#[tokio::test]
async fn import_refuses_bad_files_whole() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let post = |ct: &'static str, body: String| app.post_raw("/api/contacts/import", ct, body, Some(&a.access));
    let res = post("application/json", "phone\n15551234567\n".into()).await;
    assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let res = post("text/csv", "name,city\nAnn,Lisbon\n".into()).await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv").await;
    assert!(e["error"]["message"].as_str().unwrap().contains("phone"));
    assert_error(post("text/csv", String::new()).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv").await;
    assert_error(
        post("text/csv", "phone\n\"15551234567\n".into()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_csv",
    )
    .await;
    assert_error(post("text/csv", "phone,Phone\n1\n".into()).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv")
        .await;
    let mut many = String::from("phone\n");
    for i in 0..10_001u64 {
        many.push_str(&format!("1555{:07}\n", i));
    }
    assert_error(post("text/csv; charset=utf-8", many).await, StatusCode::PAYLOAD_TOO_LARGE, "too_many_rows").await;
    let mut big = String::from("phone,notes\n");
    while big.len() <= 5 * 1024 * 1024 {
        big.push_str(&format!("15551234567,{}\n", "x".repeat(1000)));
    }
    assert_error(post("text/csv", big).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(app.count(contacts::Entity).await, 0);

    // Exactly 10,000 rows is fine.
    let mut max = String::from("phone,tags\n");
    for i in 0..10_000u64 {
        max.push_str(&format!("1555{i:07},bulk\n"));
    }
    let report = import(&app, &a.access, &max).await;
    assert_eq!(report["imported"], 10_000);
    assert_eq!(app.count(contacts::Entity).await, 10_000);
}

#[tokio::test]
async fn list_searches_filters_by_tag_and_pages_with_a_cursor() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    // One import: every row has the same updated_at, so paging rests on the id tie-breaker.
    let mut csv = String::from("phone,name,tags\n");
    for i in 0..25 {
        let tags = match i % 5 {
            0 => "vip",
            1 => "vip2;other",
            2 => "VIP",
            3 => "a_b;50%",
            _ => "",
        };
        csv.push_str(&format!("1555000{i:04},Person {i:02},{tags}\n"));
    }
    csv.push_str("447700900123,Zoë Müller,\n");
    import(&app, &a.access, &csv).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=10&cursor={c}"),
            None => "?limit=10".into(),
        };
        let page = list(&app, &a.access, &q).await;
        pages += 1;
        seen.extend(wa_ids(&page));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 26);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 26, "no contact twice");

    // Most recently updated first: touching one moves it to the top.
    let target = list(&app, &a.access, "?search=Person%2007").await["data"][0].clone();
    let res = app
        .patch(
            &format!("/api/contacts/{}", target["id"].as_str().unwrap()),
            &json!({"name": "Person 07"}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(wa_ids(&list(&app, &a.access, "?limit=1").await), ["15550000007"]);

    // Tag filter: exact element match, not substring or case-folded, across pages.
    let vip = list(&app, &a.access, "?tag=vip").await;
    assert_eq!(vip["data"].as_array().unwrap().len(), 5, "{vip}");
    assert!(vip["data"].as_array().unwrap().iter().all(|c| c["tags"] == json!(["vip"])));
    let mut paged = Vec::new();
    let mut q = "?tag=vip&limit=2".to_string();
    loop {
        let page = list(&app, &a.access, &q).await;
        assert!(page["data"].as_array().unwrap().len() <= 2);
        paged.extend(wa_ids(&page));
        match page["nextCursor"].as_str() {
            Some(c) => q = format!("?tag=vip&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged.len(), 5);
    assert_eq!(list(&app, &a.access, "?tag=VIP").await["data"].as_array().unwrap().len(), 5);
    assert_eq!(list(&app, &a.access, "?tag=vi").await["data"], json!([]), "no substring match");
    // LIKE wildcards in the filter are literal.
    assert_eq!(list(&app, &a.access, "?tag=50%25").await["data"].as_array().unwrap().len(), 5);
    assert_eq!(list(&app, &a.access, "?tag=a%25").await["data"], json!([]));

    // Search: name (case-insensitive, non-ASCII), phone with + and spaces, profile name.
    assert_eq!(wa_ids(&list(&app, &a.access, "?search=person%2012").await), ["15550000012"]);
    assert_eq!(wa_ids(&list(&app, &a.access, "?search=Zo%C3%AB").await), ["447700900123"]);
    assert_eq!(wa_ids(&list(&app, &a.access, "?search=%2B44%207700").await), ["447700900123"]);
    assert_eq!(list(&app, &a.access, "?search=%25").await["data"], json!([]), "% is literal");
    let row = contacts::Entity::find_by_id(target["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut am: contacts::ActiveModel = row.into();
    am.profile_name = Set(Some("Jessica WhatsApp".into()));
    am.update(app.state.writer()).await.unwrap();
    assert_eq!(wa_ids(&list(&app, &a.access, "?search=jessica").await), ["15550000007"]);
    let both = list(&app, &a.access, "?search=person&tag=vip2").await;
    assert_eq!(both["data"].as_array().unwrap().len(), 5);

    // Bad parameters.
    let res = app.get("/api/contacts?limit=0", Some(&a.access)).await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["limit"]);
    let res = app.get("/api/contacts?limit=ten", Some(&a.access)).await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["limit"]);
    let res = app.get("/api/contacts?limit=500&cursor=not-a-cursor!", Some(&a.access)).await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["limit", "cursor"]);
}

#[tokio::test]
async fn patch_validates_and_opt_out_is_recorded_with_an_event() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    import(&app, &a.access, "phone\n15551234567\n").await;
    let c = list(&app, &a.access, "").await["data"][0].clone();
    let path = format!("/api/contacts/{}", c["id"].as_str().unwrap());
    let mut events = app.state.events.subscribe();

    let res = app
        .patch(
            &path,
            &json!({"name": "  Ann  ", "tags": [" a ", "b", "a", ""], "attributes": {"plan": "gold", "n": 1}}),
            Some(&a.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let c1: Value = res.json().await.unwrap();
    assert_eq!(c1["name"], "Ann");
    assert_eq!(c1["tags"], json!(["a", "b"]));
    assert_eq!(c1["attributes"], json!({"plan": "gold", "n": 1}));
    assert_ne!(c1["updatedAt"], c["updatedAt"]);

    // Every problem is reported at once; nothing changes.
    let too_many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let res =
        app.patch(&path, &json!({"name": "x".repeat(201), "tags": too_many, "attributes": [1]}), Some(&a.access)).await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["name", "tags", "attributes"]);
    let res = app
        .patch(&path, &json!({"tags": ["y".repeat(51)], "attributes": {"big": "z".repeat(17 * 1024)}}), Some(&a.access))
        .await;
    let e = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&e), ["tags", "attributes"]);
    let res = app.patch(&path, &json!({"optedOut": "yes"}), Some(&a.access)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let now: Value = app.get(&path, Some(&a.access)).await.json().await.unwrap();
    assert_eq!(now, c1);

    // Opting out records when; opting in clears it. Both publish contact.updated.
    let res = app.patch(&path, &json!({"optedOut": true}), Some(&a.access)).await;
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["optedOut"], true);
    assert!(out["optedOutAt"].is_string());
    assert_eq!(out["name"], "Ann", "absent fields are kept");
    let res = app.patch(&path, &json!({"optedOut": false, "name": null}), Some(&a.access)).await;
    let back: Value = res.json().await.unwrap();
    assert_eq!(back["optedOut"], false);
    assert!(back["optedOutAt"].is_null());
    assert!(back["name"].is_null());

    let mut got = Vec::new();
    while let Ok(e) = events.try_recv() {
        if e.event.kind() == "contact.updated" {
            got.push(e.event.clone());
        }
    }
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[1].data()["optedOut"], true);
    assert_eq!(got[1].data()["contactId"], c["id"]);
    assert_eq!(got[1].tenant_id.to_string(), a.tenant_id);
    assert_eq!(got[2].data()["optedOut"], false);
}

#[tokio::test]
async fn roles_and_tenant_isolation() {
    let app = spawn_app().await;
    let a = app.register("A", "a@a.test").await;
    let b = app.register("B", "b@b.test").await;
    let agent = app.user_with_role(&a.tenant_id, "agent@a.test", Role::Agent).await;
    let billing = app.user_with_role(&a.tenant_id, "billing@a.test", Role::BillingAdmin).await;

    // An agent works with contacts like an admin.
    let report = import(&app, &agent, "phone,name\n15551234567,Ann\n").await;
    assert_eq!(report["imported"], 1);
    let c = list(&app, &agent, "").await["data"][0].clone();
    let path = format!("/api/contacts/{}", c["id"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&agent)).await.status(), StatusCode::OK);
    assert_eq!(app.patch(&path, &json!({"tags": ["x"]}), Some(&agent)).await.status(), StatusCode::OK);

    // Billing admins and anonymous callers are refused on every route.
    for token in [Some(billing.as_str()), None] {
        let (status, code) = match token {
            Some(_) => (StatusCode::FORBIDDEN, "forbidden"),
            None => (StatusCode::UNAUTHORIZED, "unauthorized"),
        };
        assert_error(app.get("/api/contacts", token).await, status, code).await;
        assert_error(app.get(&path, token).await, status, code).await;
        assert_error(app.patch(&path, &json!({"name": "x"}), token).await, status, code).await;
        assert_error(
            app.post_raw("/api/contacts/import", "text/csv", "phone\n15550000000\n", token).await,
            status,
            code,
        )
        .await;
    }

    // Tenant B: A's contact does not exist; B's list and search do not show it.
    assert_error(app.get(&path, Some(&b.access)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        app.patch(&path, &json!({"optedOut": true}), Some(&b.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(list(&app, &b.access, "").await["data"], json!([]));
    assert_eq!(list(&app, &b.access, "?search=Ann").await["data"], json!([]));
    assert_eq!(list(&app, &b.access, "?tag=x").await["data"], json!([]));
    // B importing the same phone creates B's own contact; A's is untouched.
    let report = import(&app, &b.access, "phone,name\n15551234567,Other\n").await;
    assert_eq!(report["imported"], 1);
    assert_eq!(report["updated"], 0);
    let mine: Value = app.get(&path, Some(&a.access)).await.json().await.unwrap();
    assert_eq!(mine["name"], "Ann");
    assert_eq!(mine["optedOut"], false);
    assert_eq!(list(&app, &b.access, "").await["data"][0]["name"], "Other");
    let res = app.get(&format!("/api/contacts/{}", uuid::Uuid::now_v7()), Some(&a.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn national_numbers_are_read_in_the_default_country_and_stored_as_e164() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let csv =
        "phone,name\n030 1234567,Landline\n0049 151 12345678,Mobile\n+44 7700 900123,Abroad\n(0151) 1234-5679,Dashes\n";
    let res =
        app.post_raw("/api/contacts/import?defaultCountry=de", "text/csv", csv.to_string(), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["imported"], 4, "{report}");
    let page = list(&app, &a.access, "").await;
    let mut ids: Vec<&str> = page["data"].as_array().unwrap().iter().map(|c| c["waId"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["447700900123", "4915112345678", "4915112345679", "49301234567"]);
    // The same number written another way is the same contact: a duplicate in the file.
    let csv = "phone\n+49 30 1234567\n030/1234567\n";
    let res =
        app.post_raw("/api/contacts/import?defaultCountry=DE", "text/csv", csv.to_string(), Some(&a.access)).await;
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["updated"], 1, "{report}");
    assert!(report["refused"][0]["reason"].as_str().unwrap().contains("duplicate"), "{report}");
    // Without a default country a national number is refused with the reason; a bad country is a 422.
    let report = import(&app, &a.access, "phone\n030 1234567\n").await;
    assert!(report["refused"][0]["reason"].as_str().unwrap().contains("country code"), "{report}");
    let res = app
        .post_raw("/api/contacts/import?defaultCountry=XX", "text/csv", "phone\n1\n".to_string(), Some(&a.access))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
