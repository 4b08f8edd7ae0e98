//! The incident state machine over every incident kept: open → acknowledged →
//! resolved, driven by group notifications and by people.
//!
//! Pure: no I/O, no clock, no HTTP. Each change names the incident it touched
//! (to persist) and the action triggers it fired (to run). Rules:
//! - a firing group without an active (open or acknowledged) incident opens one
//!   and fires `open`; with one, the incident's alerts and timeline are updated;
//! - a firing group whose last incident resolved less than `reopen_window` ago
//!   reopens it instead (recorded as `reopened`, no `open` actions: a flapping
//!   alert should not retrain a model twice);
//! - a resolved group notification resolves its active incident and fires `resolve`;
//! - acknowledging needs an open incident; resolving by hand needs an unresolved one.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::model::{ActionRun, Incident, IncidentAlert, State};
use crate::alerts::GroupEvent;
use crate::config::ActionTrigger;

/// Timeline entries kept per incident; the oldest `notified` entries go first,
/// so a group re-notified every few hours for weeks stays bounded.
const MAX_TIMELINE: usize = 500;

/// An incident that changed, and the actions that change triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub id: u64,
    pub trigger: Option<ActionTrigger>,
}

/// Why a person's request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    NotFound,
    Conflict(String),
}

/// Every incident kept, by id, and the latest incident of each group.
#[derive(Default)]
pub struct Book {
    incidents: BTreeMap<u64, Incident>,
    latest_by_group: HashMap<String, u64>,
    next_id: u64,
}

impl Book {
    pub fn from_incidents(incidents: impl IntoIterator<Item = Incident>) -> Book {
        let mut book = Book::default();
        for incident in incidents {
            let Ok(id) = incident.id.parse::<u64>() else {
                tracing::warn!(id = %incident.id, "skipping stored incident with a malformed id");
                continue;
            };
            book.next_id = book.next_id.max(id + 1);
            book.latest_by_group.insert(incident.group_key.clone(), id);
            book.incidents.insert(id, incident);
        }
        book.next_id = book.next_id.max(1);
        book
    }

    pub fn get(&self, id: u64) -> Option<&Incident> {
        self.incidents.get(&id)
    }

    /// Incidents in any of `states` (all when empty), newest first, and how many matched.
    pub fn list(&self, states: &[State], offset: usize, limit: usize) -> (Vec<&Incident>, usize) {
        let matching = self
            .incidents
            .values()
            .rev()
            .filter(|i| states.is_empty() || states.contains(&i.state));
        let total = matching.clone().count();
        (matching.skip(offset).take(limit).collect(), total)
    }

    /// How many incidents are in each state, in [`State::ALL`] order.
    pub fn counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for incident in self.incidents.values() {
            counts[State::ALL.iter().position(|s| *s == incident.state).unwrap_or(0)] += 1;
        }
        counts
    }

    /// Applies one group notification.
    pub fn observe(
        &mut self,
        event: &GroupEvent,
        now: DateTime<Utc>,
        reopen_window: Duration,
    ) -> Option<Change> {
        let latest = self.latest_by_group.get(&event.group_key).copied();
        let latest_state = latest.and_then(|id| self.incidents.get(&id)).map(|i| i.state);
        match (event.firing, latest, latest_state) {
            (true, Some(id), Some(State::Open | State::Acknowledged)) => {
                self.update(id, event, now);
                Some(Change { id, trigger: None })
            }
            (true, Some(id), Some(State::Resolved)) if self.within_reopen_window(id, now, reopen_window) => {
                self.reopen(id, event, now);
                Some(Change { id, trigger: None })
            }
            (true, ..) => Some(self.open(event, now)),
            (false, Some(id), Some(state)) => {
                self.update(id, event, now);
                if state == State::Resolved {
                    return Some(Change { id, trigger: None });
                }
                self.mark_resolved(id, now, "all alerts of the group resolved".into());
                Some(Change {
                    id,
                    trigger: Some(ActionTrigger::Resolve),
                })
            }
            (false, ..) => None,
        }
    }

    pub fn acknowledge(
        &mut self,
        id: u64,
        by: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<Change, Refusal> {
        let incident = self.incidents.get_mut(&id).ok_or(Refusal::NotFound)?;
        if incident.state != State::Open {
            return Err(Refusal::Conflict(format!(
                "incident {id} is {}; only an open incident can be acknowledged",
                incident.state.as_str()
            )));
        }
        incident.state = State::Acknowledged;
        incident.acknowledged_at = Some(now);
        incident.record(now, "acknowledged", by_whom("acknowledged", by, comment), None);
        Ok(Change {
            id,
            trigger: Some(ActionTrigger::Acknowledge),
        })
    }

    pub fn resolve(
        &mut self,
        id: u64,
        by: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<Change, Refusal> {
        let incident = self.incidents.get(&id).ok_or(Refusal::NotFound)?;
        if incident.state == State::Resolved {
            return Err(Refusal::Conflict(format!("incident {id} is already resolved")));
        }
        self.mark_resolved(id, now, by_whom("resolved by hand", by, comment));
        Ok(Change {
            id,
            trigger: Some(ActionTrigger::Resolve),
        })
    }

    /// Records a finished action run; false when the incident is gone.
    pub fn record_action(&mut self, id: u64, run: ActionRun, message: String) -> bool {
        let Some(incident) = self.incidents.get_mut(&id) else {
            return false;
        };
        let outcome = match (run.dry_run, run.ok) {
            (true, _) => "dry-run",
            (false, true) => "success",
            (false, false) => "failure",
        };
        incident.record(run.at, "action", message, Some(outcome));
        incident.actions.push(run);
        trim_timeline(incident);
        true
    }

    /// Forgets incidents resolved longer than `retention` ago; returns their ids.
    pub fn expire(&mut self, now: DateTime<Utc>, retention: Duration) -> Vec<u64> {
        let Ok(retention) = chrono::Duration::from_std(retention) else {
            return Vec::new();
        };
        let expired: Vec<u64> = self
            .incidents
            .iter()
            .filter(|(_, i)| i.resolved_at.is_some_and(|t| t + retention < now))
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            if let Some(incident) = self.incidents.remove(id) {
                if self.latest_by_group.get(&incident.group_key) == Some(id) {
                    self.latest_by_group.remove(&incident.group_key);
                }
            }
        }
        expired
    }

    fn within_reopen_window(&self, id: u64, now: DateTime<Utc>, window: Duration) -> bool {
        let resolved_at = self.incidents.get(&id).and_then(|i| i.resolved_at);
        match (resolved_at, chrono::Duration::from_std(window)) {
            (Some(at), Ok(window)) => !window.is_zero() && now < at + window,
            _ => false,
        }
    }

    fn open(&mut self, event: &GroupEvent, now: DateTime<Utc>) -> Change {
        let id = self.next_id.max(1);
        self.next_id = id + 1;
        let fired_at = event.alerts.iter().map(|a| a.starts_at).min().unwrap_or(now);
        let mut incident = Incident {
            id: id.to_string(),
            group_key: event.group_key.clone(),
            title: title(event),
            state: State::Open,
            opened_at: now,
            acknowledged_at: None,
            resolved_at: None,
            labels: event.group_labels.clone(),
            alerts: Vec::new(),
            timeline: Vec::new(),
            actions: Vec::new(),
        };
        incident.record(fired_at, "fired", format!("{} fired", alert_names(event)), None);
        self.incidents.insert(id, incident);
        self.latest_by_group.insert(event.group_key.clone(), id);
        self.update(id, event, now);
        Change {
            id,
            trigger: Some(ActionTrigger::Open),
        }
    }

    fn reopen(&mut self, id: u64, event: &GroupEvent, now: DateTime<Utc>) {
        if let Some(incident) = self.incidents.get_mut(&id) {
            incident.state = State::Open;
            incident.acknowledged_at = None;
            incident.resolved_at = None;
            let message = format!("{} fired again within the reopen window", alert_names(event));
            incident.record(now, "reopened", message, None);
        }
        self.update(id, event, now);
    }

    /// Takes the group's alerts and records the notification.
    fn update(&mut self, id: u64, event: &GroupEvent, now: DateTime<Utc>) {
        let Some(incident) = self.incidents.get_mut(&id) else {
            return;
        };
        incident.alerts = event.alerts.iter().map(|a| IncidentAlert::of(a, now)).collect();
        let firing = incident.alerts.iter().filter(|a| a.status == "firing").count();
        let resolved = incident.alerts.len() - firing;
        let summary = format!("{}: {firing} firing, {resolved} resolved", event.receiver);
        let (message, outcome) = match &event.outcome {
            Ok(()) => (format!("notified {summary}"), "success"),
            Err(error) => (format!("notifying {summary} failed: {error}"), "failure"),
        };
        incident.record(now, "notified", message, Some(outcome));
        trim_timeline(incident);
    }

    fn mark_resolved(&mut self, id: u64, now: DateTime<Utc>, message: String) {
        if let Some(incident) = self.incidents.get_mut(&id) {
            incident.state = State::Resolved;
            incident.resolved_at = Some(now);
            incident.record(now, "resolved", message, None);
        }
    }
}

fn by_whom(what: &str, by: &str, comment: &str) -> String {
    let mut message = what.to_string();
    if !by.is_empty() {
        message.push_str(&format!(" by {by}"));
    }
    if !comment.is_empty() {
        message.push_str(&format!(": {comment}"));
    }
    message
}

/// The distinct alert names of the group, in order, joined.
fn alert_names(event: &GroupEvent) -> String {
    let mut names: Vec<&str> = event
        .alerts
        .iter()
        .filter_map(|a| a.labels.get("alertname").map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "alert".to_string()
    } else {
        names.join(", ")
    }
}

/// `AlertName {label="value", ...}` over the group labels other than `alertname`.
fn title(event: &GroupEvent) -> String {
    let name = event
        .group_labels
        .get("alertname")
        .cloned()
        .unwrap_or_else(|| alert_names(event));
    let others: Vec<String> = event
        .group_labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if others.is_empty() {
        name
    } else {
        format!("{name} {{{}}}", others.join(", "))
    }
}

fn trim_timeline(incident: &mut Incident) {
    while incident.timeline.len() > MAX_TIMELINE {
        let oldest_notified = incident.timeline.iter().position(|e| e.kind == "notified");
        incident.timeline.remove(oldest_notified.unwrap_or(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Alert;
    use crate::incidents::model::tests::at;

    const WINDOW: Duration = Duration::from_secs(300);

    fn event(key: &str, firing: bool, outcome: Result<(), String>) -> GroupEvent {
        let labels: BTreeMap<String, String> = [
            ("alertname".to_string(), "AccuracyLow".to_string()),
            ("model".to_string(), key.to_string()),
        ]
        .into();
        GroupEvent {
            group_key: key.to_string(),
            receiver: "team".into(),
            group_labels: labels.clone(),
            firing,
            alerts: vec![Alert {
                labels,
                annotations: BTreeMap::new(),
                starts_at: at(-60),
                ends_at: if firing { at(3600) } else { at(-1) },
                generator_url: String::new(),
            }],
            outcome,
        }
    }

    fn kinds(book: &Book, id: u64) -> Vec<String> {
        book.get(id)
            .unwrap()
            .timeline
            .iter()
            .map(|e| e.kind.clone())
            .collect()
    }

    #[test]
    fn firing_opens_and_resolving_resolves() {
        let mut book = Book::default();
        let opened = book.observe(&event("g", true, Ok(())), at(0), WINDOW).unwrap();
        assert_eq!(opened.trigger, Some(ActionTrigger::Open));
        let incident = book.get(opened.id).unwrap();
        assert_eq!(incident.state, State::Open);
        assert_eq!(incident.title, "AccuracyLow {model=\"g\"}");
        assert_eq!(incident.timeline[0].at, at(-60), "fired at the alert's start");
        let again = book
            .observe(&event("g", true, Err("503".into())), at(10), WINDOW)
            .unwrap();
        assert_eq!(
            again,
            Change {
                id: opened.id,
                trigger: None
            }
        );
        let resolved = book.observe(&event("g", false, Ok(())), at(20), WINDOW).unwrap();
        assert_eq!(resolved.trigger, Some(ActionTrigger::Resolve));
        let incident = book.get(opened.id).unwrap();
        assert_eq!(incident.state, State::Resolved);
        assert_eq!(incident.resolved_at, Some(at(20)));
        assert_eq!(incident.alerts[0].status, "resolved");
        assert_eq!(
            kinds(&book, opened.id),
            ["fired", "notified", "notified", "notified", "resolved"]
        );
        let failed = &incident.timeline[2];
        assert_eq!(failed.outcome.as_deref(), Some("failure"));
        assert!(failed.message.contains("503"), "{}", failed.message);
    }

    #[test]
    fn one_incident_per_group_and_groups_are_independent() {
        let mut book = Book::default();
        let a = book.observe(&event("a", true, Ok(())), at(0), WINDOW).unwrap();
        let b = book.observe(&event("b", true, Ok(())), at(0), WINDOW).unwrap();
        let a2 = book.observe(&event("a", true, Ok(())), at(60), WINDOW).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id, a2.id);
        assert_eq!(book.counts(), [2, 0, 0]);
    }

    #[test]
    fn firing_again_reopens_within_the_window_and_opens_anew_after() {
        let mut book = Book::default();
        let first = book.observe(&event("g", true, Ok(())), at(0), WINDOW).unwrap();
        book.observe(&event("g", false, Ok(())), at(100), WINDOW);
        let reopened = book.observe(&event("g", true, Ok(())), at(200), WINDOW).unwrap();
        assert_eq!(
            reopened,
            Change {
                id: first.id,
                trigger: None
            }
        );
        assert_eq!(book.get(first.id).unwrap().state, State::Open);
        assert!(kinds(&book, first.id).contains(&"reopened".to_string()));
        book.observe(&event("g", false, Ok(())), at(300), WINDOW);
        let fresh = book
            .observe(&event("g", true, Ok(())), at(300 + 301), WINDOW)
            .unwrap();
        assert_ne!(fresh.id, first.id);
        assert_eq!(fresh.trigger, Some(ActionTrigger::Open));
        let never = book
            .observe(&event("h", true, Ok(())), at(0), Duration::ZERO)
            .unwrap();
        book.observe(&event("h", false, Ok(())), at(1), Duration::ZERO);
        let other = book
            .observe(&event("h", true, Ok(())), at(2), Duration::ZERO)
            .unwrap();
        assert_ne!(never.id, other.id, "a zero window never reopens");
    }

    #[test]
    fn acknowledge_and_manual_resolve_follow_the_states() {
        let mut book = Book::default();
        let id = book.observe(&event("g", true, Ok(())), at(0), WINDOW).unwrap().id;
        let ack = book.acknowledge(id, "alice", "looking", at(5)).unwrap();
        assert_eq!(ack.trigger, Some(ActionTrigger::Acknowledge));
        let incident = book.get(id).unwrap();
        assert_eq!(incident.state, State::Acknowledged);
        assert_eq!(
            incident.timeline.last().unwrap().message,
            "acknowledged by alice: looking"
        );
        assert!(matches!(
            book.acknowledge(id, "", "", at(6)),
            Err(Refusal::Conflict(_))
        ));
        assert_eq!(
            book.resolve(id, "bob", "", at(7)).unwrap().trigger,
            Some(ActionTrigger::Resolve)
        );
        assert!(matches!(
            book.resolve(id, "", "", at(8)),
            Err(Refusal::Conflict(_))
        ));
        assert_eq!(book.acknowledge(99, "", "", at(8)), Err(Refusal::NotFound));
        let late = book.observe(&event("g", false, Ok(())), at(9), WINDOW).unwrap();
        assert_eq!(
            late.trigger, None,
            "a group resolving after a manual resolve runs nothing again"
        );
    }

    #[test]
    fn resolved_without_any_incident_is_ignored() {
        let mut book = Book::default();
        assert_eq!(book.observe(&event("g", false, Ok(())), at(0), WINDOW), None);
    }

    #[test]
    fn list_filters_pages_newest_first_and_expire_forgets_old_resolved() {
        let mut book = Book::default();
        for key in ["a", "b", "c"] {
            book.observe(&event(key, true, Ok(())), at(0), WINDOW);
        }
        book.resolve(1, "", "", at(10)).unwrap();
        let (page, total) = book.list(&[], 0, 2);
        assert_eq!(total, 3);
        assert_eq!(page.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["3", "2"]);
        let (open, total) = book.list(&[State::Open], 1, 10);
        assert_eq!((open.len(), total), (1, 2));
        assert_eq!(
            book.expire(at(10 + 3600), Duration::from_secs(7200)),
            Vec::<u64>::new()
        );
        assert_eq!(book.expire(at(10 + 7201), Duration::from_secs(7200)), vec![1]);
        assert!(book.get(1).is_none());
        let reloaded = Book::from_incidents(book.list(&[], 0, 10).0.into_iter().cloned());
        assert_eq!(reloaded.next_id, 4);
    }

    #[test]
    fn the_timeline_stays_bounded() {
        let mut book = Book::default();
        let id = book.observe(&event("g", true, Ok(())), at(0), WINDOW).unwrap().id;
        for i in 0..(MAX_TIMELINE as i64 + 50) {
            book.observe(&event("g", true, Ok(())), at(i), WINDOW);
        }
        let timeline = &book.get(id).unwrap().timeline;
        assert_eq!(timeline.len(), MAX_TIMELINE);
        assert_eq!(timeline[0].kind, "fired");
    }
}
