//! Copy-on-write snapshots of the generic window operator (tumbling, sliding and merging
//! session windows, with allowed lateness) against the whole snapshot at the barrier (the
//! harness: `window::cow_check`).

use proptest::prelude::*;

use super::*;
use crate::window::cow_check::{events, two_snapshots_in_steps};
use crate::window::function::AggregateContents;
use crate::window::trigger::EventTimeTrigger;
use crate::window::{Count, SessionWindows, SlidingWindows, TumblingWindows};

fn key_of(v: &u64) -> u64 {
    v % 1_000
}

type Op<A> =
    WindowOp<u64, u64, u64, fn(&u64) -> u64, A, EventTimeTrigger, AggregateContents<Count>>;

fn op<A: WindowAssigner<u64>>(assigner: A, lateness: i64) -> Op<A> {
    let mut op: Op<A> = WindowOp::new(
        key_of as fn(&u64) -> u64,
        assigner,
        EventTimeTrigger,
        AggregateContents(Count),
        lateness,
        None,
    );
    let t = Default::default();
    op.codecs = Some(Ok(WindowCodecs {
        key: snap::need::<u64>(&t, "key").expect("built in"),
        window: snap::need(&t, "window").expect("built in"),
        acc: crate::window::function::Contents::<u64, u64, A::W, u64>::acc_codec(&op.contents, &t)
            .expect("built in"),
        trigger: snap::need::<()>(&t, "trigger").expect("built in"),
    }));
    op
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Two snapshots in steps in a row, each against the whole snapshot at the same point.
    #[test]
    fn a_snapshot_in_steps_equals_the_whole_snapshot_at_the_barrier(
        evs in events(),
        cuts in (any::<proptest::sample::Index>(), any::<proptest::sample::Index>()),
        budget in 1usize..4,
        kind in 0u8..3,
        lateness in prop_oneof![Just(0i64), Just(25)],
    ) {
        let cuts = (cuts.0.index(evs.len() + 1), cuts.1.index(evs.len() + 1));
        match kind {
            0 => two_snapshots_in_steps(|| op(TumblingWindows::of(30), lateness), &evs, cuts, budget)?,
            1 => two_snapshots_in_steps(|| op(SlidingWindows::of(40, 10), lateness), &evs, cuts, budget)?,
            _ => two_snapshots_in_steps(
                || op(SessionWindows::<u64>::with_gap(15), lateness),
                &evs,
                cuts,
                budget,
            )?,
        }
    }
}
