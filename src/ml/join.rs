//! Joining feedback to predictions by `request_id`, in either order, within
//! the model's TTL, durably.
//!
//! Owns the `ml_join` aux tree: `p` model NUL request → the prediction's
//! [`PendingPrediction`] (kept after its feedback joins, to refuse duplicates),
//! `f` model NUL request → feedback that came first, and `e` expiry (sign-flipped
//! big-endian ms) `p|f` model NUL request → nothing, an index that lets expiry
//! scan only what is due. Because the tree lives in the storage's sled
//! database, joins survive restarts.

use crate::ml::log::LogItem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a prediction leaves behind for its feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPrediction {
    pub version: String,
    pub timestamp_ms: i64,
    /// Configured segment label values.
    pub segment: BTreeMap<String, String>,
    pub prediction: serde_json::Value,
    /// Probability of a class: the class and its probability.
    pub class_probability: Option<(String, f64)>,
    /// `score`: probability of the greater class.
    pub score: Option<f64>,
    pub expires_ms: i64,
    pub logged: bool,
    pub labelled: bool,
    /// The log item to write if the prediction turns out misclassified.
    pub item: Option<LogItem>,
}

/// Feedback waiting for its prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingFeedback {
    pub ground_truth: serde_json::Value,
    pub timestamp_ms: i64,
    pub expires_ms: i64,
}

/// Something the expiry sweep removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expired {
    Prediction { model: String },
    Feedback { model: String },
}

#[derive(Clone)]
pub struct JoinStore {
    tree: sled::Tree,
}

fn key(kind: u8, model: &str, request_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(model.len() + request_id.len() + 2);
    key.push(kind);
    key.extend_from_slice(model.as_bytes());
    key.push(0);
    key.extend_from_slice(request_id.as_bytes());
    key
}

fn expiry_key(expires_ms: i64, entry_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(entry_key.len() + 9);
    key.push(b'e');
    key.extend_from_slice(&((expires_ms as u64) ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(entry_key);
    key
}

/// Writes collected during one request, applied as one sled batch.
#[derive(Default)]
pub struct JoinBatch {
    batch: sled::Batch,
}

impl JoinBatch {
    pub fn put_prediction(&mut self, model: &str, request_id: &str, record: &PendingPrediction, new: bool) {
        let entry = key(b'p', model, request_id);
        if new {
            self.batch.insert(expiry_key(record.expires_ms, &entry), &[][..]);
        }
        self.batch
            .insert(entry, serde_json::to_vec(record).unwrap_or_default());
    }

    pub fn put_feedback(&mut self, model: &str, request_id: &str, record: &PendingFeedback) {
        let entry = key(b'f', model, request_id);
        self.batch.insert(expiry_key(record.expires_ms, &entry), &[][..]);
        self.batch
            .insert(entry, serde_json::to_vec(record).unwrap_or_default());
    }

    pub fn remove_feedback(&mut self, model: &str, request_id: &str, record: &PendingFeedback) {
        let entry = key(b'f', model, request_id);
        self.batch.remove(expiry_key(record.expires_ms, &entry));
        self.batch.remove(entry);
    }
}

impl JoinStore {
    pub fn open(storage: &crate::storage::Storage) -> Result<JoinStore, crate::storage::StorageError> {
        Ok(JoinStore {
            tree: storage.aux_tree("ml_join")?,
        })
    }

    pub fn prediction(&self, model: &str, request_id: &str) -> sled::Result<Option<PendingPrediction>> {
        let bytes = self.tree.get(key(b'p', model, request_id))?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    pub fn has_prediction(&self, model: &str, request_id: &str) -> sled::Result<bool> {
        self.tree.contains_key(key(b'p', model, request_id))
    }

    pub fn feedback(&self, model: &str, request_id: &str) -> sled::Result<Option<PendingFeedback>> {
        let bytes = self.tree.get(key(b'f', model, request_id))?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    pub fn apply(&self, batch: JoinBatch) -> sled::Result<()> {
        self.tree.apply_batch(batch.batch)
    }

    /// Pending feedback per model (restored counts after a restart).
    pub fn pending_feedback_counts(&self) -> sled::Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        for entry in self.tree.scan_prefix([b'f']) {
            let (k, _) = entry?;
            if let Some(model) = model_of(&k[1..]) {
                *counts.entry(model).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    /// Removes every entry whose TTL ended before `now_ms`.
    pub fn expire(&self, now_ms: i64) -> sled::Result<Vec<Expired>> {
        let end = expiry_key(now_ms, &[]);
        let mut expired = Vec::new();
        for entry in self.tree.range(vec![b'e']..end) {
            let (index_key, _) = entry?;
            let entry_key = index_key.get(9..).unwrap_or_default();
            let model = entry_key.get(1..).and_then(model_of).unwrap_or_default();
            let removed = self.tree.remove(entry_key)?.is_some();
            self.tree.remove(&index_key)?;
            match (removed, entry_key.first()) {
                (true, Some(b'p')) => expired.push(Expired::Prediction { model }),
                (true, Some(b'f')) => expired.push(Expired::Feedback { model }),
                _ => {}
            }
        }
        Ok(expired)
    }
}

fn model_of(rest: &[u8]) -> Option<String> {
    let nul = rest.iter().position(|&b| b == 0)?;
    String::from_utf8(rest[..nul].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_ms: i64) -> PendingPrediction {
        PendingPrediction {
            version: "v1".into(),
            timestamp_ms: 0,
            segment: BTreeMap::new(),
            prediction: serde_json::json!("a"),
            class_probability: None,
            score: Some(0.7),
            expires_ms,
            logged: false,
            labelled: false,
            item: None,
        }
    }

    #[test]
    fn entries_expire_by_their_ttl_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let opts = crate::storage::StorageOptions::default;
        {
            let storage = crate::storage::Storage::open(dir.path(), opts()).unwrap_or_else(|e| panic!("{e}"));
            let join = JoinStore::open(&storage).unwrap_or_else(|e| panic!("{e}"));
            let mut batch = JoinBatch::default();
            batch.put_prediction("m", "early", &record(100), true);
            batch.put_prediction("m", "late", &record(10_000), true);
            let feedback = PendingFeedback {
                ground_truth: serde_json::json!("a"),
                timestamp_ms: 0,
                expires_ms: 50,
            };
            batch.put_feedback("m", "orphan", &feedback);
            join.apply(batch).unwrap_or_else(|e| panic!("{e}"));
            storage.close().unwrap_or_else(|e| panic!("{e}"));
        }
        let storage = crate::storage::Storage::open(dir.path(), opts()).unwrap_or_else(|e| panic!("{e}"));
        let join = JoinStore::open(&storage).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            join.pending_feedback_counts()
                .ok()
                .and_then(|c| c.get("m").copied()),
            Some(1)
        );
        let expired = join.expire(1000).unwrap_or_default();
        assert_eq!(
            expired,
            [
                Expired::Feedback { model: "m".into() },
                Expired::Prediction { model: "m".into() }
            ]
        );
        assert_eq!(join.has_prediction("m", "early"), Ok(false));
        assert_eq!(
            join.prediction("m", "late").ok().flatten().map(|r| r.score),
            Some(Some(0.7))
        );
    }
}
