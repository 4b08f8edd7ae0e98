//! Dashboards: our Grafana-shaped dashboard JSON (`model`), its import from Grafana
//! (`grafana`), the generated default dashboard of each ML model (`ml`), their
//! storage and file provisioning (`store`) and the `/api/v1/dashboards` routes (`api`).
//!
//! Owns dashboard definitions only. It must not evaluate queries (the UI runs each
//! panel's PromQL through the query API) and keeps its records in its own aux tree
//! of the storage database, never in the sample trees.

mod api;
mod grafana;
mod ml;
mod model;
mod store;

pub use api::{router, DashboardsState};
pub use model::Dashboard;
pub use store::{DashboardStore, StoreError};

use crate::config::DashboardsConfig;
use crate::storage::Storage;
use std::path::Path;

/// Opens the dashboards tree and loads the provisioned files, logging each file that
/// could not be loaded (one bad file must not stop the server).
pub fn open(storage: &Storage, config: &DashboardsConfig) -> Result<DashboardsState, StoreError> {
    let tree = storage.aux_tree("dashboards")?;
    let store = DashboardStore::new(tree);
    if let Some(dir) = config.path.as_deref() {
        for problem in store.provision(Path::new(dir))? {
            tracing::warn!("dashboard provisioning: {problem}");
        }
    }
    Ok(DashboardsState {
        store,
        storage: storage.clone(),
    })
}
