//! How many bytes sled 0.34.7 puts on disk per byte of values, for the value
//! sizes Sightline writes (a ~300 B XOR chunk, a ~400 B compacted block) and
//! larger ones up to 200 KB (over sled's blob threshold of a quarter of a
//! 512 KiB log segment). Two figures per size: right after the values are
//! written and flushed, and after they are deleted again and 2 MiB of 160 KiB
//! values written in their place (what compaction does to XOR chunks).
//! Run: `cargo bench --bench sled_overhead`.
//!
//! Measured on the 2-core dev machine (8 MiB written, load ~14): 300 B values
//! 3.24x when written, 29.3 MiB on disk after deletion and replacement; 4 KiB
//! 2.32x / 22.3 MiB; 64 KiB 1.98x / 22.0 MiB; 200 KB (blob files) 2.41x /
//! 26.2 MiB. Nothing written is given back, whatever the value size.

use sightline::storage::dir_size;
use std::path::Path;

const WRITTEN: usize = 8 << 20;
const REPLACEMENT: usize = 2 << 20;
const PACK: usize = 160 << 10;

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
    db.flush().expect("flush");
    drop((tree, packs, db));
    (written, dir_size(dir))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for value_size in [300usize, 4096, 65_536, 200_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (written, replaced) = measure(dir.path(), value_size, &mut state);
        println!(
            "sled: {value_size:>6} B values: {:.1} MiB on disk for {:.1} MiB written ({:.2}x); \
             deleted and replaced by {:.1} MiB of {} KiB values: {:.1} MiB on disk",
            mib(written),
            mib(WRITTEN as u64),
            written as f64 / WRITTEN as f64,
            mib(REPLACEMENT as u64),
            PACK >> 10,
            mib(replaced)
        );
    }
}
