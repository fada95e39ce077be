//! The overlap join against a nested-loop reference: random out-of-order intervals (some
//! empty) with punctuated watermarks over their starts, inner and left-outer, on 1–3 shards
//! with batch sizes 1, 7 and 1024.
//!
//! As in `joins_interval.rs`, both sides come from one source so the watermark each record
//! meets is fixed by the input order: on one shard the reference knows exactly which records
//! are late; on several the join's watermark can only lag, so the records reported late must
//! be late by the reference and the output must be exactly the reference's over the records
//! not reported late. Downstream of the join, every row must be on time: strictly after the
//! watermark (the join keeps its output watermark one below its input's and, left-outer,
//! below the start of every unmatched left record still to be reported).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use spate::join::JoinStateGauge;
use spate::prelude::*;

/// `(is_left, key, start, end, id)`.
type Tagged = (bool, u8, i64, i64, u32);
type Rec = (u8, i64, i64, u32);
/// `(left id, right id, overlap start, overlap end, timestamp)`; unmatched: no right id,
/// the left interval.
type Row = (u32, Option<u32>, i64, i64, i64);

fn iv(r: &Rec) -> Interval {
    Interval::new(r.1, r.2)
}

/// Late records per side given the source order (a record's time is its start).
fn lateness(input: &[Tagged], delay: i64) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let (mut wm, mut max_ts) = (i64::MIN, i64::MIN);
    let (mut ll, mut lr) = (BTreeSet::new(), BTreeSet::new());
    for &(left, _, start, _, id) in input {
        if start < wm {
            if left {
                ll.insert(id);
            } else {
                lr.insert(id);
            }
        }
        max_ts = max_ts.max(start);
        wm = wm.max(max_ts - delay - 1);
    }
    (ll, lr)
}

fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1
}

/// Every overlapping pair among the records not late, and (left-outer) every such left
/// record nothing overlapped.
fn nested_loop(
    input: &[Tagged],
    outer: bool,
    late_left: &BTreeSet<u32>,
    late_right: &BTreeSet<u32>,
) -> Vec<Row> {
    let mut out = Vec::new();
    for &(l_side, lk, ls, le, lid) in input {
        if !l_side || late_left.contains(&lid) {
            continue;
        }
        let mut matched = false;
        for &(r_side, rk, rs, re, rid) in input {
            if r_side || late_right.contains(&rid) || lk != rk || !overlaps((ls, le), (rs, re)) {
                continue;
            }
            matched = true;
            let (s, e) = (ls.max(rs), le.min(re));
            out.push((lid, Some(rid), s, e, s));
        }
        if outer && !matched {
            out.push((lid, None, ls, le, ls));
        }
    }
    out.sort();
    out
}

struct Got {
    rows: Vec<Row>,
    late_left: BTreeSet<u32>,
    late_right: BTreeSet<u32>,
}

fn run(input: Vec<Tagged>, delay: i64, outer: bool, shards: usize, batch: usize) -> Got {
    common::within(Duration::from_secs(60), move || {
        let env = Env::new().shards(shards).batch_size(batch);
        let src = env.from_iter(input).assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(delay)
                .with_timestamp_assigner(|r: &Tagged| r.2)
                .punctuated(),
        );
        let side = |left: bool| {
            src.filter(move |r| r.0 == left)
                .map(|r| (r.1, r.2, r.3, r.4))
                .key_by(|r: &Rec| r.0)
        };
        let (late_l, late_r) = (
            OutputTag::<Rec>::new("late-l"),
            OutputTag::<Rec>::new("late-r"),
        );
        let gauge = JoinStateGauge::new();
        let mut join = side(true)
            .overlap_join(&side(false), iv, iv)
            .side_output_left_late_data(&late_l)
            .side_output_right_late_data(&late_r)
            .state_gauge(&gauge);
        if outer {
            join = join.left_outer();
        }
        let rows = join.process(
            |l: &Rec, r: Option<&Rec>, ctx: &mut OverlapContext<'_, u8, Row>| {
                assert_eq!(ctx.left_interval(), iv(l));
                assert_eq!(ctx.right_interval(), r.map(iv));
                let o = ctx.overlap().unwrap_or(ctx.left_interval());
                ctx.collect((l.3, r.map(|r| r.3), o.start, o.end, ctx.timestamp()));
                Ok(())
            },
        );
        let ll = rows.side_output(&late_l).collect();
        let lr = rows.side_output(&late_r).collect();
        let checked = rows
            .process(|row: Row, ctx: &mut ProcessContext<'_, (Row, bool)>| {
                let (ts, wm) = (ctx.timestamp().unwrap_or(i64::MIN), ctx.current_watermark());
                let on_time = ts == row.4 && ts > wm;
                ctx.collect((row, on_time));
                Ok(())
            })
            .collect();
        env.execute().expect("job fails");
        assert_eq!(gauge.current(), 0, "the end of input empties the state");
        let checked = checked.sorted();
        let late_rows: Vec<&(Row, bool)> = checked.iter().filter(|(_, ok)| !ok).collect();
        assert!(
            late_rows.is_empty(),
            "rows behind the watermark downstream: {late_rows:?}"
        );
        Got {
            rows: checked.into_iter().map(|(r, _)| r).collect(),
            late_left: ll.take().into_iter().map(|r| r.3).collect(),
            late_right: lr.take().into_iter().map(|r| r.3).collect(),
        }
    })
}

fn tagged() -> impl Strategy<Value = Vec<Tagged>> {
    let rec = (
        any::<bool>(),
        0u8..3,
        0i64..120,
        prop_oneof![1 => Just(0i64), 8 => 1i64..40, 1 => 40i64..150],
    );
    prop::collection::vec(rec, 0..60).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (l, k, s, len))| (l, k, s, s + len, i as u32))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn overlap_join_matches_the_nested_loop(
        input in tagged(),
        outer in any::<bool>(),
        delay in prop_oneof![0i64..20, Just(1000)],
    ) {
        let (model_ll, model_lr) = lateness(&input, delay);
        for (shards, batch) in common::configs() {
            let got = run(input.clone(), delay, outer, shards, batch);
            let ctx = format!("outer {outer}, delay {delay}, {shards} shards, batch {batch}");
            if shards == 1 {
                prop_assert_eq!(&got.late_left, &model_ll, "late left, {}", ctx);
                prop_assert_eq!(&got.late_right, &model_lr, "late right, {}", ctx);
            } else {
                prop_assert!(got.late_left.is_subset(&model_ll), "late left {:?} not late, {}", got.late_left, ctx);
                prop_assert!(got.late_right.is_subset(&model_lr), "late right {:?} not late, {}", got.late_right, ctx);
            }
            let expected = nested_loop(&input, outer, &got.late_left, &got.late_right);
            prop_assert_eq!(&got.rows, &expected, "rows, {}", ctx);
        }
    }
}

#[test]
fn left_outer_reports_a_left_record_once_its_end_passes_and_holds_the_watermark() {
    // Watermarks follow the starts (delay 0): -1, 49, 54, 99, 149. Left [0, 100) of key 0
    // overlaps nothing ([100, 110) starts at its end); the watermark passes 100 only when
    // the record at 150 comes, so its row is emitted then, with its start as timestamp,
    // and the watermark downstream stayed below 0 until then (checked in `run`).
    let input = vec![
        (true, 0, 0, 100, 0),
        (true, 1, 50, 60, 1),
        (false, 1, 55, 56, 2),
        (false, 0, 100, 110, 3),
        (false, 1, 150, 151, 4),
    ];
    for (shards, batch) in common::configs() {
        let got = run(input.clone(), 0, true, shards, batch);
        assert!(got.late_left.is_empty() && got.late_right.is_empty());
        assert_eq!(
            got.rows,
            vec![(0, None, 0, 100, 0), (1, Some(2), 55, 56, 55)],
            "{shards} shards, batch {batch}"
        );
    }
}

#[test]
fn a_record_starting_at_the_watermark_is_still_on_time_downstream() {
    // After (k0, [10, 20)) the watermark is 9; records starting at 9 are not late (late
    // means below the watermark). Their pair, and in left-outer the unmatched row of
    // [10, 20), must still be after the watermark downstream (checked in `run`): the join
    // keeps its output watermark one below its input's. Regression: rows at timestamp 9
    // behind a forwarded watermark of 9.
    let input = vec![
        (true, 0, 10, 20, 0),
        (true, 1, 9, 15, 1),
        (false, 1, 9, 12, 2),
    ];
    for outer in [false, true] {
        for (shards, batch) in common::configs() {
            let got = run(input.clone(), 0, outer, shards, batch);
            let mut want = vec![(1, Some(2), 9, 12, 9)];
            if outer {
                want.insert(0, (0, None, 10, 20, 10));
            }
            assert_eq!(
                got.rows, want,
                "outer {outer}, {shards} shards, batch {batch}"
            );
        }
    }
}
