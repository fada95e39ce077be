//! Tests of the state registry: rescaling keyed state and operator lists, names, and
//! copy-on-write snapshots whose handles are replaced or moved.
use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;
use crate::checkpoint::format::{parse, SnapshotFile, SnapshotHeader};
use crate::checkpoint::manifest::Manifest;
use crate::checkpoint::store::Restored;
use crate::state::{hash_key, key_group, shard_for_key_group, FixedKey, ValueState};

const MAXP: usize = 16;

fn owner(key: u32, shards: usize) -> usize {
    shard_for_key_group(key_group(hash_key(&key), MAXP), MAXP, shards)
}

/// Snapshots of operator 7 taken on `n` shards, each holding the keys it owns.
/// The checkpoint of operator 7's `files`, taken on `n` shards.
fn restored(files: Vec<SnapshotFile>, n: usize) -> Restored {
    Restored {
        manifest: Manifest {
            epoch: 1,
            shards: n,
            max_parallelism: MAXP,
            ..Default::default()
        },
        files: HashMap::from([(7, files)]),
        parts: Default::default(),
        dir: Default::default(),
    }
}

fn taken_on(n: usize, data: &BTreeMap<u32, i64>) -> Restored {
    let mut files = Vec::new();
    for shard in 0..n {
        let mut v = ValueState::<u32, i64>::new();
        for (k, x) in data.iter().filter(|(k, _)| owner(**k, n) == shard) {
            v.update(&FixedKey::new(*k, 0), *x);
        }
        let mut b = SnapshotBuilder::new(SnapshotHeader::test(7, shard, n, MAXP));
        let mut reg = StateRegistry::snapshot(&mut b);
        reg.register("v", &mut v);
        reg.finish().unwrap();
        files.push(parse(&b.finish()).unwrap());
    }
    restored(files, n)
}

proptest! {
    /// Keyed state snapshotted on N shards restores on M shards (1–4): every key lands
    /// on the shard that owns its key group under M, with its value, exactly once.
    #[test]
    fn keyed_state_rescales_by_key_group(
        n in 1usize..=4, m in 1usize..=4,
        data in proptest::collection::btree_map(any::<u32>(), any::<i64>(), 0..60),
    ) {
        let r = taken_on(n, &data);
        let mut seen = BTreeMap::new();
        for shard in 0..m {
            let view = restore_view(&r, 7, shard, m, MAXP).unwrap();
            let mut v = ValueState::<u32, i64>::new();
            let mut reg = StateRegistry::restore(&view);
            reg.register("v", &mut v);
            reg.finish().unwrap();
            for (k, x) in v.iter() {
                prop_assert_eq!(owner(*k, m), shard, "key {} on the wrong shard", k);
                prop_assert!(seen.insert(*k, *x).is_none(), "key {} restored twice", k);
            }
        }
        prop_assert_eq!(seen, data);
    }
}

/// Operator lists `split` (even-split) and `union` snapshotted on `old.len()` shards.
fn lists_taken_on(old: &[Vec<u64>]) -> Restored {
    let n = old.len();
    let mut files = Vec::new();
    for (shard, items) in old.iter().enumerate() {
        let mut split = crate::state::OperatorListState::new();
        split.add_all(items.iter().copied());
        let mut union = split.clone();
        let mut b = SnapshotBuilder::new(SnapshotHeader::test(7, shard, n, MAXP));
        let mut reg = StateRegistry::snapshot(&mut b);
        reg.register_list("split", &mut split);
        reg.register_union_list("union", &mut union);
        reg.finish().unwrap();
        files.push(parse(&b.finish()).unwrap());
    }
    restored(files, n)
}

proptest! {
    /// Operator list state snapshotted on N shards (through the snapshot file) restores
    /// on M shards (1–4): every even-split element on exactly one shard (each shard its
    /// own list when N = M), every union element on every shard.
    #[test]
    fn operator_lists_rescale_by_element(
        old in proptest::collection::vec(proptest::collection::vec(any::<u64>(), 0..20), 1..=4),
        m in 1usize..=4,
    ) {
        let r = lists_taken_on(&old);
        let all: Vec<u64> = old.iter().flatten().copied().collect();
        let mut dealt = Vec::new();
        for shard in 0..m {
            let view = restore_view(&r, 7, shard, m, MAXP).unwrap();
            let mut split = crate::state::OperatorListState::<u64>::new();
            let mut union = crate::state::OperatorListState::<u64>::new();
            split.add(u64::MAX); // what the fresh instance held is replaced
            let mut reg = StateRegistry::restore(&view);
            reg.register_list("split", &mut split);
            reg.register_union_list("union", &mut union);
            reg.finish().unwrap();
            if old.len() == m {
                prop_assert_eq!(split.get(), &old[shard][..]);
            }
            dealt.extend_from_slice(split.get());
            prop_assert_eq!(union.get(), &all[..], "shard {} sees every element", shard);
        }
        let (mut got, mut want) = (dealt, all);
        got.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(got, want, "no element lost or duplicated");
    }
}

/// A handle replaced, moved to another name or no longer registered while its
/// copy-on-write snapshot is in progress fails the snapshot (its section would be
/// missing or another state's); kept in place, the snapshot completes.
#[test]
fn a_handle_replaced_or_moved_during_its_snapshot_is_an_error() {
    let header = SnapshotHeader::test(7, 0, 1, MAXP);
    let filled = || {
        let mut v = ValueState::<u32, i64>::new();
        for k in 0..10u32 {
            v.update(&FixedKey::new(k, 0), i64::from(k));
        }
        v
    };
    let step =
        |b: &mut SnapshotBuilder, a: &mut ValueState<u32, i64>, c: &mut ValueState<u32, i64>| {
            let mut reg = StateRegistry::step(b, 3);
            reg.register("a", a);
            reg.register("c", c);
            let pending = reg.pending();
            reg.finish().map(|_| pending)
        };
    for case in 0..4 {
        let (mut a, mut c) = (filled(), filled());
        let mut b = SnapshotBuilder::new(header.clone());
        let mut reg = StateRegistry::begin(&mut b);
        reg.register("a", &mut a);
        reg.register("c", &mut c);
        assert_eq!(reg.pending(), 2);
        reg.finish().unwrap();
        assert_eq!(
            step(&mut b, &mut a, &mut c),
            Ok(2),
            "one step is not enough"
        );
        let r = match case {
            0 => (0..10)
                .map(|_| step(&mut b, &mut a, &mut c))
                .find(|r| r != &Ok(2) && r != &Ok(1)),
            1 => {
                a = filled();
                Some(step(&mut b, &mut a, &mut c))
            }
            2 => {
                std::mem::swap(&mut a, &mut c);
                Some(step(&mut b, &mut a, &mut c))
            }
            _ => {
                let mut reg = StateRegistry::step(&mut b, 3);
                reg.register("a", &mut a);
                Some(reg.finish().map(|_| 0))
            }
        };
        match case {
            0 => {
                assert_eq!(r, Some(Ok(0)), "kept in place: complete");
                assert_eq!(parse(&b.finish()).unwrap().sections.len(), 2);
            }
            _ => {
                let e = r.unwrap().unwrap_err();
                let want = if case == 3 {
                    "no longer registered"
                } else {
                    "replaced or moved"
                };
                assert!(e.contains(want), "case {case}: {e}");
            }
        }
    }
}

#[test]
fn an_operator_list_no_longer_registered_is_an_error() {
    let r = lists_taken_on(&[vec![1, 2]]);
    let view = restore_view(&r, 7, 0, 1, MAXP).unwrap();
    let mut split = crate::state::OperatorListState::<u64>::new();
    let mut reg = StateRegistry::restore(&view);
    reg.register_list("split", &mut split);
    let e = reg.finish().unwrap_err();
    assert!(e.contains("'union'"), "{e}");
}

#[test]
fn unknown_and_duplicate_names_are_errors() {
    let data = BTreeMap::from([(1u32, 5i64)]);
    let r = taken_on(1, &data);
    let view = restore_view(&r, 7, 0, 1, MAXP).unwrap();
    let mut other = ValueState::<u32, i64>::new();
    let mut reg = StateRegistry::restore(&view);
    reg.register("renamed", &mut other);
    let e = reg.finish().unwrap_err();
    assert!(e.contains("'v'"), "{e}");
    let mut reg = StateRegistry::probe();
    reg.register("a", &mut other);
    reg.register("a", &mut other);
    assert!(reg.finish().is_err());
    assert!(
        restore_view(&r, 7, 0, 1, 32).is_err(),
        "another max_parallelism"
    );
}
