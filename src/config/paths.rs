//! Relative file names in a configuration are relative to the file itself.
//!
//! Owns rewriting every file-name field against the config file's directory, as
//! Prometheus does; touches no file system.

use std::path::Path;

use super::alerting::{AlertingConfig, AlertmanagerFile, Receiver};
use super::sections::{Authorization, BasicAuth, RemoteWriteConfig, ScrapeConfig, TlsConfig};
use super::Config;

/// Makes each relative file name in `config` relative to `dir` instead.
pub(crate) fn rebase(config: &mut Config, dir: &Path) {
    for rule_file in &mut config.rule_files {
        rebase_one(rule_file, dir);
    }
    rebase_optional(&mut config.global.query_log_file, dir);
    rebase_optional(&mut config.dashboards.path, dir);
    for remote in &mut config.remote_write {
        rebase_remote_write(remote, dir);
    }
    for job in &mut config.scrape_configs {
        rebase_scrape_job(job, dir);
    }
    rebase_optional(&mut config.alerting.config_file, dir);
    rebase_alerting(&mut config.alerting, dir);
    for action in &mut config.incidents.actions {
        action
            .http
            .header_files
            .values_mut()
            .for_each(|file| rebase_one(file, dir));
    }
}

/// The file names inside an `alertmanager.yml`, relative to that file.
pub(crate) fn rebase_alertmanager_file(file: &mut AlertmanagerFile, dir: &Path) {
    rebase_optional(&mut file.global.slack_api_url_file, dir);
    for template in &mut file.templates {
        rebase_one(template, dir);
    }
    for receiver in &mut file.receivers {
        rebase_receiver(receiver, dir);
    }
}

fn rebase_alerting(alerting: &mut AlertingConfig, dir: &Path) {
    rebase_optional(&mut alerting.global.slack_api_url_file, dir);
    for template in &mut alerting.templates {
        rebase_one(template, dir);
    }
    for receiver in &mut alerting.receivers {
        rebase_receiver(receiver, dir);
    }
}

fn rebase_receiver(receiver: &mut Receiver, dir: &Path) {
    for webhook in &mut receiver.webhook_configs {
        rebase_optional(&mut webhook.url_file, dir);
    }
    for slack in &mut receiver.slack_configs {
        rebase_optional(&mut slack.api_url_file, dir);
    }
    for pagerduty in &mut receiver.pagerduty_configs {
        rebase_optional(&mut pagerduty.routing_key_file, dir);
    }
}

fn rebase_scrape_job(job: &mut ScrapeConfig, dir: &Path) {
    rebase_auth(job.basic_auth.as_mut(), job.authorization.as_mut(), dir);
    rebase_tls(&mut job.tls_config, dir);
    for file_sd in &mut job.file_sd_configs {
        for file in &mut file_sd.files {
            rebase_one(file, dir);
        }
    }
    for http_sd in &mut job.http_sd_configs {
        rebase_auth(http_sd.basic_auth.as_mut(), http_sd.authorization.as_mut(), dir);
        rebase_tls(&mut http_sd.tls_config, dir);
    }
}

fn rebase_auth(basic_auth: Option<&mut BasicAuth>, authorization: Option<&mut Authorization>, dir: &Path) {
    if let Some(auth) = basic_auth {
        rebase_optional(&mut auth.username_file, dir);
        rebase_optional(&mut auth.password_file, dir);
    }
    if let Some(auth) = authorization {
        rebase_optional(&mut auth.credentials_file, dir);
    }
}

fn rebase_remote_write(remote: &mut RemoteWriteConfig, dir: &Path) {
    rebase_auth(remote.basic_auth.as_mut(), remote.authorization.as_mut(), dir);
    rebase_tls(&mut remote.tls_config, dir);
}

fn rebase_tls(tls: &mut TlsConfig, dir: &Path) {
    rebase_optional(&mut tls.ca_file, dir);
    rebase_optional(&mut tls.cert_file, dir);
    rebase_optional(&mut tls.key_file, dir);
}

fn rebase_optional(file: &mut Option<String>, dir: &Path) {
    if let Some(file) = file {
        rebase_one(file, dir);
    }
}

fn rebase_one(file: &mut String, dir: &Path) {
    if !file.is_empty() && Path::new(file.as_str()).is_relative() {
        *file = dir.join(file.as_str()).display().to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    #[test]
    fn relative_names_move_under_the_config_directory() {
        let yaml = "global:\n  query_log_file: q.log\nrule_files: [rules/*.yml, /abs/r.yml]\nremote_write:\n  - url: http://a/\n    basic_auth: {password_file: pw}\n    tls_config: {ca_file: /etc/ca.pem, cert_file: c.pem, key_file: k.pem}\n";
        let mut config = parse_str(yaml, "t.yml").unwrap();
        rebase(&mut config, Path::new("/etc/sightline"));
        assert_eq!(config.rule_files, ["/etc/sightline/rules/*.yml", "/abs/r.yml"]);
        assert_eq!(
            config.global.query_log_file.as_deref(),
            Some("/etc/sightline/q.log")
        );
        let remote = &config.remote_write[0];
        assert_eq!(
            remote.basic_auth.as_ref().unwrap().password_file.as_deref(),
            Some("/etc/sightline/pw")
        );
        assert_eq!(remote.tls_config.ca_file.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            remote.tls_config.cert_file.as_deref(),
            Some("/etc/sightline/c.pem")
        );
        assert_eq!(
            remote.tls_config.key_file.as_deref(),
            Some("/etc/sightline/k.pem")
        );
    }

    #[test]
    fn scrape_job_files_move_under_the_config_directory() {
        let yaml = "scrape_configs:\n  - job_name: a\n    authorization: {credentials_file: tok}\n    tls_config: {ca_file: ca.pem}\n    file_sd_configs: [{files: [sd/*.json]}]\n";
        let mut config = parse_str(yaml, "t.yml").unwrap();
        rebase(&mut config, Path::new("/etc/s"));
        let job = &config.scrape_configs[0];
        let token = job.authorization.as_ref().unwrap().credentials_file.as_deref();
        assert_eq!(token, Some("/etc/s/tok"));
        assert_eq!(job.tls_config.ca_file.as_deref(), Some("/etc/s/ca.pem"));
        assert_eq!(job.file_sd_configs[0].files, ["/etc/s/sd/*.json"]);
    }

    #[test]
    fn names_stay_put_next_to_a_bare_file_name() {
        let mut config = parse_str("rule_files: [a.yml]\n", "t.yml").unwrap();
        rebase(&mut config, Path::new(""));
        assert_eq!(config.rule_files, ["a.yml"]);
    }
}
