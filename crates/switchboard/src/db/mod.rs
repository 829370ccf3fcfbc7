//! Database access: one connection type for SQLite and PostgreSQL, chosen once from the URL.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use sea_orm_migration::MigratorTrait;

pub mod group;
pub mod migrations;
pub mod scoped;

pub use migrations::Migrator;
pub use scoped::{Scoped, TenantOwned};

/// Options for opening the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    /// Do not open a connection before the first query (used by health checks against a dead server).
    pub lazy: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self { max_connections: 16, lazy: false }
    }
}

/// Prepared statements each PostgreSQL connection keeps (sqlx's default is 100). The batch paths'
/// multi-row statements differ by row count, so most of a large cache holds statements used once,
/// each with its SQL text and PostgreSQL's prepared plan: with 100, the server's RSS peaked at
/// 211 MB in `switchboard-bench compare` at c = 128; with 16, at 145 MB, at the same throughput
/// (6,433 and 6,241 messages/s stored; docs/BENCHMARKS.md, session 8).
const PG_STATEMENT_CACHE: usize = 16;

/// Opens a pool. SQLite is switched to WAL with a busy timeout so readers never block the writer.
pub async fn connect(url: &str, opts: &DbOptions) -> Result<DatabaseConnection, DbErr> {
    let mut o = ConnectOptions::new(url.to_owned());
    o.max_connections(opts.max_connections)
        .min_connections(if opts.lazy { 0 } else { 1 })
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(opts.lazy)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(|o| o.statement_cache_capacity(PG_STATEMENT_CACHE))
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    Database::connect(o).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// True for errors that mean "the database cannot be reached", as opposed to a bad query.
/// A short transaction, on PostgreSQL one whose statements wait at most 2 s for a row lock
/// (`lock_timeout`), for writes a batch makes on its second (autocommit) connection while its own
/// transaction is open: an insert that meets another transaction's uncommitted row waits for that
/// transaction, which may itself be waiting for the batch's — a wait across two connections of
/// one task that PostgreSQL cannot see as a deadlock. Bounded, it fails instead and the batch is
/// retried.
pub async fn begin_bounded(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let t = db.begin().await?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        t.execute_unprepared("SET LOCAL lock_timeout = '2s'").await?;
    }
    Ok(t)
}

pub fn is_unavailable(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(r) | DbErr::Query(r) => {
            let s = r.to_string().to_ascii_lowercase();
            s.contains("pool timed out")
                || s.contains("pool closed")
                || s.contains("connection refused")
                || s.contains("io error")
                || s.contains("error communicating")
                || s.contains("database is locked")
        }
        _ => false,
    }
}

/// True when `e` is a unique-constraint violation (on either backend).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// A cheap round trip, for health checks.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Name of the backend, for logs and health output.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => "postgres",
        DbBackend::Sqlite => "sqlite",
        _ => "other",
    }
}

/// The current time, truncated to microseconds so that it round-trips identically on both backends.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    chrono::Utc::now().duration_trunc(TimeDelta::microseconds(1)).expect("microsecond truncation")
}

/// New primary keys are UUIDv7: unique across nodes and roughly time-ordered for index locality.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Tables whose plans matter on the hot paths (webhook processing, sending, the inbox).
const HOT_TABLES: &[&str] =
    &["contacts", "conversations", "messages", "jobs", "webhook_events", "pending_statuses", "account_events"];

/// Keeps the planner's statistics fresh where the server does not (PostgreSQL with autovacuum
/// off, or a table that grew by hundreds of thousands of rows since autovacuum last looked — a
/// first import): a hot table changed by more than 10 % (and 1,000 rows) since its last
/// `ANALYZE` is analysed now. On stale statistics PostgreSQL read the contact lookup
/// `tenant_id = $1 AND wa_id IN (…)` through the user-id index and scanned 100 times the rows,
/// and processing fell from ~8,000 to ~120 messages/s. SQLite: `PRAGMA optimize`, its own rule.
/// The one piece of per-backend SQL outside migrations (statistics are the server's business);
/// returns the tables analysed.
pub async fn refresh_statistics(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    use sea_orm::{ConnectionTrait, Statement};
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        db.execute_unprepared("PRAGMA optimize").await?;
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT relname::text AS t FROM pg_stat_user_tables \
             WHERE n_mod_since_analyze > 1000 AND n_mod_since_analyze > 0.1 * GREATEST(n_live_tup, 1)",
        ))
        .await?;
    let mut analysed = Vec::new();
    for r in rows {
        let t: String = r.try_get("", "t")?;
        if HOT_TABLES.contains(&t.as_str()) {
            db.execute_unprepared(&format!("ANALYZE {t}")).await?;
            analysed.push(t);
        }
    }
    Ok(analysed)
}
