//! Configuration from `SWITCHBOARD_*` environment variables, with an optional env-style file.
//!
//! Every value has a default that makes `cargo run --release` work on a fresh machine. Secrets that
//! are not provided are generated once into the data directory (mode 0600) and reused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use switchboard_crypto::aead::Keyring;
use switchboard_crypto::secret::SecretString;

/// A configuration problem; the message always names the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The whole runtime configuration. `Debug` never prints secrets.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: SecretString,
    pub redis_url: Option<SecretString>,
    pub public_url: String,
    pub jwt_secret: SecretString,
    pub encryption_keys: Keyring,
    pub meta_app_secret: Option<SecretString>,
    pub meta_verify_token: Option<SecretString>,
    pub graph_api_url: String,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Run the built-in Meta simulator so tenants can create sandbox numbers.
    pub sandbox: bool,
    /// Run the job workers inside `serve`.
    pub run_workers: bool,
    /// How long finished jobs are kept.
    pub job_retention: std::time::Duration,
    /// Where downloaded media files are stored.
    pub media_dir: PathBuf,
    /// Outgoing webhooks may target loopback, private and link-local addresses (and plain http).
    pub webhooks_allow_private: bool,
    /// Delays between outgoing webhook delivery attempts (one more attempt than delays).
    pub webhooks_retry_schedule: Vec<std::time::Duration>,
    /// PostgreSQL: webhook batches processed at once (`SWITCHBOARD_WEBHOOK_WORKERS`, default 4;
    /// SQLite always runs one, its writer being one connection).
    pub webhook_workers: usize,
    /// PostgreSQL: connections storing acknowledged webhooks in group commits
    /// (`SWITCHBOARD_INGEST_WRITERS`, default 8; SQLite always one, its writer connection).
    pub ingest_writers: usize,
    /// How long after a campaign completes its recipients Meta limited (131049, "healthy
    /// ecosystem") are tried again (`SWITCHBOARD_CAMPAIGN_LIMITED_RETRY_SECS`, default 86,400:
    /// Meta advises waiting at least a day).
    pub campaign_limited_retry: std::time::Duration,
    /// How many times such a recipient is tried again (`SWITCHBOARD_CAMPAIGN_LIMITED_RETRIES`,
    /// default 1, at most 5; 0 turns retries off).
    pub campaign_limited_retries: u32,
    /// A running campaign pauses itself when more than this share (percent) of its last 200
    /// decided sends of the current run failed (`SWITCHBOARD_CAMPAIGN_FAILURE_PAUSE_PERCENT`,
    /// default 30; 0 turns it off).
    pub campaign_failure_pause_percent: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`SWITCHBOARD_TRUSTED_PROXIES`, CIDRs;
    /// default none: the client address is the socket's).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_GRAPH_API_URL: &str = "https://graph.facebook.com";

impl Config {
    /// Reads the process environment (and `SWITCHBOARD_CONFIG_FILE`, when set).
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> =
            std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")).collect();
        if let Some(file) = vars.get("SWITCHBOARD_CONFIG_FILE").cloned() {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| err("SWITCHBOARD_CONFIG_FILE", format!("cannot read {file}: {e}")))?;
            for (k, v) in parse_env_file(&text) {
                // The environment wins over the file.
                vars.entry(k).or_insert(v);
            }
        }
        Self::from_vars(&vars)
    }

    /// Builds the configuration from a map of variables; secrets missing from it are loaded from
    /// or generated into the data directory.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| vars.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());

        let listen_raw = get("SWITCHBOARD_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_raw
            .parse()
            .map_err(|_| err("SWITCHBOARD_LISTEN", format!("expected host:port, got {listen_raw:?}")))?;

        let data_dir = PathBuf::from(get("SWITCHBOARD_DATA_DIR").unwrap_or_else(|| "./data".into()));
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| err("SWITCHBOARD_DATA_DIR", format!("cannot create {}: {e}", data_dir.display())))?;

        let database_url = match get("SWITCHBOARD_DATABASE_URL") {
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite:")) {
                    return Err(err(
                        "SWITCHBOARD_DATABASE_URL",
                        "expected a postgres://, postgresql:// or sqlite: URL",
                    ));
                }
                url
            }
            None => format!("sqlite://{}?mode=rwc", data_dir.join("switchboard.db").display()),
        };

        let redis_url = get("SWITCHBOARD_REDIS_URL");
        if let Some(r) = &redis_url
            && !(r.starts_with("redis://") || r.starts_with("rediss://"))
        {
            return Err(err("SWITCHBOARD_REDIS_URL", "expected a redis:// or rediss:// URL"));
        }

        let public_url = get("SWITCHBOARD_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(err("SWITCHBOARD_PUBLIC_URL", "expected an http:// or https:// URL"));
        }

        let jwt_secret = match get("SWITCHBOARD_JWT_SECRET") {
            Some(s) if s.len() >= 32 => s,
            Some(_) => {
                return Err(err("SWITCHBOARD_JWT_SECRET", "must be at least 32 characters"));
            }
            None => load_or_generate(&data_dir, "jwt_secret", "SWITCHBOARD_JWT_SECRET", || {
                switchboard_crypto::token::random_token("", 48)
            })?,
        };

        let keys_spec = match get("SWITCHBOARD_ENCRYPTION_KEYS") {
            Some(s) => s,
            None => load_or_generate(
                &data_dir,
                "encryption_keys",
                "SWITCHBOARD_ENCRYPTION_KEYS",
                Keyring::generate_spec_entry,
            )?,
        };
        let encryption_keys =
            Keyring::parse(&keys_spec).map_err(|e| err("SWITCHBOARD_ENCRYPTION_KEYS", e.to_string()))?;

        let graph_api_url = get("SWITCHBOARD_GRAPH_API_URL")
            .unwrap_or_else(|| DEFAULT_GRAPH_API_URL.into())
            .trim_end_matches('/')
            .to_string();
        if !(graph_api_url.starts_with("http://") || graph_api_url.starts_with("https://")) {
            return Err(err("SWITCHBOARD_GRAPH_API_URL", "expected an http:// or https:// URL"));
        }

        let log_format = match get("SWITCHBOARD_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err("SWITCHBOARD_LOG_FORMAT", format!("expected pretty or json, got {other:?}")));
            }
        };
        let log_filter = get("SWITCHBOARD_LOG").unwrap_or_else(|| "info".into());
        // Checked here so a typo stops start-up instead of silently logging at the default level.
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|e| err("SWITCHBOARD_LOG", format!("not a valid log filter ({e}): {log_filter:?}")))?;

        Ok(Config {
            listen,
            database_url: SecretString::new(database_url),
            redis_url: redis_url.map(SecretString::new),
            public_url,
            jwt_secret: SecretString::new(jwt_secret),
            encryption_keys,
            meta_app_secret: get("SWITCHBOARD_META_APP_SECRET").map(SecretString::new),
            meta_verify_token: get("SWITCHBOARD_META_VERIFY_TOKEN").map(SecretString::new),
            graph_api_url,
            log_format,
            log_filter,
            sandbox: parse_bool(get("SWITCHBOARD_SANDBOX"), true, "SWITCHBOARD_SANDBOX")?,
            run_workers: parse_bool(get("SWITCHBOARD_RUN_WORKERS"), true, "SWITCHBOARD_RUN_WORKERS")?,
            job_retention: std::time::Duration::from_secs(
                parse_u64(get("SWITCHBOARD_JOB_RETENTION_HOURS"), 24, "SWITCHBOARD_JOB_RETENTION_HOURS")? * 3600,
            ),
            campaign_limited_retry: std::time::Duration::from_secs(parse_u64(
                get("SWITCHBOARD_CAMPAIGN_LIMITED_RETRY_SECS"),
                86_400,
                "SWITCHBOARD_CAMPAIGN_LIMITED_RETRY_SECS",
            )?),
            campaign_limited_retries: match parse_u64(
                get("SWITCHBOARD_CAMPAIGN_LIMITED_RETRIES"),
                1,
                "SWITCHBOARD_CAMPAIGN_LIMITED_RETRIES",
            )? {
                n @ 0..=5 => n as u32,
                _ => return Err(err("SWITCHBOARD_CAMPAIGN_LIMITED_RETRIES", "must be between 0 and 5")),
            },
            campaign_failure_pause_percent: match parse_u64(
                get("SWITCHBOARD_CAMPAIGN_FAILURE_PAUSE_PERCENT"),
                30,
                "SWITCHBOARD_CAMPAIGN_FAILURE_PAUSE_PERCENT",
            )? {
                n @ 0..=100 => n as u32,
                _ => return Err(err("SWITCHBOARD_CAMPAIGN_FAILURE_PAUSE_PERCENT", "must be between 0 and 100")),
            },
            webhooks_allow_private: parse_bool(
                get("SWITCHBOARD_WEBHOOKS_ALLOW_PRIVATE"),
                false,
                "SWITCHBOARD_WEBHOOKS_ALLOW_PRIVATE",
            )?,
            webhooks_retry_schedule: parse_schedule(get("SWITCHBOARD_WEBHOOKS_RETRY_SCHEDULE"))
                .map_err(|m| err("SWITCHBOARD_WEBHOOKS_RETRY_SCHEDULE", m))?,
            webhook_workers: match parse_u64(get("SWITCHBOARD_WEBHOOK_WORKERS"), 4, "SWITCHBOARD_WEBHOOK_WORKERS")? {
                n @ 1..=64 => n as usize,
                _ => return Err(err("SWITCHBOARD_WEBHOOK_WORKERS", "must be between 1 and 64")),
            },
            ingest_writers: match parse_u64(get("SWITCHBOARD_INGEST_WRITERS"), 8, "SWITCHBOARD_INGEST_WRITERS")? {
                n @ 1..=64 => n as usize,
                _ => return Err(err("SWITCHBOARD_INGEST_WRITERS", "must be between 1 and 64")),
            },
            trusted_proxies: parse_cidrs(get("SWITCHBOARD_TRUSTED_PROXIES"))
                .map_err(|m| err("SWITCHBOARD_TRUSTED_PROXIES", m))?,
            media_dir: get("SWITCHBOARD_MEDIA_DIR").map(PathBuf::from).unwrap_or_else(|| data_dir.join("media")),
            data_dir,
        })
    }

    /// True when the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database_url.expose().starts_with("postgres")
    }
}

/// A comma-separated list of CIDRs (`10.0.0.0/8, ::1/128`); a bare address is one host.
fn parse_cidrs(v: Option<String>) -> Result<Vec<ipnet::IpNet>, String> {
    let mut out = Vec::new();
    for item in v.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let net = match item.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => item
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| format!("{item:?} is not an address or CIDR (like 10.0.0.0/8)"))?,
        };
        out.push(net.trunc());
    }
    Ok(out)
}

fn parse_u64(v: Option<String>, default: u64, var: &'static str) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| err(var, format!("expected a whole number, got {s:?}"))),
    }
}

fn parse_bool(v: Option<String>, default: bool, var: &'static str) -> Result<bool, ConfigError> {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(err(var, format!("expected true or false, got {other:?}"))),
    }
}

/// `KEY=VALUE` lines; `#` comments and blank lines ignored; optional surrounding quotes removed.
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            (k.trim().trim_start_matches("export ").to_string(), v.to_string())
        })
        .collect()
}

/// Reads a secret file from the data dir, or creates it with mode 0600.
fn load_or_generate(
    dir: &Path,
    name: &str,
    var: &'static str,
    generate: impl FnOnce() -> String,
) -> Result<String, ConfigError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(var, format!("cannot read {}: {e}", path.display()))),
    }
    let value = generate();
    write_private(&path, &value).map_err(|e| err(var, format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(file = %path.display(), "generated {var} into the data directory");
    Ok(value)
}

fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(value.as_bytes())?;
    f.sync_all()
}

/// Default delays between attempts: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h (7 attempts, ~17.6 h).
pub const DEFAULT_SCHEDULE: &[u64] = &[5, 300, 1800, 7200, 18000, 36000];
/// `SWITCHBOARD_WEBHOOKS_RETRY_SCHEDULE`: comma-separated delays in seconds (decimals allowed).
pub fn parse_schedule(raw: Option<String>) -> Result<Vec<std::time::Duration>, String> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(DEFAULT_SCHEDULE.iter().map(|s| std::time::Duration::from_secs(*s)).collect());
    };
    raw.split(',')
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 7.0 * 86400.0)
                .map(std::time::Duration::from_secs_f64)
                .ok_or_else(|| format!("expected comma-separated seconds, got {s:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(dir: &Path, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert("SWITCHBOARD_DATA_DIR".into(), dir.display().to_string());
        for (k, v) in extra {
            m.insert((*k).into(), (*v).into());
        }
        m
    }

    #[test]
    fn defaults_generate_private_secrets_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = Config::from_vars(&vars(dir.path(), &[])).unwrap();
        let b = Config::from_vars(&vars(dir.path(), &[])).unwrap();
        assert_eq!(a.jwt_secret.expose(), b.jwt_secret.expose());
        assert_eq!(a.listen.to_string(), DEFAULT_LISTEN);
        assert!(a.database_url.expose().starts_with("sqlite://"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in ["jwt_secret", "encryption_keys"] {
                let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        let dbg = format!("{a:?}");
        assert!(!dbg.contains(a.jwt_secret.expose()), "secrets must not be printed");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        for (k, v) in [
            ("SWITCHBOARD_LISTEN", "nonsense"),
            ("SWITCHBOARD_DATABASE_URL", "mysql://x"),
            ("SWITCHBOARD_REDIS_URL", "http://x"),
            ("SWITCHBOARD_JWT_SECRET", "short"),
            ("SWITCHBOARD_ENCRYPTION_KEYS", "k1:notbase64!"),
            ("SWITCHBOARD_LOG_FORMAT", "xml"),
            ("SWITCHBOARD_GRAPH_API_URL", "ftp://x"),
            ("SWITCHBOARD_PUBLIC_URL", "example.com"),
            ("SWITCHBOARD_SANDBOX", "maybe"),
            ("SWITCHBOARD_LOG", "switchboard=loud"),
            ("SWITCHBOARD_WEBHOOK_WORKERS", "0"),
            ("SWITCHBOARD_WEBHOOK_WORKERS", "many"),
            ("SWITCHBOARD_INGEST_WRITERS", "0"),
            ("SWITCHBOARD_INGEST_WRITERS", "65"),
        ] {
            let e = Config::from_vars(&vars(dir.path(), &[(k, v)])).unwrap_err();
            assert_eq!(e.var, k);
            assert!(e.to_string().contains(k));
        }
    }

    #[test]
    fn env_file_lines_are_parsed() {
        let parsed = parse_env_file("# c\nexport SWITCHBOARD_LISTEN=\"0.0.0.0:9\"\n\nSWITCHBOARD_LOG=debug\n");
        assert_eq!(
            parsed,
            vec![("SWITCHBOARD_LISTEN".into(), "0.0.0.0:9".into()), ("SWITCHBOARD_LOG".into(), "debug".into())]
        );
    }
}
