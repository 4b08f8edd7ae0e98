//! Configuration reload: SIGHUP and `POST`/`PUT /-/reload` re-read the config file
//! and hand it to every subsystem that registered an "apply" callback.
//!
//! Owns the list of callbacks and the outcome metrics
//! (`sightline_config_last_reload_successful`,
//! `sightline_config_last_reload_success_timestamp_seconds`). An invalid file or a
//! refusing subsystem leaves the running configuration in place (subsystems
//! that already accepted it keep it, as in Prometheus) and the reason is
//! returned and logged. It must not hold any subsystem's logic.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use parking_lot::{Mutex, RwLock};

use crate::config::{self, Config};
use crate::system::SelfMetrics;

/// Applies a new configuration to one subsystem, or says why it cannot.
pub type ApplyConfig = Box<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;

/// The registered subsystems and where the configuration comes from.
pub struct ReloadHub {
    /// `None` when running on the embedded defaults: nothing to re-read.
    config_file: Option<PathBuf>,
    /// `--listen` given on the command line wins over the file, as at start.
    listen_override: Option<std::net::SocketAddr>,
    subscribers: Mutex<Vec<(String, ApplyConfig)>>,
    /// One reload at a time, so two signals cannot interleave their applies.
    running: tokio::sync::Mutex<()>,
    metrics: Arc<SelfMetrics>,
    /// The text of the configuration last applied in full, shown by
    /// `/api/v1/status/config`.
    applied_yaml: Arc<RwLock<String>>,
}

impl ReloadHub {
    pub fn new(
        config_file: Option<PathBuf>,
        listen_override: Option<std::net::SocketAddr>,
        metrics: Arc<SelfMetrics>,
        applied_yaml: Arc<RwLock<String>>,
    ) -> Arc<Self> {
        Arc::new(ReloadHub {
            config_file,
            listen_override,
            subscribers: Mutex::new(Vec::new()),
            running: tokio::sync::Mutex::new(()),
            metrics,
            applied_yaml,
        })
    }

    /// Adds a subsystem; `name` appears in error messages.
    pub fn subscribe(&self, name: &str, apply: ApplyConfig) {
        self.subscribers.lock().push((name.to_string(), apply));
    }

    /// Applies `config` to every subscriber (at start, and by [`ReloadHub::reload`]).
    pub fn apply(&self, config: &Config) -> Result<(), String> {
        let subscribers = self.subscribers.lock();
        let failures: Vec<String> = subscribers
            .iter()
            .filter_map(|(name, apply)| apply(config).err().map(|err| format!("{name}: {err}")))
            .collect();
        let ok = failures.is_empty();
        self.record(ok);
        if ok {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    /// Re-reads the configuration file and applies it.
    pub async fn reload(&self) -> Result<(), String> {
        let _one_at_a_time = self.running.lock().await;
        let Some(path) = &self.config_file else {
            tracing::info!("reload requested; running on embedded defaults, nothing to re-read");
            self.record(true);
            return Ok(());
        };
        let loaded = config::load_file_with_text(path).map(|(mut config, yaml)| {
            if let Some(listen) = self.listen_override {
                config.server.listen = listen;
            }
            (config, yaml)
        });
        let result = match loaded {
            Ok((config, yaml)) => self.apply(&config).map(|()| *self.applied_yaml.write() = yaml),
            Err(err) => {
                self.record(false);
                Err(err.to_string())
            }
        };
        match &result {
            Ok(()) => tracing::info!(file = %path.display(), "configuration reloaded"),
            Err(err) => tracing::error!(file = %path.display(), "configuration reload failed: {err}"),
        }
        result
    }

    fn record(&self, ok: bool) {
        self.metrics.config_last_reload_successful.set(i64::from(ok));
        if ok {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.metrics.config_last_reload_success_timestamp.set(now.floor());
        }
    }

    /// `POST` and `PUT /-/reload`: 200 on success, 500 with the reason otherwise (as Prometheus).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/-/reload", post(reload_handler).put(reload_handler))
            .with_state(self.clone())
    }

    /// Reloads on every SIGHUP until the process ends.
    pub fn spawn_sighup(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            let hub = self.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let mut hangups = match signal(SignalKind::hangup()) {
                    Ok(stream) => stream,
                    Err(err) => {
                        tracing::error!("cannot listen for SIGHUP: {err}");
                        return;
                    }
                };
                while hangups.recv().await.is_some() {
                    let _ = hub.reload().await;
                }
            });
        }
    }
}

async fn reload_handler(State(hub): State<Arc<ReloadHub>>) -> (StatusCode, String) {
    match hub.reload().await {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {err}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_for(file: Option<PathBuf>) -> Arc<ReloadHub> {
        ReloadHub::new(file, None, Arc::new(SelfMetrics::new()), Arc::default())
    }

    #[tokio::test]
    async fn a_bad_file_keeps_the_running_config_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yml");
        std::fs::write(&path, "global:\n  scrape_interval: 5s\n").unwrap();
        let hub = hub_for(Some(path.clone()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        hub.subscribe(
            "probe",
            Box::new(move |config| {
                sink.lock().push(config.global.scrape_interval.to_string());
                Ok(())
            }),
        );
        hub.reload().await.unwrap();
        std::fs::write(&path, "global:\n  scrape_interval: nope\n").unwrap();
        let err = hub.reload().await.unwrap_err();
        assert!(err.contains("c.yml:2:"), "{err}");
        assert_eq!(*seen.lock(), ["5s"]);
        assert_eq!(hub.metrics.config_last_reload_successful.get(), 0);
        assert_eq!(
            *hub.applied_yaml.read(),
            "global:\n  scrape_interval: 5s\n",
            "the status page keeps the last good file"
        );
    }

    #[tokio::test]
    async fn a_refusing_subscriber_fails_the_reload_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yml");
        std::fs::write(&path, "").unwrap();
        let hub = hub_for(Some(path));
        hub.subscribe("rules", Box::new(|_| Err("bad rule file".into())));
        assert_eq!(hub.reload().await.unwrap_err(), "rules: bad rule file");
        hub.subscribers.lock().clear();
        hub.reload().await.unwrap();
        assert_eq!(hub.metrics.config_last_reload_successful.get(), 1);
        assert!(hub.metrics.config_last_reload_success_timestamp.get() > 1.0e9);
    }
}
