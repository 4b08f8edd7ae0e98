//! How many bytes sled 0.34.7 puts on disk per byte of values, for the value
//! sizes Sightline writes (a ~300 B XOR chunk, a ~400 B compacted block) and
//! larger ones up to 1 MiB. Three figures per size: right after the values are
//! written and flushed; after they are deleted again and 2 MiB of 1 MiB values
//! written in their place (what compaction does to XOR chunks); and the steady
//! state of churn, where the same live volume is rewritten and the previous
//! copy deleted, eight times over (what a head cutting chunks and a compaction
//! replacing them does for as long as the server runs).
//! Run: `cargo bench --bench sled_overhead`.
//!
//! Measured on the 2-core dev machine (8 MiB written; two runs, load 1 and 6):
//! values below 1 MiB cost 1.9-3.3x their bytes when written (300 B 2.3-3.3x,
//! 4 KiB 2.4-3.0x, 64 KiB 1.9-2.1x, 200 KB 2.4x); only values of 1 MiB, which
//! sled keeps as blob files, cost 1.0x. Deleting small values gives nothing
//! back to the file system (the log is reused, never shrunk). Under churn the
//! directory settles at 4.1-6.8x the live bytes for values up to 64 KiB, and
//! at ~24x for 200 KB and 1 MiB values, whose blob files outlive their
//! deletion. No value size reaches 1 byte on disk per byte stored once data
//! is rewritten, which is what compaction does.

use sightline::storage::dir_size;
use std::path::Path;

const WRITTEN: usize = 8 << 20;
const REPLACEMENT: usize = 2 << 20;
const PACK: usize = 1 << 20;
const CHURN_ROUNDS: u64 = 8;

/// Incompressible bytes, like compressed chunks.
fn random_bytes(len: usize, state: &mut u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state as u8
        })
        .collect()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn measure(dir: &Path, value_size: usize, state: &mut u64) -> (u64, u64) {
    let db = sled::Config::new().path(dir).open().expect("open sled");
    let tree = db.open_tree("chunks").expect("tree");
    let count = WRITTEN / value_size;
    for i in 0..count {
        tree.insert((i as u64).to_be_bytes(), random_bytes(value_size, state))
            .expect("insert");
    }
    db.flush().expect("flush");
    let written = dir_size(dir);
    for i in 0..count {
        tree.remove((i as u64).to_be_bytes()).expect("remove");
    }
    let packs = db.open_tree("packs").expect("tree");
    for i in 0..REPLACEMENT / PACK {
        packs
            .insert((i as u64).to_be_bytes(), random_bytes(PACK, state))
            .expect("insert");
    }
    settle(&db);
    drop((tree, packs, db));
    (written, dir_size(dir))
}

/// Flushes, gives sled's epoch-based reclamation a moment (deleted blob files
/// go only once no reader can see them), and flushes again.
fn settle(db: &sled::Db) {
    db.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_secs(1));
    db.flush().expect("flush");
}

/// Rewrites `WRITTEN` bytes of values `CHURN_ROUNDS` times, deleting the
/// previous copy each round; returns the directory size after the last round.
fn churn(dir: &Path, value_size: usize, state: &mut u64) -> u64 {
    let db = sled::Config::new().path(dir).open().expect("open sled");
    let tree = db.open_tree("chunks").expect("tree");
    let count = (WRITTEN / value_size) as u64;
    for round in 0..CHURN_ROUNDS {
        for i in 0..count {
            tree.insert((round * count + i).to_be_bytes(), random_bytes(value_size, state))
                .expect("insert");
        }
        for i in round
            .checked_sub(1)
            .map_or(0..0, |prev| prev * count..round * count)
        {
            tree.remove(i.to_be_bytes()).expect("remove");
        }
        settle(&db);
    }
    drop((tree, db));
    dir_size(dir)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for value_size in [300usize, 4096, 65_536, 200_000, 1 << 20] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (written, replaced) = measure(dir.path(), value_size, &mut state);
        let churn_dir = tempfile::tempdir().expect("tempdir");
        let churned = churn(churn_dir.path(), value_size, &mut state);
        println!(
            "sled: {value_size:>6} B values: {:.1} MiB on disk for {:.1} MiB written ({:.2}x); \
             deleted and replaced by {:.1} MiB of {} KiB values: {:.1} MiB on disk; \
             rewritten {CHURN_ROUNDS} times: {:.1} MiB on disk ({:.2}x live)",
            mib(written),
            mib(WRITTEN as u64),
            written as f64 / WRITTEN as f64,
            mib(REPLACEMENT as u64),
            PACK >> 10,
            mib(replaced),
            mib(churned),
            churned as f64 / WRITTEN as f64
        );
    }
}
