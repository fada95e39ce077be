//! Keyed operators against naive single-threaded models, on 1–3 shards and tiny batches.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use spate::prelude::*;
use spate::state::{ListState, MapState, ValueState};

type Rec = (u8, i64, i64); // (key, timestamp, value)

fn records() -> impl Strategy<Value = Vec<Rec>> {
    prop::collection::vec((0u8..6, 0i64..200, -50i64..50), 0..120)
}

/// Flink's keyed reduce emits the running aggregate after every record, in input order per
/// key: the model folds the input in order.
fn running<F: Fn(Rec, Rec) -> Rec>(input: &[Rec], f: F) -> Vec<Rec> {
    let mut acc: BTreeMap<u8, Rec> = BTreeMap::new();
    let mut out = Vec::new();
    for &r in input {
        let next = match acc.remove(&r.0) {
            Some(a) => f(a, r),
            None => r,
        };
        acc.insert(r.0, next);
        out.push(next);
    }
    out.sort();
    out
}

fn run_keyed(
    input: Vec<Rec>,
    shards: usize,
    batch: usize,
    build: fn(DataStream<Rec>) -> DataStream<Rec>,
) -> Vec<Rec> {
    common::within(Duration::from_secs(60), move || {
        let env = Env::new().shards(shards).batch_size(batch);
        let out = build(env.from_iter(input)).collect();
        env.execute().expect("job fails");
        out.sorted()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn keyed_reduce_sum_min_max_match_the_model(input in records()) {
        for (shards, batch) in common::configs() {
            let sum = run_keyed(input.clone(), shards, batch, |s| s.key_by(|r| r.0).sum(|r| &mut r.2));
            prop_assert_eq!(&sum, &running(&input, |a, r| (a.0, a.1, a.2 + r.2)), "sum, {} shards, batch {}", shards, batch);
            let min = run_keyed(input.clone(), shards, batch, |s| s.key_by(|r| r.0).min(|r| &mut r.2));
            prop_assert_eq!(&min, &running(&input, |a, r| (a.0, a.1, a.2.min(r.2))), "min");
            let max = run_keyed(input.clone(), shards, batch, |s| s.key_by(|r| r.0).max(|r| &mut r.2));
            prop_assert_eq!(&max, &running(&input, |a, r| (a.0, a.1, a.2.max(r.2))), "max");
            let min_by = run_keyed(input.clone(), shards, batch, |s| s.key_by(|r| r.0).min_by(|r| &mut r.2));
            prop_assert_eq!(&min_by, &running(&input, |a, r| if r.2 < a.2 { r } else { a }), "min_by");
            let max_by = run_keyed(input.clone(), shards, batch, |s| s.key_by(|r| r.0).max_by(|r| &mut r.2));
            prop_assert_eq!(&max_by, &running(&input, |a, r| if r.2 > a.2 { r } else { a }), "max_by");
            let reduce = run_keyed(input.clone(), shards, batch, |s| {
                s.key_by(|r| r.0).reduce(|a, r| (a.0, a.1.max(r.1), a.2 * 3 - r.2))
            });
            prop_assert_eq!(&reduce, &running(&input, |a, r| (a.0, a.1.max(r.1), a.2 * 3 - r.2)), "reduce");
        }
    }
}

/// A stateful keyed function: counts records (value state), keeps their values (list state)
/// and the latest value per timestamp bucket (map state), and registers an event-time timer
/// at `ts + 10`. A timer emits `(key, timer, count, sum of the list, buckets)` and clears
/// the list.
#[derive(Clone, Default)]
struct Tally {
    count: ValueState<u8, i64>,
    values: ListState<u8, i64>,
    buckets: MapState<u8, i64, i64>,
}

type Fired = (u8, i64, i64, i64, i64);

impl KeyedProcessFunction<u8, Rec, Fired> for Tally {
    fn process_element(
        &mut self,
        r: Rec,
        ctx: &mut KeyedContext<'_, u8, Fired>,
    ) -> Result<(), UserError> {
        let n = self.count.value(ctx).copied().unwrap_or(0) + 1;
        self.count.update(ctx, n);
        self.values.add(ctx, r.2);
        self.buckets.put(ctx, r.1 / 50, r.2);
        ctx.register_event_time_timer(r.1 + 10);
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u8, Fired>,
    ) -> Result<(), UserError> {
        let count = self.count.value(ctx).copied().unwrap_or(0);
        let sum: i64 = self.values.get(ctx).sum();
        let buckets = self.buckets.entries(ctx).map(|(_, v)| *v).sum();
        self.values.clear(ctx);
        ctx.collect((*ctx.current_key(), ts, count, sum, buckets));
        Ok(())
    }
}

/// The model: punctuated watermarks `max_ts - delay - 1` after every record; timers fire on
/// each watermark advance in timestamp order; the end of input is watermark +∞.
fn tally_model(input: &[Rec], delay: i64) -> Vec<Fired> {
    #[derive(Default)]
    struct K {
        count: i64,
        values: Vec<i64>,
        buckets: BTreeMap<i64, i64>,
    }
    let mut keys: BTreeMap<u8, K> = BTreeMap::new();
    let mut timers: std::collections::BTreeSet<(i64, u8)> = Default::default();
    let mut out = Vec::new();
    let mut max_ts = i64::MIN;
    let mut wm = i64::MIN;
    let fire = |upto: i64,
                keys: &mut BTreeMap<u8, K>,
                timers: &mut std::collections::BTreeSet<(i64, u8)>,
                out: &mut Vec<Fired>| {
        while let Some(&(t, k)) = timers.iter().next() {
            if t > upto {
                break;
            }
            timers.remove(&(t, k));
            let s = keys.entry(k).or_default();
            out.push((
                k,
                t,
                s.count,
                s.values.iter().sum(),
                s.buckets.values().sum(),
            ));
            s.values.clear();
        }
    };
    for &(k, ts, v) in input {
        let s = keys.entry(k).or_default();
        s.count += 1;
        s.values.push(v);
        s.buckets.insert(ts / 50, v);
        timers.insert((ts + 10, k));
        max_ts = max_ts.max(ts);
        let w = max_ts - delay - 1;
        if w > wm {
            wm = w;
            fire(wm, &mut keys, &mut timers, &mut out);
        }
    }
    fire(i64::MAX, &mut keys, &mut timers, &mut out);
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn keyed_process_with_state_and_timers_matches_the_model(input in records(), delay in 0i64..30) {
        let expected = tally_model(&input, delay);
        for (shards, batch) in common::configs() {
            let input = input.clone();
            let got = common::within(Duration::from_secs(60), move || {
                let env = Env::new().shards(shards).batch_size(batch);
                let strategy = WatermarkStrategy::for_bounded_out_of_orderness(delay)
                    .with_timestamp_assigner(|r: &Rec| r.1)
                    .punctuated();
                let out = env
                    .from_iter(input)
                    .assign_timestamps_and_watermarks(strategy)
                    .key_by(|r| r.0)
                    .process(Tally::default())
                    .collect();
                env.execute().expect("job fails");
                out.sorted()
            });
            prop_assert_eq!(&got, &expected, "{} shards, batch {}", shards, batch);
        }
    }
}

/// Two keyed inputs sharing state: counts side-A records and sums side-B values per key,
/// emits the totals at the end of input, and reports every event-time timer `(key, ts + 10)`
/// when it fires. A timer re-registered after it fired (a late record of the other input)
/// fires again, as in Flink; how often that happens depends on how the inputs interleave,
/// so the test compares the set of fired timers.
#[derive(Clone, Default)]
struct TwoSided {
    count_a: ValueState<u8, i64>,
    sum_b: ValueState<u8, i64>,
}

type TwoOut = (u8, i64, i64, i64); // (key, timer or -1, count of A, sum of B)

impl KeyedCoProcessFunction<u8, Rec, Rec, TwoOut> for TwoSided {
    fn process_element1(
        &mut self,
        r: Rec,
        ctx: &mut KeyedContext<'_, u8, TwoOut>,
    ) -> Result<(), UserError> {
        let n = self.count_a.value(ctx).copied().unwrap_or(0);
        self.count_a.update(ctx, n + 1);
        ctx.register_event_time_timer(r.1 + 10);
        ctx.register_event_time_timer(i64::MAX);
        Ok(())
    }
    fn process_element2(
        &mut self,
        r: Rec,
        ctx: &mut KeyedContext<'_, u8, TwoOut>,
    ) -> Result<(), UserError> {
        let s = self.sum_b.value(ctx).copied().unwrap_or(0);
        self.sum_b.update(ctx, s + r.2);
        ctx.register_event_time_timer(r.1 + 10);
        ctx.register_event_time_timer(i64::MAX);
        Ok(())
    }
    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u8, TwoOut>,
    ) -> Result<(), UserError> {
        let k = *ctx.current_key();
        if ts == i64::MAX {
            let a = self.count_a.value(ctx).copied().unwrap_or(0);
            let b = self.sum_b.value(ctx).copied().unwrap_or(0);
            ctx.collect((k, -1, a, b));
        } else {
            ctx.collect((k, ts, 0, 0));
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn keyed_co_process_shares_state_and_timers_across_inputs(a in records(), b in records(), delay in 0i64..30) {
        let mut expected: Vec<TwoOut> = Vec::new();
        let mut timers = std::collections::BTreeSet::new();
        let mut totals: BTreeMap<u8, (i64, i64)> = BTreeMap::new();
        for r in &a {
            timers.insert((r.0, r.1 + 10));
            totals.entry(r.0).or_default().0 += 1;
        }
        for r in &b {
            timers.insert((r.0, r.1 + 10));
            totals.entry(r.0).or_default().1 += r.2;
        }
        expected.extend(timers.into_iter().map(|(k, t)| (k, t, 0, 0)));
        expected.extend(totals.into_iter().map(|(k, (n, s))| (k, -1, n, s)));
        expected.sort();
        for (shards, batch) in common::configs() {
            let (a, b) = (a.clone(), b.clone());
            let got = common::within(Duration::from_secs(60), move || {
                let env = Env::new().shards(shards).batch_size(batch);
                let strategy = || {
                    WatermarkStrategy::for_bounded_out_of_orderness(delay)
                        .with_timestamp_assigner(|r: &Rec| r.1)
                        .punctuated()
                };
                let left = env.from_iter(a).assign_timestamps_and_watermarks(strategy()).key_by(|r| r.0);
                let right = env.from_iter(b).assign_timestamps_and_watermarks(strategy()).key_by(|r| r.0);
                let out = left.connect(&right).process(TwoSided::default()).collect();
                env.execute().expect("job fails");
                let mut got = out.sorted();
                got.dedup();
                got
            });
            prop_assert_eq!(&got, &expected, "{} shards, batch {}", shards, batch);
        }
    }
}
