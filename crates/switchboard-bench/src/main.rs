//! `switchboard-bench`: load benchmarks against the real app, started in-process.
//!
//! `cargo run --release -p switchboard-bench -- ingest [--database-url postgres://…]` posts
//! signed, Meta-shaped webhooks at rising concurrency and reports acknowledged POSTs/s and
//! events/s, acknowledgement latency, the same load's no-op ceiling, how fast processing turns
//! them into messages, and the lag until each message appears on the realtime stream.
//! `send` measures outbound pacing against meta-sim (achieved ÷ configured per-number rate,
//! 130429 answers); `inbox` measures conversation-list and message-page latency on a tenant with
//! 1,000,000 messages; `compare` runs the seed design's Node peer and Switchboard (SQLite,
//! PostgreSQL) side by side on the same bodies. See docs/BENCHMARKS.md.

mod app;
mod backlog;
mod bodies;
mod compare;
mod inbox;
mod load;
mod report;
mod send;
mod sse;
mod track;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::load::Target;
use crate::report::{Phase, Report, Step};
use crate::track::Track;

#[derive(Parser)]
#[command(name = "switchboard-bench", about = "Switchboard load benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Webhook ingest: acknowledgement throughput and latency, no-op ceiling, processing lag.
    Ingest(IngestArgs),
    /// Outbound pacing against meta-sim: achieved rate ÷ configured per-number limit, 130429 count.
    Send(send::SendArgs),
    /// Inbox reads: conversation list and message page latency on a large tenant.
    Inbox(inbox::InboxArgs),
    /// Side by side with the seed design (Node peer) on the same bodies: acks, storage rate,
    /// drain, RSS, and a perf profile of Switchboard (issue 16).
    Compare(Box<compare::CompareArgs>),
    /// A backlog of 100,000 webhooks (1–20 messages each, 200,000 contacts) drained after a
    /// kill -9 and restart: drain rate per 10 s window, lease expiries, RSS (issue 16).
    Backlog(Box<backlog::BacklogArgs>),
}

#[derive(clap::Args, Clone)]
struct IngestArgs {
    /// PostgreSQL server to create a fresh database on (e.g. postgres://postgres@127.0.0.1:5432/postgres).
    /// Default: a SQLite file in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Seconds per closed-loop step (and per no-op ceiling step).
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Concurrent connections per step, rising.
    #[arg(long, value_delimiter = ',', default_value = "8,32,64,128")]
    concurrency: Vec<usize>,
    /// Messages/s of the paced processing phase (the processing target).
    #[arg(long, default_value_t = 2000)]
    paced_rate: u64,
    /// Seconds of the paced phase.
    #[arg(long, default_value_t = 10)]
    paced_seconds: u64,
    /// Connections the paced phase may use.
    #[arg(long, default_value_t = 64)]
    paced_connections: usize,
    /// Most seconds to wait after a step for processing to catch up before the next one.
    #[arg(long, default_value_t = 30)]
    drain_seconds: u64,
    /// Pre-built bodies per closed-loop step = max-rate × seconds (a step ends early if it runs out).
    #[arg(long, default_value_t = 12_000)]
    max_rate: u64,
    /// Distinct customers (wa_ids) the messages come from.
    #[arg(long, default_value_t = 50_000)]
    customers: u64,
    /// WhatsApp numbers the tenant receives on (the default plan allows 3).
    #[arg(long, default_value_t = 3)]
    numbers: usize,
    /// Worker threads of the server's runtime (default: one per CPU, as `switchboard serve`).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Skip the no-op ceiling.
    #[arg(long)]
    no_ceiling: bool,
    /// PostgreSQL: webhook batches the server processes at once (SWITCHBOARD_WEBHOOK_WORKERS).
    #[arg(long)]
    webhook_workers: Option<usize>,
    /// Diagnostic: run the server without job workers (SWITCHBOARD_RUN_WORKERS=false), to measure
    /// the acknowledgement path alone. Nothing is processed, so lag is not measured.
    #[arg(long)]
    no_workers: bool,
    /// Write the results as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Install the app's log subscriber with this filter (logs go to stdout; default: none).
    #[arg(long)]
    log: Option<String>,
    /// Seed of the body generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Command::Ingest(a) => a.client_threads.max(1),
        _ => 2,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .expect("client runtime");
    let result = match cli.command {
        Command::Ingest(args) => rt.block_on(ingest(args)),
        Command::Send(args) => rt.block_on(send::run(args)),
        Command::Inbox(args) => rt.block_on(inbox::run(args)),
        Command::Compare(args) => rt.block_on(compare::run(*args)),
        Command::Backlog(args) => rt.block_on(backlog::run(*args)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

const SECRET: &str = "bench-platform-app-secret";

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    if let Some(filter) = &args.log {
        switchboard::telemetry::init(switchboard::config::LogFormat::Pretty, filter);
    }
    let dir = tempfile::tempdir()?;
    let db = app::Database::create(args.database_url.as_deref(), dir.path()).await?;
    let result = run_ingest(&args, &db, dir.path()).await;
    if let Err(e) = db.drop_database().await {
        eprintln!("could not drop the bench database: {e:#}");
    }
    result
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

async fn run_ingest(args: &IngestArgs, db: &app::Database, dir: &std::path::Path) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let server_threads = args.server_threads.unwrap_or(cpus);
    log(format!(
        "backend {} · {cpus} CPUs · server threads {server_threads} · client threads {}{}",
        db.backend(),
        args.client_threads,
        if args.no_workers { " · job workers OFF" } else { "" }
    ));
    let extra: Vec<(&str, String)> =
        args.webhook_workers.map(|n| ("SWITCHBOARD_WEBHOOK_WORKERS", n.to_string())).into_iter().collect();
    let server =
        app::Server::start_with(db.url(), &dir.join("data"), SECRET, server_threads, !args.no_workers, &extra)?;
    let base = format!("http://{}", server.addr);
    log(format!("switchboard listening on {base}"));
    let client = reqwest::Client::builder().no_proxy().build()?;
    let tenant = app::setup_tenant(&client, &base, args.numbers.max(1)).await?;

    // Every body of the run is built and signed before anything is timed.
    let t = Instant::now();
    let run_id = format!("{:08x}", rand_u32());
    let mut generator = bodies::Generator::new(args.seed, &run_id, tenant.numbers.clone(), args.customers, SECRET);
    let warmup = Arc::new(generator.bodies(2_000));
    let paced_pool = Arc::new(generator.bodies_with_messages(args.paced_rate * args.paced_seconds * 11 / 10 + 100));
    let per_step = (args.max_rate * args.seconds) as usize;
    let step_pools: Vec<Arc<Vec<bodies::Body>>> =
        args.concurrency.iter().map(|_| Arc::new(generator.bodies(per_step))).collect();
    let track = Arc::new(Track::new(generator.messages_issued()));
    let bytes: usize = step_pools.iter().flat_map(|p| p.iter()).map(|b| b.bytes.len()).sum();
    let posts: usize = step_pools.iter().map(|p| p.len()).sum();
    log(format!(
        "built {} bodies ({} messages, mean body {} B) in {:.1}s",
        posts + warmup.len() + paced_pool.len(),
        generator.messages_issued(),
        bytes / posts.max(1),
        t.elapsed().as_secs_f64()
    ));

    let sse = sse::subscribe(&client, &base, &tenant.access_token, track.clone()).await?;
    let drain = Duration::from_secs(args.drain_seconds);
    let mut report = Report::new(db.backend(), cpus, server_threads, args.client_threads);
    report.command = std::env::args().collect::<Vec<_>>().join(" ");

    // Warm-up: connections, directory cache, database pages.
    let w = load::closed_loop(server.addr, Target::Webhook, warmup, track.clone(), 8, Duration::from_secs(1)).await;
    let drained = track.drain(drain).await;
    log(format!("warm-up: {} POSTs acknowledged, {} failed; processed in {:?}", w.ok, w.failed, drained));

    // The ceiling, on an idle server: the same connections and client, a no-op route.
    let mut ceiling = Vec::new();
    if !args.no_ceiling {
        for &c in &args.concurrency {
            let o = load::closed_loop(
                server.addr,
                Target::Noop,
                Arc::new(Vec::new()),
                track.clone(),
                c,
                Duration::from_secs(args.seconds),
            )
            .await;
            let s = Step::from_outcome(Phase::Ceiling, c, &o, &track, None, None, 0);
            log(s.line());
            ceiling.push((c, s.posts_per_sec));
            report.steps.push(s);
        }
    }

    // Processing: a steady 2,000 messages/s (by default), lag measured per message.
    {
        let before = track.created_events.load(Relaxed);
        let o = load::paced(
            server.addr,
            paced_pool,
            track.clone(),
            args.paced_connections,
            args.paced_rate as f64,
            Duration::from_secs(args.paced_seconds),
        )
        .await;
        let processed = track.created_events.load(Relaxed) - before;
        let backlog = track.backlog();
        let d = track.drain(drain).await;
        let s = Step::from_outcome(Phase::Paced, args.paced_connections, &o, &track, None, d, processed)
            .with_backlog(backlog)
            .with_lags(&track, o.msg_range);
        log(s.line());
        report.steps.push(s);
    }

    // Acknowledgement capacity at rising concurrency.
    for (i, &c) in args.concurrency.iter().enumerate() {
        let before = track.created_events.load(Relaxed);
        let o = load::closed_loop(
            server.addr,
            Target::Webhook,
            step_pools[i].clone(),
            track.clone(),
            c,
            Duration::from_secs(args.seconds),
        )
        .await;
        let processed = track.created_events.load(Relaxed) - before;
        let backlog = track.backlog();
        let d = track.drain(drain).await;
        let ceil = ceiling.iter().find(|(cc, _)| *cc == c).map(|x| x.1);
        let s = Step::from_outcome(Phase::Ingest, c, &o, &track, ceil, d, processed)
            .with_backlog(backlog)
            .with_lags(&track, o.msg_range);
        log(s.line());
        report.steps.push(s);
    }

    report.stream_duplicates = track.duplicates.load(Relaxed);
    report.stream_resets = track.resets.load(Relaxed);
    report.stream_foreign = track.foreign.load(Relaxed);
    report.backlog_at_exit = track.backlog();
    sse.abort();
    drop(client);

    println!("{}", report.table());
    println!("{}", report.targets());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        log(format!("wrote {}", path.display()));
    }
    if !server.stop(Duration::from_secs(30)) {
        log("server did not stop within 30 s (in-flight jobs); continuing");
    }
    Ok(())
}

fn rand_u32() -> u32 {
    (uuid::Uuid::new_v4().as_u128() & 0xffff_ffff) as u32
}
