//! The notification log: for each group and integration, which alerts were
//! last notified as firing and as resolved, and when. Kept in a
//! `Storage::aux_tree` so a restart does not page again for what was sent.
//!
//! Owns the records and Alertmanager's dedup decision (`needs_update`); it
//! sends nothing.

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Entries are kept this long after their last notification (Alertmanager's `--data.retention`).
pub const RETENTION: chrono::Duration = chrono::Duration::hours(120);

/// The last notification of one group through one integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NflogEntry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    #[serde(with = "super::model::unix_millis")]
    pub timestamp: DateTime<Utc>,
}

/// What identifies an entry: the group, the receiver and which of its integrations.
pub fn entry_key(group_key: &str, receiver: &str, integration: &str, index: usize) -> String {
    format!("{group_key}\u{0}{receiver}\u{0}{integration}\u{0}{index}")
}

pub struct NotificationLog {
    tree: sled::Tree,
    entries: Mutex<HashMap<String, NflogEntry>>,
}

impl NotificationLog {
    /// Loads the stored entries; unreadable ones are skipped with a warning.
    pub fn open(tree: sled::Tree) -> NotificationLog {
        let mut entries = HashMap::new();
        for (key, value) in tree.iter().flatten() {
            let key = String::from_utf8_lossy(&key).into_owned();
            match serde_json::from_slice::<NflogEntry>(&value) {
                Ok(entry) => {
                    entries.insert(key, entry);
                }
                Err(err) => tracing::warn!("skipping notification log entry: {err}"),
            }
        }
        NotificationLog {
            tree,
            entries: Mutex::new(entries),
        }
    }

    pub fn get(&self, key: &str) -> Option<NflogEntry> {
        self.entries.lock().get(key).cloned()
    }

    /// Records a notification, durably before returning.
    pub fn log(&self, key: &str, entry: NflogEntry) -> Result<(), String> {
        let bytes = serde_json::to_vec(&entry).map_err(|err| err.to_string())?;
        self.tree
            .insert(key.as_bytes(), bytes)
            .and_then(|_| self.tree.flush().map(|_| ()))
            .map_err(|err| format!("cannot persist notification log: {err}"))?;
        self.entries.lock().insert(key.to_string(), entry);
        Ok(())
    }

    /// Forgets entries older than `RETENTION`.
    pub fn collect_garbage(&self, now: DateTime<Utc>) {
        let mut entries = self.entries.lock();
        let old: Vec<String> = entries
            .iter()
            .filter(|(_, entry)| entry.timestamp + RETENTION < now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in old {
            entries.remove(&key);
            if let Err(err) = self.tree.remove(key.as_bytes()) {
                tracing::warn!("cannot delete notification log entry: {err}");
            }
        }
    }
}

/// Alertmanager's `DedupStage.needsUpdate`: whether this flush must notify.
pub fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_interval: Duration,
    now: DateTime<Utc>,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    // All resolved: notify (even without send_resolved) so the log forgets the firing ones.
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    let repeat = chrono::Duration::from_std(repeat_interval).unwrap_or(chrono::Duration::MAX);
    entry.timestamp + repeat < now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[u64]) -> BTreeSet<u64> {
        items.iter().copied().collect()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn dedup_follows_alertmanager() {
        assert!(needs_update(None, &set(&[1]), &set(&[]), true, HOUR, at(0)));
        assert!(!needs_update(None, &set(&[]), &set(&[1]), true, HOUR, at(0)));
        let sent = NflogEntry {
            firing: set(&[1, 2]),
            resolved: set(&[]),
            timestamp: at(0),
        };
        assert!(!needs_update(
            Some(&sent),
            &set(&[1, 2]),
            &set(&[]),
            true,
            HOUR,
            at(60)
        ));
        assert!(needs_update(
            Some(&sent),
            &set(&[1, 2, 3]),
            &set(&[]),
            true,
            HOUR,
            at(60)
        ));
        assert!(needs_update(
            Some(&sent),
            &set(&[1]),
            &set(&[2]),
            true,
            HOUR,
            at(60)
        ));
        assert!(!needs_update(
            Some(&sent),
            &set(&[1]),
            &set(&[2]),
            false,
            HOUR,
            at(60)
        ));
        assert!(needs_update(
            Some(&sent),
            &set(&[]),
            &set(&[1, 2]),
            false,
            HOUR,
            at(60)
        ));
        assert!(needs_update(
            Some(&sent),
            &set(&[1, 2]),
            &set(&[]),
            true,
            HOUR,
            at(3601)
        ));
    }

    #[test]
    fn entries_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let entry = NflogEntry {
            firing: set(&[7]),
            resolved: set(&[]),
            timestamp: at(10),
        };
        let key = entry_key("{}:{}", "team", "webhook", 0);
        {
            let db = sled::open(dir.path()).unwrap();
            NotificationLog::open(db.open_tree("n").unwrap())
                .log(&key, entry.clone())
                .unwrap();
        }
        let db = crate::test_support::reopen_sled(dir.path());
        assert_eq!(
            NotificationLog::open(db.open_tree("n").unwrap()).get(&key),
            Some(entry)
        );
    }
}
