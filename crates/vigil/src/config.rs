//! The service configuration: a typed TOML file, overridden by `VIGIL_*` environment variables,
//! overridden by command-line flags.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `vigil serve`, `vigil api` and `vigil db sync` read. See `vigil config example`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the API listens on; port 0 picks a free port (the bound address is logged).
    pub listen: SocketAddr,
    /// Directory for the embedded SQLite database and other local state.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub api: ApiConfig,
    pub metrics: MetricsConfig,
    /// Credentials for Nova (the engine, and the API's host-name check). Unset: no Nova.
    pub openstack: vigil_openstack::Credentials,
    pub engine: vigil_engine::EngineConfig,
    /// Power devices and which hosts they fence (the host flow's fence step, `vigil fence`).
    /// Default: none, every segment `trust-monitor`.
    pub fencing: vigil_fence::config::FencingConfig,
}

/// The Masakari-compatible API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// `noauth` (every caller is an admin; local use) or `keystone`.
    pub auth_strategy: AuthStrategy,
    /// A YAML file of policy rule overrides (oslo.policy syntax); empty: Masakari's defaults.
    pub policy_file: Option<PathBuf>,
    /// Reports of the same type, host and payload within this many seconds are duplicates.
    pub duplicate_notification_detection_interval: u64,
    /// Request bodies larger than this many bytes are refused with 413.
    pub max_request_body_size: usize,
    /// Base URL for links in responses (behind a proxy); empty: from the request's Host.
    pub link_prefix: String,
    /// PEM certificate chain and private key: with both, HTTPS (re-read on SIGHUP).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Request line and headers together larger than this many bytes are refused with 431.
    pub max_header_size: usize,
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, from when its connection opens or
    /// its previous response ends: slow clients and idle keep-alive connections are closed.
    pub header_read_timeout: u64,
    /// Requests per second from one client address, then 429; 0: unlimited.
    pub client_rate_limit: u32,
    /// Requests one client address may send at once before `client_rate_limit` applies.
    pub client_rate_burst: u32,
}

/// Prometheus metrics, on an address of their own so the API's auth and policy stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` here; unset (the default): no metrics listener.
    pub listen: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthStrategy {
    Noauth,
    Keystone,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            auth_strategy: AuthStrategy::Noauth,
            policy_file: None,
            duplicate_notification_detection_interval: 180,
            max_request_body_size: 114_688,
            link_prefix: String::new(),
            tls_cert_file: None,
            tls_key_file: None,
            max_header_size: 32_768,
            max_connections: 512,
            header_read_timeout: 10,
            // Off: in front of OpenStack APIs there is usually a load balancer, through which
            // every client has one address (limit there); set it where clients come directly.
            client_rate_limit: 0,
            client_rate_burst: 20,
        }
    }
}

impl ApiConfig {
    /// Settings that cannot work, named before anything starts.
    fn check(&self) -> Result<(), &'static str> {
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("tls_cert_file and tls_key_file go together: set both or neither");
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1");
        }
        if self.header_read_timeout == 0 {
            return Err("header_read_timeout must be at least 1 second");
        }
        if self.max_header_size < 1024 {
            return Err("max_header_size must be at least 1024 bytes");
        }
        if self.client_rate_limit > 0 && self.client_rate_burst == 0 {
            return Err("client_rate_burst must be at least 1 when client_rate_limit is set");
        }
        Ok(())
    }
}

/// Where notifications, segments and hosts are kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` or `mysql://…` for production; empty means SQLite at `<data_dir>/vigil.sqlite`.
    pub url: String,
    /// A file whose content is the URL, so a password need not sit in the config file.
    pub url_file: Option<PathBuf>,
    /// Seconds an operation waits for a server connection before the API answers 503.
    pub connect_timeout: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            url_file: None,
            connect_timeout: 5,
        }
    }
}

impl DatabaseConfig {
    /// How the store waits on its server.
    pub fn store_options(&self) -> vigil_store::StoreOptions {
        vigil_store::StoreOptions {
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout.max(1)),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 15868)),
            data_dir: PathBuf::from("vigil-data"),
            database: DatabaseConfig::default(),
            api: ApiConfig::default(),
            metrics: MetricsConfig::default(),
            openstack: vigil_openstack::Credentials::default(),
            engine: vigil_engine::EngineConfig::default(),
            fencing: vigil_fence::config::FencingConfig::default(),
        }
    }
}

/// Why the configuration could not be loaded; figment's message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration")]
    Invalid(#[source] Box<figment::Error>),
    /// An unknown driver, a bad template, an unreadable credentials file: one line each.
    #[error("invalid [fencing] configuration")]
    Fencing(#[source] vigil_fence::config::ConfigError),
    /// Values of `[api]` that cannot work together; one line saying which.
    #[error("invalid [api] configuration: {0}")]
    Api(&'static str),
    #[error("reading {path}")]
    ReadSecret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Values given on the command line; they win over the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
}

impl Config {
    /// Layers defaults < `file` < environment < `overrides`.
    ///
    /// Environment variables are `VIGIL_<KEY>` for top-level keys and `VIGIL_<SECTION>__<KEY>`
    /// for keys in a section, e.g. `VIGIL_DATABASE__URL`. Only names of real top-level keys are
    /// read, so unrelated `VIGIL_*` variables (test switches) do not break start-up.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = defaults();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed("VIGIL_").split("__").filter(|key| {
            let top = key.as_str().split('.').next().unwrap_or("");
            TOP_LEVEL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
        });
        figment = figment.merge(env);
        if let Some(listen) = overrides.listen {
            figment = figment.merge(("listen", listen));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(("data_dir", dir));
        }
        if let Some(listen) = overrides.metrics_listen {
            figment = figment.merge(("metrics.listen", listen));
        }
        let mut config = Config::extract(figment)?;
        config.resolve_secret_files()?;
        config.fencing.check().map_err(ConfigError::Fencing)?;
        Ok(config)
    }

    /// `text` as the configuration file over the defaults, with the checks that need nothing
    /// but the values: no environment, no flags, and no file it names is read (`url_file`,
    /// the fencing devices' password and CA files), which [`Config::load`] adds.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Config::extract(defaults().merge(Toml::string(text)))
    }

    /// The layers read into a configuration, and the checks on its values alone.
    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        config.api.check().map_err(ConfigError::Api)?;
        Ok(config)
    }

    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.database.url_file {
            self.database.url = read_secret(path)?;
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or the embedded SQLite file.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite:{}", self.data_dir.join("vigil.sqlite").display())
        } else {
            self.database.url.clone()
        }
    }
}

fn defaults() -> Figment {
    Figment::from(Serialized::defaults(Config::default()))
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database",
    "api",
    "metrics",
    "openstack",
    "engine",
    "fencing",
];

fn read_secret(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| ConfigError::ReadSecret {
            path: path.to_owned(),
            source,
        })
}

/// A commented configuration file equal to the defaults (`vigil config example`).
pub const EXAMPLE: &str = include_str!("config_example.toml");

#[cfg(test)]
// figment's test jail returns its large error type by value; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn example_file_equals_the_defaults() {
        let parsed: Config = Figment::new()
            .merge(Toml::string(EXAMPLE))
            .extract()
            .unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn layers_file_then_env_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vigil.toml",
                "listen = \"127.0.0.1:1\"\ndata_dir = \"/a\"\n",
            )?;
            jail.set_env("VIGIL_DATA_DIR", "/b");
            jail.set_env("VIGIL_DATABASE__URL", "postgres://x/y");
            jail.set_env("VIGIL_LAB", "1");
            let flags = Overrides {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                data_dir: None,
                metrics_listen: None,
            };
            let c = Config::load(Some(Path::new("vigil.toml")), &flags).unwrap();
            assert_eq!(c.listen.port(), 0);
            assert_eq!(c.data_dir, PathBuf::from("/b"));
            assert_eq!(c.database_url(), "postgres://x/y");
            Ok(())
        });
    }

    #[test]
    fn metrics_listen_layers_like_the_rest_and_is_off_by_default() {
        assert_eq!(Config::default().metrics.listen, None);
        figment::Jail::expect_with(|jail| {
            jail.create_file("vigil.toml", "[metrics]\nlisten = \"127.0.0.1:1\"\n")?;
            let file = Some(Path::new("vigil.toml"));
            let c = Config::load(file, &Overrides::default()).unwrap();
            assert_eq!(c.metrics.listen, Some("127.0.0.1:1".parse().unwrap()));
            jail.set_env("VIGIL_METRICS__LISTEN", "127.0.0.1:2");
            let c = Config::load(file, &Overrides::default()).unwrap();
            assert_eq!(c.metrics.listen, Some("127.0.0.1:2".parse().unwrap()));
            let flags = Overrides {
                metrics_listen: Some("127.0.0.1:3".parse().unwrap()),
                ..Overrides::default()
            };
            let c = Config::load(file, &flags).unwrap();
            assert_eq!(c.metrics.listen, Some("127.0.0.1:3".parse().unwrap()));
            Ok(())
        });
    }

    #[test]
    fn unknown_key_is_named_in_the_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[database]\nurll = \"x\"\n")?;
            let Err(ConfigError::Invalid(inner)) =
                Config::load(Some(Path::new("bad.toml")), &Overrides::default())
            else {
                panic!("an unknown key must be refused");
            };
            let msg = inner.to_string();
            assert!(msg.contains("urll"), "{msg}");
            assert!(msg.contains("bad.toml"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_in_one_line() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("tls.toml", "[api]\ntls_cert_file = \"cert.pem\"\n")?;
            let err = Config::load(Some(Path::new("tls.toml")), &Overrides::default())
                .expect_err("a certificate alone must be refused");
            assert_eq!(
                err.to_string(),
                "invalid [api] configuration: tls_cert_file and tls_key_file go together: \
                 set both or neither"
            );
            jail.set_env("VIGIL_API__TLS_KEY_FILE", "key.pem");
            let c = Config::load(Some(Path::new("tls.toml")), &Overrides::default()).unwrap();
            assert_eq!(c.api.tls_key_file, Some(PathBuf::from("key.pem")));
            Ok(())
        });
    }

    #[test]
    fn sqlite_is_the_default_database() {
        assert_eq!(
            Config::default().database_url(),
            "sqlite:vigil-data/vigil.sqlite"
        );
    }

    #[test]
    fn url_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("url");
        std::fs::write(&secret, "mysql://root@127.0.0.1/vigil\n").unwrap();
        let mut c = Config::default();
        c.database.url_file = Some(secret);
        c.resolve_secret_files().unwrap();
        assert_eq!(c.database_url(), "mysql://root@127.0.0.1/vigil");
    }
}
