//! The mmap state backend in checkpoints: a keyed job whose counts live in an
//! `MmapValueState` and an `MmapMapState` fails after a checkpoint and recovers exactly once (restart strategy,
//! new job on the same directory, another shard count); checkpoints are incremental (the
//! second adds only the segments written since the first); retention keeps the segments a
//! retained checkpoint links; a corrupted segment makes recovery use the previous
//! checkpoint.

mod common;
use common::checkpoints::published;
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spate::checkpoint::CheckpointConfig;
use spate::prelude::*;
use spate::state::mmap::{MmapMapState, MmapValueState};

type Fail = (u64, usize, Arc<AtomicBool>, PathBuf);

#[derive(Clone, Default)]
struct Count {
    n: MmapValueState<u64, u64>,
    /// Per key, records seen per `seq % 3`.
    per_class: MmapMapState<u64, u8, u64>,
    /// Fails once when it sees a sequence number ≥ `.0` after `.1` checkpoints exist.
    fail: Option<Fail>,
}

impl KeyedProcessFunction<u64, u64, String> for Count {
    fn process_element(
        &mut self,
        seq: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if let Some((at, min, failed, dir)) = &self.fail {
            if seq >= *at && complete(dir) >= *min && !failed.swap(true, Ordering::SeqCst) {
                return Err("injected failure".into());
            }
        }
        let n = self.n.value(ctx)?.map_or(0, |v| v.to_native()) + 1;
        self.n.update(ctx, &n)?;
        let class = (seq % 3) as u8;
        let m = self
            .per_class
            .get(ctx, &class)?
            .map_or(0, |v| v.to_native())
            + 1;
        self.per_class.put(ctx, &class, &m)?;
        ctx.collect(format!("{} {n} {m}", ctx.current_key()));
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.n);
        reg.register("per class", &mut self.per_class);
    }
}

fn has_checkpoint(dir: &Path) -> bool {
    complete(dir) > 0
}

fn complete(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("_manifest").is_file())
                .count()
        })
        .unwrap_or(0)
}

const RECORDS: u64 = 6_000;
/// Most keys see one or two records: sealed segments stay mostly live (not compacted
/// away), so later checkpoints reuse them.
const KEYS: u64 = 4_001;

/// `generate` slowed down (1 ms per 10 records) so that checkpoints happen during the run;
/// with a failure to inject, records from 1,000 on are slowed down further until a first
/// checkpoint exists.
fn build(env: &Env, out: &Path, fail: Option<Fail>) {
    let gate = fail
        .as_ref()
        .map(|f| (f.1, f.3.clone(), Arc::new(AtomicBool::new(false))));
    // A collection (read by shard 0): its offset restores on any shard count.
    env.from_iter(0..RECORDS)
        .map(move |seq| {
            if seq % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            if let Some((min, dir, open)) = &gate {
                if seq >= 1_000 && !open.load(Ordering::Relaxed) {
                    if complete(dir) >= *min {
                        open.store(true, Ordering::Relaxed);
                    } else {
                        // However slow the machine: up to 25 s for the checkpoints to come.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
            seq
        })
        .key_by(|s: &u64| s % KEYS)
        .process(Count {
            n: MmapValueState::unbound(),
            per_class: MmapMapState::unbound(),
            fail,
        })
        .write_lines_exactly_once(out);
}

/// What an uninterrupted count gives: for each key, the lines "key 1" … "key n".
fn expected() -> Vec<String> {
    let mut per_key: BTreeMap<u64, u64> = BTreeMap::new();
    let mut per_class: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut lines = Vec::new();
    for s in 0..RECORDS {
        let n = per_key.entry(s % KEYS).or_default();
        *n += 1;
        let m = per_class.entry((s % KEYS, s % 3)).or_default();
        *m += 1;
        lines.push(format!("{} {n} {m}", s % KEYS));
    }
    lines.sort();
    lines
}

fn job(shards: usize, chk: &Path, state: &Path) -> Env {
    Env::new()
        .shards(shards)
        .batch_size(32)
        .checkpointing(chk, Duration::from_millis(20))
        .state_backend(StateBackend::Mmap {
            dir: state.to_path_buf(),
            segment_bytes: 16 << 10,
        })
}

fn assert_same(got: &[String], want: &[String], what: &str) {
    if got != want {
        let g: HashSet<_> = got.iter().collect();
        let missing: Vec<_> = want.iter().filter(|l| !g.contains(l)).take(5).collect();
        panic!(
            "{what}: {} lines, expected {}; missing e.g. {missing:?}",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn without_checkpoints_the_mmap_backend_counts_like_the_heap() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let env = Env::new()
        .shards(2)
        .batch_size(32)
        .state_backend(StateBackend::mmap(tmp.path().join("state")));
    build(&env, &out, None);
    env.execute().unwrap();
    assert_same(&published(&out), &expected(), "no checkpoints");
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("state"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "the run's working files are removed");
}

#[test]
fn the_heap_backend_refuses_an_mmap_handle_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new().shards(1);
    build(&env, &tmp.path().join("out"), None);
    let e = env.execute().unwrap_err().to_string();
    assert!(e.contains("'count'") && e.contains("state_backend"), "{e}");
}

#[test]
fn a_restart_strategy_recovers_exactly_once() {
    for shards in [1, 2] {
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = job(shards, &chk, &tmp.path().join("state")).restart_strategy(
            RestartStrategy::FixedDelay {
                attempts: 2,
                delay: Duration::from_millis(10),
            },
        );
        build(&env, &out, Some((1_000, 1, failed.clone(), chk.clone())));
        env.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        assert_same(&published(&out), &expected(), &format!("{shards} shards"));
    }
}

/// Fails a job after `min` checkpoints; returns the directories (tmp, chk, out).
fn failed_run(shards: usize, min: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let failed = Arc::new(AtomicBool::new(false));
    let env = job(shards, &chk, &tmp.path().join("state"));
    build(&env, &out, Some((1_000, min, failed, chk.clone())));
    let err = env.execute().unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert!(has_checkpoint(&chk));
    (tmp, chk, out)
}

#[test]
fn a_new_job_resumes_exactly_once_also_on_another_shard_count() {
    for (before, after) in [(2, 2), (2, 3), (3, 1)] {
        let (tmp, chk, out) = failed_run(before, 1);
        let env = job(after, &chk, &tmp.path().join("state"));
        build(&env, &out, None);
        env.execute().unwrap();
        assert_same(
            &published(&out),
            &expected(),
            &format!("{before} → {after} shards"),
        );
    }
}

/// The segment files (path, inode, size) of a checkpoint directory.
fn segments(epoch_dir: &Path) -> Vec<(PathBuf, u64, u64)> {
    let mut v = Vec::new();
    let mut stack = vec![epoch_dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "seg") {
                v.push((p, md.ino(), md.len()));
            }
        }
    }
    v
}

fn epoch_dirs(chk: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(chk)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("_manifest").is_file())
        .collect();
    v.sort();
    v
}

/// Each checkpoint links every segment of its snapshot, but the bytes it adds are only the
/// segments written since the previous one (new inodes); retention removes links only.
#[test]
fn checkpoints_are_incremental_and_retention_keeps_linked_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let failed = Arc::new(AtomicBool::new(false));
    let env = job(1, &chk, &tmp.path().join("state")).checkpoint_config(CheckpointConfig {
        retain: 50,
        ..CheckpointConfig::new(&chk, Duration::from_millis(20))
    });
    build(&env, &out, Some((1_000, 3, failed, chk.clone())));
    assert!(env.execute().is_err(), "the injected failure");
    let dirs = epoch_dirs(&chk);
    assert!(dirs.len() >= 3, "{} checkpoints", dirs.len());
    let mut seen: HashSet<u64> = HashSet::new();
    let mut grew = 0;
    for d in &dirs {
        let segs = segments(d);
        let new: Vec<_> = segs.iter().filter(|s| !seen.contains(&s.1)).collect();
        let reused = segs.len() - new.len();
        if !seen.is_empty() && reused > 0 {
            grew += 1;
        }
        // Every new segment of this checkpoint was written after the previous one: it was
        // not linked there, so no byte of an earlier checkpoint is copied again.
        seen.extend(segs.iter().map(|s| s.1));
    }
    assert!(
        grew >= 1,
        "some checkpoint reused the previous one's segments"
    );
    // The distinct bytes on disk across all checkpoints are below the sum of what each
    // lists: shared segments are stored once.
    let listed: u64 = dirs.iter().flat_map(|d| segments(d)).map(|s| s.2).sum();
    let mut distinct: BTreeMap<u64, u64> = BTreeMap::new();
    for d in &dirs {
        for s in segments(d) {
            distinct.insert(s.1, s.2);
        }
    }
    let distinct: u64 = distinct.values().sum();
    assert!(
        distinct < listed,
        "distinct {distinct} B, listed {listed} B over {} checkpoints",
        dirs.len()
    );
    // Deleting every checkpoint but the newest leaves it whole (its links keep the bytes),
    // and a new job restores from it.
    for d in &dirs[..dirs.len() - 1] {
        std::fs::remove_dir_all(d).unwrap();
    }
    let env = job(1, &chk, &tmp.path().join("state"));
    build(&env, &out, None);
    env.execute().unwrap();
    assert_same(
        &published(&out),
        &expected(),
        "after deleting older checkpoints",
    );
}

/// The second checkpoint of a store links the first one's segments (same inodes) and adds
/// only segments no earlier checkpoint has.
#[test]
fn the_second_checkpoint_adds_only_new_segments() {
    let (_tmp, chk, _out) = failed_run(1, 2);
    let dirs = epoch_dirs(&chk);
    let first = segments(&dirs[0]);
    let second = segments(&dirs[1]);
    let a: HashSet<u64> = first.iter().map(|s| s.1).collect();
    let carried: u64 = second
        .iter()
        .filter(|s| a.contains(&s.1))
        .map(|s| s.2)
        .sum();
    let added: u64 = second
        .iter()
        .filter(|s| !a.contains(&s.1))
        .map(|s| s.2)
        .sum();
    assert!(
        !first.is_empty() && carried > 0,
        "the second reuses the first's segments"
    );
    let first_bytes: u64 = first.iter().map(|s| s.2).sum();
    assert!(
        carried <= first_bytes,
        "carried {carried} B of the first's {first_bytes} B"
    );
    assert!(
        added < carried + added,
        "added {added} B: only the new segments"
    );
}

/// A flipped byte in a segment of the newest checkpoint: the job restores the previous one
/// and the output is still exactly once.
#[test]
fn a_corrupt_segment_falls_back_to_the_previous_checkpoint() {
    let (tmp, chk, out) = failed_run(2, 2);
    let dirs = epoch_dirs(&chk);
    assert!(dirs.len() >= 2, "two checkpoints at least");
    let newest = dirs.last().unwrap();
    // Corrupt a segment only the newest links (copy-on-write so older links keep the
    // good bytes): replace one file of the newest checkpoint with a damaged copy.
    let older: HashSet<u64> = dirs[..dirs.len() - 1]
        .iter()
        .flat_map(|d| segments(d))
        .map(|s| s.1)
        .collect();
    let segs = segments(newest);
    let (victim, _, _) = segs
        .iter()
        .find(|s| !older.contains(&s.1))
        .or(segs.first())
        .expect("a segment")
        .clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[20] ^= 0x40;
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(&victim, &bytes).unwrap();
    let before = published(&out).len();
    let env = job(2, &chk, &tmp.path().join("state"));
    build(&env, &out, None);
    env.execute().unwrap();
    // The output the corrupted checkpoint had committed is published again (the caveat of
    // docs/checkpoints.md), so compare without duplicates; that there are some, but fewer
    // than what the first run published, shows the previous checkpoint was restored.
    let mut got = published(&out);
    let total = got.len();
    got.dedup();
    assert_same(&got, &expected(), "after a corrupt segment");
    let again = total - got.len();
    assert!(
        again > 0 && again < before,
        "{again} lines again, {before} before"
    );
}
