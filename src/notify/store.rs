//! The alerts the notifier currently knows, one per fingerprint, merged as
//! Alertmanager merges repeated sends of the same alert.
//!
//! Persisted in the `aux/alerts` tree, unlike Alertmanager's: beside
//! Prometheus, an Alertmanager outlives Prometheus's restarts (and
//! Prometheus re-sends firing and recently resolved alerts after
//! Alertmanager's), but Sightline restarts both at once. Without the stored
//! copy, an alert that resolved just before a restart, or that nobody sends
//! any more, would never be notified as resolved, and a restart would reset
//! a firing alert's `startsAt`.

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use super::model::{fingerprint, rfc3339_nanos};
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

/// A stored alert as the `aux/alerts` tree holds it (JSON).
#[derive(Serialize, Deserialize)]
struct PersistedAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    #[serde(with = "rfc3339_nanos")]
    starts_at: DateTime<Utc>,
    #[serde(with = "rfc3339_nanos")]
    ends_at: DateTime<Utc>,
    generator_url: String,
    #[serde(with = "rfc3339_nanos")]
    updated_at: DateTime<Utc>,
    timeout: bool,
}

impl From<&StoredAlert> for PersistedAlert {
    fn from(stored: &StoredAlert) -> Self {
        let alert = &stored.alert;
        PersistedAlert {
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            starts_at: alert.starts_at,
            ends_at: alert.ends_at,
            generator_url: alert.generator_url.clone(),
            updated_at: stored.updated_at,
            timeout: stored.timeout,
        }
    }
}

impl From<PersistedAlert> for StoredAlert {
    fn from(persisted: PersistedAlert) -> Self {
        StoredAlert {
            alert: Alert {
                labels: persisted.labels,
                annotations: persisted.annotations,
                starts_at: persisted.starts_at,
                ends_at: persisted.ends_at,
                generator_url: persisted.generator_url,
            },
            updated_at: persisted.updated_at,
            timeout: persisted.timeout,
        }
    }
}

/// Every known alert by fingerprint; `tree`, when set, holds a durable copy.
#[derive(Default)]
pub struct AlertStore {
    alerts: Mutex<HashMap<u64, StoredAlert>>,
    tree: Option<sled::Tree>,
}

impl AlertStore {
    /// Loads the alerts stored in `tree`; unreadable ones are skipped with a warning.
    pub fn open(tree: sled::Tree) -> AlertStore {
        let mut alerts = HashMap::new();
        for (key, value) in tree.iter().flatten() {
            match serde_json::from_slice::<PersistedAlert>(&value) {
                Ok(persisted) => {
                    let stored = StoredAlert::from(persisted);
                    alerts.insert(fingerprint(&stored.alert.labels), stored);
                }
                Err(err) => tracing::warn!(key = ?key, "skipping stored alert: {err}"),
            }
        }
        AlertStore {
            alerts: Mutex::new(alerts),
            tree: Some(tree),
        }
    }

    /// Stores `incoming`, merged with an overlapping older copy; returns what is stored.
    pub fn put(&self, incoming: StoredAlert) -> StoredAlert {
        let key = fingerprint(&incoming.alert.labels);
        let mut alerts = self.alerts.lock();
        let stored = match alerts.get(&key) {
            Some(old) if overlaps(old, &incoming) => old.merge(incoming),
            _ => incoming,
        };
        self.persist(key, &stored);
        alerts.insert(key, stored.clone());
        stored
    }

    /// A copy of every alert.
    pub fn all(&self) -> Vec<StoredAlert> {
        self.alerts.lock().values().cloned().collect()
    }

    /// Drops alerts resolved before `cutoff`.
    pub fn forget_resolved_before(&self, cutoff: DateTime<Utc>) {
        self.alerts.lock().retain(|key, stored| {
            let keep = stored.alert.ends_at >= cutoff;
            if !keep {
                self.unpersist(*key);
            }
            keep
        });
    }

    /// Writes the durable copy (sled makes it durable within its flush interval
    /// and at shutdown); a failure is logged, the alert stays in memory.
    fn persist(&self, key: u64, stored: &StoredAlert) {
        let Some(tree) = &self.tree else { return };
        let written = serde_json::to_vec(&PersistedAlert::from(stored))
            .map_err(|err| err.to_string())
            .and_then(|bytes| {
                tree.insert(key.to_be_bytes(), bytes)
                    .map_err(|err| err.to_string())
            });
        if let Err(err) = written {
            tracing::warn!("cannot persist alert: {err}");
        }
    }

    fn unpersist(&self, key: u64) {
        let Some(tree) = &self.tree else { return };
        if let Err(err) = tree.remove(key.to_be_bytes()) {
            tracing::warn!("cannot delete stored alert: {err}");
        }
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

    #[test]
    fn alerts_survive_reopen_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let timeout = chrono::Duration::minutes(5);
        let db = sled::open(dir.path()).unwrap();
        let mut precise = alert(100, 400);
        precise.starts_at += chrono::Duration::nanoseconds(123_456_789);
        let kept = {
            let store = AlertStore::open(db.open_tree("alerts").unwrap());
            store.put(StoredAlert::received(precise, true, at(100), timeout))
        };
        let store = AlertStore::open(db.open_tree("alerts").unwrap());
        assert_eq!(store.all(), vec![kept]);
        store.forget_resolved_before(at(500));
        assert!(AlertStore::open(db.open_tree("alerts").unwrap()).all().is_empty());
    }
}
