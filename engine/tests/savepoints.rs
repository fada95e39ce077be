//! Savepoints: taken from a running job with `JobHandle::savepoint`, restored on another
//! shard count with operators matched by uid; generator splits reassigned; the manifest's
//! format version checked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use spate::io::Collected;
use spate::prelude::*;
use spate::state::ValueState;

const RECORDS: u64 = 2_000;
const KEYS: u64 = 7;
/// Checkpoints only when asked (savepoints).
const NEVER: Duration = Duration::from_secs(3_600);

/// Counts records per key; emits `(key, seq, count so far)`.
#[derive(Clone, Default)]
struct Count {
    n: ValueState<u64, u64>,
}

impl KeyedProcessFunction<u64, u64, (u64, u64, u64)> for Count {
    fn process_element(
        &mut self,
        seq: u64,
        ctx: &mut KeyedContext<'_, u64, (u64, u64, u64)>,
    ) -> Result<(), UserError> {
        let n = self.n.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.collect((seq % KEYS, seq, n));
        Ok(())
    }

    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.n);
    }
}

/// What the first run's generator does: counts the records it made, and from `RECORDS / 3`
/// on sleeps 1 ms per record, so that the savepoint is taken in the middle of the input.
#[derive(Clone)]
struct Slow(Arc<AtomicU64>);

/// A generator (uid `src-NAME`) → key_by → `Count` (uid `count-NAME`) → collect.
fn pipeline(
    env: &Env,
    name: &str,
    count_uid: &str,
    slow: Option<Slow>,
) -> Collected<(u64, u64, u64)> {
    env.generate(Some(RECORDS), move |seq| {
        if let Some(Slow(made)) = &slow {
            made.fetch_add(1, Ordering::Relaxed);
            if seq >= RECORDS / 3 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        seq
    })
    .uid(&format!("src-{name}"))
    .key_by(|s: &u64| *s % KEYS)
    .process(Count::default())
    .uid(count_uid)
    .collect()
}

/// Runs `build` on `n` shards, takes a savepoint once a quarter of the input was made, and
/// cancels the job; returns the savepoint's directory.
fn savepoint_of(
    tmp: &Path,
    n: usize,
    build: impl FnOnce(&Env, Slow) -> Vec<Collected<(u64, u64, u64)>>,
) -> PathBuf {
    let made = Arc::new(AtomicU64::new(0));
    let env = Env::new()
        .shards(n)
        .batch_size(16)
        .checkpointing(tmp.join("chk1"), NEVER);
    let _outs = build(&env, Slow(made.clone()));
    let job = env.start().unwrap();
    while made.load(Ordering::Relaxed) < RECORDS / 4 && !job.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let sp = job.savepoint(tmp.join("sp")).unwrap();
    let _ = job.cancel();
    sp
}

/// A restored job on `m` shards from savepoint `sp`.
fn restored_env(tmp: &Path, m: usize, sp: &Path) -> Env {
    Env::new()
        .shards(m)
        .batch_size(16)
        .checkpointing(tmp.join("chk2"), NEVER)
        .restore_from(RestoreFrom::Path(sp.to_path_buf()))
}

/// Checks the restored run's output against an uninterrupted run's: no record twice, each
/// old split (`old_shards` of them) resumed where it was (its records after the savepoint
/// form a tail of its sequence), and every key's count continues from exactly the number
/// of its records before the savepoint, ending at its total. With `fresh_state` the counts
/// restart from 0 instead (state not restored).
fn check(out: &[(u64, u64, u64)], old_shards: u64, fresh_state: bool, what: &str) {
    let splits: Vec<Vec<u64>> = (0..old_shards)
        .map(|r| (r..RECORDS).step_by(old_shards as usize).collect())
        .collect();
    check_splits(out, &splits, fresh_state, what)
}

/// As [`check`], the old splits given as the records of each, in order.
fn check_splits(out: &[(u64, u64, u64)], splits: &[Vec<u64>], fresh_state: bool, what: &str) {
    // The savepoint came after a quarter of the input was made: it holds offsets and state.
    assert!(
        out.len() as u64 <= RECORDS - RECORDS / 4,
        "{what}: {} records after the savepoint",
        out.len()
    );
    let seqs: BTreeSet<u64> = out.iter().map(|r| r.1).collect();
    assert_eq!(seqs.len(), out.len(), "{what}: a record emitted twice");
    assert!(seqs.iter().all(|s| *s < RECORDS), "{what}: unknown record");
    for (r, mine) in splits.iter().enumerate() {
        let first = mine
            .iter()
            .position(|s| seqs.contains(s))
            .unwrap_or(mine.len());
        assert!(
            mine[first..].iter().all(|s| seqs.contains(s)),
            "{what}: split {r} lost records after its offset"
        );
    }
    for k in 0..KEYS {
        let before = (0..RECORDS)
            .filter(|s| s % KEYS == k && !seqs.contains(s))
            .count() as u64;
        let mut counts: Vec<u64> = out.iter().filter(|r| r.0 == k).map(|r| r.2).collect();
        counts.sort_unstable();
        let from = if fresh_state { 0 } else { before };
        let expected: Vec<u64> = (from + 1..=from + counts.len() as u64).collect();
        assert_eq!(counts, expected, "{what}: key {k}");
        if !fresh_state {
            let total = (0..RECORDS).filter(|s| s % KEYS == k).count() as u64;
            assert_eq!(
                counts.last().copied().unwrap_or(before),
                total,
                "{what}: key {k} total"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// A savepoint taken on N shards restores on M: keyed state by key group, the
    /// generator's N splits reassigned round robin; the outcome is an uninterrupted run's.
    #[test]
    fn a_savepoint_on_n_shards_restores_on_m(n in 1usize..=4, m in 1usize..=4) {
        let tmp = tempfile::tempdir().unwrap();
        let sp = savepoint_of(tmp.path(), n, |env, slow| {
            vec![pipeline(env, "a", "count-a", Some(slow))]
        });
        let env = restored_env(tmp.path(), m, &sp);
        let out = pipeline(&env, "a", "count-a", None);
        env.execute().unwrap();
        check(&out.take(), n as u64, false, &format!("{n} → {m} shards"));
    }
}

#[test]
fn the_savepoint_is_marked_and_kept_out_of_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let sp = savepoint_of(tmp.path(), 2, |env, slow| {
        vec![pipeline(env, "a", "count-a", Some(slow))]
    });
    let manifest = std::fs::read_to_string(sp.join("_manifest")).unwrap();
    assert!(
        manifest.starts_with("spate-manifest 2\nkind savepoint\n"),
        "{manifest}"
    );
    assert!(
        manifest.contains(" count-a "),
        "operators by uid: {manifest}"
    );
    // Asking again into the same directory is refused rather than overwriting it.
    let env = Env::new()
        .shards(1)
        .checkpointing(tmp.path().join("chk3"), NEVER);
    let _o = pipeline(&env, "a", "count-a", None);
    let job = env.start().unwrap();
    let e = job.savepoint(&sp).unwrap_err().to_string();
    assert!(e.contains("already holds a savepoint"), "{e}");
    let _ = job.cancel();
}

/// Operators are matched by uid, not position: declaring the two pipelines in the other
/// order restores each from its own state and offsets.
#[test]
fn a_reordered_graph_restores_by_uid() {
    let tmp = tempfile::tempdir().unwrap();
    let sp = savepoint_of(tmp.path(), 2, |env, slow| {
        vec![
            pipeline(env, "a", "count-a", Some(slow.clone())),
            pipeline(env, "b", "count-b", Some(slow)),
        ]
    });
    let env = restored_env(tmp.path(), 3, &sp);
    let b = pipeline(&env, "b", "count-b", None);
    let a = pipeline(&env, "a", "count-a", None);
    env.execute().unwrap();
    check(&a.take(), 2, false, "pipeline a, declared second");
    check(&b.take(), 2, false, "pipeline b, declared first");
}

/// State of a uid the new job lacks fails the restore, naming it, unless
/// `allow_non_restored_state`; then the renamed operator starts empty.
#[test]
fn a_missing_uid_fails_unless_non_restored_state_is_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let sp = savepoint_of(tmp.path(), 2, |env, slow| {
        vec![pipeline(env, "a", "count-a", Some(slow))]
    });
    let env = restored_env(tmp.path(), 2, &sp);
    let _out = pipeline(&env, "a", "renamed", None);
    let e = env.execute().unwrap_err().to_string();
    assert!(e.contains("'count-a'"), "{e}");
    assert!(e.contains("allow_non_restored_state"), "{e}");

    let env = restored_env(tmp.path(), 2, &sp).allow_non_restored_state(true);
    let out = pipeline(&env, "a", "renamed", None);
    env.execute().unwrap();
    // The source (uid unchanged) resumed at its offsets; the counter started empty.
    check(&out.take(), 2, true, "renamed counter");
}

#[test]
fn an_unknown_savepoint_format_version_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let sp = savepoint_of(tmp.path(), 1, |env, slow| {
        vec![pipeline(env, "a", "count-a", Some(slow))]
    });
    let p = sp.join("_manifest");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replacen("spate-manifest 2", "spate-manifest 99", 1),
    )
    .unwrap();
    let env = restored_env(tmp.path(), 2, &sp);
    let _out = pipeline(&env, "a", "count-a", None);
    let e = env.execute().unwrap_err().to_string();
    assert!(e.contains("format version 99"), "{e}");
    assert!(e.contains("reads version 2"), "{e}");
}

#[test]
fn a_savepoint_needs_checkpointing() {
    let env = Env::new().shards(1);
    let _o = env.generate(None, |i| i).filter(|_| false).collect();
    let job = env.start().unwrap();
    let e = job
        .savepoint(std::env::temp_dir().join("never"))
        .unwrap_err();
    assert!(e.to_string().contains("need checkpointing"), "{e}");
    let _ = job.cancel();
}

/// The lines `0`, `1`, … of a file, each line numbered, through a slow map in the first run.
fn file_pipeline(env: &Env, path: &Path, slow: Option<Slow>) -> Collected<(u64, u64, u64)> {
    env.read_lines_numbered(path)
        .uid("src-file")
        .map(move |(no, line)| {
            let seq: u64 = line.parse().expect("a number");
            assert_eq!(no, seq + 1, "line number after a restore");
            if let Some(Slow(made)) = &slow {
                made.fetch_add(1, Ordering::Relaxed);
                if seq >= RECORDS / 3 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            seq
        })
        .uid("parse")
        .key_by(|s: &u64| *s % KEYS)
        .process(Count::default())
        .uid("count-file")
        .collect()
}

/// A file source's byte-range splits are reassigned too: N → M for a few pairs.
#[test]
fn a_file_source_restores_on_another_shard_count() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("in.txt");
    let text: String = (0..RECORDS).map(|i| format!("{i}\n")).collect();
    std::fs::write(&path, &text).unwrap();
    // Which split (of n) each line belongs to: the one whose byte range holds its start.
    let splits_of = |n: u64| -> Vec<Vec<u64>> {
        let len = text.len() as u64;
        let mut v = vec![Vec::new(); n as usize];
        let mut start = 0u64;
        for i in 0..RECORDS {
            let s = (0..n).find(|s| start < len * (s + 1) / n).unwrap();
            v[s as usize].push(i);
            start += format!("{i}\n").len() as u64;
        }
        v
    };
    for (n, m) in [(3, 2), (2, 4), (1, 3)] {
        let dir = tmp.path().join(format!("{n}-{m}"));
        let sp = savepoint_of(&dir, n, |env, slow| {
            vec![file_pipeline(env, &path, Some(slow))]
        });
        let env = restored_env(&dir, m, &sp);
        let out = file_pipeline(&env, &path, None);
        env.execute().unwrap();
        check_splits(
            &out.take(),
            &splits_of(n as u64),
            false,
            &format!("file {n} → {m}"),
        );
    }
}

/// A savepoint asked for as the job starts (before its shards are wired) completes: the
/// sources inject every epoch triggered in this run.
#[test]
fn a_savepoint_asked_for_at_start_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new()
        .shards(2)
        .checkpointing(tmp.path().join("chk"), NEVER);
    let _o = env
        .generate(None, |i| i)
        .uid("n")
        .filter(|_| false)
        .collect();
    let job = env.start().unwrap();
    let sp = job.savepoint(tmp.path().join("sp")).unwrap();
    assert!(sp.join("_manifest").is_file());
    let _ = job.cancel();
}

/// Readings `(split, time)`: split `i` of 2 sends times `0..SKEWED` once `go` is set (idle
/// before), split 0 a whole batch per poll, split 1 one reading per poll, so that read in
/// turn by one shard, split 0's event time runs ahead of split 1's.
#[derive(Clone)]
struct Skewed(Arc<std::sync::atomic::AtomicBool>);

const SKEWED: u64 = 400;

struct SkewedSplit {
    split: u64,
    next: u64,
    go: Arc<std::sync::atomic::AtomicBool>,
}

impl spate::io::SourceSplit<(u64, i64)> for SkewedSplit {
    fn poll(
        &mut self,
        out: &mut spate::io::SourceOutput<'_, (u64, i64)>,
    ) -> Result<spate::io::SourceStatus, SpateError> {
        use spate::io::SourceStatus;
        if !self.go.load(Ordering::SeqCst) {
            return Ok(SourceStatus::Idle);
        }
        let n = if self.split == 0 { out.remaining() } else { 1 };
        for _ in 0..n {
            if self.next == SKEWED {
                break;
            }
            out.emit((self.split, self.next as i64));
            self.next += 1;
        }
        Ok(if self.next == SKEWED {
            SourceStatus::Done
        } else {
            SourceStatus::More
        })
    }
    fn offset(&self) -> Option<u64> {
        Some(self.next)
    }
    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        self.next = offset;
        Ok(())
    }
}

impl spate::io::Source<(u64, i64)> for Skewed {
    fn split(
        &mut self,
        shard: usize,
        _shards: usize,
    ) -> Result<Box<dyn spate::io::SourceSplit<(u64, i64)>>, SpateError> {
        Ok(Box::new(SkewedSplit {
            split: shard as u64,
            next: 0,
            go: self.0.clone(),
        }))
    }
    fn splits_are_stable(&self) -> bool {
        true
    }
}

/// `Skewed` → per-split watermarks (`from_source`) or an assigner after the source →
/// tumbling windows of 10 ms counting each split's readings → collect.
fn skewed_pipeline(
    env: &Env,
    go: &Arc<std::sync::atomic::AtomicBool>,
    per_split: bool,
) -> Collected<u64> {
    let strategy = WatermarkStrategy::for_monotonous_timestamps()
        .with_timestamp_assigner(|r: &(u64, i64)| r.1)
        .punctuated();
    let readings = if per_split {
        env.from_source("skewed", Skewed(go.clone()), strategy)
    } else {
        env.add_source("skewed", Skewed(go.clone()))
            .assign_timestamps_and_watermarks(strategy)
    };
    readings
        .uid("skewed")
        .key_by(|r: &(u64, i64)| r.0)
        .window(spate::window::TumblingWindows::of(10))
        .aggregate(spate::window::Count)
        .uid("skewed-counts")
        .collect()
}

/// The window counts of a job started on 2 shards, savepointed before any reading, and
/// restored on 1 shard, which then reads both splits in turn.
fn skewed_after_rescale(per_split: bool) -> Vec<u64> {
    let tmp = tempfile::tempdir().unwrap();
    let go = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let env = Env::new()
        .shards(2)
        .batch_size(16)
        .checkpointing(tmp.path().join("chk1"), NEVER);
    let _ = skewed_pipeline(&env, &go, per_split);
    let job = env.start().unwrap();
    let sp = job.savepoint(tmp.path().join("sp")).unwrap();
    let _ = job.cancel();
    go.store(true, Ordering::SeqCst);
    let env = restored_env(tmp.path(), 1, &sp);
    let out = skewed_pipeline(&env, &go, per_split);
    env.execute().unwrap();
    out.sorted()
}

/// After a rescale one shard reads both splits: with per-split watermarks event time waits
/// for the slow split and every window counts all its readings; an assigner after the
/// source follows the fast split, and the slow one's readings come late and are dropped
/// (Flink's behaviour too: what `from_source` is for).
#[test]
fn per_split_watermarks_keep_a_slow_split_on_time_after_a_rescale() {
    let all = vec![10u64; 2 * SKEWED as usize / 10];
    assert_eq!(skewed_after_rescale(true), all);
    let mixed = skewed_after_rescale(false);
    assert!(
        mixed.iter().sum::<u64>() < 2 * SKEWED,
        "an assigner after the source was expected to drop late readings: {mixed:?}"
    );
}
