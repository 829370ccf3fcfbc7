//! The `switchboard` command line.

use std::io::Read;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db::DbOptions;
use crate::domain::{Email, NewPassword, parse_name};

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Self-hostable multi-tenant WhatsApp Business Platform")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// API, web app and workers in one process (the default).
    Serve,
    /// Job workers only, for scale-out (PostgreSQL).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Operator tasks.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create a SYSTEM_ADMIN. The password comes from SWITCHBOARD_ADMIN_PASSWORD or standard input.
    CreateSystemAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "System Admin")]
        name: String,
    },
    /// Re-encrypt stored secrets with the newest key of SWITCHBOARD_ENCRYPTION_KEYS.
    RotateKeys,
}

/// Entry point of the binary.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    crate::telemetry::init(config.log_format, &config.log_filter);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cmd: Command, config: Config) -> anyhow::Result<()> {
    match cmd {
        Command::Serve => crate::serve(config).await,
        Command::Worker => crate::worker(config).await,
        Command::Migrate => {
            let db = crate::db::connect(config.database_url.expose(), &DbOptions::default()).await?;
            crate::db::migrate(&db).await?;
            println!("migrations applied ({})", crate::db::backend_name(&db));
            Ok(())
        }
        Command::Admin(Admin::CreateSystemAdmin { email, name }) => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
            let name = parse_name(&name, 100).map_err(|e| anyhow::anyhow!("--name {e}"))?;
            let password = match std::env::var("SWITCHBOARD_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let password = NewPassword::parse(&password).map_err(|e| anyhow::anyhow!("password {e}"))?;
            let state = crate::startup::build_state(config, true, DbOptions::default()).await?;
            let user = crate::auth::service::create_system_admin(&state, &email, &name, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            println!("created SYSTEM_ADMIN {} ({})", user.email, user.id);
            Ok(())
        }
        Command::Admin(Admin::RotateKeys) => {
            let db = crate::db::connect(config.database_url.expose(), &DbOptions::default()).await?;
            crate::db::migrate(&db).await?;
            let n = crate::secrets::rotate_keys(&db, &config.encryption_keys)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            println!("re-encrypted {n} value(s) with key {}", config.encryption_keys.current_kid());
            Ok(())
        }
    }
}
