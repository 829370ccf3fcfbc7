//! `cargo bench -p meta-sim --bench sends`: accepted sends per second through HTTP.
//!
//! Spawns the simulator in-process on 127.0.0.1:0 with limits lifted, registers one number,
//! opens the customer-service window of 1,000 users, then fires keep-alive `POST /messages`
//! from concurrent workers (one keep-alive hyper HTTP/1.1 connection each) for a bounded time
//! and prints throughput and latency percentiles.
//!
//! Environment knobs: `BENCH_SECS` (default 5), `BENCH_CONCURRENCY` (default 64),
//! `BENCH_WEBHOOKS=1` also delivers the status webhooks to an in-process sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use meta_sim::{CustomerMessage, MetaSim, NumberSpec, SimConfig};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds (user + system) this process has used, from /proc (Linux); 0 elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // rest starts at field 3 (state), so field n is index n - 3.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let secs = env_num("BENCH_SECS", 5);
    let concurrency = env_num("BENCH_CONCURRENCY", 64) as usize;
    let webhooks = std::env::var("BENCH_WEBHOOKS").is_ok_and(|v| v == "1");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run(secs, concurrency, webhooks));
}

async fn sink(body: axum::body::Bytes) -> &'static str {
    std::hint::black_box(body.len());
    "ok"
}

async fn run(secs: u64, concurrency: usize, webhooks: bool) {
    let cfg = SimConfig {
        limits_enabled: false,
        webhook_batch_max: 100,
        webhook_batch_linger: Duration::from_millis(20),
        ..SimConfig::default()
    };
    let running = MetaSim::spawn(cfg).await.expect("spawn");
    let mut number = NumberSpec::new("bench-waba", "bench-pn", "15550009999", "bench-token", "bench-secret");
    if webhooks {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/hook", axum::routing::post(sink));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        number.webhook_url = Some(format!("http://{addr}/hook"));
    }
    running.sim.register_number(number);
    let users: Vec<String> = (0..1000).map(|i| format!("1555{i:07}")).collect();
    for u in &users {
        running.sim.customer_sends("bench-pn", u, "Bench", CustomerMessage::text("hi")).await;
    }
    let users = Arc::new(users);
    let addr = running.addr;
    let errors = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let users = users.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(200_000);
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(conn);
            let mut i = w;
            while Instant::now() < deadline {
                let to = &users[i % users.len()];
                i += concurrency;
                let body = format!(
                    r#"{{"messaging_product":"whatsapp","recipient_type":"individual","to":"{to}","type":"text","text":{{"body":"bench message {i}"}}}}"#
                );
                let req = hyper::Request::post("/v23.0/bench-pn/messages")
                    .header("host", "127.0.0.1")
                    .header("authorization", "Bearer bench-token")
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(axum::body::Bytes::from(body)))
                    .expect("request");
                let t0 = Instant::now();
                let ok = match sender.send_request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().as_u16() == 200;
                        let body = http_body_util::BodyExt::collect(resp.into_body()).await;
                        ok && body.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            lat
        }));
    }
    let mut all: Vec<u32> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let idx = ((all.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all[idx]) / 1000.0
    };
    let stats = running.sim.stats();
    println!(
        "meta-sim send benchmark ({secs} s, {concurrency} concurrent keep-alive clients, webhooks {})",
        if webhooks { "on" } else { "off" }
    );
    println!("  accepted sends:   {}", all.len());
    println!("  accepted/s:       {:.0}", all.len() as f64 / elapsed);
    println!("  errors:           {}", errors.load(Ordering::Relaxed));
    println!("  latency p50:      {:.3} ms", pct(0.50));
    println!("  latency p99:      {:.3} ms", pct(0.99));
    println!("  latency max:      {:.3} ms", pct(1.0));
    if cpu > 0.0 && !all.is_empty() {
        let per_send = cpu / all.len() as f64;
        println!(
            "  CPU per send:     {:.1} us (client + server, process CPU {:.2} s over {:.2} s wall)",
            per_send * 1e6,
            cpu,
            elapsed
        );
    }
    println!(
        "  sim sends_accepted={} webhooks_delivered={} webhook_items_delivered={}",
        stats.sends_accepted, stats.webhooks_delivered, stats.webhook_items_delivered
    );
    running.shutdown();
}
