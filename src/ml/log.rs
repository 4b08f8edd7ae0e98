//! The prediction log: sampled predictions kept with their own retention,
//! searchable and exportable.
//!
//! Owns two partitions of the `lsm` keyspace: `log` (key: model, NUL,
//! timestamp as sign-flipped big-endian i64, request id → the item as
//! bincode behind a tag byte; items stored as JSON before still read),
//! so one model's items are one time-ordered key range, and `log_ids`
//! (model, NUL, request id → `log` key). Both were sled trees (`ml_log`,
//! `ml_log_ids`) before; see `crate::ml::lsm`. An item's key follows from its
//! prediction's join record (model, time, request id), so feedback updates it
//! and a search by request id finds it through that record; the id index is
//! written only for items that may outlive their join record (a retention
//! longer than the feedback TTL), which saves a write per logged item.
//! The sampling decision is `sample`'s; searches go newest first.
//!
//! An item's features (most of its bytes: ~0.6 of ~0.8 kB with 50 features)
//! are not in its value but in a [`DetailsLog`] of their own
//! (`ml_log_features`), appended once per batch, which the value points
//! into: each byte of a value is rewritten by the index's compactions (see
//! [`crate::ml::details`]). Files are deleted a retention
//! after their last write; items stored before, with their features inline
//! (tag byte 1) or as JSON, still read.

use crate::ml::details::{DetailsLog, DetailsRef};
use crate::ml::event::{Features, Outcome};
use crate::ml::lsm::LsmResult;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One logged prediction, as `GET /api/v1/predictions` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Encode, Decode)]
pub struct LogItem {
    pub request_id: String,
    pub model: String,
    pub model_version: String,
    /// RFC 3339 with milliseconds.
    pub timestamp: String,
    #[serde(skip)]
    pub timestamp_ms: i64,
    pub features: Features,
    pub prediction: Outcome,
    pub probabilities: Option<BTreeMap<String, f64>>,
    pub score: Option<f64>,
    pub latency_ms: Option<f64>,
    pub segment: BTreeMap<String, String>,
    pub error: Option<String>,
    pub ground_truth: Option<Outcome>,
    pub confidence: Option<f64>,
    pub misclassified: Option<bool>,
}

/// An item to store, and whether to index it by request id (it may outlive
/// the join record that otherwise finds it).
pub struct LogWrite {
    pub item: LogItem,
    pub indexed: bool,
}

/// Why an item was logged; the policy of `sampling:`.
pub struct SampleInputs<'a> {
    pub request_id: &'a str,
    pub failed: bool,
    pub confidence: Option<f64>,
}

/// Whether a prediction goes into the log when it arrives.
pub fn sample(config: &crate::config::models::ModelConfig, inputs: &SampleInputs<'_>) -> bool {
    let sampling = &config.sampling;
    if inputs.failed && sampling.log_errors {
        return true;
    }
    let low = inputs
        .confidence
        .is_some_and(|c| c < config.thresholds.low_confidence);
    if low && sampling.log_low_confidence {
        return true;
    }
    (request_hash(inputs.request_id) as f64) < sampling.rate * (u64::MAX as f64)
}

/// FNV-1a, then SplitMix64's finaliser so the high bits mix well for ids that
/// differ only at the end: the same request id is always sampled the same way,
/// across restarts.
fn request_hash(request_id: &str) -> u64 {
    let h = request_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// What a search asks for.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    pub model: Option<String>,
    pub version: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub request_id: Option<String>,
    pub segment: BTreeMap<String, String>,
    pub misclassified: Option<bool>,
    pub min_confidence: Option<f64>,
    pub max_confidence: Option<f64>,
    pub limit: usize,
    /// With `request_id`: when that prediction was logged, from its join
    /// record; without it the id index is asked.
    pub logged_at_ms: Option<i64>,
    /// Resume strictly before this key (from the previous page).
    pub page_token: Option<Vec<u8>>,
}

/// One page of results, newest first.
pub struct LogPage {
    pub items: Vec<LogItem>,
    /// Present when more items may follow.
    pub next_page_token: Option<Vec<u8>>,
}

/// Handle on the two partitions and the features' files.
#[derive(Clone)]
pub struct PredictionLog {
    keyspace: fjall::Keyspace,
    items: fjall::PartitionHandle,
    ids: fjall::PartitionHandle,
    features: Arc<DetailsLog>,
}

/// What `set_ground_truths` adds to an item: model, request id, when the
/// item was logged, the ground truth, and whether it was misclassified.
pub type GroundTruth = (String, String, i64, Outcome, Option<bool>);

fn flip(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn unflip(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

fn item_key(model: &str, t: i64, request_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(model.len() + request_id.len() + 9);
    key.extend_from_slice(model.as_bytes());
    key.push(0);
    key.extend_from_slice(&flip(t));
    key.extend_from_slice(request_id.as_bytes());
    key
}

fn id_key(model: &str, request_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(model.len() + request_id.len() + 1);
    key.extend_from_slice(model.as_bytes());
    key.push(0);
    key.extend_from_slice(request_id.as_bytes());
    key
}

/// Time of an item key (after the model's NUL).
fn key_time(key: &[u8]) -> Option<i64> {
    let nul = key.iter().position(|&b| b == 0)?;
    unflip(key.get(nul + 1..nul + 9)?)
}

impl PredictionLog {
    /// Opens partitions `log` and `log_ids` of `keyspace`, moving in what
    /// the sled trees of earlier versions (`ml_log`, `ml_log_ids`) hold.
    pub fn open(
        storage: &crate::storage::Storage,
        keyspace: &fjall::Keyspace,
    ) -> Result<PredictionLog, crate::storage::StorageError> {
        Ok(PredictionLog {
            keyspace: keyspace.clone(),
            items: crate::ml::lsm::partition(keyspace, "log", storage, "ml_log")?,
            ids: crate::ml::lsm::partition(keyspace, "log_ids", storage, "ml_log_ids")?,
            features: Arc::new(DetailsLog::open(&storage.aux_dir("ml_log_features")?)?),
        })
    }

    /// Stores `items`: their features in one append, then the items and
    /// the ids of the `indexed` ones as one atomic write.
    pub fn insert(&self, items: Vec<LogWrite>) -> LsmResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let (file, base) = self.features.position()?;
        let mut features = Vec::new();
        let mut values = Vec::with_capacity(items.len());
        for LogWrite { mut item, indexed } in items {
            let start = features.len();
            // Writing into a Vec cannot fail.
            let _ = bincode::encode_into_std_write(
                std::mem::take(&mut item.features),
                &mut features,
                bincode::config::standard(),
            );
            let at = DetailsRef {
                file,
                offset: base + start as u64,
                len: u32::try_from(features.len() - start).unwrap_or(u32::MAX),
            };
            let key = item_key(&item.model, item.timestamp_ms, &item.request_id);
            values.push((
                key,
                encode(&item, Some(at)),
                indexed.then(|| id_key(&item.model, &item.request_id)),
            ));
        }
        self.features.append(file, base, &features)?;
        let mut write = self.keyspace.batch();
        for (key, value, id) in values {
            if let Some(id) = id {
                write.insert(&self.ids, id, key.clone());
            }
            write.insert(&self.items, key, value);
        }
        write.commit()
    }

    /// Deletes features files last written more than `keep` (the longest
    /// retention) ago.
    pub fn expire_features(&self, keep: Duration) -> std::io::Result<usize> {
        self.features.expire(keep)
    }

    /// `item` with its features read back from where `at` says.
    fn with_features(&self, (mut item, at): (LogItem, Option<DetailsRef>)) -> LogItem {
        if let Some(at) = at {
            let read = self.features.read(at).ok().flatten();
            let decoded = read.and_then(|bytes| {
                bincode::decode_from_slice::<Features, _>(&bytes, bincode::config::standard()).ok()
            });
            item.features = decoded.map(|(features, _)| features).unwrap_or_default();
        }
        item
    }

    /// Adds each ground truth to its item, as one write; returns how many
    /// items were found.
    pub fn set_ground_truths(&self, truths: Vec<GroundTruth>) -> LsmResult<usize> {
        let mut write = self.keyspace.batch();
        for (model, request_id, logged_at_ms, truth, misclassified) in truths {
            let key = item_key(&model, logged_at_ms, &request_id);
            let Some(bytes) = self.items.get(&key)? else {
                continue;
            };
            let Some((mut item, features_at)) = decode(&key, &bytes) else {
                continue;
            };
            item.ground_truth = Some(truth);
            item.misclassified = misclassified;
            write.insert(&self.items, key, encode(&item, features_at));
        }
        let found = write.len();
        write.commit()?;
        Ok(found)
    }

    /// Deletes `model`'s items older than `cutoff_ms`; returns how many.
    pub fn apply_retention(&self, model: &str, cutoff_ms: i64) -> LsmResult<usize> {
        let start = item_key(model, i64::MIN, "");
        let end = item_key(model, cutoff_ms, "");
        let mut removed = 0;
        let mut write = self.keyspace.batch();
        for entry in self.items.range(start..end) {
            let (key, bytes) = entry?;
            if let Some((item, _)) = decode(&key, &bytes) {
                write.remove(&self.ids, id_key(&item.model, &item.request_id));
            }
            write.remove(&self.items, key);
            removed += 1;
            crate::ml::lsm::commit_when_full(&self.keyspace, &mut write)?;
        }
        write.commit()?;
        Ok(removed)
    }

    /// Items matching `query`, newest first.
    pub fn search(&self, query: &LogQuery) -> LsmResult<LogPage> {
        if let (Some(model), Some(request_id)) = (&query.model, &query.request_id) {
            return self.find_one(model, request_id, query);
        }
        let (low, high) = self.key_bounds(query);
        let mut items = Vec::new();
        let mut last_key = None;
        for entry in self.items.range(low..high).rev() {
            let (key, bytes) = entry?;
            if items.len() == query.limit {
                return Ok(LogPage {
                    items,
                    next_page_token: last_key,
                });
            }
            let in_time = key_time(&key).is_some_and(|t| in_range(t, query));
            match decode(&key, &bytes) {
                Some(stored) if in_time && matches(&stored.0, query) => {
                    last_key = Some(key.to_vec());
                    items.push(self.with_features(stored));
                }
                _ => {}
            }
        }
        Ok(LogPage {
            items,
            next_page_token: None,
        })
    }

    fn find_one(&self, model: &str, request_id: &str, query: &LogQuery) -> LsmResult<LogPage> {
        let mut items = Vec::new();
        let key = match query.logged_at_ms {
            Some(t) => Some(item_key(model, t, request_id)),
            None => self.ids.get(id_key(model, request_id))?.map(|k| k.to_vec()),
        };
        if let Some(key) = key {
            if let Some(stored) = self.items.get(&key)?.and_then(|bytes| decode(&key, &bytes)) {
                if matches(&stored.0, query) && in_range(stored.0.timestamp_ms, query) {
                    items.push(self.with_features(stored));
                }
            }
        }
        Ok(LogPage {
            items,
            next_page_token: None,
        })
    }

    /// The key range to scan: one model's time range, or everything.
    fn key_bounds(&self, query: &LogQuery) -> (Vec<u8>, Vec<u8>) {
        let (low, mut high) = match &query.model {
            Some(model) => (
                item_key(model, query.start_ms.unwrap_or(i64::MIN), ""),
                item_key(model, query.end_ms.map_or(i64::MAX, |e| e.saturating_add(1)), ""),
            ),
            None => (Vec::new(), vec![0xff; 9]),
        };
        if let Some(token) = &query.page_token {
            if *token < high {
                high = token.clone();
            }
        }
        (low, high)
    }
}

/// The tag byte of an item stored as bincode with its features (a JSON item
/// starts with `{`). bincode, not JSON: a 50-feature item is ~3x smaller and
/// written without building a JSON tree.
const BINCODE_ITEM: u8 = 1;
/// The tag byte of an item whose features are in the features log: the
/// [`DetailsRef`], then the item as bincode without them.
const ITEM_FEATURES_APART: u8 = 2;

fn encode(item: &LogItem, features_at: Option<DetailsRef>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(256);
    let config = bincode::config::standard();
    // Writing into a Vec cannot fail.
    match features_at {
        Some(at) => {
            bytes.push(ITEM_FEATURES_APART);
            let _ = bincode::encode_into_std_write(at, &mut bytes, config);
        }
        None => bytes.push(BINCODE_ITEM),
    }
    let _ = bincode::encode_into_std_write(item, &mut bytes, config);
    bytes
}

/// A stored item, and where its features are when they are not in it.
fn decode(key: &[u8], bytes: &[u8]) -> Option<(LogItem, Option<DetailsRef>)> {
    let config = bincode::config::standard();
    let (mut item, at): (LogItem, _) = match bytes.split_first()? {
        (&BINCODE_ITEM, rest) => (bincode::decode_from_slice(rest, config).ok()?.0, None),
        (&ITEM_FEATURES_APART, rest) => {
            let (at, used) = bincode::decode_from_slice::<DetailsRef, _>(rest, config).ok()?;
            (
                bincode::decode_from_slice(rest.get(used..)?, config).ok()?.0,
                Some(at),
            )
        }
        _ => (serde_json::from_slice(bytes).ok()?, None),
    };
    item.timestamp_ms = key_time(key)?;
    Some((item, at))
}

fn in_range(t: i64, query: &LogQuery) -> bool {
    query.start_ms.is_none_or(|s| t >= s) && query.end_ms.is_none_or(|e| t <= e)
}

fn matches(item: &LogItem, query: &LogQuery) -> bool {
    let confidence_ok = |bound: Option<f64>, ok: fn(f64, f64) -> bool| match bound {
        None => true,
        Some(b) => item.confidence.is_some_and(|c| ok(c, b)),
    };
    query.model.as_ref().is_none_or(|m| *m == item.model)
        && query.version.as_ref().is_none_or(|v| *v == item.model_version)
        && query.request_id.as_ref().is_none_or(|r| *r == item.request_id)
        && query.segment.iter().all(|(k, v)| item.segment.get(k) == Some(v))
        && query.misclassified.is_none_or(|m| item.misclassified == Some(m))
        && confidence_ok(query.min_confidence, |c, b| c >= b)
        && confidence_ok(query.max_confidence, |c, b| c <= b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::models::ModelConfig;

    fn item(model: &str, t: i64, id: &str, confidence: f64) -> LogItem {
        LogItem {
            request_id: id.into(),
            model: model.into(),
            model_version: "v1".into(),
            timestamp: String::new(),
            timestamp_ms: t,
            features: Features::new(vec![(
                "x".into(),
                crate::ml::event::FeatureValue::Number(t as f64),
            )]),
            prediction: Outcome::Label("a".into()),
            probabilities: None,
            score: None,
            latency_ms: None,
            segment: BTreeMap::from([(
                "tier".to_string(),
                if t % 2 == 0 { "gold" } else { "free" }.to_string(),
            )]),
            error: None,
            ground_truth: None,
            confidence: Some(confidence),
            misclassified: None,
        }
    }

    fn writes(items: Vec<LogItem>, indexed: bool) -> Vec<LogWrite> {
        items.into_iter().map(|item| LogWrite { item, indexed }).collect()
    }

    fn open() -> (tempfile::TempDir, PredictionLog) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let storage = crate::storage::Storage::open(dir.path(), crate::storage::StorageOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let log = crate::ml::lsm::open(&storage)
            .and_then(|keyspace| PredictionLog::open(&storage, &keyspace))
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, log)
    }

    #[test]
    fn search_pages_newest_first_with_filters() {
        let (_dir, log) = open();
        let items: Vec<LogItem> = (0..10)
            .map(|t| item("m", t, &format!("r{t}"), t as f64 / 10.0))
            .collect();
        log.insert(writes(items, false)).unwrap_or_else(|e| panic!("{e}"));
        log.insert(writes(vec![item("other", 5, "x", 0.5)], false))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut query = LogQuery {
            model: Some("m".into()),
            limit: 3,
            ..LogQuery::default()
        };
        let page = log.search(&query).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<_> = page.items.iter().map(|i| i.request_id.as_str()).collect();
        assert_eq!(ids, ["r9", "r8", "r7"]);
        query.page_token = page.next_page_token;
        let page = log.search(&query).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.items[0].request_id, "r6");
        let filtered = LogQuery {
            model: Some("m".into()),
            segment: BTreeMap::from([("tier".into(), "gold".into())]),
            min_confidence: Some(0.35),
            start_ms: Some(1),
            end_ms: Some(8),
            limit: 100,
            ..LogQuery::default()
        };
        let page = log.search(&filtered).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<_> = page.items.iter().map(|i| i.request_id.as_str()).collect();
        assert_eq!(ids, ["r8", "r6", "r4"]);
        assert!(page.next_page_token.is_none());
    }

    #[test]
    fn items_read_back_as_written_and_json_items_still_read() {
        use crate::ml::event::FeatureValue;
        let mut written = item("m", 7, "r", 0.75);
        written.features = Features::new(vec![
            ("n".into(), FeatureValue::Number(30.0)),
            ("x".into(), FeatureValue::Number(1.5)),
            ("c".into(), FeatureValue::Text("red".into())),
            ("z".into(), FeatureValue::Missing),
        ]);
        written.prediction = Outcome::Number(2.0);
        written.ground_truth = Some(Outcome::Label("b".into()));
        let key = item_key("m", 7, "r");
        assert_eq!(
            decode(&key, &encode(&written, None)),
            Some((written.clone(), None))
        );
        let json = serde_json::to_value(&written).unwrap_or_default();
        assert_eq!(
            json["features"],
            serde_json::json!({"c": "red", "n": 30, "x": 1.5, "z": null})
        );
        assert_eq!(json["prediction"], serde_json::json!(2));
        let old = serde_json::to_vec(&json).unwrap_or_default();
        assert_eq!(decode(&key, &old), Some((written, None)));
    }

    #[test]
    fn ground_truth_updates_and_retention_removes() {
        let (_dir, log) = open();
        log.insert(writes(
            vec![item("m", 100, "a", 0.9), item("m", 200, "b", 0.9)],
            false,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let truth = |at: i64| {
            (
                "m".to_string(),
                "a".to_string(),
                at,
                Outcome::Label("b".into()),
                Some(true),
            )
        };
        let updated = log.set_ground_truths(vec![truth(100), truth(101)]);
        assert_eq!(updated.ok(), Some(1), "the item logged at 100, none at 101");
        let query = LogQuery {
            misclassified: Some(true),
            limit: 10,
            ..LogQuery::default()
        };
        let page = log.search(&query).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.items.len(), 1);
        assert_eq!(log.apply_retention("m", 150).ok(), Some(1));
        let by_id = LogQuery {
            model: Some("m".into()),
            request_id: Some("a".into()),
            limit: 10,
            ..LogQuery::default()
        };
        assert!(log.search(&by_id).map(|p| p.items.is_empty()).unwrap_or(false));
    }

    #[test]
    fn by_request_id_through_the_join_time_or_the_id_index() {
        let (_dir, log) = open();
        log.insert(writes(vec![item("m", 100, "hinted", 0.9)], false))
            .unwrap_or_else(|e| panic!("{e}"));
        log.insert(writes(vec![item("m", 200, "indexed", 0.9)], true))
            .unwrap_or_else(|e| panic!("{e}"));
        let found = |request_id: &str, logged_at_ms| {
            let query = LogQuery {
                model: Some("m".into()),
                request_id: Some(request_id.into()),
                logged_at_ms,
                limit: 10,
                ..LogQuery::default()
            };
            let page = log.search(&query).unwrap_or_else(|e| panic!("{e}"));
            page.items.iter().map(|i| i.timestamp_ms).collect::<Vec<_>>()
        };
        assert_eq!(found("hinted", Some(100)), [100]);
        assert_eq!(found("hinted", None), Vec::<i64>::new(), "not indexed");
        assert_eq!(found("indexed", None), [200]);
        assert_eq!(found("indexed", Some(200)), [200]);
        assert_eq!(found("indexed", Some(199)), Vec::<i64>::new());
    }

    #[test]
    fn sampling_always_keeps_errors_and_low_confidence() {
        let mut config = ModelConfig::inferred("m");
        config.sampling.rate = 0.0;
        let inputs = |failed, confidence| SampleInputs {
            request_id: "r",
            failed,
            confidence,
        };
        assert!(sample(&config, &inputs(true, None)));
        assert!(sample(&config, &inputs(false, Some(0.55))));
        assert!(!sample(&config, &inputs(false, Some(0.95))));
        config.sampling.rate = 1.0;
        assert!(sample(&config, &inputs(false, Some(0.95))));
        let kept = (0..10_000)
            .filter(|i| {
                config.sampling.rate = 0.1;
                sample(
                    &config,
                    &SampleInputs {
                        request_id: &format!("req-{i}"),
                        failed: false,
                        confidence: None,
                    },
                )
            })
            .count();
        assert!((800..1200).contains(&kept), "{kept}");
    }
}
