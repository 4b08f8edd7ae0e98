//! Joining feedback to predictions by `request_id`, in either order, within
//! the model's TTL, durably.
//!
//! Owns the join index, partition `join` of the `lsm` keyspace: `p`
//! model NUL request → the prediction's
//! [`PendingPrediction`] (kept after its feedback joins, to refuse duplicates),
//! `f` model NUL request → feedback that came first, and `e` expiry (sign-flipped
//! big-endian ms) → the keys of the entries created with that expiry, an index
//! that lets expiry scan only what is due. All entries of one request share
//! their expiry, so a batch of 1,000 predictions adds one index key, not 1,000;
//! an entry is removed only when its own record says it is due. A request
//! round is one atomic write to the index's journal, which reaches the OS
//! before the round is answered, so joins survive restarts and `kill -9`.
//!
//! (It was a sled tree before; see `crate::ml::lsm` for why not now.)
//!
//! Every accepted prediction writes one `p` record, so it is compact: bincode,
//! not JSON, and without the prediction's [`LogDetails`] (features and other
//! log-only fields, ~0.6 kB with 50 features), which go to the
//! [`DetailsLog`] and are pointed to (see there for why). Records written
//! before the details log (no leading [`RECORD_TAG`], details inline) are
//! still read. Pending feedback is rare and stays JSON.

use crate::ml::details::{DetailsLog, DetailsRef};
use crate::ml::event::{Features, Outcome};
use crate::ml::lsm::LsmResult;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a prediction leaves behind for its feedback.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct PendingPrediction {
    pub version: String,
    pub timestamp_ms: i64,
    /// Configured segment label values.
    pub segment: BTreeMap<String, String>,
    pub prediction: Outcome,
    /// Probability of a class: the class and its probability.
    pub class_probability: Option<(String, f64)>,
    /// `score`: probability of the greater class.
    pub score: Option<f64>,
    pub expires_ms: i64,
    pub logged: bool,
    pub labelled: bool,
    /// What the log item needs beyond the fields above, kept while the
    /// prediction would be logged if it turns out misclassified.
    pub details: Option<Details>,
}

/// Where a prediction's [`LogDetails`] are.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub enum Details {
    /// In the record: a new prediction's until its batch is applied, and
    /// records written before the details log.
    Inline(LogDetails),
    /// In the details log.
    Appended(DetailsRef),
}

/// A record as versions before the details log wrote it.
#[derive(Decode)]
#[cfg_attr(test, derive(Encode))]
struct RecordWithInlineDetails {
    version: String,
    timestamp_ms: i64,
    segment: BTreeMap<String, String>,
    prediction: Outcome,
    class_probability: Option<(String, f64)>,
    score: Option<f64>,
    expires_ms: i64,
    logged: bool,
    labelled: bool,
    details: Option<LogDetails>,
}

impl From<RecordWithInlineDetails> for PendingPrediction {
    fn from(r: RecordWithInlineDetails) -> Self {
        PendingPrediction {
            version: r.version,
            timestamp_ms: r.timestamp_ms,
            segment: r.segment,
            prediction: r.prediction,
            class_probability: r.class_probability,
            score: r.score,
            expires_ms: r.expires_ms,
            logged: r.logged,
            labelled: r.labelled,
            details: r.details.map(Details::Inline),
        }
    }
}

/// The parts of a prediction only its log item needs.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct LogDetails {
    /// Encoded as the vector it wraps, as before it was a type of its own.
    pub features: Features,
    pub probabilities: Option<BTreeMap<String, f64>>,
    pub latency_ms: Option<f64>,
    /// Every segment label the event carried.
    pub segment: BTreeMap<String, String>,
    pub error: Option<String>,
}

/// The first byte of a record that may point into the details log. Records
/// without it start with the varint length of `version`, which bincode
/// never writes as 0xFF.
const RECORD_TAG: u8 = 0xFF;

fn encode_prediction(record: &PendingPrediction) -> Vec<u8> {
    let mut bytes = vec![RECORD_TAG];
    // Encoding into a Vec cannot fail.
    let _ = bincode::encode_into_writer(record, Append(&mut bytes), bincode::config::standard());
    bytes
}

/// Appends bincode's output to a vector with writes the compiler can
/// inline (8 bytes for an `f64`, one for a tag), where going through
/// `std::io::Write` called `memcpy` for each: encoding 50 features per
/// prediction was 4 % of ingest's CPU.
struct Append<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for Append<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

fn decode_prediction(bytes: &[u8]) -> Option<PendingPrediction> {
    let config = bincode::config::standard();
    match bytes.split_first() {
        Some((&RECORD_TAG, rest)) => bincode::decode_from_slice(rest, config).ok().map(|(r, _)| r),
        _ => bincode::decode_from_slice::<RecordWithInlineDetails, _>(bytes, config)
            .ok()
            .map(|(r, _)| r.into()),
    }
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
    keyspace: fjall::Keyspace,
    entries: fjall::PartitionHandle,
    details: Arc<DetailsLog>,
}

/// The index key of a request's prediction: also what identifies a
/// request while its round is applied and written (see `crate::ml::monitor`).
pub fn prediction_key(model: &str, request_id: &str) -> Vec<u8> {
    key(b'p', model, request_id)
}

fn key(kind: u8, model: &str, request_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(model.len() + request_id.len() + 2);
    key.push(kind);
    key.extend_from_slice(model.as_bytes());
    key.push(0);
    key.extend_from_slice(request_id.as_bytes());
    key
}

fn expiry_key(expires_ms: i64) -> [u8; 9] {
    let mut key = [b'e'; 9];
    key[1..].copy_from_slice(&((expires_ms as u64) ^ (1 << 63)).to_be_bytes());
    key
}

/// Entry keys per expiry index value. A round can hold thousands of new
/// entries with one expiry; as one value (~30 bytes an entry) that went over
/// sled's inline limit and became a blob file per round.
const EXPIRY_CHUNK: usize = 256;

/// An expiry index key for a chunk of entries: the expiry, then the chunk's
/// first entry key, so chunks with the same expiry get keys of their own.
/// They sort after [`expiry_key`] of the same millisecond, so a range ending
/// there still ends before that millisecond. Databases from before chunking
/// hold bare [`expiry_key`]s, which read the same.
fn expiry_chunk_key(expires_ms: i64, first_entry: &[u8]) -> Vec<u8> {
    let mut key = expiry_key(expires_ms).to_vec();
    key.extend_from_slice(first_entry);
    key
}

fn encode_entries(entries: &[Vec<u8>]) -> Vec<u8> {
    bincode::encode_to_vec(entries, bincode::config::standard()).unwrap_or_default()
}

/// The entry keys an index key lists.
fn decode_entries(bytes: &[u8]) -> Vec<Vec<u8>> {
    bincode::decode_from_slice(bytes, bincode::config::standard())
        .map(|(entries, _)| entries)
        .unwrap_or_default()
}

/// Writes collected during one request round (`None`: remove), applied in order.
#[derive(Default)]
pub struct JoinBatch {
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Keys of new entries by their expiry, indexed when the batch is applied.
    expiring: BTreeMap<i64, Vec<Vec<u8>>>,
    /// New predictions' details, appended to the details log as one write.
    details: Option<NewDetails>,
}

/// Details bytes for the details log, from `base` in `file`.
struct NewDetails {
    file: u32,
    base: u64,
    bytes: Vec<u8>,
}

impl JoinBatch {
    /// Writes `record`; details it holds inline move to the details log
    /// (`store`'s), unless that fails, when they stay inline.
    pub fn put_prediction(
        &mut self,
        store: &JoinStore,
        model: &str,
        request_id: &str,
        record: &mut PendingPrediction,
        new: bool,
    ) {
        if let Some(Details::Inline(details)) = &record.details {
            match self.add_details(store, details) {
                Ok(appended) => record.details = Some(appended),
                Err(e) => tracing::error!("details log unusable, details kept in the record: {e}"),
            }
        }
        let entry = prediction_key(model, request_id);
        if new {
            self.expiring
                .entry(record.expires_ms)
                .or_default()
                .push(entry.clone());
        }
        self.writes.push((entry, Some(encode_prediction(record))));
    }

    pub fn put_feedback(&mut self, model: &str, request_id: &str, record: &PendingFeedback) {
        let entry = key(b'f', model, request_id);
        self.expiring
            .entry(record.expires_ms)
            .or_default()
            .push(entry.clone());
        self.writes
            .push((entry, Some(serde_json::to_vec(record).unwrap_or_default())));
    }

    /// Removes joined feedback; its index entry is skipped when it comes due.
    pub fn remove_feedback(&mut self, model: &str, request_id: &str) {
        self.writes.push((key(b'f', model, request_id), None));
    }

    fn add_details(&mut self, store: &JoinStore, details: &LogDetails) -> std::io::Result<Details> {
        let new = match &mut self.details {
            Some(new) => new,
            None => {
                let (file, base) = store.details.position()?;
                self.details.insert(NewDetails {
                    file,
                    base,
                    bytes: Vec::new(),
                })
            }
        };
        let start = new.bytes.len();
        bincode::encode_into_writer(details, Append(&mut new.bytes), bincode::config::standard())
            .map_err(std::io::Error::other)?;
        Ok(Details::Appended(DetailsRef {
            file: new.file,
            offset: new.base + start as u64,
            len: u32::try_from(new.bytes.len() - start).map_err(std::io::Error::other)?,
        }))
    }
}

impl JoinStore {
    /// Opens the index, partition `join` of `keyspace`, moving in what the
    /// sled tree of earlier versions (`ml_join`) still holds.
    pub fn open(
        storage: &crate::storage::Storage,
        keyspace: &fjall::Keyspace,
    ) -> Result<JoinStore, crate::storage::StorageError> {
        Ok(JoinStore {
            keyspace: keyspace.clone(),
            entries: crate::ml::lsm::partition(keyspace, "join", storage, "ml_join")?,
            details: Arc::new(DetailsLog::open(&storage.aux_dir("ml_details")?)?),
        })
    }

    /// The log details `details` stands for (`None` when they are gone).
    pub fn details(&self, details: Details) -> LsmResult<Option<LogDetails>> {
        match details {
            Details::Inline(details) => Ok(Some(details)),
            Details::Appended(at) => Ok(self.details.read(at)?.and_then(|bytes| {
                bincode::decode_from_slice(&bytes, bincode::config::standard())
                    .ok()
                    .map(|(details, _)| details)
            })),
        }
    }

    /// Deletes details no record can point to after `keep` (the longest
    /// feedback TTL).
    pub fn expire_details(&self, keep: Duration) -> std::io::Result<usize> {
        self.details.expire(keep)
    }

    pub fn prediction(&self, model: &str, request_id: &str) -> LsmResult<Option<PendingPrediction>> {
        let bytes = self.entries.get(prediction_key(model, request_id))?;
        Ok(bytes.and_then(|b| decode_prediction(&b)))
    }

    /// Whether the prediction with this [`prediction_key`] is recorded.
    pub fn has_prediction(&self, prediction_key: &[u8]) -> LsmResult<bool> {
        self.entries.contains_key(prediction_key)
    }

    pub fn feedback(&self, model: &str, request_id: &str) -> LsmResult<Option<PendingFeedback>> {
        let bytes = self.entries.get(key(b'f', model, request_id))?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Applies `batch`: details first, then index entries and records as
    /// one atomic write. Callers serialise their batches (the `ml-ingest`
    /// and `ml-write` threads take turns: see `crate::ml::ingest`): an index
    /// key already written (the same expiry and first entry) is read and
    /// extended.
    pub fn apply(&self, mut batch: JoinBatch) -> LsmResult<()> {
        self.append_details(&mut batch)?;
        let mut write = self.keyspace.batch();
        for (expires_ms, entries) in batch.expiring {
            for chunk in entries.chunks(EXPIRY_CHUNK) {
                let key = expiry_chunk_key(expires_ms, &chunk[0]);
                let mut listed = chunk.to_vec();
                if let Some(earlier) = self.entries.get(&key)? {
                    listed.extend(decode_entries(&earlier));
                }
                write.insert(&self.entries, key, encode_entries(&listed));
            }
        }
        for (key, value) in batch.writes {
            match value {
                Some(value) => write.insert(&self.entries, key, value),
                None => write.remove(&self.entries, key),
            }
        }
        write.commit()
    }

    /// Appends `batch`'s new details to the details log (once: `apply`
    /// then finds them written), so the next batch's details can be placed
    /// after them before `batch` is applied.
    pub fn append_details(&self, batch: &mut JoinBatch) -> std::io::Result<()> {
        match batch.details.take() {
            Some(new) => self.details.append(new.file, new.base, &new.bytes),
            None => Ok(()),
        }
    }

    /// Pending feedback per model (restored counts after a restart).
    pub fn pending_feedback_counts(&self) -> LsmResult<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        for entry in self.entries.prefix([b'f']) {
            let (k, _) = entry?;
            if let Some(model) = model_of(&k[1..]) {
                *counts.entry(model).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    /// Removes every entry whose TTL ended before `now_ms`.
    pub fn expire(&self, now_ms: i64) -> LsmResult<Vec<Expired>> {
        let mut expired = Vec::new();
        let due: Vec<_> = self
            .entries
            .range(&b"e"[..]..&expiry_key(now_ms)[..])
            .collect::<LsmResult<_>>()?;
        for (index_key, listed) in due {
            let mut write = self.keyspace.batch();
            for entry_key in decode_entries(&listed) {
                expired.extend(self.expire_entry(&mut write, entry_key, now_ms)?);
            }
            // An index key extended meanwhile (a TTL of ~0) stays for the next sweep.
            if self.entries.get(&index_key)?.as_deref() == Some(&*listed) {
                write.remove(&self.entries, index_key);
            }
            write.commit()?;
        }
        Ok(expired)
    }

    /// Removes one listed entry (in `write`) if it still exists and its
    /// record is due.
    fn expire_entry(
        &self,
        write: &mut fjall::Batch,
        entry_key: Vec<u8>,
        now_ms: i64,
    ) -> LsmResult<Option<Expired>> {
        let Some(bytes) = self.entries.get(&entry_key)? else {
            return Ok(None);
        };
        let model = entry_key.get(1..).and_then(model_of).unwrap_or_default();
        let (expires_ms, expired) = match entry_key.first() {
            Some(b'p') => (
                decode_prediction(&bytes).map(|r| r.expires_ms),
                Expired::Prediction { model },
            ),
            _ => (
                serde_json::from_slice::<PendingFeedback>(&bytes)
                    .ok()
                    .map(|r| r.expires_ms),
                Expired::Feedback { model },
            ),
        };
        if expires_ms.is_some_and(|t| t >= now_ms) {
            return Ok(None);
        }
        write.remove(&self.entries, entry_key);
        Ok(Some(expired))
    }
}

fn model_of(rest: &[u8]) -> Option<String> {
    let nul = rest.iter().position(|&b| b == 0)?;
    String::from_utf8(rest[..nul].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::event::FeatureValue;

    fn record(expires_ms: i64) -> PendingPrediction {
        PendingPrediction {
            version: "v1".into(),
            timestamp_ms: 0,
            segment: BTreeMap::new(),
            prediction: Outcome::Label("a".into()),
            class_probability: None,
            score: Some(0.7),
            expires_ms,
            logged: false,
            labelled: false,
            details: Some(Details::Inline(details(1.5))),
        }
    }

    fn details(x: f64) -> LogDetails {
        LogDetails {
            features: Features::new(vec![("x".into(), FeatureValue::Number(x))]),
            probabilities: None,
            latency_ms: Some(3.0),
            segment: BTreeMap::new(),
            error: None,
        }
    }

    fn open(dir: &std::path::Path) -> (crate::storage::Storage, JoinStore) {
        let storage = crate::test_support::retry_on_sled_lock(|| {
            crate::storage::Storage::open(dir, crate::storage::StorageOptions::default())
        });
        let join = crate::ml::lsm::open(&storage)
            .and_then(|keyspace| JoinStore::open(&storage, &keyspace))
            .unwrap_or_else(|e| panic!("{e}"));
        (storage, join)
    }

    #[test]
    fn details_move_to_the_details_log_and_are_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let read = |join: &JoinStore, i: i32| {
            let stored = join.prediction("m", &format!("r{i}")).ok().flatten();
            stored.and_then(|r| join.details(r.details?).ok().flatten())
        };
        {
            let (storage, join) = open(dir.path());
            let mut batch = JoinBatch::default();
            for i in 0..100 {
                let mut r = record(1000);
                r.details = Some(Details::Inline(details(f64::from(i))));
                batch.put_prediction(&join, "m", &format!("r{i}"), &mut r, true);
                assert!(matches!(r.details, Some(Details::Appended(_))), "{:?}", r.details);
            }
            join.apply(batch).unwrap_or_else(|e| panic!("{e}"));
            for i in [0, 1, 57, 99] {
                assert_eq!(read(&join, i), Some(details(f64::from(i))), "item {i}");
            }
            storage.close().unwrap_or_else(|e| panic!("{e}"));
        }
        let (_storage, join) = open(dir.path());
        assert_eq!(read(&join, 57), Some(details(57.0)), "after a restart");
        assert_eq!(join.expire_details(Duration::ZERO).ok(), Some(1));
        assert_eq!(read(&join, 57), None, "gone with its file");
        assert!(join.prediction("m", "r57").ok().flatten().is_some());
    }

    #[test]
    fn records_with_inline_details_from_earlier_versions_still_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (_storage, join) = open(dir.path());
        let old = RecordWithInlineDetails {
            version: "v1".into(),
            timestamp_ms: 7,
            segment: BTreeMap::new(),
            prediction: Outcome::Label("a".into()),
            class_probability: None,
            score: Some(0.7),
            expires_ms: 100,
            logged: false,
            labelled: false,
            details: Some(details(2.5)),
        };
        let bytes = bincode::encode_to_vec(&old, bincode::config::standard()).unwrap_or_default();
        join.entries
            .insert(prediction_key("m", "old"), bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        let read = join.prediction("m", "old").ok().flatten();
        let mut expected = record(100);
        expected.timestamp_ms = 7;
        expected.details = Some(Details::Inline(details(2.5)));
        assert_eq!(read, Some(expected));
        assert_eq!(
            join.details(Details::Inline(details(2.5))).ok(),
            Some(Some(details(2.5)))
        );
    }

    #[test]
    fn entries_of_the_sled_tree_of_earlier_versions_move_into_the_index() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        {
            let storage =
                crate::storage::Storage::open(dir.path(), crate::storage::StorageOptions::default())
                    .unwrap_or_else(|e| panic!("{e}"));
            let old = storage.aux_tree("ml_join").unwrap_or_else(|e| panic!("{e}"));
            let entry = prediction_key("m", "old");
            let mut stored = record(100);
            stored.details = None;
            for (k, v) in [
                (entry.clone(), encode_prediction(&stored)),
                (expiry_key(100).to_vec(), encode_entries(&[entry])),
            ] {
                old.insert(k, v).unwrap_or_else(|e| panic!("{e}"));
            }
            storage.close().unwrap_or_else(|e| panic!("{e}"));
        }
        let (storage, join) = open(dir.path());
        assert_eq!(join.has_prediction(&prediction_key("m", "old")).ok(), Some(true));
        let old = storage.aux_tree("ml_join").unwrap_or_else(|e| panic!("{e}"));
        assert!(old.is_empty(), "the sled tree is emptied");
        assert_eq!(
            join.expire(101).map(|e| e.len()).ok(),
            Some(1),
            "and its expiry index came along"
        );
    }

    #[test]
    fn a_large_round_indexes_its_expiry_in_chunks_and_old_bare_keys_still_expire() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (_storage, join) = open(dir.path());
        let mut batch = JoinBatch::default();
        for i in 0..1000 {
            batch.put_prediction(&join, "m", &format!("r{i:04}"), &mut record(100), true);
        }
        join.apply(batch).unwrap_or_else(|e| panic!("{e}"));
        let index: Vec<_> = join.entries.prefix(b"e").filter_map(Result::ok).collect();
        assert_eq!(index.len(), 1000_usize.div_ceil(EXPIRY_CHUNK));
        assert!(index.iter().all(|(_, v)| decode_entries(v).len() <= EXPIRY_CHUNK));
        // As databases from before chunking wrote it: one bare key.
        let old = prediction_key("m", "old");
        join.entries
            .insert(old.clone(), encode_prediction(&record(100)))
            .unwrap_or_else(|e| panic!("{e}"));
        join.entries
            .insert(expiry_key(100), encode_entries(&[old]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            join.expire(100).map(|e| e.len()).ok(),
            Some(0),
            "not before its expiry"
        );
        assert_eq!(join.expire(101).map(|e| e.len()).ok(), Some(1001));
        assert_eq!(join.entries.prefix(b"e").count(), 0);
    }

    #[test]
    fn entries_expire_by_their_ttl_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        {
            let (storage, join) = open(dir.path());
            let mut batch = JoinBatch::default();
            batch.put_prediction(&join, "m", "early", &mut record(100), true);
            batch.put_prediction(&join, "m", "late", &mut record(10_000), true);
            let feedback = PendingFeedback {
                ground_truth: serde_json::json!("a"),
                timestamp_ms: 0,
                expires_ms: 50,
            };
            batch.put_feedback("m", "orphan", &feedback);
            join.apply(batch).unwrap_or_else(|e| panic!("{e}"));
            // A second request with the same expiry gets an index key of its own.
            let mut batch = JoinBatch::default();
            batch.put_prediction(&join, "m", "early-too", &mut record(100), true);
            join.apply(batch).unwrap_or_else(|e| panic!("{e}"));
            storage.close().unwrap_or_else(|e| panic!("{e}"));
        }
        let (_storage, join) = open(dir.path());
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
                Expired::Prediction { model: "m".into() },
                Expired::Prediction { model: "m".into() }
            ]
        );
        assert_eq!(
            join.has_prediction(&prediction_key("m", "early")).ok(),
            Some(false)
        );
        assert_eq!(
            join.has_prediction(&prediction_key("m", "early-too")).ok(),
            Some(false)
        );
        assert_eq!(join.expire(1000).map(|e| e.len()).ok(), Some(0));
        assert_eq!(
            join.entries.prefix(b"e").count(),
            1,
            "only the late entry's index key is left"
        );
        let late = join.prediction("m", "late").ok().flatten();
        assert_eq!(late.as_ref().map(|r| r.expires_ms), Some(10_000));
        let late_details = late.and_then(|r| join.details(r.details?).ok().flatten());
        assert_eq!(late_details, Some(details(1.5)));
    }
}
