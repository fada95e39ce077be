//! Window operators in checkpoints: a windowed job fails after a checkpoint and is restored
//! (in-process by a restart strategy, by a new job on the same directory, and on another
//! shard count); its published output must equal a failure-free run's, line for line.
//!
//! The source emits on shard 0 only (so its offset restores on any shard count), paced
//! without blocking the shard, with punctuated watermarks, so that which records are late is the same in every run: a
//! late record never comes first in a source batch, where a restored job (whose watermarks
//! restart from the replayed records, as in Flink) would not see it late.

mod common;
use common::checkpoints::{assert_same, has_checkpoint, published};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use spate::prelude::*;
use spate::window::{
    Count, SessionWindows, SlidingWindows, TimeWindow, TumblingWindows, WindowContext,
};

const RECORDS: u64 = 4_000;
const BATCH: usize = 64;

type Rec = (u64, i64);
/// Fail once, after `ready(dir)` holds for the checkpoint directory `dir`.
type Fail = Option<(Arc<AtomicBool>, PathBuf, Ready)>;
type Ready = fn(&Path) -> bool;

/// Record `seq`'s timestamp: in order, with a 1 s pause every 500 records (sessions end
/// there); a few records are late (never the first of a source batch of 64).
fn timestamp(seq: u64) -> i64 {
    let t = seq as i64 + (seq as i64 / 500) * 1_000;
    match seq % 64 {
        32 => t - 150, // within the allowed lateness of the lateness job: a late firing
        48 => t - 900, // past it: the late side output
        _ => t,
    }
}

/// Emits `0..RECORDS` on shard 0, one full batch per poll at most every 5 ms; with a
/// checkpoint directory to wait for, no record from 1,000 on before a checkpoint exists
/// (it reports itself idle meanwhile: the shard goes on and writes the checkpoint).
#[derive(Clone)]
struct Paced {
    wait_for: Option<(PathBuf, Ready)>,
}

struct PacedSplit {
    next: u64,
    end: u64,
    last: Option<std::time::Instant>,
    wait_for: Option<(PathBuf, Ready)>,
}

impl SourceSplit<u64> for PacedSplit {
    fn poll(&mut self, out: &mut SourceOutput<'_, u64>) -> Result<SourceStatus, SpateError> {
        if self.next >= self.end {
            return Ok(SourceStatus::Done);
        }
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_millis(5))
        {
            return Ok(SourceStatus::Idle);
        }
        if let Some((dir, ready)) = &self.wait_for {
            if self.next >= 1_000 && !ready(dir) {
                return Ok(SourceStatus::Idle);
            }
        }
        self.last = Some(std::time::Instant::now());
        while self.next < self.end && out.remaining() > 0 {
            out.emit(self.next);
            self.next += 1;
        }
        Ok(SourceStatus::More)
    }
    fn offset(&self) -> Option<u64> {
        Some(self.next)
    }
    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        self.next = offset;
        Ok(())
    }
    fn is_empty(&self) -> bool {
        self.end == 0
    }
}

impl Source<u64> for Paced {
    fn split(&mut self, shard: usize, _: usize) -> Result<Box<dyn SourceSplit<u64>>, SpateError> {
        Ok(Box::new(PacedSplit {
            next: 0,
            end: if shard == 0 { RECORDS } else { 0 },
            last: None,
            wait_for: self.wait_for.clone(),
        }))
    }
    fn splits_are_stable(&self) -> bool {
        true
    }
}

/// The source, failing once (a panic) after a checkpoint exists when `fail`.
fn source(env: &Env, fail: Fail) -> DataStream<Rec> {
    let wait_for = fail.as_ref().map(|(_, dir, ready)| (dir.clone(), *ready));
    env.add_source("paced", Paced { wait_for })
        .map(move |seq| {
            if let Some((failed, dir, ready)) = &fail {
                if seq >= 1_000 && !failed.load(Ordering::SeqCst) && ready(dir) {
                    failed.store(true, Ordering::SeqCst);
                    panic!("injected failure");
                }
            }
            (seq, timestamp(seq))
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(10)
                .with_timestamp_assigner(|r: &Rec| r.1)
                .punctuated(),
        )
}

fn key(r: &Rec) -> u64 {
    r.0 % 13
}

/// The jobs under test; each writes lines through the exactly-once sink.
#[derive(Clone, Copy, Debug)]
enum Job {
    /// Tumbling count by the generic window operator.
    Tumbling,
    /// Sliding count by slices.
    Sliding,
    /// Sliding count by slices over long windows (3 s: a slice outlives many checkpoints,
    /// so a restore from incremental snapshots needs their full snapshot, not only deltas).
    LongSliding,
    /// Session windows with a process function over the elements.
    Session,
    /// Tumbling windows with allowed lateness and a late side output, by the generic window
    /// operator (`process`).
    LatenessGeneric,
    /// The same by slices (`aggregate`).
    LatenessSliced,
    /// Count windows (trigger state: the count).
    CountWindows,
    /// Sliding count windows (a count evictor: the window buffers its elements).
    CountSliding,
    /// A window join (co-group contents: both sides' elements) of the even and the odd
    /// records.
    WindowJoin,
}

fn build(job: Job, env: &Env, out: &Path, fail: Fail) {
    if let Job::WindowJoin = job {
        let all = source(env, fail);
        let even = all.filter(|r: &Rec| r.0 % 2 == 0);
        let odd = all.filter(|r: &Rec| r.0 % 2 == 1);
        even.join(&odd)
            .where_(|r: &Rec| (r.0 / 2) % 13)
            .equal_to(|r: &Rec| (r.0 / 2) % 13)
            .window(TumblingWindows::of(100))
            .apply(|a: &Rec, b: &Rec| format!("join {a:?} {b:?}"))
            .write_lines_exactly_once(out);
        return;
    }
    let s = source(env, fail).key_by(key);
    let lines: DataStream<String> = match job {
        Job::Tumbling => s
            .window(TumblingWindows::of(100))
            .without_slicing()
            .aggregate(Count)
            .map(|n| format!("tumbling {n}")),
        Job::Sliding => s
            .window(SlidingWindows::of(300, 100))
            .aggregate(Count)
            .map(|n| format!("sliding {n}")),
        Job::LongSliding => s
            .window(SlidingWindows::of(3_000, 100))
            .aggregate(Count)
            .map(|n| format!("long {n}")),
        Job::Session => s.window(SessionWindows::with_gap(100)).process(
            |k: &u64, els: &[Rec], cx: &mut WindowContext<'_, TimeWindow, String>| {
                let sum: u64 = els.iter().map(|r| r.0).sum();
                let w = *cx.window();
                cx.collect(format!("session {k} {w:?} {} {sum}", els.len()));
                Ok(())
            },
        ),
        Job::LatenessGeneric => {
            let tag = OutputTag::<Rec>::new("late");
            let generic = s
                .window(TumblingWindows::of(100))
                .allowed_lateness(200)
                .side_output_late_data(&tag)
                .process(
                    |k: &u64, els: &[Rec], cx: &mut WindowContext<'_, TimeWindow, String>| {
                        let w = *cx.window();
                        let max = els.iter().map(|r| r.0).max().unwrap_or(0);
                        cx.collect(format!("late-generic {k} {w:?} {} {max}", els.len()));
                        Ok(())
                    },
                );
            let late = generic
                .side_output(&tag)
                .map(|r| format!("dropped-generic {r:?}"));
            generic.union(&[late])
        }
        Job::LatenessSliced => {
            let tag = OutputTag::<Rec>::new("late");
            let sliced = s
                .window(TumblingWindows::of(100))
                .allowed_lateness(200)
                .side_output_late_data(&tag)
                .aggregate(Count);
            let late = sliced
                .side_output(&tag)
                .map(|r| format!("dropped-sliced {r:?}"));
            sliced.map(|n| format!("late-sliced {n}")).union(&[late])
        }
        Job::CountSliding => s
            .count_window_sliding(5, 3)
            .reduce(|a, b| (a.0 + b.0, a.1.max(b.1)))
            .map(|r| format!("count-sliding {r:?}")),
        Job::CountWindows => s
            .count_window(7)
            .reduce(|a, b| (a.0 + b.0, a.1.max(b.1)))
            .map(|r| format!("count {r:?}")),
        Job::WindowJoin => unreachable!("built above"),
    };
    lines.write_lines_exactly_once(out);
}

fn env(shards: usize, chk: Option<&Path>) -> Env {
    env_with(shards, chk, None)
}

/// `step`: entries per step of the sliced window's copy-on-write snapshots (0: whole
/// snapshots at the barrier); `None`: the default.
fn env_with(shards: usize, chk: Option<&Path>, step: Option<usize>) -> Env {
    let env = Env::new().shards(shards).batch_size(BATCH);
    match chk {
        Some(dir) => {
            let env = env
                .checkpointing(dir, Duration::from_millis(20))
                .state_type::<Rec>();
            match step {
                Some(n) => env.snapshot_step(n),
                None => env,
            }
        }
        None => env,
    }
}

fn reference(job: Job) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let e = env(1, None);
    build(job, &e, &tmp.path().join("out"), None);
    e.execute().unwrap();
    published(&tmp.path().join("out"))
}

/// With a restart strategy, on 1, 2 and 3 shards.
fn restarts(job: Job, expected: &[String]) {
    restarts_with(job, expected, None)
}

fn restarts_with(job: Job, expected: &[String], step: Option<usize>) {
    restarts_in(job, expected, &|e| e, step, has_checkpoint)
}

/// With a restart strategy on 1, 2 and 3 shards, the env set up by `cfg`, failing once
/// `ready` holds for the checkpoint directory.
fn restarts_in(
    job: Job,
    expected: &[String],
    cfg: &dyn Fn(Env) -> Env,
    step: Option<usize>,
    ready: Ready,
) {
    for shards in 1..=3 {
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let e =
            cfg(env_with(shards, Some(&chk), step)).restart_strategy(RestartStrategy::FixedDelay {
                attempts: 2,
                delay: Duration::from_millis(10),
            });
        build(job, &e, &out, Some((failed.clone(), chk.clone(), ready)));
        e.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        assert_same(
            &published(&out),
            expected,
            &format!("{job:?}, restart on {shards} shards, step {step:?}"),
        );
    }
}

/// The job fails on `n` shards; a new job on `m` shards resumes from the directory.
fn resumes(job: Job, expected: &[String], n: usize, m: usize) {
    resumes_in(job, expected, n, m, &|e| e, has_checkpoint)
}

fn resumes_in(
    job: Job,
    expected: &[String],
    n: usize,
    m: usize,
    cfg: &dyn Fn(Env) -> Env,
    ready: Ready,
) {
    let tmp = tempfile::tempdir().unwrap();
    let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
    let failed = Arc::new(AtomicBool::new(false));
    let e = cfg(env(n, Some(&chk)));
    build(job, &e, &out, Some((failed.clone(), chk.clone(), ready)));
    assert!(e.execute().is_err(), "{job:?}: the injected failure");
    let e = cfg(env(m, Some(&chk)));
    build(job, &e, &out, None);
    e.execute().unwrap();
    assert_same(
        &published(&out),
        expected,
        &format!("{job:?}, new job {n} → {m} shards"),
    );
}

fn recovers(job: Job) {
    let expected = reference(job);
    assert!(expected.len() > 20, "{job:?}: {} lines", expected.len());
    restarts(job, &expected);
    resumes(job, &expected, 2, 2);
    resumes(job, &expected, 2, 3);
}

#[test]
fn tumbling_aggregate_recovers_exactly_once() {
    recovers(Job::Tumbling);
}

#[test]
fn sliding_sliced_aggregate_recovers_exactly_once() {
    recovers(Job::Sliding);
}

/// The window operators' snapshots (sliced, generic, merging, with lateness, with an
/// evictor), whole at the barrier (step 0) and in steps of one key (the most interleaving
/// of copies and steps with the data path), recover the same output as the default.
#[test]
fn windows_recover_exactly_once_with_whole_snapshots_and_one_key_steps() {
    for job in [
        Job::Sliding,
        Job::LatenessSliced,
        Job::Tumbling,
        Job::Session,
        Job::LatenessGeneric,
        Job::CountSliding,
    ] {
        let expected = reference(job);
        for step in [0, 1] {
            restarts_with(job, &expected, Some(step));
        }
    }
}

/// The newest complete checkpoint of `dir` holds a delta over a chain of at least a full
/// snapshot and a delta (a chain directory with two files or more).
fn has_delta_checkpoint(dir: &Path) -> bool {
    let Some(newest) = std::fs::read_dir(dir).ok().and_then(|rd| {
        rd.filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("_manifest").is_file())
            .max()
    }) else {
        return false;
    };
    std::fs::read_dir(newest).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok()).any(|e| {
            e.file_name().to_string_lossy().starts_with("chain-")
                && std::fs::read_dir(e.path()).is_ok_and(|f| f.count() >= 2)
        })
    })
}

/// Incremental snapshots of the sliced window operator: restored from a full snapshot and
/// its deltas (the failure waits for a checkpoint with a chain of two files or more), in
/// steps of the default size and of one key and whole at the barrier, on 1–3 shards, and
/// by a new job on another shard count; and with a full snapshot every third checkpoint.
#[test]
fn sliced_windows_recover_exactly_once_from_incremental_snapshots() {
    let chains: &dyn Fn(Env) -> Env = &|e| e.incremental_checkpoints(100);
    for job in [Job::LongSliding, Job::LatenessSliced] {
        let expected = reference(job);
        for step in [None, Some(1), Some(0)] {
            restarts_in(job, &expected, chains, step, has_delta_checkpoint);
        }
        resumes_in(job, &expected, 2, 3, chains, has_delta_checkpoint);
        resumes_in(job, &expected, 3, 1, chains, has_delta_checkpoint);
        restarts_in(
            job,
            &expected,
            &|e| e.incremental_checkpoints(2),
            None,
            has_checkpoint,
        );
    }
}

#[test]
fn session_windows_with_a_process_function_recover_exactly_once() {
    recovers(Job::Session);
}

#[test]
fn allowed_lateness_and_late_side_output_recover_exactly_once() {
    for (job, kinds) in [
        (Job::LatenessGeneric, ["late-generic", "dropped-generic"]),
        (Job::LatenessSliced, ["late-sliced", "dropped-sliced"]),
    ] {
        let expected = reference(job);
        for kind in kinds {
            assert!(
                expected.iter().any(|l| l.starts_with(kind)),
                "the reference has {kind} lines"
            );
        }
        if let Job::LatenessGeneric = job {
            // Late firings: some window is reported again, with the late element added.
            let windows: std::collections::BTreeSet<String> = expected
                .iter()
                .filter(|l| l.starts_with("late-generic"))
                .map(|l| l.rsplitn(3, ' ').nth(2).unwrap_or_default().to_string())
                .collect();
            let firings = expected.iter().filter(|l| l.starts_with("late-generic"));
            assert!(windows.len() < firings.count(), "a late firing");
        }
        restarts(job, &expected);
        resumes(job, &expected, 2, 3);
    }
}

#[test]
fn a_window_join_recovers_exactly_once() {
    recovers(Job::WindowJoin);
}

#[test]
fn count_windows_recover_exactly_once() {
    for job in [Job::CountWindows, Job::CountSliding] {
        let expected = reference(job);
        restarts(job, &expected);
        resumes(job, &expected, 2, 3);
    }
}

/// Without codecs for its types, a window job with checkpoints refuses to start, naming
/// them.
#[test]
fn a_window_without_codecs_is_refused_naming_the_types() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Env::new()
        .shards(1)
        .checkpointing(tmp.path().join("chk"), Duration::from_millis(20));
    e.from_iter(vec![("a".to_string(), 1i64)])
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|r: &(String, i64)| r.1),
        )
        .key_by(|r: &(String, i64)| r.0.clone())
        .window(TumblingWindows::of(10))
        .process(
            |_: &String, els: &[(String, i64)], cx: &mut WindowContext<'_, TimeWindow, usize>| {
                cx.collect(els.len());
                Ok(())
            },
        )
        .collect();
    let err = e.execute().unwrap_err().to_string();
    assert!(err.contains("key type `alloc::string::String`"), "{err}");
    assert!(
        err.contains("element type `(alloc::string::String, i64)`"),
        "{err}"
    );
}

/// A snapshot in steps completes while no record comes: the operator's own task finishes
/// it. Steps of one key, so it takes several; the input is idle when the savepoint's
/// barrier arrives (no batch, no advancing watermark to step it).
#[test]
fn a_snapshot_in_steps_completes_while_the_input_is_idle() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::new()
        .shards(2)
        .checkpointing(tmp.path().join("chk"), Duration::from_secs(3600))
        .snapshot_step(1);
    let (input, values) = env.channel_source::<u64>(4096);
    let _out = values
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|v: &u64| *v as i64),
        )
        .key_by(|v: &u64| *v % 50)
        .window(SlidingWindows::of(1_000, 100))
        .aggregate(Count)
        .collect();
    let job = env.start().unwrap();
    for v in 0..2_000u64 {
        input.push(v).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let (tx, rx) = std::sync::mpsc::channel();
    let sp = tmp.path().join("sp");
    let to = sp.clone();
    // On its own thread, so that a savepoint that never completes fails the test in time.
    std::thread::spawn(move || {
        let r = job.savepoint(&to).map(drop);
        let _ = tx.send(r);
        job.cancel().ok();
    });
    let done = rx.recv_timeout(Duration::from_secs(60));
    assert!(
        matches!(done, Ok(Ok(()))),
        "the savepoint completes while the input is idle: {done:?}"
    );
    assert!(sp.join("_manifest").is_file());
    drop(input);
}
