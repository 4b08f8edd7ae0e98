//! `sightline serve`: opens the storage, starts its housekeeping, serves HTTP,
//! and shuts down cleanly on SIGTERM/SIGINT (final checkpoint, exit 0).
//!
//! Only wiring lives here: configuration → subsystems. It must not hold
//! storage, query or ingest logic.

pub mod reload;

use crate::api::{self, AppState, ServerInfo};
use crate::config::{Config, Fsync};
use crate::incidents::{self, Incidents};
use crate::ingest::remote_write::WriteLimits;
use crate::promql::{Engine, EngineOptions};
use crate::remote::RemoteWriter;
use crate::scrape::ScrapeManager;
use crate::storage::{FsyncMode, Storage, StorageOptions};
use crate::system::SelfMetrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Housekeeping cadence. Checkpoints bound restart time (WAL replay) and WAL size.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);
const CHECKPOINT_WAL_BYTES: u64 = 256 << 20;
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// Prometheus's `--query.max-concurrency` default.
const MAX_CONCURRENT_QUERIES: usize = 20;

/// Maps the `storage:` config onto the engine's options.
pub fn storage_options(config: &Config) -> StorageOptions {
    let s = &config.storage;
    let ms = |d: crate::config::PromDuration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    StorageOptions {
        retention_ms: ms(s.retention_time),
        retention_bytes: s.retention_size.bytes(),
        fsync: match s.fsync {
            Fsync::Always => FsyncMode::Always,
            Fsync::Interval => FsyncMode::Interval,
        },
        out_of_order_time_window_ms: ms(s.out_of_order_time_window),
        cache_capacity_bytes: s.cache_capacity.bytes(),
        max_future_ms: ms(s.max_future),
        max_series: usize::try_from(s.max_series).unwrap_or(usize::MAX),
        read_only: false,
    }
}

/// What `serve` runs with.
pub struct ServeOptions {
    pub config: Config,
    /// The configuration's YAML text, for `/api/v1/status/config`.
    pub config_yaml: String,
    pub data_dir: std::path::PathBuf,
    /// Effective command-line flags, for `/api/v1/status/flags`.
    pub flags: Vec<(String, String)>,
    /// The file reloads re-read; `None` on the embedded defaults.
    pub config_file: Option<std::path::PathBuf>,
    /// `--listen`, which keeps winning over the file on reload.
    pub listen_override: Option<std::net::SocketAddr>,
}

/// Runs the server until a shutdown signal.
pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let ServeOptions {
        config,
        config_yaml,
        data_dir,
        flags,
        config_file,
        listen_override,
    } = options;
    let storage = open_storage(&data_dir, &config).await?;
    let mut self_metrics = SelfMetrics::new();
    let parts = Subsystems::start(&storage, &config, &mut self_metrics, config_file.is_none())?;
    let metrics = Arc::new(self_metrics);
    let applied_yaml = Arc::new(parking_lot::RwLock::new(config_yaml));
    let state = api_state(&storage, &config, &metrics, applied_yaml.clone(), flags);
    let background = parts.spawn_background(&storage);
    // Bound before the scrapes start, so the first scrape of our own /metrics finds it.
    let listener = TcpListener::bind(config.server.listen).await?;
    tracing::info!(listen = %config.server.listen, "serving");
    let reload = reload::ReloadHub::new(config_file, listen_override, metrics, applied_yaml);
    parts.subscribe_to_reloads(&reload);
    reload
        .apply(&config)
        .map_err(|err| anyhow::anyhow!("cannot apply configuration: {err}"))?;
    reload.spawn_sighup();
    let body_limit = byte_limit(config.server.max_request_body_size.bytes());
    let app = parts.router(state, &reload, body_limit);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    parts.stop(background).await;
    tracing::info!("shutting down: final checkpoint");
    tokio::task::spawn_blocking(move || storage.close()).await??;
    Ok(())
}

async fn open_storage(data_dir: &std::path::Path, config: &Config) -> anyhow::Result<Storage> {
    let opts = storage_options(config);
    let dir = data_dir.to_path_buf();
    let started = std::time::Instant::now();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&dir, opts)).await??;
    tracing::info!(
        series = storage.num_series(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        dir = %data_dir.display(),
        "storage ready"
    );
    Ok(storage)
}

/// The query API's shared state.
fn api_state(
    storage: &Storage,
    config: &Config,
    metrics: &Arc<SelfMetrics>,
    applied_yaml: Arc<parking_lot::RwLock<String>>,
    flags: Vec<(String, String)>,
) -> AppState {
    AppState {
        storage: storage.clone(),
        metrics: metrics.clone(),
        write_limits: WriteLimits {
            max_decompressed_bytes: byte_limit(config.server.remote_write_max_decompressed_size.bytes()),
            ..WriteLimits::default()
        },
        engine: Engine::new(EngineOptions::default()),
        query_slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_QUERIES)),
        info: Arc::new(ServerInfo {
            start_time: chrono::Utc::now(),
            config_yaml: applied_yaml,
            flags,
            retention: config.storage.retention_time.to_string(),
        }),
    }
}

/// Every subsystem that runs beside the query API, started from one configuration.
struct Subsystems {
    remote: RemoteWriter,
    incidents: Incidents,
    notifier: Arc<crate::notify::Notifier>,
    rules: crate::rules::RuleManager,
    ml: crate::ml::MlMonitor,
    dashboards: crate::dashboards::DashboardsState,
    scrape: Arc<ScrapeManager>,
}

/// Tasks that run until shutdown.
struct Background {
    housekeeping: tokio::task::JoinHandle<()>,
    incidents: tokio::task::JoinHandle<()>,
    ml_ticker: tokio::task::JoinHandle<()>,
}

impl Subsystems {
    fn start(
        storage: &Storage,
        config: &Config,
        self_metrics: &mut SelfMetrics,
        embedded_defaults: bool,
    ) -> anyhow::Result<Subsystems> {
        let remote =
            RemoteWriter::start(storage, config, self_metrics.registry_mut()).map_err(anyhow::Error::msg)?;
        let incidents = Incidents::open(storage, &config.incidents)?;
        incidents.register_metrics(self_metrics.registry_mut());
        let notifier = Arc::new(
            crate::notify::Notifier::start(storage, config, &external_url(config))
                .map_err(|err| anyhow::anyhow!("alerting: {err}"))?,
        );
        notifier.add_observer(Arc::new(incidents.clone()));
        let rules = rule_manager(config, storage, notifier.clone(), embedded_defaults);
        Ok(Subsystems {
            remote,
            incidents,
            notifier,
            rules,
            ml: crate::ml::MlMonitor::open(storage.clone(), &config.models)?,
            dashboards: crate::dashboards::open(storage, &config.dashboards)?,
            scrape: ScrapeManager::new(Arc::new(storage.clone())),
        })
    }

    /// Each subsystem that follows the configuration file gets every reload.
    fn subscribe_to_reloads(&self, reload: &reload::ReloadHub) {
        let scrape = self.scrape.clone();
        reload.subscribe("scrape", Box::new(move |config| scrape.apply(config)));
        let rules = self.rules.clone();
        reload.subscribe("rules", Box::new(move |config| rules.apply(config)));
        let notifier = self.notifier.clone();
        reload.subscribe("alerting", Box::new(move |config| notifier.apply(config)));
        let remote = self.remote.clone();
        reload.subscribe("remote_write", Box::new(move |config| remote.apply(config)));
        let incidents = self.incidents.clone();
        reload.subscribe("incidents", Box::new(move |config| incidents.apply(config)));
    }

    fn spawn_background(&self, storage: &Storage) -> Background {
        Background {
            housekeeping: spawn_housekeeping(storage.clone()),
            incidents: self.incidents.spawn_housekeeping(),
            ml_ticker: crate::ml::spawn_ticker(self.ml.clone()),
        }
    }

    fn router(&self, state: AppState, reload: &Arc<reload::ReloadHub>, body_limit: usize) -> axum::Router {
        api::router(state, body_limit)
            .merge(crate::ml::router(self.ml.clone(), body_limit))
            .merge(crate::scrape::router(self.scrape.clone()))
            .merge(crate::rules::routes(self.rules.clone()))
            .merge(self.notifier.routes())
            .merge(incidents::routes(self.incidents.clone()))
            .merge(crate::dashboards::router(self.dashboards.clone()))
            .merge(reload.router())
            // Last: the UI answers every path no other router claims.
            .merge(crate::ui::router())
    }

    /// Staleness markers for every target, then the background tasks stop and
    /// queued ML state and outgoing samples are flushed.
    async fn stop(self, background: Background) {
        tracing::info!("stopping scrapes: staleness markers for every target");
        self.scrape.stop().await;
        background.housekeeping.abort();
        self.rules.stop();
        background.incidents.abort();
        background.ml_ticker.abort();
        if let Err(e) = self.ml.flush(crate::storage::now_ms()) {
            tracing::error!("final ML flush failed: {e}");
        }
        self.remote.shutdown().await;
    }
}

/// Starts rule evaluation. Without `--config` (embedded defaults) the built-in
/// rule pack runs; with a configuration file only its `rule_files` do.
fn rule_manager(
    config: &Config,
    storage: &Storage,
    sink: Arc<dyn crate::alerts::AlertSink>,
    embedded_defaults: bool,
) -> crate::rules::RuleManager {
    crate::rules::RuleManager::new(
        storage.clone(),
        Some(sink),
        external_url(config),
        embedded_defaults,
    )
}

/// The address alerts and notifications link back to.
fn external_url(config: &Config) -> String {
    format!("http://{}", config.server.listen)
}

fn byte_limit(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// WAL fsync ticks (interval mode), checkpoints, retention and compaction.
fn spawn_housekeeping(storage: Storage) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_checkpoint = tokio::time::Instant::now();
        let mut last_maintenance = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let s = storage.clone();
            let checkpoint_due =
                last_checkpoint.elapsed() >= CHECKPOINT_EVERY || storage.wal_size() >= CHECKPOINT_WAL_BYTES;
            let maintenance_due = last_maintenance.elapsed() >= MAINTENANCE_EVERY;
            if checkpoint_due {
                last_checkpoint = tokio::time::Instant::now();
            }
            if maintenance_due {
                last_maintenance = tokio::time::Instant::now();
            }
            let result =
                tokio::task::spawn_blocking(move || housekeeping_step(&s, checkpoint_due, maintenance_due))
                    .await;
            if let Err(e) = result {
                tracing::error!("housekeeping task failed: {e}");
            }
        }
    })
}

fn housekeeping_step(storage: &Storage, checkpoint: bool, maintenance: bool) {
    if storage.options().fsync == FsyncMode::Interval {
        if let Err(e) = storage.sync_wal() {
            tracing::error!("WAL fsync failed: {e}");
        }
    }
    if maintenance {
        match storage.compact(false) {
            Ok(r) if r.partitions_compacted > 0 => tracing::info!(?r, "compacted"),
            Ok(_) => {}
            Err(e) => tracing::error!("compaction failed: {e}"),
        }
        match storage.apply_retention() {
            Ok(r) if r.partitions_dropped > 0 => tracing::info!(?r, "retention applied"),
            Ok(_) => {}
            Err(e) => tracing::error!("retention failed: {e}"),
        }
    }
    if checkpoint {
        if let Err(e) = storage.checkpoint() {
            tracing::error!("checkpoint failed: {e}");
        }
    }
}
