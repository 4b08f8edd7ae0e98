//! Group commit for events requests: each request hands its parsed items to
//! the one `ml-ingest` thread, which applies everything queued since its last
//! round under one hold of the monitor's lock and one round of index writes,
//! then answers every request of the round on its own.
//!
//! Why a thread and not the lock alone: with a lock taken per request,
//! single-event POSTs at 10,000/s cost ~146 µs of server CPU each, against
//! ~40 µs of work: requests that found the lock held were handed to blocking
//! threads and convoyed on it, and each paid its own round of sled writes.
//!
//! A round may leave its index writes to the `ml-write` thread
//! ([`Applied::Deferred`]): the writes of a round of predictions then overlap
//! the next round's work on the models. Batch ingest was limited by this one
//! thread (~0.9 of a core, half of it sled writes) while the machine had CPU
//! to spare. A request is answered only when its round's writes are done, and
//! a round of feedback waits until every deferred write is (feedback reads
//! the join records and log items that predictions write).
//!
//! Owns only the queue and the threads; what a round does to the models is
//! [`crate::ml::monitor`]'s (the `apply` function it starts this with).

use crate::ml::event::{Feedback, Prediction};
use crate::ml::monitor::{BatchAnswer, MonitorError};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use tokio::sync::oneshot;

/// A request's items, each parsed or with the reason it could not be.
pub enum Items {
    Predictions(Vec<Result<Prediction, String>>),
    Feedback(Vec<Result<Feedback, String>>),
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::Predictions(items) => items.len(),
            Items::Feedback(items) => items.len(),
        }
    }
}

/// One round: the requests of one kind taken from the queue, in arrival
/// order. Kinds are never mixed, so feedback always finds the predictions
/// of earlier rounds stored.
pub enum Round {
    Predictions(Vec<Vec<Result<Prediction, String>>>),
    Feedback(Vec<Vec<Result<Feedback, String>>>),
}

/// What a round answers: one [`BatchAnswer`] per request, in order.
pub type RoundResult = Result<Vec<BatchAnswer>, MonitorError>;

/// Rounds of predictions from this many items on have their writes done by
/// the `ml-write` thread; smaller ones (single-event requests) write on this
/// thread, once the handed-over writes are done: a hand-over per round cost
/// single POSTs at 10,000/s ~10 µs of CPU each and ~0.5 ms of p99.
const HANDED_OVER_ITEMS: usize = 256;

/// A round's index writes still to do, which give its answers.
pub type Write = Box<dyn FnOnce() -> RoundResult + Send>;

/// What applying a round gave: its answers, or the writes still to do.
pub enum Applied {
    Done(RoundResult),
    Deferred(Write),
}

/// A round stops taking requests once it holds this many items, so the
/// lock is never held for more than a few tens of milliseconds.
const ROUND_ITEMS: usize = 4096;

struct Job {
    items: Items,
    answer: oneshot::Sender<Result<BatchAnswer, String>>,
}

/// The requests' end of the queue.
pub struct Queue {
    jobs: Sender<Job>,
}

/// The thread's end of the queue, until [`spawn`] takes it.
pub struct Pending {
    jobs: Receiver<Job>,
}

/// A new, empty queue.
pub fn queue() -> (Queue, Pending) {
    let (jobs, receiver) = channel();
    (Queue { jobs }, Pending { jobs: receiver })
}

impl Queue {
    /// Queues `items` and waits for their answer; an error is the storage's
    /// failure as text (HTTP 500).
    pub async fn submit(&self, items: Items) -> Result<BatchAnswer, String> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Job { items, answer })
            .map_err(|_| "the ML ingest thread has stopped".to_string())?;
        answered
            .await
            .map_err(|_| "the ML ingest thread has stopped".to_string())?
    }
}

/// Starts the `ml-ingest` thread, and the `ml-write` thread for deferred
/// writes: it runs `apply` on each round until every [`Queue`] is dropped or
/// `apply` returns `None` (its monitor is gone).
pub fn spawn(
    pending: Pending,
    apply: impl Fn(Round) -> Option<Applied> + Send + 'static,
) -> std::io::Result<()> {
    let (writes, to_write) = sync_channel(1);
    let (done, written) = channel();
    std::thread::Builder::new()
        .name("ml-write".into())
        .spawn(move || write(to_write, done))?;
    std::thread::Builder::new()
        .name("ml-ingest".into())
        .spawn(move || {
            run(
                pending.jobs,
                apply,
                Writer {
                    writes,
                    written,
                    outstanding: 0,
                },
            )
        })
        .map(drop)
}

type Answers = Vec<oneshot::Sender<Result<BatchAnswer, String>>>;
type Deferred = (Write, Answers);

/// The `ml-ingest` thread's handle on the `ml-write` thread.
struct Writer {
    writes: std::sync::mpsc::SyncSender<Deferred>,
    written: Receiver<()>,
    outstanding: usize,
}

impl Writer {
    /// Hands `deferred` over, waiting while one is already queued.
    fn hand_over(&mut self, deferred: Deferred) {
        match self.writes.send(deferred) {
            Ok(()) => self.outstanding += 1,
            // The writer is gone (it panicked): write here instead.
            Err(std::sync::mpsc::SendError((write, answers))) => answer_all(answers, write()),
        }
    }

    /// Waits until every deferred write is done.
    fn drain(&mut self) {
        while self.outstanding > 0 {
            if self.written.recv().is_err() {
                break;
            }
            self.outstanding -= 1;
        }
    }
}

fn run(jobs: Receiver<Job>, apply: impl Fn(Round) -> Option<Applied>, mut writer: Writer) {
    let mut held = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let (round, answers, items) = take_round(first, &jobs, &mut held);
        let hand_over = matches!(round, Round::Predictions(_)) && items >= HANDED_OVER_ITEMS;
        if !hand_over {
            writer.drain();
        }
        match apply(round) {
            Some(Applied::Done(result)) => answer_all(answers, result),
            Some(Applied::Deferred(write)) if hand_over => writer.hand_over((write, answers)),
            Some(Applied::Deferred(write)) => answer_all(answers, write()),
            None => return,
        }
    }
}

fn write(to_write: Receiver<Deferred>, done: Sender<()>) {
    for (write, answers) in to_write {
        answer_all(answers, write());
        // The ingest thread may be gone; nothing waits then.
        let _ = done.send(());
    }
}

/// `first` and the queued requests of its kind after it, up to
/// [`ROUND_ITEMS`], with their answers and item count; a request of the
/// other kind is left in `held` for the next round.
fn take_round(first: Job, jobs: &Receiver<Job>, held: &mut Option<Job>) -> (Round, Answers, usize) {
    let mut count = first.items.len();
    let mut answers = vec![first.answer];
    let mut round = match first.items {
        Items::Predictions(items) => Round::Predictions(vec![items]),
        Items::Feedback(items) => Round::Feedback(vec![items]),
    };
    while count < ROUND_ITEMS {
        let Ok(job) = jobs.try_recv() else { break };
        let len = job.items.len();
        match (&mut round, job.items) {
            (Round::Predictions(batches), Items::Predictions(items)) => batches.push(items),
            (Round::Feedback(batches), Items::Feedback(items)) => batches.push(items),
            (_, items) => {
                *held = Some(Job {
                    items,
                    answer: job.answer,
                });
                break;
            }
        }
        count += len;
        answers.push(job.answer);
    }
    (round, answers, count)
}

fn answer_all(answers: Answers, result: RoundResult) {
    match result {
        Ok(batch_answers) => {
            for (answer, batch_answer) in answers.into_iter().zip(batch_answers) {
                // A request that went away needs no answer.
                let _ = answer.send(Ok(batch_answer));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for answer in answers {
                let _ = answer.send(Err(message.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn predictions(n: usize) -> Items {
        Items::Predictions((0..n).map(|i| Err(format!("item {i}"))).collect())
    }

    fn feedback(n: usize) -> Items {
        Items::Feedback((0..n).map(|i| Err(format!("item {i}"))).collect())
    }

    /// Queues jobs before the thread starts, so the rounds they form are known.
    fn rounds_of(items: Vec<Items>) -> Vec<(char, Vec<usize>)> {
        let (queue, pending) = queue();
        let mut answered = Vec::new();
        for items in items {
            let (answer, rx) = oneshot::channel();
            queue.jobs.send(Job { items, answer }).unwrap();
            answered.push(rx);
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        spawn(pending, move |round| {
            let (kind, sizes): (char, Vec<usize>) = match &round {
                Round::Predictions(b) => ('p', b.iter().map(Vec::len).collect()),
                Round::Feedback(b) => ('f', b.iter().map(Vec::len).collect()),
            };
            record.lock().unwrap().push((kind, sizes.clone()));
            let answers = sizes
                .iter()
                .map(|&n| BatchAnswer {
                    accepted: n,
                    rejected: Vec::new(),
                })
                .collect();
            Some(Applied::Done(Ok(answers)))
        })
        .unwrap();
        for rx in answered {
            rx.blocking_recv().unwrap().unwrap();
        }
        drop(queue);
        let rounds = seen.lock().unwrap().clone();
        rounds
    }

    #[test]
    fn queued_requests_of_one_kind_share_a_round_and_kinds_never_mix() {
        let rounds = rounds_of(vec![
            predictions(1),
            predictions(2),
            feedback(3),
            feedback(1),
            predictions(4),
        ]);
        assert_eq!(rounds, vec![('p', vec![1, 2]), ('f', vec![3, 1]), ('p', vec![4])]);
    }

    #[test]
    fn a_round_stops_taking_requests_past_its_item_budget() {
        let rounds = rounds_of(vec![predictions(ROUND_ITEMS - 1), predictions(5), predictions(7)]);
        assert_eq!(rounds, vec![('p', vec![ROUND_ITEMS - 1, 5]), ('p', vec![7])]);
    }

    #[test]
    fn every_request_of_a_failed_round_gets_the_error() {
        let (queue, pending) = queue();
        let mut answered = Vec::new();
        for _ in 0..3 {
            let (answer, rx) = oneshot::channel();
            queue
                .jobs
                .send(Job {
                    items: predictions(1),
                    answer,
                })
                .unwrap();
            answered.push(rx);
        }
        spawn(pending, |_| {
            Some(Applied::Deferred(Box::new(|| {
                Err(MonitorError::from(sled::Error::Unsupported("disk".into())))
            })))
        })
        .unwrap();
        for rx in answered {
            let error = rx.blocking_recv().unwrap().unwrap_err();
            assert!(error.contains("disk"), "{error}");
        }
    }

    fn one_accepted() -> BatchAnswer {
        BatchAnswer {
            accepted: 1,
            rejected: Vec::new(),
        }
    }

    #[test]
    fn feedback_waits_for_the_deferred_writes_of_earlier_predictions() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (queue, pending) = queue();
        let mut answered = Vec::new();
        for items in [predictions(HANDED_OVER_ITEMS), predictions(1), feedback(1)] {
            let (answer, rx) = oneshot::channel();
            queue.jobs.send(Job { items, answer }).unwrap();
            answered.push(rx);
        }
        let written = Arc::new(AtomicUsize::new(0));
        let seen_by_feedback = Arc::new(Mutex::new(None));
        let (w, seen) = (Arc::clone(&written), Arc::clone(&seen_by_feedback));
        spawn(pending, move |round| match round {
            Round::Predictions(batches) => {
                let w = Arc::clone(&w);
                Some(Applied::Deferred(Box::new(move || {
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    w.fetch_add(batches.len(), Ordering::SeqCst);
                    Ok(batches.iter().map(|_| one_accepted()).collect())
                })))
            }
            Round::Feedback(batches) => {
                *seen.lock().unwrap() = Some(w.load(Ordering::SeqCst));
                Some(Applied::Done(Ok(batches
                    .iter()
                    .map(|_| one_accepted())
                    .collect())))
            }
        })
        .unwrap();
        for rx in answered {
            assert_eq!(rx.blocking_recv().unwrap().unwrap().accepted, 1);
        }
        assert_eq!(written.load(Ordering::SeqCst), 2);
        assert_eq!(*seen_by_feedback.lock().unwrap(), Some(2));
    }

    #[tokio::test]
    async fn a_stopped_thread_is_an_error_not_a_hang() {
        let (queue, pending) = queue();
        spawn(pending, |_| None).unwrap();
        let first = queue.submit(predictions(1)).await;
        assert!(first.is_err());
        assert!(queue.submit(predictions(1)).await.is_err());
    }
}
