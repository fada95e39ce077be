//! Checkpoints in an embedded job: records pushed through a `channel_source` carry sequence
//! numbers; a job cancelled after a checkpoint is started again on the same directory, the
//! caller pushes again from `Input::resume_from()` (what lies below is dropped as a
//! duplicate), and the published output equals an uninterrupted run's.

mod common;
use common::checkpoints::published;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use spate::embedded::Input;
use spate::prelude::*;
use spate::state::ValueState;

#[derive(Clone, Default)]
struct Count {
    n: ValueState<u64, u64>,
}

impl KeyedProcessFunction<u64, u64, String> for Count {
    fn process_element(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        let n = self.n.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.collect(format!("{} {n} {v}", ctx.current_key()));
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.n);
    }
}

const RECORDS: u64 = 5_000;
const KEYS: u64 = 31;

/// The caller's replayable log.
fn log(seq: u64) -> u64 {
    seq.wrapping_mul(2_654_435_761) % 1_000_003
}

fn job(dir: &Path, shards: usize) -> (Env, Input<u64>) {
    let env = Env::new()
        .shards(shards)
        .batch_size(16)
        .checkpointing(dir.join("chk"), Duration::from_millis(20));
    let (input, values) = env.channel_source::<u64>(64);
    values
        .key_by(|v: &u64| v % KEYS)
        .process(Count::default())
        .write_lines_exactly_once(dir.join("out"));
    (env, input)
}

fn expected() -> Vec<String> {
    let mut per_key: BTreeMap<u64, u64> = BTreeMap::new();
    let mut lines: Vec<String> = (0..RECORDS)
        .map(|s| {
            let v = log(s);
            let n = per_key.entry(v % KEYS).or_default();
            *n += 1;
            format!("{} {n} {v}", v % KEYS)
        })
        .collect();
    lines.sort();
    lines
}

fn complete_checkpoints(chk: &Path) -> usize {
    std::fs::read_dir(chk)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("_manifest").is_file())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_restarted_embedded_job_resumes_from_the_checkpointed_sequence() {
    for shards in [1, 2] {
        let tmp = tempfile::tempdir().unwrap();
        // First run: push part of the log, wait for a checkpoint that read some of it,
        // then cancel (as a crash would stop it).
        let (env, input) = job(tmp.path(), shards);
        let handle = env.start().unwrap();
        assert_eq!(input.resume_from(), 0, "nothing restored");
        for s in 0..2_000 {
            assert!(input.push_at(s, log(s)).unwrap());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while complete_checkpoints(&tmp.path().join("chk")) < 2 {
            assert!(Instant::now() < deadline, "no checkpoint");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = handle.cancel();
        drop(input);

        // Second run on the same directories: the caller replays its log from the start;
        // what the checkpoint holds is dropped, the rest goes in.
        let (env, input) = job(tmp.path(), shards);
        let handle = env.start().unwrap();
        let from = input.resume_from();
        assert!(from > 0 && from <= 2_000, "resume from {from}");
        let mut dropped = 0;
        for s in 0..RECORDS {
            if !input.push_at(s, log(s)).unwrap() {
                dropped += 1;
            }
        }
        assert_eq!(
            dropped, from,
            "exactly the records below resume_from are dropped"
        );
        drop(input);
        handle.join().unwrap();
        assert_eq!(
            published(&tmp.path().join("out")),
            expected(),
            "{shards} shards"
        );
    }
}

#[test]
fn pushing_out_of_order_is_an_error_naming_the_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let (env, input) = job(tmp.path(), 1);
    let handle = env.start().unwrap();
    assert!(input.push_at(0, 1).unwrap());
    let e = input.push_at(5, 1).unwrap_err().to_string();
    assert!(
        e.contains("sequence 5") && e.contains("next sequence number is 1"),
        "{e}"
    );
    input.push(7).unwrap();
    assert!(input.push_at(2, 1).unwrap(), "push numbers records too");
    drop(input);
    handle.join().unwrap();
}
