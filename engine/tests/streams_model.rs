//! Stream operators (union, connect, partitioners, side outputs, parallel sources) against
//! naive models, on 1–3 shards and tiny batches.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use spate::prelude::*;
use spate::state::ValueState;

const LIMIT: Duration = Duration::from_secs(60);

/// Sums values per key and emits `(key, sum, count)` once, when the input ends: a result
/// that does not depend on how inputs interleave.
#[derive(Clone, Default)]
struct FinalSum {
    acc: ValueState<u8, (i64, u64)>,
}

impl KeyedProcessFunction<u8, (u8, i64), (u8, i64, u64)> for FinalSum {
    fn process_element(
        &mut self,
        r: (u8, i64),
        ctx: &mut KeyedContext<'_, u8, (u8, i64, u64)>,
    ) -> Result<(), UserError> {
        let (s, n) = self.acc.value(ctx).copied().unwrap_or((0, 0));
        self.acc.update(ctx, (s + r.1, n + 1));
        ctx.register_event_time_timer(i64::MAX);
        Ok(())
    }
    fn on_timer(
        &mut self,
        _ts: i64,
        ctx: &mut KeyedContext<'_, u8, (u8, i64, u64)>,
    ) -> Result<(), UserError> {
        let (s, n) = self.acc.value(ctx).copied().unwrap_or((0, 0));
        ctx.collect((*ctx.current_key(), s, n));
        Ok(())
    }
}

fn final_sums(input: impl IntoIterator<Item = (u8, i64)>) -> Vec<(u8, i64, u64)> {
    let mut m: BTreeMap<u8, (i64, u64)> = BTreeMap::new();
    for (k, v) in input {
        let e = m.entry(k).or_default();
        e.0 += v;
        e.1 += 1;
    }
    m.into_iter().map(|(k, (s, n))| (k, s, n)).collect()
}

fn pairs() -> impl Strategy<Value = Vec<(u8, i64)>> {
    prop::collection::vec((0u8..8, -100i64..100), 0..150)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn union_of_three_streams_then_keyed_state(a in pairs(), b in pairs(), c in pairs()) {
        let expected = final_sums(a.iter().chain(&b).chain(&c).copied());
        let mut all: Vec<(u8, i64)> = a.iter().chain(&b).chain(&c).copied().collect();
        all.sort();
        for (shards, batch) in common::configs() {
            let (a, b, c) = (a.clone(), b.clone(), c.clone());
            let (merged, sums) = common::within(LIMIT, move || {
                let env = Env::new().shards(shards).batch_size(batch);
                let u = env.from_iter(a).union(&[env.from_iter(b).rebalance(), env.from_iter(c).map(|x| x)]);
                let merged = u.collect();
                let sums = u.key_by(|r| r.0).process(FinalSum::default()).collect();
                env.execute().expect("job fails");
                (merged.sorted(), sums.sorted())
            });
            prop_assert_eq!(&merged, &all, "union, {} shards, batch {}", shards, batch);
            prop_assert_eq!(&sums, &expected, "sums, {} shards, batch {}", shards, batch);
        }
    }

    #[test]
    fn connect_routes_each_input_to_its_method(a in pairs(), b in prop::collection::vec(0u32..1000, 0..100)) {
        #[derive(Clone)]
        struct Tag;
        impl CoProcessFunction<(u8, i64), u32, (u8, i64)> for Tag {
            fn process_element1(&mut self, v: (u8, i64), ctx: &mut ProcessContext<'_, (u8, i64)>) -> Result<(), UserError> {
                ctx.collect((v.0, v.1 * 2));
                Ok(())
            }
            fn process_element2(&mut self, v: u32, ctx: &mut ProcessContext<'_, (u8, i64)>) -> Result<(), UserError> {
                ctx.collect(((v % 8) as u8, -(v as i64)));
                Ok(())
            }
        }
        let mut expected: Vec<(u8, i64)> = a.iter().map(|v| (v.0, v.1 * 2)).chain(b.iter().map(|v| ((v % 8) as u8, -(*v as i64)))).collect();
        expected.sort();
        let expected_sums = final_sums(expected.clone());
        for (shards, batch) in common::configs() {
            let (a, b) = (a.clone(), b.clone());
            let (got, sums) = common::within(LIMIT, move || {
                let env = Env::new().shards(shards).batch_size(batch);
                let left = env.from_iter(a).key_by(|r| r.0).as_stream();
                let right = env.from_iter(b).rebalance();
                let joined = left.connect(&right).process(Tag);
                let out = joined.collect();
                let sums = joined.key_by(|r| r.0).process(FinalSum::default()).collect();
                env.execute().expect("job fails");
                (out.sorted(), sums.sorted())
            });
            prop_assert_eq!(&got, &expected, "{} shards, batch {}", shards, batch);
            prop_assert_eq!(&sums, &expected_sums);
        }
    }
}

#[test]
fn parallel_generator_covers_every_sequence_number_once_on_every_shard_count() {
    for (shards, batch) in common::configs() {
        let got = common::within(LIMIT, move || {
            let env = Env::new().shards(shards).batch_size(batch);
            let out = env
                .generate(Some(5_000), |seq| ((seq % 8) as u8, seq as i64))
                .key_by(|r| r.0)
                .process(FinalSum::default())
                .collect();
            env.execute().expect("job fails");
            out.sorted()
        });
        assert_eq!(
            got,
            final_sums((0..5_000u64).map(|s| ((s % 8) as u8, s as i64))),
            "{shards} shards, batch {batch}"
        );
    }
}

#[test]
fn broadcast_delivers_every_record_to_every_shard_and_rebalance_spreads_them() {
    for (shards, batch) in common::configs() {
        let (b, r) = common::within(LIMIT, move || {
            let env = Env::new().shards(shards).batch_size(batch);
            let tagged = |s: DataStream<u32>| {
                s.process(|v: u32, ctx: &mut ProcessContext<'_, u32>| {
                    ctx.collect(v);
                    Ok(())
                })
            };
            let b = tagged(env.from_iter(0..50u32).broadcast()).collect();
            let r = env.from_iter(0..50u32).rebalance().collect();
            env.execute().expect("job fails");
            (b.sorted(), r.sorted())
        });
        let mut expected: Vec<u32> = (0..50)
            .flat_map(|v| std::iter::repeat_n(v, shards))
            .collect();
        expected.sort();
        assert_eq!(b, expected, "broadcast on {shards} shards");
        assert_eq!(
            r,
            (0..50).collect::<Vec<_>>(),
            "rebalance on {shards} shards"
        );
    }
}

#[test]
fn side_outputs_of_two_types_and_the_main_output_partition_the_input() {
    for (shards, batch) in common::configs() {
        let (main, small, names) = common::within(LIMIT, move || {
            let env = Env::new().shards(shards).batch_size(batch);
            let small = OutputTag::<i64>::new("small");
            let odd_names = OutputTag::<String>::new("odd names");
            let (s2, n2) = (small.clone(), odd_names.clone());
            let main = env.generate(Some(300), |s| s as i64).process(
                move |v: i64, ctx: &mut ProcessContext<'_, i64>| {
                    if v < 100 {
                        ctx.output(&s2, v);
                    } else {
                        ctx.collect(v);
                    }
                    if v % 2 == 1 {
                        ctx.output(&n2, format!("n{v}"));
                    }
                    Ok(())
                },
            );
            let small_out = main.side_output(&small).map(|v| v * 10).collect();
            let names_out = main.side_output(&odd_names).collect();
            let main_out = main.collect();
            env.execute().expect("job fails");
            (
                main_out.sorted(),
                small_out.sorted(),
                names_out.take().len(),
            )
        });
        assert_eq!(main, (100..300).collect::<Vec<_>>(), "{shards} shards");
        assert_eq!(small, (0..100).map(|v| v * 10).collect::<Vec<_>>());
        assert_eq!(names, 150);
    }
}

#[test]
fn process_finish_runs_once_per_shard_when_the_input_ends() {
    #[derive(Clone, Default)]
    struct CountThenReport(u64);
    impl ProcessFunction<u64, u64> for CountThenReport {
        fn process_element(
            &mut self,
            _v: u64,
            _ctx: &mut ProcessContext<'_, u64>,
        ) -> Result<(), UserError> {
            self.0 += 1;
            Ok(())
        }
        fn finish(&mut self, ctx: &mut ProcessContext<'_, u64>) -> Result<(), UserError> {
            ctx.collect(self.0);
            Ok(())
        }
    }
    for shards in common::SHARDS {
        let out = common::within(LIMIT, move || {
            let env = Env::new().shards(shards).batch_size(7);
            let out = env
                .generate(Some(1_000), |s| s)
                .process(CountThenReport::default())
                .collect();
            env.execute().expect("job fails");
            out.take()
        });
        assert_eq!(out.len(), shards);
        assert_eq!(out.iter().sum::<u64>(), 1_000);
    }
}

#[test]
fn a_full_channel_blocks_the_sender_and_nothing_is_lost() {
    // One-batch channels and one-record batches: every send waits for the receiver.
    let got = common::within(LIMIT, || {
        let env = Env::new().shards(3).batch_size(1).channel_capacity(1);
        let out = env
            .generate(Some(30_000), |s| ((s % 97) as u8, 1i64))
            .key_by(|r| r.0)
            .process(FinalSum::default())
            .collect();
        env.execute().expect("job fails");
        out.sorted()
    });
    assert_eq!(got.iter().map(|r| r.2).sum::<u64>(), 30_000);
    assert_eq!(got, final_sums((0..30_000u64).map(|s| ((s % 97) as u8, 1))));
}

#[test]
fn job_result_counts_records_per_operator() {
    let env = Env::new().shards(2);
    env.generate(Some(1_000), |s| s)
        .filter(|s| s % 4 == 0)
        .collect();
    let r = env.execute().expect("job fails");
    assert_eq!(r.records_out("generate"), Some(1_000));
    assert_eq!(r.records_out("filter"), Some(250));
    assert_eq!(r.records_out("collect"), Some(250));
    assert_eq!(r.state, spate::runtime::JobState::Done { failed: false });
}
