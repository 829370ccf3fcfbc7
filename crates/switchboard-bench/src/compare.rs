//! `switchboard-bench compare`: the seed's design (the Node peer in `shared/peers/seed-node`) and
//! Switchboard's release binary on SQLite and on PostgreSQL, side by side in one sitting, under
//! the same pre-signed bodies from the bench's own load generator (issue 16).
//!
//! Every system runs as its own processes (so RSS and `perf` see the server alone): the peer is
//! `node server.js` + `node worker.js` on a fresh PostgreSQL database and a private Redis;
//! Switchboard is `switchboard serve` (workers on) on a fresh SQLite file or PostgreSQL database.
//! Per system and load it measures acknowledged POSTs/s, ack p99, messages stored per second from
//! load start to the last message stored (the database's `count(*)` from `messages`, polled every
//! 200 ms), the drain time after the load ended, the realtime lag (Switchboard) and the peak RSS
//! of the server process(es) (`/proc/<pid>/status`, sampled with the count).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::bodies::{Body, Generator, ItemMix, Number};
use crate::load::{self, Target};
use crate::report::{Phase, Step};
use crate::track::Track;
use crate::{SECRET, log};

#[derive(clap::Args, Clone)]
pub struct CompareArgs {
    /// PostgreSQL server to create the fresh databases on (Switchboard's and the peer's).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Seconds of load per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrency of the one-item-per-POST load.
    #[arg(long, default_value_t = 32)]
    single_concurrency: usize,
    /// Concurrency of the many-items-per-POST load.
    #[arg(long, default_value_t = 128)]
    multi_concurrency: usize,
    /// Items per POST of the many-items load: `ingest` (80 % one, 15 % 2–10, 5 % 11–50, as the
    /// ingest bench) or `LO-HI` (uniform).
    #[arg(long, default_value = "ingest")]
    multi_items: String,
    /// Percent of items that are statuses of unknown outbound messages (the rest: inbound texts).
    #[arg(long, default_value_t = 40)]
    status_percent: u64,
    /// Pre-built bodies per load = max-rate × seconds (a run ends early if it runs out).
    #[arg(long, default_value_t = 15_000)]
    max_rate: u64,
    /// Most seconds to wait after a load for every acknowledged message to be stored.
    #[arg(long, default_value_t = 120)]
    drain_seconds: u64,
    /// Stop waiting earlier when the stored count has not grown for this many seconds.
    #[arg(long, default_value_t = 20)]
    stall_seconds: u64,
    /// Milliseconds between two polls of the stored count (and RSS samples). Each poll is a
    /// `count(*)` on a growing table, which costs the database some CPU.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    /// Systems to run, in this order (seed, sqlite, postgres).
    #[arg(long, value_delimiter = ',', default_value = "seed,sqlite,postgres")]
    systems: Vec<String>,
    /// PostgreSQL autovacuum during the run: on or off (the previous setting is restored after).
    #[arg(long, default_value = "on")]
    autovacuum: String,
    /// The run to record with `perf record -g -p <pid>`: SYSTEM-CONCURRENCY (e.g. sqlite-128,
    /// postgres-32), or `none`.
    #[arg(long, default_value = "sqlite-128")]
    profile: String,
    /// Sampling frequency of the profile (Hz).
    #[arg(long, default_value_t = 999)]
    profile_hz: u32,
    /// The Switchboard binary (default: `switchboard` next to this executable).
    #[arg(long)]
    switchboard_bin: Option<PathBuf>,
    /// The seed peer's folder (copied to a temp dir; `npm install` runs in the copy).
    #[arg(long, default_value = "/work/shared/peers/seed-node")]
    seed_dir: PathBuf,
    /// Redis port for the peer's queue. Default: a private `redis-server` on a free port, so no
    /// job id of an earlier run (BullMQ keeps completed ones, and dedups on `evt-<id>`) is left.
    #[arg(long)]
    redis_port: Option<u16>,
    /// Where the table (`compare-<timestamp>.md`) and the profile go.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
    /// Distinct customers (wa_ids) the messages come from.
    #[arg(long, default_value_t = 50_000)]
    customers: u64,
    /// Seed of the body generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Seed,
    Sqlite,
    Postgres,
}

impl Kind {
    fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim() {
            "seed" => Ok(Kind::Seed),
            "sqlite" => Ok(Kind::Sqlite),
            "postgres" | "pg" => Ok(Kind::Postgres),
            other => bail!("unknown system {other:?} (seed, sqlite, postgres)"),
        }
    }
    fn key(self) -> &'static str {
        match self {
            Kind::Seed => "seed",
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Kind::Seed => "seed design (Node peer)",
            Kind::Sqlite => "Switchboard, SQLite",
            Kind::Postgres => "Switchboard, PostgreSQL",
        }
    }
}

/// One load of the comparison: concurrency and its body pool.
struct Load {
    name: String,
    concurrency: usize,
    pool: Arc<Vec<Body>>,
}

/// What one (system, load) run measured.
struct Row {
    kind: Kind,
    load: usize,
    step: Step,
    acked_msgs: u64,
    stored: u64,
    /// Seconds from load start to the last message stored.
    last_stored_s: f64,
    stored_per_sec: f64,
    /// Seconds after the load's end until the count reached the acknowledged messages.
    drain_s: Option<f64>,
    peak_rss_mb: f64,
    /// CPU seconds (user + system) the server process(es) used from load start to the end of
    /// the wait.
    cpu_s: f64,
    /// Seconds from load start to the end of the wait.
    window_s: f64,
    profiled: bool,
}

/// Processes started by the bench, stopped at the end (by their pid).
#[derive(Default)]
pub(crate) struct Procs(Vec<(String, Child)>);

impl Procs {
    pub(crate) fn spawn(&mut self, name: &str, cmd: &mut Command) -> anyhow::Result<u32> {
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let pid = child.id();
        self.0.push((name.to_string(), child));
        Ok(pid)
    }

    pub(crate) fn exited(&mut self) -> Option<String> {
        for (name, c) in &mut self.0 {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(format!("{name} exited ({status})"));
            }
        }
        None
    }

    /// SIGTERM, up to `wait` for each to exit, then SIGKILL.
    pub(crate) fn stop_all(&mut self, wait: Duration) {
        for (_, c) in &mut self.0 {
            signal(c.id(), "TERM");
        }
        let deadline = Instant::now() + wait;
        for (name, c) in &mut self.0 {
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        log(format!("{name} did not stop on SIGTERM; killing it"));
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        self.0.clear();
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            self.stop_all(Duration::from_secs(5));
        }
    }
}

pub(crate) fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn sh(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "?".into())
}

/// Resident set size of a process, kB (0 when it is gone).
pub(crate) fn rss_kb(pid: u32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (utime + stime) a process used so far (0 when it is gone).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name, which is in parentheses and may contain spaces.
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5): f[0] is field 3.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

pub(crate) async fn count(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT count(*) AS n FROM messages"))
        .await?
        .ok_or_else(|| anyhow!("no row"))?;
    Ok(row.try_get("", "n")?)
}

pub(crate) async fn wait_http(url: &str, procs: &mut Procs, limit: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if let Some(why) = procs.exited() {
            bail!("{why} before answering {url}");
        }
        if start.elapsed() > limit {
            bail!("{url} did not answer within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running system under test.
struct Running {
    kind: Kind,
    addr: SocketAddr,
    target: Target,
    /// Server process(es) whose RSS counts.
    pids: Vec<u32>,
    /// The process `perf` records (Switchboard).
    profile_pid: Option<u32>,
    counter: DatabaseConnection,
    track: Arc<Track>,
    sse: Option<tokio::task::JoinHandle<()>>,
}

struct Env {
    args: CompareArgs,
    out: PathBuf,
    stamp: String,
    work: tempfile::TempDir,
    redis_port: u16,
    peer_dir: Option<PathBuf>,
    databases: Vec<crate::app::Database>,
    messages_issued: u64,
}

pub async fn run(args: CompareArgs) -> anyhow::Result<()> {
    let kinds: Vec<Kind> = args.systems.iter().map(|s| Kind::parse(s)).collect::<anyhow::Result<_>>()?;
    let autovacuum_on = match args.autovacuum.as_str() {
        "on" => true,
        "off" => false,
        other => bail!("--autovacuum on|off, not {other:?}"),
    };
    let multi = parse_mix(&args.multi_items)?;
    std::fs::create_dir_all(&args.out_dir)?;
    let out = args.out_dir.canonicalize()?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let started_at = chrono::Utc::now();
    let load_before = loadavg();
    let mut procs = Procs::default();

    ensure_services(kinds.contains(&Kind::Postgres) || kinds.contains(&Kind::Seed))?;
    let admin =
        switchboard::db::connect(&args.database_url, &switchboard::db::DbOptions { max_connections: 1, lazy: false })
            .await
            .context("connecting to --database-url")?;
    let restore = set_autovacuum(&admin, autovacuum_on).await?;
    log(format!("autovacuum {} for the run (restored afterwards)", if autovacuum_on { "on" } else { "off" }));

    let mut env = Env {
        work: tempfile::tempdir()?,
        out,
        stamp,
        redis_port: 0,
        peer_dir: None,
        databases: Vec::new(),
        messages_issued: 0,
        args,
    };
    let result = compare(&mut env, &kinds, multi, &mut procs, started_at, load_before).await;
    procs.stop_all(Duration::from_secs(30));
    for db in &env.databases {
        if let Err(e) = db.drop_database().await {
            log(format!("could not drop {}: {e:#}", db.url()));
        }
    }
    if let Err(e) = restore_autovacuum(&admin, &restore).await {
        log(format!("could not restore autovacuum ({restore:?}): {e:#}"));
    } else {
        log(format!("autovacuum restored ({restore:?})"));
    }
    admin.close().await.ok();
    result
}

fn parse_mix(s: &str) -> anyhow::Result<ItemMix> {
    if s == "ingest" {
        return Ok(ItemMix::Ingest);
    }
    let (lo, hi) = s.split_once('-').ok_or_else(|| anyhow!("--multi-items ingest or LO-HI, not {s:?}"))?;
    Ok(ItemMix::Uniform(lo.parse()?, hi.parse()?))
}

/// PostgreSQL and Redis are on these machines but not always started.
pub(crate) fn ensure_services(postgres: bool) -> anyhow::Result<()> {
    if postgres && !Command::new("pg_isready").args(["-h", "127.0.0.1", "-q"]).status().is_ok_and(|s| s.success()) {
        log("PostgreSQL is not running; starting it");
        let versions = sh(Command::new("ls").arg("/etc/postgresql"), "ls /etc/postgresql")?;
        let v = versions.split_whitespace().next().ok_or_else(|| anyhow!("no PostgreSQL cluster"))?.to_string();
        sh(Command::new("pg_ctlcluster").args(["--skip-systemctl-redirect", &v, "main", "start"]), "pg_ctlcluster")?;
    }
    Ok(())
}

#[derive(Debug)]
pub(crate) struct AutovacuumRestore {
    previous: String,
    /// The previous value came from `ALTER SYSTEM` (postgresql.auto.conf): set it back; otherwise
    /// reset it, so the conf.d file's value applies again.
    from_auto_conf: bool,
}

pub(crate) async fn set_autovacuum(admin: &DatabaseConnection, on: bool) -> anyhow::Result<AutovacuumRestore> {
    let be = admin.get_database_backend();
    let row = admin
        .query_one_raw(Statement::from_string(
            be,
            "SELECT setting, coalesce(sourcefile, '') AS file FROM pg_settings WHERE name = 'autovacuum'",
        ))
        .await?
        .ok_or_else(|| anyhow!("no autovacuum setting"))?;
    let previous: String = row.try_get("", "setting")?;
    let file: String = row.try_get("", "file")?;
    let restore = AutovacuumRestore { previous, from_auto_conf: file.ends_with("postgresql.auto.conf") };
    let v = if on { "on" } else { "off" };
    admin.execute_unprepared(&format!("ALTER SYSTEM SET autovacuum = {v}")).await?;
    admin.execute_unprepared("SELECT pg_reload_conf()").await?;
    // The postmaster applies the reload asynchronously.
    for _ in 0..50 {
        let r =
            admin.query_one_raw(Statement::from_string(be, "SHOW autovacuum")).await?.ok_or_else(|| anyhow!("SHOW"))?;
        let now: String = r.try_get("", "autovacuum")?;
        if now == v {
            return Ok(restore);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("autovacuum did not become {v} after pg_reload_conf()")
}

pub(crate) async fn restore_autovacuum(admin: &DatabaseConnection, r: &AutovacuumRestore) -> anyhow::Result<()> {
    if r.from_auto_conf {
        admin.execute_unprepared(&format!("ALTER SYSTEM SET autovacuum = {}", r.previous)).await?;
    } else {
        admin.execute_unprepared("ALTER SYSTEM RESET autovacuum").await?;
    }
    admin.execute_unprepared("SELECT pg_reload_conf()").await?;
    Ok(())
}

/// The same numbers `app::setup_tenant` connects, so one set of bodies fits every Switchboard run.
pub(crate) fn numbers() -> Vec<Number> {
    (0..3)
        .map(|i| {
            let phone_number_id = format!("10654035224292{i}");
            Number { waba_id: format!("9{phone_number_id}"), phone_number_id }
        })
        .collect()
}

async fn compare(
    env: &mut Env,
    kinds: &[Kind],
    multi: ItemMix,
    procs: &mut Procs,
    started_at: chrono::DateTime<chrono::Utc>,
    load_before: String,
) -> anyhow::Result<()> {
    let args = env.args.clone();
    let bin = match &args.switchboard_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.parent().ok_or_else(|| anyhow!("no exe dir"))?.join("switchboard"),
    };
    if kinds.iter().any(|k| *k != Kind::Seed) && !bin.exists() {
        bail!("{} not found: `cargo build --release -p switchboard` (or --switchboard-bin)", bin.display());
    }
    if kinds.contains(&Kind::Seed) {
        env.peer_dir = Some(prepare_peer(env, procs).await?);
    }

    // Every body is built and signed before anything runs; every system gets the same ones.
    let t = Instant::now();
    let run_id = format!("{:08x}", crate::rand_u32());
    let mut g = Generator::new(args.seed, &run_id, numbers(), args.customers, SECRET);
    g.set_status_percent(args.status_percent);
    g.set_mix(ItemMix::Fixed(1));
    let warmup = Arc::new(g.bodies(2_000));
    let per_load = (args.max_rate * args.seconds) as usize;
    let single = Arc::new(g.bodies(per_load));
    g.set_mix(multi);
    let many = Arc::new(g.bodies(per_load));
    env.messages_issued = g.messages_issued();
    let mean = |p: &[Body]| p.iter().map(|b| b.items as f64).sum::<f64>() / p.len().max(1) as f64;
    let mean_bytes = |p: &[Body]| p.iter().map(|b| b.bytes.len()).sum::<usize>() / p.len().max(1);
    log(format!(
        "built {} bodies ({} messages; one-item pool {} B/body; many-items pool {:.2} items, {} B/body) in {:.1}s",
        warmup.len() + single.len() + many.len(),
        env.messages_issued,
        mean_bytes(single.as_slice()),
        mean(many.as_slice()),
        mean_bytes(many.as_slice()),
        t.elapsed().as_secs_f64()
    ));
    let mix_name = match multi {
        ItemMix::Ingest => "1–50 items (80 % 1, 15 % 2–10, 5 % 11–50)".to_string(),
        ItemMix::Uniform(lo, hi) => format!("{lo}–{hi} items (uniform)"),
        ItemMix::Fixed(n) => format!("{n} items"),
    };
    let loads = vec![
        Load {
            name: format!("c={}, 1 item", args.single_concurrency),
            concurrency: args.single_concurrency,
            pool: single,
        },
        Load {
            name: format!("c={}, {mix_name}", args.multi_concurrency),
            concurrency: args.multi_concurrency,
            pool: many,
        },
    ];

    let mut rows: Vec<Row> = Vec::new();
    let mut profile_file = None;
    for &kind in kinds {
        log(format!("── {} ──", kind.label()));
        let mut sys_procs = Procs::default();
        let result = async {
            let sys = start_system(env, kind, &bin, &mut sys_procs).await?;
            // Warm-up: connections, caches, database pages.
            let w =
                load::closed_loop(sys.addr, sys.target, warmup.clone(), sys.track.clone(), 8, Duration::from_secs(1))
                    .await;
            let expected = count(&sys.counter).await? as u64 + w.msgs;
            wait_for_count(&sys.counter, expected, Duration::from_secs(args.drain_seconds), Duration::from_secs(10))
                .await;
            log(format!("warm-up: {} POSTs acknowledged, {} failed", w.ok, w.failed));
            for (i, l) in loads.iter().enumerate() {
                let profiled = args.profile == format!("{}-{}", kind.key(), l.concurrency);
                let perf = match (profiled, sys.profile_pid) {
                    (true, Some(pid)) => Some(start_perf(env, pid, kind, l.concurrency, &mut sys_procs)?),
                    _ => None,
                };
                let row = measure(&args, &sys, i, l, profiled).await?;
                if let Some((pid, data)) = perf {
                    profile_file = Some(finish_perf(env, pid, &data, &mut sys_procs, &sys, &row)?);
                }
                log(row_line(&row, &loads));
                rows.push(row);
                if let Some(why) = sys_procs.exited() {
                    bail!("{why} during the run");
                }
            }
            if let Some(h) = &sys.sse {
                h.abort();
            }
            sys.counter.close().await.ok();
            anyhow::Ok(())
        }
        .await;
        sys_procs.stop_all(Duration::from_secs(30));
        result.with_context(|| format!("{} run", kind.label()))?;
    }

    let commit =
        sh(Command::new("git").args(["rev-parse", "--short", "HEAD"]), "git rev-parse").unwrap_or_else(|_| "?".into());
    let dirty = sh(
        Command::new("git").args(["status", "--porcelain", "--untracked-files=no", "crates/switchboard"]),
        "git status",
    )
    .map(|s| !s.is_empty())
    .unwrap_or(false);
    let mut md = String::new();
    let _ = writeln!(md, "# switchboard-bench compare — {}\n", started_at.format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(
        md,
        "Commit `{commit}`{} · {} CPUs · load average before {load_before}, after {} · autovacuum {} · {} s per run · {} % statuses of unknown outbound messages, the rest inbound texts with unique wamids\n",
        if dirty { " (crates/switchboard had uncommitted changes)" } else { "" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        loadavg(),
        args.autovacuum,
        args.seconds,
        args.status_percent,
    );
    let _ = writeln!(md, "Command: `{}`\n", std::env::args().collect::<Vec<_>>().join(" "));
    md.push_str(&table(&rows, &loads));
    md.push('\n');
    md.push_str(&targets(&rows, &loads));
    if let Some(p) = &profile_file {
        let _ = writeln!(md, "\nProfile: `{}`", p.display());
    }
    let path = env.out.join(format!("compare-{}.md", env.stamp));
    std::fs::write(&path, &md)?;
    println!("{md}");
    log(format!("wrote {}", path.display()));
    Ok(())
}

/// Copies the peer, installs its dependencies, starts a private Redis; returns the copy's path.
async fn prepare_peer(env: &mut Env, procs: &mut Procs) -> anyhow::Result<PathBuf> {
    let src = &env.args.seed_dir;
    if !src.join("server.js").exists() {
        bail!("{} has no server.js (--seed-dir)", src.display());
    }
    let dst = env.work.path().join("seed-node");
    sh(Command::new("cp").arg("-r").arg(src).arg(&dst), "cp -r seed-node")?;
    let t = Instant::now();
    let npm_log = std::fs::File::create(env.work.path().join("npm-install.log"))?;
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(&dst)
        .stdout(npm_log.try_clone()?)
        .stderr(npm_log)
        .status()
        .context("npm install")?;
    if !status.success() {
        bail!("npm install failed in {}", dst.display());
    }
    log(format!("seed peer copied to {} and installed in {:.1}s", dst.display(), t.elapsed().as_secs_f64()));
    env.redis_port = match env.args.redis_port {
        Some(p) => p,
        None => {
            let port = free_port()?;
            procs.spawn(
                "redis-server",
                Command::new("redis-server")
                    .args([
                        "--port",
                        port.to_string().as_str(),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ])
                    .current_dir(env.work.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )?;
            for _ in 0..100 {
                if Command::new("redis-cli")
                    .args(["-p", port.to_string().as_str(), "ping"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            log(format!("private redis-server on 127.0.0.1:{port}"));
            port
        }
    };
    Ok(dst)
}

fn log_file(env: &Env, name: &str) -> anyhow::Result<(Stdio, Stdio)> {
    let f = std::fs::File::create(env.work.path().join(name))?;
    Ok((Stdio::from(f.try_clone()?), Stdio::from(f)))
}

async fn start_system(env: &mut Env, kind: Kind, bin: &Path, procs: &mut Procs) -> anyhow::Result<Running> {
    let track = Arc::new(Track::new(env.messages_issued));
    let port = free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    match kind {
        Kind::Seed => {
            let dir = env.peer_dir.clone().ok_or_else(|| anyhow!("peer not prepared"))?;
            let db = crate::app::Database::create(Some(&env.args.database_url), env.work.path()).await?;
            let url = db.url().to_string();
            env.databases.push(db);
            sh(
                Command::new("psql")
                    .args(["-q", "-v", "ON_ERROR_STOP=1", url.as_str(), "-f"])
                    .arg(dir.join("schema.sql")),
                "psql -f schema.sql",
            )?;
            let vars = [
                ("DATABASE_URL", url.clone()),
                ("REDIS_PORT", env.redis_port.to_string()),
                ("APP_SECRET", SECRET.to_string()),
                ("PORT", port.to_string()),
            ];
            let mut pids = Vec::new();
            for script in ["server.js", "worker.js"] {
                let (o, e) = log_file(env, &format!("seed-{script}.log"))?;
                pids.push(procs.spawn(
                    &format!("node {script}"),
                    Command::new("node").arg(script).current_dir(&dir).envs(vars.iter().cloned()).stdout(o).stderr(e),
                )?);
            }
            wait_http(&format!("http://{addr}/noop"), procs, Duration::from_secs(60)).await?;
            let counter =
                switchboard::db::connect(&url, &switchboard::db::DbOptions { max_connections: 1, lazy: false }).await?;
            log(format!("seed peer on {addr} (server pid {}, worker pid {})", pids[0], pids[1]));
            Ok(Running {
                kind,
                addr,
                target: Target::WebhookAt("/api/webhook"),
                pids,
                profile_pid: None,
                counter,
                track,
                sse: None,
            })
        }
        Kind::Sqlite | Kind::Postgres => {
            let data = env.work.path().join(format!("data-{}", kind.key()));
            std::fs::create_dir_all(&data)?;
            let db =
                crate::app::Database::create((kind == Kind::Postgres).then_some(env.args.database_url.as_str()), &data)
                    .await?;
            let url = db.url().to_string();
            env.databases.push(db);
            let (o, e) = log_file(env, &format!("switchboard-{}.log", kind.key()))?;
            let mut cmd = serve_command(bin, &data, addr, &url, true);
            cmd.stdout(o).stderr(e);
            let pid = procs.spawn("switchboard serve", &mut cmd)?;
            let base = format!("http://{addr}");
            wait_http(&format!("{base}/api/health/live"), procs, Duration::from_secs(120)).await?;
            let client = reqwest::Client::builder().no_proxy().build()?;
            let tenant = crate::app::setup_tenant(&client, &base, 3).await?;
            let sse = crate::sse::subscribe(&client, &base, &tenant.access_token, track.clone()).await?;
            let counter =
                switchboard::db::connect(&url, &switchboard::db::DbOptions { max_connections: 1, lazy: false }).await?;
            log(format!("switchboard serve on {addr} (pid {pid}, {})", kind.key()));
            Ok(Running {
                kind,
                addr,
                target: Target::Webhook,
                pids: vec![pid],
                profile_pid: Some(pid),
                counter,
                track,
                sse: Some(sse),
            })
        }
    }
}

/// `switchboard serve` as the benchmarks run it: only the `SWITCHBOARD_*` variables set here (none
/// inherited), no sandbox, the bench's platform app secret, a Graph API that refuses connections,
/// warnings-only logs; job workers on or off.
pub(crate) fn serve_command(bin: &Path, data: &Path, addr: SocketAddr, url: &str, workers: bool) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")) {
        cmd.env_remove(k);
    }
    cmd.envs([
        ("SWITCHBOARD_DATA_DIR", data.display().to_string()),
        ("SWITCHBOARD_LISTEN", addr.to_string()),
        ("SWITCHBOARD_DATABASE_URL", url.to_string()),
        ("SWITCHBOARD_SANDBOX", "false".into()),
        ("SWITCHBOARD_META_APP_SECRET", SECRET.into()),
        ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1".into()),
        ("SWITCHBOARD_RUN_WORKERS", workers.to_string()),
        ("SWITCHBOARD_LOG", "warn".into()),
    ]);
    cmd
}

/// Polls until the stored count reaches `expected`, stalls for `stall`, or `limit` passes.
async fn wait_for_count(db: &DatabaseConnection, expected: u64, limit: Duration, stall: Duration) {
    let start = Instant::now();
    let (mut last, mut grew) = (-1i64, Instant::now());
    while start.elapsed() < limit {
        let n = count(db).await.unwrap_or(last);
        if n as u64 >= expected {
            return;
        }
        if n != last {
            (last, grew) = (n, Instant::now());
        } else if grew.elapsed() >= stall {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Clone, Copy)]
struct Sample {
    t: f64,
    count: i64,
    rss_kb: u64,
}

async fn measure(args: &CompareArgs, sys: &Running, load_idx: usize, l: &Load, profiled: bool) -> anyhow::Result<Row> {
    let baseline = count(&sys.counter).await?;
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let sampler = {
        let (db, pids, samples, stop) = (sys.counter.clone(), sys.pids.clone(), samples.clone(), stop.clone());
        let every = Duration::from_millis(args.poll_ms.max(10));
        tokio::spawn(async move {
            let mut last = 0;
            while !stop.load(Relaxed) {
                let n = count(&db).await.unwrap_or(last);
                last = n;
                let rss_kb = pids.iter().map(|p| rss_kb(*p)).sum();
                samples.lock().expect("samples").push(Sample { t: start.elapsed().as_secs_f64(), count: n, rss_kb });
                tokio::time::sleep(every).await;
            }
        })
    };
    let before_seen = sys.track.created_events.load(Relaxed);
    let cpu_before: f64 = sys.pids.iter().map(|p| cpu_seconds(*p)).sum();
    let o = load::closed_loop(
        sys.addr,
        sys.target,
        l.pool.clone(),
        sys.track.clone(),
        l.concurrency,
        Duration::from_secs(args.seconds),
    )
    .await;
    let load_s = o.elapsed.as_secs_f64();
    let expected = baseline + o.msgs as i64;
    // Wait for the stored count to reach the acknowledged messages (or to stop growing).
    let limit = Duration::from_secs(args.drain_seconds);
    let stall = Duration::from_secs(args.stall_seconds);
    let after = Instant::now();
    let (mut last, mut grew) = (-1i64, Instant::now());
    loop {
        let latest = samples.lock().expect("samples").last().copied();
        if let Some(s) = latest {
            if s.count >= expected {
                break;
            }
            if s.count != last {
                (last, grew) = (s.count, Instant::now());
            } else if grew.elapsed() >= stall {
                log(format!("stored count stalled at {} of {expected} for {stall:?}", s.count - baseline));
                break;
            }
        }
        if after.elapsed() >= limit {
            log(format!("not drained within {limit:?}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The realtime stream may trail the commit slightly.
    if sys.sse.is_some() {
        sys.track.drain(Duration::from_secs(2)).await;
    }
    stop.store(true, Relaxed);
    let window_s = start.elapsed().as_secs_f64();
    let cpu_s = sys.pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - cpu_before;
    sampler.await.ok();
    let samples = samples.lock().expect("samples").clone();
    let final_count = samples.iter().map(|s| s.count).max().unwrap_or(baseline);
    let last_stored_s = samples.iter().find(|s| s.count == final_count).map(|s| s.t).unwrap_or(load_s);
    let stored = (final_count - baseline).max(0) as u64;
    let processed = sys.track.created_events.load(Relaxed) - before_seen;
    let mut step = Step::from_outcome(Phase::Ingest, l.concurrency, &o, &sys.track, None, None, processed);
    if sys.sse.is_some() {
        step = step.with_lags(&sys.track, o.msg_range);
    }
    Ok(Row {
        kind: sys.kind,
        load: load_idx,
        acked_msgs: o.msgs,
        stored,
        last_stored_s,
        stored_per_sec: stored as f64 / last_stored_s.max(load_s).max(1e-9),
        drain_s: (final_count >= expected).then(|| (last_stored_s - load_s).max(0.0)),
        peak_rss_mb: samples.iter().map(|s| s.rss_kb).max().unwrap_or(0) as f64 / 1024.0,
        cpu_s,
        window_s,
        profiled,
        step,
    })
}

fn start_perf(env: &Env, pid: u32, kind: Kind, c: usize, procs: &mut Procs) -> anyhow::Result<(u32, PathBuf)> {
    let data = env.out.join(format!("compare-{}-{}-{c}.perf.data", env.stamp, kind.key()));
    let perf = start_perf_on(pid, env.args.profile_hz, &data, &env.work.path().join("perf-record.log"), procs)?;
    Ok((perf, data))
}

/// Stops `perf record` and writes the `perf report --stdio` summary next to the table.
fn finish_perf(
    env: &Env,
    perf: u32,
    data: &Path,
    procs: &mut Procs,
    sys: &Running,
    row: &Row,
) -> anyhow::Result<PathBuf> {
    stop_perf(perf, procs)?;
    let header = format!(
        "perf record -g -F {} -p <switchboard serve pid> during the {} run at c={} (load + drain, {:.1} s; \
         the server used {:.1} CPU seconds, {:.2} cores); self time (--no-children); PostgreSQL's own \
         processes are not in it\n",
        env.args.profile_hz,
        sys.kind.label(),
        row.step.concurrency,
        row.window_s,
        row.cpu_s,
        row.cpu_s / row.window_s.max(1e-9),
    );
    let path = env.out.join(format!("compare-{}-perf-{}-{}.txt", env.stamp, sys.kind.key(), row.step.concurrency));
    std::fs::write(&path, perf_report(data, &header))?;
    log(format!("wrote {}", path.display()));
    Ok(path)
}

/// Starts `perf record -g` on `pid`, writing to `data` (its log to `log`).
pub(crate) fn start_perf_on(pid: u32, hz: u32, data: &Path, log_path: &Path, procs: &mut Procs) -> anyhow::Result<u32> {
    let f = std::fs::File::create(log_path)?;
    let perf = procs.spawn(
        "perf record",
        Command::new("perf")
            .args(["record", "-g", "-F", hz.to_string().as_str(), "-p", pid.to_string().as_str(), "-o"])
            .arg(data)
            .stdout(Stdio::from(f.try_clone()?))
            .stderr(Stdio::from(f)),
    )?;
    // perf needs a moment to attach to every thread.
    std::thread::sleep(Duration::from_millis(500));
    log(format!("perf record -g -p {pid} → {}", data.display()));
    Ok(perf)
}

/// Stops a `perf record` started by [`Procs::spawn`] (SIGINT, so it writes its file).
pub(crate) fn stop_perf(perf: u32, procs: &mut Procs) -> anyhow::Result<()> {
    signal(perf, "INT");
    let deadline = Instant::now() + Duration::from_secs(60);
    if let Some(pos) = procs.0.iter().position(|(_, c)| c.id() == perf) {
        let (_, mut child) = procs.0.remove(pos);
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// The `perf report --stdio` summary of a recording: by thread, by shared object, by component,
/// top symbols and their callers, after `header`.
pub(crate) fn perf_report(data: &Path, header: &str) -> String {
    let report = |extra: &[&str]| -> String {
        let mut cmd = Command::new("perf");
        cmd.args(["report", "--stdio", "--no-children", "-i"]).arg(data).args(extra);
        match cmd.output() {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(e) => format!("perf report failed: {e}\n"),
        }
    };
    let mut txt = String::new();
    let _ = writeln!(txt, "{header}");
    let _ = writeln!(txt, "## By thread (comm)\n");
    txt.push_str(&strip_comments(&report(&["-g", "none", "--sort", "comm", "--percent-limit", "0.5"])));
    let _ = writeln!(txt, "\n## By shared object\n");
    txt.push_str(&strip_comments(&report(&["-g", "none", "--sort", "dso", "--percent-limit", "0.5"])));
    let _ = writeln!(txt, "\n## By component (self time of every symbol, grouped by name)\n");
    txt.push_str(&components(&report(&["-g", "none", "--sort", "sym", "--percent-limit", "0"])));
    let _ = writeln!(txt, "\n## Top symbols (self)\n");
    txt.push_str(&strip_comments(&report(&["-g", "none", "--sort", "sym", "--percent-limit", "0.3"])));
    let _ = writeln!(txt, "\n## Callers of the top symbols (call graph from frame pointers; may be partial)\n");
    let callers = report(&["-g", "caller,2,callee,function,percent", "--sort", "sym", "--percent-limit", "2"]);
    txt.push_str(&strip_comments(&callers.lines().take(400).collect::<Vec<_>>().join("\n")));
    txt
}

/// Groups `perf report --sort sym` lines (`  1.23%  [.] name`) by what the symbol belongs to.
fn components(report: &str) -> String {
    const GROUPS: &[(&str, &[&str])] = &[
        (
            "allocator (glibc malloc/free)",
            &[
                "malloc",
                "_int_free",
                "free",
                "realloc",
                "calloc",
                "unlink_chunk",
                "malloc_consolidate",
                "tcache",
                "arena_",
            ],
        ),
        // Lower-case prefixes of SQLite's C functions (not Rust's `BTreeMap`).
        ("SQLite engine", &["sqlite3", "walchecksum", "walindex", "walframe", "pcache1", "balance_nonroot", "yy_"]),
        ("sea-orm / sea-query (query building, values)", &["sea_orm", "sea_query"]),
        ("sqlx (drivers, pools)", &["sqlx"]),
        ("JSON (serde_json)", &["serde_json", "serde::"]),
        ("HTTP (hyper, axum, tower, http)", &["hyper", "axum", "tower", "http::"]),
        ("tokio (scheduler, timers, I/O)", &["tokio"]),
        ("memcpy / memcmp / strings (libc)", &["memmove", "memcpy", "memcmp", "memset", "strcmp", "strlen", "memchr"]),
        ("locks (pthread, futex)", &["pthread", "mutex", "futex", "parking_lot"]),
        ("crypto (HMAC-SHA256 etc.)", &["sha2", "hmac", "sha256", "ring::", "aws_lc"]),
        ("rustls / TLS", &["rustls"]),
    ];
    let mut sums = vec![0.0f64; GROUPS.len()];
    let (mut kernel, mut other, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for line in report.lines() {
        let mut it = line.split_whitespace();
        let Some(pct) = it.next().and_then(|p| p.strip_suffix('%')).and_then(|p| p.parse::<f64>().ok()) else {
            continue;
        };
        let kind = it.next().unwrap_or("");
        let name = it.collect::<Vec<_>>().join(" ").to_ascii_lowercase();
        total += pct;
        if kind == "[k]" {
            kernel += pct;
            continue;
        }
        match GROUPS.iter().position(|(_, keys)| keys.iter().any(|k| name.contains(k))) {
            Some(i) => sums[i] += pct,
            None => other += pct,
        }
    }
    let mut rows: Vec<(String, f64)> = GROUPS.iter().zip(sums).map(|((n, _), v)| (n.to_string(), v)).collect();
    rows.push(("kernel (syscalls, scheduling, page cache, network)".into(), kernel));
    rows.push(("other user space (the app's own code, std, …)".into(), other));
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out = String::new();
    for (n, v) in rows.into_iter().filter(|r| r.1 >= 0.05) {
        let _ = writeln!(out, "{v:7.2}%  {n}");
    }
    let _ = writeln!(out, "({total:.1} % of samples classified)");
    out
}

fn strip_comments(s: &str) -> String {
    let mut out: String =
        s.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out
}

fn row_line(r: &Row, loads: &[Load]) -> String {
    format!(
        "{} · {}: {:.0} POSTs/s, ack p99 {:.1} ms, {} of {} messages stored, {:.0} stored/s (last at {:.1} s), drained {}, lag p99 {}, peak RSS {:.0} MB, server CPU {:.1} s over {:.1} s, failed {}",
        r.kind.label(),
        loads[r.load].name,
        r.step.posts_per_sec,
        r.step.ack_p99_ms,
        r.stored,
        r.acked_msgs,
        r.stored_per_sec,
        r.last_stored_s,
        drained(r),
        lag(r.step.lag_p99_ms, r.kind),
        r.peak_rss_mb,
        r.cpu_s,
        r.window_s,
        r.step.posts_failed
    )
}

fn drained(r: &Row) -> String {
    match r.drain_s {
        Some(d) => format!("{d:.1} s"),
        None => format!("not drained ({} left)", r.acked_msgs.saturating_sub(r.stored)),
    }
}

fn lag(v: Option<f64>, kind: Kind) -> String {
    match (kind, v) {
        (Kind::Seed, _) => "-".into(),
        (_, Some(v)) if v >= 10_000.0 => format!("{:.1} s", v / 1000.0),
        (_, Some(v)) => format!("{v:.0} ms"),
        (_, None) => "unseen".into(),
    }
}

pub(crate) fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn seed_row(rows: &[Row], load: usize) -> Option<&Row> {
    rows.iter().find(|r| r.kind == Kind::Seed && r.load == load)
}

fn ratio(v: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if b > 0.0 => format!(" ({:.1}×)", v / b),
        _ => String::new(),
    }
}

fn table(rows: &[Row], loads: &[Load]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| load | system | acknowledged POSTs/s | ack p50 / p99 | acked messages | stored | messages stored per second, load start to last stored | drained after load end | lag p50 / p99 (Switchboard) | peak RSS | server CPU: cores / ms per 1,000 stored | failed |"
    );
    let _ = writeln!(s, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (i, l) in loads.iter().enumerate() {
        let seed = seed_row(rows, i);
        for (j, r) in rows.iter().filter(|r| r.load == i).enumerate() {
            let base = |f: fn(&Row) -> f64| if r.kind == Kind::Seed { None } else { seed.map(f) };
            let _ = writeln!(
                s,
                "| {} | {}{} | {}{} | {:.1} / {:.1} ms | {} | {} | {}{} | {} | {} / {} | {:.0} MB | {:.2} / {:.0} | {} |",
                if j == 0 { l.name.as_str() } else { "" },
                r.kind.label(),
                if r.profiled { " †" } else { "" },
                thousands(r.step.posts_per_sec),
                ratio(r.step.posts_per_sec, base(|x| x.step.posts_per_sec)),
                r.step.ack_p50_ms,
                r.step.ack_p99_ms,
                thousands(r.acked_msgs as f64),
                thousands(r.stored as f64),
                thousands(r.stored_per_sec),
                ratio(r.stored_per_sec, base(|x| x.stored_per_sec)),
                drained(r),
                lag(r.step.lag_p50_ms, r.kind),
                lag(r.step.lag_p99_ms, r.kind),
                r.peak_rss_mb,
                r.cpu_s / r.window_s.max(1e-9),
                r.cpu_s * 1e6 / r.stored.max(1) as f64,
                r.step.posts_failed,
            );
        }
    }
    let _ = writeln!(
        s,
        "\nRatios in brackets: Switchboard ÷ seed design, same load. Stored per second = messages stored during the run ÷ seconds from load start to the last one stored (at least the load's length). Drained = last stored − load end, when every acknowledged message was stored. RSS: the server process(es) only (the peer: server.js + worker.js; PostgreSQL and Redis not counted), peak of the VmRSS samples taken with each count poll. Lag: from the POST being sent to the message's `message.created` event on `GET /api/events`. Server CPU: user + system time of the same process(es) from load start to the end of the wait (/proc/<pid>/stat), as cores on average and per 1,000 messages stored (PostgreSQL's and Redis's CPU not included; it acknowledges the POSTs too)."
    );
    if rows.iter().any(|r| r.profiled) {
        let _ = writeln!(s, "† recorded by `perf record -g` during this run.");
    }
    if rows.iter().any(|r| r.step.pool_exhausted) {
        let _ = writeln!(s, "Some runs ran out of pre-built bodies before the time was up (raise --max-rate).");
    }
    s
}

fn targets(rows: &[Row], loads: &[Load]) -> String {
    let mut s = String::new();
    let yes = |b: bool| if b { "MET" } else { "MISSED" };
    let _ = writeln!(s, "Targets of issue 16:\n");
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.kind == kind).collect();
        if mine.is_empty() {
            continue;
        }
        if let (Some(r), Some(seed)) = (mine.iter().find(|r| r.load == 0), seed_row(rows, 0)) {
            let stored = r.stored_per_sec / seed.stored_per_sec.max(1e-9);
            let acks = r.step.posts_per_sec / seed.step.posts_per_sec.max(1e-9);
            let _ = writeln!(
                s,
                "- {} — {}: messages stored ≥ 10× seed: **{}** ({:.1}×); acks ≥ 10× seed with p99 ≤ 50 ms: **{}** ({:.1}×, p99 {:.1} ms)",
                kind.label(),
                loads[0].name,
                yes(stored >= 10.0),
                stored,
                yes(acks >= 10.0 && r.step.ack_p99_ms <= 50.0),
                acks,
                r.step.ack_p99_ms
            );
        }
        if let Some(r) = mine.iter().find(|r| r.load == 1) {
            let _ = writeln!(
                s,
                "- {} — {}: backlog drained within 2 s of the load's end: **{}** ({}); lag p99 ≤ 1 s: **{}** ({})",
                kind.label(),
                loads[1].name,
                yes(r.drain_s.is_some_and(|d| d <= 2.0)),
                drained(r),
                yes(r.step.lag_p99_ms.is_some_and(|l| l <= 1000.0)),
                lag(r.step.lag_p99_ms, kind)
            );
        }
        let peak = mine.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max);
        let _ = writeln!(s, "- {} — RSS ≤ 150 MB: **{}** (peak {peak:.0} MB)", kind.label(), yes(peak <= 150.0));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_lines_are_grouped_by_component() {
        let report = "\
     5.00%  [.] _int_malloc
     2.00%  [.] sqlite3VdbeExec
     1.00%  [.] <alloc::collections::btree::map::BTreeMap<K,V,A> as core::clone::Clone>::clone::clone_subtree
     3.00%  [k] finish_task_switch.isra.0
     1.50%  [.] sea_orm::query::insert::InsertMany<A>::many
";
        let out = components(report);
        let pct = |name: &str| {
            out.lines().find(|l| l.contains(name)).and_then(|l| l.split('%').next()?.trim().parse::<f64>().ok())
        };
        assert_eq!(pct("allocator"), Some(5.0));
        assert_eq!(pct("SQLite"), Some(2.0), "BTreeMap is not SQLite: {out}");
        assert_eq!(pct("kernel"), Some(3.0));
        assert_eq!(pct("sea-orm"), Some(1.5));
        assert_eq!(pct("other user space"), Some(1.0));
    }

    #[test]
    fn item_mixes_parse() {
        assert!(matches!(parse_mix("ingest").unwrap(), ItemMix::Ingest));
        assert!(matches!(parse_mix("1-50").unwrap(), ItemMix::Uniform(1, 50)));
        assert!(parse_mix("lots").is_err());
    }
}
