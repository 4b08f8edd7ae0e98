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
    let data_dir = data_dir.as_path();
    let opts = storage_options(&config);
    let dir = data_dir.to_path_buf();
    let started = std::time::Instant::now();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&dir, opts)).await??;
    tracing::info!(
        series = storage.num_series(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        dir = %data_dir.display(),
        "storage ready"
    );
    let mut self_metrics = SelfMetrics::new();
    let remote =
        RemoteWriter::start(&storage, &config, self_metrics.registry_mut()).map_err(anyhow::Error::msg)?;
    let incidents = Incidents::open(&storage, &config.incidents)?;
    incidents.register_metrics(self_metrics.registry_mut());
    let metrics = Arc::new(self_metrics);
    let notifier = Arc::new(
        crate::notify::Notifier::start(&storage, &config, &external_url(&config))
            .map_err(|err| anyhow::anyhow!("alerting: {err}"))?,
    );
    notifier.add_observer(Arc::new(incidents.clone()));
    let rules = rule_manager(&config, &storage, notifier.clone(), config_file.is_none());
    let applied_yaml = Arc::new(parking_lot::RwLock::new(config_yaml));
    let state = AppState {
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
            config_yaml: applied_yaml.clone(),
            flags,
            retention: config.storage.retention_time.to_string(),
        }),
    };
    let dashboards = crate::dashboards::open(&storage, &config.dashboards)?;
    let housekeeping = spawn_housekeeping(storage.clone());
    let incidents_housekeeping = incidents.spawn_housekeeping();
    let ml_monitor = crate::ml::MlMonitor::open(storage.clone(), &config.models)?;
    let ml_ticker = crate::ml::spawn_ticker(ml_monitor.clone());
    let listener = TcpListener::bind(config.server.listen).await?;
    tracing::info!(listen = %config.server.listen, "serving");
    let scrape = ScrapeManager::new(Arc::new(storage.clone()));
    let reload = reload::ReloadHub::new(config_file, listen_override, metrics, applied_yaml);
    let scrape_for_reload = scrape.clone();
    reload.subscribe("scrape", Box::new(move |config| scrape_for_reload.apply(config)));
    let rules_for_reload = rules.clone();
    reload.subscribe("rules", Box::new(move |config| rules_for_reload.apply(config)));
    let notifier_for_reload = notifier.clone();
    reload.subscribe(
        "alerting",
        Box::new(move |config| notifier_for_reload.apply(config)),
    );
    let remote_for_reload = remote.clone();
    reload.subscribe(
        "remote_write",
        Box::new(move |config| remote_for_reload.apply(config)),
    );
    let incidents_for_reload = incidents.clone();
    reload.subscribe(
        "incidents",
        Box::new(move |config| incidents_for_reload.apply(config)),
    );
    reload
        .apply(&config)
        .map_err(|err| anyhow::anyhow!("cannot apply configuration: {err}"))?;
    reload.spawn_sighup();
    let body_limit = byte_limit(config.server.max_request_body_size.bytes());
    let app = api::router(state, body_limit)
        .merge(crate::ml::router(ml_monitor.clone(), body_limit))
        .merge(crate::scrape::router(scrape.clone()))
        .merge(crate::rules::routes(rules.clone()))
        .merge(notifier.routes())
        .merge(incidents::routes(incidents.clone()))
        .merge(crate::dashboards::router(dashboards))
        .merge(reload.router())
        // Last: the UI answers every path no other router claims.
        .merge(crate::ui::router());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("stopping scrapes: staleness markers for every target");
    scrape.stop().await;
    housekeeping.abort();
    rules.stop();
    incidents_housekeeping.abort();
    ml_ticker.abort();
    if let Err(e) = ml_monitor.flush(crate::storage::now_ms()) {
        tracing::error!("final ML flush failed: {e}");
    }
    remote.shutdown().await;
    tracing::info!("shutting down: final checkpoint");
    tokio::task::spawn_blocking(move || storage.close()).await??;
    Ok(())
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
