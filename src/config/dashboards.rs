//! The `dashboards:` section: where provisioned dashboard JSON files live.
//!
//! Owns the shape of the section only; loading the files is `crate::dashboards`'s job.

use serde::Deserialize;

/// `dashboards:` — Grafana-style provisioning from a folder of JSON files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardsConfig {
    /// A folder whose `*.json` files (our dashboard JSON or Grafana's) are loaded at start.
    /// Relative to the configuration file's directory. Unset: no provisioning.
    #[serde(default)]
    pub path: Option<String>,
}

#[cfg(test)]
mod tests {
    use crate::config::parse_str;

    #[test]
    fn path_is_read_and_unknown_keys_are_refused() {
        let config = parse_str("dashboards:\n  path: dash\n", "t.yml").unwrap();
        assert_eq!(config.dashboards.path.as_deref(), Some("dash"));
        let err = parse_str("dashboards:\n  folder: dash\n", "t.yml").unwrap_err();
        assert!(err.to_string().contains("t.yml:2"), "{err}");
    }
}
