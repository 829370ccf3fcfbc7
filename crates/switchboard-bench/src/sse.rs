//! A subscriber to `GET /api/events` that timestamps every `message.created` event.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::bail;

use crate::bodies::message_index;
use crate::track::Track;

/// Connects and returns once the stream is open; events are consumed by a background task.
pub async fn subscribe(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    track: Arc<Track>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut res = client
        .get(format!("{base}/api/events"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("GET /api/events: {}", res.status());
    }
    Ok(tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        while let Ok(Some(chunk)) = res.chunk().await {
            buf.extend_from_slice(&chunk);
            // Events end with a blank line.
            let mut consumed = 0;
            while let Some(end) = find(&buf[consumed..], b"\n\n") {
                handle_event(&buf[consumed..consumed + end], &track);
                consumed += end + 2;
            }
            buf.drain(..consumed);
        }
    }))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn handle_event(block: &[u8], track: &Track) {
    let Ok(text) = std::str::from_utf8(block) else {
        return;
    };
    let mut kind = "";
    let mut data = "";
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            kind = v.trim_start();
        } else if let Some(v) = line.strip_prefix("data:") {
            data = v.trim_start();
        }
    }
    match kind {
        "message.created" => {
            const KEY: &str = "\"waMessageId\":\"";
            let Some(at) = data.find(KEY) else { return };
            let rest = &data[at + KEY.len()..];
            let Some(end) = rest.find('"') else { return };
            match message_index(&rest[..end]) {
                Some(idx) => track.seen(idx),
                None => {
                    track.foreign.fetch_add(1, Relaxed);
                }
            }
        }
        "reset" => {
            track.resets.fetch_add(1, Relaxed);
        }
        _ => {}
    }
}
