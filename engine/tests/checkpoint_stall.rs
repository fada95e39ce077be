//! A source that blocks its shard thread (here a generator sleeping 1 ms per record, about
//! 64 ms per poll of 64 records) must not hold back the checkpoint write: the first
//! checkpoint must complete within a few polls. When the shard wrote its snapshot files
//! through its own io_uring reactor, which reaps completions only between polls, it took
//! one poll per I/O round trip: 2.6–3.3 s on 1 shard, and none completed during the 1.6 s
//! the job ran on 2 shards.

mod common;
use common::checkpoints::has_checkpoint;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spate::prelude::*;
use spate::state::ValueState;

#[derive(Clone, Default)]
struct Count(ValueState<u64, u64>);

impl KeyedProcessFunction<u64, u64, String> for Count {
    fn process_element(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        *self.0.value_or_insert_with(ctx, || 0) += 1;
        ctx.collect(v.to_string());
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.0);
    }
}

/// Milliseconds from the job's start until the generator first sees a complete checkpoint
/// (`None`: none during the run).
fn first_checkpoint_ms(shards: usize) -> Option<u64> {
    let tmp = tempfile::tempdir().unwrap();
    let chk = tmp.path().join("chk");
    let env = Env::new()
        .shards(shards)
        .batch_size(64)
        .checkpointing(&chk, Duration::from_millis(20));
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let (seen2, dir) = (seen.clone(), chk.clone());
    let start = Instant::now();
    env.generate(Some(4_000), move |seq| {
        if seen2.load(Ordering::Relaxed) == u64::MAX && has_checkpoint(&dir) {
            seen2.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(1)); // blocks the shard thread
        seq
    })
    .key_by(|v: &u64| v % 13)
    .process(Count::default())
    .write_lines_exactly_once(tmp.path().join("out"));
    env.execute().unwrap();
    let ms = seen.load(Ordering::Relaxed);
    (ms != u64::MAX).then_some(ms)
}

#[test]
fn a_source_blocking_its_shard_does_not_hold_back_the_checkpoint_write() {
    for shards in [1, 2] {
        let ms = first_checkpoint_ms(shards);
        assert!(
            ms.is_some_and(|ms| ms < 1_500),
            "{shards} shards: first checkpoint after {ms:?} ms (blocking polls of ~64 ms)"
        );
    }
}
