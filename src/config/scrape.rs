//! Service-discovery sections of a scrape job (`file_sd_configs`, `http_sd_configs`)
//! and the embedded default configuration that scrapes the server itself.
//!
//! Owns their shape and defaults, spelled as Prometheus spells them. Reading the
//! discovered files or URLs belongs to `crate::scrape`, not here.

use std::net::SocketAddr;

use serde::Deserialize;

use super::fields;
use super::sections::{Authorization, BasicAuth, TlsConfig};
use super::units::PromDuration;
use super::{parse_str, Config, ConfigError, DEFAULTS_YAML};

/// One `file_sd_configs` entry: JSON or YAML files listing target groups.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// File names; the last path element may hold a `*` glob.
    pub files: Vec<String>,
    /// Re-read the files at least this often (default `5m`); changes are noticed sooner.
    #[serde(default = "default_file_refresh")]
    pub refresh_interval: PromDuration,
}

fn default_file_refresh() -> PromDuration {
    PromDuration::from_secs(300)
}

/// One `http_sd_configs` entry: a URL answering a JSON list of target groups.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSdConfig {
    #[serde(deserialize_with = "fields::http_url")]
    pub url: String,
    /// How often to fetch the URL (default `1m`).
    #[serde(default = "default_http_refresh")]
    pub refresh_interval: PromDuration,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub tls_config: TlsConfig,
    /// Accepted by the parser so that the error can say why it is refused.
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
}

fn default_http_refresh() -> PromDuration {
    PromDuration::from_secs(60)
}

fn default_true() -> bool {
    true
}

/// The address `defaults.yml` scrapes; replaced by the real listen address.
const DEFAULT_SELF_TARGET: &str = "127.0.0.1:7464";

/// The YAML of the configuration that runs without `--config`, scraping the
/// server's own endpoints at `listen`.
pub fn embedded_yaml(listen: SocketAddr) -> String {
    DEFAULTS_YAML.replace(DEFAULT_SELF_TARGET, &listen.to_string())
}

/// The configuration that runs without `--config`: [`embedded_yaml`] parsed.
pub fn embedded(listen: SocketAddr) -> Result<Config, ConfigError> {
    parse_str(&embedded_yaml(listen), "<embedded defaults>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_scrapes_the_listen_address() {
        let listen: SocketAddr = "0.0.0.0:9999".parse().unwrap();
        let config = embedded(listen).unwrap();
        assert_eq!(config.server.listen, listen);
        let jobs: Vec<(&str, &str)> = config
            .scrape_configs
            .iter()
            .map(|job| (job.job_name.as_str(), job.metrics_path.as_str()))
            .collect();
        assert_eq!(
            jobs,
            [
                ("sightline", "/metrics"),
                ("node", "/metrics/node"),
                ("gpu", "/metrics/gpu")
            ]
        );
        for job in &config.scrape_configs {
            assert_eq!(job.static_configs[0].targets, ["0.0.0.0:9999"]);
            assert_eq!(job.scrape_interval, PromDuration::from_secs(15));
        }
    }

    #[test]
    fn sd_defaults_match_prometheus() {
        let yaml = "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: [t/*.json]}]\n    http_sd_configs: [{url: 'http://sd/'}]\n";
        let config = parse_str(yaml, "t.yml").unwrap();
        let job = &config.scrape_configs[0];
        assert_eq!(
            job.file_sd_configs[0].refresh_interval,
            PromDuration::from_secs(300)
        );
        assert_eq!(
            job.http_sd_configs[0].refresh_interval,
            PromDuration::from_secs(60)
        );
        assert!(job.enable_compression && job.follow_redirects && job.honor_timestamps);
    }
}
