//! Graph client against a tiny local fake Graph server (127.0.0.1, random port): bearer header,
//! paths, paging (and refusing to send the token off-host), media URL refresh on 404, error
//! mapping, timeouts and token redaction.
#![cfg(feature = "client")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meta_cloud::client::{AccessToken, ClientConfig, CreateTemplate, GraphClient, GraphError, TemplateQuery};
use meta_cloud::error::ErrorClass;
use meta_cloud::send::{OutboundMessage, SendRequest};
use serde_json::{Value, json};

const TOKEN: &str = "good-token-SECRET";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Fake {
    base: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    media_url_calls: Arc<AtomicUsize>,
}

fn json_resp(status: StatusCode, v: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn graph_error(status: StatusCode, code: i64, msg: &str) -> Response {
    json_resp(
        status,
        json!({"error": {"message": format!("(#{code}) {msg}"), "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": msg}, "fbtrace_id": "TRACE"}}),
    )
}

async fn handle(State(fake): State<Fake>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let headers: &HeaderMap = &parts.headers;
    let seen = Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        auth: headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_owned()),
        content_type: headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()),
        body: body.clone(),
    };
    fake.seen.lock().unwrap().push(seen.clone());
    let base = fake.base.lock().unwrap().clone();

    if seen.auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Error validating access token");
    }
    match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/v23.0/PN1/messages") => {
            let v: Value = serde_json::from_slice(&body).unwrap();
            if v["status"] == "read" {
                return json_resp(StatusCode::OK, json!({"success": true}));
            }
            match v["to"].as_str() {
                Some("rate") => graph_error(StatusCode::BAD_REQUEST, 130429, "Rate limit hit"),
                Some("window") => graph_error(StatusCode::BAD_REQUEST, 131047, "Re-engagement message"),
                Some("broken") => (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response(),
                Some("garbage") => (StatusCode::OK, "not json").into_response(),
                Some(to) => json_resp(
                    StatusCode::OK,
                    json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": "16505551234"}],
                           "messages": [{"id": "wamid.OUT1"}]}),
                ),
                None => graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter"),
            }
        }
        ("POST", "/v23.0/PN1/media") => {
            let ok = seen.content_type.as_deref().is_some_and(|c| c.starts_with("multipart/form-data"))
                && contains(&body, b"name=\"messaging_product\"")
                && contains(&body, b"whatsapp")
                && contains(&body, b"filename=\"cat.jpg\"")
                && contains(&body, b"Content-Type: image/jpeg")
                && contains(&body, b"JPEGDATA");
            if ok {
                json_resp(StatusCode::OK, json!({"id": "MEDIA9"}))
            } else {
                graph_error(StatusCode::BAD_REQUEST, 131053, "Media upload error")
            }
        }
        ("GET", "/v23.0/MEDIA1") => {
            let n = fake.media_url_calls.fetch_add(1, Ordering::SeqCst);
            json_resp(
                StatusCode::OK,
                json!({"messaging_product": "whatsapp", "url": format!("{base}/cdn/fresh?n={n}"), "mime_type": "image/jpeg",
                       "sha256": "abc", "file_size": "10", "id": "MEDIA1"}),
            )
        }
        ("GET", "/v23.0/MEDIAX") => {
            json_resp(StatusCode::OK, json!({"url": format!("{base}/cdn/expired"), "id": "MEDIAX"}))
        }
        ("DELETE", "/v23.0/MEDIA1") => json_resp(StatusCode::OK, json!({"success": true})),
        ("GET", "/cdn/expired") => (StatusCode::NOT_FOUND, "gone").into_response(),
        ("GET", "/cdn/fresh") => ([(header::CONTENT_TYPE, "image/jpeg")], Body::from("IMAGEBYTES")).into_response(),
        ("GET", "/v23.0/WABA1/message_templates") => {
            let t = |n: u32| {
                json!({"name": format!("t{n}"), "language": "en_US", "status": "APPROVED", "category": "UTILITY",
                                     "id": format!("{n}"), "components": [{"type": "BODY", "text": "Hi {{1}}"}], "quality_score": {"score": "GREEN"}})
            };
            if seen.query.contains("after=C2") {
                json_resp(StatusCode::OK, json!({"data": [t(4)], "paging": {"cursors": {"before": "B3"}}}))
            } else if seen.query.contains("after=C1") {
                // A `next` link to another host: the client must not send the token there.
                let port = base.rsplit(':').next().unwrap();
                json_resp(
                    StatusCode::OK,
                    json!({"data": [t(3)], "paging": {"cursors": {"before": "B2", "after": "C2"},
                           "next": format!("http://localhost:{port}/steal?after=C2")}}),
                )
            } else {
                json_resp(
                    StatusCode::OK,
                    json!({"data": [t(1), t(2)], "paging": {"cursors": {"before": "B1", "after": "C1"},
                           "next": format!("{base}/v23.0/WABA1/message_templates?limit=2&after=C1")}}),
                )
            }
        }
        ("POST", "/v23.0/WABA1/message_templates") => {
            let v: Value = serde_json::from_slice(&body).unwrap();
            json_resp(
                StatusCode::OK,
                json!({"id": "T77", "status": "PENDING", "category": v["category"].as_str().unwrap().to_uppercase()}),
            )
        }
        ("DELETE", "/v23.0/WABA1/message_templates") => json_resp(StatusCode::OK, json!({"success": true})),
        ("GET", "/v23.0/PN1") => json_resp(
            StatusCode::OK,
            json!({"id": "PN1", "display_phone_number": "+1 555-078-3881", "verified_name": "Acme",
                   "quality_rating": "GREEN", "code_verification_status": "VERIFIED", "platform_type": "CLOUD_API",
                   "throughput": {"level": "STANDARD"}, "new_field": 1}),
        ),
        ("GET", "/v23.0/SLOW") => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            json_resp(StatusCode::OK, json!({}))
        }
        _ => graph_error(StatusCode::NOT_FOUND, 100, "Unknown path"),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn start() -> (Fake, GraphClient) {
    let fake = Fake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *fake.base.lock().unwrap() = base.clone();
    let app = Router::new().fallback(handle).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = GraphClient::new(ClientConfig {
        base_url: base,
        timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    })
    .unwrap();
    (fake, client)
}

fn token() -> AccessToken {
    AccessToken::new(TOKEN)
}

#[tokio::test]
async fn send_message_and_mark_read() {
    let (fake, client) = start().await;
    let req = SendRequest::from(OutboundMessage::text("16505551234", "hi"));
    let resp = client.send_message(&token(), "PN1", &req).await.unwrap();
    assert_eq!(resp.message_id(), Some("wamid.OUT1"));
    {
        let seen = fake.seen.lock().unwrap();
        let s = seen.last().unwrap();
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.path, "/v23.0/PN1/messages");
        assert_eq!(s.auth.as_deref(), Some("Bearer good-token-SECRET"));
        assert_eq!(s.content_type.as_deref(), Some("application/json"));
        assert_eq!(serde_json::from_slice::<Value>(&s.body).unwrap(), req.to_value());
    }
    let ok = client.mark_read(&token(), "PN1", "wamid.IN", true).await.unwrap();
    assert!(ok.success);
    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&seen.last().unwrap().body).unwrap(),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN", "typing_indicator": {"type": "text"}})
    );
}

#[tokio::test]
async fn graph_errors_are_mapped_and_classified() {
    let (_fake, client) = start().await;
    let send = |to: &str| SendRequest::from(OutboundMessage::text(to, "x"));

    match client.send_message(&token(), "PN1", &send("rate")).await.unwrap_err() {
        e @ GraphError::Api { .. } => {
            assert_eq!(e.code(), Some(130429));
            assert_eq!(e.class(), Some(ErrorClass::RetryLater));
            assert_eq!(e.retry_after(0), Some(Duration::from_secs(1)));
            let GraphError::Api { status, body, .. } = e else { unreachable!() };
            assert_eq!(status, 400);
            assert_eq!(body.fbtrace_id.as_deref(), Some("TRACE"));
            assert_eq!(body.details(), Some("Rate limit hit"));
        }
        other => panic!("{other:?}"),
    }
    let e = client.send_message(&token(), "PN1", &send("window")).await.unwrap_err();
    assert_eq!(e.class(), Some(ErrorClass::WindowClosed));
    assert_eq!(e.retry_after(0), None);

    let e = client.send_message(&AccessToken::new("bad-token"), "PN1", &send("1")).await.unwrap_err();
    assert!(matches!(&e, GraphError::Api { status: 401, class: ErrorClass::Credentials, .. }), "{e:?}");

    let e = client.send_message(&token(), "PN1", &send("broken")).await.unwrap_err();
    assert!(matches!(&e, GraphError::Status { status: 502, snippet } if snippet.contains("bad gateway")), "{e:?}");
    assert!(e.retry_after(0).is_some());

    let e = client.send_message(&token(), "PN1", &send("garbage")).await.unwrap_err();
    assert!(matches!(e, GraphError::Decode(_)), "{e:?}");
}

#[tokio::test]
async fn media_upload_info_delete() {
    let (fake, client) = start().await;
    let up = client.upload_media(&token(), "PN1", b"JPEGDATA".to_vec(), "image/jpeg", "cat.jpg").await.unwrap();
    assert_eq!(up.id, "MEDIA9");
    assert_eq!(fake.seen.lock().unwrap().last().unwrap().path, "/v23.0/PN1/media");

    let info = client.media_info(&token(), "MEDIA1").await.unwrap();
    assert_eq!(info.file_size, Some(10));
    assert_eq!(info.mime_type.as_deref(), Some("image/jpeg"));
    assert!(client.delete_media(&token(), "MEDIA1").await.unwrap().success);
    assert_eq!(fake.seen.lock().unwrap().last().unwrap().method, Method::DELETE);
}

#[tokio::test]
async fn media_download_refreshes_an_expired_url_once() {
    let (fake, client) = start().await;
    let base = fake.base.lock().unwrap().clone();
    // The webhook's URL has expired (404): one GET /{media_id}, then the fresh URL.
    let dl = client.download_media(&token(), "MEDIA1", Some(&format!("{base}/cdn/expired"))).await.unwrap();
    assert_eq!(dl.bytes, b"IMAGEBYTES");
    assert_eq!(dl.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(fake.media_url_calls.load(Ordering::SeqCst), 1);
    {
        let seen = fake.seen.lock().unwrap();
        let paths: Vec<_> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["/cdn/expired", "/v23.0/MEDIA1", "/cdn/fresh"]);
        // The media URL is fetched with the bearer token.
        assert!(seen.iter().all(|s| s.auth.as_deref() == Some("Bearer good-token-SECRET")));
    }
    // Without a known URL: one lookup, one download.
    let dl = client.download_media(&token(), "MEDIA1", None).await.unwrap();
    assert_eq!(dl.bytes, b"IMAGEBYTES");
    assert_eq!(fake.media_url_calls.load(Ordering::SeqCst), 2);
    // A URL that stays expired: refreshed once, then the 404 is returned (no loop).
    let before = fake.seen.lock().unwrap().len();
    let e = client.download_media(&token(), "MEDIAX", None).await.unwrap_err();
    assert!(matches!(e, GraphError::Status { status: 404, .. }), "{e:?}");
    assert_eq!(fake.seen.lock().unwrap().len() - before, 4);
    // The token is never sent to a plain-http host other than the Graph base.
    let e = client.download_media_url(&token(), "http://localhost:1/x").await.unwrap_err();
    assert!(matches!(e, GraphError::InvalidArgument(_)));
}

#[tokio::test]
async fn templates_list_follow_paging_create_delete() {
    let (fake, client) = start().await;
    let q = TemplateQuery { fields: Some("name,status".into()), limit: Some(2), ..Default::default() };
    let all = client.list_templates(&token(), "WABA1", &q).await.unwrap();
    let names: Vec<_> = all.iter().map(|t| t.name.clone().unwrap()).collect();
    assert_eq!(names, ["t1", "t2", "t3", "t4"]);
    assert_eq!(all[0].status.as_deref(), Some("APPROVED"));
    assert!(all[0].extra.contains_key("quality_score"));
    {
        let seen = fake.seen.lock().unwrap();
        assert!(seen.iter().all(|s| s.path != "/steal"), "followed an off-host next link");
        let queries: Vec<_> = seen.iter().map(|s| s.query.clone()).collect();
        assert!(queries[0].contains("fields=name%2Cstatus") && queries[0].contains("limit=2"), "{queries:?}");
        assert!(queries[2].contains("after=C2") && queries[2].contains("fields="), "{queries:?}");
        assert_eq!(seen.len(), 3);
    }

    let created = client
        .create_template(
            &token(),
            "WABA1",
            &CreateTemplate {
                name: "order_update".into(),
                category: "utility".into(),
                language: "en_US".into(),
                parameter_format: Some("named".into()),
                components: json!([{"type": "BODY", "text": "Hi {{first_name}}", "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ann"}]}}]),
            },
        )
        .await
        .unwrap();
    assert_eq!((created.id.as_str(), created.category.as_deref()), ("T77", Some("UTILITY")));
    let body: Value = serde_json::from_slice(&fake.seen.lock().unwrap().last().unwrap().body).unwrap();
    assert_eq!(body["parameter_format"], "named");

    assert!(client.delete_template(&token(), "WABA1", "order_update", Some("T77")).await.unwrap().success);
    let s = fake.seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(
        (s.method, s.path.as_str(), s.query.as_str()),
        (Method::DELETE, "/v23.0/WABA1/message_templates", "name=order_update&hsm_id=T77")
    );
}

#[tokio::test]
async fn phone_number_validates_credentials() {
    let (fake, client) = start().await;
    let info = client.phone_number(&token(), "PN1").await.unwrap();
    assert_eq!(info.verified_name.as_deref(), Some("Acme"));
    assert_eq!(info.quality_rating.as_deref(), Some("GREEN"));
    assert_eq!(info.throughput.unwrap()["level"], "STANDARD");
    let q = fake.seen.lock().unwrap().last().unwrap().query.clone();
    assert!(q.starts_with("fields=") && q.contains("verified_name") && q.contains("quality_rating"), "{q}");
    let e = client.phone_number(&AccessToken::new("expired"), "PN1").await.unwrap_err();
    assert_eq!(e.class(), Some(ErrorClass::Credentials));
}

#[tokio::test]
async fn timeouts_transport_and_bad_ids() {
    let (_fake, client) = start().await;
    let e = client.request_json(&token(), Method::GET, &["SLOW"], None).await.unwrap_err();
    assert!(matches!(e, GraphError::Timeout), "{e:?}");
    assert!(e.retry_after(0).is_some());

    for bad in ["../x", "a/b", "", "x?y=1", "a b"] {
        let e = client.media_info(&token(), bad).await.unwrap_err();
        assert!(matches!(e, GraphError::InvalidArgument(_)), "{bad}: {e:?}");
    }

    // Nothing listens on this port: a connect error (certainly not sent), and no token in any rendering.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let client2 =
        GraphClient::new(ClientConfig { base_url: format!("http://{dead}"), ..ClientConfig::default() }).unwrap();
    let e = client2.phone_number(&token(), "PN1").await.unwrap_err();
    assert!(matches!(e, GraphError::Connect(_)), "{e:?}");
    for rendered in [format!("{e}"), format!("{e:?}"), format!("{client2:?}"), format!("{:?}", token())] {
        assert!(!rendered.contains("SECRET"), "token leaked: {rendered}");
    }
}
