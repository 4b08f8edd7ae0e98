//! A scrape pool: one job's discovered targets and their running loops.
//!
//! Owns merging the groups each discovery provider reports, turning them into
//! targets (relabelling, dropped targets kept for the API), starting a loop per
//! new target, stopping loops of targets that went away (which writes their
//! staleness markers) and enforcing `target_limit`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::cache::{Limits, SampleRules};
use super::discovery::{spawn_providers, static_groups, Update};
use super::scrape_loop::{self, ActiveTarget, Health, LoopContext, TargetHealth};
use super::target::{targets_of_group, Outcome, TargetGroup};
use crate::config::ScrapeConfig;
use crate::http_client::{HttpClient, HttpSettings};
use crate::storage::{Labels, RefAppender};

/// A running loop and how to stop it.
struct RunningLoop {
    active: Arc<ActiveTarget>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// What the pool currently scrapes and what relabelling dropped.
#[derive(Default)]
struct PoolTargets {
    running: HashMap<u64, RunningLoop>,
    /// In discovery order, for a stable API answer.
    order: Vec<u64>,
    dropped: Vec<Labels>,
}

/// One job. Dropping it does not stop the loops; call [`ScrapePool::stop`].
pub struct ScrapePool {
    pub config: ScrapeConfig,
    context: Arc<LoopContext>,
    targets: Arc<Mutex<PoolTargets>>,
    tasks: Vec<JoinHandle<()>>,
}

impl ScrapePool {
    /// Builds the job's client (errors here fail a reload); nothing runs until
    /// [`ScrapePool::start_discovery`].
    pub fn new(config: ScrapeConfig, appender: Arc<dyn RefAppender>) -> Result<Self, String> {
        let client = HttpClient::new(HttpSettings {
            basic_auth: config.basic_auth.clone(),
            authorization: config.authorization.clone(),
            tls: config.tls_config.clone(),
            follow_redirects: config.follow_redirects,
            compression: config.enable_compression,
        })
        .map_err(|err| format!("job {:?}: {err}", config.job_name))?;
        let context = Arc::new(LoopContext {
            client,
            appender,
            body_size_limit: config.body_size_limit.bytes(),
            rules: SampleRules {
                target_labels: Labels::default(),
                honor_labels: config.honor_labels,
                honor_timestamps: config.honor_timestamps,
                metric_relabel_configs: Arc::new(config.metric_relabel_configs.clone()),
                limits: Limits {
                    sample_limit: config.sample_limit,
                    label_limit: config.label_limit,
                    label_name_length_limit: config.label_name_length_limit,
                    label_value_length_limit: config.label_value_length_limit,
                },
            },
            forced_error: Arc::new(Mutex::new(None)),
        });
        Ok(ScrapePool {
            config,
            context,
            targets: Arc::new(Mutex::new(PoolTargets::default())),
            tasks: Vec::new(),
        })
    }

    /// Starts discovery; targets are scraped as soon as they are found.
    pub fn start_discovery(&mut self) {
        let (updates, receiver) = mpsc::channel::<Update>(16);
        let mut groups: BTreeMap<usize, Vec<TargetGroup>> = BTreeMap::new();
        groups.insert(0, static_groups(&self.config));
        self.tasks = spawn_providers(&self.config, &updates);
        drop(updates);
        let sync = SyncState {
            config: self.config.clone(),
            context: self.context.clone(),
            targets: self.targets.clone(),
        };
        self.tasks.push(tokio::spawn(sync.run(groups, receiver)));
    }

    /// The targets being scraped, in discovery order.
    pub fn active_targets(&self) -> Vec<Arc<ActiveTarget>> {
        let targets = self.targets.lock();
        let running = targets.order.iter().filter_map(|id| targets.running.get(id));
        running.map(|r| r.active.clone()).collect()
    }

    /// Discovered labels of targets that relabelling dropped.
    pub fn dropped_targets(&self) -> Vec<Labels> {
        self.targets.lock().dropped.clone()
    }

    /// Stops discovery and every loop; each loop writes its staleness markers.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        let running: Vec<RunningLoop> = {
            let mut targets = self.targets.lock();
            targets.order.clear();
            targets.running.drain().map(|(_, running)| running).collect()
        };
        stop_loops(running).await;
    }
}

async fn stop_loops(loops: Vec<RunningLoop>) {
    let mut tasks = Vec::with_capacity(loops.len());
    for running in loops {
        let _ = running.stop.send(());
        tasks.push(running.task);
    }
    for task in tasks {
        if let Err(err) = task.await {
            tracing::error!("scrape loop ended abnormally: {err}");
        }
    }
}

/// The task that follows discovery updates for one pool.
struct SyncState {
    config: ScrapeConfig,
    context: Arc<LoopContext>,
    targets: Arc<Mutex<PoolTargets>>,
}

impl SyncState {
    async fn run(self, mut groups: BTreeMap<usize, Vec<TargetGroup>>, mut updates: mpsc::Receiver<Update>) {
        self.sync(&groups).await;
        while let Some((provider, provided)) = updates.recv().await {
            groups.insert(provider, provided);
            self.sync(&groups).await;
        }
    }

    /// Starts loops for new targets and stops those of targets that went away.
    async fn sync(&self, groups: &BTreeMap<usize, Vec<TargetGroup>>) {
        let (active, dropped) = self.resolve(groups);
        self.enforce_target_limit(active.len());
        let removed = {
            let mut targets = self.targets.lock();
            let wanted: HashMap<u64, ()> = active.iter().map(|t| (t.identity(), ())).collect();
            let gone: Vec<u64> = targets
                .running
                .keys()
                .filter(|id| !wanted.contains_key(id))
                .copied()
                .collect();
            let removed: Vec<RunningLoop> = gone.iter().filter_map(|id| targets.running.remove(id)).collect();
            targets.order.clear();
            for target in active {
                let id = target.identity();
                targets.order.push(id);
                if let std::collections::hash_map::Entry::Vacant(slot) = targets.running.entry(id) {
                    slot.insert(self.start_loop(target));
                }
            }
            targets.dropped = dropped;
            removed
        };
        stop_loops(removed).await;
    }

    fn resolve(
        &self,
        groups: &BTreeMap<usize, Vec<TargetGroup>>,
    ) -> (Vec<super::target::Target>, Vec<Labels>) {
        let mut active = Vec::new();
        let mut seen = HashMap::new();
        let mut dropped = Vec::new();
        for group in groups.values().flatten() {
            for outcome in targets_of_group(group, &self.config) {
                match outcome {
                    Outcome::Active(target) => {
                        if seen.insert(target.identity(), ()).is_none() {
                            active.push(target);
                        }
                    }
                    Outcome::Dropped(labels) => dropped.push(labels),
                    Outcome::Invalid(reason) => {
                        tracing::warn!(job = self.config.job_name, "dropping invalid target: {reason}");
                    }
                }
            }
        }
        (active, dropped)
    }

    fn enforce_target_limit(&self, count: usize) {
        let limit = self.config.target_limit;
        let exceeded = limit > 0 && count as u64 > limit;
        *self.context.forced_error.lock() =
            exceeded.then(|| format!("target_limit exceeded (number of targets: {count}, limit: {limit})"));
    }

    fn start_loop(&self, target: super::target::Target) -> RunningLoop {
        let active = Arc::new(ActiveTarget {
            target,
            scrape_pool: self.config.job_name.clone(),
            health: Mutex::new(TargetHealth {
                health: Health::Unknown,
                last_error: String::new(),
                last_scrape: None,
                last_duration: std::time::Duration::ZERO,
                metadata: Arc::default(),
            }),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(scrape_loop::run(active.clone(), self.context.clone(), stopped));
        RunningLoop { active, stop, task }
    }
}
