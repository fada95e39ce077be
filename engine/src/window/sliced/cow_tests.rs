//! Copy-on-write snapshots of the sliced window operator against the whole snapshot at the
//! barrier (the harness: `window::cow_check`).

use proptest::prelude::*;

use super::*;
use crate::window::cow_check::{events, two_snapshots_in_steps};
use crate::window::function::AggregateContents;
use crate::window::Count;

pub(super) type Op =
    SlicedWindowOp<u64, u64, u64, fn(&u64) -> u64, TimeWindow, AggregateContents<Count>>;

fn key_of(v: &u64) -> u64 {
    v % 1_000
}

pub(super) fn op(size: i64, slide: i64, lateness: i64) -> Op {
    let mut op: Op = SlicedWindowOp::new(
        key_of as fn(&u64) -> u64,
        AggregateContents(Count),
        Slicing::new(size, slide, 0),
        lateness,
        None,
    );
    let k = snap::need::<u64>(&Default::default(), "key").expect("built in");
    let a = DynCodec::of(snap::need::<u64>(&Default::default(), "acc").expect("built in"));
    op.codecs = Some(Ok((k, a)));
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
        geometry in prop_oneof![Just((40i64, 10i64)), Just((30, 30)), Just((50, 20))],
        lateness in prop_oneof![Just(0i64), Just(25)],
    ) {
        let (size, slide) = geometry;
        let cuts = (cuts.0.index(evs.len() + 1), cuts.1.index(evs.len() + 1));
        two_snapshots_in_steps(|| op(size, slide, lateness), &evs, cuts, budget)?;
    }
}
