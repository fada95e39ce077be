//! Joins with checkpoints, end to end: an interval join and a regular join, fed out of
//! order, fail after a checkpoint and are restored (in-process by a restart strategy, by a
//! new job on the same directory, and on another shard count); the published output must
//! equal a failure-free run's, which must equal a naive reference.

mod common;
use common::checkpoints::{assert_same, has_checkpoint, published};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spate::api::BroadcastState;
use spate::join::{Interval, JoinChange, OverlapContext, RegularJoin, RowKind};
use spate::prelude::*;
use spate::state::ValueState;

const RECORDS: u64 = 6_000;
/// The interval join's bounds: `l.ts + LO <= r.ts <= l.ts + HI`.
const LO: i64 = -20;
const HI: i64 = 15;
const KEYS: u64 = 11;

type Rec = (u64, i64);

/// Out of order by up to 10 ms, within the watermark bound (12): no record is ever late,
/// so a restored run (whose watermark restarts from the replayed records) judges every
/// record as the failure-free run did.
fn ts_of(seq: u64) -> i64 {
    seq as i64 + ((seq * 7) % 11) as i64 - 5
}

/// The tests of this file run one at a time: each needs a checkpoint to complete while its
/// source is held back (at most 10 s), which several jobs at once on a loaded machine can
/// delay past that.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A failure to inject once, after a checkpoint exists, at the first record from `AT` on.
#[derive(Clone)]
struct Fail {
    failed: Arc<AtomicBool>,
    chk: PathBuf,
}

const AT: u64 = 1_000;

impl Fail {
    fn now(&self, seq: u64) -> bool {
        seq >= AT && has_checkpoint(&self.chk) && !self.failed.swap(true, Ordering::SeqCst)
    }
}

/// The records, from a collection (its offset restores on any shard count), slowed down,
/// and from `AT` on held back (2 ms a record) until a checkpoint exists, so the failure comes after one.
fn source(env: &Env, fail: Option<&Fail>) -> DataStream<Rec> {
    let gate = fail.map(|f| (f.chk.clone(), Arc::new(AtomicBool::new(false))));
    env.from_collection((0..RECORDS).collect::<Vec<u64>>())
        .map(move |seq| {
            if seq % 5 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            if let Some((dir, open)) = &gate {
                if seq >= AT && !open.load(Ordering::Relaxed) {
                    if has_checkpoint(dir) {
                        open.store(true, Ordering::Relaxed);
                    } else {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
            (seq, ts_of(seq))
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(12)
                .with_timestamp_assigner(|r: &Rec| r.1),
        )
}

fn interval_job(env: &Env, out: &Path, fail: Option<Fail>) {
    let src = source(env, fail.as_ref());
    let left = src.filter(|r| r.0 % 3 != 0).key_by(|r: &Rec| r.0 % KEYS);
    let right = src.filter(|r| r.0 % 3 == 0).key_by(|r: &Rec| r.0 % KEYS);
    left.interval_join(&right)
        .between(LO, HI)
        .process(
            move |l: &Rec, r: &Rec, ctx: &mut ProcessJoinContext<'_, u64, String>| {
                if fail.as_ref().is_some_and(|f| f.now(l.0.max(r.0))) {
                    return Err("injected failure".into());
                }
                ctx.collect(format!("{} {}", l.0, r.0));
                Ok(())
            },
        )
        .write_lines_exactly_once(out);
}

/// Every pair the interval join must emit, computed naively.
fn interval_reference() -> Vec<String> {
    let mut want = Vec::new();
    for l in (0..RECORDS).filter(|s| s % 3 != 0) {
        for r in (0..RECORDS).filter(|s| s % 3 == 0 && s % KEYS == l % KEYS) {
            let (tl, tr) = (ts_of(l), ts_of(r));
            if tl + LO <= tr && tr <= tl + HI {
                want.push(format!("{l} {r}"));
            }
        }
    }
    want.sort();
    want
}

fn checkpointed(shards: usize, chk: &Path) -> Env {
    Env::new()
        .shards(shards)
        .batch_size(16)
        .checkpointing(chk, Duration::from_millis(20))
        .state_type::<u64>()
        .state_type::<Rec>()
}

fn fail_in(chk: &Path) -> Fail {
    Fail {
        failed: Arc::new(AtomicBool::new(false)),
        chk: chk.to_path_buf(),
    }
}

/// A job of these tests: built into `env`, publishing into `out`, failing once with `fail`.
type Job = fn(&Env, &Path, Option<Fail>);

/// No state types beyond [`checkpointed`]'s.
fn no_types(env: Env) -> Env {
    env
}

/// What `job` publishes on `shards` shards without checkpoints or failure.
fn uninterrupted(job: Job, shards: usize) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new().shards(shards).batch_size(16);
    job(&env, &tmp.path().join("out"), None);
    env.execute().unwrap();
    published(&tmp.path().join("out"))
}

/// What `job` publishes on `shards` shards with checkpoints (`types` registers its further
/// state types) when its injected failure is recovered in-process by a restart strategy.
fn after_restart(job: Job, shards: usize, types: fn(Env) -> Env) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let fail = fail_in(&chk);
    let env = types(checkpointed(shards, &chk)).restart_strategy(RestartStrategy::FixedDelay {
        attempts: 2,
        delay: Duration::from_millis(10),
    });
    job(&env, &out, Some(fail.clone()));
    env.execute().unwrap();
    assert!(
        fail.failed.load(Ordering::SeqCst),
        "the failure was injected"
    );
    published(&out)
}

/// What `job` publishes when it fails on `n` shards and a new job on `m` shards resumes from
/// the same directory.
fn after_resume(job: Job, n: usize, m: usize, types: fn(Env) -> Env) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let env = types(checkpointed(n, &chk));
    job(&env, &out, Some(fail_in(&chk)));
    let err = env.execute().unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let env = types(checkpointed(m, &chk));
    job(&env, &out, None);
    env.execute().unwrap();
    published(&out)
}

/// Registers the broadcast state's value type of the rules job.
fn rule_types(env: Env) -> Env {
    env.state_type::<i64>()
}

#[test]
fn an_interval_join_recovers_exactly_once_on_one_to_three_shards() {
    let _serial = serial();
    let want = interval_reference();
    assert!(want.len() > 1_000, "the reference joins enough pairs");
    for shards in 1..=3 {
        // Failure-free, without checkpoints: the naive reference.
        assert_same(&uninterrupted(interval_job, shards), &want, "uninterrupted");
        // A failure, recovered in-process.
        assert_same(
            &after_restart(interval_job, shards, no_types),
            &want,
            &format!("restarted, {shards} shards"),
        );
        // The buffers copied on write one key a step.
        assert_same(
            &after_restart(interval_job, shards, |e| e.snapshot_step(1)),
            &want,
            &format!("restarted, {shards} shards, steps of one key"),
        );
    }
    // Whole snapshots at the barrier.
    assert_same(
        &after_restart(interval_job, 2, |e| e.snapshot_step(0)),
        &want,
        "restarted, 2 shards, whole snapshots",
    );
}

#[test]
fn an_interval_join_resumes_in_a_new_job_and_on_another_shard_count() {
    let _serial = serial();
    let want = interval_reference();
    for (n, m) in [(2, 2), (2, 3)] {
        let got = after_resume(interval_job, n, m, no_types);
        assert_same(&got, &want, &format!("{n} → {m} shards"));
    }
}

#[test]
fn a_join_without_registered_types_refuses_to_start_naming_them() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new()
        .shards(1)
        .checkpointing(tmp.path().join("chk"), Duration::from_millis(20))
        .state_type::<u64>();
    interval_job(&env, &tmp.path().join("out"), None);
    let e = env.execute().unwrap_err().to_string();
    assert!(e.contains("interval_join") || e.contains("join"), "{e}");
    assert!(
        e.contains("(u64, i64)") && e.contains("Env::state_type"),
        "{e}"
    );

    let env = Env::new()
        .shards(1)
        .checkpointing(tmp.path().join("chk2"), Duration::from_millis(20));
    regular_job(&env, &tmp.path().join("out2"), None);
    let e = env.execute().unwrap_err().to_string();
    assert!(
        e.contains("regular_join") && e.contains("Env::state_type"),
        "{e}"
    );
}

/// Passes records through, failing once as `fail` says (a regular join has no function of
/// its own to fail in). Stateless: it declares no state.
#[derive(Clone)]
struct PassFail(Option<Fail>);

impl KeyedProcessFunction<u64, Rec, Rec> for PassFail {
    fn process_element(
        &mut self,
        r: Rec,
        ctx: &mut KeyedContext<'_, u64, Rec>,
    ) -> Result<(), UserError> {
        if self.0.as_ref().is_some_and(|f| f.now(r.0)) {
            return Err("injected failure".into());
        }
        ctx.collect(r);
        Ok(())
    }
    fn state(&mut self, _reg: &mut StateRegistry<'_>) {}
}

/// Keys of the regular join: each has two left records and one right record (2000 ≡ 2 mod 3).
const REG_KEYS: u64 = 2_000;

/// A full outer regular join of the records (left: not a multiple of 3, right: multiples of
/// 3) on `seq % REG_KEYS`, one line per change. Without TTL (processing time would make the
/// result depend on timing).
fn regular_job(env: &Env, out: &Path, fail: Option<Fail>) {
    let src = source(env, fail.as_ref())
        .key_by(|r: &Rec| r.0 % REG_KEYS)
        .process(PassFail(fail));
    let left = src
        .filter(|r| r.0 % 3 != 0)
        .key_by(|r: &Rec| r.0 % REG_KEYS);
    let right = src
        .filter(|r| r.0 % 3 == 0)
        .key_by(|r: &Rec| r.0 % REG_KEYS);
    left.connect(&right)
        .regular_join(RegularJoin::full_outer())
        .map(|c: JoinChange<Rec, Rec>| {
            let side = |x: Option<Rec>| x.map_or("-".to_string(), |r| r.0.to_string());
            let kind = if c.kind == RowKind::Insert { "+" } else { "-" };
            format!("{kind} {} {}", side(c.left), side(c.right))
        })
        .write_lines_exactly_once(out);
}

/// The join's result once every change is applied: row → count (never negative).
fn net(lines: &[String]) -> BTreeMap<String, i64> {
    let mut m: BTreeMap<String, i64> = BTreeMap::new();
    for l in lines {
        let (kind, row) = l.split_at(1);
        let n = m.entry(row.trim().to_string()).or_default();
        *n += if kind == "+" { 1 } else { -1 };
        assert!(*n >= 0, "a retraction of a row not inserted: {l}");
    }
    m.retain(|_, n| *n != 0);
    m
}

/// The full outer join of all records, naively: every key has both sides, so its pairs.
fn regular_reference() -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for l in (0..RECORDS).filter(|s| s % 3 != 0) {
        for r in (0..RECORDS).filter(|s| s % 3 == 0 && s % REG_KEYS == l % REG_KEYS) {
            m.insert(format!("{l} {r}"), 1);
        }
    }
    m
}

#[test]
fn a_regular_join_recovers_exactly_once() {
    let _serial = serial();
    let want = regular_reference();
    assert_eq!(want.len() as u64, 2 * REG_KEYS);
    for shards in 1..=3 {
        let plain = uninterrupted(regular_job, shards);
        assert_eq!(net(&plain), want, "uninterrupted, {shards} shards");

        let got = after_restart(regular_job, shards, no_types);
        assert_eq!(net(&got), want, "restarted, {shards} shards");
        // Exactly once: as many changes as a failure-free run (each arrival emits a fixed
        // number of changes whatever the order of a key's records: a duplicate or a loss
        // would show).
        assert_eq!(got.len(), plain.len(), "changes, {shards} shards");
        // The rows copied on write one key a step, and whole at the barrier.
        for (types, how) in [
            (
                (|e| e.snapshot_step(1)) as fn(Env) -> Env,
                "steps of one key",
            ),
            (|e| e.snapshot_step(0), "whole snapshots"),
        ] {
            let got = after_restart(regular_job, shards, types);
            assert_eq!(net(&got), want, "restarted, {shards} shards, {how}");
            assert_eq!(got.len(), plain.len(), "changes, {shards} shards, {how}");
        }
    }
}

#[test]
fn a_regular_join_resumes_in_a_new_job_on_another_shard_count() {
    let _serial = serial();
    let want = regular_reference();
    let got = after_resume(regular_job, 2, 3, no_types);
    assert_eq!(net(&got), want, "2 → 3 shards");
}

/// A keyed broadcast function: counts records per key (keyed state), and at the end of each
/// 100 ms bucket of a key (an event-time timer) reports the rule in force then — the rule
/// versions are kept in the broadcast state by their timestamp, so the answer does not
/// depend on how the two inputs interleave.
#[derive(Clone)]
struct Rules {
    count: ValueState<u64, u64>,
    fail: Option<Fail>,
}

impl KeyedBroadcastProcessFunction<u64, Rec, (i64, u64), String> for Rules {
    type StateKey = i64;
    type StateValue = u64;

    fn process_element(
        &mut self,
        (seq, ts): Rec,
        _rules: &BroadcastState<i64, u64>,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if self.fail.as_ref().is_some_and(|f| f.now(seq)) {
            return Err("injected failure".into());
        }
        let n = self.count.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.register_event_time_timer(ts - ts.rem_euclid(100) + 99);
        ctx.collect(format!("rec {} {n}", ctx.current_key()));
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        (version, threshold): (i64, u64),
        rules: &mut BroadcastState<i64, u64>,
        _ctx: &mut ProcessContext<'_, String>,
    ) -> Result<(), UserError> {
        rules.insert(version, threshold);
        Ok(())
    }

    fn on_timer(
        &mut self,
        t: i64,
        rules: &BroadcastState<i64, u64>,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        let rule = rules
            .iter()
            .filter(|(v, _)| **v <= t)
            .max_by_key(|(v, _)| **v)
            .map(|(_, r)| *r);
        ctx.collect(format!("timer {} {t} {rule:?}", ctx.current_key()));
        Ok(())
    }

    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.count);
    }
}

/// Rule versions every 500 ms of event time, sent slowly (so that checkpoints fall between
/// them: some are restored from the broadcast state, the others replayed).
fn rules_job(env: &Env, out: &Path, fail: Option<Fail>) {
    let rules = env
        .from_collection((0..12i64).collect::<Vec<_>>())
        .map(|i| {
            std::thread::sleep(Duration::from_millis(40));
            (i * 500, i as u64 * 7 + 1)
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(0)
                .with_timestamp_assigner(|r: &(i64, u64)| r.0),
        );
    source(env, fail.as_ref())
        .key_by(|r: &Rec| r.0 % 13)
        .connect_broadcast(&rules)
        .process(Rules {
            count: ValueState::new(),
            fail,
        })
        .write_lines_exactly_once(out);
}

/// What the keyed broadcast job must publish, naively.
fn rules_reference() -> Vec<String> {
    let mut want = Vec::new();
    let mut counts = BTreeMap::new();
    let mut buckets = std::collections::BTreeSet::new();
    for seq in 0..RECORDS {
        let n = counts.entry(seq % 13).or_insert(0u64);
        *n += 1;
        want.push(format!("rec {} {n}", seq % 13));
        let ts = ts_of(seq);
        buckets.insert((seq % 13, ts - ts.rem_euclid(100) + 99));
    }
    for (k, t) in buckets {
        let rule = (t >= 0).then(|| (t / 500).min(11) as u64 * 7 + 1);
        want.push(format!("timer {k} {t} {rule:?}"));
    }
    want.sort();
    want
}

#[test]
fn a_keyed_broadcast_function_recovers_exactly_once() {
    let _serial = serial();
    let want = rules_reference();
    for shards in 1..=3 {
        assert_same(&uninterrupted(rules_job, shards), &want, "uninterrupted");
        assert_same(
            &after_restart(rules_job, shards, rule_types),
            &want,
            &format!("restarted, {shards} shards"),
        );
        // The keyed handles copying on write one key a step.
        assert_same(
            &after_restart(rules_job, shards, |e| rule_types(e).snapshot_step(1)),
            &want,
            &format!("restarted, {shards} shards, steps of one key"),
        );
    }
    // Whole snapshots at the barrier.
    assert_same(
        &after_restart(rules_job, 2, |e| rule_types(e).snapshot_step(0)),
        &want,
        "restarted, 2 shards, whole snapshots",
    );
}

#[test]
fn a_keyed_broadcast_function_resumes_in_a_new_job_on_another_shard_count() {
    let _serial = serial();
    let want = rules_reference();
    for (n, m) in [(2, 2), (2, 3)] {
        let got = after_resume(rules_job, n, m, rule_types);
        assert_same(&got, &want, &format!("{n} → {m} shards"));
    }
    // Without the broadcast state's types, refused naming them.
    let tmp = tempfile::tempdir().unwrap();
    let env = checkpointed(1, &tmp.path().join("chk"));
    rules_job(&env, &tmp.path().join("out"), None);
    let e = env.execute().unwrap_err().to_string();
    assert!(e.contains("broadcast state") && e.contains("i64"), "{e}");
}

/// Passes both inputs through: a stateless co-process function, declared so.
#[derive(Clone)]
struct Merge;

impl CoProcessFunction<Rec, Rec, Rec> for Merge {
    fn process_element1(
        &mut self,
        r: Rec,
        ctx: &mut ProcessContext<'_, Rec>,
    ) -> Result<(), UserError> {
        ctx.collect(r);
        Ok(())
    }
    fn process_element2(
        &mut self,
        r: Rec,
        ctx: &mut ProcessContext<'_, Rec>,
    ) -> Result<(), UserError> {
        ctx.collect(r);
        Ok(())
    }
    fn state(&mut self, _reg: &mut StateRegistry<'_>) {}
}

/// Passes data through and keeps the rules in the (non-keyed) broadcast state, which the
/// operator saves; declares its own fields stateless.
#[derive(Clone)]
struct PassRules;

impl BroadcastProcessFunction<Rec, (i64, u64), Rec> for PassRules {
    type StateKey = i64;
    type StateValue = u64;
    fn process_element(
        &mut self,
        r: Rec,
        _rules: &BroadcastState<i64, u64>,
        ctx: &mut ProcessContext<'_, Rec>,
    ) -> Result<(), UserError> {
        ctx.collect(r);
        Ok(())
    }
    fn process_broadcast_element(
        &mut self,
        (v, t): (i64, u64),
        rules: &mut BroadcastState<i64, u64>,
        _ctx: &mut ProcessContext<'_, Rec>,
    ) -> Result<(), UserError> {
        rules.insert(v, t);
        Ok(())
    }
    fn state(&mut self, _reg: &mut StateRegistry<'_>) {}
}

/// Counts per key (keyed state) and fails once as `fail` says.
#[derive(Clone)]
struct Count {
    n: ValueState<u64, u64>,
    fail: Option<Fail>,
}

impl KeyedProcessFunction<u64, Rec, String> for Count {
    fn process_element(
        &mut self,
        r: Rec,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if self.fail.as_ref().is_some_and(|f| f.now(r.0)) {
            return Err("injected failure".into());
        }
        let n = self.n.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.collect(format!("{} {n}", ctx.current_key()));
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("n", &mut self.n);
    }
}

/// Non-keyed `process` (a closure), a non-keyed co-process and a non-keyed broadcast
/// function in front of a keyed count: the two-input operators must align, or records
/// after a barrier reach the count before it and are counted twice after recovery.
fn non_keyed_job(env: &Env, out: &Path, fail: Option<Fail>) {
    let rules = env
        .from_collection((0..5i64).collect::<Vec<_>>())
        .map(|i| (i, i as u64));
    let src = source(env, fail.as_ref()).process(|r: Rec, ctx: &mut ProcessContext<'_, Rec>| {
        ctx.collect(r);
        Ok(())
    });
    // Two sources: their barriers reach the co-process at different moments.
    let a = src.filter(|r| r.0 % 3 != 0);
    let b = source(env, fail.as_ref()).filter(|r| r.0 % 3 == 0);
    a.connect(&b)
        .process(Merge)
        .connect_broadcast(&rules)
        .process(PassRules)
        .key_by(|r: &Rec| r.0 % 13)
        .process(Count {
            n: ValueState::new(),
            fail,
        })
        .write_lines_exactly_once(out);
}

#[test]
fn non_keyed_process_co_process_and_broadcast_take_part_exactly_once() {
    let _serial = serial();
    let mut want: Vec<String> = (0..13)
        .flat_map(|k| {
            (1..=(0..RECORDS).filter(|s| s % 13 == k).count()).map(move |n| format!("{k} {n}"))
        })
        .collect();
    want.sort();
    for shards in [1, 3] {
        assert_same(
            &after_restart(non_keyed_job, shards, rule_types),
            &want,
            &format!("restarted, {shards} shards"),
        );
    }
}

/// Undeclared non-keyed functions are refused, naming what to do.
#[derive(Clone)]
struct Undeclared;

impl CoProcessFunction<Rec, Rec, Rec> for Undeclared {
    fn process_element1(
        &mut self,
        r: Rec,
        ctx: &mut ProcessContext<'_, Rec>,
    ) -> Result<(), UserError> {
        ctx.collect(r);
        Ok(())
    }
    fn process_element2(
        &mut self,
        r: Rec,
        ctx: &mut ProcessContext<'_, Rec>,
    ) -> Result<(), UserError> {
        ctx.collect(r);
        Ok(())
    }
}

#[test]
fn an_undeclared_non_keyed_co_process_function_is_refused() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let env = checkpointed(1, &tmp.path().join("chk"));
    let src = source(&env, None);
    src.connect(&src).process(Undeclared).collect();
    let e = env.execute().unwrap_err().to_string();
    assert!(
        e.contains("CoProcessFunction") && e.contains("`state`"),
        "{e}"
    );
}

/// Keys of the overlap join: few, so that some left records match and others do not.
const OKEYS: u64 = 4;

/// A left-outer overlap join: left records span `[ts, ts + 8)`, right records `[ts, ts + 2)`;
/// unmatched left records are emitted once the watermark passes them.
fn overlap_job(env: &Env, out: &Path, fail: Option<Fail>) {
    let src = source(env, fail.as_ref());
    let left = src.filter(|r| r.0 % 3 != 0).key_by(|r: &Rec| r.0 % OKEYS);
    let right = src.filter(|r| r.0 % 3 == 0).key_by(|r: &Rec| r.0 % OKEYS);
    left.overlap_join(
        &right,
        |l: &Rec| Interval::new(l.1, l.1 + 8),
        |r: &Rec| Interval::new(r.1, r.1 + 2),
    )
    .left_outer()
    .process(
        move |l: &Rec, r: Option<&Rec>, ctx: &mut OverlapContext<'_, u64, String>| {
            if fail.as_ref().is_some_and(|f| f.now(l.0)) {
                return Err("injected failure".into());
            }
            let r = r.map_or("-".to_string(), |r| r.0.to_string());
            ctx.collect(format!("{} {r}", l.0));
            Ok(())
        },
    )
    .write_lines_exactly_once(out);
}

fn overlap_reference() -> Vec<String> {
    let mut want = Vec::new();
    for l in (0..RECORDS).filter(|s| s % 3 != 0) {
        let tl = ts_of(l);
        let matches: Vec<u64> = (0..RECORDS)
            .filter(|s| s % 3 == 0 && s % OKEYS == l % OKEYS)
            .filter(|r| {
                let tr = ts_of(*r);
                tl < tr + 2 && tr < tl + 8
            })
            .collect();
        if matches.is_empty() {
            want.push(format!("{l} -"));
        }
        want.extend(matches.iter().map(|r| format!("{l} {r}")));
    }
    want.sort();
    want
}

#[test]
fn a_left_outer_overlap_join_recovers_exactly_once_and_rescales() {
    let _serial = serial();
    let want = overlap_reference();
    assert!(want.iter().any(|l| l.ends_with(" -")) && want.iter().any(|l| !l.ends_with(" -")));
    assert_same(&uninterrupted(overlap_job, 2), &want, "uninterrupted");
    assert_same(&after_restart(overlap_job, 2, no_types), &want, "restarted");
    assert_same(
        &after_restart(overlap_job, 2, |e| e.snapshot_step(1)),
        &want,
        "restarted, steps of one key",
    );
    assert_same(
        &after_resume(overlap_job, 3, 2, no_types),
        &want,
        "3 → 2 shards",
    );
}
