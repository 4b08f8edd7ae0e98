//! How many bytes sled 0.34.7 puts on disk per byte of values written, for
//! the value sizes Sightline uses (a ~400 B compacted block per series and
//! partition) and larger ones. This bounds bytes/sample from below: on-disk
//! size ≥ this ratio × encoded payload. Run: `cargo bench --bench sled_overhead`.
//!
//! Measured on the 2-core dev machine: 400 B values 2.12x (2.00x with 64 KiB
//! segments, 2.10x with zstd page compression), 4 KiB 2.00x, 64 KiB 1.70x.

use sightline::storage::dir_size;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: usize = 10 << 20;
    for value_size in [400usize, 4096, 65_536] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new().path(dir.path()).open().expect("open sled");
        let tree = db.open_tree("chunks").expect("tree");
        // Incompressible bytes, like compressed chunks.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..(total / value_size) {
            let value: Vec<u8> = (0..value_size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            tree.insert((i as u64).to_be_bytes(), value).expect("insert");
        }
        db.flush().expect("flush");
        drop(tree);
        drop(db);
        let on_disk = dir_size(dir.path());
        println!(
            "sled: {value_size:>6} B values: {on_disk} bytes on disk for {total} bytes written ({:.2}x)",
            on_disk as f64 / total as f64
        );
    }
}
