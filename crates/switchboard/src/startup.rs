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

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Opens the database (migrating it unless told not to) and builds the shared state.
pub async fn build_state(
    config: Config,
    migrate: bool,
    db_opts: DbOptions,
) -> anyhow::Result<AppState> {
    let db = crate::db::connect(config.database_url.expose(), &db_opts).await?;
    if migrate {
        crate::db::migrate(&db).await?;
    }
    build_state_with_db(config, db).await
}

pub async fn build_state_with_db(
    config: Config,
    db: DatabaseConnection,
) -> anyhow::Result<AppState> {
    let jwt = switchboard_crypto::jwt::JwtKeys::new(config.jwt_secret.expose().as_bytes())
        .map_err(|e| anyhow::anyhow!("SWITCHBOARD_JWT_SECRET: {e}"))?;
    let redis = match &config.redis_url {
        None => None,
        Some(url) => {
            let client = redis::Client::open(url.expose())
                .map_err(|e| anyhow::anyhow!("SWITCHBOARD_REDIS_URL: {e}"))?;
            Some(
                redis::aio::ConnectionManager::new(client)
                    .await
                    .map_err(|e| anyhow::anyhow!("SWITCHBOARD_REDIS_URL: cannot connect: {e}"))?,
            )
        }
    };
    let hashing_permits = std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4);
    Ok(AppState::new(Inner {
        db,
        config,
        jwt,
        login_throttle: Default::default(),
        hashing: tokio::sync::Semaphore::new(hashing_permits),
        redis,
    }))
}

/// The whole HTTP surface: API, OpenAPI document and Swagger UI.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(crate::auth::routes::router())
        .merge(crate::health::router())
        .merge(crate::admin::router())
        .split_for_parts();

    Router::new()
        .merge(api)
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(CatchPanicLayer::custom(|_| {
            AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error").into_response()
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!("http", request_id = %id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
}

async fn not_found() -> AppError {
    AppError::not_found("route")
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// A bound, ready-to-run server (tests bind port 0 and read the port).
pub struct Application {
    listener: TcpListener,
    state: AppState,
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
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = router(self.state.clone());
        tracing::info!(addr = %self.local_addr(), db = crate::db::backend_name(&self.state.db), "switchboard listening");
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        // Give background tasks a moment to flush; the pool closes when the state drops.
        tokio::time::sleep(Duration::from_millis(10)).await;
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
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
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
