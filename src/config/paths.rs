//! Relative file names in a configuration are relative to the file itself.
//!
//! Owns rewriting every file-name field against the config file's directory, as
//! Prometheus does; touches no file system.

use std::path::Path;

use super::sections::{RemoteWriteConfig, TlsConfig};
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
}

fn rebase_remote_write(remote: &mut RemoteWriteConfig, dir: &Path) {
    if let Some(auth) = &mut remote.basic_auth {
        rebase_optional(&mut auth.username_file, dir);
        rebase_optional(&mut auth.password_file, dir);
    }
    if let Some(auth) = &mut remote.authorization {
        rebase_optional(&mut auth.credentials_file, dir);
    }
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
    fn names_stay_put_next_to_a_bare_file_name() {
        let mut config = parse_str("rule_files: [a.yml]\n", "t.yml").unwrap();
        rebase(&mut config, Path::new(""));
        assert_eq!(config.rule_files, ["a.yml"]);
    }
}
