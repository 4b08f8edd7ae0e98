//! The YAML configuration file: its shape, defaults and validation.
//!
//! Owns reading one file, parsing it (shaped like Prometheus's `prometheus.yml` where
//! the concept is the same), filling in inherited defaults and checking it, with every
//! problem reported as `file:line:column: message`. It must not act on the
//! configuration: no I/O beyond reading the file, no sockets, no storage.

pub mod alerting;
mod dashboards;
mod error;
mod fields;
mod incidents;
pub mod models;
mod paths;
mod positions;
mod redact;
mod scrape;
mod sections;
mod units;
mod validate;

use std::path::Path;

use serde::Deserialize;

pub use dashboards::DashboardsConfig;
pub use error::{ConfigError, Position, Problem};
pub use fields::Secret;
pub use incidents::{ActionConfig, ActionTrigger, HttpCallConfig, IncidentsConfig};
pub(crate) use positions::Node as YamlNode;
pub use redact::redact_secrets;
pub use scrape::{embedded, embedded_yaml, FileSdConfig, HttpSdConfig};
pub use sections::{
    Authorization, BasicAuth, Fsync, GlobalConfig, QueueConfig, RelabelAction, RelabelConfig, RelabelRegex,
    RemoteWriteConfig, Scheme, ScrapeConfig, ServerConfig, StaticConfig, StorageConfig, TlsConfig,
    DEFAULT_PORT,
};
pub use units::{ByteSize, PromDuration, UnitError};

use positions::Positions;

/// The built-in configuration spelled out as YAML: parsing it gives
/// `Config::default()` plus jobs scraping the server itself (a test checks this);
/// `/api/v1/status/config` shows it when the server runs without `--config`.
pub const DEFAULTS_YAML: &str = include_str!("defaults.yml");

/// A whole configuration file. `Config::default()` is an empty file; without `--config`
/// the server runs [`embedded`] (the defaults plus jobs scraping itself).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Defaults for jobs and rules, and external labels.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub global: GlobalConfig,
    /// The jobs to scrape; intervals and timeouts already resolved against `global`.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Globs naming rule files; `load_file` makes relative ones relative to the config file.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub rule_files: Vec<String>,
    /// Endpoints that receive a copy of every sample.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub remote_write: Vec<RemoteWriteConfig>,
    /// The embedded time-series database (Sightline's own section).
    #[serde(default, deserialize_with = "fields::nullable")]
    pub storage: StorageConfig,
    /// The HTTP listener (Sightline's own section).
    #[serde(default, deserialize_with = "fields::nullable")]
    pub server: ServerConfig,
    /// Where alerts go: external Alertmanagers and Sightline's own notifier.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub alerting: alerting::AlertingConfig,
    /// Incidents opened by firing alert groups, and their automated actions.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub incidents: IncidentsConfig,
    /// ML models to monitor (Sightline's own section); undeclared models register on first event.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub models: Vec<models::ModelConfig>,
    /// Dashboards provisioned from a folder (Sightline's own section).
    #[serde(default, deserialize_with = "fields::nullable")]
    pub dashboards: DashboardsConfig,
}

/// Reads, parses and validates the configuration file at `path`.
///
/// As in Prometheus, relative file names in it (rule files, password and TLS files,
/// the query log) are taken relative to the directory holding the file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    load_file_with_text(path).map(|(config, _)| config)
}

/// [`load_file`], also returning the file's text as read (for `/api/v1/status/config`).
pub fn load_file_with_text(path: &Path) -> Result<(Config, String), ConfigError> {
    let file_name = path.display().to_string();
    let yaml = std::fs::read_to_string(path)
        .map_err(|err| ConfigError::whole_file(&file_name, format!("cannot read configuration: {err}")))?;
    let mut config = parse_str(&yaml, &file_name)?;
    paths::rebase(&mut config, path.parent().unwrap_or(Path::new("")));
    load_alertmanager_file(&mut config)?;
    Ok((config, yaml))
}

/// Parses and validates `yaml`; `file_name` only labels the errors.
///
/// An empty document (or one with only comments) is the default configuration.
pub fn parse_str(yaml: &str, file_name: &str) -> Result<Config, ConfigError> {
    let options = serde_saphyr::options! { with_snippet: false };
    let parsed: Option<Config> = serde_saphyr::from_str_with_options(yaml, options)
        .map_err(|err| ConfigError::from_yaml(file_name, &err))?;
    let mut config = parsed.unwrap_or_default();
    let violations = validate::resolve_and_check(&mut config);
    if violations.is_empty() {
        return Ok(config);
    }
    let positions = Positions::of(yaml);
    let problems = violations
        .into_iter()
        .map(|v| Problem {
            file: file_name.to_string(),
            position: positions.find(&v.path),
            message: v.message,
        })
        .collect();
    Err(ConfigError { problems })
}

/// Fills `alerting` from the `alertmanager.yml` that `alerting.config_file` names.
fn load_alertmanager_file(config: &mut Config) -> Result<(), ConfigError> {
    let Some(file) = config.alerting.config_file.clone() else {
        return Ok(());
    };
    let yaml = std::fs::read_to_string(&file).map_err(|err| {
        ConfigError::whole_file(&file, format!("cannot read Alertmanager configuration: {err}"))
    })?;
    let options = serde_saphyr::options! { with_snippet: false };
    let parsed: Option<alerting::AlertmanagerFile> = serde_saphyr::from_str_with_options(&yaml, options)
        .map_err(|err| ConfigError::from_yaml(&file, &err))?;
    let mut included = parsed.unwrap_or_default();
    paths::rebase_alertmanager_file(&mut included, Path::new(&file).parent().unwrap_or(Path::new("")));
    config.alerting.fill_from(included);
    let violations = alerting::check(&config.alerting);
    if violations.is_empty() {
        return Ok(());
    }
    let positions = Positions::of(&yaml);
    let problems = violations
        .into_iter()
        .map(|v| Problem {
            file: file.clone(),
            position: positions.find(v.path.trim_start_matches("alerting.")),
            message: v.message,
        })
        .collect();
    Err(ConfigError { problems })
}

#[cfg(test)]
mod tests;
