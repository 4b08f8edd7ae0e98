//! The one thread on which every target's scrape is parsed and appended.
//!
//! The series a scrape creates live as long as they are scraped (head entries,
//! labels, chunk buffers, cache keys), and allocators keep partly used pages
//! per thread: when those allocations came from whichever runtime or blocking
//! thread a scrape happened to run on, 100k series left about a dozen threads
//! with partly used pages of every size (peak RSS 85-88 MiB in
//! `benches/scrape_compare` with mimalloc, the allocator then; 78 MiB with
//! one runtime worker). Doing the work
//! on one thread keeps them together. One thread is enough: steady-state
//! scrapes cost ~0.6 µs per sample, so it stores over a million samples a
//! second, and appends of new series take the head's write lock anyway.
//!
//! Fetching stays on the async runtime; only the CPU and disk work comes here.
//! If the thread cannot be started the work runs in place, as before.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

static JOBS: OnceLock<Option<Sender<Job>>> = OnceLock::new();

fn start() -> Option<Sender<Job>> {
    let (sender, jobs) = channel::<Job>();
    let spawned = std::thread::Builder::new()
        .name("scrape-store".into())
        .spawn(move || {
            for job in jobs {
                // A panicking job drops its answer; the thread goes on.
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
        });
    match spawned {
        Ok(_) => Some(sender),
        Err(err) => {
            tracing::warn!("cannot start the scrape-store thread, storing scrapes in place: {err}");
            None
        }
    }
}

/// Runs `work` on the store thread and waits for it without blocking the
/// runtime; `None` if it panicked.
pub async fn run<R, F>(work: F) -> Option<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (answer, answered) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(work());
    });
    let sent = match JOBS.get_or_init(start) {
        Some(jobs) => jobs.send(job).map_err(|refused| refused.0),
        None => Err(job),
    };
    if let Err(job) = sent {
        tokio::task::block_in_place(|| {
            let _ = catch_unwind(AssertUnwindSafe(job));
        });
    }
    answered.await.ok()
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_runs_on_the_store_thread() {
        let name = super::run(|| std::thread::current().name().map(str::to_string)).await;
        assert_eq!(name, Some(Some("scrape-store".to_string())));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_gives_none_and_the_thread_goes_on() {
        let panicked: Option<()> = super::run(|| panic!("boom")).await;
        assert_eq!(panicked, None);
        assert_eq!(super::run(|| 2 + 2).await, Some(4));
    }
}
