//! The hash table behind every state handle: one slot per key, looked up with the
//! operator's precomputed key hash.

use hashbrown::HashTable;

use super::ttl::TtlClock;
use super::KeyScope;
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub(crate) struct Slot<K, V> {
    pub(crate) key: K,
    pub(crate) hash: u64,
    pub(crate) touched: Timestamp,
    pub(crate) value: V,
}

/// Per-key slots with entry-level TTL (`clock`). Collection states keep `clock.ttl = None`
/// here and expire their elements themselves.
#[derive(Debug, Clone)]
pub(crate) struct KeyedTable<K, V> {
    table: HashTable<Slot<K, V>>,
    pub(crate) clock: TtlClock,
}

impl<K: Eq + Clone, V> KeyedTable<K, V> {
    pub(crate) fn new(clock: TtlClock) -> Self {
        KeyedTable {
            table: HashTable::new(),
            clock,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The current key's value, unless absent or hidden by TTL (a hidden one is removed).
    pub(crate) fn get_mut<S: KeyScope<K> + ?Sized>(&mut self, s: &S) -> Option<&mut V> {
        let (now, key) = (s.now(), s.key());
        let occ = self
            .table
            .find_entry(s.key_hash(), |e| e.key == *key)
            .ok()?;
        if self.clock.hidden(occ.get().touched, now) {
            occ.remove();
            return None;
        }
        let slot = occ.into_mut();
        if self.clock.touch_on_read() {
            slot.touched = now;
        }
        Some(&mut slot.value)
    }

    /// The current key's value, created with `init` when absent or expired; counts as a write.
    pub(crate) fn upsert_with<S: KeyScope<K> + ?Sized>(
        &mut self,
        s: &S,
        init: impl FnOnce() -> V,
    ) -> &mut V {
        let now = s.now();
        if self.clock.count_write(self.table.len()) {
            let clock = &self.clock;
            self.table.retain(|e| !clock.expired(e.touched, now));
        }
        let key = s.key();
        let hash = s.key_hash();
        let entry = self.table.entry(hash, |e| e.key == *key, |e| e.hash);
        let slot = match entry {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let slot = o.into_mut();
                if self.clock.expired(slot.touched, now) {
                    slot.value = init();
                }
                slot
            }
            hashbrown::hash_table::Entry::Vacant(v) => v
                .insert(Slot {
                    key: key.clone(),
                    hash,
                    touched: now,
                    value: init(),
                })
                .into_mut(),
        };
        slot.touched = now;
        &mut slot.value
    }

    pub(crate) fn remove<S: KeyScope<K> + ?Sized>(&mut self, s: &S) -> Option<V> {
        let key = s.key();
        let occ = self
            .table
            .find_entry(s.key_hash(), |e| e.key == *key)
            .ok()?;
        Some(occ.remove().0.value)
    }

    /// Keeps the slots for which `f` returns `true`.
    pub(crate) fn retain(&mut self, mut f: impl FnMut(&mut Slot<K, V>) -> bool) {
        self.table.retain(|s| f(s));
    }

    /// Every live slot (for snapshots and tests).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Slot<K, V>> {
        self.table.iter()
    }
}

impl<K: Eq + Clone + std::hash::Hash, V> KeyedTable<K, V> {
    /// Drops every slot (before a restore).
    pub(crate) fn clear_all(&mut self) {
        self.table.clear();
    }

    /// Inserts or replaces the slot of `key` as a snapshot recorded it.
    pub(crate) fn insert_restored(&mut self, key: K, touched: Timestamp, value: V) {
        let hash = super::hash_key(&key);
        match self.table.entry(hash, |e| e.key == key, |e| e.hash) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                let s = o.get_mut();
                s.touched = touched;
                s.value = value;
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Slot {
                    key,
                    hash,
                    touched,
                    value,
                });
            }
        }
    }
}
