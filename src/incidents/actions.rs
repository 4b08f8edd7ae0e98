//! Running one configured action against one incident: select by matchers,
//! render the body, resolve secret headers, call (or, dry-run, describe the
//! call), retry on network errors, 5xx and 429, and report the outcome.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::model::{ActionRun, Incident};
use crate::config::{ActionConfig, ActionTrigger, HttpCallConfig};

/// First retry delay; doubled per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How much of an error response body goes into the recorded error.
const ERROR_BODY_CHARS: usize = 200;

/// Whether `action` applies to `incident` when it changes by `trigger`.
pub fn selects(action: &ActionConfig, trigger: ActionTrigger, incident: &Incident) -> bool {
    action.on == trigger
        && action
            .matchers
            .iter()
            .all(|m| m.matches(incident.labels.get(&m.name).map_or("", String::as_str)))
}

/// Runs `action` for `incident` and returns its record and a timeline message.
pub async fn run(
    client: &reqwest::Client,
    action: &ActionConfig,
    incident: &Incident,
    global_dry_run: bool,
) -> (ActionRun, String) {
    let started = Instant::now();
    let mut run = ActionRun {
        name: action.name.clone(),
        on: action.on.as_str().to_string(),
        at: Utc::now(),
        dry_run: global_dry_run || action.dry_run,
        ok: false,
        status_code: None,
        error: None,
        duration_ms: 0,
    };
    let call = &action.http;
    let prepared = render_body(action, incident).and_then(|body| Ok((body, resolve_headers(call)?)));
    let message = match prepared {
        Err(error) => {
            run.error = Some(error.clone());
            format!("action {} not run: {error}", action.name)
        }
        Ok((body, headers)) if run.dry_run => {
            run.ok = true;
            describe_dry_run(action, &body, &headers)
        }
        Ok((body, headers)) => {
            let result = call_with_retries(client, action, body, &headers).await;
            run.status_code = result.status;
            run.ok = result.error.is_none();
            run.error = result.error;
            let outcome = match (&run.status_code, &run.error) {
                (_, Some(error)) => format!("failed after {} attempt(s): {error}", result.attempts),
                (Some(code), None) => format!("answered {code}"),
                (None, None) => "done".to_string(),
            };
            format!("action {}: {} {} {outcome}", action.name, call.method, call.url)
        }
    };
    run.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    (run, message)
}

fn render_body(action: &ActionConfig, incident: &Incident) -> Result<Option<String>, String> {
    action
        .http
        .body
        .as_ref()
        .map(|t| t.render(incident, &action.name, action.on.as_str()))
        .transpose()
}

/// Inline headers, then those read from files and the environment.
fn resolve_headers(call: &HttpCallConfig) -> Result<Vec<(String, String)>, String> {
    let mut headers: Vec<(String, String)> = call.headers.clone().into_iter().collect();
    for (name, file) in &call.header_files {
        let value =
            std::fs::read_to_string(file).map_err(|e| format!("header {name}: cannot read {file}: {e}"))?;
        headers.push((name.clone(), value.trim_end_matches(['\r', '\n']).to_string()));
    }
    for (name, var) in &call.header_env {
        let value = std::env::var(var)
            .map_err(|_| format!("header {name}: environment variable {var} is not set"))?;
        headers.push((name.clone(), value));
    }
    Ok(headers)
}

/// What a dry run would have sent; header values stay out (they may be secrets).
fn describe_dry_run(action: &ActionConfig, body: &Option<String>, headers: &[(String, String)]) -> String {
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let mut message = format!(
        "dry run: action {} would {} {}",
        action.name, action.http.method, action.http.url
    );
    if !names.is_empty() {
        message.push_str(&format!(" with headers {}", names.join(", ")));
    }
    if let Some(body) = body {
        message.push_str(&format!(" and body {body}"));
    }
    message
}

struct CallResult {
    status: Option<u16>,
    error: Option<String>,
    attempts: u32,
}

async fn call_with_retries(
    client: &reqwest::Client,
    action: &ActionConfig,
    body: Option<String>,
    headers: &[(String, String)],
) -> CallResult {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (status, error, retryable) = call_once(client, action, body.clone(), headers).await;
        if error.is_none() || !retryable || attempts > action.retries {
            return CallResult {
                status,
                error,
                attempts,
            };
        }
        tokio::time::sleep(backoff(attempts)).await;
    }
}

fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// One request: (status, error, whether another attempt may help).
async fn call_once(
    client: &reqwest::Client,
    action: &ActionConfig,
    body: Option<String>,
    headers: &[(String, String)],
) -> (Option<u16>, Option<String>, bool) {
    let call = &action.http;
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut request = client
        .request(method, &call.url)
        .timeout(action.timeout.into())
        .header("User-Agent", concat!("Sightline/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.header("Content-Type", "application/json").body(body);
    }
    match request.send().await {
        Err(e) => (None, Some(network_error(&e)), true),
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                return (Some(status.as_u16()), None, false);
            }
            let retryable = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
            let text = response.text().await.unwrap_or_default();
            let snippet: String = text.chars().take(ERROR_BODY_CHARS).collect();
            let error = format!("HTTP {}: {}", status.as_u16(), snippet.trim());
            (Some(status.as_u16()), Some(error), retryable)
        }
    }
}

/// The error with its causes, without the URL (it may hold a token).
fn network_error(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::parse_str;
    use crate::incidents::model::tests::sample_incident;
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// A local HTTP receiver answering with `statuses` in turn (the last one
    /// repeated) and keeping each request's headers and body.
    pub(crate) struct Receiver {
        pub url: String,
        pub requests: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>,
    }

    pub(crate) async fn receiver(statuses: Vec<u16>) -> Receiver {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let calls = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let code = statuses[n.min(statuses.len() - 1)];
            async move {
                seen.lock().unwrap().push((headers, body));
                (StatusCode::from_u16(code).unwrap(), "receiver says no")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, requests }
    }

    pub(crate) fn action(yaml_fields: &str, url: &str) -> ActionConfig {
        let yaml = format!(
            "incidents:\n  actions:\n    - name: retrain\n      on: open\n      timeout: 2s\n{yaml_fields}      http:\n        url: {url}\n        headers: {{X-Team: ml}}\n        body: '{{\"model\": {{{{ .Labels.model | json }}}}, \"trigger\": \"{{{{ .Trigger }}}}\"}}'\n"
        );
        parse_str(&yaml, "t.yml").unwrap().incidents.actions.remove(0)
    }

    #[tokio::test]
    async fn a_successful_call_sends_the_rendered_body_and_headers() {
        let rx = receiver(vec![202]).await;
        let (run, message) = super::run(
            &reqwest::Client::new(),
            &action("", &rx.url),
            &sample_incident(),
            false,
        )
        .await;
        assert!(run.ok, "{message}");
        assert_eq!(run.status_code, Some(202));
        assert_eq!(run.error, None);
        let requests = rx.requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        let (headers, body) = &requests[0];
        assert_eq!(headers["x-team"], "ml");
        assert_eq!(headers["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"model": "fraud \"v2\"", "trigger": "open"})
        );
    }

    #[tokio::test]
    async fn server_errors_are_retried_and_client_errors_are_not() {
        let rx = receiver(vec![503, 500, 200]).await;
        let (run, _) = super::run(
            &reqwest::Client::new(),
            &action("", &rx.url),
            &sample_incident(),
            false,
        )
        .await;
        assert!(run.ok);
        assert_eq!(rx.requests.lock().unwrap().len(), 3);

        let rx = receiver(vec![400]).await;
        let (run, _) = super::run(
            &reqwest::Client::new(),
            &action("", &rx.url),
            &sample_incident(),
            false,
        )
        .await;
        assert!(!run.ok);
        assert_eq!(run.status_code, Some(400));
        assert!(run.error.as_deref().unwrap().contains("receiver says no"));
        assert_eq!(rx.requests.lock().unwrap().len(), 1);

        let rx = receiver(vec![503]).await;
        let (run, message) = super::run(
            &reqwest::Client::new(),
            &action("      retries: 1\n", &rx.url),
            &sample_incident(),
            false,
        )
        .await;
        assert!(!run.ok);
        assert_eq!(rx.requests.lock().unwrap().len(), 2);
        assert!(message.contains("after 2 attempt(s)"), "{message}");
    }

    #[tokio::test]
    async fn network_errors_are_recorded() {
        let url = format!("http://127.0.0.1:{}/x", free_port());
        let (run, _) = super::run(
            &reqwest::Client::new(),
            &action("      retries: 0\n", &url),
            &sample_incident(),
            false,
        )
        .await;
        assert!(!run.ok);
        assert_eq!(run.status_code, None);
        assert!(run.error.unwrap().starts_with("cannot connect"));
    }

    #[tokio::test]
    async fn dry_run_records_the_call_without_making_it() {
        let rx = receiver(vec![200]).await;
        let client = reqwest::Client::new();
        for (fields, global) in [("      dry_run: true\n", false), ("", true)] {
            let (run, message) =
                super::run(&client, &action(fields, &rx.url), &sample_incident(), global).await;
            assert!(run.dry_run && run.ok);
            assert!(message.contains("would POST"), "{message}");
            assert!(
                message.contains("X-Team") && !message.contains("ml,"),
                "{message}"
            );
        }
        assert!(rx.requests.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn secret_headers_come_from_files_and_the_environment() {
        let rx = receiver(vec![200]).await;
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let mut action = action("", &rx.url);
        action
            .http
            .header_files
            .insert("Authorization".into(), token.display().to_string());
        action.http.header_env.insert("X-Env".into(), "PATH".into());
        let (run, _) = super::run(&reqwest::Client::new(), &action, &sample_incident(), false).await;
        assert!(run.ok);
        let headers = rx.requests.lock().unwrap()[0].0.clone();
        assert_eq!(headers["authorization"], "s3cret");
        assert!(!headers["x-env"].is_empty());
        action
            .http
            .header_env
            .insert("X-Missing".into(), "SIGHTLINE_TEST_UNSET_VAR".into());
        let (run, _) = super::run(&reqwest::Client::new(), &action, &sample_incident(), false).await;
        assert!(!run.ok);
        assert!(run.error.unwrap().contains("SIGHTLINE_TEST_UNSET_VAR is not set"));
    }

    #[test]
    fn matchers_select_on_group_labels() {
        let incident = sample_incident();
        let mut action = action("", "http://x/");
        assert!(selects(&action, ActionTrigger::Open, &incident));
        assert!(!selects(&action, ActionTrigger::Resolve, &incident));
        action.matchers = crate::config::alerting::parse_matchers("model=~fraud.*").unwrap();
        assert!(selects(&action, ActionTrigger::Open, &incident));
        action.matchers = crate::config::alerting::parse_matchers("team=ml").unwrap();
        assert!(!selects(&action, ActionTrigger::Open, &incident));
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap()
    }
}
