//! The window operator against a naive model of Flink's `WindowOperator` semantics:
//! tumbling, sliding and session windows, out-of-order input, allowed lateness and the late
//! side output, on 1–3 shards with tiny batches.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use spate::prelude::*;
use spate::window::{
    AggregateFunction, SessionWindows, SlidingWindows, TimeWindow, TumblingWindows, WindowContext,
};

type Rec = (u8, i64, i64); // (key, timestamp, value)
type Fired = (u8, i64, i64, Vec<i64>); // (key, start, end, sorted values)

#[derive(Debug, Clone, Copy)]
enum Kind {
    Tumbling(i64),
    Sliding(i64, i64),
    Session(i64),
}

fn assign(kind: Kind, ts: i64) -> Vec<TimeWindow> {
    match kind {
        Kind::Tumbling(size) => {
            let s = ts - ts.rem_euclid(size);
            vec![TimeWindow::new(s, s + size)]
        }
        Kind::Sliding(size, slide) => {
            let mut out = Vec::new();
            let mut s = ts - ts.rem_euclid(slide);
            while s > ts - size {
                out.push(TimeWindow::new(s, s + size));
                s -= slide;
            }
            out
        }
        Kind::Session(gap) => vec![TimeWindow::new(ts, ts + gap)],
    }
}

/// Flink's rules, written out plainly: per key the live windows and their contents, a set of
/// `(time, key, window)` timers (trigger at `end - 1`, cleanup at `end - 1 + lateness`), a
/// punctuated watermark `max_ts - delay - 1`.
fn model(input: &[Rec], kind: Kind, delay: i64, lateness: i64) -> (Vec<Fired>, Vec<Rec>) {
    let merging = matches!(kind, Kind::Session(_));
    let cleanup = |w: &TimeWindow| w.end - 1 + lateness;
    let mut live: BTreeMap<(u8, TimeWindow), Vec<i64>> = BTreeMap::new();
    let mut timers: BTreeSet<(i64, u8, TimeWindow)> = BTreeSet::new();
    let (mut fired, mut late) = (Vec::new(), Vec::new());
    let mut wm = i64::MIN;
    let mut max_ts = i64::MIN;
    let emit = |fired: &mut Vec<Fired>, k: u8, w: &TimeWindow, vals: &[i64]| {
        let mut v = vals.to_vec();
        v.sort();
        fired.push((k, w.start, w.end, v));
    };
    let advance = |to: i64,
                   live: &mut BTreeMap<(u8, TimeWindow), Vec<i64>>,
                   timers: &mut BTreeSet<(i64, u8, TimeWindow)>,
                   fired: &mut Vec<Fired>| {
        while let Some(&(t, k, w)) = timers.iter().next() {
            if t > to {
                break;
            }
            timers.remove(&(t, k, w));
            let Some(vals) = live.get(&(k, w)) else {
                continue;
            };
            if t == w.end - 1 {
                emit(fired, k, &w, vals);
            }
            if t == cleanup(&w) {
                live.remove(&(k, w));
                timers.remove(&(w.end - 1, k, w));
            }
        }
    };
    for &(k, ts, v) in input {
        let mut skipped = true;
        for w in assign(kind, ts) {
            let actual = if merging {
                // Merge with every live window of the key that touches the new one.
                let mut cover = w;
                let mut vals = Vec::new();
                let mut merged_any = false;
                loop {
                    let hit = live
                        .keys()
                        .find(|(kk, x)| *kk == k && x.intersects(&cover) && *x != cover)
                        .copied();
                    match hit {
                        Some((_, x)) => {
                            vals.extend(live.remove(&(k, x)).unwrap_or_default());
                            timers.remove(&(x.end - 1, k, x));
                            timers.remove(&(cleanup(&x), k, x));
                            cover = cover.cover(&x);
                            merged_any = true;
                        }
                        None => break,
                    }
                }
                if let Some(existing) = live.get_mut(&(k, cover)) {
                    existing.extend(vals);
                } else if merged_any || !live.contains_key(&(k, cover)) {
                    if cleanup(&cover) <= wm {
                        continue; // late window: retired, element not added
                    }
                    live.insert((k, cover), vals);
                }
                if merged_any && cover.end - 1 > wm {
                    timers.insert((cover.end - 1, k, cover));
                }
                cover
            } else {
                if cleanup(&w) <= wm {
                    continue;
                }
                w
            };
            if cleanup(&actual) <= wm {
                continue;
            }
            skipped = false;
            live.entry((k, actual)).or_default().push(v);
            if actual.end - 1 <= wm {
                emit(&mut fired, k, &actual, &live[&(k, actual)]);
            } else {
                timers.insert((actual.end - 1, k, actual));
            }
            timers.insert((cleanup(&actual), k, actual));
        }
        if skipped && ts + lateness <= wm {
            late.push((k, ts, v));
        }
        max_ts = max_ts.max(ts);
        if max_ts - delay - 1 > wm {
            wm = max_ts - delay - 1;
            advance(wm, &mut live, &mut timers, &mut fired);
        }
    }
    advance(i64::MAX, &mut live, &mut timers, &mut fired);
    fired.sort();
    late.sort();
    (fired, late)
}

/// How the job under test reads and windows its input.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// `from_iter`, an assigner after it, window functions given the elements.
    Process,
    /// As `Process`, with aggregates (on slices where the window allows).
    Aggregate,
    /// As `Process`, read by `from_source` with watermarks per split.
    PerSplit,
}

/// The input on the first shard's split, in order (the other splits empty): read through
/// `Env::from_source`, whose per-split watermarks must then act as an assigner after it.
#[derive(Clone)]
struct FirstSplit(Vec<Rec>);

struct Items(std::vec::IntoIter<Rec>);

impl spate::io::SourceSplit<Rec> for Items {
    fn poll(
        &mut self,
        out: &mut spate::io::SourceOutput<'_, Rec>,
    ) -> Result<spate::io::SourceStatus, SpateError> {
        while out.remaining() > 0 {
            match self.0.next() {
                Some(r) => out.emit(r),
                None => return Ok(spate::io::SourceStatus::Done),
            }
        }
        Ok(spate::io::SourceStatus::More)
    }
    /// As `from_iter`'s: an empty split holds no watermark back.
    fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

impl spate::io::Source<Rec> for FirstSplit {
    fn split(
        &mut self,
        shard: usize,
        _shards: usize,
    ) -> Result<Box<dyn spate::io::SourceSplit<Rec>>, SpateError> {
        let mine = if shard == 0 {
            self.0.clone()
        } else {
            Vec::new()
        };
        Ok(Box::new(Items(mine.into_iter())))
    }
}

/// The values of a window, sorted: an aggregate whose result does not depend on order.
#[derive(Clone)]
struct Collect;

impl AggregateFunction<Rec, Vec<i64>> for Collect {
    type Acc = Vec<i64>;
    fn create_accumulator(&self) -> Vec<i64> {
        Vec::new()
    }
    fn add(&self, r: Rec, acc: &mut Vec<i64>) {
        acc.push(r.2);
    }
    fn get_result(&self, acc: &Vec<i64>) -> Vec<i64> {
        let mut v = acc.clone();
        v.sort();
        v
    }
    fn merge(&self, acc: &mut Vec<i64>, other: Vec<i64>) {
        acc.extend(other);
    }
}

/// Runs the job with `process` over all elements or, when `aggregate`, with
/// `aggregate_process` (which runs sliding windows on shared slices).
fn run_with(
    input: Vec<Rec>,
    kind: Kind,
    delay: i64,
    lateness: i64,
    shards: usize,
    batch: usize,
    via: Via,
) -> (Vec<Fired>, Vec<Rec>) {
    let aggregate = via == Via::Aggregate;
    common::within(Duration::from_secs(60), move || {
        let env = Env::new().shards(shards).batch_size(batch);
        let strategy = WatermarkStrategy::for_bounded_out_of_orderness(delay)
            .with_timestamp_assigner(|r: &Rec| r.1)
            .punctuated();
        let stamped = if via == Via::PerSplit {
            env.from_source("first split", FirstSplit(input), strategy)
        } else {
            env.from_iter(input)
                .assign_timestamps_and_watermarks(strategy)
        };
        let keyed = stamped.key_by(|r| r.0);
        let late_tag = OutputTag::<Rec>::new("late");
        let list = |k: &u8, els: &[Rec], ctx: &mut WindowContext<'_, TimeWindow, Fired>| {
            let mut v: Vec<i64> = els.iter().map(|r| r.2).collect();
            v.sort();
            let (s, e) = (ctx.window().start, ctx.window().end);
            ctx.collect((*k, s, e, v));
            Ok(())
        };
        let agg = |k: &u8, v: &[Vec<i64>], ctx: &mut WindowContext<'_, TimeWindow, Fired>| {
            let (s, e) = (ctx.window().start, ctx.window().end);
            ctx.collect((*k, s, e, v[0].clone()));
            Ok(())
        };
        let out = match kind {
            Kind::Sliding(size, slide) if aggregate => keyed
                .window(SlidingWindows::of(size, slide))
                .allowed_lateness(lateness)
                .side_output_late_data(&late_tag)
                .aggregate_process(Collect, agg),
            Kind::Tumbling(size) if aggregate => keyed
                .window(TumblingWindows::of(size))
                .allowed_lateness(lateness)
                .side_output_late_data(&late_tag)
                .aggregate_process(Collect, agg),
            Kind::Tumbling(size) => keyed
                .window(TumblingWindows::of(size))
                .allowed_lateness(lateness)
                .side_output_late_data(&late_tag)
                .process(list),
            Kind::Sliding(size, slide) => keyed
                .window(SlidingWindows::of(size, slide))
                .allowed_lateness(lateness)
                .side_output_late_data(&late_tag)
                .process(list),
            Kind::Session(gap) => keyed
                .window(SessionWindows::with_gap(gap))
                .allowed_lateness(lateness)
                .side_output_late_data(&late_tag)
                .process(list),
        };
        let late = out.side_output(&late_tag).collect();
        let fired = out.collect();
        env.execute().expect("job fails");
        (fired.sorted(), late.sorted())
    })
}

fn kinds() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (5i64..60).prop_map(Kind::Tumbling),
        (2i64..6, 5i64..30).prop_map(|(n, slide)| Kind::Sliding(slide * n, slide)),
        (3i64..40).prop_map(Kind::Session),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Also with watermarks generated per split (`Env::from_source`) by the one split that
    /// has records: the same results as an assigner after the source.
    #[test]
    fn windows_match_flinks_semantics(
        input in prop::collection::vec((0u8..4, 0i64..300, -20i64..20), 0..80),
        kind in kinds(),
        delay in 0i64..40,
        lateness in prop_oneof![Just(0i64), 0i64..60],
    ) {
        let expected = model(&input, kind, delay, lateness);
        for (shards, batch) in common::configs() {
            for via in [Via::Process, Via::PerSplit] {
                let got = run_with(input.clone(), kind, delay, lateness, shards, batch, via);
                prop_assert_eq!(&got, &expected, "{:?}, delay {}, lateness {}, {} shards, batch {}, per split {}", kind, delay, lateness, shards, batch, via == Via::PerSplit);
            }
        }
    }

    /// Tumbling and sliding windows computed on slices give the same results, also when the
    /// size is not a multiple of the slide (slices of gcd(size, slide)).
    #[test]
    fn sliced_windows_match_flinks_semantics(
        input in prop::collection::vec((0u8..4, 0i64..300, -20i64..20), 0..80),
        kind in prop_oneof![
            (5i64..60).prop_map(Kind::Tumbling),
            (2i64..25).prop_flat_map(|slide| (slide..slide * 5, Just(slide)))
                .prop_map(|(size, slide)| Kind::Sliding(size, slide)),
        ],
        delay in 0i64..40,
        lateness in prop_oneof![Just(0i64), 0i64..60],
    ) {
        let expected = model(&input, kind, delay, lateness);
        for (shards, batch) in common::configs() {
            let got = run_with(input.clone(), kind, delay, lateness, shards, batch, Via::Aggregate);
            prop_assert_eq!(&got, &expected, "{:?}, delay {}, lateness {}, {} shards, batch {}", kind, delay, lateness, shards, batch);
        }
    }
}
