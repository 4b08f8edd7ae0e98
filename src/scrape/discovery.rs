//! Service discovery: `static_configs`, `file_sd_configs` and `http_sd_configs`.
//!
//! Owns finding target groups and reporting each provider's current list to its
//! job through a channel. File discovery polls file modification times (every
//! [`FILE_POLL`], and rereads everything at `refresh_interval`) rather than using
//! inotify: it works the same on every file system, including network and
//! container mounts, at the cost of one `stat` per file per poll. A file or URL
//! that cannot be read or parsed keeps its previous targets, as in Prometheus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::target::{TargetGroup, ADDRESS};
use crate::config::{FileSdConfig, HttpSdConfig, ScrapeConfig};
use crate::http_client::{HttpClient, HttpSettings};

/// How often file discovery looks for changed files.
pub const FILE_POLL: Duration = Duration::from_secs(1);

/// One provider's complete current list of groups.
pub type Update = (usize, Vec<TargetGroup>);

/// The static groups of a job: provider 0.
pub fn static_groups(job: &ScrapeConfig) -> Vec<TargetGroup> {
    job.static_configs
        .iter()
        .map(|group| TargetGroup::from_addresses(&group.targets, &group.labels))
        .collect()
}

/// Starts one task per file or HTTP provider; they number from 1 in that order.
pub fn spawn_providers(job: &ScrapeConfig, updates: &mpsc::Sender<Update>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let mut index = 1;
    for file_sd in &job.file_sd_configs {
        tasks.push(tokio::spawn(watch_files(index, file_sd.clone(), updates.clone())));
        index += 1;
    }
    for http_sd in &job.http_sd_configs {
        tasks.push(tokio::spawn(poll_http(index, http_sd.clone(), updates.clone())));
        index += 1;
    }
    tasks
}

/// A target group as written in a file or sent by an HTTP SD endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDocument {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn into_groups(documents: Vec<GroupDocument>, meta_name: &str, meta_value: &str) -> Vec<TargetGroup> {
    documents
        .into_iter()
        .map(|doc| {
            let mut labels = doc.labels;
            labels.insert(meta_name.to_string(), meta_value.to_string());
            TargetGroup {
                targets: doc
                    .targets
                    .into_iter()
                    .map(|t| BTreeMap::from([(ADDRESS.to_string(), t)]))
                    .collect(),
                labels,
            }
        })
        .collect()
}

/// Parses one file_sd file: JSON for `.json`, YAML otherwise.
fn parse_file(path: &Path, text: &str) -> Result<Vec<GroupDocument>, String> {
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        serde_json::from_str(text).map_err(|err| err.to_string())
    } else {
        serde_saphyr::from_str::<Option<Vec<GroupDocument>>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|err| err.to_string())
    };
    parsed.map_err(|err| format!("error reading file {:?}: {err}", path.display()))
}

/// The files matching the patterns now, with their modification times.
fn matching_files(patterns: &[String]) -> BTreeMap<PathBuf, Option<SystemTime>> {
    let mut files = BTreeMap::new();
    for pattern in patterns {
        let Ok(paths) = glob::glob(pattern) else {
            tracing::warn!(pattern, "invalid file_sd pattern");
            continue;
        };
        for path in paths.flatten() {
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            files.insert(path, modified);
        }
    }
    files
}

/// Groups per file; a file that fails to parse keeps what it had.
#[derive(Default)]
struct FileState {
    groups: BTreeMap<PathBuf, Vec<TargetGroup>>,
}

impl FileState {
    fn reread(&mut self, files: &BTreeMap<PathBuf, Option<SystemTime>>) -> Vec<TargetGroup> {
        self.groups.retain(|path, _| files.contains_key(path));
        for path in files.keys() {
            let text =
                std::fs::read_to_string(path).map_err(|err| format!("error reading file {path:?}: {err}"));
            match text.and_then(|text| parse_file(path, &text)) {
                Ok(docs) => {
                    let groups = into_groups(docs, "__meta_filepath", &path.display().to_string());
                    self.groups.insert(path.clone(), groups);
                }
                Err(err) => tracing::error!("file_sd: {err}"),
            }
        }
        self.groups.values().flatten().cloned().collect()
    }
}

async fn watch_files(index: usize, config: FileSdConfig, updates: mpsc::Sender<Update>) {
    let refresh: Duration = config.refresh_interval.into();
    let mut state = FileState::default();
    let mut seen: Option<BTreeMap<PathBuf, Option<SystemTime>>> = None;
    let mut last_full_read = tokio::time::Instant::now();
    loop {
        let files = matching_files(&config.files);
        let due = last_full_read.elapsed() >= refresh;
        if due || seen.as_ref() != Some(&files) {
            let groups = state.reread(&files);
            last_full_read = tokio::time::Instant::now();
            seen = Some(files);
            if updates.send((index, groups)).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(FILE_POLL).await;
    }
}

async fn poll_http(index: usize, config: HttpSdConfig, updates: mpsc::Sender<Update>) {
    let settings = HttpSettings {
        basic_auth: config.basic_auth.clone(),
        authorization: config.authorization.clone(),
        tls: config.tls_config.clone(),
        follow_redirects: config.follow_redirects,
        compression: true,
    };
    let client = match HttpClient::new(settings) {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(url = config.url, "http_sd: {err}");
            return;
        }
    };
    let refresh: Duration = config.refresh_interval.into();
    let mut ticker = tokio::time::interval(refresh);
    loop {
        ticker.tick().await;
        match fetch_http_groups(&client, &config.url, refresh).await {
            Ok(groups) => {
                if updates.send((index, groups)).await.is_err() {
                    return;
                }
            }
            Err(err) => tracing::error!(url = config.url, "http_sd: {err}"),
        }
    }
}

async fn fetch_http_groups(
    client: &HttpClient,
    url: &str,
    refresh: Duration,
) -> Result<Vec<TargetGroup>, String> {
    let request = client
        .client
        .get(url)
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            refresh.as_secs().to_string(),
        )
        .timeout(refresh.max(Duration::from_secs(1)));
    let response = client
        .authorize(request)?
        .send()
        .await
        .map_err(|err| format!("cannot fetch {url}: {err}"))?;
    if !response.status().is_success() {
        return Err(format!("server returned HTTP status {}", response.status()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|err| format!("cannot read {url}: {err}"))?;
    let documents: Vec<GroupDocument> =
        serde_json::from_slice(&body).map_err(|err| format!("invalid target groups from {url}: {err}"))?;
    Ok(into_groups(documents, "__meta_url", url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_parse_as_json_or_yaml_with_the_file_path_label() {
        let json = r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}]"#;
        let docs = parse_file(Path::new("t.json"), json).unwrap();
        let groups = into_groups(docs, "__meta_filepath", "t.json");
        assert_eq!(groups[0].targets.len(), 2);
        assert_eq!(groups[0].labels["env"], "prod");
        assert_eq!(groups[0].labels["__meta_filepath"], "t.json");
        let yaml = "- targets: ['c:3']\n";
        let docs = parse_file(Path::new("t.yml"), yaml).unwrap();
        assert_eq!(docs[0].targets, ["c:3"]);
        assert!(parse_file(Path::new("t.yml"), "").unwrap().is_empty());
    }

    #[test]
    fn a_broken_file_keeps_its_previous_targets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, r#"[{"targets": ["a:1"]}]"#).unwrap();
        let pattern = vec![dir.path().join("*.json").display().to_string()];
        let mut state = FileState::default();
        assert_eq!(state.reread(&matching_files(&pattern)).len(), 1);
        std::fs::write(&path, "[{").unwrap();
        let groups = state.reread(&matching_files(&pattern));
        assert_eq!(groups[0].targets[0][ADDRESS], "a:1");
        std::fs::remove_file(&path).unwrap();
        assert!(state.reread(&matching_files(&pattern)).is_empty());
    }

    #[test]
    fn unknown_fields_in_a_group_are_errors() {
        let err = parse_file(Path::new("t.json"), r#"[{"target": ["a:1"]}]"#).unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }
}
