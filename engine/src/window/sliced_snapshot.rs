//! Copy-on-write snapshots of the sliced window operator (Flink's heap backend takes its
//! synchronous part the same way: it freezes what it must, and serializes afterwards).
//!
//! At a barrier the operator only freezes what would otherwise change under the snapshot:
//! the list of its keys (in the hash table's order) and its timers. The keys' slices are
//! then encoded a step at a time straight into the snapshot file, while records go on. A
//! key's slices that the data path is about to change (an element added, a window fired,
//! slices dropped, the key removed) before a step reached them are encoded into the file
//! first, at that moment. Every key has a mark: the snapshot's when its entry is written (in
//! a step or before a change) or when it was created after the barrier, so the check on the
//! data path is one comparison per record while a snapshot is in steps and one predictable
//! branch otherwise, and each key present at the barrier is written exactly once. Entries
//! carry their key group and readers keep the groups they own whatever the order, so the
//! file is the one the whole snapshot at the barrier would have written, up to the order of
//! the entries within each section.

use std::collections::VecDeque;

use hashbrown::HashTable;

use super::snapshot::DynCodec;
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::types::Codec;
use crate::checkpoint::StateData;
use crate::operators::keyed_process::{EVENT_TIMERS, PROCESSING_TIMERS};
use crate::state::hash_key;
use crate::time::{TimerService, Timestamp};

/// One key's slices. 64 bytes for a `u64` key: one cache line (the key's hash is computed
/// again where needed rather than kept).
pub(super) struct KeySlices<K, Acc> {
    pub(super) key: K,
    /// Slices holding at least one element, by start.
    pub(super) slices: VecDeque<(Timestamp, Acc)>,
    /// `end − 1` of the next window to fire (its timer is registered).
    pub(super) next_fire: Option<Timestamp>,
    /// The mark of the snapshot that holds this key's entry already, or that began before
    /// the key was created (see the module doc).
    pub(super) mark: u32,
}

/// The section of the slices.
pub(super) const SLICES: &str = "spate/window/slices";

/// Encodes one key's entry of the slices section.
#[inline]
pub(super) fn encode_slot<K, Acc>(
    k: &Codec<K>,
    a: &DynCodec<Acc>,
    slot: &KeySlices<K, Acc>,
    o: &mut Vec<u8>,
) {
    (k.encode)(&slot.key, o);
    (slot.slices.len() as u64).encode(o);
    for (p, acc) in &slot.slices {
        p.encode(o);
        (a.enc)(acc, o);
    }
    slot.next_fire.encode(o);
}

/// Where a snapshot in steps has got to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Encoding the keys' slices.
    Slices,
    /// Encoding the frozen timers of one domain (0: event time, 1: processing time).
    Timers(usize),
}

/// The snapshot in steps of one sliced window operator instance, and the buffers it
/// reuses from one checkpoint to the next.
pub(super) struct CowSnapshot<K, Acc> {
    /// A snapshot is in steps.
    pub(super) active: bool,
    /// The mark of the snapshot in steps (or of the last one).
    pub(super) mark: u32,
    b: Option<SnapshotBuilder>,
    codecs: Option<(Codec<K>, DynCodec<Acc>)>,
    /// The keys at the barrier with their hashes, in the hash table's order.
    keys: Vec<(u64, K)>,
    /// The timers at the barrier, per domain.
    timers: [Vec<(Timestamp, K)>; 2],
    /// Where the steps are: the phase and the place in its list.
    phase: Phase,
    next: usize,
    /// Entries of the slices' section written so far (by steps and by copies): once every
    /// frozen key's is, the steps skip the rest of the list.
    written: usize,
}

impl<K, Acc> CowSnapshot<K, Acc> {
    pub(super) fn new() -> Self {
        CowSnapshot {
            active: false,
            mark: 0,
            b: None,
            codecs: None,
            keys: Vec::new(),
            timers: [Vec::new(), Vec::new()],
            phase: Phase::Slices,
            next: 0,
            written: 0,
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, Acc> CowSnapshot<K, Acc> {
    /// Freezes the key list and the timers of the operator (the barrier's part) and
    /// begins the slices' section in `b`.
    pub(super) fn begin(
        &mut self,
        mut b: SnapshotBuilder,
        codecs: (Codec<K>, DynCodec<Acc>),
        keys: &HashTable<KeySlices<K, Acc>>,
        timers: &TimerService<K>,
    ) {
        self.mark = self.mark.wrapping_add(1);
        self.keys.clear();
        self.keys
            .extend(keys.iter().map(|s| (hash_key(&s.key), s.key.clone())));
        for (frozen, q) in self
            .timers
            .iter_mut()
            .zip([&timers.event, &timers.processing])
        {
            frozen.clear();
            frozen.extend(q.iter().cloned());
        }
        b.begin_section(SLICES, keys.len());
        self.phase = Phase::Slices;
        self.next = 0;
        self.written = 0;
        self.codecs = Some(codecs);
        self.b = Some(b);
        self.active = true;
    }

    /// The data path is about to change `slot` (whose key's hash is `hash`): its entry is
    /// written first, unless the snapshot holds it already.
    #[inline]
    pub(super) fn before_change(&mut self, slot: &mut KeySlices<K, Acc>, hash: u64) {
        if self.active && slot.mark != self.mark {
            self.copy(slot, hash);
        }
    }

    /// Writes the entry of `slot` into the slices' section (every key of the frozen list
    /// is unmarked until then, and all are marked before the section ends).
    #[cold]
    fn copy(&mut self, slot: &mut KeySlices<K, Acc>, hash: u64) {
        let (Some(b), Some((k, a))) = (self.b.as_mut(), &self.codecs) else {
            return;
        };
        let kg = b.key_group(hash);
        b.entry(kg, |o| encode_slot(k, a, slot, o));
        slot.mark = self.mark;
        self.written += 1;
    }

    /// Encodes up to `budget` more entries; returns the snapshot once complete.
    pub(super) fn step(
        &mut self,
        budget: usize,
        keys: &mut HashTable<KeySlices<K, Acc>>,
    ) -> Result<Option<SnapshotBuilder>, String> {
        let (Some(b), Some((k, a))) = (self.b.as_mut(), self.codecs.as_ref()) else {
            return Err("no snapshot in progress".into());
        };
        let mut left = budget;
        if self.phase == Phase::Slices {
            // Once every frozen key's entry is written (in a busy job the data path copies
            // most of them first), the rest of the list needs no lookups.
            while self.next < self.keys.len() && self.written < self.keys.len() && left > 0 {
                let (hash, key) = &self.keys[self.next];
                // A key removed after the barrier had its entry written before: skip it.
                if let Some(slot) = keys.find_mut(*hash, |e| e.key == *key) {
                    if slot.mark != self.mark {
                        b.entry(b.key_group(*hash), |o| encode_slot(k, a, slot, o));
                        slot.mark = self.mark;
                        self.written += 1;
                    }
                }
                self.next += 1;
                left -= 1;
            }
            if self.next < self.keys.len() && self.written < self.keys.len() {
                return Ok(None);
            }
            if self.written != self.keys.len() {
                // A change of a frozen key that skipped `before_change`: the section would
                // not hold what its count says. Fail rather than write a bad snapshot.
                return Err(format!(
                    "sliced window snapshot: {} of {} keys written (a change after the \
                     barrier was not copied first)",
                    self.written,
                    self.keys.len()
                ));
            }
            self.keys.clear();
            self.phase = Phase::Timers(0);
            self.next = 0;
        }
        while let Phase::Timers(d) = self.phase {
            let frozen = &self.timers[d];
            if self.next == 0 && !frozen.is_empty() {
                if left == 0 {
                    return Ok(None);
                }
                b.begin_section([EVENT_TIMERS, PROCESSING_TIMERS][d], frozen.len());
            }
            while self.next < frozen.len() && left > 0 {
                let (ts, key) = &frozen[self.next];
                b.entry(b.key_group(hash_key(key)), |o| {
                    ts.encode(o);
                    (k.encode)(key, o);
                });
                self.next += 1;
                left -= 1;
            }
            if self.next < frozen.len() {
                return Ok(None);
            }
            self.next = 0;
            if d == 1 {
                break;
            }
            self.phase = Phase::Timers(1);
        }
        self.timers.iter_mut().for_each(Vec::clear);
        self.active = false;
        self.codecs = None;
        Ok(self.b.take())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_s_slices_fill_one_cache_line() {
        assert_eq!(std::mem::size_of::<super::KeySlices<u64, u64>>(), 64);
    }
}
