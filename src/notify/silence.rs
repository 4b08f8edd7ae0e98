//! Silences: who muted which alerts until when, validated, updated and
//! expired exactly as Alertmanager's `silence` package does, and kept in a
//! `Storage::aux_tree` so they survive restarts.
//!
//! Owns the silence records and their states; the HTTP shapes live in `api`.

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::model::LabelSet;
use crate::storage::labels::is_valid_label_name;
use crate::storage::matcher::{MatchOp, Matcher};

/// Expired silences are kept this long (Alertmanager's `--data.retention`).
pub const RETENTION: chrono::Duration = chrono::Duration::hours(120);

/// One matcher of a silence, as the v2 API spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

impl SilenceMatcher {
    fn compile(&self) -> Result<Matcher, String> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        if !is_valid_label_name(&self.name) {
            return Err(format!("invalid label name {:?}", self.name));
        }
        Matcher::new(op, &self.name, &self.value).map_err(|err| format!("invalid regular expression: {err}"))
    }
}

/// A silence as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    #[serde(with = "super::model::unix_millis")]
    pub starts_at: DateTime<Utc>,
    #[serde(with = "super::model::unix_millis")]
    pub ends_at: DateTime<Utc>,
    #[serde(with = "super::model::unix_millis")]
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
}

/// Why a silence could not be set or expired.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SilenceError {
    #[error("silence not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
    #[error("cannot persist silence: {0}")]
    Storage(String),
}

/// Every silence, in memory and in its sled tree.
pub struct Silences {
    tree: sled::Tree,
    by_id: Mutex<HashMap<String, (Silence, Vec<Matcher>)>>,
}

impl Silences {
    /// Loads what `tree` holds; records that no longer parse are skipped with a warning.
    pub fn open(tree: sled::Tree) -> Silences {
        let mut by_id = HashMap::new();
        for (key, value) in tree.iter().flatten() {
            let loaded = serde_json::from_slice::<Silence>(&value)
                .map_err(|err| err.to_string())
                .and_then(|s| compile_all(&s.matchers).map(|m| (s, m)));
            match loaded {
                Ok((silence, matchers)) => {
                    by_id.insert(silence.id.clone(), (silence, matchers));
                }
                Err(err) => {
                    tracing::warn!(key = %String::from_utf8_lossy(&key), "skipping stored silence: {err}")
                }
            }
        }
        Silences {
            tree,
            by_id: Mutex::new(by_id),
        }
    }

    pub fn list(&self) -> Vec<Silence> {
        self.by_id.lock().values().map(|(s, _)| s.clone()).collect()
    }

    pub fn get(&self, id: &str) -> Option<Silence> {
        self.by_id.lock().get(id).map(|(s, _)| s.clone())
    }

    /// Creates a silence, or updates the one `silence.id` names (replacing it
    /// with a new id when the change is not allowed in place). Returns the id.
    pub fn set(&self, mut silence: Silence, now: DateTime<Utc>) -> Result<String, SilenceError> {
        let mut by_id = self.by_id.lock();
        let previous = match silence.id.as_str() {
            "" => None,
            id => Some(
                by_id
                    .get(id)
                    .map(|(s, _)| s.clone())
                    .ok_or(SilenceError::NotFound)?,
            ),
        };
        if let Some(previous) = previous {
            if can_update(&previous, &silence, now) {
                return self.write(&mut by_id, silence, now);
            }
            if previous.state(now) != SilenceState::Expired {
                self.expire_locked(&mut by_id, &previous.id, now)?;
            }
        }
        silence.id = uuid::Uuid::new_v4().to_string();
        if silence.starts_at < now {
            silence.starts_at = now;
        }
        self.write(&mut by_id, silence, now)
    }

    /// Ends a silence now.
    pub fn expire(&self, id: &str, now: DateTime<Utc>) -> Result<(), SilenceError> {
        let mut by_id = self.by_id.lock();
        self.expire_locked(&mut by_id, id, now)
    }

    /// The active silences that mute `labels`.
    pub fn silenced_by(&self, labels: &LabelSet, now: DateTime<Utc>) -> Vec<String> {
        let by_id = self.by_id.lock();
        let mut ids: Vec<String> = by_id
            .values()
            .filter(|(silence, matchers)| {
                silence.state(now) == SilenceState::Active
                    && matchers
                        .iter()
                        .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
            })
            .map(|(silence, _)| silence.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Forgets silences that expired more than `RETENTION` ago.
    pub fn collect_garbage(&self, now: DateTime<Utc>) {
        let mut by_id = self.by_id.lock();
        let old: Vec<String> = by_id
            .values()
            .filter(|(s, _)| s.ends_at + RETENTION < now)
            .map(|(s, _)| s.id.clone())
            .collect();
        for id in old {
            by_id.remove(&id);
            if let Err(err) = self.tree.remove(id.as_bytes()) {
                tracing::warn!("cannot delete silence {id}: {err}");
            }
        }
    }

    fn expire_locked(
        &self,
        by_id: &mut HashMap<String, (Silence, Vec<Matcher>)>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SilenceError> {
        let (mut silence, _) = by_id.get(id).cloned().ok_or(SilenceError::NotFound)?;
        match silence.state(now) {
            SilenceState::Expired => return Err(SilenceError::AlreadyExpired(id.to_string())),
            SilenceState::Active => silence.ends_at = now,
            SilenceState::Pending => {
                silence.starts_at = now;
                silence.ends_at = now;
            }
        }
        self.write(by_id, silence, now).map(|_| ())
    }

    fn write(
        &self,
        by_id: &mut HashMap<String, (Silence, Vec<Matcher>)>,
        mut silence: Silence,
        now: DateTime<Utc>,
    ) -> Result<String, SilenceError> {
        silence.updated_at = now;
        let matchers = validate(&silence)?;
        let bytes = serde_json::to_vec(&silence).map_err(|err| SilenceError::Storage(err.to_string()))?;
        self.tree
            .insert(silence.id.as_bytes(), bytes)
            .and_then(|_| self.tree.flush().map(|_| ()))
            .map_err(|err| SilenceError::Storage(err.to_string()))?;
        let id = silence.id.clone();
        by_id.insert(id.clone(), (silence, matchers));
        Ok(id)
    }
}

/// Alertmanager's `canUpdate`: same matchers, and a change the state allows.
fn can_update(old: &Silence, new: &Silence, now: DateTime<Utc>) -> bool {
    if old.matchers != new.matchers {
        return false;
    }
    match old.state(now) {
        SilenceState::Active => new.starts_at == old.starts_at && new.ends_at >= now,
        SilenceState::Pending => new.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// Alertmanager's `validateSilence`; returns the compiled matchers.
fn validate(silence: &Silence) -> Result<Vec<Matcher>, SilenceError> {
    let invalid = |text: String| SilenceError::Invalid(text);
    if silence.matchers.is_empty() {
        return Err(invalid("at least one matcher required".into()));
    }
    let matchers = compile_all(&silence.matchers).map_err(invalid)?;
    if matchers.iter().all(|m| m.matches("")) {
        return Err(invalid(
            "at least one matcher must not match the empty string".into(),
        ));
    }
    if silence.ends_at < silence.starts_at {
        return Err(invalid("end time must not be before start time".into()));
    }
    Ok(matchers)
}

fn compile_all(matchers: &[SilenceMatcher]) -> Result<Vec<Matcher>, String> {
    matchers
        .iter()
        .enumerate()
        .map(|(index, m)| {
            m.compile()
                .map_err(|err| format!("invalid label matcher {index}: {err}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn silence(id: &str, starts: i64, ends: i64) -> Silence {
        Silence {
            id: id.to_string(),
            matchers: vec![SilenceMatcher {
                name: "alertname".into(),
                value: "Down".into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: at(starts),
            ends_at: at(ends),
            updated_at: at(0),
            created_by: "me".into(),
            comment: "maintenance".into(),
        }
    }

    fn store() -> (tempfile::TempDir, Silences) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        (dir, Silences::open(db.open_tree("silences").unwrap()))
    }

    #[test]
    fn mutes_only_while_active_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let labels: LabelSet = [("alertname".to_string(), "Down".to_string())].into();
        let id = {
            let db = sled::open(dir.path()).unwrap();
            let silences = Silences::open(db.open_tree("s").unwrap());
            let id = silences.set(silence("", 100, 200), at(50)).unwrap();
            assert!(silences.silenced_by(&labels, at(60)).is_empty());
            assert_eq!(silences.silenced_by(&labels, at(150)), std::slice::from_ref(&id));
            assert!(silences.silenced_by(&labels, at(200)).is_empty());
            id
        };
        let db = crate::test_support::reopen_sled(dir.path());
        let silences = Silences::open(db.open_tree("s").unwrap());
        assert_eq!(silences.get(&id).unwrap().state(at(150)), SilenceState::Active);
    }

    #[test]
    fn updates_in_place_or_replaces() {
        let (_dir, silences) = store();
        let id = silences.set(silence("", 100, 200), at(100)).unwrap();
        let longer = Silence {
            ends_at: at(300),
            ..silences.get(&id).unwrap()
        };
        assert_eq!(silences.set(longer, at(150)).unwrap(), id);
        let mut other = silences.get(&id).unwrap();
        other.matchers[0].value = "Up".into();
        let new_id = silences.set(other, at(160)).unwrap();
        assert_ne!(new_id, id);
        assert_eq!(silences.get(&id).unwrap().state(at(161)), SilenceState::Expired);
        assert_eq!(
            silences.set(silence("nope", 1, 2), at(0)),
            Err(SilenceError::NotFound)
        );
    }

    #[test]
    fn expiring_twice_is_an_error() {
        let (_dir, silences) = store();
        let id = silences.set(silence("", 100, 200), at(100)).unwrap();
        silences.expire(&id, at(120)).unwrap();
        assert_eq!(
            silences.expire(&id, at(130)),
            Err(SilenceError::AlreadyExpired(id.clone()))
        );
        assert_eq!(silences.expire("missing", at(130)), Err(SilenceError::NotFound));
    }

    #[test]
    fn rejects_what_alertmanager_rejects() {
        let (_dir, silences) = store();
        let mut empty_match = silence("", 100, 200);
        empty_match.matchers[0].value = String::new();
        let err = silences.set(empty_match, at(0)).unwrap_err().to_string();
        assert_eq!(err, "at least one matcher must not match the empty string");
        let mut none = silence("", 100, 200);
        none.matchers.clear();
        assert!(silences.set(none, at(0)).is_err());
        let mut bad_name = silence("", 100, 200);
        bad_name.matchers[0].name = "1x".into();
        assert!(silences
            .set(bad_name, at(0))
            .unwrap_err()
            .to_string()
            .contains("invalid label name"));
    }
}
