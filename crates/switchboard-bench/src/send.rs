//! `switchboard-bench send`: outbound pacing against meta-sim with Meta's limits on.
//!
//! Per scenario (numbers × rate): a fresh database, a meta-sim (in-process, limits enabled, status
//! webhooks to the app) and the app pointed at it (`SWITCHBOARD_GRAPH_API_URL` = the sim). The
//! tenant's plan limits are raised in the database so only Meta's per-number throughput binds.
//! Simulated customers write first (24-hour windows open, many distinct recipients so the pair rate
//! does not bind), then a burst of sends is enqueued through `POST /api/conversations/{id}/messages`
//! and the accepted sends are timed at meta-sim.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use meta_sim::{CustomerMessage, MetaSim, NumberSpec, SimConfig};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::Serialize;
use serde_json::{Value, json};

use crate::app;

const SECRET: &str = "bench-platform-app-secret";
const TOKEN: &str = "EAAG-bench-send-token-1234";

#[derive(clap::Args, Clone)]
pub struct SendArgs {
    /// PostgreSQL server to create fresh databases on. Default: SQLite files in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Scenarios as NUMBERSxRATE (messages/s per number).
    #[arg(long, value_delimiter = ',', default_value = "1x80,1x1000,20x80")]
    scenarios: Vec<String>,
    /// Seconds of sending per number at its rate (messages per number = rate × seconds).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Messages per recipient (Meta's pair rate: 1 per 6 s, burst 45).
    #[arg(long, default_value_t = 10)]
    per_recipient: usize,
    /// Concurrent API clients enqueueing the sends.
    #[arg(long, default_value_t = 32)]
    enqueue_clients: usize,
    /// Worker threads of the server's runtime (default: one per CPU).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Diagnostic: stop delivering webhooks to the app once the conversations are open, so status
    /// webhooks (sent/delivered/read) do not compete with the sender.
    #[arg(long)]
    no_status_webhooks: bool,
    /// Enqueue the whole burst while the numbers wait for re-authorisation (`needs_reauth`: their
    /// sends stay queued), then reactivate them: measures the sender draining a full queue, not the
    /// API's enqueue rate.
    #[arg(long)]
    queued: bool,
    /// Pace through Redis (`SWITCHBOARD_REDIS_URL`, e.g. redis://127.0.0.1:6379) instead of the
    /// in-process limiter, as a deployment with several nodes does.
    #[arg(long)]
    redis_url: Option<String>,
    /// Write the results as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Serialize, Clone, Debug)]
pub struct NumberResult {
    pub phone_number_id: String,
    pub accepted: usize,
    /// (accepted − 1) / (last − first), messages/s.
    pub rate_full: f64,
    /// Between the 10th and 90th percentile of acceptance times (no burst, no tail).
    pub rate_mid: f64,
    pub span_s: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct ScenarioResult {
    pub backend: String,
    /// "local" (in-process limiter) or "redis".
    pub pacing: &'static str,
    /// "live" (sent while being enqueued) or "queued" (enqueued first, then released).
    pub mode: &'static str,
    pub numbers: usize,
    pub rate: u32,
    pub messages: usize,
    pub enqueue_s: f64,
    pub enqueue_per_s: f64,
    pub enqueue_failed: usize,
    pub all_sent_s: f64,
    pub accepted: u64,
    pub rejected_by_code: BTreeMap<i64, u64>,
    /// Aggregate: total accepted / (last − first) across all numbers, ÷ (numbers × rate).
    pub aggregate_ratio: f64,
    pub min_ratio_full: f64,
    pub mean_ratio_full: f64,
    pub min_ratio_mid: f64,
    pub mean_ratio_mid: f64,
    pub per_number: Vec<NumberResult>,
    pub unsent: usize,
}

pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for sc in &args.scenarios {
        let (n, r) = sc.split_once('x').ok_or_else(|| anyhow!("scenario {sc}: expected NUMBERSxRATE"))?;
        let (n, r): (usize, u32) = (n.parse()?, r.parse()?);
        let dir = tempfile::tempdir()?;
        let db = app::Database::create(args.database_url.as_deref(), dir.path()).await?;
        let res = scenario(&args, &db, dir.path(), n, r).await;
        if let Err(e) = db.drop_database().await {
            eprintln!("could not drop the bench database: {e:#}");
        }
        let res = res.with_context(|| format!("scenario {sc}"))?;
        crate::log(line(&res));
        results.push(res);
    }
    println!("{}", table(&results));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
    }
    Ok(())
}

fn line(r: &ScenarioResult) -> String {
    format!(
        "{} {} ({} pacing) {}×{}/s: {} msgs, enqueued in {:.1}s ({:.0}/s), all sent after {:.1}s; ratio min {:.3} mean {:.3} (mid-80 % min {:.3} mean {:.3}), aggregate {:.3}; rejected {:?}; unsent {}",
        r.backend,
        r.mode,
        r.pacing,
        r.numbers,
        r.rate,
        r.messages,
        r.enqueue_s,
        r.enqueue_per_s,
        r.all_sent_s,
        r.min_ratio_full,
        r.mean_ratio_full,
        r.min_ratio_mid,
        r.mean_ratio_mid,
        r.aggregate_ratio,
        r.rejected_by_code,
        r.unsent
    )
}

fn table(rs: &[ScenarioResult]) -> String {
    let mut s = String::from(
        "| backend | mode | numbers × rate | messages | enqueue /s | achieved /s per number (mean; min) | ratio first→last (min / mean) | ratio mid-80 % (min / mean) | aggregate ratio | 130429 | 131056 | other rejections | unsent |\n|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|\n",
    );
    for r in rs {
        let mean_rate = r.per_number.iter().map(|n| n.rate_full).sum::<f64>() / r.per_number.len().max(1) as f64;
        let min_rate = r.per_number.iter().map(|n| n.rate_full).fold(f64::INFINITY, f64::min);
        let other: Vec<String> = r
            .rejected_by_code
            .iter()
            .filter(|(c, _)| **c != 130429 && **c != 131056)
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        s.push_str(&format!(
            "| {} | {} | {} × {}/s | {} | {:.0} | {:.1}; {:.1} | {:.3} / {:.3} | {:.3} / {:.3} | {:.3} | {} | {} | {} | {} |\n",
            r.backend,
            r.mode,
            r.numbers,
            r.rate,
            r.messages,
            r.enqueue_per_s,
            mean_rate,
            min_rate,
            r.min_ratio_full,
            r.mean_ratio_full,
            r.min_ratio_mid,
            r.mean_ratio_mid,
            r.aggregate_ratio,
            r.rejected_by_code.get(&130429).copied().unwrap_or(0),
            r.rejected_by_code.get(&131056).copied().unwrap_or(0),
            if other.is_empty() { "-".into() } else { other.join(", ") },
            r.unsent
        ));
    }
    s
}

/// The sender's counters over the burst, as averages (diagnostic).
fn sender_counters(before: &[(&'static str, u64)], after: &[(&'static str, u64)]) -> String {
    let d: HashMap<&str, f64> =
        after.iter().zip(before).map(|((n, a), (_, b))| (*n, a.saturating_sub(*b) as f64)).collect();
    let per = |k: &str, by: &str| d[k] / d[by].max(1.0);
    format!(
        "sender: {} claims of {:.1} jobs; {} mark statements ({:.1} sends, {:.1} ms each); {} record transactions ({:.1} sends, {:.1} ms each); per send (ms): claim→request {:.1} (pacing {:.1}, send_started_at {:.1}), request {:.1}, record {:.1}",
        d["batches"],
        per("jobs", "batches"),
        d["mark_groups"],
        per("jobs", "mark_groups"),
        per("mark_us", "mark_groups") / 1000.0,
        d["record_groups"],
        per("recorded", "record_groups"),
        per("record_us", "record_groups") / 1000.0,
        per("to_send_us", "jobs") / 1000.0,
        per("pacing_us", "jobs") / 1000.0,
        per("mark_wait_us", "jobs") / 1000.0,
        per("http_us", "jobs") / 1000.0,
        per("record_wait_us", "recorded") / 1000.0,
    )
}

async fn scenario(
    args: &SendArgs,
    db: &app::Database,
    dir: &std::path::Path,
    numbers: usize,
    rate: u32,
) -> anyhow::Result<ScenarioResult> {
    let per_number = rate as usize * args.seconds as usize;
    let recipients = per_number.div_ceil(args.per_recipient.max(1));
    crate::log(format!(
        "{} scenario {numbers}×{rate}/s: {per_number} messages per number to {recipients} recipients each",
        db.backend()
    ));

    let sim =
        MetaSim::spawn(SimConfig { limits_enabled: true, max_sent_kept_per_number: 1_000_000, ..SimConfig::default() })
            .await?;
    let mut env = vec![("SWITCHBOARD_GRAPH_API_URL", sim.base_url.clone())];
    if let Some(redis) = &args.redis_url {
        env.push(("SWITCHBOARD_REDIS_URL", redis.clone()));
    }
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let server =
        app::Server::start_with(db.url(), &dir.join("data"), SECRET, args.server_threads.unwrap_or(cpus), true, &env)?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(256).build()?;

    // Tenant, then plan limits out of the way, then the numbers.
    let token = crate::app::sign_up(&client, &base, "Send Bench", "send@bench.test").await?;
    server
        .run(|state| async move {
            state
                .writer()
                .execute_unprepared(
                    "UPDATE tenants SET limit_messages_per_minute = 10000000, limit_monthly_messages = 1000000000, limit_max_numbers = 1000",
                )
                .await?;
            Ok(())
        })
        .await?;
    let hook = format!("{base}/api/webhooks/whatsapp");
    let mut pnids = Vec::new();
    for i in 0..numbers {
        let pnid = format!("2065{numbers:03}{rate:04}{i:03}");
        let waba = format!("9{pnid}");
        sim.sim.register_number(
            NumberSpec::new(&waba, &pnid, format!("+1 555 02{i:03}"), TOKEN, SECRET)
                .with_webhook_url(&hook)
                .with_throughput(rate),
        );
        let res = client
            .post(format!("{base}/api/whatsapp-accounts?validate=false"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("Line {i}"), "wabaId": waba, "phoneNumberId": pnid,
                "displayPhoneNumber": format!("+1 555 02{i:03}"), "accessToken": TOKEN,
                "appSecret": SECRET, "throughputMps": rate}))
            .send()
            .await?;
        if res.status().as_u16() != 201 {
            bail!("create account {i}: {} {}", res.status(), res.text().await.unwrap_or_default());
        }
        pnids.push(pnid);
    }

    // Customers write first: windows open.
    let t = Instant::now();
    let total_recipients = recipients * numbers;
    for (ni, pnid) in pnids.iter().enumerate() {
        for r in 0..recipients {
            let wa = format!("1{:03}{:03}{:06}", numbers, ni, r);
            sim.sim.customer_sends(pnid, &wa, "Bench Customer", CustomerMessage::text("hello")).await;
        }
    }
    // Wait until every conversation exists.
    let deadline = Instant::now() + Duration::from_secs(300);
    let convs: Vec<(String, uuid::Uuid)> = loop {
        let rows = server
            .run(|state| async move {
                use switchboard::entities::{conversations, whatsapp_accounts};
                let accts: HashMap<uuid::Uuid, String> = whatsapp_accounts::Entity::find()
                    .all(&state.db)
                    .await?
                    .into_iter()
                    .map(|a| (a.id, a.phone_number_id))
                    .collect();
                let convs = conversations::Entity::find().all(&state.db).await?;
                Ok(convs
                    .into_iter()
                    .filter(|c| c.last_inbound_at.is_some())
                    .filter_map(|c| accts.get(&c.whatsapp_account_id).map(|p| (p.clone(), c.id)))
                    .collect::<Vec<_>>())
            })
            .await?;
        if rows.len() >= total_recipients {
            break rows;
        }
        if Instant::now() > deadline {
            bail!("only {} of {total_recipients} conversations after 300 s", rows.len());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    crate::log(format!("{} conversations open after {:.1}s", convs.len(), t.elapsed().as_secs_f64()));
    if args.no_status_webhooks {
        for p in &pnids {
            sim.sim.set_webhook_url(p, None);
        }
    }
    // Let the status/inbound backlog settle before timing.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The burst: per number, round-robin over its conversations.
    let mut by_number: HashMap<String, Vec<uuid::Uuid>> = HashMap::new();
    for (p, c) in convs {
        by_number.entry(p).or_default().push(c);
    }
    let mut work: Vec<(uuid::Uuid, usize)> = Vec::with_capacity(per_number * numbers);
    for k in 0..per_number {
        for p in &pnids {
            let cs = &by_number[p];
            work.push((cs[k % cs.len()], k));
        }
    }
    if args.queued {
        // Hold the sends: a number waiting for new credentials keeps its messages queued.
        server
            .run(|state| async move {
                use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
                use switchboard::entities::whatsapp_accounts;
                whatsapp_accounts::Entity::update_many()
                    .col_expr(whatsapp_accounts::Column::Status, Expr::value("needs_reauth"))
                    .filter(whatsapp_accounts::Column::Status.eq(switchboard::entities::enums::AccountStatus::Active))
                    .exec(state.writer())
                    .await?;
                state.directory.invalidate();
                Ok(())
            })
            .await?;
    }
    let stats0 = sim.sim.stats();
    let total = work.len();
    let work = Arc::new(work);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.enqueue_clients.max(1) {
        let (work, next, failed, client, base, token) =
            (work.clone(), next.clone(), failed.clone(), client.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            loop {
                let i = next.fetch_add(1, Relaxed);
                let Some((conv, k)) = work.get(i) else { break };
                let r = client
                    .post(format!("{base}/api/conversations/{conv}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"type": "text", "text": {"body": format!("bench reply {k}")}}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 202 => {}
                    Ok(r) => {
                        if failed.fetch_add(1, Relaxed) < 3 {
                            eprintln!("enqueue: {} {}", r.status(), r.text().await.unwrap_or_default());
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Relaxed) < 3 {
                            eprintln!("enqueue: {e}");
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let enqueue_s = t0.elapsed().as_secs_f64();
    let enqueue_failed = failed.load(std::sync::atomic::Ordering::Relaxed);
    crate::log(format!("enqueued {total} sends in {enqueue_s:.1}s ({enqueue_failed} failed)"));
    let t0 = if args.queued {
        // Park the queued sends an hour ahead until no batch is running: the batches claimed at
        // the end of the enqueue (or re-claiming sends deferred 30 s earlier in a long enqueue)
        // still see `needs_reauth` and would defer their jobs 30 s past the release.
        let quiet_by = Instant::now() + Duration::from_secs(60);
        loop {
            let running = server
                .run(|state| async move {
                    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, sea_query::Expr};
                    use switchboard::entities::enums::JobState;
                    use switchboard::entities::jobs;
                    jobs::Entity::update_many()
                        .col_expr(jobs::Column::RunAt, Expr::value(switchboard::db::now() + chrono::Duration::hours(1)))
                        .filter(jobs::Column::Queue.eq(switchboard::jobs::queues::MESSAGE_SEND))
                        .filter(jobs::Column::State.eq(JobState::Pending))
                        .exec(state.writer())
                        .await?;
                    Ok(jobs::Entity::find()
                        .filter(jobs::Column::Queue.eq(switchboard::jobs::queues::MESSAGE_SEND))
                        .filter(jobs::Column::State.eq(JobState::Running))
                        .count(&state.db)
                        .await?)
                })
                .await?;
            if running == 0 || Instant::now() > quiet_by {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Release: the numbers are active again and their deferred sends due now.
        let t = Instant::now();
        server
            .run(|state| async move {
                use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
                use switchboard::entities::{jobs, whatsapp_accounts};
                whatsapp_accounts::Entity::update_many()
                    .col_expr(whatsapp_accounts::Column::Status, Expr::value("active"))
                    .exec(state.writer())
                    .await?;
                state.directory.invalidate();
                jobs::Entity::update_many()
                    .col_expr(jobs::Column::RunAt, Expr::value(switchboard::db::now()))
                    .filter(jobs::Column::Queue.eq(switchboard::jobs::queues::MESSAGE_SEND))
                    .filter(jobs::Column::State.eq(switchboard::entities::enums::JobState::Pending))
                    .exec(state.writer())
                    .await?;
                state.jobs_wakeup.wake(switchboard::jobs::queues::MESSAGE_SEND);
                Ok(())
            })
            .await?;
        t
    } else {
        t0
    };

    let counters0 = switchboard::sender::counters::snapshot();
    // Wait for Meta to have accepted all of them (bounded).
    let expect = stats0.sends_accepted + (total - enqueue_failed) as u64;
    let limit = Duration::from_secs(60 + 5 * args.seconds);
    while sim.sim.stats().sends_accepted < expect && t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_sent_s = t0.elapsed().as_secs_f64();
    crate::log(sender_counters(&counters0, &switchboard::sender::counters::snapshot()));
    let stats = sim.sim.stats();
    let mut rejected = BTreeMap::new();
    for (code, n) in &stats.rejected_by_code {
        let d = n - stats0.rejected_by_code.get(code).copied().unwrap_or(0);
        if d > 0 {
            rejected.insert(*code, d);
        }
    }

    let mut per = Vec::new();
    let (mut first_all, mut last_all, mut count_all) = (u64::MAX, 0u64, 0usize);
    for p in &pnids {
        let mut ts: Vec<u64> = sim
            .sim
            .sent_messages(p)
            .into_iter()
            .filter(|m| {
                m.body.pointer("/text/body").and_then(Value::as_str).is_some_and(|b| b.starts_with("bench reply"))
            })
            .map(|m| m.timestamp_ms)
            .collect();
        ts.sort_unstable();
        let n = ts.len();
        let (first, last) = (ts.first().copied().unwrap_or(0), ts.last().copied().unwrap_or(0));
        first_all = first_all.min(first);
        last_all = last_all.max(last);
        count_all += n;
        let span = (last - first) as f64 / 1000.0;
        let rate_full = if n > 1 && span > 0.0 { (n - 1) as f64 / span } else { 0.0 };
        let (a, b) = (n / 10, (n * 9 / 10).min(n.saturating_sub(1)));
        let mid_span = if n > 1 { (ts[b] - ts[a]) as f64 / 1000.0 } else { 0.0 };
        let rate_mid = if mid_span > 0.0 { (b - a) as f64 / mid_span } else { 0.0 };
        per.push(NumberResult { phone_number_id: p.clone(), accepted: n, rate_full, rate_mid, span_s: span });
    }
    let r = rate as f64;
    let ratios_full: Vec<f64> = per.iter().map(|n| n.rate_full / r).collect();
    let ratios_mid: Vec<f64> = per.iter().map(|n| n.rate_mid / r).collect();
    let agg_span = last_all.saturating_sub(first_all) as f64 / 1000.0;
    let aggregate_ratio =
        if agg_span > 0.0 { (count_all.saturating_sub(1)) as f64 / agg_span / (r * numbers as f64) } else { 0.0 };
    let unsent = total - enqueue_failed - count_all.min(total);

    sim.shutdown();
    if !server.stop(Duration::from_secs(30)) {
        crate::log("server did not stop within 30 s; continuing");
    }
    Ok(ScenarioResult {
        backend: db.backend().into(),
        pacing: if args.redis_url.is_some() { "redis" } else { "local" },
        mode: if args.queued { "queued" } else { "live" },
        numbers,
        rate,
        messages: total,
        enqueue_s,
        enqueue_per_s: total as f64 / enqueue_s,
        enqueue_failed,
        all_sent_s,
        accepted: stats.sends_accepted - stats0.sends_accepted,
        rejected_by_code: rejected,
        aggregate_ratio,
        min_ratio_full: ratios_full.iter().copied().fold(f64::INFINITY, f64::min),
        mean_ratio_full: ratios_full.iter().sum::<f64>() / ratios_full.len().max(1) as f64,
        min_ratio_mid: ratios_mid.iter().copied().fold(f64::INFINITY, f64::min),
        mean_ratio_mid: ratios_mid.iter().sum::<f64>() / ratios_mid.len().max(1) as f64,
        per_number: per,
        unsent,
    })
}
