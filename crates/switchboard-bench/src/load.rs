//! Load generation: keep-alive HTTP/1.1 connections (one per concurrent client), each sending
//! one request at a time. Closed loop (as fast as acknowledgements come back) or paced (an open
//! loop at a fixed message rate).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::bodies::Body;
use crate::track::Track;

const WEBHOOK: &str = "/api/webhooks/whatsapp";
const NOOP: &str = "/api/health/live";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Signed webhook POSTs from the body pool.
    Webhook,
    /// `GET /api/health/live`: the no-op ceiling.
    Noop,
    /// Signed webhook POSTs from the body pool to another route (a peer system's).
    WebhookAt(&'static str),
}

impl Target {
    fn posts(self) -> bool {
        !matches!(self, Target::Noop)
    }
}

/// What one run of the load measured.
#[derive(Default)]
pub struct Outcome {
    pub ok: u64,
    pub failed: u64,
    pub items: u64,
    pub msgs: u64,
    /// Acknowledgement latency per successful request, microseconds.
    pub latencies_us: Vec<u32>,
    pub elapsed: Duration,
    /// The body pool ran out before the time was up.
    pub exhausted: bool,
    /// First message index and one past the last one this run used.
    pub msg_range: (u64, u64),
}

struct Conn {
    tx: SendRequest<Full<Bytes>>,
}

async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
    assert!(addr.ip().is_loopback(), "load goes to loopback only");
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn { tx })
}

fn request(addr: SocketAddr, target: Target, body: Option<&Body>) -> Request<Full<Bytes>> {
    let host = addr.to_string();
    let path = match target {
        Target::WebhookAt(p) => p,
        _ => WEBHOOK,
    };
    match (target.posts(), body) {
        (true, Some(b)) => Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", host)
            .header("content-type", "application/json")
            .header("user-agent", "facebookexternalua")
            .header("x-hub-signature-256", b.signature.clone())
            .body(Full::new(b.bytes.clone()))
            .expect("valid request"),
        _ => Request::builder()
            .method(Method::GET)
            .uri(NOOP)
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .expect("valid request"),
    }
}

/// Sends one request; `Ok(true)` on a 200.
async fn send(conn: &mut Conn, req: Request<Full<Bytes>>) -> anyhow::Result<bool> {
    conn.tx.ready().await?;
    let res = conn.tx.send_request(req).await?;
    let ok = res.status() == http::StatusCode::OK;
    res.into_body().collect().await?;
    Ok(ok)
}

struct Shared {
    addr: SocketAddr,
    target: Target,
    pool: Arc<Vec<Body>>,
    next: AtomicUsize,
    exhausted: AtomicBool,
    track: Arc<Track>,
}

#[derive(Default)]
struct Local {
    ok: u64,
    failed: u64,
    items: u64,
    msgs: u64,
    lat: Vec<u32>,
}

/// `when(i)`: the instant body `i` may be sent (paced), or `None` (closed loop).
async fn worker<F>(s: Arc<Shared>, deadline: Instant, when: F) -> Local
where
    F: Fn(usize) -> Option<Instant>,
{
    let mut local = Local { lat: Vec::with_capacity(1 << 14), ..Default::default() };
    let mut conn = None;
    loop {
        if Instant::now() >= deadline {
            break;
        }
        let body = if s.target.posts() {
            let i = s.next.fetch_add(1, Relaxed);
            let Some(b) = s.pool.get(i) else {
                s.exhausted.store(true, Relaxed);
                break;
            };
            if let Some(t) = when(i) {
                if t >= deadline {
                    break;
                }
                tokio::time::sleep_until(t.into()).await;
            }
            Some(b)
        } else {
            None
        };
        if conn.is_none() {
            match connect(s.addr).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    local.failed += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected");
        let req = request(s.addr, s.target, body);
        let t0 = Instant::now();
        let sent_at = s.track.at(t0);
        match send(c, req).await {
            Ok(true) => {
                let t1 = Instant::now();
                local.ok += 1;
                local.lat.push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                if let Some(b) = body {
                    local.items += b.items as u64;
                    local.msgs += b.msgs as u64;
                    s.track.acked(b.msg_start, b.msgs, sent_at, s.track.at(t1));
                }
            }
            Ok(false) => local.failed += 1,
            Err(_) => {
                local.failed += 1;
                conn = None;
            }
        }
    }
    local
}

async fn run<F>(s: Arc<Shared>, concurrency: usize, duration: Duration, when: Arc<F>) -> Outcome
where
    F: Fn(usize) -> Option<Instant> + Send + Sync + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (s, when) = (s.clone(), when.clone());
        handles.push(tokio::spawn(async move { worker(s, deadline, |i| when(i)).await }));
    }
    let mut out = Outcome::default();
    for h in handles {
        if let Ok(l) = h.await {
            out.ok += l.ok;
            out.failed += l.failed;
            out.items += l.items;
            out.msgs += l.msgs;
            out.latencies_us.extend(l.lat);
        }
    }
    out.elapsed = start.elapsed();
    out.exhausted = s.exhausted.load(Relaxed);
    let used = s.next.load(Relaxed).min(s.pool.len());
    let first = s.pool.first().map(|b| b.msg_start).unwrap_or(0);
    let end = if used == 0 {
        first
    } else {
        let last = &s.pool[used - 1];
        last.msg_start + last.msgs as u64
    };
    out.msg_range = (first, end);
    out
}

/// As many requests as `concurrency` connections get acknowledged in `duration`.
pub async fn closed_loop(
    addr: SocketAddr,
    target: Target,
    pool: Arc<Vec<Body>>,
    track: Arc<Track>,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    let s =
        Arc::new(Shared { addr, target, pool, next: AtomicUsize::new(0), exhausted: AtomicBool::new(false), track });
    run(s, concurrency, duration, Arc::new(|_| None)).await
}

/// Sends the pool's bodies on a fixed schedule so that messages arrive at `msgs_per_sec`.
pub async fn paced(
    addr: SocketAddr,
    pool: Arc<Vec<Body>>,
    track: Arc<Track>,
    connections: usize,
    msgs_per_sec: f64,
    duration: Duration,
) -> Outcome {
    let start = Instant::now() + Duration::from_millis(50);
    let mut cum = Vec::with_capacity(pool.len());
    let mut total = 0u64;
    for b in pool.iter() {
        cum.push(total);
        total += b.msgs as u64;
    }
    let when = move |i: usize| Some(start + Duration::from_secs_f64(cum[i] as f64 / msgs_per_sec.max(1.0)));
    let s = Arc::new(Shared {
        addr,
        target: Target::Webhook,
        pool,
        next: AtomicUsize::new(0),
        exhausted: AtomicBool::new(false),
        track,
    });
    run(s, connections, duration + Duration::from_millis(50), Arc::new(when)).await
}
