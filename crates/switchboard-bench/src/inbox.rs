//! `switchboard-bench inbox`: inbox read latency on a large tenant.
//!
//! Bulk-loads one tenant (contacts, conversations, messages; `insert_many` in 1,000-row batches
//! inside transactions, on the app's writer connection), then times the inbox API over HTTP with
//! the tenant admin's token: the conversation list (first page, deep pages, filters) and message
//! pages (first and a later cursor page), sequentially and with concurrent clients.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, Statement, TransactionTrait};
use serde::Serialize;
use serde_json::{Value, json};
use switchboard::entities::enums::{ConversationStatus, Direction, MessageStatus};
use switchboard::entities::{contacts, conversations, messages};
use uuid::Uuid;

use crate::app;

const SECRET: &str = "bench-platform-app-secret";

#[derive(clap::Args, Clone)]
pub struct InboxArgs {
    /// PostgreSQL server to create a fresh database on. Default: a SQLite file in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    #[arg(long, default_value_t = 50_000)]
    conversations: usize,
    /// Sequential requests per case.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// Clients of the concurrent run.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Requests per client in the concurrent run.
    #[arg(long, default_value_t = 250)]
    per_client: usize,
    /// Rows per insert_many.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Worker threads of the server's runtime (default: one per CPU).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Print the query plans of the list and message-page queries.
    #[arg(long)]
    explain: bool,
    /// Write the results as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Case {
    pub name: String,
    pub requests: usize,
    pub failed: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub per_sec: f64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn case(name: &str, mut lat: Vec<f64>, failed: usize, wall: f64) -> Case {
    lat.sort_by(|a, b| a.total_cmp(b));
    let c = Case {
        name: name.into(),
        requests: lat.len(),
        failed,
        p50_ms: pct(&lat, 0.50),
        p95_ms: pct(&lat, 0.95),
        p99_ms: pct(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(0.0),
        per_sec: lat.len() as f64 / wall.max(1e-9),
    };
    crate::log(format!(
        "{:<44} n={:<5} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.1} ms  {:>6.0} req/s  failed {}",
        c.name, c.requests, c.p50_ms, c.p95_ms, c.p99_ms, c.max_ms, c.per_sec, c.failed
    ));
    c
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub async fn run(args: InboxArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = app::Database::create(args.database_url.as_deref(), dir.path()).await?;
    let res = run_inner(&args, &db, dir.path()).await;
    if let Err(e) = db.drop_database().await {
        eprintln!("could not drop the bench database: {e:#}");
    }
    res
}

struct Loaded {
    /// Conversations with more than one message page.
    long: Vec<Uuid>,
    all: Vec<Uuid>,
}

async fn run_inner(args: &InboxArgs, db: &app::Database, dir: &std::path::Path) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let server =
        app::Server::start_with(db.url(), &dir.join("data"), SECRET, args.server_threads.unwrap_or(cpus), false, &[])?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(64).build()?;
    let token = crate::app::sign_up(&client, &base, "Inbox Bench", "inbox@bench.test").await?;
    let res = client
        .post(format!("{base}/api/whatsapp-accounts?validate=false"))
        .bearer_auth(&token)
        .json(&json!({"name": "Main", "wabaId": "9106540352242901", "phoneNumberId": "106540352242901",
            "displayPhoneNumber": "+1 555 0100", "accessToken": "EAAG-bench-token-1234"}))
        .send()
        .await?;
    if res.status().as_u16() != 201 {
        bail!("create account: {} {}", res.status(), res.text().await.unwrap_or_default());
    }

    let t = Instant::now();
    let (n_msgs, n_convs, batch) = (args.messages, args.conversations.max(1), args.batch.max(1));
    let loaded = server
        .run(move |state| async move {
            let w = state.writer();
            let row = w
                .query_one_raw(Statement::from_string(
                    w.get_database_backend(),
                    "SELECT t.id AS t, a.id AS a, u.id AS u FROM tenants t JOIN whatsapp_accounts a ON a.tenant_id = t.id JOIN users u ON u.tenant_id = t.id",
                ))
                .await?
                .ok_or_else(|| anyhow!("no tenant"))?;
            let (tenant, account, user): (Uuid, Uuid, Uuid) =
                (row.try_get("", "t")?, row.try_get("", "a")?, row.try_get("", "u")?);
            bulk_load(w, tenant, account, user, n_msgs, n_convs, batch).await
        })
        .await?;
    let load_s = t.elapsed().as_secs_f64();
    crate::log(format!("loaded {n_msgs} messages in {n_convs} conversations in {load_s:.1}s"));
    if db.backend() == "postgres" {
        server
            .run(|state| async move {
                state.writer().execute_unprepared("ANALYZE").await?;
                Ok(())
            })
            .await?;
    }

    let get = |path: String| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let t = Instant::now();
            let r = client.get(format!("{base}{path}")).bearer_auth(&token).send().await;
            let ok = match r {
                Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                _ => None,
            };
            (t.elapsed().as_secs_f64() * 1000.0, ok)
        }
    };
    let mut cases = Vec::new();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    // Warm-up.
    for _ in 0..50 {
        get("/api/conversations?limit=25".into()).await;
        let c = loaded.all[rng.below(loaded.all.len() as u64) as usize];
        get(format!("/api/conversations/{c}/messages?limit=50")).await;
    }

    let seq = |name: &'static str, paths: Vec<String>| {
        let get = &get;
        async move {
            let mut lat = Vec::new();
            let mut failed = 0;
            let t = Instant::now();
            for p in paths {
                let (ms, body) = get(p).await;
                if body.is_none() {
                    failed += 1;
                }
                lat.push(ms);
            }
            case(name, lat, failed, t.elapsed().as_secs_f64())
        }
    };
    let n = args.requests;
    cases.push(seq("list first page (limit 25)", vec!["/api/conversations?limit=25".into(); n]).await);
    // Deep pages: follow nextCursor.
    {
        let mut lat = Vec::new();
        let (mut failed, mut cursor): (usize, Option<String>) = (0, None);
        let t = Instant::now();
        for _ in 0..n {
            let path = match &cursor {
                Some(c) => format!("/api/conversations?limit=25&cursor={c}"),
                None => "/api/conversations?limit=25".into(),
            };
            let (ms, body) = get(path).await;
            lat.push(ms);
            match body {
                Some(b) => cursor = b["nextCursor"].as_str().map(str::to_string),
                None => failed += 1,
            }
            if cursor.is_none() {
                break;
            }
        }
        cases.push(case(
            &format!("list following nextCursor ({} pages)", lat.len()),
            lat,
            failed,
            t.elapsed().as_secs_f64(),
        ));
    }
    for (name, q) in [
        ("list status=open", "status=open"),
        ("list status=pending", "status=pending"),
        ("list status=resolved", "status=resolved"),
        ("list assignee=me", "assignee=me"),
        ("list assignee=none", "assignee=none"),
        ("list status=open&assignee=me", "status=open&assignee=me"),
    ] {
        cases.push(seq(name, vec![format!("/api/conversations?limit=25&{q}"); n]).await);
    }
    let firsts: Vec<String> = (0..n)
        .map(|_| {
            format!("/api/conversations/{}/messages?limit=50", loaded.all[rng.below(loaded.all.len() as u64) as usize])
        })
        .collect();
    cases.push(seq("messages first page (limit 50), random conv", firsts).await);
    // Later page: the cursor of a long conversation's first page (fetched untimed), then timed.
    {
        let mut paths = Vec::new();
        for _ in 0..n {
            let c = loaded.long[rng.below(loaded.long.len() as u64) as usize];
            let (_, body) = get(format!("/api/conversations/{c}/messages?limit=50")).await;
            if let Some(cur) = body.as_ref().and_then(|b| b["nextCursor"].as_str()) {
                paths.push(format!("/api/conversations/{c}/messages?limit=50&cursor={cur}"));
            }
        }
        cases.push(seq("messages cursor page 2 (limit 50)", paths).await);
    }

    // Concurrent: each client alternates list first page, a filtered list, and a message page.
    {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for k in 0..args.clients {
            let (client, base, token, all) = (client.clone(), base.clone(), token.clone(), loaded.all.clone());
            let per = args.per_client;
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(0x1234_5678 + k as u64 * 7919);
                let (mut list, mut msgs, mut failed) = (Vec::new(), Vec::new(), 0usize);
                for i in 0..per {
                    let (is_list, path) = match i % 3 {
                        0 => (true, "/api/conversations?limit=25".to_string()),
                        1 => (true, "/api/conversations?limit=25&status=open".to_string()),
                        _ => (
                            false,
                            format!(
                                "/api/conversations/{}/messages?limit=50",
                                all[rng.below(all.len() as u64) as usize]
                            ),
                        ),
                    };
                    let t = Instant::now();
                    let ok = client
                        .get(format!("{base}{path}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    if !ok {
                        failed += 1;
                    }
                    if is_list { list.push(ms) } else { msgs.push(ms) }
                }
                (list, msgs, failed)
            }));
        }
        let (mut list, mut msgs, mut failed) = (Vec::new(), Vec::new(), 0);
        for task in tasks {
            let (l, m, f) = task.await?;
            list.extend(l);
            msgs.extend(m);
            failed += f;
        }
        let wall = t.elapsed().as_secs_f64();
        let total = (list.len() + msgs.len()) as f64;
        let mut cl = case(&format!("concurrent ×{}: list (first, status=open)", args.clients), list, failed, wall);
        let mut cm = case(&format!("concurrent ×{}: messages first page", args.clients), msgs, 0, wall);
        cl.per_sec = total / wall;
        cm.per_sec = total / wall;
        cases.push(cl);
        cases.push(cm);
    }

    let backend = db.backend();
    println!("\n**{backend}** — {n_msgs} messages, {n_convs} conversations, loaded in {load_s:.0} s\n");
    println!(
        "| request | n | p50 ms | p95 ms | p99 ms | max ms | req/s | failed | p95 ≤ 20 ms |\n|---|--:|--:|--:|--:|--:|--:|--:|---|"
    );
    for c in &cases {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} | {} | {} |",
            c.name,
            c.requests,
            c.p50_ms,
            c.p95_ms,
            c.p99_ms,
            c.max_ms,
            c.per_sec,
            c.failed,
            if c.p95_ms <= 20.0 { "met" } else { "**missed**" }
        );
    }
    if args.explain {
        let conv = loaded.long[0];
        let out = server.run(move |state| async move { explain(&state, conv).await }).await?;
        println!("\n{out}");
    }
    if let Some(path) = &args.json {
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&json!({"backend": backend, "load_s": load_s, "cases": cases}))?,
        )?;
    }
    drop(client);
    server.stop(Duration::from_secs(10));
    Ok(())
}

async fn explain(state: &switchboard::state::AppState, conv: Uuid) -> anyhow::Result<String> {
    let db = &state.db;
    let be = db.get_database_backend();
    let pg = be == sea_orm::DbBackend::Postgres;
    let row = db
        .query_one_raw(Statement::from_string(
            be,
            "SELECT tenant_id, assignee_id FROM conversations WHERE assignee_id IS NOT NULL LIMIT 1",
        ))
        .await?
        .ok_or_else(|| anyhow!("no conversation"))?;
    let tenant: Uuid = row.try_get("", "tenant_id")?;
    let user: Uuid = row.try_get("", "assignee_id")?;
    let lit = |u: Uuid| if pg { format!("'{u}'") } else { format!("X'{}'", u.simple()) };
    let (t, u, c) = (lit(tenant), lit(user), lit(conv));
    // Keyset cursors as the services write them (`crate::pagination::before`): the list 12,500
    // conversations deep and the second page of a long conversation.
    let cursor_at = |table: &str, ts_col: &str, filter: String, offset: u32| {
        let ts = if pg { format!("{ts_col}::text") } else { ts_col.to_string() };
        format!(
            "SELECT {ts} AS ts, id FROM {table} WHERE {filter} ORDER BY {ts_col} DESC, id DESC LIMIT 1 OFFSET {offset}"
        )
    };
    let mut cursors = Vec::new();
    for q in [
        cursor_at("conversations", "last_message_at", format!("tenant_id = {t}"), 12_500),
        cursor_at("messages", "created_at", format!("tenant_id = {t} AND conversation_id = {c}"), 49),
    ] {
        let r =
            db.query_one_raw(Statement::from_string(be, q)).await?.ok_or_else(|| anyhow!("no row for the cursor"))?;
        let ts: String = r.try_get("", "ts")?;
        let id: Uuid = r.try_get("", "id")?;
        cursors.push(if pg { format!("('{ts}'::timestamptz, {})", lit(id)) } else { format!("('{ts}', {})", lit(id)) });
    }
    let queries = [
        format!("SELECT * FROM conversations WHERE tenant_id = {t} ORDER BY last_message_at DESC, id DESC LIMIT 26"),
        format!(
            "SELECT * FROM conversations WHERE tenant_id = {t} AND status = 'open' ORDER BY last_message_at DESC, id DESC LIMIT 26"
        ),
        format!(
            "SELECT * FROM conversations WHERE tenant_id = {t} AND assignee_id = {u} ORDER BY last_message_at DESC, id DESC LIMIT 26"
        ),
        format!(
            "SELECT * FROM conversations WHERE tenant_id = {t} AND assignee_id IS NULL ORDER BY last_message_at DESC, id DESC LIMIT 26"
        ),
        format!(
            "SELECT * FROM conversations WHERE tenant_id = {t} AND status = 'open' AND assignee_id = {u} ORDER BY last_message_at DESC, id DESC LIMIT 26"
        ),
        format!(
            "SELECT * FROM messages WHERE tenant_id = {t} AND conversation_id = {c} ORDER BY created_at DESC, id DESC LIMIT 51"
        ),
        format!(
            "SELECT * FROM conversations WHERE tenant_id = {t} AND (last_message_at, id) < {} ORDER BY last_message_at DESC, id DESC LIMIT 26",
            cursors[0]
        ),
        format!(
            "SELECT * FROM messages WHERE tenant_id = {t} AND conversation_id = {c} AND (created_at, id) < {} ORDER BY created_at DESC, id DESC LIMIT 51",
            cursors[1]
        ),
    ];
    let mut out = String::new();
    for q in queries {
        let sql = if pg { format!("EXPLAIN (ANALYZE, BUFFERS) {q}") } else { format!("EXPLAIN QUERY PLAN {q}") };
        out.push_str(&format!("-- {q}\n"));
        for r in db.query_all_raw(Statement::from_string(be, sql)).await? {
            let line: String = if pg { r.try_get("", "QUERY PLAN")? } else { r.try_get("", "detail")? };
            out.push_str(&format!("   {line}\n"));
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn bulk_load(
    w: &sea_orm::DatabaseConnection,
    tenant: Uuid,
    account: Uuid,
    user: Uuid,
    n_msgs: usize,
    n_convs: usize,
    batch: usize,
) -> anyhow::Result<Loaded> {
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let now = Utc::now();
    let start_ms = now.timestamp_millis() - 30 * 86_400_000;
    let span_ms = 30 * 86_400_000i64 - 60_000;
    // Sizes: 10 % of conversations are long (they take 55 % of the messages), the rest short.
    let n_long = (n_convs / 10).max(1);
    let long_total = n_msgs * 55 / 100;
    let mut sizes = vec![0usize; n_convs];
    for (i, s) in sizes.iter_mut().enumerate() {
        *s = if i < n_long { long_total / n_long } else { (n_msgs - long_total) / (n_convs - n_long).max(1) };
    }
    let mut rest = n_msgs.saturating_sub(sizes.iter().sum());
    let mut i = 0;
    while rest > 0 {
        sizes[i % n_convs] += 1;
        rest -= 1;
        i += 1;
    }
    let ts = |ms: i64| Utc.timestamp_millis_opt(ms).single().unwrap_or(now);
    let conv_ids: Vec<Uuid> = (0..n_convs).map(|_| Uuid::new_v4()).collect();
    let contact_ids: Vec<Uuid> = (0..n_convs).map(|_| Uuid::new_v4()).collect();

    // Contacts.
    let txn = w.begin().await?;
    for chunk in (0..n_convs).collect::<Vec<_>>().chunks(batch) {
        let rows: Vec<contacts::ActiveModel> = chunk
            .iter()
            .map(|&i| {
                let created = ts(start_ms + (rng.below(span_ms as u64 / 2)) as i64);
                contacts::Model {
                    id: contact_ids[i],
                    tenant_id: tenant,
                    wa_id: Some(format!("1555{:08}", i)),
                    user_id: None,
                    profile_name: Some(format!("Customer {i}")),
                    username: None,
                    name: None,
                    opted_out: false,
                    opted_out_at: None,
                    opt_out_source: None,
                    tags: json!([]),
                    attributes: json!({}),
                    created_at: created,
                    updated_at: created,
                }
                .into()
            })
            .collect();
        contacts::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;

    // Conversations and their messages, conversation by conversation, in ~batch-row inserts.
    let mut conv_rows: Vec<conversations::ActiveModel> = Vec::with_capacity(batch);
    let mut msg_rows: Vec<messages::ActiveModel> = Vec::with_capacity(batch);
    let mut txn = w.begin().await?;
    let mut in_txn = 0usize;
    let mut wamid = 0u64;
    for ci in 0..n_convs {
        let n = sizes[ci].max(1);
        // The conversation's activity: starts somewhere in the 30 days, lasts up to 3 days.
        let first = start_ms + rng.below(span_ms as u64) as i64;
        let dur = (rng.below(3 * 86_400_000) as i64).min(now.timestamp_millis() - 60_000 - first).max(n as i64);
        let mut times: Vec<i64> = (0..n).map(|_| first + rng.below(dur as u64) as i64).collect();
        times.sort_unstable();
        let last = *times.last().unwrap_or(&first);
        let inbound: Vec<bool> = (0..n).map(|k| k == 0 || rng.below(2) == 0).collect();
        let last_in = times.iter().zip(&inbound).filter(|(_, i)| **i).map(|(t, _)| *t).next_back();
        let r = rng.below(100);
        let status = match r {
            0..=24 => ConversationStatus::Open,
            25..=39 => ConversationStatus::Pending,
            _ => ConversationStatus::Resolved,
        };
        conv_rows.push(
            conversations::Model {
                id: conv_ids[ci],
                tenant_id: tenant,
                contact_id: contact_ids[ci],
                whatsapp_account_id: account,
                status,
                assignee_id: if rng.below(100) < 30 { Some(user) } else { None },
                tags: json!([]),
                last_inbound_at: last_in.map(ts),
                last_message_at: ts(last),
                last_message_preview: Some(format!("message {} of conversation {ci}", n - 1)),
                unread_count: (rng.below(4)) as i32,
                first_response_at: Some(ts(first + 1)),
                resolved_at: if status == ConversationStatus::Resolved { Some(ts(last)) } else { None },
                created_at: ts(first),
                updated_at: ts(last),
            }
            .into(),
        );
        if conv_rows.len() >= batch {
            conversations::Entity::insert_many(std::mem::take(&mut conv_rows)).exec_without_returning(&txn).await?;
        }
        for (k, &t) in times.iter().enumerate() {
            let inbound = inbound[k];
            wamid += 1;
            let at = ts(t);
            msg_rows.push(
                messages::Model {
                    id: Uuid::new_v4(),
                    tenant_id: tenant,
                    conversation_id: conv_ids[ci],
                    direction: if inbound { Direction::Inbound } else { Direction::Outbound },
                    msg_type: "text".into(),
                    content: json!({"body": format!("message {k} of conversation {ci}: lorem ipsum dolor sit amet")}),
                    raw: None,
                    wa_message_id: Some(format!("wamid.bench{wamid:012}")),
                    client_message_id: None,
                    status: if inbound { MessageStatus::Received } else { MessageStatus::Read },
                    sent_at: if inbound { None } else { Some(at) },
                    delivered_at: if inbound { None } else { Some(at) },
                    read_at: if inbound { None } else { Some(at) },
                    played_at: None,
                    failed_at: None,
                    error_code: None,
                    error_title: None,
                    error_details: None,
                    reply_to_id: None,
                    reply_to_wa_id: None,
                    reply_to_from: None,
                    origin: None,
                    sender_user_id: if inbound { None } else { Some(user) },
                    billed: !inbound,
                    send_started_at: if inbound { None } else { Some(at) },
                    created_at: at,
                    updated_at: at,
                }
                .into(),
            );
            if msg_rows.len() >= batch {
                // Conversations go in before their messages (foreign key).
                if !conv_rows.is_empty() {
                    conversations::Entity::insert_many(std::mem::take(&mut conv_rows))
                        .exec_without_returning(&txn)
                        .await?;
                }
                messages::Entity::insert_many(std::mem::take(&mut msg_rows)).exec_without_returning(&txn).await?;
                in_txn += batch;
            }
        }
        if in_txn >= 50_000 {
            if !conv_rows.is_empty() {
                conversations::Entity::insert_many(std::mem::take(&mut conv_rows)).exec_without_returning(&txn).await?;
            }
            if !msg_rows.is_empty() {
                messages::Entity::insert_many(std::mem::take(&mut msg_rows)).exec_without_returning(&txn).await?;
            }
            txn.commit().await?;
            txn = w.begin().await?;
            in_txn = 0;
        }
    }
    if !conv_rows.is_empty() {
        conversations::Entity::insert_many(conv_rows).exec_without_returning(&txn).await?;
    }
    if !msg_rows.is_empty() {
        messages::Entity::insert_many(msg_rows).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;
    Ok(Loaded { long: conv_ids[..n_long].to_vec(), all: conv_ids })
}
