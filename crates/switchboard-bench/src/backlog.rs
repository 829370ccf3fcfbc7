//! `switchboard-bench backlog`: issue 16's backlog case. A tenant with many contacts (200,000)
//! receives a large backlog of webhooks (100,000 bodies of 1–20 inbound messages each) while its
//! server runs without job workers; the server is then killed (`kill -9`) and started again with
//! workers on, and the bench measures how fast the backlog drains after the restart, whether it
//! keeps its pace to the end (the rate per 10-second window), whether any job's lease expired
//! while its worker was alive (jobs re-queued with "lease expired", events attempted twice), RSS
//! and CPU.
//!
//! PostgreSQL runs once with autovacuum off (as these machines run) and once with it on. In both,
//! the tables are analysed while nearly empty, before the contacts are loaded: the statistics are
//! then as stale as a first deployment's after an import (the plan that made processing collapse
//! to ~120 messages/s). SQLite runs once.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement, TransactionTrait};

use crate::bodies::{Generator, ItemMix};
use crate::compare::{self, Procs};
use crate::load::{self, Target};
use crate::track::Track;
use crate::{SECRET, log};

#[derive(clap::Args, Clone)]
pub struct BacklogArgs {
    /// PostgreSQL server to create the fresh databases on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Runs, in this order: `sqlite`, `postgres-off`, `postgres-on` (PostgreSQL with autovacuum
    /// off or on; the previous setting is restored after).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres-off,postgres-on")]
    runs: Vec<String>,
    /// Webhook bodies in the backlog.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Inbound messages per body: uniform in LO-HI.
    #[arg(long, default_value = "1-20")]
    messages: String,
    /// Contacts the tenant has before the backlog arrives (the messages come from them).
    #[arg(long, default_value_t = 200_000)]
    contacts: u64,
    /// Connections that post the backlog (closed loop, before the restart).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Most seconds to wait for the backlog to drain after the restart.
    #[arg(long, default_value_t = 1_200)]
    drain_seconds: u64,
    /// Stop waiting when the stored count has not grown for this many seconds.
    #[arg(long, default_value_t = 30)]
    stall_seconds: u64,
    /// Milliseconds between two polls of the stored count.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// The run to record with `perf record -g` during the drain (`sqlite`, `postgres-off`,
    /// `postgres-on`), or `none`.
    #[arg(long, default_value = "none")]
    profile: String,
    #[arg(long, default_value_t = 999)]
    profile_hz: u32,
    /// The Switchboard binary (default: `switchboard` next to this executable).
    #[arg(long)]
    switchboard_bin: Option<PathBuf>,
    /// Where the table (`backlog-<timestamp>.md`) and the profile go.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Sqlite,
    Postgres { autovacuum: bool },
}

impl Run {
    fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim() {
            "sqlite" => Ok(Run::Sqlite),
            "postgres-off" | "pg-off" => Ok(Run::Postgres { autovacuum: false }),
            "postgres-on" | "pg-on" => Ok(Run::Postgres { autovacuum: true }),
            other => bail!("unknown run {other:?} (sqlite, postgres-off, postgres-on)"),
        }
    }
    fn key(self) -> &'static str {
        match self {
            Run::Sqlite => "sqlite",
            Run::Postgres { autovacuum: false } => "postgres-off",
            Run::Postgres { autovacuum: true } => "postgres-on",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Run::Sqlite => "SQLite",
            Run::Postgres { autovacuum: false } => "PostgreSQL, autovacuum off",
            Run::Postgres { autovacuum: true } => "PostgreSQL, autovacuum on",
        }
    }
}

struct Row {
    run: Run,
    contacts: u64,
    contacts_s: f64,
    acked: u64,
    failed: u64,
    ack_rate: f64,
    messages: u64,
    stored: u64,
    ready_s: f64,
    last_stored_s: f64,
    /// Messages per second in each full 10-second window after the restart.
    windows: Vec<f64>,
    lease_expired: i64,
    attempted_twice: i64,
    unfinished: i64,
    peak_rss_mb: f64,
    cpu_s: f64,
    stats: String,
}

impl Row {
    fn rate(&self) -> f64 {
        self.stored as f64 / self.last_stored_s.max(1e-9)
    }
}

pub async fn run(args: BacklogArgs) -> anyhow::Result<()> {
    let runs: Vec<Run> = args.runs.iter().map(|s| Run::parse(s)).collect::<anyhow::Result<_>>()?;
    let (lo, hi) = args
        .messages
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)))
        .filter(|(a, b)| *a >= 1 && a <= b)
        .ok_or_else(|| anyhow!("--messages LO-HI, e.g. 1-20"))?;
    let bin = match &args.switchboard_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.parent().ok_or_else(|| anyhow!("no exe dir"))?.join("switchboard"),
    };
    if !bin.exists() {
        bail!("{} not found: `cargo build --release -p switchboard` (or --switchboard-bin)", bin.display());
    }
    std::fs::create_dir_all(&args.out_dir)?;
    let out = args.out_dir.canonicalize()?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let started_at = chrono::Utc::now();
    let load_before = compare::loadavg();
    compare::ensure_services(runs.iter().any(|r| *r != Run::Sqlite))?;

    // One set of bodies for every run: the same backlog.
    let t = Instant::now();
    let run_id = format!("{:08x}", crate::rand_u32());
    let mut g = Generator::new(args.seed, &run_id, compare::numbers(), args.contacts, SECRET);
    g.set_status_percent(0);
    g.set_mix(ItemMix::Uniform(lo, hi));
    let pool = Arc::new(g.bodies(args.events));
    let messages: u64 = pool.iter().map(|b| b.msgs as u64).sum();
    let bytes: usize = pool.iter().map(|b| b.bytes.len()).sum();
    log(format!(
        "built {} bodies ({messages} messages, {:.1} per body, {} B per body) in {:.1}s",
        pool.len(),
        messages as f64 / pool.len().max(1) as f64,
        bytes / pool.len().max(1),
        t.elapsed().as_secs_f64()
    ));

    let admin = if runs.iter().any(|r| *r != Run::Sqlite) {
        Some(
            switchboard::db::connect(
                &args.database_url,
                &switchboard::db::DbOptions { max_connections: 1, lazy: false },
            )
            .await
            .context("connecting to --database-url")?,
        )
    } else {
        None
    };
    let mut rows = Vec::new();
    let mut profile_file = None;
    for &r in &runs {
        log(format!("── {} ──", r.label()));
        let restore = match (r, &admin) {
            (Run::Postgres { autovacuum }, Some(a)) => Some(compare::set_autovacuum(a, autovacuum).await?),
            _ => None,
        };
        let work = tempfile::tempdir()?;
        let db = crate::app::Database::create(
            matches!(r, Run::Postgres { .. }).then_some(args.database_url.as_str()),
            work.path(),
        )
        .await?;
        let result = one_run(&args, r, &bin, &db, work.path(), &pool, messages, &out, &stamp).await;
        if let Err(e) = db.drop_database().await {
            log(format!("could not drop {}: {e:#}", db.url()));
        }
        if let (Some(restore), Some(a)) = (restore, &admin)
            && let Err(e) = compare::restore_autovacuum(a, &restore).await
        {
            log(format!("could not restore autovacuum ({restore:?}): {e:#}"));
        }
        let (row, profile) = result.with_context(|| format!("{} run", r.label()))?;
        log(row_line(&row));
        if profile.is_some() {
            profile_file = profile;
        }
        rows.push(row);
    }
    if let Some(a) = admin {
        a.close().await.ok();
    }

    let commit = compare::sh(std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]), "git")
        .unwrap_or_else(|_| "?".into());
    let mut md = String::new();
    let _ = writeln!(md, "# switchboard-bench backlog — {}\n", started_at.format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(
        md,
        "Commit `{commit}` · {} CPUs · load average before {load_before}, after {} · {} bodies of {lo}–{hi} inbound \
         messages ({messages} messages) from {} existing contacts, posted with workers off, then `kill -9` and a \
         restart with workers on\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        compare::loadavg(),
        pool.len(),
        args.contacts,
    );
    let _ = writeln!(md, "Command: `{}`\n", std::env::args().collect::<Vec<_>>().join(" "));
    md.push_str(
        "| run | contacts loaded | backlog posted (POSTs/s) | stored after the restart | drained in | \
         messages/s, restart to last stored | per 10 s window: first / slowest / last | leases expired | events \
         attempted twice | unfinished events | peak RSS | server CPU (cores) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for row in &rows {
        md.push_str(&table_line(row));
    }
    md.push('\n');
    for row in &rows {
        let _ = writeln!(md, "- {}: {}", row.run.label(), row.stats);
    }
    let _ = writeln!(
        md,
        "\nTarget (issue 16): the backlog drains at ≥ 5,000 messages/s on both backends, autovacuum off and on, and no \
         job's lease expires while its worker is alive."
    );
    for row in &rows {
        let _ = writeln!(
            md,
            "- {}: {:.0} messages/s ({}); leases expired: {} ({})",
            row.run.label(),
            row.rate(),
            if row.rate() >= 5_000.0 { "met" } else { "missed" },
            row.lease_expired,
            if row.lease_expired == 0 && row.attempted_twice == 0 { "met" } else { "missed" },
        );
    }
    if let Some(p) = &profile_file {
        let _ = writeln!(md, "\nProfile of the drain: `{}`", p.display());
    }
    let path = out.join(format!("backlog-{stamp}.md"));
    std::fs::write(&path, &md)?;
    println!("{md}");
    log(format!("wrote {}", path.display()));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn one_run(
    args: &BacklogArgs,
    r: Run,
    bin: &std::path::Path,
    db: &crate::app::Database,
    work: &std::path::Path,
    pool: &Arc<Vec<crate::bodies::Body>>,
    messages: u64,
    out: &std::path::Path,
    stamp: &str,
) -> anyhow::Result<(Row, Option<PathBuf>)> {
    let data = work.join("data");
    std::fs::create_dir_all(&data)?;
    let url = db.url().to_string();
    let port = compare::free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let base = format!("http://{addr}");
    let spawn = |procs: &mut Procs, workers: bool, n: usize| -> anyhow::Result<u32> {
        let f = std::fs::File::create(work.join(format!("switchboard-{n}.log")))?;
        let mut cmd = compare::serve_command(bin, &data, addr, &url, workers);
        cmd.stdout(std::process::Stdio::from(f.try_clone()?)).stderr(std::process::Stdio::from(f));
        procs.spawn("switchboard serve", &mut cmd)
    };

    // 1. The server without workers; a tenant with three numbers; statistics taken while the
    //    tables are nearly empty; then the contacts.
    let mut procs = Procs::default();
    let pid = spawn(&mut procs, false, 1)?;
    compare::wait_http(&format!("{base}/api/health/live"), &mut procs, Duration::from_secs(120)).await?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    crate::app::setup_tenant(&client, &base, 3).await?;
    let conn = switchboard::db::connect(&url, &switchboard::db::DbOptions { max_connections: 1, lazy: false }).await?;
    let tenant = switchboard::entities::tenants::Entity::find()
        .one(&conn)
        .await?
        .ok_or_else(|| anyhow!("no tenant after sign-up"))?
        .id;
    if matches!(r, Run::Postgres { .. }) {
        conn.execute_unprepared("ANALYZE").await?;
    }
    let t = Instant::now();
    load_contacts(&conn, tenant, args.contacts).await?;
    let contacts_s = t.elapsed().as_secs_f64();
    log(format!("{} contacts loaded in {contacts_s:.1}s", args.contacts));

    // 2. The backlog, acknowledged and stored, nothing processed.
    let track = Arc::new(Track::new(messages));
    let o = load::closed_loop(addr, Target::Webhook, pool.clone(), track, args.concurrency, Duration::from_secs(3_600))
        .await;
    let ack_rate = o.ok as f64 / o.elapsed.as_secs_f64().max(1e-9);
    log(format!("backlog posted: {} acknowledged, {} failed, {ack_rate:.0} POSTs/s", o.ok, o.failed));
    let baseline = compare::count(&conn).await?;

    // 3. kill -9, and a restart with workers on.
    compare::signal(pid, "KILL");
    procs.stop_all(Duration::from_secs(10));
    let restarted = Instant::now();
    let pid = spawn(&mut procs, true, 2)?;
    let profiled = args.profile == r.key();
    let perf_data = out.join(format!("backlog-{stamp}-{}.perf.data", r.key()));
    let perf = if profiled {
        Some(compare::start_perf_on(pid, args.profile_hz, &perf_data, &work.join("perf-record.log"), &mut procs)?)
    } else {
        None
    };
    compare::wait_http(&format!("{base}/api/health/live"), &mut procs, Duration::from_secs(120)).await?;
    let ready_s = restarted.elapsed().as_secs_f64();
    let cpu_before = compare::cpu_seconds(pid);
    let expected = baseline + o.msgs as i64;
    let every = Duration::from_millis(args.poll_ms.max(50));
    let mut samples: Vec<(f64, i64)> = Vec::new();
    let mut peak_rss = 0u64;
    let (mut last, mut grew) = (-1i64, Instant::now());
    loop {
        let n = compare::count(&conn).await.unwrap_or(last);
        let now = restarted.elapsed().as_secs_f64();
        samples.push((now, n));
        peak_rss = peak_rss.max(compare::rss_kb(pid));
        if n >= expected {
            break;
        }
        if n != last {
            (last, grew) = (n, Instant::now());
        } else if grew.elapsed() >= Duration::from_secs(args.stall_seconds) {
            log(format!("stored count stalled at {} of {}", n - baseline, expected - baseline));
            break;
        }
        if restarted.elapsed() >= Duration::from_secs(args.drain_seconds) {
            log("not drained within --drain-seconds");
            break;
        }
        if let Some(why) = procs.exited() {
            bail!("{why} during the drain");
        }
        tokio::time::sleep(every).await;
    }
    let cpu_s = compare::cpu_seconds(pid) - cpu_before;
    let final_count = samples.iter().map(|s| s.1).max().unwrap_or(baseline);
    let last_stored_s = samples.iter().find(|s| s.1 == final_count).map(|s| s.0).unwrap_or(0.0);
    let profile = match perf {
        Some(p) => {
            compare::stop_perf(p, &mut procs)?;
            let header = format!(
                "perf record -g -F {} -p <switchboard serve pid> while the {} backlog drained after the restart \
                 ({last_stored_s:.1} s; the server used {cpu_s:.1} CPU seconds, {:.2} cores); self time \
                 (--no-children); PostgreSQL's own processes are not in it\n",
                args.profile_hz,
                r.label(),
                cpu_s / (last_stored_s - ready_s).max(1e-9),
            );
            let path = out.join(format!("backlog-{stamp}-perf-{}.txt", r.key()));
            std::fs::write(&path, compare::perf_report(&perf_data, &header))?;
            log(format!("wrote {}", path.display()));
            Some(path)
        }
        None => None,
    };

    // 4. What happened to the jobs and events.
    let one = |sql: &str| {
        let conn = &conn;
        let sql = sql.to_string();
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
                .await?
                .ok_or_else(|| anyhow!("no row"))?;
            anyhow::Ok(row.try_get::<i64>("", "n")?)
        }
    };
    let lease_expired =
        one("SELECT count(*) AS n FROM jobs WHERE queue = 'webhook-processor' AND last_error LIKE 'lease expired%'")
            .await?;
    let attempted_twice = one("SELECT count(*) AS n FROM webhook_events WHERE attempts > 1").await?;
    let unfinished =
        one("SELECT count(*) AS n FROM webhook_events WHERE state NOT IN ('processed', 'unroutable')").await?;
    let stats = statistics(&conn, r).await.unwrap_or_else(|e| format!("statistics not read: {e:#}"));
    conn.close().await.ok();
    procs.stop_all(Duration::from_secs(30));

    let windows = samples
        .windows(2)
        .fold((Vec::new(), 10.0f64, baseline), |(mut w, edge, at), pair| {
            let (t, n) = pair[1];
            if t >= edge && edge <= last_stored_s {
                w.push((n - at) as f64 / 10.0);
                (w, edge + 10.0, n)
            } else {
                (w, edge, at)
            }
        })
        .0;
    Ok((
        Row {
            run: r,
            contacts: args.contacts,
            contacts_s,
            acked: o.ok,
            failed: o.failed,
            ack_rate,
            messages: o.msgs,
            stored: (final_count - baseline).max(0) as u64,
            ready_s,
            last_stored_s,
            windows,
            lease_expired,
            attempted_twice,
            unfinished,
            peak_rss_mb: peak_rss as f64 / 1024.0,
            cpu_s: cpu_s / (last_stored_s - ready_s).max(1e-9),
            stats,
        },
        profile,
    ))
}

/// Inserts `n` contacts of `tenant` with the wa_ids the body generator uses, 1,000 rows per
/// statement, 20,000 per transaction.
async fn load_contacts(db: &DatabaseConnection, tenant: uuid::Uuid, n: u64) -> anyhow::Result<()> {
    use switchboard::entities::contacts;
    let mut next = 0u64;
    while next < n {
        let txn = db.begin().await?;
        for _ in 0..20 {
            if next >= n {
                break;
            }
            let end = (next + 1_000).min(n);
            let rows: Vec<contacts::ActiveModel> = (next..end)
                .map(|i| switchboard::contacts::identity::new_row(tenant, Some((15_550_000_000 + i).to_string()), None))
                .collect();
            contacts::Entity::insert_many(rows).exec_without_returning(&txn).await?;
            next = end;
        }
        txn.commit().await?;
    }
    Ok(())
}

/// PostgreSQL: when the hot tables were last analysed, and by whom.
async fn statistics(db: &DatabaseConnection, r: Run) -> anyhow::Result<String> {
    if r == Run::Sqlite {
        return Ok("SQLite (`PRAGMA optimize` every 15 s)".into());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT relname::text AS t, n_live_tup AS n, coalesce(analyze_count, 0) AS manual, \
             coalesce(autoanalyze_count, 0) AS auto FROM pg_stat_user_tables \
             WHERE relname IN ('contacts', 'conversations', 'messages', 'webhook_events', 'jobs') ORDER BY relname",
        ))
        .await?;
    let mut parts = Vec::new();
    for row in rows {
        let t: String = row.try_get("", "t")?;
        let n: i64 = row.try_get("", "n")?;
        let manual: i64 = row.try_get("", "manual")?;
        let auto: i64 = row.try_get("", "auto")?;
        parts.push(format!("{t} {n} rows, ANALYZE ×{manual}, autoanalyze ×{auto}"));
    }
    Ok(format!("statistics at the end: {}", parts.join("; ")))
}

fn windows_text(w: &[f64]) -> String {
    if w.is_empty() {
        return "-".into();
    }
    let slowest = w.iter().copied().fold(f64::INFINITY, f64::min);
    format!(
        "{} / {} / {}",
        compare::thousands(w[0]),
        compare::thousands(slowest),
        compare::thousands(*w.last().unwrap_or(&0.0))
    )
}

fn table_line(r: &Row) -> String {
    format!(
        "| {} | {} in {:.1} s | {} ({} failed) in {}/s | {} of {} | {:.1} s (ready after {:.1} s) | **{}** | {} | {} | {} | {} | {:.0} MB | {:.2} |\n",
        r.run.label(),
        compare::thousands(r.contacts as f64),
        r.contacts_s,
        compare::thousands(r.acked as f64),
        r.failed,
        compare::thousands(r.ack_rate),
        compare::thousands(r.stored as f64),
        compare::thousands(r.messages as f64),
        r.last_stored_s,
        r.ready_s,
        compare::thousands(r.rate()),
        windows_text(&r.windows),
        r.lease_expired,
        r.attempted_twice,
        r.unfinished,
        r.peak_rss_mb,
        r.cpu_s,
    )
}

fn row_line(r: &Row) -> String {
    format!(
        "{}: {} of {} messages stored {:.1}s after the restart ({:.0}/s; windows {}), leases expired {}, attempted twice {}, unfinished {}, RSS {:.0} MB, {:.2} cores",
        r.run.label(),
        r.stored,
        r.messages,
        r.last_stored_s,
        r.rate(),
        windows_text(&r.windows),
        r.lease_expired,
        r.attempted_twice,
        r.unfinished,
        r.peak_rss_mb,
        r.cpu_s
    )
}
