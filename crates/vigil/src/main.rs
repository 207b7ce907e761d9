//! `vigil`: one binary for the whole control plane and its tools.

mod api_server;
mod capacity_cmd;
mod fence_cmd;
mod headroom_source;
mod metrics_server;
mod pacemaker_cmd;
mod plan_cmd;
mod watch_cmd;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
// The loader is in the library so the fuzz targets reach it; the commands name it `crate::config`.
use vigil::config::{self, Config, Overrides};
use vigil_monitor::runner::shutdown_signal;
use vigil_store::Store;

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Instance high availability for OpenStack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole control plane in one process (the API; the engine once it exists).
    Serve(ServiceArgs),
    /// Run the API service alone.
    Api(ServiceArgs),
    /// Run the recovery engine alone (any number may share one database).
    Engine(EngineArgs),
    /// Database administration.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Power devices of `[fencing]`: status, off, on, and a check of every device.
    Fence {
        #[command(subcommand)]
        command: fence_cmd::FenceCommand,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Each segment's capacity headroom from Placement: could the other (or reserved) hosts
    /// take in the servers of any one host, and of the largest one?
    Capacity {
        #[command(flatten)]
        args: capacity_cmd::CapacityArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// What a failure of HOST would do now, changing nothing: servers, order, tiers, reserved
    /// hosts, servers without room, and the safety gate that would stop it.
    Plan {
        #[command(flatten)]
        args: plan_cmd::PlanArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Compute-node commands: the monitors (`process`, `host`, `instance`), their `status`, and `send`, which
    /// delivers an outbox's reports to the API.
    Monitor {
        #[command(subcommand)]
        command: vigil_monitor::cli::MonitorCommand,
    },
    /// Hand the hosts of Pacemaker's failed-host queue (filled by fence_vigil) to the API;
    /// run by Pacemaker as `ocf:vigil:alerter`, one per cluster.
    Alerter(pacemaker_cmd::AlerterArgs),
    /// Pacemaker's alert agent (also run as a link named vigil-pacemaker-alert): a node lost,
    /// fenced or back is appended to the outbox the alert's recipient names.
    PacemakerAlert {
        /// The outbox; default: the alert's recipient (CRM_alert_recipient).
        #[arg(long, value_name = "DIR")]
        outbox: Option<PathBuf>,
    },
    /// Append one report to an outbox, for `vigil monitor send` to deliver as a monitor's.
    Notify(vigil_monitor::cli::NotifyArgs),
    /// Follow recoveries live through the API: a progress bar per failed host (plain lines
    /// when stdout is not a terminal); exits 0 when finished, 1 when error, failed or ignored,
    /// 2 for bad input (an unknown notification, none in flight, no API address).
    Watch(watch_cmd::WatchArgs),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Args, Clone, Default)]
struct ServiceArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Address to listen on, e.g. 127.0.0.1:15868; port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    metrics: MetricsArgs,
}

#[derive(Args, Clone, Default)]
struct EngineArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
}

#[derive(Args, Clone, Default)]
struct MetricsArgs {
    /// Serve Prometheus metrics on http://ADDR:PORT/metrics (`[metrics] listen`; default: off).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_listen: Option<SocketAddr>,
}

#[derive(Args, Clone, Default)]
struct CommonArgs {
    /// Configuration file (TOML); see `vigil config example`.
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Directory for the embedded database and local state.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create or upgrade the database schema to this version of Vigil.
    Sync(CommonArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented configuration file with every option at its default.
    Example,
}

fn load_config(
    common: &CommonArgs,
    listen: Option<SocketAddr>,
    metrics: &MetricsArgs,
) -> anyhow::Result<Config> {
    let overrides = Overrides {
        listen,
        data_dir: common.data_dir.clone(),
        metrics_listen: metrics.metrics_listen,
    };
    // anyhow prints the source chain, so figment's message (naming the file and the key) and an
    // unreadable secret file's I/O error both reach the operator.
    Ok(Config::load(common.config.as_deref(), &overrides)?)
}

/// Opens the configured database, creating the data directory for SQLite on first use.
///
/// The embedded database is ours to keep current, before the API or the engine touches it; a
/// shared server database is upgraded explicitly with `vigil db sync`, so replicas of different
/// versions never race on it.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    let store = Store::connect_with(&url, config.database.store_options())
        .await
        .context("opening the database")?;
    if store.backend() == vigil_store::Backend::Sqlite {
        store.migrate().await.context("applying migrations")?;
    }
    Ok(store)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vigil_monitor::cli::init_logging();
    // Installed as a link named fence_vigil, this binary is that fence agent: Pacemaker's
    // fencer finds agents by name and speaks the fence-agents protocol, not this CLI.
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    // Likewise `vigil-pacemaker-alert`: Pacemaker runs an alert agent's path without arguments.
    match std::path::Path::new(&program)
        .file_name()
        .and_then(|n| n.to_str())
    {
        Some("fence_vigil") => {
            let code = vigil_pacemaker::fence_vigil_main(args.collect()).await;
            std::process::exit(code.into());
        }
        Some("vigil-pacemaker-alert") => return pacemaker_cmd::pacemaker_alert(None).await,
        _ => {}
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        Command::Db {
            command: DbCommand::Sync(common),
        } => {
            let config = load_config(&common, None, &MetricsArgs::default())?;
            // open_store already brings the embedded database up to date.
            let store = open_store(&config).await?;
            if store.backend() != vigil_store::Backend::Sqlite {
                store.migrate().await.context("applying migrations")?;
            }
            tracing::info!(database = %redact(&config.database_url()), "database schema is up to date");
            Ok(())
        }
        Command::Fence { command, common } => {
            let config = load_config(&common, None, &MetricsArgs::default())?;
            // The database tells a host's segment; without one, `--segment` must.
            let store = open_store(&config).await.ok();
            if !fence_cmd::run(command, &config, store).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Capacity { args, common } => {
            let config = load_config(&common, None, &MetricsArgs::default())?;
            capacity_cmd::run(args, &config).await
        }
        Command::Plan { args, common } => {
            let config = load_config(&common, None, &MetricsArgs::default())?;
            plan_cmd::run(args, &config).await
        }
        Command::Monitor { command } => vigil_monitor::cli::run(command).await,
        Command::Notify(args) => vigil_monitor::cli::notify(args).await,
        Command::Watch(args) => std::process::exit(watch_cmd::run(args).await.into()),
        Command::Alerter(args) => pacemaker_cmd::alerter(args).await,
        Command::PacemakerAlert { outbox } => pacemaker_cmd::pacemaker_alert(outbox).await,
        Command::Api(args) => serve(&args, false).await,
        Command::Engine(args) => {
            let config = load_config(&args.common, None, &args.metrics)?;
            let store = open_store(&config).await?;
            let Some(session) = openstack_session(&config)? else {
                anyhow::bail!("the engine needs Nova: set [openstack] auth_url and credentials");
            };
            let metrics = vigil_metrics::Metrics::new();
            let listener = metrics_server::bind(config.metrics.listen, &metrics, &store).await?;
            let engine = engine(&config, store, session, metrics)?;
            let served = tokio::try_join!(
                async {
                    shutdown_signal().await;
                    Ok(())
                },
                metrics_server::serve(listener, shutdown_signal())
            );
            engine.shutdown().await?;
            served.map(drop)
        }
        Command::Serve(args) => serve(&args, true).await,
    }
}

/// `vigil serve` (`with_engine`) and `vigil api`: the API and the metrics until SIGINT or
/// SIGTERM, and beside them the recovery engine when asked for and Nova is configured.
async fn serve(args: &ServiceArgs, with_engine: bool) -> anyhow::Result<()> {
    let config = load_config(&args.common, args.listen, &args.metrics)?;
    let store = open_store(&config).await?;
    let session = openstack_session(&config)?;
    let metrics = vigil_metrics::Metrics::new();
    let listener = metrics_server::bind(config.metrics.listen, &metrics, &store).await?;
    let engine = match (&session, with_engine) {
        (Some(s), true) => Some(engine(&config, store.clone(), s.clone(), metrics.clone())?),
        (None, true) => {
            tracing::warn!("no [openstack] credentials: serving the API without a recovery engine");
            None
        }
        (_, false) => None,
    };
    let waker = engine.as_ref().map(|e| e.waker());
    // Either failing ends both: no metrics for an API that could not start.
    let result = tokio::try_join!(
        run_api(&config, store, waker, session, metrics),
        metrics_server::serve(listener, shutdown_signal())
    );
    if let Some(engine) = engine {
        engine.shutdown().await?;
    }
    result.map(drop)
}

/// Serves the API until SIGINT or SIGTERM, then finishes the requests in flight.
async fn run_api(
    config: &Config,
    store: Store,
    on_notification: Option<std::sync::Arc<dyn Fn() + Send + Sync>>,
    session: Option<std::sync::Arc<vigil_openstack::Session>>,
    metrics: vigil_metrics::Metrics,
) -> anyhow::Result<()> {
    let mut state = vigil_api::ApiState::new(store.clone());
    state.on_notification = on_notification;
    state.metrics = metrics;
    if let Some(session) = &session {
        // The status page's headroom, by the engine's own assessment.
        state.headroom = Some(std::sync::Arc::new(headroom_source::CapacityHeadroom::new(
            vigil_capacity::Sources {
                store,
                nova: vigil_openstack::nova::Compute::new(session.clone()),
                placement: vigil_openstack::placement::Placement::new(session.clone()),
            },
        )));
        state.compute_check = Some(std::sync::Arc::new(
            vigil_api::compute_check::NovaComputeCheck {
                nova: vigil_openstack::nova::Compute::new(session.clone()),
            },
        ));
    }
    state.dedup_window =
        std::time::Duration::from_secs(config.api.duplicate_notification_detection_interval);
    state.max_body_size = config.api.max_request_body_size;
    if !config.api.link_prefix.is_empty() {
        state.link_prefix = Some(config.api.link_prefix.clone());
    }
    if config.api.auth_strategy == config::AuthStrategy::Keystone {
        let Some(session) = session else {
            anyhow::bail!(
                "auth_strategy = \"keystone\" validates tokens with Vigil's own Keystone \
                 credentials: set [openstack] auth_url, username, password and project_name"
            );
        };
        state.auth = vigil_api::auth::Authenticator::keystone(session);
    }
    if let Some(path) = &config.api.policy_file {
        let policy =
            vigil_api::policy::Policy::from_yaml_file(path).context("loading the policy file")?;
        state.policy = std::sync::Arc::new(policy);
    }
    state.limits = api_limits(&config.api);
    let tls = match (&config.api.tls_cert_file, &config.api.tls_key_file) {
        (Some(cert), Some(key)) => Some(std::sync::Arc::new(
            api_server::tls::Certificates::load(cert, key).context("setting up the API's TLS")?,
        )),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    state.scheme = scheme;
    tracing::info!(%address, scheme, database = %redact(&config.database_url()), "API listening");
    let limits = api_server::Limits {
        max_connections: config.api.max_connections,
        max_header_size: config.api.max_header_size,
        header_read_timeout: std::time::Duration::from_secs(config.api.header_read_timeout),
    };
    let app = vigil_api::router(state);
    api_server::serve(listener, app, tls, limits, shutdown_signal())
        .await
        .context("serving the API")?;
    tracing::info!("API stopped");
    Ok(())
}

/// The request limits `vigil_api` answers with faults: header size, per-client rate.
fn api_limits(api: &config::ApiConfig) -> vigil_api::limits::Limits {
    use std::num::NonZeroU32;
    let client_rate = NonZeroU32::new(api.client_rate_limit).map(|per_second| {
        let burst = NonZeroU32::new(api.client_rate_burst).unwrap_or(per_second);
        let rate = vigil_api::limits::ClientRate { per_second, burst };
        std::sync::Arc::new(vigil_api::limits::ClientRateLimiter::new(rate))
    });
    vigil_api::limits::Limits {
        max_header_size: api.max_header_size,
        client_rate,
    }
}

/// The process's Keystone session when `[openstack]` is configured: one token, kept fresh in
/// the background. Made once where a command starts and handed to the API (token validation,
/// host checks) and the engine.
fn openstack_session(
    config: &Config,
) -> anyhow::Result<Option<std::sync::Arc<vigil_openstack::Session>>> {
    if !config.openstack.is_configured() {
        return Ok(None);
    }
    let session = vigil_openstack::Session::new(config.openstack.clone())
        .context("setting up the OpenStack session")?;
    let session = std::sync::Arc::new(session);
    session.keep_token_fresh();
    Ok(Some(session))
}

/// The recovery engine, and beside it the headroom check (a reconciler of its own, so that
/// reading Placement never delays a recovery).
struct RunningEngine {
    engine: vigil_engine::EngineHandle,
    headroom: Option<vigil_engine::headroom::HeadroomHandle>,
}

impl RunningEngine {
    fn waker(&self) -> std::sync::Arc<dyn Fn() + Send + Sync> {
        self.engine.waker()
    }

    async fn shutdown(self) -> anyhow::Result<()> {
        if let Some(h) = self.headroom {
            h.shutdown().await.context("the headroom check")?;
        }
        self.engine.shutdown().await.context("the engine")
    }
}

/// The recovery engine, talking to Nova through `session`.
fn engine(
    config: &Config,
    store: Store,
    session: std::sync::Arc<vigil_openstack::Session>,
    metrics: vigil_metrics::Metrics,
) -> anyhow::Result<RunningEngine> {
    let headroom = (config.engine.headroom_check_secs > 0).then(|| {
        let sources = vigil_capacity::Sources {
            store: store.clone(),
            nova: vigil_openstack::nova::Compute::new(session.clone()),
            placement: vigil_openstack::placement::Placement::new(session.clone()),
        };
        let every = std::time::Duration::from_secs(config.engine.headroom_check_secs);
        vigil_engine::headroom::start(sources, every, metrics.clone())
    });
    let parts = vigil_engine::EngineParts {
        store,
        nova: std::sync::Arc::new(vigil_engine::nova_rest::NovaRest::new(session)),
        fencer: std::sync::Arc::new(vigil_engine::fence::Gate::new(config.fencing.clone())),
        // Unique per process, readable in the database: which engine holds a notification.
        owner: format!(
            "{}:{}:{}",
            hostname(),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ),
        metrics,
    };
    let engine = vigil_engine::Engine::start(config.engine.clone(), parts)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(RunningEngine { engine, headroom })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "vigil".to_owned())
}

/// An error and its causes on one line, for messages to operators.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    vigil_domain::ErrorChain(e).to_string()
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}
