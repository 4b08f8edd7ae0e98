//! The rule manager: loads rule files from the configuration and runs each group
//! on its interval.
//!
//! Owns the set of running groups, their schedule (aligned evaluation
//! timestamps; missed rounds are skipped, not caught up), `for`-state restore on
//! the first load, and reloads ([`RuleManager::apply`]): a configuration whose
//! rule files do not load leaves the running groups untouched; groups that
//! survive a reload keep their alerts. Must not parse files itself (`file`) or
//! evaluate rules itself (`group`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use super::eval::EvalContext;
use super::file::{self, GroupSpec, LoadOptions};
use super::group::{Group, GroupOutput, RESEND_DELAY_MS};
use crate::alerts::AlertSink;
use crate::config::Config;
use crate::promql::{Engine, EngineOptions};
use crate::storage::{now_ms, Storage};

/// The default rule pack (`rules/*.yml`), compiled in: it runs when the server
/// starts on its embedded defaults (no `--config`).
pub const BUILTIN_RULE_PACK: &[(&str, &str)] = &[
    ("rules/ml-model.yml", include_str!("../../rules/ml-model.yml")),
    ("rules/ml-data.yml", include_str!("../../rules/ml-data.yml")),
    ("rules/host.yml", include_str!("../../rules/host.yml")),
];

struct Shared {
    storage: Storage,
    engine_options: EngineOptions,
    sink: Option<Arc<dyn AlertSink>>,
    external_url: String,
    /// Load the built-in pack when the configuration names no rule files.
    builtin_pack: bool,
    groups: RwLock<Vec<Arc<Mutex<Group>>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Set after the first successful load: later groups need no restore.
    loaded_once: Mutex<bool>,
}

/// Runs rule groups against the storage and hands alerts to the sink.
#[derive(Clone)]
pub struct RuleManager {
    shared: Arc<Shared>,
}

impl RuleManager {
    /// `sink`: where alerts go (the notifier); `None` keeps them API-only.
    /// `builtin_pack`: whether the compiled-in rule pack applies when no rule files are configured.
    pub fn new(
        storage: Storage,
        sink: Option<Arc<dyn AlertSink>>,
        external_url: String,
        builtin_pack: bool,
    ) -> RuleManager {
        RuleManager {
            shared: Arc::new(Shared {
                storage,
                engine_options: EngineOptions::default(),
                sink,
                external_url,
                builtin_pack,
                groups: RwLock::new(Vec::new()),
                tasks: Mutex::new(Vec::new()),
                loaded_once: Mutex::new(false),
            }),
        }
    }

    /// Loads the configuration's rule files and (re)starts the groups; must run
    /// inside a tokio runtime. On error the running groups are kept.
    pub fn apply(&self, config: &Config) -> Result<(), String> {
        let specs = load_specs(config, self.shared.builtin_pack)?;
        let default_interval = i64::try_from(config.global.evaluation_interval.as_millis()).unwrap_or(60_000);
        let mut groups = Vec::with_capacity(specs.len());
        for spec in &specs {
            groups.push(Group::new(spec, default_interval)?);
        }
        let mut loaded_once = self.shared.loaded_once.lock();
        let old = self.shared.groups.read().clone();
        for group in &mut groups {
            match old.iter().find(|o| o.lock().key() == group.key()) {
                Some(previous) => group.carry_state_from(&previous.lock()),
                None if *loaded_once => group.mark_restored(),
                None => {}
            }
        }
        let restore = !*loaded_once;
        *loaded_once = true;
        let context = EvalContext {
            engine: Engine::new(EngineOptions {
                default_subquery_step_ms: default_interval,
                ..self.shared.engine_options.clone()
            }),
            queryable: Arc::new(self.shared.storage.clone()),
            external_labels: config.global.external_labels.clone(),
            external_url: self.shared.external_url.clone(),
        };
        let groups: Vec<Arc<Mutex<Group>>> = groups.into_iter().map(|g| Arc::new(Mutex::new(g))).collect();
        let mut tasks = self.shared.tasks.lock();
        for task in tasks.drain(..) {
            task.abort();
        }
        for group in &groups {
            tasks.push(tokio::spawn(run_group(
                group.clone(),
                self.shared.clone(),
                context.clone(),
                restore,
            )));
        }
        *self.shared.groups.write() = groups;
        tracing::info!(groups = specs.len(), "rules loaded");
        Ok(())
    }

    /// A copy of every group as it stands (for the API).
    pub fn groups(&self) -> Vec<Group> {
        self.shared
            .groups
            .read()
            .iter()
            .map(|g| g.lock().clone())
            .collect()
    }

    /// Stops every group's schedule.
    pub fn stop(&self) {
        for task in self.shared.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

/// The configured rule files, or the built-in pack when none are configured and it applies.
fn load_specs(config: &Config, builtin_pack: bool) -> Result<Vec<GroupSpec>, String> {
    if config.rule_files.is_empty() && builtin_pack {
        return builtin_specs();
    }
    let files: Vec<PathBuf> = file::expand_globs(&config.rule_files, std::path::Path::new(""))?;
    file::load_files(&files, LoadOptions::default()).map_err(|e| e.to_string())
}

/// The parsed built-in rule pack.
pub fn builtin_specs() -> Result<Vec<GroupSpec>, String> {
    let mut specs = Vec::new();
    for (name, text) in BUILTIN_RULE_PACK {
        specs.extend(file::parse_str(text, name, LoadOptions::default()).map_err(|e| e.to_string())?);
    }
    Ok(specs)
}

/// One group's schedule: evaluate at each aligned timestamp, forever.
async fn run_group(group: Arc<Mutex<Group>>, shared: Arc<Shared>, context: EvalContext, mut restore: bool) {
    let (interval, first) = {
        let g = group.lock();
        (g.interval_ms, g.eval_timestamp(now_ms()) + g.interval_ms)
    };
    let mut ts = first;
    loop {
        let wait = ts - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
        }
        let (g, s, c) = (group.clone(), shared.clone(), context.clone());
        let do_restore = restore;
        let evaluated = tokio::task::spawn_blocking(move || {
            let mut g = g.lock();
            let output = GroupOutput {
                appender: &s.storage,
                sink: s.sink.as_ref(),
                resend_delay_ms: RESEND_DELAY_MS,
            };
            g.eval(&c, &output, ts);
            if do_restore {
                g.restore_for_state(&s.storage, ts);
            }
        })
        .await;
        if let Err(e) = evaluated {
            tracing::error!("rule group evaluation task failed: {e}");
        }
        restore = false;
        ts += interval;
        let now = now_ms();
        if now - ts >= interval {
            let missed = (now - ts) / interval;
            tracing::warn!(missed, "rule group missed evaluations");
            ts += missed * interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageOptions;

    fn config_with_rules(dir: &std::path::Path, rules: &str) -> Config {
        let path = dir.join("r.yml");
        std::fs::write(&path, rules).unwrap();
        Config {
            rule_files: vec![path.display().to_string()],
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn a_bad_reload_keeps_the_running_groups() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("data"), StorageOptions::default()).unwrap();
        let manager = RuleManager::new(storage, None, "http://x".into(), false);
        let good = config_with_rules(
            dir.path(),
            "groups:\n- name: g\n  rules:\n  - record: a\n    expr: vector(1)\n",
        );
        manager.apply(&good).unwrap();
        assert_eq!(manager.groups()[0].name, "g");
        let bad = config_with_rules(
            dir.path(),
            "groups:\n- name: h\n  rules:\n  - record: a\n    expr: 'vector('\n",
        );
        let err = manager.apply(&bad).unwrap_err();
        assert!(err.contains("r.yml:5:11"), "{err}");
        assert_eq!(manager.groups()[0].name, "g");
        manager.stop();
    }

    #[tokio::test]
    async fn a_configuration_without_rule_files_runs_the_builtin_pack_only_on_embedded_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("data"), StorageOptions::default()).unwrap();
        let embedded = RuleManager::new(storage.clone(), None, "http://x".into(), true);
        embedded.apply(&Config::default()).unwrap();
        let rules: usize = embedded.groups().iter().map(|g| g.rules.len()).sum();
        assert_eq!(rules, 11);
        embedded.stop();
        let configured = RuleManager::new(storage, None, "http://x".into(), false);
        configured.apply(&Config::default()).unwrap();
        assert!(configured.groups().is_empty());
    }
}
