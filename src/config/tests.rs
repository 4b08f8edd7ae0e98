//! Whole-file tests: valid configurations, and every kind of error with its exact position.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn parse(yaml: &str) -> Config {
    parse_str(yaml, "test.yml").unwrap()
}

/// The rendered error: one `file:line:column: message` line per problem.
fn error(yaml: &str) -> String {
    parse_str(yaml, "test.yml").unwrap_err().to_string()
}

fn secs(s: u64) -> PromDuration {
    PromDuration::from_secs(s)
}

// ---- defaults -------------------------------------------------------------

#[test]
fn default_config_has_prometheus_and_sightline_defaults() {
    let config = Config::default();
    assert_eq!(config.global.scrape_interval, secs(60));
    assert_eq!(config.global.scrape_timeout, secs(10));
    assert_eq!(config.global.evaluation_interval, secs(60));
    assert!(config.global.external_labels.is_empty());
    assert_eq!(config.global.query_log_file, None);
    assert!(
        config.scrape_configs.is_empty() && config.rule_files.is_empty() && config.remote_write.is_empty()
    );
    let storage = &config.storage;
    assert_eq!(storage.retention_time.to_string(), "15d");
    assert_eq!(storage.retention_size, ByteSize::ZERO);
    assert_eq!(storage.fsync, Fsync::Interval);
    assert_eq!(storage.out_of_order_time_window, PromDuration::ZERO);
    assert_eq!(storage.cache_capacity.bytes(), 64 << 20);
    assert_eq!(storage.max_future, secs(600));
    assert_eq!(storage.max_series, 0);
    assert_eq!(
        config.server.listen,
        "127.0.0.1:7464".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.server.max_request_body_size.bytes(), 32 << 20);
    assert_eq!(
        config.server.remote_write_max_decompressed_size.bytes(),
        128 << 20
    );
}

#[test]
fn spelled_out_defaults_are_the_default_config_plus_self_scraping() {
    let mut spelled_out = parse_str(super::DEFAULTS_YAML, "defaults.yml").unwrap();
    let self_jobs: Vec<_> = spelled_out
        .scrape_configs
        .drain(..)
        .map(|job| job.job_name)
        .collect();
    assert_eq!(self_jobs, ["sightline", "node", "gpu"]);
    assert_eq!(spelled_out, Config::default());
}

#[test]
fn empty_documents_are_the_default_config() {
    for yaml in ["", "\n", "# nothing configured yet\n", "---\n"] {
        assert_eq!(parse(yaml), Config::default(), "{yaml:?}");
    }
}

#[test]
fn empty_sections_and_lists_are_defaults() {
    let yaml = "global:\nscrape_configs:\nrule_files:\n  # - a.yml\nremote_write:\nstorage:\nserver:\n";
    assert_eq!(parse(yaml), Config::default());
}

#[test]
fn job_fields_default_like_prometheus() {
    let job = &parse("scrape_configs:\n  - job_name: a\n").scrape_configs[0];
    assert_eq!(job.metrics_path, "/metrics");
    assert_eq!(job.scheme, Scheme::Http);
    assert!(job.honor_timestamps);
    assert!(!job.honor_labels);
    assert!(job.params.is_empty() && job.static_configs.is_empty());
    assert_eq!((job.sample_limit, job.label_limit, job.target_limit), (0, 0, 0));
    assert_eq!(
        (job.label_name_length_limit, job.label_value_length_limit),
        (0, 0)
    );
    assert_eq!(job.body_size_limit, ByteSize::ZERO);
}

#[test]
fn remote_write_fields_default_like_prometheus() {
    let remote = &parse("remote_write:\n  - url: http://r:9201/write\n").remote_write[0];
    assert_eq!(remote.remote_timeout, secs(30));
    assert_eq!(remote.name, None);
    assert_eq!(remote.queue_config, QueueConfig::default());
    let queue = &remote.queue_config;
    assert_eq!(
        (
            queue.capacity,
            queue.max_shards,
            queue.min_shards,
            queue.max_samples_per_send
        ),
        (10_000, 50, 1, 2_000)
    );
    assert_eq!(queue.batch_send_deadline, secs(5));
    assert_eq!(queue.min_backoff, PromDuration::from_millis(30));
    assert_eq!(queue.max_backoff, secs(5));
    assert_eq!(remote.tls_config, TlsConfig::default());
    assert!(remote.basic_auth.is_none() && remote.authorization.is_none());
}

#[test]
fn relabel_fields_default_like_prometheus() {
    let yaml = "remote_write:\n  - url: http://r/\n    write_relabel_configs:\n      - target_label: x\n";
    let relabel = &parse(yaml).remote_write[0].write_relabel_configs[0];
    assert_eq!(relabel.action, RelabelAction::Replace);
    assert_eq!(relabel.separator, ";");
    assert_eq!(relabel.regex.as_str(), "(.*)");
    assert_eq!(relabel.replacement, "$1");
    assert_eq!(relabel.modulus, 0);
}

// ---- inheritance from global ------------------------------------------------

#[test]
fn jobs_inherit_interval_and_timeout_from_global() {
    let yaml = "global:\n  scrape_interval: 20s\n  scrape_timeout: 15s\nscrape_configs:\n  - job_name: a\n";
    let job = &parse(yaml).scrape_configs[0];
    assert_eq!((job.scrape_interval, job.scrape_timeout), (secs(20), secs(15)));
}

#[test]
fn inherited_timeout_is_capped_at_the_job_interval() {
    let yaml = "scrape_configs:\n  - job_name: fast\n    scrape_interval: 5s\n";
    let job = &parse(yaml).scrape_configs[0];
    assert_eq!((job.scrape_interval, job.scrape_timeout), (secs(5), secs(5)));
}

#[test]
fn default_global_timeout_is_capped_at_the_global_interval() {
    let global = parse("global:\n  scrape_interval: 5s\n").global;
    assert_eq!(global.scrape_timeout, secs(5));
}

#[test]
fn zero_means_unset_as_in_prometheus() {
    let yaml = "global:\n  scrape_interval: 0s\n  evaluation_interval: 0\nscrape_configs:\n  - job_name: a\n    scrape_interval: 0\n";
    let config = parse(yaml);
    assert_eq!(config.global.scrape_interval, secs(60));
    assert_eq!(config.global.evaluation_interval, secs(60));
    assert_eq!(config.scrape_configs[0].scrape_interval, secs(60));
}

#[test]
fn yaml_anchors_and_merge_keys_share_settings_between_jobs() {
    let yaml = "scrape_configs:\n  - &base\n    job_name: a\n    scrape_interval: 5s\n  - <<: *base\n    job_name: b\n";
    let jobs = parse(yaml).scrape_configs;
    assert_eq!(
        (jobs[1].job_name.as_str(), jobs[1].scrape_interval),
        ("b", secs(5))
    );
}

// ---- whole files ----------------------------------------------------------------

#[test]
fn real_world_prometheus_yml_loads_unchanged() {
    let config = load_file(&fixture("prometheus.yml")).unwrap();
    assert_eq!(config.global.scrape_interval, secs(15));
    assert_eq!(config.global.scrape_timeout, secs(10));
    assert_eq!(config.global.external_labels["cluster"], "eu-west-1");
    assert!(config.rule_files.is_empty());
    let names: Vec<_> = config
        .scrape_configs
        .iter()
        .map(|job| job.job_name.as_str())
        .collect();
    assert_eq!(names, ["prometheus", "node", "federate"]);
    let prometheus = &config.scrape_configs[0];
    assert_eq!(
        (prometheus.scrape_interval, prometheus.scrape_timeout),
        (secs(15), secs(10))
    );
    assert_eq!(prometheus.static_configs[0].targets, ["localhost:9090"]);
    assert_eq!(prometheus.static_configs[0].labels["app"], "prometheus");
    let federate = &config.scrape_configs[2];
    assert_eq!(federate.params["match[]"].len(), 2);
    assert_eq!(federate.scheme, Scheme::Https);
    assert_eq!(federate.body_size_limit.bytes(), 50 << 20);
    let remote = &config.remote_write[0];
    assert_eq!(remote.queue_config.max_samples_per_send, 5000);
    assert_eq!(remote.queue_config.capacity, 10_000);
    assert_eq!(remote.write_relabel_configs[0].action, RelabelAction::Drop);
    assert!(remote.write_relabel_configs[0]
        .regex
        .regex()
        .is_match("go_goroutines"));
    assert!(!remote.write_relabel_configs[0]
        .regex
        .regex()
        .is_match("not_go_goroutines"));
}

#[test]
fn full_config_sets_every_field() {
    let config = load_file(&fixture("full.yml")).unwrap();
    assert_eq!(config.global.evaluation_interval.to_string(), "1m30s");
    assert_eq!(
        config.global.query_log_file.as_deref(),
        Some("/var/log/sightline/queries.log")
    );
    let relative_rules = fixture("rules/*.yml").display().to_string();
    assert_eq!(
        config.rule_files,
        [relative_rules.as_str(), "/etc/sightline/alerts.yml"]
    );
    let job = &config.scrape_configs[0];
    assert_eq!((job.scrape_interval, job.scrape_timeout), (secs(10), secs(5)));
    assert_eq!(
        (job.metrics_path.as_str(), job.scheme),
        ("/internal/metrics", Scheme::Https)
    );
    assert!(job.honor_labels && !job.honor_timestamps);
    assert_eq!(job.params["format"], ["prometheus"]);
    assert_eq!(
        (job.sample_limit, job.label_limit, job.target_limit),
        (5000, 30, 50)
    );
    assert_eq!(
        (job.label_name_length_limit, job.label_value_length_limit),
        (100, 500)
    );
    assert_eq!(job.body_size_limit.to_string(), "10MB");
    let remote = &config.remote_write[0];
    assert_eq!(remote.name.as_deref(), Some("backup"));
    assert_eq!(remote.headers["X-Scope-OrgID"], "tenant-1");
    let authorization = remote.authorization.as_ref().unwrap();
    assert_eq!(
        (
            authorization.r#type.as_str(),
            authorization.credentials.as_ref().unwrap().expose()
        ),
        ("Bearer", "s3cr3t")
    );
    assert_eq!(remote.tls_config.server_name.as_deref(), Some("remote.internal"));
    assert_eq!(remote.queue_config.min_backoff, PromDuration::from_millis(100));
    let actions: Vec<_> = remote.write_relabel_configs.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            RelabelAction::Replace,
            RelabelAction::HashMod,
            RelabelAction::LabelDrop
        ]
    );
    assert_eq!(remote.write_relabel_configs[0].source_labels, ["job", "instance"]);
    assert_eq!(config.storage.fsync, Fsync::Always);
    assert_eq!(config.storage.retention_size.to_string(), "20GB");
    assert_eq!(config.storage.max_series, 1_000_000);
    assert_eq!(config.server.listen.port(), DEFAULT_PORT);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let config = load_file(&fixture("full.yml")).unwrap();
    assert!(!format!("{config:?}").contains("s3cr3t"));
}

#[test]
fn unreadable_file_is_reported_without_position() {
    let missing = fixture("does-not-exist.yml");
    let message = load_file(&missing).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read configuration: ", missing.display())),
        "{message}"
    );
}

#[test]
fn errors_name_the_loaded_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(&path, "global:\n  scrape_interval: soon\n").unwrap();
    let message = load_file(&path).unwrap_err().to_string();
    assert_eq!(
        message,
        format!("{}:2:20: not a valid duration string: \"soon\"", path.display())
    );
}

// ---- errors from parsing ----------------------------------------------------------------

#[test]
fn unknown_keys_point_at_the_key() {
    assert_eq!(
        error("global: {}\nalertin:\n  alertmanagers: []\n"),
        "test.yml:2:1: unknown field `alertin`, expected one of global, scrape_configs, rule_files, \
         remote_write, storage, server, alerting, incidents, models, dashboards"
    );
    let message = error("scrape_configs:\n  - job_name: a\n    scrap_interval: 5s\n");
    assert!(
        message.starts_with("test.yml:3:5: unknown field `scrap_interval`, expected one of job_name,"),
        "{message}"
    );
    let message = error("storage:\n  retention: 15d\n");
    assert!(
        message.starts_with("test.yml:2:3: unknown field `retention`"),
        "{message}"
    );
}

#[test]
fn later_sections_are_unknown_for_now() {
    assert!(error("auth: {}\n").starts_with("test.yml:1:1: unknown field `auth`"));
}

#[test]
fn bad_values_point_at_the_value() {
    let cases = [
        ("global:\n  scrape_interval: 1.5m\n", "test.yml:2:20: not a valid duration string: \"1.5m\""),
        ("global:\n  evaluation_interval: \"\"\n", "test.yml:2:24: empty duration string"),
        ("storage:\n  retention_time: 300y\n", "test.yml:2:19: duration out of range"),
        (
            "storage:\n  retention_size: 10 GB\n",
            "test.yml:2:19: not a valid size: \"10 GB\" (use e.g. 512MB; units B KB MB GB TB PB EB)",
        ),
        ("storage:\n  fsync: sometimes\n", "test.yml:2:10: unknown variant `sometimes`, expected one of always, interval"),
        ("storage:\n  max_series: -1\n", "test.yml:2:15: invalid u64"),
        (
            "scrape_configs:\n  - job_name: a\n    scheme: ftp\n",
            "test.yml:3:13: unknown variant `ftp`, expected one of http, https",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [ok:1, \"http://x:1\"]\n",
            "test.yml:4:25: \"http://x:1\" is not a valid target: expected host:port, without scheme or path",
        ),
        (
            "server:\n  listen: localhost\n",
            "test.yml:2:11: \"localhost\" is not a valid listen address: expected IP:PORT, e.g. 0.0.0.0:7464",
        ),
        (
            "remote_write:\n  - url: ftp://x\n",
            "test.yml:2:10: \"ftp://x\" is not a valid URL: expected http(s)://host[:port]/path",
        ),
        (
            "remote_write:\n  - url: http://x/\n    write_relabel_configs:\n      - regex: \"(\"\n",
            "test.yml:4:16: invalid regex \"(\": unclosed group",
        ),
        (
            "remote_write:\n  - url: http://x/\n    write_relabel_configs:\n      - action: rename\n",
            "test.yml:4:17: unknown variant `rename`, expected one of replace, keep, drop, keepequal, dropequal, \
             hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error(yaml), expected, "{yaml}");
    }
}

#[test]
fn bad_keys_point_at_the_key() {
    let cases = [
        ("global:\n  external_labels:\n    ok: 1\n    bad-name: x\n", "test.yml:4:5: \"bad-name\" is not a valid label name"),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels: {1abc: x}\n",
            "test.yml:4:18: \"1abc\" is not a valid label name",
        ),
        (
            "remote_write:\n  - url: http://x/\n    headers:\n      Content-Type: text/plain\n",
            "test.yml:4:7: Content-Type is a reserved header. It must not be changed",
        ),
        (
            "remote_write:\n  - url: http://x/\n    headers:\n      \"X Tenant\": a\n",
            "test.yml:4:7: \"X Tenant\" is not a valid HTTP header name",
        ),
        (
            "remote_write:\n  - url: http://x/\n    write_relabel_configs:\n      - source_labels: [a, b.c]\n",
            "test.yml:4:28: \"b.c\" is not a valid label name",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error(yaml), expected, "{yaml}");
    }
}

#[test]
fn missing_required_fields_point_at_their_entry() {
    assert_eq!(
        error("scrape_configs:\n  - scrape_interval: 5s\n"),
        "test.yml:2:5: missing field `job_name`"
    );
    assert_eq!(
        error("remote_write:\n  - name: x\n"),
        "test.yml:2:5: missing field `url`"
    );
}

#[test]
fn malformed_yaml_is_reported_where_it_breaks() {
    assert_eq!(
        error("global:\n\tscrape_interval: 5s\n"),
        "test.yml:2:2: tabs disallowed within this context (block indentation)"
    );
    assert_eq!(
        error("global:\n  scrape_interval: 5s\n  scrape_interval: 6s\n"),
        "test.yml:3:3: duplicate mapping key `scrape_interval` is not allowed here"
    );
    assert_eq!(
        error("scrape_configs: yes\n"),
        "test.yml:1:17: expected sequence start"
    );
}

// ---- errors from validation ----------------------------------------------------------------

#[test]
fn duplicate_job_names_point_at_the_second_name() {
    let yaml = "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n";
    assert_eq!(
        error(yaml),
        "test.yml:4:15: found multiple scrape configs with job name \"a\""
    );
}

#[test]
fn empty_job_name_is_refused() {
    assert_eq!(
        error("scrape_configs:\n  - job_name: \"\"\n"),
        "test.yml:2:15: job_name is empty"
    );
}

#[test]
fn timeout_longer_than_interval_points_at_the_timeout() {
    let yaml = "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n";
    assert_eq!(
        error(yaml),
        "test.yml:4:21: scrape timeout 10s greater than scrape interval 5s for scrape config with job name \"a\""
    );
    let yaml = "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n";
    assert_eq!(
        error(yaml),
        "test.yml:3:19: global scrape timeout greater than scrape interval"
    );
}

#[test]
fn own_timeout_against_inherited_interval_points_at_the_timeout() {
    let yaml = "global:\n  scrape_interval: 10s\nscrape_configs:\n  - job_name: a\n    scrape_timeout: 20s\n";
    assert_eq!(
        error(yaml),
        "test.yml:5:21: scrape timeout 20s greater than scrape interval 10s for scrape config with job name \"a\""
    );
}

#[test]
fn remote_write_conflicts_point_at_the_second_setting() {
    let cases = [
        (
            "remote_write:\n  - url: http://a/\n    name: x\n  - url: http://b/\n    name: x\n",
            "test.yml:5:11: found multiple remote write configs with name \"x\"",
        ),
        (
            "remote_write:\n  - url: http://a/\n    basic_auth: {username: u}\n    authorization: {credentials: c}\n",
            "test.yml:4:20: at most one of basic_auth and authorization may be configured",
        ),
        (
            "remote_write:\n  - url: http://a/\n    basic_auth:\n      password: p\n      password_file: /f\n",
            "test.yml:5:22: at most one of basic_auth password and password_file may be configured",
        ),
        (
            "remote_write:\n  - url: http://a/\n    basic_auth:\n      username: u\n      username_file: /f\n",
            "test.yml:5:22: at most one of basic_auth username and username_file may be configured",
        ),
        (
            "remote_write:\n  - url: http://a/\n    authorization:\n      credentials: c\n      credentials_file: /f\n",
            "test.yml:5:25: at most one of authorization credentials and credentials_file may be configured",
        ),
        (
            "remote_write:\n  - url: http://a/\n    authorization:\n      type: Basic\n",
            "test.yml:4:13: authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
        ),
        (
            "remote_write:\n  - url: http://a/\n    tls_config:\n      cert_file: /c\n",
            "test.yml:4:18: cert_file given without key_file",
        ),
        (
            "remote_write:\n  - url: http://a/\n    tls_config:\n      key_file: /k\n",
            "test.yml:4:17: key_file given without cert_file",
        ),
        (
            "remote_write:\n  - url: http://a/\n    queue_config:\n      min_shards: 5\n      max_shards: 2\n",
            "test.yml:4:19: min_shards greater than max_shards",
        ),
        (
            "remote_write:\n  - url: http://a/\n    queue_config:\n      max_shards: 0\n      min_shards: 0\n",
            "test.yml:4:19: max_shards must be at least 1",
        ),
        (
            "remote_write:\n  - url: http://a/\n    queue_config:\n      min_backoff: 1m\n",
            "test.yml:4:20: min_backoff greater than max_backoff",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error(yaml), expected, "{yaml}");
    }
}

#[test]
fn relabel_rules_follow_prometheus() {
    let relabel = |body: &str| {
        format!("remote_write:\n  - url: http://a/\n    write_relabel_configs:\n      - {body}\n")
    };
    let cases = [
        (
            "action: replace",
            "test.yml:4:17: relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "{action: hashmod, target_label: t}",
            "test.yml:4:9: relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "{action: lowercase, target_label: bad-name}",
            "test.yml:4:43: \"bad-name\" is invalid 'target_label' for lowercase action",
        ),
        (
            "{action: labeldrop, regex: tmp_.*, target_label: x}",
            "test.yml:4:18: labeldrop action requires only 'regex', and no other fields",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(error(&relabel(body)), expected, "{body}");
    }
    let ok = parse(&relabel("{action: keep, source_labels: [job], regex: node}"));
    assert_eq!(
        ok.remote_write[0].write_relabel_configs[0].action,
        RelabelAction::Keep
    );
}

#[test]
fn server_sizes_must_be_positive() {
    assert_eq!(
        error("server:\n  max_request_body_size: 0\n"),
        "test.yml:2:26: max_request_body_size must be greater than 0"
    );
}

#[test]
fn every_problem_is_reported_on_its_own_line() {
    let yaml = "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\nscrape_configs:\n  - job_name: a\n  - job_name: a\n";
    assert_eq!(
        error(yaml),
        "test.yml:3:19: global scrape timeout greater than scrape interval\n\
         test.yml:6:15: found multiple scrape configs with job name \"a\""
    );
}
