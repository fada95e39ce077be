//! The window join and co-group against references, on 1–3 shards with batches of 1, 7 and
//! 1024: a nested loop over the definition of the windows (no late data), and Flink's window
//! operator rules over the tagged union (out-of-order input, allowed lateness, late side
//! output). Also: state is dropped once the watermark passes a window's cleanup time.
//!
//! Determinism. Both sides are split off one source on shard 0 (`from_iter`) with punctuated
//! watermarks, so every shard's window operator sees one watermark sequence. Between two
//! watermark advances a batch goes to the left split and then to the right one, which can
//! put right elements behind later left ones; where order matters (lateness, re-firing,
//! session merging), the generated input has one side only between two advances, so the
//! operator sees the source's order exactly.

mod common;

use std::time::Duration;

use common::gated::{eventually, Gate, Gated};
use proptest::prelude::*;
use spate::io::Collected;
use spate::join::Either;
use spate::prelude::*;
use spate::state::StateGauge;
use spate::window::{
    CountEvictor, CountTrigger, GlobalWindows, PurgingTrigger, SessionWindows, SlidingWindows,
    TimeWindow, TumblingWindows, WindowAssigner, WindowContext,
};

#[path = "joins_window/reference.rs"]
mod reference;

use reference::{
    definition, group, rec, reference, single_sided_runs, Group, Kind, Outputs, Pair, Rec, E,
};

/// Adds the window join (`apply` or `flat_apply`) and the co-group of `left` and `right`.
fn add_joins<WA: WindowAssigner<E, W = TimeWindow>>(
    left: &DataStream<Rec>,
    right: &DataStream<Rec>,
    assigner: WA,
    lateness: i64,
    flat: bool,
    gauge: &StateGauge,
) -> (Collected<Either<Pair, Group>>, Collected<E>, Collected<E>) {
    let (late_j, late_g) = (
        OutputTag::<E>::new("late join"),
        OutputTag::new("late co-group"),
    );
    let join = left
        .join(right)
        .where_(|l| l.0)
        .equal_to(|r| r.0)
        .window(assigner.clone())
        .allowed_lateness(lateness)
        .side_output_late_data(&late_j);
    let pairs = if flat {
        join.flat_apply(
            |l, r, ctx: &mut WindowContext<'_, TimeWindow, (u8, u32, u32, i64)>| {
                let end = ctx.window().end;
                ctx.collect((l.0, l.2, r.2, end - 1));
                Ok(())
            },
        )
    } else {
        join.apply(|l, r| (l.0, l.2, r.2, i64::MIN))
    };
    let late_join = pairs.side_output(&late_j);
    // The results carry the window's last millisecond as their timestamp.
    let pairs = pairs.process(
        |p: (u8, u32, u32, i64), ctx: &mut ProcessContext<'_, Either<Pair, Group>>| {
            let ts = ctx.timestamp().unwrap_or(i64::MIN);
            if p.3 != i64::MIN && p.3 != ts {
                return Err(format!("{p:?} has timestamp {ts}").into());
            }
            ctx.collect(Either::Left((p.0, ts, p.1, p.2)));
            Ok(())
        },
    );
    let co_group = left
        .co_group(right)
        .where_(|l| l.0)
        .equal_to(|r| r.0)
        .window(assigner)
        .allowed_lateness(lateness)
        .side_output_late_data(&late_g)
        .state_gauge(gauge)
        .apply(
            |l: &[Rec], r: &[Rec], ctx: &mut WindowContext<'_, TimeWindow, Either<Pair, Group>>| {
                let key = l.first().or(r.first()).map_or(u8::MAX, |x| x.0);
                let g = group(key, ctx.window(), l, r);
                ctx.collect(Either::Right(g));
                Ok(())
            },
        );
    let late_co_group = co_group.side_output(&late_g);
    (
        pairs.union(&[co_group]).collect(),
        late_join.collect(),
        late_co_group.collect(),
    )
}

fn run(
    input: Vec<E>,
    kind: Kind,
    delay: i64,
    lateness: i64,
    flat: bool,
    cfg: (usize, usize),
) -> Outputs {
    common::within(Duration::from_secs(60), move || {
        let env = Env::new().shards(cfg.0).batch_size(cfg.1);
        let src = env.from_iter(input).assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(delay)
                .with_timestamp_assigner(|e: &E| rec(e).1)
                .punctuated(),
        );
        let left = src.flat_map(|e: E| e.left());
        let right = src.flat_map(|e: E| e.right());
        let gauge = StateGauge::new();
        let (results, late_j, late_g) = match kind {
            Kind::Tumbling(s) => add_joins(
                &left,
                &right,
                TumblingWindows::of(s),
                lateness,
                flat,
                &gauge,
            ),
            Kind::Sliding(s, sl) => add_joins(
                &left,
                &right,
                SlidingWindows::of(s, sl),
                lateness,
                flat,
                &gauge,
            ),
            Kind::Session(g) => add_joins(
                &left,
                &right,
                SessionWindows::with_gap(g),
                lateness,
                flat,
                &gauge,
            ),
        };
        env.execute().expect("job fails");
        assert_eq!(
            gauge.current(),
            0,
            "every window's state is dropped at the end"
        );
        let (mut pairs, mut groups) = (Vec::new(), Vec::new());
        for r in results.sorted() {
            match r {
                Either::Left(p) => pairs.push(p),
                Either::Right(g) => groups.push(g),
            }
        }
        Outputs {
            pairs,
            groups,
            late_join: late_j.sorted(),
            late_co_group: late_g.sorted(),
        }
    })
}

fn kinds() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (5i64..60).prop_map(Kind::Tumbling),
        (2i64..6, 5i64..30).prop_map(|(n, slide)| Kind::Sliding(slide * n, slide)),
        (3i64..40).prop_map(Kind::Session),
    ]
}

/// `(left?, key, timestamp)` per element; ids are positions.
fn elements() -> impl Strategy<Value = Vec<E>> {
    prop::collection::vec((any::<bool>(), 0u8..4, 0i64..300), 0..60).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (left, k, ts))| {
                let r = (k, ts, i as u32);
                if left {
                    Either::Left(r)
                } else {
                    Either::Right(r)
                }
            })
            .collect()
    })
}

/// Elements about 4 ms apart, each up to 25 ms early or late: with a short watermark delay
/// some are late, some within the allowed lateness, most on time.
fn nearly_ordered() -> impl Strategy<Value = Vec<E>> {
    prop::collection::vec((any::<bool>(), 0u8..3, -25i64..25), 0..60).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (left, k, jitter))| {
                let r = (k, i as i64 * 4 + jitter, i as u32);
                if left {
                    Either::Left(r)
                } else {
                    Either::Right(r)
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Out-of-order input, a watermark delay past every timestamp: nothing is late and no
    /// window fires before the end, so the result is the definition's.
    #[test]
    fn join_and_co_group_equal_the_nested_loop_over_the_windows(
        input in elements(), kind in kinds(), delay in 300i64..400, flat in any::<bool>(),
    ) {
        let expected = definition(&input, kind);
        for cfg in common::configs() {
            let got = run(input.clone(), kind, delay, 0, flat, cfg);
            prop_assert_eq!(&got, &expected, "{:?}, flat_apply {}, (shards, batch) {:?}", kind, flat, cfg);
        }
    }

    /// Out-of-order input with a short delay: late elements, allowed lateness re-firing
    /// windows (a join then emits a window's pairs again), sessions merging across sides.
    #[test]
    fn lateness_and_late_data_follow_flinks_window_rules(
        mut input in nearly_ordered(), kind in kinds(), delay in 0i64..30,
        lateness in prop_oneof![Just(0i64), 0i64..60], flat in any::<bool>(),
    ) {
        single_sided_runs(&mut input, delay);
        let expected = reference(&input, kind, delay, lateness);
        for cfg in common::configs() {
            let got = run(input.clone(), kind, delay, lateness, flat, cfg);
            prop_assert_eq!(&got, &expected, "{:?}, delay {}, lateness {}, flat_apply {}, (shards, batch) {:?}", kind, delay, lateness, flat, cfg);
        }
    }
}

#[test]
fn window_state_is_dropped_once_the_watermark_passes_end_minus_one_plus_lateness() {
    for (shards, batch) in common::configs() {
        let gate = Gate::default();
        let l = |k, ts, id| Either::Left((k, ts, id));
        let r = |k, ts, id| Either::Right((k, ts, id));
        let source = Gated {
            items: vec![
                (0, l(1u8, 1i64, 0u32)),
                (0, r(1, 2, 1)),
                (0, l(1, 11, 2)),
                (0, r(1, 12, 3)),
                // The watermark is 11 now: [0, 10) is kept until 9 + 5 (allowed lateness).
                (1, l(2, 15, 4)),
                // Now 14: [0, 10) is dropped.
            ],
            end: 2,
            gate: gate.clone(),
        };
        let gauge = StateGauge::new();
        let g = gauge.clone();
        let job = std::thread::spawn(move || {
            let env = Env::new().shards(shards).batch_size(batch);
            let src = env
                .add_source("gated", source)
                .assign_timestamps_and_watermarks(
                    WatermarkStrategy::for_bounded_out_of_orderness(0)
                        .with_timestamp_assigner(|e: &E| rec(e).1)
                        .punctuated(),
                );
            let pairs = src
                .flat_map(|e: E| e.left())
                .join(&src.flat_map(|e: E| e.right()))
                .where_(|x| x.0)
                .equal_to(|x| x.0)
                .window(TumblingWindows::of(10))
                .allowed_lateness(5)
                .state_gauge(&g)
                .apply(|a, b| (a.2, b.2))
                .collect();
            env.execute().map(|_| pairs.sorted())
        });
        let limit = Duration::from_secs(20);
        eventually(limit, "4 elements buffered", || gauge.current() == 4);
        gate.open(1);
        eventually(limit, "[0, 10) dropped at watermark 14", || {
            gauge.current() == 3
        });
        gate.open(2);
        let pairs = job.join().expect("job thread").expect("job fails");
        assert_eq!(
            pairs,
            vec![(0, 1), (2, 3)],
            "{shards} shards, batch {batch}"
        );
        assert_eq!(gauge.current(), 0, "everything dropped at the end");
        assert!(gauge.peak() >= 4, "peak {}", gauge.peak());
    }
}

#[test]
fn triggers_and_evictors_see_tagged_elements() {
    for shards in common::SHARDS {
        let env = Env::new().shards(shards).batch_size(1);
        let src = env.from_iter(vec![
            Either::Left((0u8, 1i64, 0u32)),
            Either::Right((0, 2, 1)),
            Either::Left((0, 3, 2)),
            Either::Right((0, 4, 3)),
            Either::Left((0, 5, 4)),
        ]);
        let left = src.flat_map(|e: E| e.left());
        let right = src.flat_map(|e: E| e.right());
        // Every 2 elements of either side, fire and purge: pairs within each couple.
        let counted = left
            .join(&right)
            .where_(|x| x.0)
            .equal_to(|x| x.0)
            .window(GlobalWindows)
            .trigger(PurgingTrigger(CountTrigger(2)))
            .apply(|a, b| (a.2, b.2))
            .collect();
        // A window of everything, fired at the end; the evictor keeps the last 3 elements.
        let evicted = left
            .co_group(&right)
            .where_(|x| x.0)
            .equal_to(|x| x.0)
            .window(GlobalWindows)
            .trigger(CountTrigger(5))
            .evictor(CountEvictor::of(3))
            .apply(
                |a: &[Rec], b: &[Rec], ctx: &mut WindowContext<'_, _, (Vec<u32>, Vec<u32>)>| {
                    ctx.collect((
                        a.iter().map(|x| x.2).collect(),
                        b.iter().map(|x| x.2).collect(),
                    ));
                    Ok(())
                },
            )
            .collect();
        env.execute().expect("job fails");
        assert_eq!(counted.sorted(), vec![(0, 1), (2, 3)], "{shards} shards");
        assert_eq!(
            evicted.take(),
            vec![(vec![2, 4], vec![3])],
            "{shards} shards"
        );
    }
}
