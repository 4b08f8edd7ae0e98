//! Dashboards kept in the `dashboards` aux tree of the storage database, one JSON
//! record per uid, and their provisioning from a folder of JSON files.
//!
//! Provisioned dashboards belong to their file: saving or deleting them through the
//! API is refused (save a copy under another uid instead), and a dashboard whose file
//! disappeared is removed at the next start, as Grafana's file provisioning does.

use super::grafana;
use super::model::{Dashboard, Violation};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid dashboard: {}", join(.0))]
    Invalid(Vec<Violation>),
    #[error("dashboard {0:?} not found")]
    NotFound(String),
    #[error(
        "dashboard {uid:?} is provisioned from {file}: edit that file, or save a copy under another uid"
    )]
    Provisioned { uid: String, file: String },
    #[error("dashboard {uid:?} changed since it was loaded (stored version {stored}, yours {yours}); reload it or save with overwrite")]
    VersionMismatch { uid: String, stored: u64, yours: u64 },
    #[error("dashboard store: {0}")]
    Database(#[from] sled::Error),
    #[error("dashboard store: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("dashboard store: corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

fn join(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the store knows about a dashboard besides its JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The file it was provisioned from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<String>,
    /// Milliseconds since the epoch of the last save.
    #[serde(rename = "updatedAt")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDashboard {
    pub dashboard: Dashboard,
    pub meta: Meta,
}

#[derive(Clone)]
pub struct DashboardStore {
    tree: sled::Tree,
}

impl DashboardStore {
    pub fn new(tree: sled::Tree) -> Self {
        DashboardStore { tree }
    }

    pub fn get(&self, uid: &str) -> Result<Option<StoredDashboard>, StoreError> {
        match self.tree.get(uid.as_bytes())? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every stored dashboard, by uid.
    pub fn list(&self) -> Result<Vec<StoredDashboard>, StoreError> {
        let mut all = Vec::new();
        for entry in self.tree.iter() {
            let (_, bytes) = entry?;
            all.push(serde_json::from_slice(&bytes)?);
        }
        Ok(all)
    }

    /// Saves a dashboard edited through the API and returns it with its new version.
    /// `overwrite` skips the check that nobody saved it in between.
    pub fn save(&self, mut dashboard: Dashboard, overwrite: bool) -> Result<Dashboard, StoreError> {
        dashboard.number_panels();
        let violations = dashboard.violations();
        if !violations.is_empty() {
            return Err(StoreError::Invalid(violations));
        }
        let previous = self.get(&dashboard.uid)?;
        if let Some(previous) = &previous {
            if let Some(file) = &previous.meta.provisioned {
                return Err(StoreError::Provisioned {
                    uid: dashboard.uid,
                    file: file.clone(),
                });
            }
            let stored = previous.dashboard.version;
            if !overwrite && dashboard.version != stored {
                return Err(StoreError::VersionMismatch {
                    uid: dashboard.uid,
                    stored,
                    yours: dashboard.version,
                });
            }
        }
        dashboard.version = previous.map_or(1, |p| p.dashboard.version + 1);
        self.put(&dashboard, Meta::default())?;
        Ok(dashboard)
    }

    pub fn delete(&self, uid: &str) -> Result<(), StoreError> {
        let stored = self
            .get(uid)?
            .ok_or_else(|| StoreError::NotFound(uid.to_string()))?;
        if let Some(file) = stored.meta.provisioned {
            return Err(StoreError::Provisioned {
                uid: uid.to_string(),
                file,
            });
        }
        self.tree.remove(uid.as_bytes())?;
        Ok(())
    }

    fn put(&self, dashboard: &Dashboard, mut meta: Meta) -> Result<(), StoreError> {
        meta.updated_at = crate::storage::now_ms();
        let record = StoredDashboard {
            dashboard: dashboard.clone(),
            meta,
        };
        self.tree
            .insert(dashboard.uid.as_bytes(), serde_json::to_vec(&record)?)?;
        Ok(())
    }

    /// Loads every `*.json` file in `dir` (ours or Grafana's), replacing what was
    /// provisioned before. Returns one message per file that could not be loaded.
    pub fn provision(&self, dir: &Path) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut loaded = std::collections::HashSet::new();
        for file in json_files(dir, &mut problems) {
            match read_dashboard(&file) {
                Ok((dashboard, warnings)) => {
                    for w in warnings {
                        problems.push(format!("{}: {w}", file.display()));
                    }
                    loaded.insert(dashboard.uid.clone());
                    let meta = Meta {
                        provisioned: Some(file.display().to_string()),
                        updated_at: 0,
                    };
                    self.put(&dashboard, meta)?;
                }
                Err(message) => problems.push(format!("{}: {message}", file.display())),
            }
        }
        for stored in self.list()? {
            if stored.meta.provisioned.is_some() && !loaded.contains(&stored.dashboard.uid) {
                self.tree.remove(stored.dashboard.uid.as_bytes())?;
            }
        }
        Ok(problems)
    }
}

fn json_files(dir: &Path, problems: &mut Vec<String>) -> Vec<std::path::PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(format!("{}: cannot read dashboards folder: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// One provisioning file as a valid dashboard, or why not (with line and column).
fn read_dashboard(file: &Path) -> Result<(Dashboard, Vec<String>), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let json = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
    let imported = grafana::import(json)?;
    let violations = imported.dashboard.violations();
    if !violations.is_empty() {
        return Err(join(&violations));
    }
    Ok((imported.dashboard, imported.warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, DashboardStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path().join("db")).open().unwrap();
        (dir, DashboardStore::new(db.open_tree("dashboards").unwrap()))
    }

    fn dashboard(uid: &str, version: u64) -> Dashboard {
        serde_json::from_value(json!({"uid": uid, "title": "T", "version": version,
            "panels": [{"type": "stat", "targets": [{"expr": "up"}]}]}))
        .unwrap()
    }

    #[test]
    fn versions_guard_concurrent_edits() {
        let (_dir, store) = store();
        assert_eq!(store.save(dashboard("a", 0), false).unwrap().version, 1);
        assert_eq!(store.save(dashboard("a", 1), false).unwrap().version, 2);
        let stale = store.save(dashboard("a", 1), false).unwrap_err();
        assert!(
            matches!(stale, StoreError::VersionMismatch { stored: 2, .. }),
            "{stale}"
        );
        assert_eq!(store.save(dashboard("a", 1), true).unwrap().version, 3);
        assert_eq!(store.get("a").unwrap().unwrap().dashboard.panels[0].id, 1);
        store.delete("a").unwrap();
        assert!(store.get("a").unwrap().is_none());
        assert!(matches!(store.delete("a"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn invalid_dashboards_are_refused() {
        let (_dir, store) = store();
        let mut bad = dashboard("a", 0);
        bad.title.clear();
        assert!(matches!(store.save(bad, false), Err(StoreError::Invalid(v)) if v[0].field == "title"));
    }

    #[test]
    fn provisioning_loads_files_and_forgets_removed_ones() {
        let (dir, store) = store();
        let folder = dir.path().join("dash");
        std::fs::create_dir(&folder).unwrap();
        let file = folder.join("node.json");
        std::fs::write(
            &file,
            r#"{"uid":"node","title":"Node","rows":[{"panels":[{"type":"graph","span":6}]}]}"#,
        )
        .unwrap();
        std::fs::write(folder.join("broken.json"), "{\"title\": ").unwrap();
        let problems = store.provision(&folder).unwrap();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("broken.json: invalid JSON") && problems[0].contains("line 1"),
            "{problems:?}"
        );
        let node = store.get("node").unwrap().unwrap();
        assert_eq!(node.dashboard.panels[0].kind, "timeseries");
        assert!(matches!(
            store.save(dashboard("node", 0), true),
            Err(StoreError::Provisioned { .. })
        ));
        assert!(matches!(
            store.delete("node"),
            Err(StoreError::Provisioned { .. })
        ));
        std::fs::remove_file(&file).unwrap();
        store.provision(&folder).unwrap();
        assert!(store.get("node").unwrap().is_none());
    }
}
