//! Tests of the assembled storage: append, select, restart, compaction, retention.

use super::*;

fn opts() -> StorageOptions {
    StorageOptions {
        retention_ms: 0,
        max_future_ms: i64::MAX / 4,
        ..StorageOptions::default()
    }
}

fn series(name: &str, job: &str, samples: impl IntoIterator<Item = (i64, f64)>) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name), ("job", job)]),
        samples: samples.into_iter().map(|(t, v)| Sample { t, v }).collect(),
    }
}

fn select_all(s: &Storage, name: &str) -> Vec<Series> {
    s.select(
        &[Matcher::equal("__name__", name)],
        i64::MIN,
        i64::MAX,
        SelectHints::default(),
    )
    .unwrap()
}

#[test]
fn append_select_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    let values: Vec<(i64, f64)> = (0..500).map(|i| (i * 15_000, i as f64)).collect();
    s.append(vec![
        series("up", "a", values.clone()),
        series("up", "b", [(5, f64::NAN)]),
    ])
    .unwrap();
    s.append(vec![series("up", "b", [(6, stale_nan()), (7, f64::INFINITY)])])
        .unwrap();
    let got = select_all(&s, "up");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].samples.len(), 500);
    assert!(got[1].samples[0].v.is_nan() && !is_stale_nan(got[1].samples[0].v));
    assert!(is_stale_nan(got[1].samples[1].v));
    let window = s
        .select(
            &[Matcher::equal("job", "a")],
            15_000,
            30_000,
            SelectHints::default(),
        )
        .unwrap();
    assert_eq!(window[0].samples.len(), 2);
    s.close().unwrap();
    drop(s);

    let s = Storage::open(dir.path(), opts()).unwrap();
    assert_eq!(select_all(&s, "up"), got);
    // In-order checks survive the restart.
    assert!(s.append(vec![series("up", "a", [(0, 1.0)])]).is_err());
}

#[test]
fn replays_the_wal_without_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    s.append(vec![series("x", "a", (0..300).map(|i| (i, i as f64)))])
        .unwrap();
    let before = select_all(&s, "x");
    // No close(): no checkpoint, so the restart must replay the WAL.
    // (The end-to-end test covers a real `kill -9`.)
    drop(s);
    let s = Storage::open(dir.path(), opts()).unwrap();
    assert!(
        s.counters()
            .wal_records_replayed
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert_eq!(select_all(&s, "x"), before);
}

#[test]
fn select_respects_sample_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    s.append(vec![series("x", "a", (0..100).map(|i| (i, 1.0)))])
        .unwrap();
    let err = s.select(
        &[Matcher::equal("__name__", "x")],
        0,
        1000,
        SelectHints { max_samples: 10 },
    );
    assert_eq!(err, Err(QueryError::TooManySamples(10)));
}

#[test]
fn select_iter_yields_in_label_order_until_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    for job in ["c", "a", "b"] {
        s.append(vec![series("x", job, (0..4).map(|i| (i, 1.0)))])
            .unwrap();
    }
    let x = [Matcher::equal("__name__", "x")];
    let jobs: Vec<String> = s
        .select_iter(&x, 0, 1000, SelectHints::default())
        .unwrap()
        .map(|r| r.unwrap().labels.get("job").to_string())
        .collect();
    assert_eq!(jobs, ["a", "b", "c"]);
    let limited: Vec<Result<usize, QueryError>> = s
        .select_iter(&x, 0, 1000, SelectHints { max_samples: 9 })
        .unwrap()
        .map(|r| r.map(|series| series.samples.len()))
        .collect();
    assert_eq!(limited, [Ok(4), Ok(4), Err(QueryError::TooManySamples(9))]);
}

#[test]
fn compaction_keeps_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    let step = 15_000;
    let n = 3 * layout::PARTITION_MS / step;
    for job in ["a", "b", "c"] {
        s.append(vec![series(
            "c_total",
            job,
            (0..n).map(|i| (i * step, (i * 3) as f64)),
        )])
        .unwrap();
    }
    let before = select_all(&s, "c_total");
    let report = s.compact(false).unwrap();
    assert!(report.partitions_compacted >= 1, "{report:?}");
    assert!(report.bytes_after < report.bytes_before, "{report:?}");
    assert_eq!(select_all(&s, "c_total"), before);
    let total: u64 = before.iter().map(|x| x.samples.len() as u64).sum();
    assert_eq!(
        s.count_samples().unwrap().0,
        total,
        "header counts over XOR chunks, blocks and head"
    );
    s.compact(true).unwrap();
    assert_eq!(select_all(&s, "c_total"), before);
    assert_eq!(s.count_samples().unwrap().0, total);
    // Appends after a forced compaction still work and read back.
    s.append(vec![series("c_total", "a", [(n * step, 1.0)])]).unwrap();
    assert_eq!(
        select_all(&s, "c_total")[0].samples.len(),
        before[0].samples.len() + 1
    );
}

#[test]
fn retention_drops_old_partitions_and_series() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(
        dir.path(),
        StorageOptions {
            retention_ms: layout::PARTITION_MS,
            ..opts()
        },
    )
    .unwrap();
    let step = 60_000;
    s.append(vec![series("old", "a", (0..200).map(|i| (i * step, 1.0)))])
        .unwrap();
    let late = 10 * layout::PARTITION_MS;
    s.append(vec![series("new", "a", (0..200).map(|i| (late + i * step, 1.0)))])
        .unwrap();
    s.compact(false).unwrap();
    let report = s.apply_retention().unwrap();
    assert!(report.partitions_dropped >= 2, "{report:?}");
    assert_eq!(report.series_removed, 1);
    assert!(select_all(&s, "old").is_empty());
    assert_eq!(select_all(&s, "new")[0].samples.len(), 200);
    // Samples older than the retention window are refused.
    let err = s.append(vec![series("new", "b", [(0, 1.0)])]).unwrap_err();
    assert!(matches!(err, AppendError::TooOld { .. }));
}

#[test]
fn out_of_order_samples_merge_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(
        dir.path(),
        StorageOptions {
            out_of_order_time_window_ms: 1_000_000,
            ..opts()
        },
    )
    .unwrap();
    s.append(vec![series("x", "a", (0..50).map(|i| (i * 10 + 500, 1.0)))])
        .unwrap();
    s.append(vec![series("x", "a", (0..50).map(|i| (i * 10, 2.0)))])
        .unwrap();
    let got = select_all(&s, "x");
    assert_eq!(got[0].samples.len(), 100);
    assert!(got[0].samples.windows(2).all(|w| w[0].t < w[1].t));
}

#[test]
fn label_apis() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    s.append(vec![
        series("up", "a", [(10, 1.0)]),
        series("down", "b", [(1000, 1.0)]),
    ])
    .unwrap();
    assert_eq!(
        s.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        vec!["__name__", "job"]
    );
    assert_eq!(
        s.label_values("job", &[], i64::MIN, i64::MAX).unwrap(),
        vec!["a", "b"]
    );
    assert_eq!(s.label_values("job", &[], 500, 2000).unwrap(), vec!["b"]);
    let up = [Matcher::equal("__name__", "up")];
    assert_eq!(s.label_values("job", &up, i64::MIN, i64::MAX).unwrap(), vec!["a"]);
    assert_eq!(s.series(&up, 0, 100).unwrap().len(), 1);
    assert!(s.series(&up, 11, 100).unwrap().is_empty());
}

#[test]
fn corrupt_chunks_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    // The smallest memory budget sled takes (256 bytes) sends the cut chunks
    // of these noisy values (over 256 bytes each) to sled at once.
    let tiny_budget = StorageOptions {
        cache_capacity_bytes: 256,
        ..opts()
    };
    let s = Storage::open(dir.path(), tiny_budget).unwrap();
    let noisy = |i: i64| (i * 7919 % 1000) as f64 / 7.0;
    s.append(vec![series("x", "a", (0..300).map(|i| (i * 1000, noisy(i))))])
        .unwrap();
    assert_eq!(s.inner.head.read().pending.len(), 0);
    // Overwrite the first persisted chunk with garbage, as a bad disk might.
    let (key, _) = s.inner.chunks.iter().next().unwrap().unwrap();
    s.inner
        .chunks
        .insert(
            key,
            layout::encode_chunk_value(layout::Codec::Xor, 119_000, &[0xff; 7]),
        )
        .unwrap();
    let got = select_all(&s, "x");
    assert_eq!(got[0].samples.len(), 180, "the other chunks still read");
    assert_eq!(
        s.counters()
            .corrupt_chunks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // A value too short to hold a header is skipped the same way.
    let (key, _) = s.inner.chunks.iter().next().unwrap().unwrap();
    s.inner.chunks.insert(key, &[1u8][..]).unwrap();
    assert_eq!(select_all(&s, "x")[0].samples.len(), 180);
}

#[test]
fn aux_trees_are_durable_and_apart_from_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
        let tree = storage.aux_tree("series").unwrap();
        tree.insert(b"k", b"v".as_slice()).unwrap();
        storage.close().unwrap();
    }
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    assert_eq!(storage.num_series(), 0);
    let tree = storage.aux_tree("series").unwrap();
    assert_eq!(tree.get(b"k").unwrap().as_deref(), Some(b"v".as_slice()));
}

#[test]
fn reads_series_stored_one_value_per_series() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Storage::open(dir.path(), opts()).unwrap();
        let mut old = Vec::new();
        Labels::from_pairs([("__name__", "up"), ("job", "a")]).encode(&mut old);
        s.inner.series_tree.insert(layout::series_key(4), old).unwrap();
        s.close().unwrap();
    }
    let s = Storage::open(dir.path(), opts()).unwrap();
    assert_eq!(s.num_series(), 1);
    s.append(vec![series("up", "a", [(1, 1.0)])]).unwrap();
    assert_eq!(s.num_series(), 1, "the stored series is found, not created again");
}

#[test]
fn retention_rewrites_stored_series_without_the_removed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let retained = StorageOptions {
        retention_ms: layout::PARTITION_MS,
        ..opts()
    };
    let late = 10 * layout::PARTITION_MS;
    {
        let s = Storage::open(dir.path(), retained.clone()).unwrap();
        // One append creates both series, so their labels share one stored value.
        s.append(vec![
            series("old", "a", [(0, 1.0)]),
            series("kept", "a", [(0, 1.0)]),
        ])
        .unwrap();
        s.append(vec![series("kept", "a", [(late, 2.0)])]).unwrap();
        s.compact(false).unwrap();
        assert_eq!(s.apply_retention().unwrap().series_removed, 1);
        s.close().unwrap();
    }
    let s = Storage::open(dir.path(), retained).unwrap();
    assert_eq!(s.num_series(), 1, "the removed series is not read back");
    assert_eq!(
        select_all(&s, "kept")[0].samples,
        vec![Sample { t: late, v: 2.0 }]
    );
}

#[test]
fn pending_chunks_of_an_older_snapshot_merge_into_a_compacted_partition() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    s.append(vec![series("x", "a", (0..300).map(|i| (i * 1000, i as f64)))])
        .unwrap();
    s.checkpoint().unwrap();
    let before = select_all(&s, "x");
    assert_eq!(
        s.inner.head.read().pending.len(),
        2,
        "two cut chunks wait in the head"
    );
    assert_eq!(s.inner.chunks.len(), 0, "and none went to sled");
    let snapshot = std::fs::read(dir.path().join(snapshot::FILE_NAME)).unwrap();

    // Compaction writes the block; a crash before the next checkpoint leaves
    // the snapshot that still holds the pending chunks.
    s.compact(true).unwrap();
    assert_eq!(s.inner.head.read().pending.len(), 0);
    s.inner.db.flush().unwrap();
    drop(s);
    std::fs::write(dir.path().join(snapshot::FILE_NAME), snapshot).unwrap();

    let s = Storage::open(dir.path(), opts()).unwrap();
    assert_eq!(select_all(&s, "x"), before);
    s.compact(true).unwrap();
    assert_eq!(
        s.inner.head.read().pending.len(),
        0,
        "merged into the block again"
    );
    assert_eq!(select_all(&s, "x"), before);
    assert_eq!(s.count_samples().unwrap().0, 300);
}

#[test]
fn new_stores_compress_samples_but_not_aux_trees_and_old_ones_keep_theirs() {
    // sled's conf ends in a binary CRC.
    let conf_of = |dir: &std::path::Path, db: &str| {
        String::from_utf8_lossy(&std::fs::read(dir.join(db).join("conf")).unwrap()).into_owned()
    };
    let conf = |dir: &std::path::Path| conf_of(dir, "sled");
    let fresh = tempfile::tempdir().unwrap();
    let s = Storage::open(fresh.path(), opts()).unwrap();
    s.aux_tree("kept").unwrap().insert("k", "v").unwrap();
    s.close().unwrap();
    drop(s);
    assert!(conf(fresh.path()).contains("use_compression: true"));
    assert!(conf(fresh.path()).contains("segment_size: 65536"));
    assert!(conf_of(fresh.path(), "aux").contains("use_compression: false"));
    assert!(conf_of(fresh.path(), "aux").contains("segment_size: 524288"));
    let s = Storage::open(fresh.path(), opts()).unwrap();
    assert_eq!(s.aux_tree("kept").unwrap().get("k").unwrap().unwrap(), "v");
    s.close().unwrap();

    // A store created with other parameters (compressed, sled's default segments) opens as it was.
    let old = tempfile::tempdir().unwrap();
    {
        let db = sled::Config::new()
            .path(old.path().join("sled"))
            .use_compression(true)
            .open()
            .unwrap();
        db.open_tree("aux/kept").unwrap().insert("k", "v").unwrap();
        db.flush().unwrap();
    }
    let s = Storage::open(old.path(), opts()).unwrap();
    assert_eq!(s.aux_tree("kept").unwrap().get("k").unwrap().unwrap(), "v");
    s.append(vec![series("x", "a", [(1, 1.0)])]).unwrap();
    s.close().unwrap();
    drop(s);
    assert!(conf(old.path()).contains("use_compression: true"));
    assert!(conf(old.path()).contains("segment_size: 524288"));
    assert!(!old.path().join("aux").exists(), "its aux trees stay in sled/");
    let s = Storage::open(old.path(), opts()).unwrap();
    assert_eq!(select_all(&s, "x")[0].samples.len(), 1);
    assert_eq!(s.aux_tree("kept").unwrap().get("k").unwrap().unwrap(), "v");
}

#[test]
fn a_dir_left_with_only_its_aux_database_opens_the_new_way() {
    // A crash after `aux/` was created and before `sled/` was.
    let dir = tempfile::tempdir().unwrap();
    sled::Config::new()
        .path(dir.path().join("aux"))
        .open()
        .unwrap()
        .flush()
        .unwrap();
    let storage = crate::test_support::retry_on_sled_lock(|| Storage::open(dir.path(), opts()));
    storage.close().unwrap();
    let conf = std::fs::read(dir.path().join("sled/conf")).unwrap();
    assert!(String::from_utf8_lossy(&conf).contains("use_compression: true"));
}

#[test]
fn a_sled_conf_without_its_parameters_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sled")).unwrap();
    std::fs::write(dir.path().join("sled/conf"), "segment_size: 65536\n").unwrap();
    let err = Storage::open(dir.path(), opts()).err().unwrap().to_string();
    assert!(err.contains("no valid use_compression"), "{err}");
}

/// `count` series of metric `name`, 100 samples each 15 s apart from `start`.
fn many_series(name: &str, count: usize, start: i64) -> Vec<SeriesSamples> {
    (0..count)
        .map(|i| {
            let job = format!("j{i:03}");
            series(
                name,
                &job,
                (0..100).map(move |k| (start + k * 15_000, (k * (i as i64 + 1)) as f64)),
            )
        })
        .collect()
}

#[test]
fn compaction_packs_each_metric_and_reads_any_subset() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    let count = pack::PACK_TARGET_SAMPLES / 100 + 10;
    s.append(many_series("a_total", count, 0)).unwrap();
    s.append(many_series("b_bytes", 3, 0)).unwrap();
    let (a, b) = (select_all(&s, "a_total"), select_all(&s, "b_bytes"));
    s.compact(true).unwrap();
    let keys: Vec<layout::PackKey> = s
        .inner
        .packs
        .iter()
        .keys()
        .map(|k| layout::decode_pack_key(&k.unwrap()).unwrap())
        .collect();
    assert_eq!(keys.len(), 3, "two packs of a_total, one of b_bytes: {keys:?}");
    assert_eq!(s.inner.chunks.len(), 0);
    assert_eq!(select_all(&s, "a_total"), a, "every series, one partition scan");
    assert_eq!(select_all(&s, "b_bytes"), b, "a few series, by their group");
    let one = s
        .select(
            &[Matcher::equal("job", "j070")],
            15_000,
            30_000,
            SelectHints::default(),
        )
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(
        one[0].samples,
        a.iter().find(|x| x.labels.get("job") == "j070").unwrap().samples[1..3]
    );
    assert_eq!(
        s.count_samples().unwrap(),
        ((count as u64 + 3) * 100, count as u64 + 3)
    );

    // Late samples reopen the partition; compaction merges them into its packs.
    s.append(vec![series("a_total", "j001", [(100 * 15_000, -1.0)])])
        .unwrap();
    s.append(vec![series("a_total", "new", [(7, 7.0)])]).unwrap();
    let a = select_all(&s, "a_total");
    s.compact(true).unwrap();
    assert_eq!(select_all(&s, "a_total"), a);
    assert_eq!(s.inner.packs.len(), 3);
    assert_eq!(s.inner.head.read().pending.len(), 0);

    // Without a head snapshot, series time ranges come back from the packs.
    s.close().unwrap();
    drop(s);
    std::fs::remove_file(dir.path().join(snapshot::FILE_NAME)).unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    assert_eq!(select_all(&s, "a_total"), a);
    assert_eq!(select_all(&s, "b_bytes"), b);
}

#[test]
fn a_series_longer_than_a_pack_spans_several() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    let n = pack::PACK_MAX_SAMPLES as i64 + 500;
    s.append(vec![series("fast", "a", (0..n).map(|i| (i * 100, i as f64)))])
        .unwrap();
    s.compact(true).unwrap();
    assert_eq!(s.inner.packs.len(), 2);
    let got = select_all(&s, "fast");
    assert_eq!(got[0].samples.len(), n as usize);
    assert!(got[0]
        .samples
        .iter()
        .zip(0..)
        .all(|(x, i)| x.t == i * 100 && x.v == i as f64));
}

#[test]
fn corrupt_packs_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    s.append(many_series("a_total", 2, 0)).unwrap();
    s.append(many_series("b_total", 2, 0)).unwrap();
    s.compact(true).unwrap();
    let (key, _) = s.inner.packs.iter().next().unwrap().unwrap();
    s.inner.packs.insert(key, &[1u8, 9, 9][..]).unwrap();
    let read = select_all(&s, "a_total").len() + select_all(&s, "b_total").len();
    assert_eq!(read, 2, "the other metric's pack still reads");
    assert_eq!(
        s.counters()
            .corrupt_chunks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn packs_that_would_pass_the_byte_limit_are_written_in_halves() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(dir.path(), opts()).unwrap();
    // Values that hardly compress: ~7 bytes a sample, so 40 series of 200
    // would make one pack of ~55 KiB.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let batch: Vec<SeriesSamples> = (0..40)
        .map(|i| {
            let samples: Vec<(i64, f64)> = (0..200)
                .map(|k| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (k * 15_000, (state >> 11) as f64 / 3.0)
                })
                .collect();
            series("noise", &format!("j{i:02}"), samples)
        })
        .collect();
    s.append(batch).unwrap();
    let before = select_all(&s, "noise");
    s.compact(true).unwrap();
    let sizes: Vec<(usize, usize)> = s
        .inner
        .packs
        .iter()
        .map(|entry| {
            let (_, v) = entry.unwrap();
            (pack::Pack::parse(&v).unwrap().members().len(), v.len())
        })
        .collect();
    assert!(sizes.len() >= 4, "{sizes:?}");
    assert!(
        sizes
            .iter()
            .all(|&(members, bytes)| members == 1 || bytes <= maintain::PACK_MAX_BYTES),
        "{sizes:?}"
    );
    assert_eq!(select_all(&s, "noise"), before);
}
