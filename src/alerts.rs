//! The alert as it crosses from the rule engine (`rules`) to the notifier
//! (`notify`), and the alert-group event the notifier hands to `incidents`.
//!
//! The shape is Alertmanager's v2 "postable alert", so the same value goes to
//! an external Alertmanager's `/api/v2/alerts` unchanged. This file holds only
//! the types both sides agree on; it must not grow logic of either side.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// One alert instance, as Prometheus sends it to Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    /// For a firing alert, when it becomes stale unless re-sent (Prometheus's
    /// `ValidUntil`); for a resolved alert, when it resolved (in the past).
    pub ends_at: DateTime<Utc>,
    /// Link back to the expression that produced the alert.
    pub generator_url: String,
}

impl Alert {
    /// Whether the alert has resolved at `now`.
    pub fn is_resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.ends_at <= now
    }
}

/// Where the rule engine delivers alerts after each evaluation: firing ones
/// (re-sent on Prometheus's resend delay) and recently resolved ones.
pub trait AlertSink: Send + Sync {
    fn send(&self, alerts: Vec<Alert>);
}

/// One notification of one alert group, as the notifier attempted it.
#[derive(Debug, Clone)]
pub struct GroupEvent {
    /// Alertmanager's group key (route path plus group labels).
    pub group_key: String,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    /// `true` while any alert in the group fires; `false` once all resolved.
    pub firing: bool,
    pub alerts: Vec<Alert>,
    /// `Err` with the last error when every retry failed.
    pub outcome: Result<(), String>,
}

/// Told about every group notification (used by `incidents`).
pub trait GroupObserver: Send + Sync {
    fn group_notified(&self, event: &GroupEvent);
}
