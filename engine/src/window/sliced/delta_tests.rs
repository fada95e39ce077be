//! Incremental snapshots of the sliced window operator: a full snapshot then deltas, taken
//! whole at the barrier or in steps (copy-on-write) while records go on, restored layer by
//! layer, must give the state a twin held at each barrier (its whole full snapshot).

use std::collections::HashMap;

use proptest::prelude::*;

use super::cow_tests::Op;
use super::*;
use crate::checkpoint::format::parse;
use crate::window::cow_check::{builder, entries, events, run_both, Inst};
use crate::window::sliced_snapshot::SLICES_V1;

/// The operator of the copy-on-write tests, keeping the keys it drops for deltas.
fn op(size: i64, slide: i64, lateness: i64) -> Op {
    let mut op = super::cow_tests::op(size, slide, lateness);
    op.keep_dropped = true;
    op
}

/// Every section of a snapshot file (one shard: every key group is its own).
fn sections(file: &[u8]) -> HashMap<String, Vec<Vec<u8>>> {
    parse(file)
        .expect("a valid snapshot file")
        .sections
        .into_iter()
        .map(|(name, e)| (name, e.into_iter().map(|(_, b)| b).collect()))
        .collect()
}

/// A fresh operator restored from `files`: the chain, then the last file.
fn restored(make: impl Fn() -> Op, files: &[Vec<u8>]) -> Op {
    let (last, chain) = files.split_last().expect("a file");
    let v = RestoreView {
        sections: sections(last),
        layers: chain.iter().map(|f| sections(f)).collect(),
        shards: 1,
        max_parallelism: 8,
        ..Default::default()
    };
    let mut op = make();
    op.restore(&v).expect("restore");
    op
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_full_snapshot_and_its_deltas_restore_the_state_at_each_barrier(
        evs in events(),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 1..5),
        budget in 1usize..4,
        in_steps in any::<bool>(),
        geometry in prop_oneof![Just((40i64, 10i64)), Just((30, 30)), Just((50, 20))],
        lateness in prop_oneof![Just(0i64), Just(25)],
    ) {
        let (size, slide) = geometry;
        let make = || op(size, slide, lateness);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(evs.len() + 1)).collect();
        cuts.sort_unstable();
        let (mut inc, mut twin) = (Inst::new(make()), Inst::new(make()));
        let mut files: Vec<Vec<u8>> = Vec::new();
        let mut pending = false;
        let mut at = 0;
        let mut expected: Vec<Vec<u8>> = Vec::new();
        for (i, &cut) in cuts.iter().chain([&evs.len()]).enumerate() {
            if let Some(f) = run_both(&mut twin, &mut inc, &evs[at..cut], budget, pending) {
                files.push(f);
            }
            at = cut;
            if i == cuts.len() {
                break;
            }
            // The barrier: the first snapshot is full, the later ones deltas.
            let delta = i > 0;
            expected.push(twin.whole_snapshot());
            if in_steps {
                inc.op.begin_in_steps(builder(), delta).expect("begin");
                pending = true;
            } else {
                let mut b = builder();
                inc.op.whole_snapshot(&mut b, delta).expect("snapshot");
                files.push(b.finish());
                pending = false;
            }
        }
        prop_assert_eq!(files.len(), expected.len());
        for (n, want) in expected.iter().enumerate() {
            let mut back = Inst::new(restored(make, &files[..=n]));
            prop_assert_eq!(
                entries(&back.whole_snapshot()),
                entries(want),
                "restored from the full snapshot and {} deltas",
                n
            );
            // Restored (its timers derived from the slices), it goes on as an operator
            // that never stopped: the same results for the rest of the input.
            let mut going = Inst::new(make());
            for ev in &evs[..cuts[n]] {
                going.run(ev);
            }
            going.log.borrow_mut().clear();
            back.wm = going.wm;
            for ev in &evs[cuts[n]..] {
                going.run(ev);
                back.run(ev);
            }
            let sorted = |i: &Inst<Op>| {
                let mut v = i.log.borrow().clone();
                v.sort_unstable();
                v
            };
            prop_assert_eq!(sorted(&back), sorted(&going), "results after restore {}", n);
            // With allowed lateness the derived cleanup timers drop every slice past its
            // cleanup time as the stale timers of the other would (without lateness a stale
            // firing timer may drop a slice before the next firing, a difference of state
            // only until then).
            if lateness > 0 {
                prop_assert_eq!(
                    entries(&back.whole_snapshot()),
                    entries(&going.whole_snapshot()),
                    "state at the end after restore {}",
                    n
                );
            }
        }
        prop_assert_eq!(&*inc.log.borrow(), &*twin.log.borrow(), "same results");
    }
}

/// A snapshot written before incremental snapshots (section `spate/window/slices`, fixed
/// width) still restores.
#[test]
fn the_first_slices_format_still_restores() {
    use crate::checkpoint::StateData;
    let mut b = builder();
    b.begin_section(SLICES_V1, 1);
    b.entry(0, |o| {
        5u64.encode(o);
        2u64.encode(o);
        for (p, n) in [(0i64, 3u64), (10, 4)] {
            p.encode(o);
            n.encode(o);
        }
        Some(39i64).encode(o);
    });
    let op = restored(|| op(40, 10, 0), &[b.finish()]);
    let slot = op.keys.iter().next().expect("one key");
    assert_eq!(slot.key, 5);
    assert_eq!(Vec::from(slot.slices.clone()), vec![(0, 3), (10, 4)]);
    assert_eq!(slot.next_fire, Some(39));
    assert_eq!(op.timers.event.len(), 1, "the next firing's timer, derived");
}
