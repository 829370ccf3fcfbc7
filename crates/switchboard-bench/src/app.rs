//! The system under test: the real Switchboard app started in-process on 127.0.0.1:0, on its own
//! runtime (so load generation and serving are scheduled separately, as with two processes),
//! against a fresh database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use switchboard::config::Config;
use switchboard::db::DbOptions;
use switchboard::startup::{Application, build_state};

use crate::bodies::Number;

/// The fresh database the run uses.
pub enum Database {
    Sqlite { url: String },
    Postgres { url: String, admin_url: String, name: String },
}

impl Database {
    pub async fn create(admin_url: Option<&str>, dir: &std::path::Path) -> anyhow::Result<Self> {
        let Some(admin_url) = admin_url else {
            return Ok(Database::Sqlite { url: format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()) });
        };
        if !admin_url.starts_with("postgres://") && !admin_url.starts_with("postgresql://") {
            bail!("--database-url must be a postgres:// URL (SQLite is the default)");
        }
        let name = format!("sb_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = switchboard::db::connect(admin_url, &admin_opts()).await.context("connecting to --database-url")?;
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.context("CREATE DATABASE")?;
        admin.close().await.ok();
        // The query (`?sslmode=…`, `?host=/var/run/postgresql`) applies to the bench database too.
        let (path, query) = admin_url.split_once('?').map_or((admin_url, String::new()), |(p, q)| (p, format!("?{q}")));
        let (base, _) = path.rsplit_once('/').ok_or_else(|| anyhow!("--database-url needs a database name"))?;
        Ok(Database::Postgres { url: format!("{base}/{name}{query}"), admin_url: admin_url.to_string(), name })
    }

    pub fn url(&self) -> &str {
        match self {
            Database::Sqlite { url } | Database::Postgres { url, .. } => url,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite { .. } => "sqlite",
            Database::Postgres { .. } => "postgres",
        }
    }

    /// Drops the PostgreSQL database (SQLite's file goes with the temp dir).
    pub async fn drop_database(&self) -> anyhow::Result<()> {
        if let Database::Postgres { admin_url, name, .. } = self {
            let admin = switchboard::db::connect(admin_url, &admin_opts()).await?;
            admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
            admin.close().await.ok();
        }
        Ok(())
    }
}

fn admin_opts() -> DbOptions {
    DbOptions { max_connections: 1, lazy: false }
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    /// The app's state (its database connections belong to the server runtime: use them through
    /// [`Server::run`]).
    pub state: switchboard::state::AppState,
    /// The server runtime.
    pub handle: tokio::runtime::Handle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Server {
    /// Starts the app on a dedicated runtime with `threads` worker threads; `extra`: more (or
    /// overriding) environment variables.
    pub fn start_with(
        database_url: &str,
        data_dir: &std::path::Path,
        secret: &str,
        threads: usize,
        workers: bool,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut vars: HashMap<String, String> = HashMap::new();
        for (k, v) in [
            ("SWITCHBOARD_DATA_DIR", data_dir.display().to_string()),
            ("SWITCHBOARD_LISTEN", "127.0.0.1:0".into()),
            ("SWITCHBOARD_DATABASE_URL", database_url.into()),
            ("SWITCHBOARD_SANDBOX", "false".into()),
            ("SWITCHBOARD_META_APP_SECRET", secret.into()),
            ("SWITCHBOARD_GRAPH_API_URL", "http://127.0.0.1:1".into()),
            ("SWITCHBOARD_RUN_WORKERS", workers.to_string()),
        ] {
            vars.insert(k.into(), v);
        }
        for (k, v) in extra {
            vars.insert((*k).to_string(), v.clone());
        }
        let config = Config::from_vars(&vars).map_err(|e| anyhow!("config: {e}"))?;
        type Started = (SocketAddr, switchboard::state::AppState, tokio::runtime::Handle);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<anyhow::Result<Started>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new().name("switchboard-server".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("sb-server")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = addr_tx.send(Err(e.into()));
                    return;
                }
            };
            rt.block_on(async move {
                let started = async {
                    let state = build_state(config.clone(), true, DbOptions::default()).await?;
                    let app = Application::with_state(state.clone(), config.listen).await?;
                    anyhow::Ok((app, state))
                };
                let (app, state) = match started.await {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                let _ = addr_tx.send(Ok((app.local_addr(), state, tokio::runtime::Handle::current())));
                if let Err(e) = app
                    .run_until(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                {
                    eprintln!("server stopped with an error: {e:#}");
                }
            });
            rt.shutdown_timeout(Duration::from_secs(5));
            let _ = done_tx.send(());
        })?;
        let (addr, state, handle) =
            addr_rx.recv_timeout(Duration::from_secs(120)).context("server did not start")??;
        if !addr.ip().is_loopback() {
            bail!("server bound to a non-loopback address {addr}");
        }
        Ok(Self { addr, state, handle, shutdown: Some(stop_tx), done: done_rx })
    }

    /// Runs `f` with the app's state on the server runtime (where its connections live).
    pub async fn run<F, Fut, T>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(switchboard::state::AppState) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn(f(self.state.clone())).await?
    }

    /// Asks for a graceful shutdown and waits for it (bounded).
    pub fn stop(mut self, wait: Duration) -> bool {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.done.recv_timeout(wait).is_ok()
    }
}

/// A tenant with numbers, ready to receive webhooks.
pub struct Tenant {
    pub access_token: String,
    pub numbers: Vec<Number>,
}

/// Signs a new tenant up (202, whether the email was new or not) and signs its admin in; returns
/// the access token.
pub async fn sign_up(client: &reqwest::Client, base: &str, tenant: &str, email: &str) -> anyhow::Result<String> {
    const PASSWORD: &str = "correct horse battery staple";
    let res = client
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"tenantName": tenant, "name": "Bench Admin", "email": email, "password": PASSWORD}))
        .send()
        .await?;
    if res.status().as_u16() != 202 {
        bail!("register: {} {}", res.status(), res.text().await.unwrap_or_default());
    }
    let res = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?;
    if res.status().as_u16() != 200 {
        bail!("sign in: {} {}", res.status(), res.text().await.unwrap_or_default());
    }
    let b: Value = res.json().await?;
    Ok(b["accessToken"].as_str().ok_or_else(|| anyhow!("sign in: no accessToken"))?.to_string())
}

/// Registers a tenant and connects `numbers` WhatsApp numbers to it (no Graph API validation).
pub async fn setup_tenant(client: &reqwest::Client, base: &str, numbers: usize) -> anyhow::Result<Tenant> {
    let access_token = sign_up(client, base, "Bench Co", "bench@bench.test").await?;
    let mut out = Vec::new();
    for i in 0..numbers {
        let phone_number_id = format!("10654035224292{i}");
        let waba_id = format!("9{phone_number_id}");
        let res = client
            .post(format!("{base}/api/whatsapp-accounts?validate=false"))
            .bearer_auth(&access_token)
            .json(&json!({"name": format!("Line {i}"), "wabaId": waba_id,
                "phoneNumberId": phone_number_id, "displayPhoneNumber": format!("+1 555 010{i}"),
                "accessToken": "EAAG-bench-token-1234"}))
            .send()
            .await?;
        if res.status().as_u16() != 201 {
            bail!("create WhatsApp account {i}: {} {}", res.status(), res.text().await.unwrap_or_default());
        }
        out.push(Number { phone_number_id, waba_id });
    }
    Ok(Tenant { access_token, numbers: out })
}
