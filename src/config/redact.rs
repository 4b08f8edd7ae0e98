//! Hides secrets in the configuration text that `/api/v1/status/config`
//! shows: passwords, credentials, tokens, Slack URLs, PagerDuty keys and (in
//! `alerting:`) webhook URLs become `<secret>`, as Prometheus and
//! Alertmanager print their `Secret` and `SecretURL` fields.
//!
//! Works on the text, line by line, because the page shows the file as
//! written; values split over several lines (block scalars) are not used for
//! secrets in practice.

use regex::Regex;
use std::sync::LazyLock;

/// Keys whose value is always secret, and `url` (secret under `alerting:`).
static SECRET_VALUE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"(?P<key>\b(?P<name>password|credentials|bearer_token|api_url|slack_api_url|routing_key|service_key|url)\s*:[ \t]*)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,}\]#][^,}\]#\n]*)"#,
    )
    .ok()
});

/// `yaml` with every secret value replaced by `<secret>`.
pub fn redact_secrets(yaml: &str) -> String {
    let Some(regex) = SECRET_VALUE.as_ref() else {
        return yaml.to_string();
    };
    let mut section = "";
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.split_inclusive('\n') {
        if let Some(top) = line
            .split(':')
            .next()
            .filter(|key| !key.starts_with([' ', '\t', '#', '-']))
        {
            section = top.trim();
        }
        let redacted = regex.replace_all(line, |caps: &regex::Captures| {
            let is_plain_url = &caps["name"] == "url" && section != "alerting";
            if is_plain_url {
                caps[0].to_string()
            } else {
                format!("{}<secret>", &caps["key"])
            }
        });
        out.push_str(&redacted);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_become_placeholders() {
        let yaml = "remote_write:\n  - url: http://remote/write\n    basic_auth: {username: u, password: hunter2}\nalerting:\n  global:\n    slack_api_url: 'https://hooks.slack.com/x'\n  receivers:\n    - name: ops\n      webhook_configs:\n        - url: http://hook/secret-token\n          http_config:\n            proxy_url: http://proxy\n      pagerduty_configs:\n        - routing_key: \"abc\\\"def\"  # key\n";
        let out = redact_secrets(yaml);
        assert!(out.contains("url: http://remote/write"), "{out}");
        assert!(out.contains("password: <secret>}"), "{out}");
        assert!(out.contains("slack_api_url: <secret>\n"), "{out}");
        assert!(out.contains("- url: <secret>\n"), "{out}");
        assert!(out.contains("proxy_url: http://proxy"), "{out}");
        assert!(out.contains("routing_key: <secret>  # key"), "{out}");
        for secret in ["hunter2", "hooks.slack", "secret-token", "abc"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
    }
}
