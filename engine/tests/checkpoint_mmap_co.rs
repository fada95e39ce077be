//! mmap state handles in a keyed co-process function: counts per key of two inputs live in
//! an `MmapValueState` and an `MmapMapState`; the job fails after a checkpoint and recovers
//! exactly once (restart strategy on 1 and 2 shards; a new job on 2 → 3 and 3 → 1 shards).

mod common;
use common::checkpoints::{has_checkpoint, published};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spate::prelude::*;
use spate::state::mmap::{MmapMapState, MmapValueState};

type Fail = (Arc<AtomicBool>, PathBuf);

#[derive(Clone, Default)]
struct Count {
    n: MmapValueState<u64, u64>,
    /// Per key, records seen per input (0 or 1).
    per_input: MmapMapState<u64, u8, u64>,
    fail: Option<Fail>,
}

impl Count {
    fn on(
        &mut self,
        seq: u64,
        input: u8,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        if let Some((failed, dir)) = &self.fail {
            if seq >= 1_000 && has_checkpoint(dir) && !failed.swap(true, Ordering::SeqCst) {
                return Err("injected failure".into());
            }
        }
        let n = self.n.value(ctx)?.map_or(0, |v| v.to_native()) + 1;
        self.n.update(ctx, &n)?;
        let m = self
            .per_input
            .get(ctx, &input)?
            .map_or(0, |v| v.to_native())
            + 1;
        self.per_input.put(ctx, &input, &m)?;
        ctx.collect(format!("{} {n} {input}:{m}", ctx.current_key()));
        Ok(())
    }
}

impl KeyedCoProcessFunction<u64, u64, u64, String> for Count {
    fn process_element1(
        &mut self,
        seq: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        self.on(seq, 0, ctx)
    }
    fn process_element2(
        &mut self,
        seq: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        self.on(seq, 1, ctx)
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.n);
        reg.register("per input", &mut self.per_input);
    }
}

const RECORDS: u64 = 6_000;
const KEYS: u64 = 1_009;

fn build(env: &Env, out: &Path, fail: Option<Fail>) {
    let gate = fail
        .as_ref()
        .map(|(_, dir)| (dir.clone(), Arc::new(AtomicBool::new(false))));
    // A collection (read by shard 0): its offset restores on any shard count.
    let src = env.from_iter(0..RECORDS).uid("numbers").map(move |seq| {
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
        seq
    });
    let a = src.filter(|s| s % 3 != 0).key_by(|s: &u64| s % KEYS);
    let b = src.filter(|s| s % 3 == 0).key_by(|s: &u64| s % KEYS);
    a.connect(&b)
        .process(Count {
            fail,
            ..Default::default()
        })
        .uid("count")
        .write_lines_exactly_once(out);
}

/// What an uninterrupted count gives: per key, every count once; per key and input, every
/// count of that input once (in whatever order the inputs interleave).
/// Counts per key, and per key and input.
type Counts = (BTreeMap<u64, Vec<u64>>, BTreeMap<(u64, u8), Vec<u64>>);

fn expected_sets() -> Counts {
    let (mut per_key, mut per_input) = (BTreeMap::new(), BTreeMap::new());
    let mut counts: BTreeMap<(u64, u8), u64> = BTreeMap::new();
    for s in 0..RECORDS {
        let input = u8::from(s % 3 == 0);
        let k = s % KEYS;
        let v: &mut Vec<u64> = per_key.entry(k).or_default();
        v.push(v.len() as u64 + 1);
        let c = counts.entry((k, input)).or_default();
        *c += 1;
        per_input
            .entry((k, input))
            .or_insert_with(Vec::new)
            .push(*c);
    }
    (per_key, per_input)
}

/// Checks the published lines against an uninterrupted run's counts.
fn check(out: &Path, what: &str) {
    let lines = published(out);
    let (want_key, want_input) = expected_sets();
    let (mut key, mut input): Counts = Default::default();
    for l in &lines {
        let (k, rest) = l.split_once(' ').unwrap();
        let (n, im) = rest.split_once(' ').unwrap();
        let (i, m) = im.split_once(':').unwrap();
        let k: u64 = k.parse().unwrap();
        key.entry(k).or_default().push(n.parse().unwrap());
        input
            .entry((k, i.parse().unwrap()))
            .or_default()
            .push(m.parse().unwrap());
    }
    key.values_mut().for_each(|v| v.sort_unstable());
    input.values_mut().for_each(|v| v.sort_unstable());
    let total: usize = key.values().map(Vec::len).sum();
    assert_eq!(total, RECORDS as usize, "{what}: lines");
    assert!(key == want_key, "{what}: counts per key differ");
    assert!(
        input == want_input,
        "{what}: counts per key and input differ"
    );
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

#[test]
fn an_uninterrupted_run_passes_the_check() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let env = job(2, &tmp.path().join("chk"), &tmp.path().join("state"));
    build(&env, &out, None);
    env.execute().unwrap();
    check(&out, "uninterrupted");
}

#[test]
fn a_keyed_co_process_with_mmap_state_recovers_exactly_once() {
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
        build(&env, &out, Some((failed.clone(), chk.clone())));
        env.execute().unwrap();
        assert!(failed.load(Ordering::SeqCst), "the failure was injected");
        check(&out, &format!("{shards} shards"));
    }
}

#[test]
fn a_new_job_resumes_on_another_shard_count() {
    for (before, after) in [(2, 3), (3, 1)] {
        let tmp = tempfile::tempdir().unwrap();
        let (chk, out) = (tmp.path().join("chk"), tmp.path().join("out"));
        let failed = Arc::new(AtomicBool::new(false));
        let env = job(before, &chk, &tmp.path().join("state"));
        build(&env, &out, Some((failed, chk.clone())));
        let err = env.execute().unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        let env = job(after, &chk, &tmp.path().join("state"));
        build(&env, &out, None);
        env.execute().unwrap();
        check(&out, &format!("{before} → {after} shards"));
    }
}
