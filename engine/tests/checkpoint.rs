//! Checkpoints end to end: a keyed job with state and event-time timers, writing through the
//! exactly-once file sink, fails after a checkpoint and is restored (in-process by a restart
//! strategy, or by a new job on the same directory); its published output must equal a
//! failure-free run's, line for line.

mod common;
use common::checkpoints::{assert_same, has_checkpoint, published};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spate::prelude::*;
use spate::state::ValueState;

/// Counts records per key and registers an event-time timer at the end of the record's
/// 100 ms bucket, which reports the key and the bucket (deterministic whatever the order
/// in which the shards' records interleave).
#[derive(Clone)]
struct CountWithTimers {
    count: ValueState<u64, u64>,
    /// Fails once (if set) when it sees this sequence number after a checkpoint exists.
    fail_at: Option<(u64, Arc<AtomicBool>, std::path::PathBuf)>,
}

impl KeyedProcessFunction<u64, (u64, i64), String> for CountWithTimers {
    fn process_element(
        &mut self,
        (seq, ts): (u64, i64),
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if let Some((at, failed, dir)) = &self.fail_at {
            if seq >= *at && has_checkpoint(dir) && !failed.swap(true, Ordering::SeqCst) {
                return Err("injected failure".into());
            }
        }
        let n = self.count.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.register_event_time_timer(ts - ts % 100 + 99);
        ctx.collect(format!("rec {} {n}", ctx.current_key()));
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        let seen = self.count.value(ctx).is_some();
        ctx.collect(format!("timer {} {ts} {seen}", ctx.current_key()));
        Ok(())
    }

    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.count);
    }
}

const RECORDS: u64 = 12_000;

fn build(env: &Env, out: &Path, fail_at: Option<(u64, Arc<AtomicBool>, std::path::PathBuf)>) {
    // With a failure to inject, records from 1,000 on are slowed down (1 ms each) until a
    // checkpoint exists, however slow the disk: the failure then comes after a checkpoint.
    let gate = fail_at
        .as_ref()
        .map(|(_, _, dir)| (dir.clone(), Arc::new(AtomicBool::new(false))));
    env.generate(Some(RECORDS), move |seq| {
        if seq % 10 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some((dir, open)) = &gate {
            if seq >= 1_000 && !open.load(Ordering::Relaxed) {
                if has_checkpoint(dir) {
                    open.store(true, Ordering::Relaxed);
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        (seq, seq as i64)
    })
    .assign_timestamps_and_watermarks(
        WatermarkStrategy::for_bounded_out_of_orderness(10)
            .with_timestamp_assigner(|r: &(u64, i64)| r.1),
    )
    .key_by(|r: &(u64, i64)| r.0 % 13)
    .process(CountWithTimers {
        count: ValueState::new(),
        fail_at,
    })
    .write_lines_exactly_once(out);
}

fn reference(shards: usize) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new().shards(shards).batch_size(64);
    build(&env, &tmp.path().join("out"), None);
    env.execute().unwrap();
    published(&tmp.path().join("out"))
}

#[test]
fn the_reference_output_is_what_a_plain_count_gives() {
    let lines = reference(2);
    let recs = lines.iter().filter(|l| l.starts_with("rec ")).count() as u64;
    assert_eq!(recs, RECORDS);
    // Per key, the final count equals the number of its records.
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.starts_with("rec ")) {
        let v: Vec<u64> = l[4..].split(' ').map(|x| x.parse().unwrap()).collect();
        let e = last.entry(v[0]).or_default();
        *e = (*e).max(v[1]);
    }
    for (k, n) in last {
        assert_eq!(n, (0..RECORDS).filter(|s| s % 13 == k).count() as u64);
    }
    assert!(lines.iter().any(|l| l.starts_with("timer ")));
}

#[test]
fn a_restart_strategy_recovers_exactly_once() {
    for shards in [1, 2] {
        restart_recovers(shards, None);
    }
}

/// The heap handles' copy-on-write snapshots, one key a step (a snapshot then spans 13
/// batches, most keys copied by the data path before their next change), and whole
/// snapshots at the barrier (step 0), on 1–3 shards.
#[test]
fn snapshots_in_steps_and_whole_ones_recover_exactly_once() {
    for shards in 1..=3 {
        restart_recovers(shards, Some(1));
    }
    restart_recovers(2, Some(0));
}

/// Batches of 64, checkpoints every 20 ms into `chk`, two restarts allowed; `step`: the
/// entries per snapshot step (`None`: the default).
fn restarting(shards: usize, chk: &Path, step: Option<usize>) -> Env {
    let env = Env::new()
        .shards(shards)
        .batch_size(64)
        .checkpointing(chk, Duration::from_millis(20))
        .restart_strategy(RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(10),
        });
    match step {
        Some(n) => env.snapshot_step(n),
        None => env,
    }
}

/// The job fails once after a checkpoint; a restart strategy brings it back; `step`: the
/// entries per snapshot step (`None`: the default).
fn restart_recovers(shards: usize, step: Option<usize>) {
    let expected = reference(shards);
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let failed = Arc::new(AtomicBool::new(false));
    let env = restarting(shards, &chk, step);
    build(&env, &out, Some((1_000, failed.clone(), chk.clone())));
    env.execute().unwrap();
    assert!(failed.load(Ordering::SeqCst), "the failure was injected");
    assert_same(
        &published(&out),
        &expected,
        &format!("{shards} shards, step {step:?}"),
    );
}

#[test]
fn a_new_job_on_the_same_directory_resumes_exactly_once() {
    let expected = reference(2);
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let failed = Arc::new(AtomicBool::new(false));
    let env = Env::new()
        .shards(2)
        .batch_size(64)
        .checkpointing(&chk, Duration::from_millis(20));
    build(&env, &out, Some((1_000, failed.clone(), chk.clone())));
    let err = env.execute().unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert!(has_checkpoint(&chk));
    // A second job, as a restarted process would build it.
    let env = Env::new()
        .shards(2)
        .batch_size(64)
        .checkpointing(&chk, Duration::from_millis(20));
    build(&env, &out, None);
    let r = env.execute().unwrap();
    assert_same(&published(&out), &expected, "resumed");
    // The job reports the checkpoints it completed: epochs rising, each with its files.
    assert!(
        !r.checkpoints.is_empty(),
        "checkpoints every 20 ms of a ~1 s job"
    );
    assert!(r.checkpoints.windows(2).all(|w| w[0].epoch < w[1].epoch));
    assert!(r.checkpoints.iter().all(|c| c.bytes > 0));
    // A third start finds the final checkpoint: nothing is replayed or duplicated.
    let env = Env::new()
        .shards(2)
        .checkpointing(&chk, Duration::from_millis(20));
    build(&env, &out, None);
    env.execute().unwrap();
    assert_same(&published(&out), &expected, "started again after the end");
}

#[derive(Clone)]
struct Undeclared(ValueState<u64, u64>);
impl KeyedProcessFunction<u64, u64, u64> for Undeclared {
    fn process_element(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, u64>,
    ) -> Result<(), UserError> {
        self.0.update(ctx, v);
        ctx.collect(v);
        Ok(())
    }
}

#[test]
fn an_operator_that_cannot_snapshot_fails_the_job_at_start_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new()
        .shards(1)
        .checkpointing(tmp.path(), Duration::from_millis(20));
    env.from_iter(0..10u64)
        .key_by(|v: &u64| *v)
        .process(Undeclared(ValueState::new()))
        .collect();
    let e = env.execute().unwrap_err().to_string();
    assert!(e.contains("keyed_process") && e.contains("`state`"), "{e}");

    let env = Env::new()
        .shards(1)
        .checkpointing(tmp.path(), Duration::from_millis(20));
    env.from_iter(0..10u64)
        .key_by(|v: &u64| *v % 2)
        .sum(|v| v)
        .collect();
    let e = env.execute().unwrap_err().to_string();
    assert!(e.contains("cannot take part"), "{e}");
}

/// A checkpoint whose files cannot be written fails alone: the job goes on, later
/// checkpoints complete, and the output is still exactly once.
#[test]
fn a_failing_checkpoint_write_fails_that_checkpoint_only() {
    let expected = reference(2);
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    std::fs::create_dir_all(&chk).unwrap();
    // A plain file where epoch 1's directory must go: every shard's write of epoch 1 fails.
    std::fs::write(chk.join("chk-0000000001"), "in the way").unwrap();
    let failed = Arc::new(AtomicBool::new(false));
    let env = Env::new()
        .shards(2)
        .batch_size(64)
        .checkpointing(&chk, Duration::from_millis(20))
        .restart_strategy(RestartStrategy::FixedDelay {
            attempts: 1,
            delay: Duration::from_millis(10),
        });
    // The injected failure waits for a complete checkpoint, which must be a later epoch.
    build(&env, &out, Some((1_000, failed.clone(), chk.clone())));
    let r = env.execute().unwrap();
    assert!(
        failed.load(Ordering::SeqCst),
        "a later checkpoint completed"
    );
    assert!(
        r.checkpoints.iter().all(|c| c.epoch != 1),
        "epoch 1 failed, so it is not reported: {:?}",
        r.checkpoints
    );
    assert!(
        chk.join("chk-0000000001").is_file(),
        "epoch 1 never happened"
    );
    assert_same(&published(&out), &expected, "after a failed checkpoint");
}

/// Counts the records of each side per key (`ListState` of side tags and a `ValueState`
/// sum), with an event-time timer per 100 ms bucket.
#[derive(Clone, Default)]
struct Sides {
    seen: spate::state::ListState<u64, u8>,
    sum: ValueState<u64, u64>,
    fail: Option<(Arc<AtomicBool>, std::path::PathBuf)>,
}

impl Sides {
    fn on(
        &mut self,
        side: u8,
        (seq, ts): (u64, i64),
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if let Some((failed, dir)) = &self.fail {
            if seq >= 1_000 && has_checkpoint(dir) && !failed.swap(true, Ordering::SeqCst) {
                return Err("injected failure".into());
            }
        }
        self.seen.add(ctx, side);
        let n = self.seen.get(ctx).filter(|s| **s == side).count();
        let sum = self.sum.value_or_insert_with(ctx, || 0);
        *sum += seq;
        ctx.register_event_time_timer(ts - ts % 100 + 99);
        ctx.collect(format!("{side} {} {n}", ctx.current_key()));
        Ok(())
    }
}

impl KeyedCoProcessFunction<u64, (u64, i64), (u64, i64), String> for Sides {
    fn process_element1(
        &mut self,
        v: (u64, i64),
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        self.on(1, v, ctx)
    }
    fn process_element2(
        &mut self,
        v: (u64, i64),
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        self.on(2, v, ctx)
    }
    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        ctx.collect(format!("timer {} {ts}", ctx.current_key()));
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("seen", &mut self.seen);
        reg.register("sum", &mut self.sum);
    }
}

fn two_inputs(env: &Env, out: &Path, fail: Option<(Arc<AtomicBool>, std::path::PathBuf)>) {
    let gate = fail
        .as_ref()
        .map(|(_, dir)| (dir.clone(), Arc::new(AtomicBool::new(false))));
    let src = env
        .generate(Some(RECORDS), move |seq| {
            if seq % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            if let Some((dir, open)) = &gate {
                if seq >= 1_000 && !open.load(Ordering::Relaxed) {
                    if has_checkpoint(dir) {
                        open.store(true, Ordering::Relaxed);
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            (seq, seq as i64)
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(10)
                .with_timestamp_assigner(|r: &(u64, i64)| r.1),
        );
    let a = src
        .filter(|r| r.0 % 3 != 0)
        .key_by(|r: &(u64, i64)| r.0 % 7);
    let b = src
        .filter(|r| r.0 % 3 == 0)
        .key_by(|r: &(u64, i64)| r.0 % 7);
    a.connect(&b)
        .process(Sides {
            fail,
            ..Default::default()
        })
        .write_lines_exactly_once(out);
}

/// With the heap handles copying on write in steps of one key and the default, and whole
/// snapshots (step 0), on 1–3 shards; and with unaligned checkpoints (whole snapshots).
#[test]
fn a_keyed_co_process_function_recovers_exactly_once() {
    for (shards, step, unaligned) in [
        (2, None, false),
        (1, Some(1), false),
        (3, Some(1), false),
        (2, Some(0), false),
        (2, None, true),
    ] {
        let expected = {
            let tmp = tempfile::tempdir().unwrap();
            let env = Env::new().shards(shards).batch_size(64);
            two_inputs(&env, &tmp.path().join("out"), None);
            env.execute().unwrap();
            published(&tmp.path().join("out"))
        };
        assert_eq!(
            expected.iter().filter(|l| !l.starts_with("timer")).count() as u64,
            RECORDS
        );
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = restarting(shards, &chk, step)
            .state_type::<(u64, i64)>()
            .unaligned_checkpoints(unaligned);
        two_inputs(&env, &out, Some((failed.clone(), chk.clone())));
        env.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        assert_same(
            &published(&out),
            &expected,
            &format!("keyed co-process, {shards} shards, step {step:?}, unaligned {unaligned}"),
        );
    }
}

/// Like `build`, from a collection (read by shard 0 whatever the shard count, so that its
/// offset restores on another shard count) slowed down by a map.
fn build_from_collection(
    env: &Env,
    out: &Path,
    fail_at: Option<(u64, Arc<AtomicBool>, std::path::PathBuf)>,
) {
    let gate = fail_at
        .as_ref()
        .map(|(_, _, dir)| (dir.clone(), Arc::new(AtomicBool::new(false))));
    env.from_collection((0..RECORDS).collect::<Vec<u64>>())
        .map(move |seq| {
            if seq % 5 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            if let Some((dir, open)) = &gate {
                if seq >= 1_000 && !open.load(Ordering::Relaxed) {
                    if has_checkpoint(dir) {
                        open.store(true, Ordering::Relaxed);
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            (seq, seq as i64)
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(10)
                .with_timestamp_assigner(|r: &(u64, i64)| r.1),
        )
        .key_by(|r: &(u64, i64)| r.0 % 13)
        .process(CountWithTimers {
            count: ValueState::new(),
            fail_at,
        })
        .write_lines_exactly_once(out);
}

/// A checkpoint taken on N shards restores on M: keyed state and timers are split or merged
/// by key group, the collection's offset is shard-independent; the output is the same.
#[test]
fn a_checkpoint_restores_on_another_shard_count() {
    let expected = {
        let tmp = tempfile::tempdir().unwrap();
        let env = Env::new().shards(2).batch_size(64);
        build_from_collection(&env, &tmp.path().join("out"), None);
        env.execute().unwrap();
        published(&tmp.path().join("out"))
    };
    for (n, m) in [(2, 3), (3, 1)] {
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = Env::new()
            .shards(n)
            .batch_size(64)
            .checkpointing(&chk, Duration::from_millis(20));
        build_from_collection(&env, &out, Some((1_000, failed.clone(), chk.clone())));
        assert!(env.execute().is_err(), "{n} shards: the injected failure");
        let env = Env::new()
            .shards(m)
            .batch_size(64)
            .checkpointing(&chk, Duration::from_millis(20));
        build_from_collection(&env, &out, None);
        env.execute().unwrap();
        assert_same(&published(&out), &expected, &format!("{n} → {m} shards"));
    }
    // A generator's splits are reassigned to the new shards (tests/savepoints.rs checks
    // mid-run restores); its finished checkpoint restores on 3 shards and replays nothing.
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let env = Env::new()
        .shards(2)
        .checkpointing(&chk, Duration::from_millis(20));
    build(&env, &out, None);
    env.execute().unwrap();
    let first = published(&out);
    let env = Env::new()
        .shards(3)
        .checkpointing(&chk, Duration::from_millis(20));
    build(&env, &out, None);
    env.execute().unwrap();
    assert_same(&published(&out), &first, "generator 2 → 3 shards, finished");
}

#[test]
fn restore_from_a_given_checkpoint_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let env = Env::new()
        .shards(2)
        .checkpointing(&chk, Duration::from_millis(20));
    build(&env, &out, None);
    env.execute().unwrap();
    let first = published(&out);
    let newest = std::fs::read_dir(&chk)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("_manifest").is_file())
        .max()
        .unwrap();
    // The final checkpoint: restoring it replays nothing.
    let env = Env::new()
        .shards(2)
        .checkpointing(tmp.path().join("chk2"), Duration::from_millis(20))
        .restore_from(RestoreFrom::Path(newest));
    build(&env, &out, None);
    env.execute().unwrap();
    assert_same(
        &published(&out),
        &first,
        "restored from the final checkpoint",
    );
    let env = Env::new()
        .shards(2)
        .checkpointing(&chk, Duration::from_millis(20))
        .restore_from(RestoreFrom::Path(tmp.path().join("not-a-checkpoint")));
    build(&env, &out, None);
    let e = env.execute().unwrap_err().to_string();
    assert!(e.contains("not a checkpoint directory"), "{e}");
}

fn summing(env: &Env, out: &Path, fail: Option<(Arc<AtomicBool>, std::path::PathBuf)>) {
    let gate = fail.clone();
    env.from_collection((0..RECORDS).collect::<Vec<u64>>())
        .map(move |seq| {
            if seq % 5 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            if let Some((failed, dir)) = &gate {
                if seq >= 1_000 && !failed.load(Ordering::SeqCst) {
                    if has_checkpoint(dir) {
                        failed.store(true, Ordering::SeqCst);
                        panic!("injected failure");
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            (seq % 11, seq)
        })
        .key_by(|r: &(u64, u64)| r.0)
        .sum(|r| &mut r.1)
        .map(|(k, s)| format!("{k} {s}"))
        .write_lines_exactly_once(out);
}

/// The built-in keyed aggregations take part once their types are registered; their
/// accumulators copy on write (steps of one key, the default) or are written whole (step
/// 0), on 1–3 shards.
#[test]
fn a_keyed_sum_recovers_exactly_once() {
    for (shards, step) in [(1, Some(1)), (2, None), (2, Some(0)), (3, Some(1))] {
        let expected = {
            let tmp = tempfile::tempdir().unwrap();
            let env = Env::new().shards(shards).batch_size(64);
            summing(&env, &tmp.path().join("out"), None);
            env.execute().unwrap();
            published(&tmp.path().join("out"))
        };
        assert_eq!(expected.len() as u64, RECORDS);
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = restarting(shards, &chk, step)
            .state_type::<u64>()
            .state_type::<(u64, u64)>();
        summing(&env, &out, Some((failed.clone(), chk.clone())));
        env.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        assert_same(
            &published(&out),
            &expected,
            &format!("keyed sum, {shards} shards, step {step:?}"),
        );
    }
}
