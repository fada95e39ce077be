//! Idleness: a source split that receives nothing does not hold back the windows of the
//! others once `with_idleness` finds it idle; without idleness it does.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use spate::prelude::*;
use spate::window::{TimeWindow, TumblingWindows, WindowContext};

/// Shard 0 emits `(key, ts)` for ts in 0..20 over keys 0..4; every other shard emits
/// nothing. Every split then stays open (idle) until a window result has been seen or the
/// deadline passes; `timed_out` records whether any split had to wait for the deadline.
#[derive(Clone)]
struct OneBusySplit {
    fired: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
    wait: Duration,
}

struct Split {
    records: Vec<(u8, i64)>,
    deadline: Option<Instant>,
    wait: Duration,
    fired: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
}

impl SourceSplit<(u8, i64)> for Split {
    fn poll(&mut self, out: &mut SourceOutput<'_, (u8, i64)>) -> Result<SourceStatus, SpateError> {
        while out.remaining() > 0 {
            match self.records.pop() {
                Some(r) => out.emit(r),
                None => break,
            }
        }
        if !self.records.is_empty() {
            return Ok(SourceStatus::More);
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.wait);
        if self.fired.load(Ordering::SeqCst) {
            Ok(SourceStatus::Done)
        } else if Instant::now() >= deadline {
            self.timed_out.store(true, Ordering::SeqCst);
            Ok(SourceStatus::Done)
        } else {
            Ok(SourceStatus::Idle)
        }
    }
}

impl Source<(u8, i64)> for OneBusySplit {
    fn split(
        &mut self,
        shard: usize,
        _shards: usize,
    ) -> Result<Box<dyn SourceSplit<(u8, i64)>>, SpateError> {
        let mut records: Vec<(u8, i64)> = if shard == 0 {
            (0..20).map(|ts| ((ts % 4) as u8, ts)).collect()
        } else {
            Vec::new()
        };
        records.reverse();
        Ok(Box::new(Split {
            records,
            deadline: None,
            wait: self.wait,
            fired: self.fired.clone(),
            timed_out: self.timed_out.clone(),
        }))
    }
}

/// Runs a 10 ms tumbling count per key; returns the results and whether a split waited
/// for its deadline (that is, no window fired while any split was still open).
fn run(shards: usize, idleness: Option<i64>, wait: Duration) -> (Vec<(u8, i64, u64)>, bool) {
    common::within(Duration::from_secs(60), move || {
        let fired = Arc::new(AtomicBool::new(false));
        let timed_out = Arc::new(AtomicBool::new(false));
        let env = Env::new()
            .shards(shards)
            .batch_size(4)
            .watermark_interval_ms(10);
        let strategy = WatermarkStrategy::for_monotonous_timestamps()
            .with_timestamp_assigner(|r: &(u8, i64)| r.1);
        let strategy = match idleness {
            Some(ms) => strategy.with_idleness(ms),
            None => strategy,
        };
        let source = OneBusySplit {
            fired: fired.clone(),
            timed_out: timed_out.clone(),
            wait,
        };
        let seen = fired.clone();
        let out = env
            .add_source("one busy split", source)
            .assign_timestamps_and_watermarks(strategy)
            .key_by(|r| r.0)
            .window(TumblingWindows::of(10))
            .process(
                |k: &u8,
                 els: &[(u8, i64)],
                 ctx: &mut WindowContext<'_, TimeWindow, (u8, i64, u64)>| {
                    ctx.collect((*k, ctx.window().start, els.len() as u64));
                    Ok(())
                },
            )
            .process(move |r: (u8, i64, u64), ctx: &mut ProcessContext<'_, _>| {
                seen.store(true, Ordering::SeqCst);
                ctx.collect(r);
                Ok(())
            })
            .collect();
        env.execute().expect("job fails");
        (out.sorted(), timed_out.load(Ordering::SeqCst))
    })
}

fn expected() -> Vec<(u8, i64, u64)> {
    let mut v: Vec<(u8, i64, u64)> = (0..4u8)
        .flat_map(|k| [(k, 0i64), (k, 10)])
        .map(|(k, s)| {
            let n = (s..s + 10).filter(|ts| ts % 4 == k as i64).count() as u64;
            (k, s, n)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn an_idle_split_does_not_hold_back_the_others() {
    for shards in [2, 3] {
        let (out, timed_out) = run(shards, Some(30), Duration::from_secs(20));
        assert!(
            !timed_out,
            "{shards} shards: no window fired while the empty splits were open"
        );
        assert_eq!(out, expected(), "{shards} shards");
    }
}

#[test]
fn without_idleness_an_empty_split_holds_event_time_back() {
    let (out, timed_out) = run(2, None, Duration::from_millis(500));
    assert!(
        timed_out,
        "a window fired although an empty split held the watermark"
    );
    assert_eq!(out, expected(), "the end of input still fires every window");
}
