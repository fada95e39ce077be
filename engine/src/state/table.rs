//! The hash table behind every state handle: one slot per key, looked up with the
//! operator's precomputed key hash.
//!
//! Copy-on-write snapshots: [`KeyedTable::begin_copy`] freezes the list of keys (hash and
//! key) and gives the table a new mark; from then on a slot whose mark is older is encoded
//! into the snapshot's writer just before its first change (read with `get_mut`, written,
//! removed, expired), and [`KeyedTable::copy_step`] encodes the frozen keys no change has
//! reached yet. Each slot is thereby written once, as it was at the barrier. Slots created
//! during the snapshot carry the new mark and are not part of it.

use std::hash::Hash;

use hashbrown::HashTable;

use super::ttl::TtlClock;
use super::{hash_key, KeyScope};
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub(crate) struct Slot<K, V> {
    pub(crate) key: K,
    pub(crate) touched: Timestamp,
    /// The mark of the table's snapshot that holds this slot's value already (or the mark
    /// current when it was created).
    pub(crate) mark: u32,
    pub(crate) value: V,
}

/// Encodes one slot as an entry's bytes (key, last touched, value), as a whole snapshot does.
pub(crate) type EncodeSlot<K, V> = fn(&Slot<K, V>, &mut Vec<u8>);

/// A slot's encoder holding codecs found at run time.
pub(crate) type EncodeWith<K, V> = dyn Fn(&Slot<K, V>, &mut Vec<u8>) + Send;

/// The encoder of a copy-on-write snapshot (called once per key and snapshot, never per
/// record).
pub(crate) enum CopySlot<K, V> {
    /// A function of the slot's types.
    Fn(EncodeSlot<K, V>),
    /// A closure holding codecs found at run time.
    Boxed(Box<EncodeWith<K, V>>),
}

impl<K, V> CopySlot<K, V> {
    fn encode(&self, s: &Slot<K, V>, o: &mut Vec<u8>) {
        match self {
            CopySlot::Fn(f) => f(s, o),
            CopySlot::Boxed(f) => f(s, o),
        }
    }
}

/// A snapshot of the table in progress (copy-on-write).
struct TableCopy<K, V> {
    /// Who began it (the registry's identity of the state name it is registered under).
    id: u64,
    /// The keys of the table at the barrier, with their hashes.
    frozen: Vec<(u64, K)>,
    /// The next of `frozen` the steps look at.
    pos: usize,
    /// The snapshot's entries so far.
    out: crate::checkpoint::StateWriter,
    encode: CopySlot<K, V>,
}

impl<K, V> std::fmt::Debug for TableCopy<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCopy")
            .field("frozen", &self.frozen.len())
            .field("pos", &self.pos)
            .field("written", &self.out.len())
            .finish()
    }
}

impl<K: Hash, V> TableCopy<K, V> {
    /// Encodes `slot` unless the snapshot (mark `mark`) holds it already.
    #[cold]
    fn copy(&mut self, mark: u32, slot: &mut Slot<K, V>) {
        if slot.mark != mark {
            slot.mark = mark;
            let encode = &self.encode;
            self.out
                .entry(super::hash_key(&slot.key), |o| encode.encode(slot, o));
        }
    }
}

/// Calls `copy` when a snapshot is in progress and `slot` is not in it yet (one comparison
/// per access while a snapshot is in progress, one branch otherwise).
#[inline(always)]
fn before_change<K: Hash, V>(
    copy: &mut Option<Box<TableCopy<K, V>>>,
    mark: u32,
    slot: &mut Slot<K, V>,
) {
    if let Some(c) = copy {
        if slot.mark != mark {
            c.copy(mark, slot);
        }
    }
}

/// Per-key slots with entry-level TTL (`clock`). Collection states keep `clock.ttl = None`
/// here and expire their elements themselves.
#[derive(Debug)]
pub(crate) struct KeyedTable<K, V> {
    table: HashTable<Slot<K, V>>,
    pub(crate) clock: TtlClock,
    /// The mark of the newest snapshot (see the module's documentation).
    mark: u32,
    /// The snapshot in progress, if any.
    copy: Option<Box<TableCopy<K, V>>>,
}

impl<K: Clone, V: Clone> Clone for KeyedTable<K, V> {
    /// A copy of the slots; a snapshot in progress stays with the original.
    fn clone(&self) -> Self {
        KeyedTable {
            table: self.table.clone(),
            clock: self.clock.clone(),
            mark: self.mark,
            copy: None,
        }
    }
}

impl<K: Hash + Eq + Clone, V> KeyedTable<K, V> {
    pub(crate) fn new(clock: TtlClock) -> Self {
        KeyedTable {
            table: HashTable::new(),
            clock,
            mark: 0,
            copy: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The current key's value, unless absent or hidden by TTL (a hidden one is removed).
    pub(crate) fn get_mut<S: KeyScope<K> + ?Sized>(&mut self, s: &S) -> Option<&mut V> {
        let (now, key) = (s.now(), s.key());
        let mut occ = self
            .table
            .find_entry(s.key_hash(), |e| e.key == *key)
            .ok()?;
        before_change(&mut self.copy, self.mark, occ.get_mut());
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
            let (clock, copy, mark) = (&self.clock, &mut self.copy, self.mark);
            self.table.retain(|e| {
                let expired = clock.expired(e.touched, now);
                if expired {
                    before_change(copy, mark, e);
                }
                !expired
            });
        }
        let key = s.key();
        let hash = s.key_hash();
        let entry = self
            .table
            .entry(hash, |e| e.key == *key, |e| hash_key(&e.key));
        let slot = match entry {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let slot = o.into_mut();
                before_change(&mut self.copy, self.mark, slot);
                if self.clock.expired(slot.touched, now) {
                    slot.value = init();
                }
                slot
            }
            hashbrown::hash_table::Entry::Vacant(v) => v
                .insert(Slot {
                    key: key.clone(),
                    touched: now,
                    mark: self.mark,
                    value: init(),
                })
                .into_mut(),
        };
        slot.touched = now;
        &mut slot.value
    }

    pub(crate) fn remove<S: KeyScope<K> + ?Sized>(&mut self, s: &S) -> Option<V> {
        let key = s.key();
        let mut occ = self
            .table
            .find_entry(s.key_hash(), |e| e.key == *key)
            .ok()?;
        before_change(&mut self.copy, self.mark, occ.get_mut());
        Some(occ.remove().0.value)
    }

    /// Keeps the slots for which `f` returns `true` (`f` may change them: during a
    /// snapshot each slot is copied first).
    pub(crate) fn retain(&mut self, mut f: impl FnMut(&mut Slot<K, V>) -> bool) {
        let (copy, mark) = (&mut self.copy, self.mark);
        self.table.retain(|s| {
            before_change(copy, mark, s);
            f(s)
        });
    }

    /// Starts a copy-on-write snapshot, known as `id`: freezes the key list; the entries
    /// are encoded by `encode` into a writer for `max_parallelism` key groups. `false` (and
    /// nothing done) when one is in progress already.
    pub(crate) fn begin_copy(
        &mut self,
        max_parallelism: usize,
        id: u64,
        encode: CopySlot<K, V>,
    ) -> bool {
        if self.copy.is_some() {
            return false;
        }
        self.mark = self.mark.wrapping_add(1);
        self.copy = Some(Box::new(TableCopy {
            id,
            frozen: self
                .table
                .iter()
                .map(|s| (hash_key(&s.key), s.key.clone()))
                .collect(),
            pos: 0,
            out: crate::checkpoint::StateWriter::new(max_parallelism),
            encode,
        }));
        true
    }

    /// The identity given to the copy-on-write snapshot in progress, if any.
    pub(crate) fn copy_id(&self) -> Option<u64> {
        self.copy.as_ref().map(|c| c.id)
    }

    /// Looks at up to `*budget` more frozen keys (taking them off the budget), encoding
    /// those no change has copied yet; returns the snapshot's entries once every frozen key
    /// was looked at. `None` also when no snapshot is in progress. An error when the entries
    /// are not one per frozen key (a change that skipped its copy: a bug), rather than a
    /// snapshot that misses keys.
    pub(crate) fn copy_step(
        &mut self,
        budget: &mut usize,
    ) -> Result<Option<crate::checkpoint::StateWriter>, String> {
        let Some(c) = self.copy.as_deref_mut() else {
            return Ok(None);
        };
        let end = c.frozen.len().min(c.pos.saturating_add(*budget));
        *budget -= end - c.pos;
        for i in c.pos..end {
            let (hash, key) = &c.frozen[i];
            // Absent: removed after the barrier, which copied it first.
            if let Some(slot) = self.table.find_mut(*hash, |e| e.key == *key) {
                c.copy(self.mark, slot);
            }
        }
        c.pos = end;
        if end < c.frozen.len() {
            return Ok(None);
        }
        let (keys, written) = (c.frozen.len(), c.out.len());
        let out = self.copy.take().map(|c| c.out);
        if written != keys {
            return Err(format!(
                "the copy-on-write snapshot wrote {written} entries for {keys} keys"
            ));
        }
        Ok(out)
    }

    /// Every live slot (for snapshots and tests).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Slot<K, V>> {
        self.table.iter()
    }
}

impl<K: Hash + Eq + Clone, V> KeyedTable<K, V> {
    /// Drops every slot (before a restore), and a snapshot in progress.
    pub(crate) fn clear_all(&mut self) {
        self.table.clear();
        self.copy = None;
    }

    /// Inserts or replaces the slot of `key` as a snapshot recorded it.
    pub(crate) fn insert_restored(&mut self, key: K, touched: Timestamp, value: V) {
        let hash = hash_key(&key);
        match self
            .table
            .entry(hash, |e| e.key == key, |e| hash_key(&e.key))
        {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                let s = o.get_mut();
                s.touched = touched;
                s.value = value;
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Slot {
                    key,
                    touched,
                    mark: self.mark,
                    value,
                });
            }
        }
    }
}
