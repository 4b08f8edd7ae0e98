//! The alerts the notifier currently knows, one per fingerprint, merged as
//! Alertmanager merges repeated sends of the same alert.
//!
//! In memory only, as in Alertmanager: senders re-send firing alerts, so a
//! restart refills it; what must survive a restart lives in `nflog` and
//! `silence`.

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::collections::HashMap;

use super::model::fingerprint;
use crate::alerts::Alert;

/// An alert plus what Alertmanager tracks beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub alert: Alert,
    pub updated_at: DateTime<Utc>,
    /// `endsAt` was filled in from `resolve_timeout`, not sent.
    pub timeout: bool,
}

impl StoredAlert {
    /// An alert as it arrives: without `endsAt` it resolves after `resolve_timeout`.
    pub fn received(
        mut alert: Alert,
        ends_at_given: bool,
        now: DateTime<Utc>,
        resolve_timeout: chrono::Duration,
    ) -> Self {
        if !ends_at_given {
            alert.ends_at = now + resolve_timeout;
        }
        StoredAlert {
            alert,
            updated_at: now,
            timeout: !ends_at_given,
        }
    }

    pub fn is_resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.alert.is_resolved_at(now)
    }

    /// `types.Alert.Merge`: `self` is the older copy, `newer` the one just received.
    fn merge(&self, newer: StoredAlert) -> StoredAlert {
        if newer.updated_at < self.updated_at {
            return newer.merge(self.clone());
        }
        let older = self;
        let mut merged = newer.clone();
        if older.alert.starts_at < newer.alert.starts_at {
            merged.alert.starts_at = older.alert.starts_at;
        }
        let now = newer.updated_at;
        if newer.is_resolved_at(now) {
            if older.is_resolved_at(now) && older.alert.ends_at > newer.alert.ends_at {
                merged.alert.ends_at = older.alert.ends_at;
            }
        } else if older.alert.ends_at > newer.alert.ends_at && !older.timeout {
            merged.alert.ends_at = older.alert.ends_at;
        }
        merged
    }
}

/// Every known alert by fingerprint.
#[derive(Default)]
pub struct AlertStore {
    alerts: Mutex<HashMap<u64, StoredAlert>>,
}

impl AlertStore {
    /// Stores `incoming`, merged with an overlapping older copy; returns what is stored.
    pub fn put(&self, incoming: StoredAlert) -> StoredAlert {
        let key = fingerprint(&incoming.alert.labels);
        let mut alerts = self.alerts.lock();
        let stored = match alerts.get(&key) {
            Some(old) if overlaps(old, &incoming) => old.merge(incoming),
            _ => incoming,
        };
        alerts.insert(key, stored.clone());
        stored
    }

    /// A copy of every alert.
    pub fn all(&self) -> Vec<StoredAlert> {
        self.alerts.lock().values().cloned().collect()
    }

    /// Drops alerts resolved before `cutoff`.
    pub fn forget_resolved_before(&self, cutoff: DateTime<Utc>) {
        self.alerts
            .lock()
            .retain(|_, stored| stored.alert.ends_at >= cutoff);
    }
}

/// Alertmanager merges only when the activity ranges overlap.
fn overlaps(old: &StoredAlert, new: &StoredAlert) -> bool {
    let (old, new) = (&old.alert, &new.alert);
    (new.ends_at > old.starts_at && new.ends_at < old.ends_at)
        || (new.starts_at > old.starts_at && new.starts_at < old.ends_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(starts: i64, ends: i64) -> Alert {
        Alert {
            labels: [("alertname".to_string(), "A".to_string())].into(),
            annotations: Default::default(),
            starts_at: DateTime::from_timestamp(starts, 0).unwrap(),
            ends_at: DateTime::from_timestamp(ends, 0).unwrap(),
            generator_url: String::new(),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn resend_keeps_the_first_start() {
        let store = AlertStore::default();
        let timeout = chrono::Duration::minutes(5);
        store.put(StoredAlert::received(alert(100, 400), true, at(100), timeout));
        let merged = store.put(StoredAlert::received(alert(160, 460), true, at(160), timeout));
        assert_eq!(merged.alert.starts_at, at(100));
        assert_eq!(merged.alert.ends_at, at(460));
    }

    #[test]
    fn resolve_ends_the_alert_and_a_later_firing_starts_anew() {
        let store = AlertStore::default();
        let timeout = chrono::Duration::minutes(5);
        store.put(StoredAlert::received(alert(100, 400), true, at(100), timeout));
        let resolved = store.put(StoredAlert::received(alert(100, 200), true, at(200), timeout));
        assert!(resolved.is_resolved_at(at(201)));
        let again = store.put(StoredAlert::received(alert(500, 0), false, at(500), timeout));
        assert_eq!(again.alert.starts_at, at(500));
        assert_eq!(again.alert.ends_at, at(800));
        store.forget_resolved_before(at(900));
        assert!(store.all().is_empty());
    }
}
