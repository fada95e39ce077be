//! Unaligned checkpoints, end to end: a job with a union, a keyed exchange and a keyed
//! co-process, one of whose keys is slow (so exchange channels fill and barriers overtake
//! queued records), fails once after a checkpoint holding in-flight records and is
//! restored; the published output must equal a failure-free run's, which must equal a
//! naive reference. Also: the codec a crossing record type needs, and the refusal to
//! restore in-flight records on another shard count.

mod common;
use common::checkpoints::{assert_same, published};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spate::checkpoint::{CheckpointConfig, StateRegistry};
use spate::prelude::*;
use spate::state::{KeyScope, ValueState};

const RECORDS: u64 = 4_000;
const KEYS: u64 = 7;
/// The failure comes at the first record from here on, once a checkpoint holds in-flight
/// records.
const AT: u64 = 1_500;

/// The tests of this file run one at a time (each needs checkpoints to complete in time).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a complete checkpoint of `dir` holds in-flight records (a snapshot file with an
/// in-flight section).
fn has_inflight_checkpoint(dir: &Path) -> bool {
    inflight_checkpoints(dir).next().is_some()
}

/// The complete checkpoints of `dir` that hold in-flight records.
fn inflight_checkpoints(dir: &Path) -> impl Iterator<Item = PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("_manifest").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter().filter(|d| {
        std::fs::read_dir(d).into_iter().flatten().any(|f| {
            f.ok()
                .and_then(|f| std::fs::read(f.path()).ok())
                .is_some_and(|b| b.windows(15).any(|w| w == b"spate/inflight/"))
        })
    })
}

/// A failure to inject once, at the first record from `AT` on, after a checkpoint with
/// in-flight records exists.
#[derive(Clone)]
struct Fail {
    failed: Arc<AtomicBool>,
    chk: PathBuf,
    /// Wait for a checkpoint holding in-flight records (on one shard there are none: every
    /// barrier reaches every input of a merge at once).
    inflight: bool,
}

impl Fail {
    fn now(&self, seq: u64) -> bool {
        seq >= AT
            && !self.failed.load(Ordering::SeqCst)
            && if self.inflight {
                has_inflight_checkpoint(&self.chk)
            } else {
                common::checkpoints::has_checkpoint(&self.chk)
            }
            && !self.failed.swap(true, Ordering::SeqCst)
    }
}

/// Counts each side's records per key; key 0 is slow (back-pressure on its shard).
#[derive(Clone)]
struct Count {
    left: ValueState<u64, u64>,
    right: ValueState<u64, u64>,
    fail: Option<Fail>,
}

impl KeyedCoProcessFunction<u64, u64, u64, String> for Count {
    fn process_element1(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if self.fail.as_ref().is_some_and(|f| f.now(v)) {
            return Err("injected failure".into());
        }
        if *ctx.key() == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
        let n = self.left.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.collect(format!("L {} {n}", ctx.key()));
        Ok(())
    }

    fn process_element2(
        &mut self,
        _v: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        let n = self.right.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.collect(format!("R {} {n}", ctx.key()));
        Ok(())
    }

    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("left", &mut self.left);
        reg.register("right", &mut self.right);
    }
}

/// Evens and odds united, keyed, connected with every third record keyed the same way.
fn job(env: &Env, out: &Path, fail: Option<Fail>) {
    let src = env
        .from_collection((0..RECORDS).collect::<Vec<u64>>())
        .uid("numbers")
        .map(|s| {
            // Slowed down, so that the job lasts several checkpoints.
            if s % 4 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            s
        });
    let evens = src.filter(|s| s % 2 == 0);
    let odds = src.filter(|s| s % 2 == 1);
    let left = evens.union(&[odds]).key_by(|s: &u64| s % KEYS);
    let right = src.filter(|s| s % 3 == 0).key_by(|s: &u64| s % KEYS);
    left.connect(&right)
        .process(Count {
            left: ValueState::new(),
            right: ValueState::new(),
            fail,
        })
        .uid("count")
        .write_lines_exactly_once(out);
}

/// Every line the job must publish.
fn reference() -> Vec<String> {
    let mut want = Vec::new();
    for k in 0..KEYS {
        let l = (0..RECORDS).filter(|s| s % KEYS == k).count();
        let r = (0..RECORDS).filter(|s| s % KEYS == k && s % 3 == 0).count();
        want.extend((1..=l).map(|n| format!("L {k} {n}")));
        want.extend((1..=r).map(|n| format!("R {k} {n}")));
    }
    want.sort();
    want
}

fn unaligned(shards: usize, chk: &Path) -> Env {
    Env::new()
        .shards(shards)
        .batch_size(16)
        .channel_capacity(4)
        .checkpoint_config(CheckpointConfig {
            unaligned: true,
            retain: 1_000,
            ..CheckpointConfig::new(chk, Duration::from_millis(15))
        })
        .state_type::<u64>()
}

fn fail_in(chk: &Path, shards: usize) -> Fail {
    Fail {
        failed: Arc::new(AtomicBool::new(false)),
        chk: chk.to_path_buf(),
        inflight: shards > 1,
    }
}

#[test]
fn a_job_with_unaligned_checkpoints_recovers_exactly_once_on_one_to_three_shards() {
    let _serial = serial();
    let want = reference();
    for shards in 1..=3 {
        let tmp = tempfile::tempdir().unwrap();
        let env = Env::new().shards(shards).batch_size(16);
        job(&env, &tmp.path().join("plain"), None);
        env.execute().unwrap();
        assert_same(
            &published(&tmp.path().join("plain")),
            &want,
            "uninterrupted",
        );

        // Whether a checkpoint holds in-flight records before the input ends depends on the
        // machine's timing: a run without one (no failure injected) is tried again.
        let mut failed = false;
        for attempt in 0..ATTEMPTS {
            let (chk, out) = (
                tmp.path().join(format!("chk{attempt}")),
                tmp.path().join(format!("out{attempt}")),
            );
            let fail = fail_in(&chk, shards);
            let env = unaligned(shards, &chk).restart_strategy(RestartStrategy::FixedDelay {
                attempts: 2,
                delay: Duration::from_millis(10),
            });
            job(&env, &out, Some(fail.clone()));
            env.execute().unwrap();
            assert_same(
                &published(&out),
                &want,
                &format!("{shards} shards, restarted"),
            );
            failed = fail.failed.load(Ordering::SeqCst);
            if failed {
                break;
            }
        }
        assert!(
            failed,
            "{shards} shards: no checkpoint (with in-flight records) before the end, {ATTEMPTS} times"
        );
    }
}

/// Runs of a test whose failure (after a checkpoint with in-flight records) did not come.
const ATTEMPTS: usize = 4;

/// A checkpoint directory of a 2-shard job that failed after a checkpoint holding in-flight
/// records (tried again when the input ended first), with the job's output directory.
fn failed_with_inflight(tmp: &Path) -> (PathBuf, PathBuf) {
    for attempt in 0..ATTEMPTS {
        let (chk, out) = (
            tmp.join(format!("chk{attempt}")),
            tmp.join(format!("out{attempt}")),
        );
        let env = unaligned(2, &chk);
        job(&env, &out, Some(fail_in(&chk, 2)));
        if let Err(err) = env.execute() {
            assert!(err.to_string().contains("injected failure"), "{err}");
            return (chk, out);
        }
    }
    panic!("no checkpoint with in-flight records before the end, {ATTEMPTS} times");
}

#[test]
fn a_new_job_resumes_from_an_unaligned_checkpoint_and_refuses_another_shard_count() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = failed_with_inflight(tmp.path());
    let with_inflight = inflight_checkpoints(&chk).last().unwrap();

    // On 3 shards: refused, naming the reason and the way out.
    let env = unaligned(3, &tmp.path().join("chk3"))
        .restore_from(RestoreFrom::Path(with_inflight.clone()));
    job(&env, &tmp.path().join("out3"), None);
    let err = env.execute().unwrap_err().to_string();
    assert!(
        err.contains("in-flight") && err.contains("savepoint"),
        "{err}"
    );

    // On 2 shards, from that very checkpoint: exactly once.
    let env = unaligned(2, &chk).restore_from(RestoreFrom::Path(with_inflight));
    job(&env, &out, None);
    env.execute().unwrap();
    assert_same(&published(&out), &reference(), "resumed");
}

#[test]
fn a_crossing_record_type_without_a_codec_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new()
        .shards(2)
        .checkpoint_config(CheckpointConfig {
            unaligned: true,
            ..CheckpointConfig::new(tmp.path().join("chk"), Duration::from_millis(50))
        })
        .state_type::<u64>();
    let _out = env
        .from_collection(vec![1i32, 2, 3])
        .rebalance()
        .map(|v| v as u64)
        .collect();
    let err = env.execute().unwrap_err().to_string();
    assert!(err.contains("i32") && err.contains("state_type"), "{err}");
    // Aligned, the same job needs no codec for its records.
    let env = Env::new()
        .shards(2)
        .checkpointing(tmp.path().join("chk2"), Duration::from_millis(50))
        .state_type::<u64>();
    let out = env
        .from_collection(vec![1i32, 2, 3])
        .rebalance()
        .map(|v| v as u64)
        .collect();
    env.execute().unwrap();
    assert_eq!(out.sorted(), vec![1, 2, 3]);
}

#[test]
fn a_corrupted_in_flight_file_falls_back_to_an_older_checkpoint() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = failed_with_inflight(tmp.path());
    // Flip a byte in the middle of every snapshot file holding in-flight records.
    let mut flipped = 0;
    for d in inflight_checkpoints(&chk).collect::<Vec<_>>() {
        for f in std::fs::read_dir(&d).unwrap().map(|f| f.unwrap().path()) {
            let mut b = std::fs::read(&f).unwrap();
            if b.windows(15).any(|w| w == b"spate/inflight/") {
                let mid = b.len() / 2;
                b[mid] ^= 0x55;
                std::fs::write(&f, b).unwrap();
                flipped += 1;
            }
        }
    }
    assert!(flipped > 0);
    // The job starts again from an older checkpoint (or from the beginning): nothing is
    // lost. (Output published for the newer, now unreadable, epochs is published again, as
    // docs/checkpoints.md says of any checkpoint found corrupt after it committed.)
    let env = unaligned(2, &chk);
    job(&env, &out, None);
    env.execute().unwrap();
    let mut got = published(&out);
    got.dedup();
    assert_same(
        &got,
        &reference(),
        "resumed after the fall-back (distinct lines)",
    );
}

#[test]
fn a_savepoint_of_an_unaligned_job_is_aligned_and_rescales() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let (out, sp) = (tmp.path().join("out"), tmp.path().join("sp"));
    // Checkpoints only on request: the savepoint is the one restore point.
    let env = unaligned(2, &tmp.path().join("chk")).checkpoint_config(CheckpointConfig {
        unaligned: true,
        ..CheckpointConfig::new(tmp.path().join("chk"), Duration::from_secs(3600))
    });
    job(&env, &out, None);
    let handle = env.start().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // back-pressured by then
    let sp = handle.savepoint(&sp).unwrap();
    handle.cancel().ok();
    let inflight = std::fs::read_dir(&sp)
        .unwrap()
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .any(|b| b.windows(15).any(|w| w == b"spate/inflight/"));
    assert!(!inflight, "a savepoint holds no in-flight records");
    let env = unaligned(3, &tmp.path().join("chk3")).restore_from(RestoreFrom::Path(sp));
    job(&env, &out, None);
    env.execute().unwrap();
    assert_same(&published(&out), &reference(), "resumed on 3 shards");
}

/// Passes both inputs through: a stateless co-process function, declared so (its in-flight
/// records go into a snapshot file of its own).
#[derive(Clone)]
struct Pass;

impl CoProcessFunction<u64, u64, u64> for Pass {
    fn process_element1(
        &mut self,
        v: u64,
        ctx: &mut ProcessContext<'_, u64>,
    ) -> Result<(), UserError> {
        ctx.collect(v);
        Ok(())
    }
    fn process_element2(
        &mut self,
        v: u64,
        ctx: &mut ProcessContext<'_, u64>,
    ) -> Result<(), UserError> {
        ctx.collect(v);
        Ok(())
    }
    fn state(&mut self, _reg: &mut StateRegistry<'_>) {}
}

/// Counts records per key; key 0 is slow.
#[derive(Clone)]
struct Tally {
    n: ValueState<u64, u64>,
    fail: Option<Fail>,
}

impl KeyedProcessFunction<u64, u64, String> for Tally {
    fn process_element(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if self.fail.as_ref().is_some_and(|f| f.now(v)) {
            return Err("injected failure".into());
        }
        if *ctx.key() == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
        let n = self.n.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.collect(format!("L {} {n}", ctx.key()));
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("n", &mut self.n);
    }
}

/// Evens and odds each rebalanced, through a stateless co-process, counted per key.
fn co_job(env: &Env, out: &Path, fail: Option<Fail>) {
    let src = env
        .from_collection((0..RECORDS).collect::<Vec<u64>>())
        .uid("numbers")
        .map(|s| {
            if s % 4 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            s
        });
    let evens = src.filter(|s| s % 2 == 0).rebalance();
    let odds = src.filter(|s| s % 2 == 1).rebalance();
    evens
        .connect(&odds)
        .process(Pass)
        .key_by(|s: &u64| s % KEYS)
        .process(Tally {
            n: ValueState::new(),
            fail,
        })
        .uid("tally")
        .write_lines_exactly_once(out);
}

#[test]
fn a_stateless_co_process_replays_its_in_flight_records() {
    let _serial = serial();
    // The left-side lines of the reference: every record counted once per key.
    let want: Vec<String> = reference()
        .into_iter()
        .filter(|l| l.starts_with('L'))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut failed = false;
    for attempt in 0..ATTEMPTS {
        let (chk, out) = (
            tmp.path().join(format!("chk{attempt}")),
            tmp.path().join(format!("out{attempt}")),
        );
        let fail = fail_in(&chk, 2);
        let env = unaligned(2, &chk).restart_strategy(RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(10),
        });
        co_job(&env, &out, Some(fail.clone()));
        env.execute().unwrap();
        assert_same(&published(&out), &want, "restarted");
        failed = fail.failed.load(Ordering::SeqCst);
        if failed {
            break;
        }
    }
    assert!(
        failed,
        "no checkpoint with in-flight records, {ATTEMPTS} times"
    );
}
