//! What one flush of one group does, stage by stage as Alertmanager's notify
//! pipeline: active/mute time intervals, inhibition, silences, then per
//! integration (concurrently) dedup against the notification log, delivery
//! with exponential backoff and jitter until the group interval runs out,
//! and the log entry. Observers (`incidents`) hear of every attempt.

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::dispatch::Group;
use super::inhibit::inhibited_by;
use super::model::fingerprint;
use super::nflog::{entry_key, needs_update, NflogEntry};
use super::receivers::{Integration, NotificationData, Receiver, SendError};
use super::timeinterval;
use super::{Runtime, Shared};
use crate::alerts::{Alert, GroupEvent};

/// Alertmanager gives a flush at least this long, even with a shorter group interval.
const MIN_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff as Alertmanager's (cenkalti/backoff defaults).
const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
const BACKOFF_MULTIPLIER: f64 = 1.5;
const BACKOFF_RANDOMIZATION: f64 = 0.5;
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// What happened to one integration in one flush.
enum Outcome {
    /// Nothing new to say (dedup), or nothing left after `send_resolved`.
    Quiet,
    Sent,
    Failed(String),
}

/// Runs the pipeline for `group`; notified resolved alerts then leave the group.
pub async fn flush(shared: &Arc<Shared>, group: &Arc<Group>) {
    let now = Utc::now();
    let alerts = group.snapshot();
    let runtime = shared.runtime();
    let delivered = if is_muted_now(&runtime, group, now) {
        true
    } else {
        let audible = unmuted(shared, &runtime, &alerts, now);
        audible.is_empty() || notify_receiver(shared, &runtime, group, &audible, now).await
    };
    if delivered {
        group.forget_notified(&alerts, now);
    }
}

/// Outside its active intervals or inside a mute interval, a route says nothing.
fn is_muted_now(runtime: &Runtime, group: &Group, now: DateTime<Utc>) -> bool {
    let in_any = |names: &[String]| {
        names.iter().any(|name| {
            runtime
                .time_intervals
                .get(name)
                .is_some_and(|periods| timeinterval::contains(periods, now))
        })
    };
    let route = &group.route;
    let inactive = !route.active_time_intervals.is_empty() && !in_any(&route.active_time_intervals);
    inactive || in_any(&route.mute_time_intervals)
}

/// The alerts neither inhibited nor silenced.
fn unmuted(shared: &Shared, runtime: &Runtime, alerts: &[Alert], now: DateTime<Utc>) -> Vec<Alert> {
    let known = shared.store.all();
    alerts
        .iter()
        .filter(|a| inhibited_by(&runtime.inhibit_rules, &known, &a.labels, now).is_empty())
        .filter(|a| shared.silences.silenced_by(&a.labels, now).is_empty())
        .cloned()
        .collect()
}

/// Notifies every integration of the group's receiver; `true` when none failed.
async fn notify_receiver(
    shared: &Arc<Shared>,
    runtime: &Runtime,
    group: &Group,
    alerts: &[Alert],
    now: DateTime<Utc>,
) -> bool {
    let Some(receiver) = runtime.receivers.get(&group.route.receiver).cloned() else {
        tracing::error!(receiver = %group.route.receiver, "route names an unknown receiver");
        return false;
    };
    let data = Arc::new(NotificationData::new(
        &receiver.name,
        &group.key,
        &group.labels,
        alerts,
        &runtime.external_url,
        now,
    ));
    let (firing, resolved) = fingerprint_sets(alerts, now);
    let deadline = tokio::time::Instant::now() + group.route.group_interval.max(MIN_FLUSH_TIMEOUT);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..receiver.integrations.len() {
        let attempt = IntegrationAttempt {
            shared: shared.clone(),
            receiver: receiver.clone(),
            index,
            data: data.clone(),
            firing: firing.clone(),
            resolved: resolved.clone(),
            repeat_interval: group.route.repeat_interval,
            now,
            deadline,
        };
        tasks.spawn(attempt.run());
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes
            .push(joined.unwrap_or_else(|err| Outcome::Failed(format!("notification task failed: {err}"))));
    }
    tell_observers(shared, group, &receiver.name, alerts, &data, &outcomes);
    !outcomes.iter().any(|o| matches!(o, Outcome::Failed(_)))
}

fn fingerprint_sets(alerts: &[Alert], now: DateTime<Utc>) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let (resolved, firing): (Vec<&Alert>, Vec<&Alert>) = alerts.iter().partition(|a| a.is_resolved_at(now));
    let set = |list: Vec<&Alert>| list.into_iter().map(|a| fingerprint(&a.labels)).collect();
    (set(firing), set(resolved))
}

fn tell_observers(
    shared: &Shared,
    group: &Group,
    receiver: &str,
    alerts: &[Alert],
    data: &NotificationData,
    outcomes: &[Outcome],
) {
    if outcomes.iter().all(|o| matches!(o, Outcome::Quiet)) {
        return;
    }
    let failure = outcomes.iter().find_map(|o| match o {
        Outcome::Failed(err) => Some(err.clone()),
        _ => None,
    });
    let event = GroupEvent {
        group_key: group.key.clone(),
        receiver: receiver.to_string(),
        group_labels: group.labels.clone(),
        firing: data.status == "firing",
        alerts: alerts.to_vec(),
        outcome: failure.map_or(Ok(()), Err),
    };
    for observer in shared.observers.read().iter() {
        observer.group_notified(&event);
    }
}

/// One integration's share of a flush.
struct IntegrationAttempt {
    shared: Arc<Shared>,
    receiver: Arc<Receiver>,
    index: usize,
    data: Arc<NotificationData>,
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
    repeat_interval: Duration,
    now: DateTime<Utc>,
    deadline: tokio::time::Instant,
}

impl IntegrationAttempt {
    async fn run(self) -> Outcome {
        let Some(integration) = self.receiver.integrations.get(self.index) else {
            return Outcome::Failed("integration vanished".to_string());
        };
        let key = entry_key(
            &self.data.group_key,
            &self.receiver.name,
            integration.name(),
            self.index,
        );
        let previous = self.shared.nflog.get(&key);
        let send_resolved = integration.send_resolved();
        let due = needs_update(
            previous.as_ref(),
            &self.firing,
            &self.resolved,
            send_resolved,
            self.repeat_interval,
            self.now,
        );
        if !due {
            return Outcome::Quiet;
        }
        let data = if send_resolved {
            (*self.data).clone()
        } else {
            self.data.without_resolved()
        };
        let outcome = if data.alerts.is_empty() {
            Outcome::Quiet
        } else {
            match send_with_retries(integration, &data, self.deadline).await {
                Ok(()) => Outcome::Sent,
                Err(err) => {
                    tracing::warn!(receiver = %self.receiver.name, integration = integration.name(), "notify failed: {err}");
                    return Outcome::Failed(err);
                }
            }
        };
        let entry = NflogEntry {
            firing: self.firing,
            resolved: self.resolved,
            timestamp: self.now,
        };
        if let Err(err) = self.shared.nflog.log(&key, entry) {
            tracing::error!("{err}");
        }
        outcome
    }
}

/// Delivers `data`, retrying retryable failures with backoff until `deadline`.
async fn send_with_retries(
    integration: &Integration,
    data: &NotificationData,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    let mut interval = BACKOFF_INITIAL;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let attempt = tokio::time::timeout_at(deadline, integration.notify(data)).await;
        let err = match attempt {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(SendError {
                retryable: false,
                message,
            })) => return Err(message),
            Ok(Err(SendError { message, .. })) => message,
            Err(_) => return Err(format!("gave up after {attempts} attempts: deadline reached")),
        };
        let pause = jittered(interval);
        if tokio::time::Instant::now() + pause >= deadline {
            return Err(format!("gave up after {attempts} attempts: {err}"));
        }
        tokio::time::sleep(pause).await;
        interval = interval.mul_f64(BACKOFF_MULTIPLIER).min(BACKOFF_MAX);
    }
}

/// `interval` spread uniformly over ±50%.
fn jittered(interval: Duration) -> Duration {
    let spread = 1.0 - BACKOFF_RANDOMIZATION + 2.0 * BACKOFF_RANDOMIZATION * fastrand::f64();
    interval.mul_f64(spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half() {
        for _ in 0..1000 {
            let pause = jittered(Duration::from_secs(2));
            assert!(pause >= Duration::from_secs(1) && pause <= Duration::from_secs(3));
        }
    }
}
