//! From a discovered address to a scrape target, as Prometheus's `PopulateLabels`.
//!
//! Owns the target labels (`job`, `__address__`, `__scheme__`, `__metrics_path__`,
//! `__param_*`, `__scrape_interval__`, `__scrape_timeout__`), the job's
//! `relabel_configs`, `instance` defaulting to the address, `__meta_*` removal
//! and the scrape URL. Touches no network.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::config::{PromDuration, ScrapeConfig};
use crate::relabel::{relabel_builder, LabelBuilder};
use crate::storage::Labels;

pub const ADDRESS: &str = "__address__";
const SCHEME: &str = "__scheme__";
const METRICS_PATH: &str = "__metrics_path__";
const SCRAPE_INTERVAL: &str = "__scrape_interval__";
const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
const PARAM_PREFIX: &str = "__param_";
const META_PREFIX: &str = "__meta_";
const RESERVED_PREFIX: &str = "__";

/// A set of targets sharing labels, as service discovery reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Each target's own labels; `__address__` at least.
    pub targets: Vec<BTreeMap<String, String>>,
    /// Labels for every target of the group (a target's own labels win).
    pub labels: BTreeMap<String, String>,
}

impl TargetGroup {
    /// A group of plain `host:port` addresses.
    pub fn from_addresses(addresses: &[String], labels: &BTreeMap<String, String>) -> Self {
        TargetGroup {
            targets: addresses
                .iter()
                .map(|address| BTreeMap::from([(ADDRESS.to_string(), address.clone())]))
                .collect(),
            labels: labels.clone(),
        }
    }
}

/// A target that will be scraped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Labels after relabelling, `__`-prefixed ones (but not `__meta_*`) included.
    pub labels: Labels,
    /// Labels as discovered, before relabelling.
    pub discovered: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
}

impl Target {
    /// The labels every sample of this target gets: those without a `__` prefix.
    pub fn public_labels(&self) -> Labels {
        let public = self
            .labels
            .iter()
            .filter(|l| !l.name.starts_with(RESERVED_PREFIX));
        Labels::from_sorted(public.cloned().collect())
    }

    /// Identity of the target within its job: same labels and URL, same target.
    pub fn identity(&self) -> u64 {
        let mut hasher = rustc_hash::FxHasher::default();
        self.labels.hash(&mut hasher);
        self.url.hash(&mut hasher);
        hasher.finish()
    }
}

/// What became of one discovered target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Active(Target),
    /// Dropped by relabelling; the discovered labels are kept for `/api/v1/targets`.
    Dropped(Labels),
    /// Unusable (no address, bad interval); the reason is logged.
    Invalid(String),
}

/// Turns each target of `group` into an [`Outcome`].
pub fn targets_of_group(group: &TargetGroup, job: &ScrapeConfig) -> Vec<Outcome> {
    group
        .targets
        .iter()
        .map(|own| {
            let mut merged = group.labels.clone();
            merged.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            populate(Labels::from_pairs(merged), job)
        })
        .collect()
}

/// Prometheus's `PopulateLabels`: job defaults, relabelling, checks, `instance`.
pub fn populate(discovered: Labels, job: &ScrapeConfig) -> Outcome {
    let discovered = with_job_defaults(discovered, job);
    let mut builder = LabelBuilder::new(discovered.clone());
    if !relabel_builder(&mut builder, &job.relabel_configs) {
        return Outcome::Dropped(discovered);
    }
    match finish(builder, &job.params) {
        Ok(target) => Outcome::Active(Target { discovered, ..target }),
        Err(reason) => Outcome::Invalid(reason),
    }
}

/// Sets the job's labels where discovery did not set them.
fn with_job_defaults(discovered: Labels, job: &ScrapeConfig) -> Labels {
    let mut builder = LabelBuilder::new(discovered);
    let defaults = [
        ("job", job.job_name.clone()),
        (SCRAPE_INTERVAL, job.scrape_interval.to_string()),
        (SCRAPE_TIMEOUT, job.scrape_timeout.to_string()),
        (METRICS_PATH, job.metrics_path.clone()),
        (SCHEME, job.scheme.to_string()),
    ];
    for (name, value) in defaults {
        if builder.get(name).is_empty() {
            builder.set(name, &value);
        }
    }
    for (name, values) in &job.params {
        let label = format!("{PARAM_PREFIX}{name}");
        if let Some(first) = values.first() {
            if builder.get(&label).is_empty() {
                builder.set(&label, first);
            }
        }
    }
    builder.into_labels()
}

/// The checks and defaults after relabelling.
fn finish(mut builder: LabelBuilder, params: &BTreeMap<String, Vec<String>>) -> Result<Target, String> {
    let address = with_default_port(builder.get(ADDRESS), builder.get(SCHEME))?;
    builder.set(ADDRESS, &address);
    let interval = duration_label(&builder, SCRAPE_INTERVAL, "interval")?;
    let timeout = duration_label(&builder, SCRAPE_TIMEOUT, "timeout")?;
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            builder.get(SCRAPE_TIMEOUT),
            builder.get(SCRAPE_INTERVAL)
        ));
    }
    builder.retain(|l| !l.name.starts_with(META_PREFIX));
    if builder.get("instance").is_empty() {
        builder.set("instance", &address);
    }
    let labels = builder.into_labels();
    let url = scrape_url(&labels, params);
    Ok(Target {
        discovered: Labels::default(),
        labels,
        url,
        interval,
        timeout,
    })
}

/// Prometheus 2.42 adds the scheme's port to an address without one.
fn with_default_port(address: &str, scheme: &str) -> Result<String, String> {
    if address.is_empty() {
        return Err("no address".into());
    }
    if address.contains('/') || address.contains(char::is_whitespace) {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    if has_port(address) {
        return Ok(address.to_string());
    }
    match scheme {
        "http" | "" => Ok(format!("{address}:80")),
        "https" => Ok(format!("{address}:443")),
        other => Err(format!("invalid scheme: {other:?}")),
    }
}

fn has_port(address: &str) -> bool {
    match address.rsplit_once(':') {
        Some((host, port)) => {
            let bracketed_v6 = host.starts_with('[') && host.ends_with(']');
            let plain_host = !host.contains(':');
            (bracketed_v6 || plain_host) && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

fn duration_label(builder: &LabelBuilder, name: &str, what: &str) -> Result<Duration, String> {
    let text = builder.get(name);
    let parsed: PromDuration = text
        .parse()
        .map_err(|err| format!("error parsing scrape {what} {text:?}: {err}"))?;
    if parsed.is_zero() {
        return Err(format!("scrape {what} cannot be 0"));
    }
    Ok(parsed.into())
}

/// `scheme://address/path?params`: the job's `params`, each first value overridden
/// by its `__param_*` label, keys sorted as Go's `url.Values.Encode`.
fn scrape_url(labels: &Labels, params: &BTreeMap<String, Vec<String>>) -> String {
    let mut params = params.clone();
    for label in labels.iter() {
        if let Some(name) = label.name.strip_prefix(PARAM_PREFIX) {
            let values = params.entry(name.to_string()).or_default();
            match values.first_mut() {
                Some(first) => first.clone_from(&label.value),
                None => values.push(label.value.clone()),
            }
        }
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, values) in &params {
        for value in values {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    let separator = if query.is_empty() { "" } else { "?" };
    format!(
        "{}://{}{}{separator}{query}",
        labels.get(SCHEME),
        labels.get(ADDRESS),
        labels.get(METRICS_PATH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    fn job(yaml: &str) -> ScrapeConfig {
        let config = parse_str(&format!("scrape_configs:\n  - job_name: j\n{yaml}"), "t.yml").unwrap();
        config.scrape_configs.into_iter().next().unwrap()
    }

    fn address(addr: &str) -> Labels {
        Labels::from_pairs([(ADDRESS, addr), ("__meta_x", "m")])
    }

    fn active(outcome: Outcome) -> Target {
        match outcome {
            Outcome::Active(target) => target,
            other => panic!("expected an active target, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_labels_url_and_instance() {
        let job = job("    scrape_interval: 5s\n    params: {module: [a, b]}\n");
        let target = active(populate(address("h:9100"), &job));
        assert_eq!(target.url, "http://h:9100/metrics?module=a&module=b");
        assert_eq!(target.interval, Duration::from_secs(5));
        assert_eq!(
            target.public_labels(),
            Labels::from_pairs([("instance", "h:9100"), ("job", "j")])
        );
        assert_eq!(target.discovered.get("__meta_x"), "m");
        assert_eq!(target.labels.get("__meta_x"), "");
        assert_eq!(target.labels.get("__scrape_timeout__"), "5s");
    }

    #[test]
    fn relabelling_can_drop_rewrite_and_set_params() {
        let job = job("    relabel_configs:\n      - {source_labels: [__meta_x], regex: m, action: drop}\n");
        assert!(matches!(populate(address("h:1"), &job), Outcome::Dropped(_)));
        let job = super::tests::job(
            "    relabel_configs:\n      - {target_label: __param_target, source_labels: [__address__]}\n      - {target_label: __address__, replacement: 'probe:9115'}\n      - {target_label: __metrics_path__, replacement: /probe}\n",
        );
        let target = active(populate(address("example.org:80"), &job));
        assert_eq!(target.url, "http://probe:9115/probe?target=example.org%3A80");
        assert_eq!(target.labels.get("instance"), "probe:9115");
    }

    #[test]
    fn a_missing_port_follows_the_scheme() {
        let target = active(populate(address("h"), &job("    scheme: https\n")));
        assert_eq!(target.url, "https://h:443/metrics");
        assert!(has_port("[::1]:80") && !has_port("::1") && !has_port("h"));
    }

    #[test]
    fn bad_targets_say_why() {
        let job = job("    relabel_configs:\n      - {target_label: __scrape_interval__, replacement: 0s}\n");
        assert_eq!(
            populate(address("h:1"), &job),
            Outcome::Invalid("scrape interval cannot be 0".into())
        );
        let empty = populate(Labels::default(), &super::tests::job(""));
        assert_eq!(empty, Outcome::Invalid("no address".into()));
    }
}
