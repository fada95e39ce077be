//! Count windows against a naive model of Flink's `countWindow` (tumbling: fire and purge
//! every n elements of a key; sliding: every s elements, the last n), and processing-time
//! windows driven by a manual clock, on 1–3 shards.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use spate::prelude::*;
use spate::time::ManualClock;
use spate::window::{Count, TimeWindow, TumblingWindows, WindowContext};

/// Per key, in arrival order: `(key, sum of the window's values)` for every firing.
fn count_model(input: &[(u8, i64)], size: usize, slide: Option<usize>) -> Vec<(u8, i64)> {
    let mut per_key: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
    let mut out = Vec::new();
    for &(k, v) in input {
        let seen = per_key.entry(k).or_default();
        seen.push(v);
        match slide {
            None => {
                if seen.len() % size == 0 {
                    out.push((k, seen[seen.len() - size..].iter().sum()));
                }
            }
            Some(s) => {
                if seen.len() % s == 0 {
                    let from = seen.len().saturating_sub(size);
                    out.push((k, seen[from..].iter().sum()));
                }
            }
        }
    }
    out.sort();
    out
}

fn run_count(
    input: Vec<(u8, i64)>,
    size: usize,
    slide: Option<usize>,
    shards: usize,
    batch: usize,
) -> Vec<(u8, i64)> {
    common::within(Duration::from_secs(60), move || {
        let env = Env::new().shards(shards).batch_size(batch);
        let keyed = env.from_iter(input).key_by(|r: &(u8, i64)| r.0);
        let out = match slide {
            None => keyed.count_window(size as u64).sum(|r| &mut r.1),
            Some(s) => keyed
                .count_window_sliding(size as u64, s as u64)
                .sum(|r| &mut r.1),
        }
        .collect();
        env.execute().expect("job fails");
        out.sorted()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn count_windows_match_flinks_semantics(
        input in prop::collection::vec((0u8..4, -50i64..50), 0..80),
        size in 1usize..6,
        slide in prop_oneof![Just(None), (1usize..6).prop_map(Some)],
    ) {
        let expected = count_model(&input, size, slide);
        for (shards, batch) in common::configs() {
            let got = run_count(input.clone(), size, slide, shards, batch);
            prop_assert_eq!(&got, &expected, "size {} slide {:?}, {} shards, batch {}", size, slide, shards, batch);
        }
    }
}

/// Emits, on shard 0, group `g` of records with the clock at `g * 100 + 10`, then lets
/// 150 ms of real time pass (so every shard has processed the group) before moving the
/// clock to the next group; after the last group it moves the clock past the last window
/// and waits again before ending (processing-time windows still open at the end of input
/// do not fire, as in Flink).
#[derive(Clone)]
struct Groups {
    groups: Vec<Vec<(u8, i64)>>,
    clock: ManualClock,
}

struct GroupsSplit {
    groups: std::vec::IntoIter<Vec<(u8, i64)>>,
    clock: ManualClock,
    next_at: Option<Instant>,
    g: i64,
    done: bool,
}

impl SourceSplit<(u8, i64)> for GroupsSplit {
    fn poll(&mut self, out: &mut SourceOutput<'_, (u8, i64)>) -> Result<SourceStatus, SpateError> {
        if self.next_at.is_some_and(|t| Instant::now() < t) {
            return Ok(SourceStatus::Idle);
        }
        if self.done {
            return Ok(SourceStatus::Done);
        }
        self.clock.set(self.g * 100 + 10);
        self.g += 1;
        match self.groups.next() {
            Some(group) => group.into_iter().for_each(|r| out.emit(r)),
            None => self.done = true,
        }
        self.next_at = Some(Instant::now() + Duration::from_millis(150));
        Ok(SourceStatus::More)
    }
}

impl Source<(u8, i64)> for Groups {
    fn split(
        &mut self,
        shard: usize,
        _n: usize,
    ) -> Result<Box<dyn SourceSplit<(u8, i64)>>, SpateError> {
        let groups = if shard == 0 {
            std::mem::take(&mut self.groups)
        } else {
            Vec::new()
        };
        let done = groups.is_empty();
        Ok(Box::new(GroupsSplit {
            groups: groups.into_iter(),
            clock: self.clock.clone(),
            next_at: None,
            g: 0,
            done,
        }))
    }
}

#[test]
fn processing_time_windows_follow_the_clock() {
    let groups: Vec<Vec<(u8, i64)>> = vec![
        vec![(1, 1), (2, 5), (1, 2)],
        vec![(1, 4)],
        vec![],
        vec![(2, 7), (3, 1), (2, 1)],
    ];
    // Group g is seen at clock g * 100 + 10: in window [g * 100, g * 100 + 100).
    let mut expected = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let mut counts: BTreeMap<u8, u64> = BTreeMap::new();
        for r in group {
            *counts.entry(r.0).or_default() += 1;
        }
        for (k, n) in counts {
            expected.push((k, g as i64 * 100, n));
        }
    }
    expected.sort();
    for shards in common::SHARDS {
        let clock = ManualClock::new(0);
        let source = Groups {
            groups: groups.clone(),
            clock: clock.clone(),
        };
        let got = common::within(Duration::from_secs(30), move || {
            let env = Env::new().shards(shards).batch_size(2).clock(clock);
            let out = env
                .add_source("groups", source)
                .key_by(|r: &(u8, i64)| r.0)
                .window(TumblingWindows::processing_time(100))
                .aggregate_process(
                    Count,
                    |k: &u8, n: &[u64], ctx: &mut WindowContext<'_, TimeWindow, (u8, i64, u64)>| {
                        ctx.collect((*k, ctx.window().start, n[0]));
                        Ok(())
                    },
                )
                .collect();
            env.execute().expect("job fails");
            out.sorted()
        });
        assert_eq!(got, expected, "{shards} shards");
    }
}
