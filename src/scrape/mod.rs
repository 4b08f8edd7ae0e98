//! Scraping: Prometheus-compatible pull of `/metrics` endpoints into storage.
//!
//! Owns service discovery (`discovery`), target labels (`target`), the HTTP
//! clients (`client`, `fetch`), per-target loops (`scrape_loop`) with their series
//! cache (`cache`), the one thread scrapes are parsed and appended on
//! (`store_thread`), one pool per job (`pool`) and the targets and metadata API
//! (`api`). Appends go through `storage::RefAppender` only (by series reference,
//! as Prometheus's scrape cache appends); parsing the exposition
//! format belongs to `crate::exposition`, relabelling to `crate::relabel`. It must
//! not read stored data or know about PromQL.
//!
//! [`ScrapeManager::apply`] takes a whole configuration (at start and at each
//! reload): jobs whose configuration is unchanged keep running untouched, changed
//! jobs are restarted, removed jobs stop and mark their series stale.

mod api;
mod cache;
mod discovery;
mod fetch;
mod pool;
mod scrape_loop;
mod store_thread;
mod target;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::Config;
use crate::storage::RefAppender;

pub use cache::{with_target_labels, Metadata};
pub use fetch::ACCEPT_HEADER;
pub use pool::ScrapePool;
pub use target::{populate, Outcome, Target, TargetGroup};

/// All scrape pools, by job name.
pub struct ScrapeManager {
    appender: Arc<dyn RefAppender>,
    runtime: tokio::runtime::Handle,
    pools: Mutex<BTreeMap<String, ScrapePool>>,
}

impl ScrapeManager {
    /// A manager with no jobs; must be created inside the Tokio runtime that will run the loops.
    pub fn new(appender: Arc<dyn RefAppender>) -> Arc<Self> {
        Arc::new(ScrapeManager {
            appender,
            runtime: tokio::runtime::Handle::current(),
            pools: Mutex::new(BTreeMap::new()),
        })
    }

    /// Makes the running jobs those of `config`. Every new or changed job's client
    /// is built first; if one fails nothing changes and the error names the job.
    /// Retired jobs are stopped (and their series marked stale) before their
    /// replacements start, so no staleness marker lands after a fresh sample.
    pub fn apply(&self, config: &Config) -> Result<(), String> {
        let _runtime = self.runtime.enter();
        let mut pools = self.pools.lock();
        let mut replacements = Vec::new();
        for job in &config.scrape_configs {
            let unchanged = pools.get(&job.job_name).is_some_and(|pool| pool.config == *job);
            if !unchanged {
                replacements.push(ScrapePool::new(job.clone(), self.appender.clone())?);
            }
        }
        let keep = |name: &String| {
            let wanted = config.scrape_configs.iter().any(|job| job.job_name == *name);
            wanted && !replacements.iter().any(|pool| pool.config.job_name == *name)
        };
        let retired_names: Vec<String> = pools.keys().filter(|name| !keep(name)).cloned().collect();
        let retired: Vec<ScrapePool> = retired_names
            .iter()
            .filter_map(|name| pools.remove(name))
            .collect();
        tokio::task::block_in_place(|| self.runtime.block_on(stop_all(retired)));
        for mut pool in replacements {
            pool.start_discovery();
            pools.insert(pool.config.job_name.clone(), pool);
        }
        Ok(())
    }

    /// Stops every job, writing staleness markers for all their series.
    pub async fn stop(&self) {
        let pools: Vec<ScrapePool> = std::mem::take(&mut *self.pools.lock()).into_values().collect();
        stop_all(pools).await;
    }

    fn with_pools<T>(&self, read: impl FnOnce(&BTreeMap<String, ScrapePool>) -> T) -> T {
        read(&self.pools.lock())
    }
}

async fn stop_all(pools: Vec<ScrapePool>) {
    for pool in pools {
        pool.stop().await;
    }
}

pub use api::router;
