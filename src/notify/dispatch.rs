//! Aggregation groups and their timers, as Alertmanager's dispatcher runs
//! them: each alert joins one group per matching route (keyed by route and
//! group labels); a group flushes first after `group_wait` (at once if its
//! first alert is already older than that) and then every `group_interval`,
//! and goes away once it has nothing left to say.
//!
//! Each group is its own tokio task, so a slow or failing receiver delays
//! only its own groups. What a flush does is `pipeline`'s business.

use chrono::Utc;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::model::{alert_order, fingerprint, LabelSet};
use super::pipeline;
use super::route::RouteOptions;
use super::store::StoredAlert;
use super::Shared;
use crate::alerts::Alert;

/// One aggregation group.
pub struct Group {
    pub key: String,
    pub labels: LabelSet,
    pub route: RouteOptions,
    alerts: Mutex<HashMap<u64, Alert>>,
    flush_now: tokio::sync::Notify,
    has_flushed: AtomicBool,
}

impl Group {
    /// The group's alerts in notification order.
    pub fn snapshot(&self) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = self.alerts.lock().values().cloned().collect();
        alerts.sort_by(alert_order);
        alerts
    }

    /// Drops the resolved alerts that were just notified, unless they changed since.
    pub fn forget_notified(&self, notified: &[Alert], now: chrono::DateTime<Utc>) {
        let mut alerts = self.alerts.lock();
        for alert in notified.iter().filter(|a| a.is_resolved_at(now)) {
            let key = fingerprint(&alert.labels);
            if alerts.get(&key) == Some(alert) {
                alerts.remove(&key);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.alerts.lock().is_empty()
    }
}

/// Every live group by key, with the task that runs it.
#[derive(Default)]
pub struct Groups {
    by_key: Mutex<HashMap<String, (Arc<Group>, tokio::task::AbortHandle)>>,
}

impl Groups {
    /// Every group, for the API.
    pub fn all(&self) -> Vec<Arc<Group>> {
        self.by_key.lock().values().map(|(g, _)| g.clone()).collect()
    }

    /// Stops every group (on reload; alerts are then dispatched afresh).
    pub fn stop_all(&self) {
        for (_, (_, task)) in self.by_key.lock().drain() {
            task.abort();
        }
    }
}

/// Puts `stored` into a group on each route it matches, starting groups as needed.
pub fn dispatch(shared: &Arc<Shared>, stored: &StoredAlert) {
    let runtime = shared.runtime();
    let Some(root) = &runtime.route else {
        return;
    };
    let now = Utc::now();
    for route in root.matching(&stored.alert.labels) {
        let labels = route.group_labels(&stored.alert.labels);
        let key = route.group_key(&labels);
        let group = join_group(shared, key, labels, &route.options, &stored.alert);
        let wait = chrono::Duration::from_std(group.route.group_wait).unwrap_or(chrono::Duration::MAX);
        if !group.has_flushed.load(Ordering::Acquire) && stored.alert.starts_at + wait < now {
            group.flush_now.notify_one();
        }
    }
}

/// Adds `alert` to the group `key`, created if needed; under the groups lock
/// so a group never ends between being found and being joined.
fn join_group(
    shared: &Arc<Shared>,
    key: String,
    labels: LabelSet,
    route: &RouteOptions,
    alert: &Alert,
) -> Arc<Group> {
    let mut by_key = shared.groups.by_key.lock();
    if let Some((group, _)) = by_key.get(&key) {
        group
            .alerts
            .lock()
            .insert(fingerprint(&alert.labels), alert.clone());
        return group.clone();
    }
    let group = Arc::new(Group {
        key: key.clone(),
        labels,
        route: route.clone(),
        alerts: Mutex::new(HashMap::from([(fingerprint(&alert.labels), alert.clone())])),
        flush_now: tokio::sync::Notify::new(),
        has_flushed: AtomicBool::new(false),
    });
    let task = shared.handle.spawn(run(shared.clone(), group.clone()));
    by_key.insert(key, (group.clone(), task.abort_handle()));
    group
}

/// The group's life: wait, flush, repeat on the interval, end when empty.
async fn run(shared: Arc<Shared>, group: Arc<Group>) {
    let mut wait = group.route.group_wait;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = group.flush_now.notified() => {}
        }
        group.has_flushed.store(true, Ordering::Release);
        pipeline::flush(&shared, &group).await;
        wait = group.route.group_interval;
        let mut by_key = shared.groups.by_key.lock();
        if group.is_empty() {
            by_key.remove(&group.key);
            return;
        }
    }
}
