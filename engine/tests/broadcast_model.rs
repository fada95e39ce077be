//! The broadcast state pattern against naive models, on 1–3 shards and tiny batches, with
//! out-of-order data.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use spate::prelude::*;
use spate::state::ValueState;

/// (key, event time) of a data record.
type Rec = (u8, i64);
/// (rule id, event time) of a broadcast record.
type Rule = (u16, i64);

/// What the keyed function emits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Out {
    /// A data record of `key` was its key's `n`-th.
    Seen(u8, u64),
    /// The timer of `key` at `t` saw this many rules stamped at or before `t`.
    Timer(u8, i64, usize),
    /// A shard stored this rule.
    Stored(u16),
}

/// Counts records per key (keyed state), stores every rule with its time (broadcast state),
/// and at each record's time (event-time timer) reports how many rules are stamped at or
/// before it. The report is exact only if the timer waits for the rule stream's watermark
/// too: the operator's watermark must be the minimum of both inputs'.
#[derive(Clone, Default)]
struct RulesSeen {
    count: ValueState<u8, u64>,
}

impl KeyedBroadcastProcessFunction<u8, Rec, Rule, Out> for RulesSeen {
    type StateKey = u16;
    type StateValue = i64;

    fn process_element(
        &mut self,
        r: Rec,
        _rules: &BroadcastState<u16, i64>,
        ctx: &mut KeyedContext<'_, u8, Out>,
    ) -> Result<(), UserError> {
        let n = self.count.value(ctx).copied().unwrap_or(0) + 1;
        self.count.update(ctx, n);
        ctx.register_event_time_timer(r.1);
        ctx.collect(Out::Seen(r.0, n));
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        rule: Rule,
        rules: &mut BroadcastState<u16, i64>,
        ctx: &mut ProcessContext<'_, Out>,
    ) -> Result<(), UserError> {
        rules.insert(rule.0, rule.1);
        ctx.collect(Out::Stored(rule.0));
        Ok(())
    }

    fn on_timer(
        &mut self,
        t: i64,
        rules: &BroadcastState<u16, i64>,
        ctx: &mut KeyedContext<'_, u8, Out>,
    ) -> Result<(), UserError> {
        let n = rules.values().filter(|&&at| at <= t).count();
        ctx.collect(Out::Timer(*ctx.current_key(), t, n));
        Ok(())
    }
}

fn model(data: &[Rec], rules: &[Rule], shards: usize) -> Vec<Out> {
    let mut out = Vec::new();
    let mut counts: BTreeMap<u8, u64> = BTreeMap::new();
    let mut timers = BTreeSet::new();
    for &(k, t) in data {
        let n = counts.entry(k).or_default();
        *n += 1;
        out.push(Out::Seen(k, *n));
        timers.insert((k, t));
    }
    for (k, t) in timers {
        out.push(Out::Timer(k, t, rules.iter().filter(|r| r.1 <= t).count()));
    }
    for r in rules {
        out.extend(std::iter::repeat_n(Out::Stored(r.0), shards));
    }
    out.sort();
    out
}

/// Out-of-order data (each record at most `MAX_DELAY` ms behind the newest, so none is
/// late) and rules in time order with distinct ids.
const MAX_DELAY: i64 = 20;

fn inputs() -> impl Strategy<Value = (Vec<Rec>, Vec<Rule>)> {
    (
        prop::collection::vec((0u8..5, 0i64..300, 0i64..MAX_DELAY), 0..80),
        prop::collection::vec(0i64..320, 0..12),
    )
        .prop_map(|(mut data, mut rules)| {
            data.sort_by_key(|d| d.1);
            rules.sort();
            (
                data.into_iter().map(|(k, t, j)| (k, t + j)).collect(),
                rules
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| (i as u16, t))
                    .collect(),
            )
        })
}

fn run_keyed(data: Vec<Rec>, rules: Vec<Rule>, shards: usize, batch: usize) -> Vec<Out> {
    common::within(Duration::from_secs(60), move || {
        let env = Env::new().shards(shards).batch_size(batch);
        let data = env.from_iter(data).assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(MAX_DELAY)
                .with_timestamp_assigner(|r: &Rec| r.1)
                .punctuated(),
        );
        let rules = env.from_iter(rules).assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|r: &Rule| r.1)
                .punctuated(),
        );
        let out = data
            .key_by(|r: &Rec| r.0)
            .connect_broadcast(&rules)
            .process(RulesSeen::default())
            .collect();
        env.execute().expect("job runs");
        out.sorted()
    })
}

/// Passes data through and emits each rule it stores (non-keyed).
#[derive(Clone)]
struct PassThrough;

impl BroadcastProcessFunction<Rec, Rule, Out> for PassThrough {
    type StateKey = u16;
    type StateValue = i64;

    fn process_element(
        &mut self,
        r: Rec,
        _rules: &BroadcastState<u16, i64>,
        ctx: &mut ProcessContext<'_, Out>,
    ) -> Result<(), UserError> {
        ctx.collect(Out::Seen(r.0, r.1 as u64));
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        rule: Rule,
        rules: &mut BroadcastState<u16, i64>,
        ctx: &mut ProcessContext<'_, Out>,
    ) -> Result<(), UserError> {
        if rules.insert(rule.0, rule.1).is_some() {
            return Err(format!("rule {} stored twice on one shard", rule.0).into());
        }
        ctx.collect(Out::Stored(rule.0));
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn keyed_broadcast_matches_the_model((data, rules) in inputs()) {
        for (shards, batch) in common::configs() {
            let got = run_keyed(data.clone(), rules.clone(), shards, batch);
            prop_assert_eq!(got, model(&data, &rules, shards), "{} shards, batch {}", shards, batch);
        }
    }

    #[test]
    fn every_shard_gets_every_rule_once_and_data_passes_once((data, rules) in inputs()) {
        for (shards, batch) in common::configs() {
            let (d, r) = (data.clone(), rules.clone());
            let got = common::within(Duration::from_secs(60), move || {
                let env = Env::new().shards(shards).batch_size(batch);
                let out = env
                    .from_iter(d)
                    .rebalance()
                    .connect_broadcast(&env.from_iter(r))
                    .process(PassThrough)
                    .collect();
                env.execute().expect("job runs");
                out.sorted()
            });
            let mut want: Vec<Out> = data.iter().map(|r| Out::Seen(r.0, r.1 as u64)).collect();
            for r in &rules {
                want.extend(std::iter::repeat_n(Out::Stored(r.0), shards));
            }
            want.sort();
            prop_assert_eq!(got, want, "{} shards, batch {}", shards, batch);
        }
    }
}

#[test]
fn an_error_in_the_broadcast_side_fails_the_job_naming_the_operator() {
    let env = Env::new().shards(2);
    let _out = env
        .from_iter(vec![(1u8, 1i64)])
        .connect_broadcast(&env.from_iter(vec![(7u16, 0i64), (7, 1)]))
        .process(PassThrough)
        .collect();
    let err = env
        .execute()
        .expect_err("a rule stored twice fails the job");
    let msg = err.to_string();
    assert!(msg.contains("broadcast_process"), "{msg}");
    assert!(msg.contains("rule 7 stored twice"), "{msg}");
}

/// Regression guard for the combined watermark: the data stream runs far ahead while the
/// rule stream is held back; timers must wait for the rules' watermark too.
#[test]
fn timers_wait_for_the_rule_streams_watermark() {
    use common::gated::{Gate, Gated};
    for shards in common::SHARDS {
        let data: Vec<Rec> = (0..50).map(|i| ((i % 4) as u8, i * 10)).collect();
        let rules: Vec<Rule> = (0..10).map(|i| (i as u16, i as i64 * 55)).collect();
        let gate = Gate::default();
        let source = Gated {
            items: rules.iter().map(|r| (1, *r)).collect(),
            end: 1,
            gate: gate.clone(),
        };
        let d = data.clone();
        let job = std::thread::spawn(move || {
            let env = Env::new().shards(shards).batch_size(3);
            let data = env.from_iter(d).assign_timestamps_and_watermarks(
                WatermarkStrategy::for_monotonous_timestamps()
                    .with_timestamp_assigner(|r: &Rec| r.1)
                    .punctuated(),
            );
            let rules = env
                .add_source("rules", source)
                .assign_timestamps_and_watermarks(
                    WatermarkStrategy::for_monotonous_timestamps()
                        .with_timestamp_assigner(|r: &Rule| r.1)
                        .punctuated(),
                );
            let out = data
                .key_by(|r: &Rec| r.0)
                .connect_broadcast(&rules)
                .process(RulesSeen::default())
                .collect();
            env.execute().expect("job runs");
            out.sorted()
        });
        // Let the data stream run ahead with no rule released.
        std::thread::sleep(Duration::from_millis(100));
        gate.open(1);
        let got = job.join().expect("job thread");
        assert_eq!(got, model(&data, &rules, shards), "{shards} shards");
    }
}
