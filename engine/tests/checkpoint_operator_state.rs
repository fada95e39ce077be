//! Operator (non-keyed) list state end to end: a non-keyed process (co-process, broadcast
//! process) function
//! buffers records in an `OperatorListState` and emits them in groups; it fails after a
//! checkpoint and is restarted (1–3 shards), or is restored from a savepoint on another
//! shard count. Every record must be published exactly once: a buffer that is not restored
//! loses records, one restored twice (or a snapshot that is not aligned) duplicates them.

mod common;
use common::checkpoints::{assert_same, has_checkpoint, published};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spate::prelude::*;
use spate::state::{OperatorListState, ValueState};

/// Fails once, when it sees a sequence number ≥ 1,000 after a checkpoint exists.
type Fail = Option<(Arc<AtomicBool>, PathBuf)>;

fn should_fail(fail: &Fail, seq: u64) -> bool {
    fail.as_ref().is_some_and(|(failed, dir)| {
        seq >= 1_000 && has_checkpoint(dir) && !failed.swap(true, Ordering::SeqCst)
    })
}

/// Buffers records and emits the buffer, one line per record, once it holds `GROUP`.
#[derive(Clone, Default)]
struct Batcher {
    buf: OperatorListState<u64>,
    fail: Fail,
    /// Whether `finish` emits what is left (else it stays in the final snapshot).
    flush_at_end: bool,
}

const GROUP: usize = 37;

impl Batcher {
    fn add(&mut self, seq: u64, ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
        if should_fail(&self.fail, seq) {
            return Err("injected failure".into());
        }
        self.buf.add(seq);
        if self.buf.len() >= GROUP {
            for s in self.buf.take() {
                ctx.collect(format!("{s:06}"));
            }
        }
        Ok(())
    }

    fn end(&mut self, ctx: &mut ProcessContext<'_, String>) {
        if self.flush_at_end {
            for s in self.buf.take() {
                ctx.collect(format!("{s:06}"));
            }
        }
    }
}

impl ProcessFunction<u64, String> for Batcher {
    fn process_element(
        &mut self,
        seq: u64,
        ctx: &mut ProcessContext<'_, String>,
    ) -> Result<(), UserError> {
        self.add(seq, ctx)
    }
    fn finish(&mut self, ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
        self.end(ctx);
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register_list("buffer", &mut self.buf);
    }
}

impl CoProcessFunction<u64, u64, String> for Batcher {
    fn process_element1(
        &mut self,
        seq: u64,
        ctx: &mut ProcessContext<'_, String>,
    ) -> Result<(), UserError> {
        self.add(seq, ctx)
    }
    fn process_element2(
        &mut self,
        seq: u64,
        ctx: &mut ProcessContext<'_, String>,
    ) -> Result<(), UserError> {
        self.add(seq, ctx)
    }
    fn finish(&mut self, ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
        self.end(ctx);
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register_list("buffer", &mut self.buf);
    }
}

impl BroadcastProcessFunction<u64, u64, String> for Batcher {
    type StateKey = u64;
    type StateValue = u64;
    fn process_element(
        &mut self,
        seq: u64,
        _rules: &BroadcastState<u64, u64>,
        ctx: &mut ProcessContext<'_, String>,
    ) -> Result<(), UserError> {
        self.add(seq, ctx)
    }
    fn process_broadcast_element(
        &mut self,
        rule: u64,
        rules: &mut BroadcastState<u64, u64>,
        _ctx: &mut ProcessContext<'_, String>,
    ) -> Result<(), UserError> {
        rules.insert(rule, rule);
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register_list("buffer", &mut self.buf);
    }
}

/// A keyed function with both kinds of state: a count per key (`ValueState`) and, per
/// shard, a buffer of every record it received (`OperatorListState`), emitted in groups of
/// `GROUP`; at the end of event time (a timer every key sets) the rest of the buffer and
/// each key's count.
#[derive(Clone, Default)]
struct KeyedBatcher {
    buf: OperatorListState<u64>,
    count: ValueState<u64, u64>,
    fail: Fail,
}

/// Beyond every record's timestamp: fires at the end of the input.
const END: i64 = 1 << 40;

impl KeyedProcessFunction<u64, u64, String> for KeyedBatcher {
    fn process_element(
        &mut self,
        seq: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if should_fail(&self.fail, seq) {
            return Err("injected failure".into());
        }
        *self.count.value_or_insert_with(ctx, || 0) += 1;
        ctx.register_event_time_timer(END);
        self.buf.add(seq);
        if self.buf.len() >= GROUP {
            for s in self.buf.take() {
                ctx.collect(format!("{s:06}"));
            }
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _t: i64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        for s in self.buf.take() {
            ctx.collect(format!("{s:06}"));
        }
        let n = self.count.value(ctx).copied().unwrap_or(0);
        ctx.collect(format!("count {} {n}", ctx.current_key()));
        Ok(())
    }

    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.count);
        reg.register_list("buffer", &mut self.buf);
    }
}

const RECORDS: u64 = 6_000;

/// The generator, slowed down from 1,000 on until a checkpoint exists (so that the injected
/// failure comes after one).
fn numbers(env: &Env, count: u64, gate: Option<PathBuf>) -> DataStream<u64> {
    let open = Arc::new(AtomicBool::new(gate.is_none()));
    env.generate(Some(count), move |seq| {
        if seq % 10 == 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
        if let Some(dir) = &gate {
            if seq >= 1_000 && !open.load(Ordering::Relaxed) {
                if has_checkpoint(dir) {
                    open.store(true, Ordering::Relaxed);
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        seq
    })
    .uid("numbers")
}

fn every(n: u64) -> Vec<String> {
    (0..n).map(|s| format!("{s:06}")).collect()
}

fn restarting(shards: usize, chk: &Path) -> Env {
    Env::new()
        .shards(shards)
        .batch_size(16)
        .checkpointing(chk, Duration::from_millis(20))
        .restart_strategy(RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(10),
        })
}

#[test]
fn a_process_function_with_list_state_recovers_exactly_once() {
    for shards in common::SHARDS {
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = restarting(shards, &chk);
        numbers(&env, RECORDS, Some(chk.clone()))
            .process(Batcher {
                fail: Some((failed.clone(), chk.clone())),
                flush_at_end: true,
                ..Default::default()
            })
            .write_lines_exactly_once(&out);
        env.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        assert_same(
            &published(&out),
            &every(RECORDS),
            &format!("{shards} shards"),
        );
    }
}

#[test]
fn a_co_process_function_with_list_state_recovers_exactly_once() {
    for shards in [1, 2] {
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = restarting(shards, &chk);
        let src = numbers(&env, RECORDS, Some(chk.clone()));
        let odd = src.filter(|s| s % 2 == 1);
        src.filter(|s| s % 2 == 0)
            .connect(&odd)
            .process(Batcher {
                fail: Some((failed.clone(), chk.clone())),
                flush_at_end: true,
                ..Default::default()
            })
            .write_lines_exactly_once(&out);
        env.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        assert_same(
            &published(&out),
            &every(RECORDS),
            &format!("{shards} shards"),
        );
    }
}

/// The numbers through a broadcast-process `Batcher` (rules 1–3 on the broadcast side);
/// with `fail`, it fails once after a checkpoint.
fn broadcast_job(env: &Env, out: &Path, fail: Fail, gate: Option<PathBuf>) {
    let rules = env.from_collection(vec![1u64, 2, 3]);
    numbers(env, RECORDS, gate)
        .connect_broadcast(&rules)
        .process(Batcher {
            fail,
            ..Default::default()
        })
        .write_lines_exactly_once(out);
}

/// A broadcast-process function's operator list state survives a failure: the restarted
/// job publishes what a failure-free run publishes (the function has no `finish`: each
/// shard's last, incomplete group stays in its buffer in both runs).
#[test]
fn a_broadcast_process_function_with_list_state_recovers_exactly_once() {
    for shards in [1, 2, 3] {
        let expected = {
            let tmp = tempfile::tempdir().unwrap();
            let env = Env::new().shards(shards).batch_size(16);
            broadcast_job(&env, &tmp.path().join("out"), None, None);
            env.execute().unwrap();
            published(&tmp.path().join("out"))
        };
        assert!(
            expected.len() as u64 > RECORDS - (GROUP * shards) as u64,
            "all but the last groups"
        );
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = restarting(shards, &chk).state_type::<u64>();
        let fail = Some((failed.clone(), chk.clone()));
        broadcast_job(&env, &out, fail, Some(chk.clone()));
        env.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        assert_same(&published(&out), &expected, &format!("{shards} shards"));
    }
}

/// Operator lists registered by a keyed function (beside its keyed handles, which copy on
/// write while the lists are written at the barrier) survive a failure on 1–3 shards, with
/// snapshots in steps of one key and whole ones: every record and every key's count is
/// published once.
#[test]
fn a_keyed_function_with_list_state_recovers_exactly_once() {
    let mut expected = every(RECORDS);
    for k in 0..13u64 {
        let n = (0..RECORDS).filter(|s| s % 13 == k).count();
        expected.push(format!("count {k} {n}"));
    }
    expected.sort();
    for (shards, step) in [(1, 1), (2, 1), (3, 1), (2, 0)] {
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = restarting(shards, &chk).snapshot_step(step);
        numbers(&env, RECORDS, Some(chk.clone()))
            .assign_timestamps_and_watermarks(
                WatermarkStrategy::for_monotonous_timestamps()
                    .with_timestamp_assigner(|s: &u64| *s as i64),
            )
            .key_by(|s: &u64| s % 13)
            .process(KeyedBatcher {
                fail: Some((failed.clone(), chk.clone())),
                ..Default::default()
            })
            .write_lines_exactly_once(&out);
        env.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        let mut got = published(&out);
        got.sort();
        assert_same(&got, &expected, &format!("{shards} shards, step {step}"));
    }
}

/// A bounded job on `n` shards ends with records still buffered and writes a savepoint; a
/// job on `m` shards restores it (the buffers split among its shards) and goes on to more
/// records. Together they publish every record once.
fn rescale(n: usize, m: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let sp = tmp.path().join("sp");
    let first = 1_000;
    let env = Env::new()
        .shards(n)
        .batch_size(16)
        .checkpointing(tmp.path().join("chk-1"), Duration::from_secs(3600))
        .savepoint_on_finish(&sp);
    numbers(&env, first, None)
        .process(Batcher::default())
        .uid("batcher")
        .write_lines_exactly_once(tmp.path().join("out-1"));
    env.execute().unwrap();
    let before = published(&tmp.path().join("out-1"));
    assert!(
        before.len() < first as usize,
        "{n} → {m}: records are left in the buffers"
    );

    let env = Env::new()
        .shards(m)
        .batch_size(16)
        .checkpointing(tmp.path().join("chk-2"), Duration::from_secs(3600))
        .restore_from(RestoreFrom::Path(sp));
    numbers(&env, 2 * first, None)
        .process(Batcher {
            flush_at_end: true,
            ..Default::default()
        })
        .uid("batcher")
        .write_lines_exactly_once(tmp.path().join("out-2"));
    env.execute().unwrap();
    let mut all = before;
    all.extend(published(&tmp.path().join("out-2")));
    all.sort();
    assert_same(&all, &every(2 * first), &format!("{n} → {m} shards"));
}

#[test]
fn list_state_is_split_among_the_shards_of_a_rescaled_job() {
    for (n, m) in [(2, 3), (3, 1), (1, 2), (2, 2)] {
        rescale(n, m);
    }
}

/// Registered as a union list now, saved as an even-split one: the restore fails naming it.
#[derive(Clone, Default)]
struct AsUnion(OperatorListState<u64>);

impl ProcessFunction<u64, String> for AsUnion {
    fn process_element(
        &mut self,
        _: u64,
        _: &mut ProcessContext<'_, String>,
    ) -> Result<(), UserError> {
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register_union_list("buffer", &mut self.0);
    }
}

#[test]
fn a_list_restored_with_another_redistribution_mode_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sp = tmp.path().join("sp");
    let env = Env::new()
        .shards(2)
        .checkpointing(tmp.path().join("chk-1"), Duration::from_secs(3600))
        .savepoint_on_finish(&sp);
    numbers(&env, 100, None)
        .process(Batcher::default())
        .uid("batcher")
        .collect();
    env.execute().unwrap();
    let env = Env::new()
        .shards(2)
        .checkpointing(tmp.path().join("chk-2"), Duration::from_secs(3600))
        .restore_from(RestoreFrom::Path(sp));
    numbers(&env, 100, None)
        .process(AsUnion::default())
        .uid("batcher")
        .collect();
    let err = env.execute().unwrap_err().to_string();
    assert!(err.contains("'buffer'") && err.contains("union"), "{err}");
}

/// A keyed handle in a non-keyed function is refused when the job starts.
#[derive(Clone, Default)]
struct Keyed(spate::state::ValueState<u64, u64>);

impl ProcessFunction<u64, u64> for Keyed {
    fn process_element(
        &mut self,
        _: u64,
        _: &mut ProcessContext<'_, u64>,
    ) -> Result<(), UserError> {
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("v", &mut self.0);
    }
}

#[test]
fn a_keyed_handle_in_a_non_keyed_function_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new().checkpointing(tmp.path(), Duration::from_secs(3600));
    env.from_iter(0..10u64).process(Keyed::default()).collect();
    let err = env.execute().unwrap_err().to_string();
    assert!(err.contains("keyed state handles"), "{err}");
}

/// Keeps every record it sees in a union list and reports the list's length and sum when
/// its input ends.
#[derive(Clone, Default)]
struct SeenEverywhere {
    seen: OperatorListState<u64>,
    report: bool,
}

impl ProcessFunction<u64, String> for SeenEverywhere {
    fn process_element(
        &mut self,
        v: u64,
        _: &mut ProcessContext<'_, String>,
    ) -> Result<(), UserError> {
        self.seen.add(v);
        Ok(())
    }
    fn finish(&mut self, ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
        if self.report {
            let sum: u64 = self.seen.get().iter().sum();
            ctx.collect(format!("{} {sum}", self.seen.len()));
        }
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register_union_list("seen", &mut self.seen);
    }
}

#[test]
fn a_union_list_reaches_every_shard_of_a_rescaled_job() {
    for (n, m) in [(2, 3), (3, 1), (1, 2)] {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("sp");
        let env = Env::new()
            .shards(n)
            .checkpointing(tmp.path().join("chk-1"), Duration::from_secs(3600))
            .savepoint_on_finish(&sp);
        numbers(&env, 100, None)
            .process(SeenEverywhere::default())
            .uid("seen")
            .collect();
        env.execute().unwrap();
        // The same 100 records: nothing new to read, every shard reports what it restored.
        let env = Env::new()
            .shards(m)
            .checkpointing(tmp.path().join("chk-2"), Duration::from_secs(3600))
            .restore_from(RestoreFrom::Path(sp));
        let out = numbers(&env, 100, None)
            .process(SeenEverywhere {
                report: true,
                ..Default::default()
            })
            .uid("seen")
            .collect();
        env.execute().unwrap();
        let want = vec![format!("100 {}", (0..100u64).sum::<u64>()); m];
        assert_eq!(out.sorted(), want, "{n} → {m} shards");
    }
}
