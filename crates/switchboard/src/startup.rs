//! Start-up: open the database, migrate, build the router, serve until a signal arrives.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::IntoResponse;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::db::DbOptions;
use crate::error::AppError;
use crate::state::{AppState, Inner};
use crate::webhooks::ingest::Ingestor;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Opens the database (migrating it unless told not to) and builds the shared state.
pub async fn build_state(config: Config, migrate: bool, db_opts: DbOptions) -> anyhow::Result<AppState> {
    let db = crate::db::connect(config.database_url.expose(), &db_opts).await?;
    if migrate {
        crate::db::migrate(&db).await?;
    }
    let writer = if config.is_postgres() {
        db.clone()
    } else {
        crate::db::connect(config.database_url.expose(), &DbOptions { max_connections: 1, ..db_opts }).await?
    };
    build_state_with_db(config, db, writer).await
}

pub async fn build_state_with_db(
    config: Config,
    db: DatabaseConnection,
    writer: DatabaseConnection,
) -> anyhow::Result<AppState> {
    let jwt = switchboard_crypto::jwt::JwtKeys::new(config.jwt_secret.expose().as_bytes())
        .map_err(|e| anyhow::anyhow!("SWITCHBOARD_JWT_SECRET: {e}"))?;
    let redis = match &config.redis_url {
        None => None,
        Some(url) => {
            let client =
                redis::Client::open(url.expose()).map_err(|e| anyhow::anyhow!("SWITCHBOARD_REDIS_URL: {e}"))?;
            Some(
                redis::aio::ConnectionManager::new(client)
                    .await
                    .map_err(|e| anyhow::anyhow!("SWITCHBOARD_REDIS_URL: cannot connect: {e}"))?,
            )
        }
    };
    let hashing_permits = std::thread::available_parallelism().map(|n| n.get() * 2).unwrap_or(4);
    let graph_config =
        |base: &str| meta_cloud::client::ClientConfig { base_url: base.to_string(), ..Default::default() };
    let graph = meta_cloud::client::GraphClient::new(graph_config(&config.graph_api_url))
        .map_err(|e| anyhow::anyhow!("SWITCHBOARD_GRAPH_API_URL: {e}"))?;
    let (sandbox, sandbox_graph) = if config.sandbox {
        let sim = meta_sim::MetaSim::spawn(meta_sim::SimConfig::default()).await?;
        let g = meta_cloud::client::GraphClient::new(graph_config(&sim.base_url))?;
        tracing::info!(url = %sim.base_url, "sandbox Meta simulator running");
        (Some(sim), Some(g))
    } else {
        (None, None)
    };
    let limiter = match &redis {
        Some(conn) => crate::ratelimit::Limiter::Redis(conn.clone()),
        None => crate::ratelimit::Limiter::Local(Default::default()),
    };
    let public_url = std::sync::RwLock::new(config.public_url.clone());
    let directory = crate::directory::Directory::new(db.clone(), config.encryption_keys.clone());
    let state = AppState::new(Inner {
        db,
        writer,
        jobs_wakeup: Default::default(),
        events: Default::default(),
        config,
        jwt,
        login_throttle: Default::default(),
        signup_throttle: Default::default(),
        hashing: tokio::sync::Semaphore::new(hashing_permits),
        redis,
        graph,
        sandbox,
        sandbox_graph,
        directory,
        metrics: Default::default(),
        limiter,
        public_url,
    });
    if let Some(url) = &state.config.redis_url {
        let client = redis::Client::open(url.expose()).map_err(|e| anyhow::anyhow!("SWITCHBOARD_REDIS_URL: {e}"))?;
        crate::realtime::start_redis_fanout(state.clone(), client)
            .await
            .map_err(|e| anyhow::anyhow!("SWITCHBOARD_REDIS_URL: event fan-out: {e}"))?;
    }
    Ok(state)
}

/// This node's writer of acknowledged webhooks (1 writer task on SQLite: one writer connection;
/// `SWITCHBOARD_INGEST_WRITERS` on PostgreSQL). Processing reads its pressure, so a node's
/// route and workers share one.
pub fn ingestor(state: &AppState) -> Ingestor {
    let writers = if state.config.is_postgres() { state.config.ingest_writers } else { 1 };
    Ingestor::start(state.writer().clone(), state.jobs_wakeup.get(crate::jobs::queues::WEBHOOK_PROCESSOR), writers)
}

/// What the job runner itself uses, out of the application's handles.
pub fn job_handles(state: &AppState) -> crate::jobs::runner::Handles {
    crate::jobs::runner::Handles {
        writer: state.writer().clone(),
        wakeup: state.jobs_wakeup.clone(),
        metrics: state.metrics.clone(),
        retention: state.config.job_retention,
    }
}

/// The job queues this process works on.
pub fn runner(state: &AppState, ingest: &Ingestor) -> crate::jobs::runner::Runner<AppState> {
    use crate::jobs::queues;
    use crate::jobs::runner::{QueueSpec, Runner};
    let pg = state.config.is_postgres();
    Runner::new(state.clone(), job_handles(state))
        .register_batch(crate::webhooks::batch::spec(&state.config), crate::webhooks::batch::handler(ingest.clone()))
        .register(QueueSpec::new(queues::MEDIA_DOWNLOAD, 4), crate::media::download_handler())
        .register_batch(
            QueueSpec::new(queues::MESSAGE_SEND, crate::sender::WORKERS)
                .batch(crate::sender::BATCH)
                .refill()
                .on_dead(crate::sender::dead_job),
            crate::sender::batch_handler(),
        )
        .register(QueueSpec::new(queues::TEMPLATE_SYNC, 2), crate::templates::service::sync_handler())
        .register(
            QueueSpec::new(crate::outhooks::deliver::QUEUE, if pg { 16 } else { 4 }),
            crate::outhooks::deliver::handler(),
        )
        .register(QueueSpec::new(queues::CAMPAIGN_RUN, 2), crate::campaigns::run::handler())
        .register(QueueSpec::new(queues::CAMPAIGN_RETRY, 1), crate::campaigns::run::retry_handler())
}

/// Re-registers sandbox numbers in the (in-memory) simulator after a restart (`sandbox::restore`).
pub async fn restore_sandbox(state: &AppState) -> anyhow::Result<()> {
    crate::sandbox::restore(state).await
}

/// The whole HTTP surface: API, OpenAPI document and Swagger UI.
pub fn router(state: AppState, ingest: Ingestor) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(crate::auth::routes::router())
        .merge(crate::health::router())
        .merge(crate::admin::router())
        .merge(crate::jobs::routes::router())
        .merge(crate::accounts::routes::router())
        .merge(crate::sandbox::routes::router())
        .merge(crate::webhooks::routes::router(ingest))
        .merge(crate::webhooks::admin::router())
        .merge(crate::media::router())
        .merge(crate::realtime::router())
        .merge(crate::conversations::routes::router())
        .merge(crate::contacts::routes::router())
        .merge(crate::canned::routes::router())
        .merge(crate::campaigns::routes::router())
        .merge(crate::segments::routes::router())
        .merge(crate::notes::routes::router())
        .merge(crate::agents::routes::router())
        .merge(crate::templates::routes::router())
        .merge(crate::team::routes::router())
        .merge(crate::settings::routes::router())
        .merge(crate::usage::routes::router())
        .merge(crate::audit::routes::router())
        .merge(crate::apikeys::routes::router())
        .merge(crate::analytics::routes::router())
        .merge(crate::outhooks::routes::router())
        .split_for_parts();
    let openapi = crate::openapi::document(openapi);
    // The generated document, plus what utoipa cannot express: OpenAPI 3.1 `webhooks`.
    let mut document = serde_json::to_value(&openapi).unwrap_or_default();
    crate::events::add_to_openapi(&mut document);
    let document = std::sync::Arc::new(document);

    Router::new()
        .merge(api)
        .merge(SwaggerUi::new("/api/docs").config(utoipa_swagger_ui::Config::from("/api/openapi.json")))
        .route("/api/openapi.json", axum::routing::get(move || std::future::ready(axum::Json((*document).clone()))))
        .merge(crate::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::web::session::refresh_layer))
        .layer(axum::middleware::from_fn(crate::http_guard::api_errors))
        .with_state(state.clone())
        .layer(CatchPanicLayer::custom(|_| {
            AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error").into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", request_id = %id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
        // Outermost: even a caught panic's answer carries nosniff (and HSTS over https).
        .layer(axum::middleware::from_fn_with_state(state, crate::http_guard::global_headers))
}

async fn not_found() -> AppError {
    AppError::not_found("route")
}

async fn method_not_allowed() -> AppError {
    AppError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}

/// A bound, ready-to-run server (tests bind port 0 and read the port).
pub struct Application {
    listener: TcpListener,
    state: AppState,
    ingest: Ingestor,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listen = config.listen;
        let state = build_state(config, true, DbOptions::default()).await?;
        Self::with_state(state, listen).await
    }

    pub async fn with_state(state: AppState, listen: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("SWITCHBOARD_LISTEN: cannot listen on {listen}: {e}"))?;
        // Listening on port 0 with the default public URL: the real port is known only now.
        if listen.port() == 0 && state.public_url() == format!("http://{listen}") {
            let actual = format!("http://{}", listener.local_addr()?);
            *state.public_url.write().unwrap_or_else(|e| e.into_inner()) = actual;
        }
        if let Err(e) = restore_sandbox(&state).await {
            // Not fatal: the API still serves (and health reports the database) without it.
            tracing::warn!(error = %e, "could not restore sandbox numbers");
        }
        if let Err(e) = crate::templates::service::arm_sync(&state).await {
            tracing::warn!(error = %e, "could not schedule template syncs");
        }
        let ingest = ingestor(&state);
        Ok(Self { listener, state, ingest })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn ingest(&self) -> &Ingestor {
        &self.ingest
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let app = router(self.state.clone(), self.ingest.clone());
        let cancel = tokio_util::sync::CancellationToken::new();
        let workers =
            self.state.config.run_workers.then(|| tokio::spawn(runner(&self.state, &self.ingest).run(cancel.clone())));
        // Every node turns the events it sees into webhook deliveries (the queue dedupes them).
        let dispatcher = crate::outhooks::deliver::start_dispatcher(&self.state, cancel.clone());
        tracing::info!(addr = %self.local_addr(), db = crate::db::backend_name(&self.state.db), "switchboard listening");
        // At the signal, end the event streams too: browsers keep them open for ever.
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            state.events.close();
        };
        // hyper's own answers to unparseable requests (414, 431, 400) are rewritten as JSON errors.
        let listener = axum::serve::ListenerExt::tap_io(crate::http_guard::GuardedListener(self.listener), |_| ());
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        // In-flight requests are done; now let in-flight jobs finish.
        cancel.cancel();
        if let Some(w) = workers {
            let _ = tokio::time::timeout(Duration::from_secs(60), w).await;
        }
        let _ = dispatcher.await;
        served?;
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight work");
}
