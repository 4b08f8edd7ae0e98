//! The configuration sections, field for field as they are spelled in YAML.
//!
//! Owns the shape of the file and each field's default. Durations left at zero in
//! `global` and `scrape_configs` mean "not set" and are filled in by `validate`,
//! exactly as Prometheus does.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use regex::Regex;
use serde::{Deserialize, Deserializer};

use super::fields::{self, Secret};
use super::scrape::{FileSdConfig, HttpSdConfig};
use super::units::{ByteSize, PromDuration};

/// `global`: defaults for every job, and labels added to everything sent out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// How often to scrape targets (default `1m`).
    #[serde(default)]
    pub scrape_interval: PromDuration,
    /// How long a scrape may take (default `10s`, never more than `scrape_interval`).
    #[serde(default)]
    pub scrape_timeout: PromDuration,
    /// How often to evaluate rules (default `1m`).
    #[serde(default)]
    pub evaluation_interval: PromDuration,
    /// Labels added to series and alerts leaving Sightline (remote write, notifications).
    #[serde(default, deserialize_with = "fields::label_map")]
    pub external_labels: BTreeMap<String, String>,
    /// File to log every PromQL query to; no query log when absent.
    #[serde(default)]
    pub query_log_file: Option<String>,
}

pub(crate) const DEFAULT_SCRAPE_INTERVAL: PromDuration = PromDuration::from_secs(60);
pub(crate) const DEFAULT_SCRAPE_TIMEOUT: PromDuration = PromDuration::from_secs(10);
pub(crate) const DEFAULT_EVALUATION_INTERVAL: PromDuration = PromDuration::from_secs(60);

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            external_labels: BTreeMap::new(),
            query_log_file: None,
        }
    }
}

/// One entry of `scrape_configs`: a job and how to scrape its targets.
///
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The `job` label of everything scraped; unique across jobs.
    pub job_name: String,
    /// Inherited from `global` when absent or `0`.
    #[serde(default)]
    pub scrape_interval: PromDuration,
    /// Inherited from `global` (capped at this job's interval) when absent or `0`.
    #[serde(default)]
    pub scrape_timeout: PromDuration,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default)]
    pub scheme: Scheme,
    /// URL query parameters sent with each scrape.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep the target's labels when they clash with Sightline's own.
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps the target exposes (default `true`).
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub static_configs: Vec<StaticConfig>,
    /// Limits below are `0` for "no limit".
    #[serde(default)]
    pub sample_limit: u64,
    #[serde(default)]
    pub label_limit: u64,
    #[serde(default)]
    pub label_name_length_limit: u64,
    #[serde(default)]
    pub label_value_length_limit: u64,
    #[serde(default)]
    pub body_size_limit: ByteSize,
    #[serde(default)]
    pub target_limit: u64,
    /// Ask targets for gzip-compressed bodies (default `true`).
    #[serde(default = "default_true")]
    pub enable_compression: bool,
    /// Follow HTTP redirects (default `true`; at most 10, as Prometheus).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub tls_config: TlsConfig,
    /// Accepted by the parser so that the error can say why it is refused.
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// Applied to each discovered target before it is scraped.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Applied to each scraped sample before it is stored.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_true() -> bool {
    true
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        })
    }
}

/// A fixed list of targets sharing a set of labels.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses.
    #[serde(default, deserialize_with = "fields::targets")]
    pub targets: Vec<String>,
    #[serde(default, deserialize_with = "fields::label_map")]
    pub labels: BTreeMap<String, String>,
}

/// One entry of `remote_write`: an endpoint that receives a copy of every sample.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    #[serde(deserialize_with = "fields::http_url")]
    pub url: String,
    /// Unique among `remote_write` entries when set; names the queue in metrics and logs.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_remote_timeout")]
    pub remote_timeout: PromDuration,
    #[serde(default, deserialize_with = "fields::headers")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub queue_config: QueueConfig,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub tls_config: TlsConfig,
}

fn default_remote_timeout() -> PromDuration {
    PromDuration::from_secs(30)
}

/// How samples are batched and retried on their way to a remote endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Samples buffered per shard.
    pub capacity: u64,
    pub max_shards: u64,
    pub min_shards: u64,
    pub max_samples_per_send: u64,
    /// Longest a sample waits in a shard before its batch is sent anyway.
    pub batch_send_deadline: PromDuration,
    /// Retry backoff starts here and doubles up to `max_backoff`.
    pub min_backoff: PromDuration,
    pub max_backoff: PromDuration,
}

/// Prometheus's defaults.
impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: PromDuration::from_secs(5),
            min_backoff: PromDuration::from_millis(30),
            max_backoff: PromDuration::from_secs(5),
        }
    }
}

/// HTTP basic authentication; the password inline or read from a file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub username_file: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_file: Option<String>,
}

/// An `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Default `Bearer`.
    #[serde(default = "default_authorization_type")]
    pub r#type: String,
    #[serde(default)]
    pub credentials: Option<Secret>,
    #[serde(default)]
    pub credentials_file: Option<String>,
}

fn default_authorization_type() -> String {
    "Bearer".to_string()
}

/// TLS settings for outgoing connections.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate to verify the server with, instead of the system roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Client certificate and key; both or neither.
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    /// Name to verify the server certificate against, if not the URL's host.
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// One relabelling step, as Prometheus's `relabel_config`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default, deserialize_with = "fields::label_names")]
    pub source_labels: Vec<String>,
    /// Joins the source label values (default `;`).
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Matched against the joined values, anchored at both ends (default `(.*)`).
    #[serde(default)]
    pub regex: RelabelRegex,
    /// For `hashmod`.
    #[serde(default)]
    pub modulus: u64,
    #[serde(default)]
    pub target_label: String,
    /// Default `$1`.
    #[serde(default = "default_replacement")]
    pub replacement: String,
    #[serde(default)]
    pub action: RelabelAction,
}

pub(crate) const DEFAULT_SEPARATOR: &str = ";";
pub(crate) const DEFAULT_REPLACEMENT: &str = "$1";

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_string()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_string()
}

/// What a relabelling step does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelabelAction {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl fmt::Display for RelabelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            RelabelAction::Replace => "replace",
            RelabelAction::Keep => "keep",
            RelabelAction::Drop => "drop",
            RelabelAction::KeepEqual => "keepequal",
            RelabelAction::DropEqual => "dropequal",
            RelabelAction::HashMod => "hashmod",
            RelabelAction::LabelMap => "labelmap",
            RelabelAction::LabelDrop => "labeldrop",
            RelabelAction::LabelKeep => "labelkeep",
            RelabelAction::Lowercase => "lowercase",
            RelabelAction::Uppercase => "uppercase",
        };
        f.write_str(name)
    }
}

/// A relabelling regex as written, and compiled to match whole values.
#[derive(Debug, Clone)]
pub struct RelabelRegex {
    source: String,
    anchored: Regex,
}

impl RelabelRegex {
    /// Compiles `source` so that it must match the whole value, as Prometheus does.
    pub fn new(source: &str) -> Result<Self, String> {
        let anchored = Regex::new(&format!("^(?s:{source})$")).map_err(|err| {
            // The regex crate explains syntax errors over several lines; keep the gist.
            let text = err.to_string();
            let gist = text
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            format!("invalid regex {source:?}: {gist}")
        })?;
        Ok(RelabelRegex {
            source: source.to_string(),
            anchored,
        })
    }

    /// The regex as written in the file.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled regex, anchored at both ends.
    pub fn regex(&self) -> &Regex {
        &self.anchored
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        RelabelRegex {
            source: "(.*)".to_string(),
            anchored: Regex::new("^(?s:(.*))$").expect("constant regex"),
        }
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        RelabelRegex::new(&source).map_err(serde::de::Error::custom)
    }
}

/// `storage`: Sightline's embedded time-series database.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Samples older than this are deleted (default `15d`).
    pub retention_time: PromDuration,
    /// Oldest data is deleted beyond this size; `0` (default) is unlimited.
    pub retention_size: ByteSize,
    /// When the WAL is fsynced: `interval` (default, every second) or `always` (before each acknowledgement).
    pub fsync: Fsync,
    /// How far behind the newest sample of a series a sample may still be accepted (default `0`).
    pub out_of_order_time_window: PromDuration,
    /// Memory for sled's page caches (default `64MB`): three quarters for the
    /// samples' database, one for the aux database.
    pub cache_capacity: ByteSize,
    /// Samples stamped further in the future than this are refused (default `10m`).
    pub max_future: PromDuration,
    /// New series beyond this many are refused; `0` (default) is unlimited.
    pub max_series: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            retention_time: PromDuration::from_secs(15 * 24 * 3600),
            retention_size: ByteSize::ZERO,
            fsync: Fsync::Interval,
            out_of_order_time_window: PromDuration::ZERO,
            cache_capacity: ByteSize::from_mib(64),
            max_future: PromDuration::from_secs(600),
            max_series: 0,
        }
    }
}

/// When the write-ahead log (WAL) is fsynced to disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// `always`: the WAL is fsynced before each write is acknowledged, so nothing
    /// acknowledged is lost on power failure; slower under many small writes.
    Always,
    /// `interval` (default): the WAL is fsynced every second, so up to a second of
    /// acknowledged writes can be lost on power failure (not on a crash of Sightline alone).
    #[default]
    Interval,
}

/// Sightline's default port: outside the fully allocated exporter range 9100–9999 and
/// clear of Prometheus (9090), Alertmanager (9093), node_exporter (9100), Grafana (3000)
/// and the OpenTelemetry Prometheus exporter (9464).
pub const DEFAULT_PORT: u16 = 7464;

/// `server`: Sightline's HTTP listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `IP:PORT` to serve the API and UI on (default `127.0.0.1:7464`).
    #[serde(deserialize_with = "fields::listen_addr")]
    pub listen: SocketAddr,
    /// Largest request body accepted, as sent (default `32MB`).
    pub max_request_body_size: ByteSize,
    /// Largest remote-write request accepted once decompressed (default `128MB`).
    pub remote_write_max_decompressed_size: ByteSize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            max_request_body_size: ByteSize::from_mib(32),
            remote_write_max_decompressed_size: ByteSize::from_mib(128),
        }
    }
}
