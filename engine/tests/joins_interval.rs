//! The interval join against a nested-loop reference: random out-of-order input with
//! punctuated watermarks, random bounds (inclusive or exclusive), on 1–3 shards with batch
//! sizes 1, 7 and 1024.
//!
//! Both sides come from one source, in one order, split by a filter, so the watermark each
//! record meets is fixed by that order. On one shard the join sees exactly that order, and
//! the reference knows which records are late. On several shards a side's records cross
//! shards through their own channel and the other side's watermark may lag, so the join's
//! watermark can only be lower: a record the reference calls on time is on time, one it
//! calls late may not be. There the check is that every record reported late is late by
//! the reference, and that the pairs are exactly those among the records not reported late.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use spate::join::JoinStateGauge;
use spate::prelude::*;

/// `(is_left, key, timestamp, id)`.
type Tagged = (bool, u8, i64, u32);
type Rec = (u8, i64, u32);
/// `(left id, right id, pair timestamp as the context says, record timestamp downstream)`.
type Pair = (u32, u32, i64, i64);

#[derive(Debug, Clone, Copy)]
struct Bounds {
    lower: i64,
    upper: i64,
    lower_exclusive: bool,
    upper_exclusive: bool,
}

impl Bounds {
    fn matches(&self, l: i64, r: i64) -> bool {
        let lo = l + self.lower + i64::from(self.lower_exclusive);
        let hi = l + self.upper - i64::from(self.upper_exclusive);
        lo <= r && r <= hi
    }
}

struct Expected {
    late_left: BTreeSet<u32>,
    late_right: BTreeSet<u32>,
}

/// Which records are late, given the source order: the watermark a record meets is the
/// punctuated one after the records before it, `max_ts − delay − 1`; late means below it.
fn lateness(input: &[Tagged], delay: i64) -> Expected {
    let (mut wm, mut max_ts) = (i64::MIN, i64::MIN);
    let mut e = Expected {
        late_left: BTreeSet::new(),
        late_right: BTreeSet::new(),
    };
    for &(left, _, ts, id) in input {
        if ts < wm {
            if left {
                e.late_left.insert(id);
            } else {
                e.late_right.insert(id);
            }
        }
        max_ts = max_ts.max(ts);
        wm = wm.max(max_ts - delay - 1);
    }
    e
}

/// Every matching pair among the records not in the late sets: the nested loop.
fn nested_loop(
    input: &[Tagged],
    b: Bounds,
    late_left: &BTreeSet<u32>,
    late_right: &BTreeSet<u32>,
) -> Vec<Pair> {
    let mut out = Vec::new();
    for &(l_side, lk, lts, lid) in input {
        if !l_side || late_left.contains(&lid) {
            continue;
        }
        for &(r_side, rk, rts, rid) in input {
            if r_side || late_right.contains(&rid) || lk != rk || !b.matches(lts, rts) {
                continue;
            }
            out.push((lid, rid, lts.max(rts), lts.max(rts)));
        }
    }
    out.sort();
    out
}

struct Got {
    pairs: Vec<Pair>,
    late_left: BTreeSet<u32>,
    late_right: BTreeSet<u32>,
}

fn run(input: Vec<Tagged>, delay: i64, b: Bounds, shards: usize, batch: usize) -> Got {
    common::within(Duration::from_secs(60), move || {
        let env = Env::new().shards(shards).batch_size(batch);
        let src = env.from_iter(input).assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(delay)
                .with_timestamp_assigner(|r: &Tagged| r.2)
                .punctuated(),
        );
        let side = |left: bool| {
            src.filter(move |r| r.0 == left)
                .map(|r| (r.1, r.2, r.3))
                .key_by(|r: &Rec| r.0)
        };
        let (late_l, late_r) = (
            OutputTag::<Rec>::new("late-l"),
            OutputTag::<Rec>::new("late-r"),
        );
        let gauge = JoinStateGauge::new();
        let mut joined = side(true)
            .interval_join(&side(false))
            .between(b.lower, b.upper)
            .side_output_left_late_data(&late_l)
            .side_output_right_late_data(&late_r)
            .state_gauge(&gauge);
        if b.lower_exclusive {
            joined = joined.lower_bound_exclusive();
        }
        if b.upper_exclusive {
            joined = joined.upper_bound_exclusive();
        }
        let pairs = joined.process(
            |l: &Rec, r: &Rec, ctx: &mut ProcessJoinContext<'_, u8, (u32, u32, i64)>| {
                assert_eq!(*ctx.current_key(), l.0);
                assert_eq!((ctx.left_timestamp(), ctx.right_timestamp()), (l.1, r.1));
                ctx.collect((l.2, r.2, ctx.timestamp()));
                Ok(())
            },
        );
        let ll = pairs.side_output(&late_l).collect();
        let lr = pairs.side_output(&late_r).collect();
        let out = pairs
            .process(|p: (u32, u32, i64), ctx: &mut ProcessContext<'_, Pair>| {
                ctx.collect((p.0, p.1, p.2, ctx.timestamp().unwrap_or(i64::MIN)));
                Ok(())
            })
            .collect();
        env.execute().expect("job fails");
        assert_eq!(gauge.current(), 0, "the end of input empties the state");
        Got {
            pairs: out.sorted(),
            late_left: ll.take().into_iter().map(|r| r.2).collect(),
            late_right: lr.take().into_iter().map(|r| r.2).collect(),
        }
    })
}

fn tagged() -> impl Strategy<Value = Vec<Tagged>> {
    prop::collection::vec((any::<bool>(), 0u8..3, 0i64..120), 0..70).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (l, k, ts))| (l, k, ts, i as u32))
            .collect()
    })
}

fn bounds() -> impl Strategy<Value = Bounds> {
    (-25i64..15, 0i64..30, any::<bool>(), any::<bool>()).prop_map(|(lower, width, le, ue)| {
        // Keep the interval non-empty: exclusive bounds need room.
        let room = width >= i64::from(le) + i64::from(ue);
        Bounds {
            lower,
            upper: lower + width,
            lower_exclusive: le && room,
            upper_exclusive: ue && room,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn interval_join_matches_the_nested_loop(
        input in tagged(),
        b in bounds(),
        delay in prop_oneof![0i64..20, Just(1000)],
    ) {
        let model = lateness(&input, delay);
        for (shards, batch) in common::configs() {
            let got = run(input.clone(), delay, b, shards, batch);
            let ctx = format!("{b:?}, delay {delay}, {shards} shards, batch {batch}");
            if shards == 1 {
                prop_assert_eq!(&got.late_left, &model.late_left, "late left, {}", ctx);
                prop_assert_eq!(&got.late_right, &model.late_right, "late right, {}", ctx);
            } else {
                prop_assert!(got.late_left.is_subset(&model.late_left), "late left {:?} not late, {}", got.late_left, ctx);
                prop_assert!(got.late_right.is_subset(&model.late_right), "late right {:?} not late, {}", got.late_right, ctx);
            }
            let expected = nested_loop(&input, b, &got.late_left, &got.late_right);
            prop_assert_eq!(&got.pairs, &expected, "pairs, {}", ctx);
        }
    }
}

#[test]
fn a_record_at_the_watermark_still_finds_its_pairs() {
    // Bounds [-5, 2]: the left record at 10 accepts rights in [5, 12]. The record at 13 (another
    // key) moves the watermark to 12; the right record at 12 is on time (late means below
    // the watermark, as in Flink) and must still meet the left record. Flink drops the left
    // record when the watermark reaches 10 + 2 and loses this pair; Spate keeps it until the
    // watermark passes 12.
    let input = vec![(true, 0, 10, 0), (true, 1, 13, 1), (false, 0, 12, 2)];
    let b = Bounds {
        lower: -5,
        upper: 2,
        lower_exclusive: false,
        upper_exclusive: false,
    };
    for (shards, batch) in common::configs() {
        let got = run(input.clone(), 0, b, shards, batch);
        assert!(got.late_right.is_empty());
        assert_eq!(
            got.pairs,
            vec![(0, 2, 12, 12)],
            "{shards} shards, batch {batch}"
        );
    }
}

#[test]
fn bounds_that_admit_nothing_fail_the_job_naming_them() {
    let env = Env::new().shards(1);
    let a = env.from_iter(vec![(1u8, 1i64)]).key_by(|r| r.0);
    let b = env.from_iter(vec![(1u8, 1i64)]).key_by(|r| r.0);
    let _ = a
        .interval_join(&b)
        .between(5, 5)
        .upper_bound_exclusive()
        .process(|_: &(u8, i64), _: &(u8, i64), _: &mut ProcessJoinContext<'_, u8, u8>| Ok(()));
    let err = env.execute().expect_err("empty bounds").to_string();
    assert!(
        err.contains("[5, 5]") && err.contains("exclusive upper"),
        "{err}"
    );
}

#[test]
fn records_without_timestamps_fail_the_job_with_a_hint() {
    let env = Env::new().shards(1);
    let a = env.from_iter(vec![(1u8, 1i64)]).key_by(|r| r.0);
    let b = env.from_iter(vec![(1u8, 1i64)]).key_by(|r| r.0);
    let _ = a
        .interval_join(&b)
        .between(0, 1)
        .process(|_: &(u8, i64), _: &(u8, i64), _: &mut ProcessJoinContext<'_, u8, u8>| Ok(()));
    let err = env.execute().expect_err("no timestamps").to_string();
    assert!(err.contains("assign_timestamps_and_watermarks"), "{err}");
}

#[test]
fn late_records_without_a_late_output_are_counted_not_lost_silently() {
    let env = Env::new().shards(1);
    let src = env
        .from_iter(vec![
            (true, 0u8, 50i64, 0u32),
            (true, 0, 10, 1),
            (false, 0, 5, 2),
        ])
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|r: &Tagged| r.2)
                .punctuated(),
        );
    let l = src.filter(|r| r.0).key_by(|r| r.1);
    let r = src.filter(|r| !r.0).key_by(|r| r.1);
    let _ = l
        .interval_join(&r)
        .between(-100, 100)
        .process(|_: &Tagged, _: &Tagged, _: &mut ProcessJoinContext<'_, u8, u8>| Ok(()))
        .collect();
    let result = env.execute().expect("runs");
    let count = |side: &str| {
        result
            .operators
            .iter()
            .find(|o| o.name.contains(&format!("late {side} records discarded")))
            .map(|o| o.records_out)
    };
    assert_eq!((count("left"), count("right")), (Some(1), Some(1)));
}
