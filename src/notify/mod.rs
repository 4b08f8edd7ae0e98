//! The notifier: Alertmanager inside Sightline. Takes alerts (from the rule
//! engine through [`AlertSink`], or from other Prometheus servers through the
//! Alertmanager v2 API), routes them, groups them, inhibits and silences
//! them, and notifies receivers (webhook, Slack, PagerDuty) once per change,
//! with retries and a persisted notification log. It also forwards the rule
//! engine's alerts to external Alertmanagers when `alerting.alertmanagers`
//! names some, and serves Alertmanager's v2 API (`api`).
//!
//! Owns everything under `alerting:` at run time and the `aux/alerts`,
//! `aux/silences` and `aux/nflog` trees. It must not evaluate rules, touch samples, or open
//! incidents: it tells `GroupObserver`s what it sent and they decide.

mod api;
mod dispatch;
mod external;
mod inhibit;
pub mod model;
mod nflog;
mod pipeline;
mod receivers;
mod relabel;
mod route;
mod silence;
mod store;
mod template;
mod timeinterval;

use chrono::Utc;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::alerts::{Alert, AlertSink, GroupObserver};
use crate::config::alerting::TimePeriod;
use crate::config::Config;
use crate::storage::Storage;

use dispatch::Groups;
use external::ExternalSender;
use inhibit::InhibitRule;
use nflog::NotificationLog;
use receivers::Receiver;
use relabel::AlertRelabel;
use route::Route;
use silence::Silences;
use store::{AlertStore, StoredAlert};
use template::TemplateSet;

/// How often resolved alerts, expired silences and old log entries are dropped.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// How long a resolved alert stays known (Alertmanager drops resolved alerts
/// every `--alerts.gc-interval`, 30 m by default): long enough that one whose
/// resolution a group has yet to notify is still there after a restart.
const RESOLVED_KEPT: chrono::Duration = chrono::Duration::minutes(30);

/// Everything built from the configuration; replaced whole on `apply`.
pub(crate) struct Runtime {
    route: Option<Route>,
    receivers: HashMap<String, Arc<Receiver>>,
    inhibit_rules: Vec<InhibitRule>,
    time_intervals: HashMap<String, Vec<TimePeriod>>,
    resolve_timeout: chrono::Duration,
    external_url: String,
    /// Applied to the rule engine's alerts before any Alertmanager sees them.
    relabel: AlertRelabel,
}

impl Runtime {
    fn build(config: &Config, external_url: &str) -> Result<Runtime, String> {
        let alerting = &config.alerting;
        let templates = TemplateSet::load(&alerting.templates)?;
        let mut receivers = HashMap::new();
        for receiver in &alerting.receivers {
            let built = Receiver::build(receiver, &alerting.global, &templates)?;
            receivers.insert(built.name.clone(), Arc::new(built));
        }
        let time_intervals = alerting
            .all_time_intervals()
            .map(|named| (named.name.clone(), named.time_intervals.clone()))
            .collect();
        let resolve_ms = i64::try_from(alerting.global.resolve_timeout.as_millis()).unwrap_or(i64::MAX);
        Ok(Runtime {
            route: alerting.route.as_ref().map(Route::compile),
            receivers,
            inhibit_rules: alerting.inhibit_rules.iter().map(InhibitRule::compile).collect(),
            time_intervals,
            resolve_timeout: chrono::Duration::milliseconds(resolve_ms),
            external_url: external_url.trim_end_matches('/').to_string(),
            relabel: AlertRelabel::new(config),
        })
    }
}

/// State shared by the handle, the group tasks and the API.
pub(crate) struct Shared {
    runtime: RwLock<Arc<Runtime>>,
    store: AlertStore,
    silences: Silences,
    nflog: NotificationLog,
    groups: Groups,
    observers: RwLock<Vec<Arc<dyn GroupObserver>>>,
    external: Arc<ExternalSender>,
    handle: tokio::runtime::Handle,
    started: chrono::DateTime<Utc>,
}

impl Shared {
    fn runtime(&self) -> Arc<Runtime> {
        self.runtime.read().clone()
    }
}

/// The running notifier; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

impl Notifier {
    /// Opens the persisted state in `storage` and starts the background tasks.
    /// Must be called inside a tokio runtime. `external_url` is how
    /// notifications link back to Sightline. Alerts stored before a restart
    /// wait for the first [`Notifier::apply`] (the server's start-up applies
    /// the configuration once), so no group starts twice.
    pub fn start(storage: &Storage, config: &Config, external_url: &str) -> Result<Notifier, String> {
        let tree = |name: &str| {
            storage
                .aux_tree(name)
                .map_err(|err| format!("cannot open {name}: {err}"))
        };
        let handle = tokio::runtime::Handle::try_current().map_err(|err| err.to_string())?;
        let shared = Arc::new(Shared {
            runtime: RwLock::new(Arc::new(Runtime::build(config, external_url)?)),
            store: AlertStore::open(tree("alerts")?),
            silences: Silences::open(tree("silences")?),
            nflog: NotificationLog::open(tree("nflog")?),
            groups: Groups::default(),
            observers: RwLock::new(Vec::new()),
            external: Arc::new(ExternalSender::default()),
            handle,
            started: Utc::now(),
        });
        shared.external.apply(&config.alerting)?;
        shared.handle.spawn(shared.external.clone().run());
        shared.handle.spawn(maintain(shared.clone()));
        Ok(Notifier { shared })
    }

    /// Takes a new configuration: on success, groups restart from the alerts
    /// held now (as Alertmanager's reload does), those stored before a
    /// restart included: firing ones are deduplicated by the notification
    /// log, resolved ones not yet notified are notified. On error nothing
    /// changes.
    pub fn apply(&self, config: &Config) -> Result<(), String> {
        let external_url = self.shared.runtime().external_url.clone();
        let runtime = Runtime::build(config, &external_url)?;
        self.shared.external.apply(&config.alerting)?;
        *self.shared.runtime.write() = Arc::new(runtime);
        self.shared.groups.stop_all();
        for stored in self.shared.store.all() {
            dispatch::dispatch(&self.shared, &stored);
        }
        Ok(())
    }

    /// Registers someone to hear of every group notification (`incidents`).
    pub fn add_observer(&self, observer: Arc<dyn GroupObserver>) {
        self.shared.observers.write().push(observer);
    }

    /// Alertmanager's v2 API, state applied.
    pub fn routes(&self) -> axum::Router {
        api::routes(self.shared.clone())
    }
}

impl AlertSink for Notifier {
    /// As Prometheus hands alerts to its Alertmanagers: external labels and
    /// `alert_relabel_configs` first, for ours and the external ones alike.
    fn send(&self, alerts: Vec<Alert>) {
        let alerts = self.shared.runtime().relabel.apply(alerts);
        self.shared.external.enqueue(&alerts);
        receive(&self.shared, alerts.into_iter().map(|a| (a, true)));
    }
}

/// Stores and dispatches alerts; the flag says whether `endsAt` was given.
fn receive(shared: &Arc<Shared>, alerts: impl IntoIterator<Item = (Alert, bool)>) {
    let now = Utc::now();
    let resolve_timeout = shared.runtime().resolve_timeout;
    for (alert, ends_at_given) in alerts {
        let stored = shared
            .store
            .put(StoredAlert::received(alert, ends_at_given, now, resolve_timeout));
        dispatch::dispatch(shared, &stored);
    }
}

async fn maintain(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    loop {
        tick.tick().await;
        let now = Utc::now();
        shared.store.forget_resolved_before(now - RESOLVED_KEPT);
        shared.silences.collect_garbage(now);
        shared.nflog.collect_garbage(now);
    }
}
