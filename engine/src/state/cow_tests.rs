//! Copy-on-write snapshots of the heap handles against whole snapshots taken at the barrier.

use super::{FixedKey, ListState, MapState, ReducingState, StateTtl, TtlUpdate, ValueState};
use crate::checkpoint::format::{parse, SnapshotBuilder, SnapshotHeader};
use crate::checkpoint::{CheckpointedState, StateWriter};
use proptest::prelude::*;

type Entries = Vec<(u32, Vec<u8>)>;

/// The entries of `w` (through a snapshot file), sorted.
fn entries(w: StateWriter) -> Entries {
    let mut b = SnapshotBuilder::new(SnapshotHeader::test(0, 0, 1, 16));
    b.add("h", w);
    let mut e = parse(&b.finish()).unwrap().sections.remove(0).1;
    e.sort();
    e
}

fn whole(h: &dyn CheckpointedState<Key = u8>) -> Entries {
    let mut w = StateWriter::new(16);
    h.snapshot_state(&mut w);
    entries(w)
}

type Add = fn(i32, i32) -> i32;

/// One of each heap handle, with and without TTL (expiry on write, and on read and write).
struct Handles {
    v: ValueState<u8, i32>,
    vr: ValueState<u8, i32>,
    l: ListState<u8, i32>,
    m: MapState<u8, u16, i32>,
    r: ReducingState<u8, i32, Add>,
}

impl Handles {
    fn new() -> Self {
        let add: Add = |a, b| a.wrapping_add(b);
        Handles {
            v: ValueState::new(),
            vr: ValueState::with_ttl(StateTtl::new(30).update_on(TtlUpdate::OnReadAndWrite)),
            l: ListState::with_ttl(StateTtl::new(40)),
            m: MapState::with_ttl(StateTtl::new(35)),
            r: ReducingState::new(add),
        }
    }

    fn all(&mut self) -> [&mut dyn CheckpointedState<Key = u8>; 5] {
        [
            &mut self.v,
            &mut self.vr,
            &mut self.l,
            &mut self.m,
            &mut self.r,
        ]
    }

    /// Applies operation `op` on key `k` at `now`; what it read, for comparing.
    fn apply(&mut self, op: u8, k: u8, uk: u16, x: i32, now: i64) -> Vec<i32> {
        let s = FixedKey::new(k, now);
        match op {
            0 => self.v.update(&s, x),
            1 => self.vr.update(&s, x),
            2 => self.l.add(&s, x),
            3 => self.m.put(&s, uk, x),
            4 => self.r.add(&s, x),
            5 => {
                if let Some(v) = self.v.value_mut(&s) {
                    *v = v.wrapping_add(x);
                }
            }
            6 => return self.vr.value(&s).copied().into_iter().collect(),
            7 => return self.l.get(&s).copied().collect(),
            8 => return self.m.remove(&s, &uk).into_iter().collect(),
            9 => return self.m.entries(&s).map(|(_, v)| *v).collect(),
            10 => self.v.clear(&s),
            11 => return self.l.take(&s),
            12 => self.r.clear(&s),
            _ => return self.r.get(&s).copied().into_iter().collect(),
        }
        Vec::new()
    }
}

#[derive(Debug, Clone)]
enum Action {
    Op(u8, u8, u16, i32, i64),
    Begin,
    Step(usize),
    /// Enough writes to one key, after `dt`, for each TTL handle's sweep of expired keys.
    Burst(u8, i64),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (0u8..14, 0u8..8, 0u16..3, -50i32..50, 0i64..12)
            .prop_map(|(o, k, uk, x, dt)| Action::Op(o, k, uk, x, dt)),
        1 => Just(Action::Begin),
        2 => (0usize..4).prop_map(Action::Step),
        1 => (0u8..8, 0i64..60).prop_map(|(k, dt)| Action::Burst(k, dt)),
    ]
}

/// Finishes handle `i`'s snapshot in progress, if any: it must equal `expected[i]`, the
/// whole snapshot taken at its barrier.
fn finish(
    h: &mut dyn CheckpointedState<Key = u8>,
    expected: &mut Option<Entries>,
    budget: usize,
) -> Result<(), TestCaseError> {
    let Some(e) = expected else {
        prop_assert!(h.copy_on_write_id().is_none());
        return Ok(());
    };
    let mut left = budget;
    match h
        .copy_on_write_step(&mut left)
        .map_err(TestCaseError::fail)?
    {
        Some(w) => {
            prop_assert!(h.copy_on_write_id().is_none());
            prop_assert_eq!(&entries(w), &*e);
            *expected = None;
        }
        None => {
            prop_assert!(budget != usize::MAX, "a whole budget finishes it");
            prop_assert_eq!(left, 0, "unfinished with budget left");
            prop_assert!(h.copy_on_write_id().is_some());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Operations on every heap handle interleaved with copy-on-write snapshots (begun at
    /// a barrier, stepped a few keys at a time, finished at the next barrier or at the
    /// end): each holds the entries of a whole snapshot at its barrier, and the handles
    /// read what twins without snapshots read.
    #[test]
    fn copy_on_write_snapshots_equal_whole_ones_at_the_barrier(
        steps in proptest::collection::vec(action(), 0..80)
    ) {
        let (mut h, mut twin) = (Handles::new(), Handles::new());
        let mut expected: [Option<Entries>; 5] = Default::default();
        let mut now = 0;
        for s in steps {
            match s {
                Action::Op(op, k, uk, x, dt) => {
                    now += dt;
                    prop_assert_eq!(h.apply(op, k, uk, x, now), twin.apply(op, k, uk, x, now));
                }
                Action::Begin => {
                    for (handle, e) in h.all().into_iter().zip(expected.iter_mut()) {
                        finish(handle, e, usize::MAX)?;
                        *e = Some(whole(handle));
                        prop_assert!(handle.begin_copy_on_write(16, 7));
                        prop_assert!(!handle.begin_copy_on_write(16, 8), "one at a time");
                        prop_assert_eq!(handle.copy_on_write_id(), Some(7));
                    }
                }
                Action::Burst(k, dt) => {
                    now += dt;
                    for op in [1, 2, 3] {
                        for x in 0..1030 {
                            h.apply(op, k, 0, x, now);
                            twin.apply(op, k, 0, x, now);
                        }
                    }
                }
                Action::Step(n) => {
                    for (handle, e) in h.all().into_iter().zip(expected.iter_mut()) {
                        finish(handle, e, n)?;
                    }
                }
            }
        }
        for (handle, e) in h.all().into_iter().zip(expected.iter_mut()) {
            finish(handle, e, usize::MAX)?;
        }
    }
}
