//! The ML monitor: takes checked events, updates every model's state, joins
//! feedback, logs sampled predictions, and on each tick appends the derived
//! series to storage in one batch.
//!
//! Owns the in-memory state of all models (behind one mutex: the requests of
//! an `ml-ingest` round are applied together; a round of predictions leaves
//! its index writes to the `ml-write` thread, and its request ids stay in
//! `in_flight` until they are written, so two requests cannot both accept
//! one `request_id`) and its
//! persistence in the `ml_models` aux tree (schema and counters as JSON,
//! written at each flush), so counters stay monotonic across restarts.

use crate::config::models::{DriftJobConfig, FeatureKind, ModelConfig, ModelTask, WindowLength};
use crate::drift::html::render_html;
use crate::drift::report::DriftReport;
use crate::ml::counters::{series, GroupCounters};
use crate::ml::data_quality::DataQuality;
use crate::ml::drift_job::{
    build_reference, drift_series, prediction_drift, report_documents, test_series, ClosedWindow, DriftJob,
    Reference, ReferenceFormat,
};
use crate::ml::event::{Feedback, Outcome, Prediction};
use crate::ml::ingest::{self, Applied, Items, Round};
use crate::ml::join::{
    prediction_key, Details, Expired, JoinBatch, JoinStore, LogDetails, PendingFeedback, PendingPrediction,
};
use crate::ml::log::{self, GroundTruth, LogItem, LogPage, LogQuery, LogWrite, PredictionLog, SampleInputs};
use crate::ml::model::{class_order, ModelSchema, Schema};
use crate::ml::quality::{Classes, Labelled, QualityWindow, ScoreOf};
use crate::storage::{Appender, Label, SeriesSamples, Storage};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{sync_channel, Receiver, SendError, SyncSender};
use std::sync::{Arc, Weak};

/// Prediction details and logged features are kept at least this long
/// after they are written (the default feedback TTL and log retention).
const DETAILS_KEPT_AT_LEAST_MS: u64 = 7 * 86_400_000;

/// Every series is re-appended at least this often, so idle models stay visible
/// to PromQL's 5-minute lookback.
const REFRESH_EVERY_MS: i64 = 15_000;

/// The answer to one events batch.
#[derive(Debug, Default, Serialize)]
pub struct BatchAnswer {
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
}

#[derive(Debug, Serialize)]
pub struct Rejection {
    pub index: usize,
    pub reason: String,
}

/// A failure of the server's own storage (HTTP 500), not of the request.
#[derive(Debug, thiserror::Error)]
#[error("ML state storage failed: {0}")]
pub struct MonitorError(String);

impl From<sled::Error> for MonitorError {
    fn from(e: sled::Error) -> Self {
        MonitorError(e.to_string())
    }
}

impl From<fjall::Error> for MonitorError {
    fn from(e: fjall::Error) -> Self {
        MonitorError(e.to_string())
    }
}

impl From<crate::storage::StorageError> for MonitorError {
    fn from(e: crate::storage::StorageError) -> Self {
        MonitorError(e.to_string())
    }
}

/// One version × segment combination of a model.
struct Group {
    base: Vec<Label>,
    counters: GroupCounters,
    quality: QualityWindow,
    /// Quality samples last computed (re-appended while nothing changes).
    quality_cache: Vec<SeriesSamples>,
    dirty: bool,
}

/// Everything known about one model.
struct ModelState {
    schema: ModelSchema,
    groups: HashMap<String, Group>,
    data_quality: DataQuality,
    feedback_pending: u64,
    feedback_expired: u64,
    drift: Option<DriftJob>,
    /// Count windows that ended during the current request, to compare once its lock is released.
    ended_windows: Vec<ClosedWindow>,
    dirty: bool,
}

/// What is persisted per model.
#[derive(Serialize, Deserialize)]
struct StoredModel {
    schema: Schema,
    groups: Vec<StoredGroup>,
    feedback_expired: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredGroup {
    version: String,
    segment: BTreeMap<String, String>,
    counters: GroupCounters,
}

struct State {
    models: BTreeMap<String, ModelState>,
    last_flush_ms: i64,
    last_refresh_ms: i64,
}

/// Shared handle; cheap to clone.
#[derive(Clone)]
pub struct MlMonitor {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Storage,
    join: JoinStore,
    log: PredictionLog,
    models_tree: sled::Tree,
    drift_tree: sled::Tree,
    declared: HashMap<String, ModelConfig>,
    state: Mutex<State>,
    /// Each model's newest drift report not yet stored: a count window may end
    /// many times a second, so reports are stored at most once per tick.
    unsaved_reports: Mutex<BTreeMap<String, UnsavedReport>>,
    /// Count windows that requests ended, for the drift evaluator thread.
    drift_runs: SyncSender<(String, DriftRun)>,
    /// Requests waiting for the `ml-ingest` thread.
    ingest: ingest::Queue,
    /// The requests of each round of predictions whose writes the
    /// `ml-write` thread has not finished: one set per round, shared, so
    /// handing a round over copies no id.
    in_flight: Mutex<Vec<Arc<RequestKeys>>>,
}

/// Requests by their [`prediction_key`] (model and request id in one
/// allocation, the same key the duplicate check looks up in the join
/// index), hashed by FxHash: the set of one round is bounded by its size.
type RequestKeys = rustc_hash::FxHashSet<Vec<u8>>;

/// Ended count windows queued for the evaluator; a request that finds the
/// queue full waits (each holds a window's state, up to ~0.5 MB).
const QUEUED_DRIFT_RUNS: usize = 16;

/// A drift report waiting for the next tick; its HTML is rendered when stored.
struct UnsavedReport {
    ended_ms: i64,
    json: serde_json::Value,
    report: DriftReport,
}

impl MlMonitor {
    /// Opens the monitor's trees and restores persisted models.
    pub fn open(storage: Storage, configs: &[ModelConfig]) -> Result<MlMonitor, MonitorError> {
        let declared: HashMap<String, ModelConfig> =
            configs.iter().map(|c| (c.name.clone(), c.clone())).collect();
        let models_tree = storage.aux_tree("ml_models")?;
        let drift_tree = storage.aux_tree("ml_drift")?;
        let keyspace = crate::ml::lsm::open(&storage)?;
        let join = JoinStore::open(&storage, &keyspace)?;
        let log = PredictionLog::open(&storage, &keyspace)?;
        let mut models = BTreeMap::new();
        for config in configs {
            models.insert(
                config.name.clone(),
                ModelState::new(ModelSchema::new(config.clone(), true)),
            );
        }
        for entry in models_tree.iter() {
            let (key, bytes) = entry?;
            let name = String::from_utf8_lossy(&key).to_string();
            match serde_json::from_slice::<StoredModel>(&bytes) {
                Ok(stored) => {
                    let (config, is_declared) = match declared.get(&name) {
                        Some(c) => (c.clone(), true),
                        None => (ModelConfig::inferred(&name), false),
                    };
                    models.insert(name, ModelState::restore(config, is_declared, stored));
                }
                Err(e) => tracing::error!(model = %name, "skipping unreadable ML model state: {e}"),
            }
        }
        restore_references(&drift_tree, &mut models)?;
        for (model, count) in join.pending_feedback_counts()? {
            if let Some(state) = models.get_mut(&model) {
                state.feedback_pending = count;
            }
        }
        let state = State {
            models,
            last_flush_ms: 0,
            last_refresh_ms: 0,
        };
        let (drift_runs, queued_runs) = sync_channel(QUEUED_DRIFT_RUNS);
        let (ingest, pending_requests) = ingest::queue();
        let monitor = MlMonitor {
            inner: Arc::new(Inner {
                storage,
                join,
                log,
                models_tree,
                drift_tree,
                declared,
                state: Mutex::new(state),
                unsaved_reports: Mutex::new(BTreeMap::new()),
                drift_runs,
                ingest,
                in_flight: Mutex::new(Vec::new()),
            }),
        };
        spawn_drift_evaluator(Arc::downgrade(&monitor.inner), queued_runs)?;
        let inner = Arc::downgrade(&monitor.inner);
        let apply = move |round| {
            let monitor = MlMonitor {
                inner: inner.upgrade()?,
            };
            Some(monitor.apply_round(round, crate::storage::now_ms()))
        };
        ingest::spawn(pending_requests, apply)
            .map_err(|e| MonitorError(format!("starting the ML ingest thread: {e}")))?;
        Ok(monitor)
    }

    /// Applies several requests' predictions under one hold of the lock and
    /// one round of index writes, answering each request on its own; a
    /// `request_id` repeated in a later request is refused as within one.
    fn ingest_prediction_batches(
        &self,
        batches: Vec<Vec<Result<Prediction, String>>>,
        now_ms: i64,
    ) -> Result<Applied, MonitorError> {
        let mut state = self.inner.state.lock();
        let mut writes = Writes::new(&self.inner.join);
        let mut in_batch = RequestKeys::default();
        let answers = answer_each(batches, |p: Prediction| {
            p.check()?;
            self.accept_prediction(&mut state, p, now_ms, &mut in_batch, &mut writes)
        });
        let runs = ended_count_windows(&mut state, now_ms);
        // The next round's details go after these: appended here, before
        // the rest of the writes is handed over.
        self.inner
            .join
            .append_details(&mut writes.join)
            .map_err(sled::Error::from)?;
        drop(state);
        for run in runs {
            // Evaluated off the request's path; inline only if the evaluator is gone.
            if let Err(SendError((model, run))) = self.inner.drift_runs.send(run) {
                self.record_drift(&model, &run)?;
            }
        }
        // Until the writes are done, the round's request ids are duplicates
        // for later rounds only through `in_flight`.
        let round = Arc::new(in_batch);
        self.inner.in_flight.lock().push(round.clone());
        let monitor = self.clone();
        Ok(Applied::Deferred(Box::new(move || {
            let written = monitor.persist(writes);
            monitor.inner.in_flight.lock().retain(|r| !Arc::ptr_eq(r, &round));
            written.map(|()| answers)
        })))
    }

    /// Applies one request's items through the `ml-ingest` thread, together
    /// with whatever other requests are queued (see [`crate::ml::ingest`]).
    pub async fn submit(&self, items: Items) -> Result<BatchAnswer, String> {
        self.inner.ingest.submit(items).await
    }

    fn apply_round(&self, round: Round, now_ms: i64) -> Applied {
        match round {
            Round::Predictions(batches) => self
                .ingest_prediction_batches(batches, now_ms)
                .unwrap_or_else(|e| Applied::Done(Err(e))),
            Round::Feedback(batches) => Applied::Done(self.ingest_feedback_batches(batches, now_ms)),
        }
    }

    /// Stores what one batch decided: join records, logged predictions, and
    /// ground truth for predictions already in the log.
    fn persist(&self, writes: Writes) -> Result<(), MonitorError> {
        self.inner.join.apply(writes.join)?;
        self.inner.log.insert(writes.log)?;
        self.inner.log.set_ground_truths(writes.log_truths)?;
        Ok(())
    }

    /// Several requests' feedback, as [`Self::ingest_prediction_batches`].
    fn ingest_feedback_batches(
        &self,
        batches: Vec<Vec<Result<Feedback, String>>>,
        now_ms: i64,
    ) -> Result<Vec<BatchAnswer>, MonitorError> {
        let mut state = self.inner.state.lock();
        let mut writes = Writes::new(&self.inner.join);
        let mut in_batch = RequestKeys::default();
        let answers = answer_each(batches, |f: Feedback| {
            f.check()?;
            self.accept_feedback(&mut state, f, now_ms, &mut in_batch, &mut writes)
        });
        self.persist(writes)?;
        Ok(answers)
    }

    fn accept_prediction(
        &self,
        state: &mut State,
        mut p: Prediction,
        now_ms: i64,
        in_batch: &mut RequestKeys,
        writes: &mut Writes,
    ) -> Result<(), String> {
        let id = prediction_key(&p.model, &p.request_id);
        let duplicate = |in_batch: &RequestKeys| {
            in_batch.contains(&id)
                || self
                    .inner
                    .in_flight
                    .lock()
                    .iter()
                    .any(|round| round.contains(&id))
                || self.inner.join.has_prediction(&id).unwrap_or(false)
        };
        if duplicate(in_batch) {
            return Err(format!(
                "duplicate request_id {:?} for model {:?}",
                p.request_id, p.model
            ));
        }
        let model = self.model_mut(state, &p.model);
        model.schema.admit(&p)?;
        in_batch.insert(id);
        let at_ms = p.timestamp.map_or(now_ms, |t| t.0);
        if model.schema.observe(&p, at_ms) {
            if let Some(job) = &model.drift {
                model.schema.expect_from_reference(&job.reference.profile);
            }
        }
        model.count_prediction(&p, now_ms);
        let mut record = model.pending_record(&mut p, at_ms, now_ms);
        let retention_ms = log_retention_ms(&model.schema.config);
        if record.logged {
            if let Some(Details::Inline(details)) = record.details.take() {
                let item = log_item(&p.model, &p.request_id, &record, details);
                writes.log.push(log_write(item, &record, retention_ms));
            }
        }
        // Most predictions find no feedback waiting: skip the lookup when none is.
        let pending = if model.feedback_pending > 0 {
            self.inner.join.feedback(&p.model, &p.request_id).unwrap_or(None)
        } else {
            None
        };
        if let Some(feedback) = pending {
            writes.join.remove_feedback(&p.model, &p.request_id);
            model.feedback_pending = model.feedback_pending.saturating_sub(1);
            if let Err(reason) =
                model.join(&mut record, &feedback.ground_truth, feedback.timestamp_ms, now_ms)
            {
                tracing::debug!(model = %p.model, request_id = %p.request_id, "pending feedback dropped: {reason}");
            }
            let classification = model.schema.task() == Some(ModelTask::Classification);
            writes.after_join(
                &p.model,
                &p.request_id,
                &mut record,
                &feedback.ground_truth,
                classification,
                retention_ms,
            );
        }
        writes
            .join
            .put_prediction(&self.inner.join, &p.model, &p.request_id, &mut record, true);
        Ok(())
    }

    fn accept_feedback(
        &self,
        state: &mut State,
        f: Feedback,
        now_ms: i64,
        in_batch: &mut RequestKeys,
        writes: &mut Writes,
    ) -> Result<(), String> {
        let duplicate_reason = || {
            format!(
                "duplicate feedback for request_id {:?} of model {:?}",
                f.request_id, f.model
            )
        };
        let id = prediction_key(&f.model, &f.request_id);
        if in_batch.contains(&id) {
            return Err(duplicate_reason());
        }
        self.apply_feedback(state, &f, now_ms, writes)?;
        in_batch.insert(id);
        Ok(())
    }

    /// Joins `f` to its prediction, or keeps it pending.
    fn apply_feedback(
        &self,
        state: &mut State,
        f: &Feedback,
        now_ms: i64,
        writes: &mut Writes,
    ) -> Result<(), String> {
        let duplicate_reason = || {
            format!(
                "duplicate feedback for request_id {:?} of model {:?}",
                f.request_id, f.model
            )
        };
        let truth = outcome_json(&f.ground_truth);
        let at_ms = f.timestamp.map_or(now_ms, |t| t.0);
        let model = self.model_mut(state, &f.model);
        model.check_truth(&f.ground_truth)?;
        let join = &self.inner.join;
        match join
            .prediction(&f.model, &f.request_id)
            .map_err(|e| e.to_string())?
        {
            Some(record) if record.labelled => Err(duplicate_reason()),
            Some(mut record) => {
                model.join(&mut record, &truth, at_ms, now_ms)?;
                let classification = model.schema.task() == Some(ModelTask::Classification);
                let retention_ms = log_retention_ms(&model.schema.config);
                writes.after_join(
                    &f.model,
                    &f.request_id,
                    &mut record,
                    &truth,
                    classification,
                    retention_ms,
                );
                writes
                    .join
                    .put_prediction(join, &f.model, &f.request_id, &mut record, false);
                Ok(())
            }
            None if join
                .feedback(&f.model, &f.request_id)
                .map_err(|e| e.to_string())?
                .is_some() =>
            {
                Err(duplicate_reason())
            }
            None => {
                let pending = PendingFeedback {
                    ground_truth: truth,
                    timestamp_ms: at_ms,
                    expires_ms: now_ms.saturating_add(ttl_ms(&model.schema.config)),
                };
                writes.join.put_feedback(&f.model, &f.request_id, &pending);
                model.feedback_pending += 1;
                model.dirty = true;
                Ok(())
            }
        }
    }

    fn model_mut<'a>(&self, state: &'a mut State, name: &str) -> &'a mut ModelState {
        state.models.entry(name.to_string()).or_insert_with(|| {
            let config = self
                .inner
                .declared
                .get(name)
                .cloned()
                .unwrap_or_else(|| ModelConfig::inferred(name));
            let declared = self.inner.declared.contains_key(name);
            ModelState::new(ModelSchema::new(config, declared))
        })
    }

    /// Appends every changed series (and, every 15 s, all of them) in one batch,
    /// then persists the changed models.
    pub fn flush(&self, now_ms: i64) -> Result<usize, MonitorError> {
        let (samples, stored, due) = {
            let mut state = self.inner.state.lock();
            let t = now_ms.max(state.last_flush_ms + 1);
            let refresh = t - state.last_refresh_ms >= REFRESH_EVERY_MS;
            if refresh {
                state.last_refresh_ms = t;
            }
            state.last_flush_ms = t;
            let mut samples = Vec::new();
            let mut stored = Vec::new();
            for (name, model) in &mut state.models {
                if model.dirty || refresh {
                    model.samples(name, t, refresh, &mut samples);
                }
                if model.dirty {
                    stored.push((name.clone(), model.stored()));
                }
                model.dirty = false;
            }
            let due = due_windows(&mut state, t);
            (samples, stored, due)
        };
        let appended = samples.len();
        if !samples.is_empty() {
            self.inner
                .storage
                .append(samples)
                .map_err(|e| MonitorError(format!("appending ML series: {e}")))?;
        }
        for (name, model) in stored {
            self.inner
                .models_tree
                .insert(name.as_bytes(), serde_json::to_vec(&model).unwrap_or_default())?;
        }
        for (model, run) in due {
            self.record_drift(&model, &run)?;
        }
        self.save_reports()?;
        Ok(appended)
    }

    /// Sets `model`'s drift reference from an upload; returns a summary.
    pub fn set_reference(
        &self,
        model: &str,
        format: ReferenceFormat,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<serde_json::Value, ReferenceError> {
        let kinds = self.feature_kinds(model).ok_or(ReferenceError::UnknownModel)?;
        let reference = build_reference(format, bytes, &kinds).map_err(ReferenceError::Invalid)?;
        let mut stored = vec![format.tag()];
        stored.extend_from_slice(bytes);
        self.inner
            .drift_tree
            .insert(reference_key(model), stored)
            .map_err(|e| ReferenceError::Storage(e.to_string()))?;
        Ok(self.install_reference(model, reference, now_ms))
    }

    /// Searches the prediction log; a search by request id is pointed at the
    /// item through the prediction's join record.
    pub fn search_log(&self, mut query: LogQuery) -> Result<LogPage, MonitorError> {
        if let (Some(model), Some(request_id)) = (&query.model, &query.request_id) {
            query.logged_at_ms = self
                .inner
                .join
                .prediction(model, request_id)?
                .filter(|record| record.logged)
                .map(|record| record.timestamp_ms);
        }
        Ok(self.inner.log.search(&query)?)
    }

    /// Sets `model`'s drift reference from its logged predictions in `[start_ms, end_ms]`.
    pub fn set_reference_from_log(
        &self,
        model: &str,
        start_ms: i64,
        end_ms: i64,
        now_ms: i64,
    ) -> Result<serde_json::Value, ReferenceError> {
        let query = crate::ml::log::LogQuery {
            model: Some(model.to_string()),
            start_ms: Some(start_ms),
            end_ms: Some(end_ms),
            limit: MAX_LOGGED_REFERENCE_ROWS,
            ..Default::default()
        };
        let page = self
            .inner
            .log
            .search(&query)
            .map_err(|e| ReferenceError::Storage(e.to_string()))?;
        if page.items.is_empty() {
            return Err(ReferenceError::Invalid(format!(
                "no logged predictions of model {model:?} between start and end"
            )));
        }
        let mut ndjson = Vec::new();
        for item in &page.items {
            if serde_json::to_writer(&mut ndjson, &item.features).is_ok() {
                ndjson.push(b'\n');
            }
        }
        self.set_reference(model, ReferenceFormat::Json, &ndjson, now_ms)
    }

    fn feature_kinds(&self, model: &str) -> Option<BTreeMap<String, FeatureKind>> {
        let state = self.inner.state.lock();
        let m = state.models.get(model)?;
        Some(
            m.schema
                .features()
                .iter()
                .map(|f| (f.name.clone(), f.kind))
                .collect(),
        )
    }

    fn install_reference(&self, model: &str, reference: Reference, now_ms: i64) -> serde_json::Value {
        let summary = serde_json::json!({
            "model": model,
            "rows": reference.rows,
            "features": reference.profile.columns.iter().map(|c| serde_json::json!({
                "name": c.name,
                "type": c.state.column_type,
            })).collect::<Vec<_>>(),
        });
        let mut state = self.inner.state.lock();
        if let Some(m) = state.models.get_mut(model) {
            m.schema.expect_from_reference(&reference.profile);
            m.drift = Some(DriftJob::new(Arc::new(reference), &m.schema.config.drift, now_ms));
            m.dirty = true;
        }
        summary
    }

    /// Runs `model`'s drift job now on its open window (which stays open).
    pub fn run_drift(&self, model: &str, now_ms: i64) -> Result<serde_json::Value, ReferenceError> {
        let run = {
            let mut state = self.inner.state.lock();
            let t = now_ms.max(state.last_flush_ms + 1);
            state.last_flush_ms = t;
            let m = state.models.get(model).ok_or(ReferenceError::UnknownModel)?;
            let job = m.drift.as_ref().ok_or(ReferenceError::NoReference)?;
            DriftRun::new(job, &m.schema.config.drift, job.snapshot(t))
        };
        self.record_drift(model, &run)
            .map_err(|e| ReferenceError::Storage(e.to_string()))
    }

    /// Evaluates one window and its tests, appends their series and stores the report.
    fn record_drift(&self, model: &str, run: &DriftRun) -> Result<serde_json::Value, MonitorError> {
        let drift = run.window.window.evaluate(&run.reference.profile, run.preset);
        let prediction = prediction_drift(&run.window);
        let tests =
            crate::drift::suite::run_suite(&run.tests, &run.reference.profile, &run.window.window, &drift);
        let t = run.window.ended_ms;
        let mut samples = drift_series(model, &drift, prediction.as_ref(), t);
        samples.extend(test_series(model, &tests, t));
        self.inner
            .storage
            .append(samples)
            .map_err(|e| MonitorError(format!("appending drift series: {e}")))?;
        let (json, report) = report_documents(
            model,
            &run.reference,
            &run.window,
            &drift,
            prediction.as_ref(),
            tests,
        );
        let unsaved = UnsavedReport {
            ended_ms: t,
            json: json.clone(),
            report,
        };
        self.inner
            .unsaved_reports
            .lock()
            .insert(model.to_string(), unsaved);
        Ok(json)
    }

    /// Stores each model's newest unsaved drift report, JSON and HTML.
    fn save_reports(&self) -> Result<(), MonitorError> {
        let unsaved = std::mem::take(&mut *self.inner.unsaved_reports.lock());
        for (model, report) in unsaved {
            let time = report_time_key(report.ended_ms);
            let mut batch = sled::Batch::default();
            for (kind, bytes) in [
                (REPORT_JSON, serde_json::to_vec(&report.json).unwrap_or_default()),
                (REPORT_HTML, render_html(&report.report).into_bytes()),
            ] {
                let mut key = report_prefix(kind, &model);
                key.extend_from_slice(&time);
                batch.insert(key, bytes);
            }
            self.inner.drift_tree.apply_batch(batch)?;
        }
        Ok(())
    }

    /// The newest drift report of `model`: JSON, or HTML when `html`.
    pub fn latest_report(&self, model: &str, html: bool) -> Result<Option<Vec<u8>>, MonitorError> {
        if let Some(unsaved) = self.inner.unsaved_reports.lock().get(model) {
            return Ok(Some(if html {
                render_html(&unsaved.report).into_bytes()
            } else {
                serde_json::to_vec(&unsaved.json).unwrap_or_default()
            }));
        }
        let kind = if html { REPORT_HTML } else { REPORT_JSON };
        let newest = self
            .inner
            .drift_tree
            .scan_prefix(report_prefix(kind, model))
            .next_back()
            .transpose()?;
        Ok(newest.map(|(_, bytes)| bytes.to_vec()))
    }

    pub fn has_model(&self, model: &str) -> bool {
        self.inner.state.lock().models.contains_key(model)
    }

    /// Ends pending joins past their TTL and logged predictions past their retention.
    pub fn expire(&self, now_ms: i64) -> Result<(), MonitorError> {
        let expired = self.inner.join.expire(now_ms)?;
        let (retention, longest_ttl) = {
            let mut state = self.inner.state.lock();
            for item in expired {
                if let Expired::Feedback { model } = item {
                    if let Some(m) = state.models.get_mut(&model) {
                        m.feedback_pending = m.feedback_pending.saturating_sub(1);
                        m.feedback_expired += 1;
                        m.dirty = true;
                    }
                }
            }
            let retention: Vec<(String, i64)> = state
                .models
                .iter()
                .map(|(name, m)| (name.clone(), ms(m.schema.config.sampling.retention.as_millis())))
                .collect();
            let ttls = state.models.values().map(|m| ttl_ms(&m.schema.config));
            (retention, ttls.max().unwrap_or(0))
        };
        // A details file is kept for the longest TTL (logged features: the
        // longest retention) after its last write, which covers every record
        // written to it unless a longer one was shortened since: those records
        // then go without their details (a misclassified one is not logged).
        let longest_retention = retention.iter().map(|(_, keep_ms)| *keep_ms).max().unwrap_or(0);
        self.inner
            .join
            .expire_details(kept_for(longest_ttl))
            .map_err(|e| MonitorError(format!("expiring prediction details: {e}")))?;
        self.inner
            .log
            .expire_features(kept_for(longest_retention))
            .map_err(|e| MonitorError(format!("expiring logged features: {e}")))?;
        for (model, keep_ms) in retention {
            self.inner
                .log
                .apply_retention(&model, now_ms.saturating_sub(keep_ms))?;
            self.prune_reports(&model, now_ms.saturating_sub(keep_ms))?;
        }
        Ok(())
    }

    /// Drops `model`'s drift reports older than `oldest_ms` (the prediction
    /// log's retention) and all but the newest `MAX_STORED_REPORTS`.
    fn prune_reports(&self, model: &str, oldest_ms: i64) -> Result<(), MonitorError> {
        let keys: Vec<sled::IVec> = self
            .inner
            .drift_tree
            .scan_prefix(report_prefix(REPORT_JSON, model))
            .keys()
            .collect::<Result<_, _>>()?;
        let beyond_cap = keys.len().saturating_sub(MAX_STORED_REPORTS);
        let prefix_len = report_prefix(REPORT_JSON, model).len();
        for (i, key) in keys.iter().enumerate() {
            let ended_ms = key.get(prefix_len..).and_then(report_time_of).unwrap_or(i64::MIN);
            if i >= beyond_cap && ended_ms >= oldest_ms {
                break;
            }
            let mut html_key = key.to_vec();
            html_key[0] = REPORT_HTML;
            self.inner.drift_tree.remove(key)?;
            self.inner.drift_tree.remove(html_key)?;
        }
        Ok(())
    }

    /// The `GET /api/v1/models` view of every model.
    pub fn describe_all(&self) -> Vec<serde_json::Value> {
        let state = self.inner.state.lock();
        state.models.iter().map(|(name, m)| m.describe(name)).collect()
    }

    /// The view of one model.
    pub fn describe(&self, name: &str) -> Option<serde_json::Value> {
        let state = self.inner.state.lock();
        state.models.get(name).map(|m| m.describe(name))
    }
}

/// Most logged predictions a reference taken from the log holds.
const MAX_LOGGED_REFERENCE_ROWS: usize = 1_000_000;

/// Why a reference or drift run was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("no such model")]
    UnknownModel,
    #[error("the model has no drift reference yet")]
    NoReference,
    #[error("{0}")]
    Invalid(String),
    #[error("ML state storage failed: {0}")]
    Storage(String),
}

/// A window to evaluate with what it is compared against.
struct DriftRun {
    reference: Arc<Reference>,
    window: ClosedWindow,
    preset: crate::drift::Preset,
    tests: Vec<crate::drift::suite::SuiteTest>,
}

impl DriftRun {
    /// `window` of `job`, compared as `config` says.
    fn new(job: &DriftJob, config: &DriftJobConfig, window: ClosedWindow) -> DriftRun {
        DriftRun {
            reference: job.reference.clone(),
            window,
            preset: config.preset,
            tests: config.tests.clone(),
        }
    }
}

/// Evaluates the count windows that requests ended, off their path (a run
/// over 50 features takes milliseconds), in the order they ended. Stops when
/// the monitor is dropped; a run still queued then is lost (its events are
/// counted in every other series).
fn spawn_drift_evaluator(inner: Weak<Inner>, runs: Receiver<(String, DriftRun)>) -> Result<(), MonitorError> {
    let evaluate = move || {
        for (model, run) in runs {
            let Some(inner) = inner.upgrade() else { break };
            if let Err(e) = (MlMonitor { inner }).record_drift(&model, &run) {
                tracing::error!(model = %model, "drift run failed: {e}");
            }
        }
    };
    std::thread::Builder::new()
        .name("ml-drift".into())
        .spawn(evaluate)
        .map(drop)
        .map_err(|e| MonitorError(format!("starting the drift evaluator: {e}")))
}

/// The count windows that ended during a request, each with its own
/// timestamp (after every earlier one, so their series never collide).
fn ended_count_windows(state: &mut State, now_ms: i64) -> Vec<(String, DriftRun)> {
    let mut runs = Vec::new();
    for (name, model) in &mut state.models {
        let Some(job) = &model.drift else {
            model.ended_windows.clear();
            continue;
        };
        for mut window in model.ended_windows.drain(..) {
            let t = now_ms.max(state.last_flush_ms + 1);
            state.last_flush_ms = t;
            window.ended_ms = t;
            runs.push((
                name.clone(),
                DriftRun::new(job, &model.schema.config.drift, window),
            ));
        }
    }
    runs
}

/// Closes every window that has ended.
fn due_windows(state: &mut State, t: i64) -> Vec<(String, DriftRun)> {
    let mut due = Vec::new();
    for (name, model) in &mut state.models {
        let config = &model.schema.config.drift;
        let Some(job) = model.drift.as_mut().filter(|job| job.due(config, t)) else {
            continue;
        };
        if let Some(window) = job.close_window(config, t) {
            due.push((name.clone(), DriftRun::new(job, config, window)));
        }
    }
    due
}

fn reference_key(model: &str) -> Vec<u8> {
    let mut key = b"r".to_vec();
    key.extend_from_slice(model.as_bytes());
    key
}

/// Drift reports kept per model (JSON and HTML, at most one per tick).
const MAX_STORED_REPORTS: usize = 100;

/// Key kinds of stored reports in the `ml_drift` tree.
const REPORT_JSON: u8 = b'p';
const REPORT_HTML: u8 = b'h';

/// A report's time as a key suffix that sorts in time order.
fn report_time_key(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time [`report_time_key`] wrote; `None` for a suffix of another length.
fn report_time_of(suffix: &[u8]) -> Option<i64> {
    let bytes = <[u8; 8]>::try_from(suffix).ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

fn report_prefix(kind: u8, model: &str) -> Vec<u8> {
    let mut key = vec![kind];
    key.extend_from_slice(model.as_bytes());
    key.push(0);
    key
}

/// Rebuilds the drift job of every model with a stored reference.
fn restore_references(
    tree: &sled::Tree,
    models: &mut BTreeMap<String, ModelState>,
) -> Result<(), MonitorError> {
    for entry in tree.scan_prefix(b"r") {
        let (key, bytes) = entry?;
        let name = String::from_utf8_lossy(&key[1..]).to_string();
        let Some(model) = models.get_mut(&name) else {
            continue;
        };
        let format = bytes.first().and_then(|t| ReferenceFormat::from_tag(*t));
        let kinds = model
            .schema
            .features()
            .iter()
            .map(|f| (f.name.clone(), f.kind))
            .collect();
        match format.map(|f| build_reference(f, &bytes[1..], &kinds)) {
            Some(Ok(reference)) => {
                model.schema.expect_from_reference(&reference.profile);
                let now_ms = crate::storage::now_ms();
                model.drift = Some(DriftJob::new(
                    Arc::new(reference),
                    &model.schema.config.drift,
                    now_ms,
                ));
            }
            Some(Err(e)) => tracing::error!(model = %name, "stored drift reference unusable: {e}"),
            None => tracing::error!(model = %name, "stored drift reference has an unknown format"),
        }
    }
    Ok(())
}

fn ms(millis: u64) -> i64 {
    i64::try_from(millis).unwrap_or(i64::MAX)
}

/// How long details files outlive their last write: `longest_ms`, at least
/// [`DETAILS_KEPT_AT_LEAST_MS`].
fn kept_for(longest_ms: i64) -> std::time::Duration {
    let ms = u64::try_from(longest_ms)
        .unwrap_or(0)
        .max(DETAILS_KEPT_AT_LEAST_MS);
    std::time::Duration::from_millis(ms)
}

fn ttl_ms(config: &ModelConfig) -> i64 {
    ms(config.feedback_ttl.as_millis())
}

/// Each request's answer, item by item: an item's parse error, or what
/// `accept` says of it.
fn answer_each<T>(
    batches: Vec<Vec<Result<T, String>>>,
    mut accept: impl FnMut(T) -> Result<(), String>,
) -> Vec<BatchAnswer> {
    let answer = |items: Vec<Result<T, String>>| {
        let mut answer = BatchAnswer::default();
        for (index, item) in items.into_iter().enumerate() {
            answer.record(index, item.and_then(&mut accept));
        }
        answer
    };
    batches.into_iter().map(answer).collect()
}

impl BatchAnswer {
    fn record(&mut self, index: usize, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.accepted += 1,
            Err(reason) => self.rejected.push(Rejection { index, reason }),
        }
    }
}

/// Sled writes gathered while the state is updated.
struct Writes {
    /// Where joined predictions' details are read from.
    store: JoinStore,
    join: JoinBatch,
    log: Vec<LogWrite>,
    /// Logged items whose ground truth arrived: model, request id, time
    /// logged, truth, misclassified.
    log_truths: Vec<GroundTruth>,
}

impl Writes {
    fn new(store: &JoinStore) -> Writes {
        Writes {
            store: store.clone(),
            join: JoinBatch::default(),
            log: Vec::new(),
            log_truths: Vec::new(),
        }
    }

    /// After a join: update the logged item, or log a misclassified one.
    fn after_join(
        &mut self,
        model: &str,
        request_id: &str,
        record: &mut PendingPrediction,
        truth: &serde_json::Value,
        classification: bool,
        retention_ms: i64,
    ) {
        let misclassified = classification
            .then(|| classification_mismatch(&outcome_json(&record.prediction), truth))
            .flatten();
        if record.logged {
            self.log_truths.push((
                model.to_string(),
                request_id.to_string(),
                record.timestamp_ms,
                outcome_of(truth),
                misclassified,
            ));
        } else if misclassified == Some(true) {
            let details = match record.details.take().map(|d| self.store.details(d)) {
                Some(Ok(found)) => found,
                Some(Err(e)) => {
                    tracing::error!(model, request_id, "reading a prediction's log details: {e}");
                    None
                }
                None => None,
            };
            if let Some(details) = details {
                let mut item = log_item(model, request_id, record, details);
                item.ground_truth = Some(outcome_of(truth));
                item.misclassified = Some(true);
                self.log.push(log_write(item, record, retention_ms));
                record.logged = true;
            }
        }
        record.details = None;
    }
}

/// Whether a classification outcome differs from its truth (labels compared as text).
fn classification_mismatch(prediction: &serde_json::Value, truth: &serde_json::Value) -> Option<bool> {
    Some(label_text(prediction)? != label_text(truth)?)
}

fn label_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => n.as_f64().map(crate::ml::event::number_label),
        _ => None,
    }
}

/// A ground truth read as a prediction's outcome is; a value no outcome can
/// be (null, array, object) kept as its JSON text.
fn outcome_of(truth: &serde_json::Value) -> Outcome {
    Outcome::deserialize(truth).unwrap_or_else(|_| Outcome::Label(truth.to_string()))
}

fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Label(s) => serde_json::Value::String(s.clone()),
        Outcome::Number(n) => number_json(*n),
    }
}

/// A number as JSON, integral values without a fraction (`30`, not `30.0`).
fn number_json(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        return serde_json::Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl LogDetails {
    /// Moves the log-only parts out of `p`.
    fn take(p: &mut Prediction) -> LogDetails {
        LogDetails {
            features: std::mem::take(&mut p.features),
            probabilities: p.probabilities.take(),
            latency_ms: p.latency_ms,
            segment: std::mem::take(&mut p.segment),
            error: p.error.take().and_then(|f| f.0),
        }
    }
}

fn log_retention_ms(config: &ModelConfig) -> i64 {
    ms(config.sampling.retention.as_millis())
}

/// A log item, indexed by request id when it may outlive its join record
/// (which otherwise tells where it is).
fn log_write(item: LogItem, record: &PendingPrediction, retention_ms: i64) -> LogWrite {
    let indexed = record.timestamp_ms.saturating_add(retention_ms) > record.expires_ms;
    LogWrite { item, indexed }
}

/// The log item of a prediction, from its join record and details.
fn log_item(model: &str, request_id: &str, record: &PendingPrediction, details: LogDetails) -> LogItem {
    LogItem {
        request_id: request_id.to_string(),
        model: model.to_string(),
        model_version: record.version.clone(),
        timestamp: rfc3339(record.timestamp_ms),
        timestamp_ms: record.timestamp_ms,
        features: details.features,
        prediction: record.prediction.clone(),
        confidence: confidence(details.probabilities.as_ref(), record.score),
        probabilities: details.probabilities,
        score: record.score,
        latency_ms: details.latency_ms,
        segment: details.segment,
        error: details.error,
        ground_truth: None,
        misclassified: None,
    }
}

/// Top-class probability, or the larger side of a binary `score`.
fn confidence(probabilities: Option<&BTreeMap<String, f64>>, score: Option<f64>) -> Option<f64> {
    if let Some(probabilities) = probabilities {
        return probabilities.values().copied().reduce(f64::max);
    }
    score.map(|s| s.max(1.0 - s))
}

/// The score histogrammed in `prediction_distribution`: `score`, else the
/// greater class's probability of a binary model, else the top probability.
fn distribution_score(p: &Prediction) -> Option<f64> {
    if p.score.is_some() {
        return p.score;
    }
    let probabilities = p.probabilities.as_ref()?;
    if probabilities.len() == 2 {
        return probabilities
            .iter()
            .max_by(|a, b| class_order(a.0, b.0))
            .map(|(_, p)| *p);
    }
    probabilities.values().copied().reduce(f64::max)
}

impl ModelState {
    fn new(schema: ModelSchema) -> ModelState {
        ModelState {
            schema,
            groups: HashMap::new(),
            data_quality: DataQuality::default(),
            feedback_pending: 0,
            feedback_expired: 0,
            drift: None,
            ended_windows: Vec::new(),
            dirty: true,
        }
    }

    fn restore(config: ModelConfig, declared: bool, stored: StoredModel) -> ModelState {
        let mut model = ModelState::new(ModelSchema::restore(config, declared, stored.schema));
        model.feedback_expired = stored.feedback_expired;
        for group in stored.groups {
            model.group_mut(&group.version, &group.segment).counters = group.counters;
        }
        model
    }

    fn stored(&self) -> StoredModel {
        let model = self.schema.name();
        StoredModel {
            schema: self.schema.schema.clone(),
            groups: self
                .groups
                .values()
                .map(|g| StoredGroup {
                    version: label_value(&g.base, "model_version"),
                    segment: g
                        .base
                        .iter()
                        .filter(|l| l.name != "model" && l.name != "model_version")
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    counters: g.counters.clone(),
                })
                .filter(|_| !model.is_empty())
                .collect(),
            feedback_expired: self.feedback_expired,
        }
    }

    /// The group of `version` and the configured segment labels in `segment`.
    fn group_mut(&mut self, version: &str, segment: &BTreeMap<String, String>) -> &mut Group {
        group_in(&self.schema, &mut self.groups, version, segment)
    }

    fn count_prediction(&mut self, p: &Prediction, now_ms: i64) {
        let group = group_in(&self.schema, &mut self.groups, &p.model_version, &p.segment);
        group.counters.count_prediction(
            &self.schema.config.latency_buckets,
            p.latency_ms,
            distribution_score(p),
            p.failed(),
        );
        group.dirty = true;
        let capacity = self.schema.config.windows.data_quality_events;
        let (schema, data_quality) = (&mut self.schema, &mut self.data_quality);
        schema.each_value(&p.features, |schema, index, value| {
            data_quality.record(index, schema.check_value(index, value), capacity);
        });
        if let Some(job) = &mut self.drift {
            job.observe(&p.features, distribution_score(p));
            // A count window ends at exactly its last event, not at the next tick.
            let config = &self.schema.config.drift;
            let counted = matches!(config.window_length(), WindowLength::Events(_));
            if counted && job.due(config, now_ms) {
                self.ended_windows.extend(job.close_window(config, now_ms));
            }
        }
        self.dirty = true;
    }

    /// The join record of an accepted prediction; decides whether it is logged
    /// now. Takes the log-only parts out of `p` when the log may need them.
    fn pending_record(&self, p: &mut Prediction, at_ms: i64, now_ms: i64) -> PendingPrediction {
        let config = &self.schema.config;
        let inputs = SampleInputs {
            request_id: &p.request_id,
            failed: p.failed(),
            confidence: confidence(p.probabilities.as_ref(), p.score),
        };
        let logged = log::sample(config, &inputs);
        let class_probability = p.probabilities.as_ref().and_then(|probabilities| {
            probabilities
                .iter()
                .max_by(|a, b| class_order(a.0, b.0))
                .map(|(class, p)| (class.clone(), *p))
        });
        let segment = config
            .segment_labels
            .iter()
            .filter_map(|name| p.segment.get(name).map(|v| (name.clone(), v.clone())))
            .collect();
        let details_needed = logged
            || (config.sampling.log_misclassified && self.schema.task() == Some(ModelTask::Classification));
        PendingPrediction {
            version: p.model_version.clone(),
            timestamp_ms: at_ms,
            segment,
            prediction: p.prediction.clone(),
            class_probability,
            score: p.score,
            expires_ms: now_ms.saturating_add(ttl_ms(config)),
            logged,
            labelled: false,
            details: details_needed.then(|| Details::Inline(LogDetails::take(p))),
        }
    }

    /// Refuses a ground truth the model cannot score.
    fn check_truth(&self, truth: &Outcome) -> Result<(), String> {
        match (self.schema.task(), truth) {
            (Some(ModelTask::Regression), Outcome::Label(l)) => Err(format!(
                "model {:?} is a regression model; ground_truth {l:?} is not a number",
                self.schema.name()
            )),
            (Some(ModelTask::Classification) | None, t) => self.schema.check_class(&t.as_label()),
            _ => Ok(()),
        }
    }

    /// Scores `record` against `truth` into its group's counters and windows.
    fn join(
        &mut self,
        record: &mut PendingPrediction,
        truth: &serde_json::Value,
        feedback_ms: i64,
        now_ms: i64,
    ) -> Result<(), String> {
        let labelled = self.labelled(record, truth)?;
        let delay_seconds = (feedback_ms - record.timestamp_ms) as f64 / 1000.0;
        let group = self.group_mut(&record.version, &record.segment);
        group.counters.count_feedback(delay_seconds);
        group.quality.push(now_ms, labelled);
        group.dirty = true;
        record.labelled = true;
        self.dirty = true;
        Ok(())
    }

    fn labelled(
        &mut self,
        record: &PendingPrediction,
        truth: &serde_json::Value,
    ) -> Result<Labelled, String> {
        if self.schema.task() == Some(ModelTask::Regression) {
            let (Some(t), Outcome::Number(p)) = (truth.as_f64(), &record.prediction) else {
                return Err("regression ground_truth and prediction must be numbers".into());
            };
            return Ok(Labelled::Value {
                truth: t,
                predicted: *p,
            });
        }
        let (Some(truth_label), predicted_label) = (label_text(truth), record.prediction.as_label()) else {
            return Err("ground_truth is not a class label".into());
        };
        self.schema.check_class(&truth_label)?;
        let truth = self.schema.class_id(&truth_label);
        let predicted = self.schema.class_id(&predicted_label);
        let score = match (&record.class_probability, record.score) {
            (Some((class, p)), _) => ScoreOf::Class(self.schema.class_id(class), *p),
            (None, Some(s)) => ScoreOf::Greater(s),
            (None, None) => ScoreOf::None,
        };
        Ok(Labelled::Class {
            truth,
            predicted,
            score,
        })
    }

    fn samples(&mut self, name: &str, t: i64, refresh: bool, out: &mut Vec<SeriesSamples>) {
        let config = &self.schema.config;
        let last_n = config.windows.last_labelled;
        let windows: Vec<(String, i64)> = config
            .windows
            .time
            .iter()
            .map(|d| (d.to_string(), ms(d.as_millis())))
            .collect();
        let longest = windows.iter().map(|(_, l)| *l).max().unwrap_or(0);
        let fixed = self.schema.configured_class_ids();
        let classes = Classes {
            names: &self.schema.schema.classes,
            fixed: fixed.as_deref(),
        };
        for group in self.groups.values_mut() {
            if !(group.dirty || refresh) {
                continue;
            }
            group
                .counters
                .samples(&config.latency_buckets, &group.base, t, out);
            if group.quality.dirty || refresh {
                group.quality.trim(t, last_n, longest);
                group.quality_cache.clear();
                group.quality.samples(
                    &classes,
                    last_n,
                    &windows,
                    &group.base,
                    t,
                    &mut group.quality_cache,
                );
                group.quality.dirty = false;
            }
            out.extend(group.quality_cache.iter().map(|s| at_time(s, t)));
            group.dirty = false;
        }
        let names: Vec<&str> = self.schema.features().iter().map(|f| f.name.as_str()).collect();
        self.data_quality.samples(name, &names, t, out);
        let model_label = [Label {
            name: "model".into(),
            value: name.to_string(),
        }];
        out.push(series(
            "feedback_pending",
            &model_label,
            None,
            t,
            self.feedback_pending as f64,
        ));
        out.push(series(
            "feedback_expired_total",
            &model_label,
            None,
            t,
            self.feedback_expired as f64,
        ));
    }

    fn describe(&self, name: &str) -> serde_json::Value {
        let schema = &self.schema.schema;
        let (predictions, errors, feedback) = self.groups.values().fold((0, 0, 0), |(p, e, f), g| {
            (
                p + g.counters.predictions,
                e + g.counters.errors,
                f + g.counters.feedback,
            )
        });
        serde_json::json!({
            "name": name,
            "task": self.schema.task().map(ModelTask::as_str),
            "declared": self.schema.declared,
            "versions": schema.versions,
            "classes": schema.classes,
            "features": schema.features.iter().map(|f| serde_json::json!({"name": f.name, "type": f.kind.as_str()})).collect::<Vec<_>>(),
            "segments": segment_names(&self.schema),
            "lastEventAt": schema.last_event_ms.map(rfc3339),
            "counts": {
                "predictions": predictions,
                "errors": errors,
                "feedback": feedback,
                "feedbackPending": self.feedback_pending,
                "feedbackExpired": self.feedback_expired,
            },
        })
    }
}

/// The group of `version` and the configured segment labels in `segment` among
/// `groups`, created on first use (a free function so that callers can borrow
/// the schema's config beside the group).
fn group_in<'a>(
    schema: &ModelSchema,
    groups: &'a mut HashMap<String, Group>,
    version: &str,
    segment: &BTreeMap<String, String>,
) -> &'a mut Group {
    let mut key = String::with_capacity(version.len() + 16);
    key.push_str(version);
    let segment_labels = &schema.config.segment_labels;
    for name in segment_labels {
        key.push('\u{1f}');
        key.push_str(segment.get(name).map_or("", String::as_str));
    }
    groups.entry(key).or_insert_with(|| {
        let mut base = vec![
            Label {
                name: "model".into(),
                value: schema.name().to_string(),
            },
            Label {
                name: "model_version".into(),
                value: version.to_string(),
            },
        ];
        for name in segment_labels {
            if let Some(value) = segment.get(name).filter(|v| !v.is_empty()) {
                base.push(Label {
                    name: name.clone(),
                    value: value.clone(),
                });
            }
        }
        base.sort_by(|a, b| a.name.cmp(&b.name));
        Group {
            base,
            counters: GroupCounters::default(),
            quality: QualityWindow::default(),
            quality_cache: Vec::new(),
            dirty: true,
        }
    })
}

fn segment_names(schema: &ModelSchema) -> Vec<String> {
    let mut names: Vec<String> = schema.config.segment_labels.clone();
    names.extend(schema.schema.segments.iter().cloned());
    names.sort();
    names.dedup();
    names
}

fn label_value(labels: &[Label], name: &str) -> String {
    labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.clone())
        .unwrap_or_default()
}

fn at_time(s: &SeriesSamples, t: i64) -> SeriesSamples {
    let v = s.samples.first().map_or(f64::NAN, |x| x.v);
    SeriesSamples {
        labels: s.labels.clone(),
        samples: vec![crate::storage::Sample { t, v }],
    }
}
