//! TTL of the mmap handles, checked against the heap handles' TTL (the reference), and
//! expired entries dropped by compaction.

use proptest::prelude::*;

use super::{MmapConfig, MmapMapState, MmapStore, MmapValueState};
use crate::state::{FixedKey, MapState, StateTtl, TtlUpdate, TtlVisibility, ValueState};

const TTL: i64 = 100;

fn ttl(read_restarts: bool, return_expired: bool) -> StateTtl {
    StateTtl::new(TTL)
        .update_on(if read_restarts {
            TtlUpdate::OnReadAndWrite
        } else {
            TtlUpdate::OnCreateAndWrite
        })
        .visibility(if return_expired {
            TtlVisibility::ReturnExpiredIfNotCleanedUp
        } else {
            TtlVisibility::NeverReturnExpired
        })
}

/// `(op, key, value, time step)`: 0 write, 1 and 2 read, 3 delete.
fn ops() -> impl Strategy<Value = Vec<(u8, u8, u32, i64)>> {
    proptest::collection::vec((0u8..4, 0u8..4, any::<u32>(), 0i64..45), 1..150)
}

proptest! {
    /// Every read of an `MmapValueState` with TTL returns what a heap `ValueState` with
    /// the same TTL returns, for every update type and visibility, with time moving on.
    #[test]
    fn mmap_value_ttl_is_the_heap_ttl(ops in ops(), read_restarts: bool, return_expired: bool) {
        let t = ttl(read_restarts, return_expired);
        let dir = tempfile::tempdir().unwrap();
        let mut m = MmapValueState::<u8, u32>::with_ttl(t)
            .open_in(MmapConfig::new(dir.path()).segment_bytes(1 << 20))
            .unwrap();
        let mut h = ValueState::<u8, u32>::with_ttl(t);
        let mut now = 0;
        for (op, k, v, dt) in ops {
            now += dt;
            let s = FixedKey::new(k, now);
            match op {
                0 => {
                    m.update(&s, &v).unwrap();
                    h.update(&s, v);
                }
                3 => {
                    m.clear(&s).unwrap();
                    h.clear(&s);
                }
                _ => {
                    let got = m.value(&s).unwrap().map(|x| x.to_native());
                    prop_assert_eq!(got, h.value(&s).copied(), "key {} at {}", k, now);
                }
            }
        }
    }

    /// The same for `MmapMapState` against a heap `MapState` (TTL per user key).
    #[test]
    fn mmap_map_ttl_is_the_heap_ttl(ops in ops(), read_restarts: bool, return_expired: bool) {
        let t = ttl(read_restarts, return_expired);
        let dir = tempfile::tempdir().unwrap();
        let mut m = MmapMapState::<u8, u8, u32>::with_ttl(t)
            .open_in(MmapConfig::new(dir.path()).segment_bytes(1 << 20))
            .unwrap();
        let mut h = MapState::<u8, u8, u32>::with_ttl(t);
        let mut now = 0;
        for (op, k, v, dt) in ops {
            now += dt;
            let (s, uk) = (FixedKey::new(k % 2, now), k / 2);
            match op {
                0 => {
                    m.put(&s, &uk, &v).unwrap();
                    h.put(&s, uk, v);
                }
                3 => {
                    m.remove(&s, &uk).unwrap();
                    h.remove(&s, &uk);
                }
                1 => {
                    let got = m.get(&s, &uk).unwrap().map(|x| x.to_native());
                    prop_assert_eq!(got, h.get(&s, &uk).copied(), "key {} at {}", k, now);
                }
                _ => {
                    prop_assert_eq!(m.contains(&s, &uk).unwrap(), h.contains(&s, &uk));
                }
            }
        }
    }
}

/// Writes keys 0..200 at time 0, then at 150 (past their TTL) writes the keys not
/// divisible by 4 again: the old segments are 75% dead and compacted. Returns how many keys
/// divisible by 4 are left in the store's index.
fn left_after_compaction(m: &mut MmapValueState<u32, u64>) -> usize {
    for k in 0..200u32 {
        m.update(&FixedKey::new(k, 0), &1).unwrap();
    }
    for k in (0..200u32).filter(|k| k % 4 != 0) {
        m.update(&FixedKey::new(k, 150), &2).unwrap();
    }
    m.compact().unwrap();
    let store = m.store().unwrap();
    (0..200u32)
        .filter(|k| k % 4 == 0)
        .filter(|k| {
            let key = rkyv::to_bytes::<rkyv::rancor::Error>(k).unwrap();
            store.get(key.as_slice()).is_some()
        })
        .count()
}

/// Compaction drops expired entries (and a restore from a later snapshot does not bring
/// them back) and keeps live ones; without TTL it drops nothing.
#[test]
fn compaction_drops_expired_entries() {
    let (work, ckpt, fresh) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut m = MmapValueState::<u32, u64>::with_ttl(StateTtl::new(TTL))
        .open_in(MmapConfig::new(work.path()).segment_bytes(4096))
        .unwrap();
    let left = left_after_compaction(&mut m);
    // Only those still in the segment that was active during the first writes remain.
    assert!(left < 5, "{left} of 50 expired entries survived compaction");
    for k in (0..200u32).filter(|k| k % 4 != 0) {
        let v = m
            .value(&FixedKey::new(k, 150))
            .unwrap()
            .map(|v| v.to_native());
        assert_eq!(v, Some(2), "key {k}");
    }
    let manifest = m.snapshot(1).unwrap();
    m.export(&manifest, ckpt.path()).unwrap();
    let restored =
        MmapStore::restore(MmapConfig::new(fresh.path()), ckpt.path(), &manifest).unwrap();
    assert_eq!(
        restored.len(),
        m.store().unwrap().len(),
        "tombstones restored"
    );

    let plain = tempfile::tempdir().unwrap();
    let mut p = MmapValueState::<u32, u64>::open(MmapConfig::new(plain.path()).segment_bytes(4096))
        .unwrap();
    assert_eq!(
        left_after_compaction(&mut p),
        50,
        "without TTL nothing is dropped"
    );
}

/// An expired entry dropped from a segment that is not the oldest leaves a tombstone: an
/// older (dead) put of its key in a segment that stays must not come back on a restore.
#[test]
fn an_expired_entry_dropped_by_compaction_stays_dropped_after_a_restore() {
    let (work, ckpt, fresh) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut m = MmapValueState::<u32, u64>::with_ttl(StateTtl::new(TTL))
        .open_in(MmapConfig::new(work.path()).segment_bytes(4096))
        .unwrap();
    let at = |k: u32, t: i64| FixedKey::new(k, t);
    // Segment 0: keys 0..64 at time 0 (full). Key 0 again at 10, with keys 100..163, in
    // segment 1. Keys 100..163 again at 200: segment 1 is then almost dead and compacted
    // at 200, when key 0 (touched at 10) has expired; segment 0 stays (63 of 64 live).
    for k in 0..64u32 {
        m.update(&at(k, 0), &1).unwrap();
    }
    m.update(&at(0, 10), &2).unwrap();
    for k in 100..163u32 {
        m.update(&at(k, 10), &2).unwrap();
    }
    for k in 100..163u32 {
        m.update(&at(k, 200), &3).unwrap();
    }
    m.compact().unwrap();
    let key0 = rkyv::to_bytes::<rkyv::rancor::Error>(&0u32).unwrap();
    assert!(m.store().unwrap().get(key0.as_slice()).is_none(), "dropped");
    let manifest = m.snapshot(1).unwrap();
    m.export(&manifest, ckpt.path()).unwrap();
    let restored =
        MmapStore::restore(MmapConfig::new(fresh.path()), ckpt.path(), &manifest).unwrap();
    assert!(
        restored.get(key0.as_slice()).is_none(),
        "the put of key 0 in segment 0 came back"
    );
    assert!(restored
        .get(
            rkyv::to_bytes::<rkyv::rancor::Error>(&1u32)
                .unwrap()
                .as_slice()
        )
        .is_some());
}
