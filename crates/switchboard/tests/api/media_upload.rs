//! Issue 14, item 8: uploads are typed by their bytes and held to Meta's per-type size limits;
//! downloads carry `nosniff`, and anything not an image, audio or video downloads as an attachment.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_error, spawn_app};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

async fn upload(app: &TestApp, token: &str, mime: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str(mime).unwrap());
    app.client.post(app.url("/api/media")).bearer_auth(token).multipart(form).send().await.unwrap()
}

fn webp(animated: bool, size: usize) -> Vec<u8> {
    let mut b = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
    b.push(if animated { 0x02 } else { 0 });
    b.resize(size, 0);
    b
}

#[tokio::test]
async fn uploads_must_be_what_they_declare() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let html = b"<!DOCTYPE html><script>alert(document.cookie)</script>".to_vec();
    let res = upload(&app, &a.access, "image/png", "x.png", html).await;
    let b = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "media_type_mismatch").await;
    assert_eq!(b["error"]["details"]["declared"], "image/png");
    assert_eq!(b["error"]["details"]["detected"], "text/html");
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "file");
    let res = upload(&app, &a.access, "application/pdf", "x.pdf", PNG.to_vec()).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "media_type_mismatch").await;
    let res = upload(&app, &a.access, "audio/ogg", "x.ogg", b"\0\0\0\x18ftypmp42".to_vec()).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "media_type_mismatch").await;
    assert_eq!(upload(&app, &a.access, "image/png", "x.png", PNG.to_vec()).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn uploads_are_held_to_metas_size_limit_for_their_type() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let mut big = PNG.to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let b = assert_error(
        upload(&app, &a.access, "image/png", "big.png", big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "media_too_large",
    )
    .await;
    assert_eq!(b["error"]["details"]["limitBytes"], 5 * 1024 * 1024);
    let mut ok = PNG.to_vec();
    ok.resize(5 * 1024 * 1024, 0);
    assert_eq!(upload(&app, &a.access, "image/png", "ok.png", ok).await.status(), StatusCode::CREATED);
    // Stickers: 100 KB static, 500 KB animated.
    let res = upload(&app, &a.access, "image/webp", "s.webp", webp(false, 100 * 1024 + 1)).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large").await;
    let res = upload(&app, &a.access, "image/webp", "s.webp", webp(true, 400 * 1024)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = upload(&app, &a.access, "image/webp", "s.webp", webp(true, 500 * 1024 + 1)).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large").await;
    // Video and audio: 16 MB.
    let mut mp4 = b"\0\0\0\x18ftypmp42".to_vec();
    mp4.resize(16 * 1024 * 1024 + 1, 0);
    let res = upload(&app, &a.access, "video/mp4", "v.mp4", mp4).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large").await;
}

#[tokio::test]
async fn downloads_are_nosniff_and_non_media_are_attachments() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    for (mime, name, bytes, disposition) in [
        ("image/png", "logo.png", PNG.to_vec(), "inline"),
        ("text/plain", "notes.txt", b"<html><script>alert(1)</script>".to_vec(), "attachment"),
        ("application/pdf", "menu.pdf", b"%PDF-1.4 menu".to_vec(), "attachment"),
        ("audio/ogg", "voice.ogg", b"OggS\0\x02".to_vec(), "inline"),
    ] {
        let res = upload(&app, &a.access, mime, name, bytes.clone()).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{mime}");
        let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let res = app.get(&format!("/api/media/{id}"), Some(&a.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], mime);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let cd = res.headers()["content-disposition"].to_str().unwrap().to_string();
        assert_eq!(cd, format!("{disposition}; filename=\"{name}\""), "{mime}");
        assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
    }
}
