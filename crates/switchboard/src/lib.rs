//! Switchboard: a self-hostable, multi-tenant WhatsApp Business Platform.
//!
//! Organised by feature (`auth`, `tenants`, `health`, …), each owning its routes, logic and
//! queries; shared machinery (`db`, `config`, `error`, `secrets`) sits beside them.
#![forbid(unsafe_code)]

pub mod access;
pub mod accounts;
pub mod admin;
pub mod agents;
pub mod analytics;
pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod canned;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod conversations;
pub mod db;
pub mod directory;
pub mod domain;
pub mod entities;
pub mod error;
pub mod events;
pub mod health;
pub mod http_guard;
pub mod ids;
pub mod jobs;
pub mod json;
pub mod media;
pub mod messages;
pub mod metrics;
pub mod notes;
pub mod openapi;
pub mod outhooks;
pub mod pagination;
pub mod ratelimit;
pub mod realtime;
pub mod sandbox;
pub mod secrets;
pub mod segments;
pub mod sender;
pub mod settings;
pub mod startup;
pub mod state;
pub mod team;
pub mod telemetry;
pub mod templates;
pub mod tenants;
pub mod usage;
pub mod users;
pub mod web;
pub mod webhooks;

use config::Config;

/// `switchboard serve`: API, web app and workers until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let app = startup::Application::build(config).await?;
    app.run_until(startup::shutdown_signal()).await
}

/// `switchboard worker`: job workers only.
pub async fn worker(config: Config) -> anyhow::Result<()> {
    let state = startup::build_state(config, true, db::DbOptions::default()).await?;
    tracing::info!(db = db::backend_name(&state.db), "worker started");
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(startup::runner(&state, &startup::ingestor(&state)).run(cancel.clone()));
    let dispatcher = outhooks::deliver::start_dispatcher(&state, cancel.clone());
    startup::shutdown_signal().await;
    cancel.cancel();
    let _ = run.await;
    let _ = dispatcher.await;
    Ok(())
}
