//! Helpers shared by the crate's unit tests (compiled only for them).

use std::time::{Duration, Instant};

/// Runs `open` until it stops failing on sled's file lock, for up to 5 s: a
/// database's background threads can hold the lock a moment after its last
/// handle is dropped, on a busy machine. Any other error, or the lock still
/// held after 5 s, panics.
pub fn retry_on_sled_lock<T, E: std::fmt::Display>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match open() {
            Ok(opened) => return opened,
            Err(e) if Instant::now() < deadline && e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Opens the sled database at `path`, which a test has just dropped.
pub fn reopen_sled(path: &std::path::Path) -> sled::Db {
    retry_on_sled_lock(|| sled::open(path))
}
