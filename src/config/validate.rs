//! Checks that span several values, and filling in inherited defaults.
//!
//! Owns the rules Prometheus applies after parsing (unique job names, timeouts
//! within intervals, settings that exclude each other). Each problem names the
//! dotted path of the value at fault; `positions` turns that into line and column.

use std::collections::HashSet;

use super::sections::{
    Authorization, BasicAuth, GlobalConfig, QueueConfig, RelabelAction, RelabelConfig, RemoteWriteConfig,
    ScrapeConfig, ServerConfig, TlsConfig, DEFAULT_EVALUATION_INTERVAL, DEFAULT_REPLACEMENT,
    DEFAULT_SCRAPE_INTERVAL, DEFAULT_SCRAPE_TIMEOUT, DEFAULT_SEPARATOR,
};
use super::Config;
use crate::storage::labels::is_valid_label_name;

/// A rule broken at `path`.
#[derive(Debug)]
pub(crate) struct Violation {
    pub path: String,
    pub message: String,
}

/// The violations found so far.
#[derive(Default)]
struct Findings(Vec<Violation>);

impl Findings {
    fn add(&mut self, path: String, message: String) {
        self.0.push(Violation { path, message });
    }
}

/// Fills in what `global` passes down, then checks everything; returns every violation found.
pub(crate) fn resolve_and_check(config: &mut Config) -> Vec<Violation> {
    let mut findings = Findings::default();
    resolve_global(&mut config.global);
    check_global(&config.global, &mut findings);
    for job in &mut config.scrape_configs {
        resolve_job(job, &config.global);
    }
    check_jobs(&config.scrape_configs, &mut findings);
    check_remote_writes(&config.remote_write, &mut findings);
    check_server(&config.server, &mut findings);
    findings.0.extend(super::alerting::check(&config.alerting));
    for (path, message) in super::models::check(&config.models) {
        findings.add(path, message);
    }
    findings.0
}

fn resolve_global(global: &mut GlobalConfig) {
    if global.scrape_interval.is_zero() {
        global.scrape_interval = DEFAULT_SCRAPE_INTERVAL;
    }
    if global.scrape_timeout.is_zero() {
        global.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(global.scrape_interval);
    }
    if global.evaluation_interval.is_zero() {
        global.evaluation_interval = DEFAULT_EVALUATION_INTERVAL;
    }
}

fn check_global(global: &GlobalConfig, findings: &mut Findings) {
    if global.scrape_timeout > global.scrape_interval {
        findings.add(
            "global.scrape_timeout".into(),
            "global scrape timeout greater than scrape interval".into(),
        );
    }
}

/// A job without its own interval or timeout takes the global one; an inherited
/// timeout is capped at the job's interval.
fn resolve_job(job: &mut ScrapeConfig, global: &GlobalConfig) {
    if job.scrape_interval.is_zero() {
        job.scrape_interval = global.scrape_interval;
    }
    if job.scrape_timeout.is_zero() {
        job.scrape_timeout = global.scrape_timeout.min(job.scrape_interval);
    }
}

fn check_jobs(jobs: &[ScrapeConfig], findings: &mut Findings) {
    let mut seen = HashSet::new();
    for (index, job) in jobs.iter().enumerate() {
        let path = format!("scrape_configs.{index}");
        if job.job_name.is_empty() {
            findings.add(format!("{path}.job_name"), "job_name is empty".into());
        } else if !seen.insert(job.job_name.as_str()) {
            let message = format!("found multiple scrape configs with job name {:?}", job.job_name);
            findings.add(format!("{path}.job_name"), message);
        }
        if job.scrape_timeout > job.scrape_interval {
            let message = format!(
                "scrape timeout {} greater than scrape interval {} for scrape config with job name {:?}",
                job.scrape_timeout, job.scrape_interval, job.job_name
            );
            findings.add(format!("{path}.scrape_timeout"), message);
        }
        check_scrape_client(job, &path, findings);
        check_service_discovery(job, &path, findings);
        let relabel_lists = [
            ("relabel_configs", &job.relabel_configs),
            ("metric_relabel_configs", &job.metric_relabel_configs),
        ];
        for (field, relabels) in relabel_lists {
            for (index, relabel) in relabels.iter().enumerate() {
                check_relabel(relabel, &format!("{path}.{field}.{index}"), findings);
            }
        }
    }
}

/// The HTTP client settings of a scrape job; a proxy is refused (Sightline scrapes directly).
fn check_scrape_client(job: &ScrapeConfig, path: &str, findings: &mut Findings) {
    check_http_client(
        (job.basic_auth.as_ref(), job.authorization.as_ref()),
        &job.tls_config,
        job.proxy_url.as_deref(),
        path,
        findings,
    );
}

fn check_http_client(
    auth: (Option<&BasicAuth>, Option<&Authorization>),
    tls: &TlsConfig,
    proxy_url: Option<&str>,
    path: &str,
    findings: &mut Findings,
) {
    if auth.0.is_some() && auth.1.is_some() {
        let message = "at most one of basic_auth and authorization may be configured".into();
        findings.add(format!("{path}.authorization"), message);
    }
    if let Some(basic_auth) = auth.0 {
        check_basic_auth(basic_auth, &format!("{path}.basic_auth"), findings);
    }
    if let Some(authorization) = auth.1 {
        check_authorization(authorization, &format!("{path}.authorization"), findings);
    }
    check_tls(tls, &format!("{path}.tls_config"), findings);
    if proxy_url.is_some_and(|url| !url.is_empty()) {
        let message = "proxy_url is not supported: Sightline connects to targets directly; remove it".into();
        findings.add(format!("{path}.proxy_url"), message);
    }
}

fn check_service_discovery(job: &ScrapeConfig, path: &str, findings: &mut Findings) {
    for (index, file_sd) in job.file_sd_configs.iter().enumerate() {
        let sd_path = format!("{path}.file_sd_configs.{index}");
        for (file_index, file) in file_sd.files.iter().enumerate() {
            if !is_file_sd_pattern(file) {
                let message = format!("path name {file:?} is not valid for file discovery");
                findings.add(format!("{sd_path}.files.{file_index}"), message);
            }
        }
        if file_sd.refresh_interval.is_zero() {
            let message = "file_sd refresh_interval must be greater than 0".into();
            findings.add(format!("{sd_path}.refresh_interval"), message);
        }
    }
    for (index, http_sd) in job.http_sd_configs.iter().enumerate() {
        let sd_path = format!("{path}.http_sd_configs.{index}");
        let auth = (http_sd.basic_auth.as_ref(), http_sd.authorization.as_ref());
        let proxy = http_sd.proxy_url.as_deref();
        check_http_client(auth, &http_sd.tls_config, proxy, &sd_path, findings);
        if http_sd.refresh_interval.is_zero() {
            let message = "http_sd refresh_interval must be greater than 0".into();
            findings.add(format!("{sd_path}.refresh_interval"), message);
        }
    }
}

/// Prometheus's rule: a `.json`, `.yml` or `.yaml` file, with at most one `*` in the last element.
fn is_file_sd_pattern(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    let known_extension = [".json", ".yml", ".yaml"].iter().any(|ext| lower.ends_with(ext));
    let (dir, last) = file.rsplit_once('/').unwrap_or(("", file));
    known_extension && !dir.contains('*') && last.matches('*').count() <= 1
}

fn check_remote_writes(remote_writes: &[RemoteWriteConfig], findings: &mut Findings) {
    let mut seen = HashSet::new();
    for (index, remote) in remote_writes.iter().enumerate() {
        let path = format!("remote_write.{index}");
        if let Some(name) = &remote.name {
            if !seen.insert(name.as_str()) {
                let message = format!("found multiple remote write configs with name {name:?}");
                findings.add(format!("{path}.name"), message);
            }
        }
        check_remote_write(remote, &path, findings);
    }
}

fn check_remote_write(remote: &RemoteWriteConfig, path: &str, findings: &mut Findings) {
    if remote.basic_auth.is_some() && remote.authorization.is_some() {
        let message = "at most one of basic_auth and authorization may be configured".into();
        findings.add(format!("{path}.authorization"), message);
    }
    if let Some(basic_auth) = &remote.basic_auth {
        check_basic_auth(basic_auth, &format!("{path}.basic_auth"), findings);
    }
    if let Some(authorization) = &remote.authorization {
        check_authorization(authorization, &format!("{path}.authorization"), findings);
    }
    check_tls(&remote.tls_config, &format!("{path}.tls_config"), findings);
    check_queue(&remote.queue_config, &format!("{path}.queue_config"), findings);
    for (index, relabel) in remote.write_relabel_configs.iter().enumerate() {
        check_relabel(
            relabel,
            &format!("{path}.write_relabel_configs.{index}"),
            findings,
        );
    }
}

fn check_basic_auth(auth: &BasicAuth, path: &str, findings: &mut Findings) {
    if !auth.username.is_empty() && auth.username_file.is_some() {
        let message = "at most one of basic_auth username and username_file may be configured".into();
        findings.add(format!("{path}.username_file"), message);
    }
    if auth.password.is_some() && auth.password_file.is_some() {
        let message = "at most one of basic_auth password and password_file may be configured".into();
        findings.add(format!("{path}.password_file"), message);
    }
}

fn check_authorization(auth: &Authorization, path: &str, findings: &mut Findings) {
    if auth.r#type.eq_ignore_ascii_case("basic") {
        let message = "authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into();
        findings.add(format!("{path}.type"), message);
    }
    if auth.credentials.is_some() && auth.credentials_file.is_some() {
        let message =
            "at most one of authorization credentials and credentials_file may be configured".into();
        findings.add(format!("{path}.credentials_file"), message);
    }
}

fn check_tls(tls: &TlsConfig, path: &str, findings: &mut Findings) {
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => findings.add(
            format!("{path}.cert_file"),
            "cert_file given without key_file".into(),
        ),
        (None, Some(_)) => findings.add(
            format!("{path}.key_file"),
            "key_file given without cert_file".into(),
        ),
        _ => {}
    }
}

fn check_queue(queue: &QueueConfig, path: &str, findings: &mut Findings) {
    if queue.max_shards == 0 {
        findings.add(
            format!("{path}.max_shards"),
            "max_shards must be at least 1".into(),
        );
    }
    if queue.min_shards > queue.max_shards {
        findings.add(
            format!("{path}.min_shards"),
            "min_shards greater than max_shards".into(),
        );
    }
    if queue.min_backoff > queue.max_backoff {
        findings.add(
            format!("{path}.min_backoff"),
            "min_backoff greater than max_backoff".into(),
        );
    }
}

/// Prometheus's rules for which relabelling fields each action needs or forbids.
fn check_relabel(relabel: &RelabelConfig, path: &str, findings: &mut Findings) {
    use RelabelAction::*;
    let action = relabel.action;
    let needs_target = matches!(
        action,
        Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
    );
    if needs_target && relabel.target_label.is_empty() {
        let message = format!("relabel configuration for {action} action requires 'target_label' value");
        findings.add(format!("{path}.action"), message);
    }
    let plain_target = matches!(action, HashMod | Lowercase | Uppercase | KeepEqual | DropEqual);
    if plain_target && !relabel.target_label.is_empty() && !is_valid_label_name(&relabel.target_label) {
        let message = format!(
            "{:?} is invalid 'target_label' for {action} action",
            relabel.target_label
        );
        findings.add(format!("{path}.target_label"), message);
    }
    if action == HashMod && relabel.modulus == 0 {
        findings.add(
            format!("{path}.modulus"),
            "relabel configuration for hashmod requires non-zero modulus".into(),
        );
    }
    if matches!(action, LabelDrop | LabelKeep) && has_more_than_regex(relabel) {
        findings.add(
            format!("{path}.action"),
            format!("{action} action requires only 'regex', and no other fields"),
        );
    }
}

fn has_more_than_regex(relabel: &RelabelConfig) -> bool {
    !relabel.source_labels.is_empty()
        || !relabel.target_label.is_empty()
        || relabel.modulus != 0
        || relabel.separator != DEFAULT_SEPARATOR
        || relabel.replacement != DEFAULT_REPLACEMENT
}

fn check_server(server: &ServerConfig, findings: &mut Findings) {
    if server.max_request_body_size.is_zero() {
        findings.add(
            "server.max_request_body_size".into(),
            "max_request_body_size must be greater than 0".into(),
        );
    }
    if server.remote_write_max_decompressed_size.is_zero() {
        let message = "remote_write_max_decompressed_size must be greater than 0".into();
        findings.add("server.remote_write_max_decompressed_size".into(), message);
    }
}
