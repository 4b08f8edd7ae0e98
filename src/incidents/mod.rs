//! Incidents: a firing alert group opens one, people acknowledge and resolve
//! it, the group resolving resolves it, and configured HTTP actions ("trigger
//! retraining", "roll back the model") run on those changes with their outcome
//! kept in the incident's timeline.
//!
//! Owns the incident state machine (`lifecycle`), its persistence in the
//! storage's `aux/incidents` tree (`store`), actions (`actions`, `template`,
//! `matchers`), the `/api/v1/incidents` routes (`api`) and the
//! `sightline_incidents{state}` gauge on `/metrics` (scraped like any other
//! self-metric, so dashboards can chart it). It learns about alert groups only
//! as a [`GroupObserver`] of the notifier; it must not evaluate rules, route or
//! send notifications, or touch sample storage beyond its own aux tree.

mod actions;
mod api;
mod lifecycle;
mod model;
mod store;
pub mod template;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::alerts::{GroupEvent, GroupObserver};
use crate::config::{Config, IncidentsConfig};
use crate::storage::{Storage, StorageError};

pub use api::routes;
pub use lifecycle::Refusal;
pub use model::{ActionRun, Incident, IncidentAlert, State, TimelineEntry};

use lifecycle::{Book, Change};
use store::IncidentStore;

/// How often retention is applied.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(15);

/// The incident service. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Incidents {
    inner: Arc<Inner>,
}

struct Inner {
    book: Mutex<Book>,
    store: IncidentStore,
    settings: RwLock<Arc<IncidentsConfig>>,
    client: reqwest::Client,
    /// `sightline_incidents{state}`.
    gauge: Family<StateLabel, Gauge>,
    /// Actions run here, whichever thread the notifier calls from.
    runtime: tokio::runtime::Handle,
}

impl Incidents {
    /// Loads the stored incidents. Must be called inside a Tokio runtime.
    pub fn open(storage: &Storage, config: &IncidentsConfig) -> Result<Incidents, StorageError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| StorageError::Corrupt(format!("incidents need a Tokio runtime: {e}")))?;
        let store = IncidentStore::open(storage)?;
        let book = Book::from_incidents(store.load_all());
        Ok(Incidents {
            inner: Arc::new(Inner {
                book: Mutex::new(book),
                store,
                settings: RwLock::new(Arc::new(config.clone())),
                client: reqwest::Client::new(),
                gauge: Family::default(),
                runtime,
            }),
        })
    }

    /// Adds `sightline_incidents{state}` to the server's own metrics.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "sightline_incidents",
            "Incidents kept, by state",
            self.inner.gauge.clone(),
        );
        self.update_gauge(self.inner.book.lock().counts());
    }

    fn update_gauge(&self, counts: [usize; 3]) {
        for (state, count) in State::ALL.iter().zip(counts) {
            let label = StateLabel {
                state: state.as_str().to_string(),
            };
            self.inner.gauge.get_or_create(&label).set(count as i64);
        }
    }

    /// Takes a new configuration (reload). Open incidents stay as they are;
    /// later changes run the new actions.
    pub fn apply(&self, config: &Config) -> Result<(), String> {
        *self.inner.settings.write() = Arc::new(config.incidents.clone());
        Ok(())
    }

    /// Incidents in any of `states` (all when empty), newest first, and the total matching.
    pub fn list(&self, states: &[State], offset: usize, limit: usize) -> (Vec<Incident>, usize) {
        let book = self.inner.book.lock();
        let (page, total) = book.list(states, offset, limit);
        (page.into_iter().cloned().collect(), total)
    }

    pub fn get(&self, id: u64) -> Option<Incident> {
        self.inner.book.lock().get(id).cloned()
    }

    pub fn acknowledge(&self, id: u64, by: &str, comment: &str) -> Result<Incident, Refusal> {
        self.change(|book| book.acknowledge(id, by, comment, Utc::now()))
    }

    pub fn resolve(&self, id: u64, by: &str, comment: &str) -> Result<Incident, Refusal> {
        self.change(|book| book.resolve(id, by, comment, Utc::now()))
    }

    /// Applies retention every 15 s until aborted.
    pub fn spawn_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        let incidents = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
            loop {
                tick.tick().await;
                let incidents = incidents.clone();
                let step = tokio::task::spawn_blocking(move || incidents.housekeeping_step(Utc::now()));
                if let Err(e) = step.await {
                    tracing::error!("incident housekeeping failed: {e}");
                }
            }
        })
    }

    fn housekeeping_step(&self, now: DateTime<Utc>) {
        let retention = self.inner.settings.read().retention.into();
        let (expired, counts) = {
            let mut book = self.inner.book.lock();
            (book.expire(now, retention), book.counts())
        };
        for id in expired {
            self.inner.store.delete(id);
        }
        self.update_gauge(counts);
    }

    fn change(&self, apply: impl FnOnce(&mut Book) -> Result<Change, Refusal>) -> Result<Incident, Refusal> {
        let (change, incident) = {
            let mut book = self.inner.book.lock();
            let change = apply(&mut book)?;
            let incident = book.get(change.id).cloned().ok_or(Refusal::NotFound)?;
            self.inner.store.save(change.id, &incident);
            self.update_gauge(book.counts());
            (change, incident)
        };
        self.run_actions(&change, &incident);
        Ok(incident)
    }

    /// Starts every action selected by the change; each records its own outcome.
    fn run_actions(&self, change: &Change, incident: &Incident) {
        let Some(trigger) = change.trigger else {
            return;
        };
        let settings = self.inner.settings.read().clone();
        for (index, action) in settings.actions.iter().enumerate() {
            if !actions::selects(action, trigger, incident) {
                continue;
            }
            let this = self.clone();
            let settings = settings.clone();
            let incident = incident.clone();
            let id = change.id;
            self.inner.runtime.spawn(async move {
                let Some(action) = settings.actions.get(index) else {
                    return;
                };
                let (run, message) =
                    actions::run(&this.inner.client, action, &incident, settings.dry_run).await;
                this.record_action(id, run, message);
            });
        }
    }

    fn record_action(&self, id: u64, run: ActionRun, message: String) {
        let mut book = self.inner.book.lock();
        if book.record_action(id, run, message) {
            if let Some(incident) = book.get(id) {
                self.inner.store.save(id, incident);
            }
        }
    }
}

impl GroupObserver for Incidents {
    fn group_notified(&self, event: &GroupEvent) {
        let window = self.inner.settings.read().reopen_window.into();
        let changed = self.change(|book| book.observe(event, Utc::now(), window).ok_or(Refusal::NotFound));
        if let Ok(incident) = changed {
            tracing::debug!(id = %incident.id, state = incident.state.as_str(), "incident updated");
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[cfg(test)]
mod tests;
