#![forbid(unsafe_code)]
//! `meta-sim` binary: serve the simulator with a demo number.

use clap::Parser;
use meta_sim::{MetaSim, NumberSpec, SimConfig};

#[derive(Parser, Debug)]
#[command(name = "meta-sim", about = "A fake Meta WhatsApp Cloud API with signed webhooks")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "META_SIM_LISTEN", default_value = "127.0.0.1:4010")]
    listen: String,
    /// Webhook receiver of the demo number.
    #[arg(long, env = "META_SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// App secret signing the demo number's webhooks.
    #[arg(long, env = "META_SIM_APP_SECRET", default_value = "sim-app-secret")]
    app_secret: String,
    /// Access token of the demo number.
    #[arg(long, env = "META_SIM_ACCESS_TOKEN", default_value = "sim-access-token")]
    access_token: String,
    #[arg(long, env = "META_SIM_WABA_ID", default_value = "100000000000001")]
    waba_id: String,
    #[arg(long, env = "META_SIM_PHONE_NUMBER_ID", default_value = "100000000000002")]
    phone_number_id: String,
    #[arg(long, env = "META_SIM_DISPLAY_PHONE_NUMBER", default_value = "15550001234")]
    display_phone_number: String,
    /// Do not register the demo number.
    #[arg(long)]
    no_demo_number: bool,
    /// Lift throughput and pair-rate limits.
    #[arg(long, env = "META_SIM_NO_LIMITS")]
    no_limits: bool,
    /// A JSON file with a (partial) SimConfig.
    #[arg(long, env = "META_SIM_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(p) => serde_json::from_slice::<SimConfig>(&std::fs::read(p)?)?,
        None => SimConfig::default(),
    };
    if args.no_limits {
        config.limits_enabled = false;
    }
    let sim = MetaSim::new(config);
    if !args.no_demo_number {
        let mut n = NumberSpec::new(
            &args.waba_id,
            &args.phone_number_id,
            &args.display_phone_number,
            &args.access_token,
            &args.app_secret,
        );
        n.webhook_url = args.webhook_url.clone();
        sim.register_number(n);
        tracing::info!(
            waba_id = %args.waba_id,
            phone_number_id = %args.phone_number_id,
            webhook_url = ?args.webhook_url,
            "registered demo number"
        );
    }
    let running = sim.serve_on(&args.listen).await?;
    tracing::info!(base_url = %running.base_url, "meta-sim listening");
    println!("meta-sim listening on {}", running.base_url);
    tokio::signal::ctrl_c().await?;
    running.shutdown();
    Ok(())
}
