//! Snapshots of the heap state handles: each live slot becomes one entry `(key, last
//! touched, value)` under its key group. Only compiled into a job where a function
//! registers a handle with [`StateRegistry`](crate::checkpoint::StateRegistry), which is
//! where the [`StateData`] bounds are asked for.

use std::hash::Hash;

use super::table::{CopySlot, KeyedTable, Slot};
use super::{FixedState, ListState, MapState, ReducingState, ValueState};
use crate::checkpoint::{CheckpointedState, DecodeError, StateData, StateWriter};
use crate::time::Timestamp;

/// One slot's entry: key, last touched, value (`V: StateData`).
fn encode_slot<K: StateData, V: StateData>(s: &Slot<K, V>, o: &mut Vec<u8>) {
    s.key.encode(o);
    s.touched.encode(o);
    s.value.encode(o);
}

/// One slot of a `MapState`: key, last touched, entry count, then each entry's user key,
/// value and time.
fn encode_map_slot<K: StateData, UK: StateData, UV: StateData>(
    s: &Slot<K, hashbrown::HashMap<UK, (UV, i64), FixedState>>,
    o: &mut Vec<u8>,
) {
    s.key.encode(o);
    s.touched.encode(o);
    (s.value.len() as u64).encode(o);
    for (uk, (uv, t)) in &s.value {
        uk.encode(o);
        uv.encode(o);
        t.encode(o);
    }
}

fn snapshot_table<K: StateData + Hash + Eq + Clone, V>(
    t: &KeyedTable<K, V>,
    w: &mut StateWriter,
    encode: super::table::EncodeSlot<K, V>,
) {
    for s in t.iter() {
        w.entry(crate::state::hash_key(&s.key), |o| encode(s, o));
    }
}

fn restore_slot<K: StateData + Hash + Eq + Clone + 'static, V>(
    t: &mut KeyedTable<K, V>,
    mut bytes: &[u8],
    value: impl FnOnce(&mut &[u8]) -> Result<V, DecodeError>,
) -> Result<(), DecodeError> {
    let r = &mut bytes;
    let key = K::decode(r)?;
    let touched = Timestamp::decode(r)?;
    let v = value(r)?;
    if !r.is_empty() {
        return Err(DecodeError(format!(
            "{} trailing bytes in a state entry",
            r.len()
        )));
    }
    t.insert_restored(key, touched, v);
    Ok(())
}

impl<K: Hash + Eq + Clone, V> ValueState<K, V> {
    /// Like [`CheckpointedState::snapshot_state`] with codecs given as functions (for
    /// operators whose types carry no `StateData` bound).
    pub(crate) fn snapshot_with(
        &self,
        w: &mut StateWriter,
        key: impl Fn(&K, &mut Vec<u8>),
        value: impl Fn(&V, &mut Vec<u8>),
    ) {
        for s in self.table.iter() {
            w.entry(crate::state::hash_key(&s.key), |o| {
                key(&s.key, o);
                s.touched.encode(o);
                value(&s.value, o);
            });
        }
    }

    /// Like [`CheckpointedState::begin_copy_on_write`] with codecs given as functions.
    pub(crate) fn begin_copy_with(
        &mut self,
        max_parallelism: usize,
        id: u64,
        key: fn(&K, &mut Vec<u8>),
        value: impl Fn(&V, &mut Vec<u8>) + Send + 'static,
    ) -> bool
    where
        K: 'static,
        V: 'static,
    {
        self.table.begin_copy(
            max_parallelism,
            id,
            CopySlot::Boxed(Box::new(move |s, o| {
                key(&s.key, o);
                s.touched.encode(o);
                value(&s.value, o);
            })),
        )
    }

    /// Like [`CheckpointedState::copy_on_write_id`].
    pub(crate) fn copy_id(&self) -> Option<u64> {
        self.table.copy_id()
    }

    /// Like [`CheckpointedState::copy_on_write_step`].
    pub(crate) fn copy_step(&mut self, budget: &mut usize) -> Result<Option<StateWriter>, String> {
        self.table.copy_step(budget)
    }

    /// Like [`CheckpointedState::restore_entry`] with codecs given as functions.
    pub(crate) fn restore_with(
        &mut self,
        mut bytes: &[u8],
        key: impl FnOnce(&mut &[u8]) -> Result<K, DecodeError>,
        value: impl FnOnce(&mut &[u8]) -> Result<V, DecodeError>,
    ) -> Result<(), DecodeError> {
        let r = &mut bytes;
        let k = key(r)?;
        let touched = Timestamp::decode(r)?;
        let v = value(r)?;
        if !r.is_empty() {
            return Err(DecodeError(format!(
                "{} trailing bytes in a state entry",
                r.len()
            )));
        }
        self.table.insert_restored(k, touched, v);
        Ok(())
    }
}

/// The snapshot methods of a heap handle over a `KeyedTable` whose slots `encode` writes:
/// whole, copy-on-write, and clearing before a restore.
macro_rules! table_snapshots {
    ($encode:expr) => {
        fn snapshot_state(&self, w: &mut StateWriter) {
            snapshot_table(&self.table, w, $encode);
        }
        fn begin_copy_on_write(&mut self, max_parallelism: usize, id: u64) -> bool {
            self.table
                .begin_copy(max_parallelism, id, CopySlot::Fn($encode))
        }
        fn copy_on_write_id(&self) -> Option<u64> {
            self.table.copy_id()
        }
        fn copy_on_write_step(
            &mut self,
            budget: &mut usize,
        ) -> Result<Option<StateWriter>, String> {
            self.table.copy_step(budget)
        }
        fn clear_state(&mut self) {
            self.table.clear_all();
        }
    };
}

impl<K, V> CheckpointedState for ValueState<K, V>
where
    K: StateData + Hash + Eq + Clone + 'static,
    V: StateData,
{
    type Key = K;
    table_snapshots!(encode_slot);
    fn restore_entry(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        restore_slot(&mut self.table, bytes, V::decode)
    }
}

impl<K, V> CheckpointedState for ListState<K, V>
where
    K: StateData + Hash + Eq + Clone + 'static,
    V: StateData,
{
    type Key = K;
    table_snapshots!(encode_slot);
    fn restore_entry(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        restore_slot(&mut self.table, bytes, Vec::<(V, i64)>::decode)
    }
}

impl<K, UK, UV> CheckpointedState for MapState<K, UK, UV>
where
    K: StateData + Hash + Eq + Clone + 'static,
    UK: StateData + Hash + Eq,
    UV: StateData,
{
    type Key = K;
    table_snapshots!(encode_map_slot);
    fn restore_entry(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        restore_slot(&mut self.table, bytes, |r| {
            let n = crate::checkpoint::decode_len(r, 1)?;
            let mut m = hashbrown::HashMap::with_capacity_and_hasher(n, FixedState);
            for _ in 0..n {
                let uk = UK::decode(r)?;
                let uv = UV::decode(r)?;
                let t = i64::decode(r)?;
                m.insert(uk, (uv, t));
            }
            Ok(m)
        })
    }
}

impl<K, V, F> CheckpointedState for ReducingState<K, V, F>
where
    K: StateData + Hash + Eq + Clone + 'static,
    V: StateData,
{
    type Key = K;
    table_snapshots!(encode_slot);
    fn restore_entry(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        restore_slot(&mut self.table, bytes, Option::<V>::decode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::format::{parse, SnapshotBuilder, SnapshotHeader};
    use crate::state::{hash_key, FixedKey, StateTtl};
    use proptest::prelude::*;

    /// Writes `h` into a snapshot file, parses it back, restores into `into`.
    fn through_a_file<H: CheckpointedState>(h: &H, into: &mut H) {
        let mut b = SnapshotBuilder::new(SnapshotHeader::test(0, 0, 1, 16));
        let mut w = StateWriter::new(16);
        h.snapshot_state(&mut w);
        b.add("h", w);
        let f = parse(&b.finish()).unwrap();
        into.clear_state();
        for (_, e) in &f.sections[0].1 {
            into.restore_entry(e).unwrap();
        }
    }

    proptest! {
        /// Snapshot → restore gives back every key's value, list, map and reduction, and
        /// the restored handles go on behaving like the originals (TTL included).
        #[test]
        fn heap_handles_restore_what_they_held(
            ops in proptest::collection::vec((0u8..6, 0u16..4, any::<i32>(), 0i64..50), 0..60)
        ) {
            let mut v = ValueState::<u8, i32>::with_ttl(StateTtl::new(30));
            let mut l = ListState::<u8, i32>::new();
            let mut m = MapState::<u8, u16, i32>::new();
            let add: fn(i32, i32) -> i32 = |a, b| a.wrapping_add(b);
            let mut r = ReducingState::<u8, i32, _>::new(add);
            let mut now = 0;
            for (k, uk, x, dt) in &ops {
                now += dt;
                let s = FixedKey::new(*k, now);
                v.update(&s, *x);
                l.add(&s, *x);
                m.put(&s, *uk, *x);
                r.add(&s, *x);
            }
            let mut v2 = ValueState::<u8, i32>::with_ttl(StateTtl::new(30));
            let mut l2 = ListState::<u8, i32>::new();
            let mut m2 = MapState::<u8, u16, i32>::new();
            let mut r2 = ReducingState::<u8, i32, _>::new(add);
            through_a_file(&v, &mut v2);
            through_a_file(&l, &mut l2);
            through_a_file(&m, &mut m2);
            through_a_file(&r, &mut r2);
            for k in 0u8..6 {
                for at in [now, now + 29, now + 31] {
                    let s = FixedKey::new(k, at);
                    prop_assert_eq!(v.value(&s).copied(), v2.value(&s).copied());
                }
                let s = FixedKey::new(k, now);
                prop_assert_eq!(l.get(&s).copied().collect::<Vec<_>>(), l2.get(&s).copied().collect::<Vec<_>>());
                for uk in 0u16..4 {
                    prop_assert_eq!(m.get(&s, &uk).copied(), m2.get(&s, &uk).copied());
                }
                prop_assert_eq!(r.get(&s).copied(), r2.get(&s).copied());
            }
            prop_assert_eq!(hash_key(&1u8), hash_key(&1u8));
        }
    }
}
