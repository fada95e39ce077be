//! Copy-on-write snapshots of the sliced window operator (Flink's heap backend takes its
//! synchronous part the same way: it freezes what it must, and serializes afterwards).
//!
//! At a barrier the operator only freezes what would otherwise change under the snapshot:
//! the list of its keys (in the hash table's order). Its timers are not written: a restore
//! derives them from the keys' entries (each key's next firing and, with allowed lateness,
//! the cleanup of its first slice). The keys' slices are
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
use crate::checkpoint::{DecodeError, StateData};
use crate::state::hash_key;
use crate::time::Timestamp;

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
    /// What changed since the key's entry was last written into a snapshot (for
    /// incremental snapshots): 0 nothing, [`FRESH`] everything (the key is new), otherwise
    /// `1 + n`: at most the last `n` slices differ, and the front or the next firing may.
    pub(super) touched: u32,
}

/// [`KeySlices::touched`] of a key created since its entry was last written.
pub(super) const FRESH: u32 = u32::MAX;

impl<K, Acc> KeySlices<K, Acc> {
    /// The slice at `idx` changed in place.
    #[inline]
    pub(super) fn touch_at(&mut self, idx: usize) {
        if self.touched != FRESH {
            let n = (self.slices.len() - idx) as u32;
            self.touched = self.touched.max(n + 1);
        }
    }

    /// A slice was inserted at `idx`: the changed slices before it are one further from
    /// the back now.
    #[inline]
    pub(super) fn touch_insert(&mut self, idx: usize) {
        if self.touched != FRESH {
            let n = self.touched.saturating_sub(1);
            let n = if n > 0 { n + 1 } else { 0 };
            self.touched = n.max((self.slices.len() - idx) as u32) + 1;
        }
    }

    /// Slices were dropped from the front, or the next firing changed.
    #[inline]
    pub(super) fn touch_front(&mut self) {
        if self.touched != FRESH {
            let n = self.touched.saturating_sub(1);
            self.touched = n.min(self.slices.len() as u32) + 1;
        }
    }
}

/// The section of the slices as snapshots before incremental ones wrote it (read only):
/// per key its slices, whole, at fixed width.
pub(super) const SLICES_V1: &str = "spate/window/slices";
/// The section of the slices: every key's entry in a full snapshot, the changed keys' in
/// an incremental one (see [`encode_entry`]).
pub(super) const SLICES: &str = "spate/window/slices2";
/// The section of the keys dropped since the previous snapshot (an incremental one).
pub(super) const DROPPED: &str = "spate/window/slices-dropped";

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
fn put_varint(mut v: u64, o: &mut Vec<u8>) {
    while v >= 0x80 {
        o.push(v as u8 | 0x80);
        v >>= 7;
    }
    o.push(v as u8);
}

/// Reads an unsigned LEB128 varint.
#[inline]
fn get_varint(r: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = r
            .split_first()
            .ok_or_else(|| DecodeError("a varint runs past the entry".into()))?;
        *r = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError("a varint longer than 64 bits".into()))
}

/// A signed difference as an unsigned varint value (zigzag: small magnitudes stay small).
#[inline]
fn zig(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzig(u: u64) -> i64 {
    (u >> 1) as i64 ^ -((u & 1) as i64)
}

/// The entry has a first slice (its start is the anchor).
const HAS_FRONT: u8 = 1;
/// The entry replaces all of the key's slices (a full snapshot's entry, or a new key's).
const REPLACE: u8 = 2;
/// The entry has a next firing.
const HAS_NEXT: u8 = 4;

/// Encodes one key's entry, a full one (`delta == false`: every slice, replacing the key's)
/// or a delta (the slices that changed since the key's entry was last written): the key ·
/// flags · count of slices · the start of its first slice (zigzag varint; slices before it
/// are gone) · each slice: its start minus the previous one's (the first's minus the
/// first slice's; varint) and its accumulator · the next firing minus the first slice's
/// start (zigzag varint). A delta's slices replace the key's from the first of them on.
/// Starts are multiples of the slice length, so the differences take a byte or two.
#[inline]
pub(super) fn encode_entry<K, Acc>(
    delta: bool,
    k: &Codec<K>,
    a: &DynCodec<Acc>,
    slot: &KeySlices<K, Acc>,
    o: &mut Vec<u8>,
) {
    let len = slot.slices.len();
    let replace = !delta || slot.touched == FRESH;
    let n = if replace {
        len
    } else {
        (slot.touched.saturating_sub(1) as usize).min(len)
    };
    let front = slot.slices.front().map(|s| s.0);
    let anchor = front.unwrap_or(0);
    let flags = if front.is_some() { HAS_FRONT } else { 0 }
        | if replace { REPLACE } else { 0 }
        | if slot.next_fire.is_some() {
            HAS_NEXT
        } else {
            0
        };
    (k.encode)(&slot.key, o);
    o.push(flags);
    put_varint(n as u64, o);
    put_varint(zig(anchor), o);
    let mut prev = anchor;
    for (p, acc) in slot.slices.range(len - n..) {
        put_varint(p.wrapping_sub(prev) as u64, o);
        prev = *p;
        (a.enc)(acc, o);
    }
    if let Some(t) = slot.next_fire {
        put_varint(zig(t.wrapping_sub(anchor)), o);
    }
}
/// Writes the section of the keys dropped since the previous snapshot (emptying `dropped`).
pub(super) fn write_dropped<K: std::hash::Hash>(
    b: &mut SnapshotBuilder,
    k: &Codec<K>,
    dropped: &mut Vec<K>,
) {
    b.begin_section(DROPPED, dropped.len());
    for key in dropped.drain(..) {
        b.entry(b.key_group(hash_key(&key)), |o| (k.encode)(&key, o));
    }
}

/// Applies one entry of the slices section (see [`encode_entry`]) to `keys`.
pub(super) fn apply_delta<K: std::hash::Hash + Eq, Acc>(
    keys: &mut HashTable<KeySlices<K, Acc>>,
    mut r: &[u8],
    k: &Codec<K>,
    a: &DynCodec<Acc>,
    mark: u32,
) -> Result<(), DecodeError> {
    let r = &mut r;
    let key = (k.decode)(r)?;
    let flags = u8::decode(r)?;
    if flags & !(HAS_FRONT | REPLACE | HAS_NEXT) != 0 {
        return Err(DecodeError(format!(
            "unknown slices entry flags {flags:#x}"
        )));
    }
    let n = get_varint(r)?;
    let anchor = unzig(get_varint(r)?);
    let front = if flags & HAS_FRONT != 0 {
        anchor
    } else {
        Timestamp::MAX
    };
    // At least a byte a slice (its start difference; an accumulator may take none): a bad
    // count fails here rather than reserving memory for it.
    if n > r.len() as u64 {
        return Err(DecodeError(format!("{n} slices in {} bytes", r.len())));
    }
    let mut tail = Vec::with_capacity(n as usize);
    let mut prev = anchor;
    for _ in 0..n {
        prev = prev.wrapping_add(get_varint(r)? as i64);
        tail.push((prev, (a.dec)(r)?));
    }
    let from = match tail.first() {
        _ if flags & REPLACE != 0 => Timestamp::MIN,
        Some(s) => s.0,
        None => Timestamp::MAX,
    };
    let next_fire = if flags & HAS_NEXT != 0 {
        Some(anchor.wrapping_add(unzig(get_varint(r)?)))
    } else {
        None
    };
    if !r.is_empty() {
        return Err(DecodeError("trailing bytes after a slices entry".into()));
    }
    if next_fire == Some(Timestamp::MAX) {
        // No window ends after the largest timestamp (the data path never sets it).
        return Err(DecodeError("a next firing at the largest timestamp".into()));
    }
    let hash = hash_key(&key);
    let mut entry = match keys.find_entry(hash, |e| e.key == key) {
        Ok(e) => e,
        Err(_) if flags & REPLACE == 0 => {
            // A change of a key no earlier file holds: the chain misses a file.
            return Err(DecodeError(
                "a delta changes a key that the snapshots before it do not hold".into(),
            ));
        }
        Err(absent) => absent.into_table().insert_unique(
            hash,
            KeySlices {
                key,
                slices: VecDeque::new(),
                next_fire: None,
                mark,
                touched: FRESH,
            },
            |e| hash_key(&e.key),
        ),
    };
    let slot = entry.get_mut();
    while slot.slices.front().is_some_and(|s| s.0 < front) {
        slot.slices.pop_front();
    }
    while slot.slices.back().is_some_and(|s| s.0 >= from) {
        slot.slices.pop_back();
    }
    for (p, acc) in tail {
        if p < from || slot.slices.back().is_some_and(|s| s.0 >= p) {
            return Err(DecodeError("slices of a delta out of order".into()));
        }
        slot.slices.push_back((p, acc));
    }
    slot.next_fire = next_fire;
    if slot.slices.is_empty() {
        entry.remove();
    }
    Ok(())
}

/// The snapshot in steps of one sliced window operator instance, and the buffers it
/// reuses from one checkpoint to the next.
pub(super) struct CowSnapshot<K, Acc> {
    /// A snapshot is in steps.
    pub(super) active: bool,
    /// It is incremental: it writes the changed keys' deltas.
    delta: bool,
    /// The mark of the snapshot in steps (or of the last one).
    pub(super) mark: u32,
    b: Option<SnapshotBuilder>,
    codecs: Option<(Codec<K>, DynCodec<Acc>)>,
    /// The keys at the barrier with their hashes, in the hash table's order.
    keys: Vec<(u64, K)>,
    /// Where the steps are in `keys`.
    next: usize,
    /// Entries of the slices' section written so far (by steps and by copies): once every
    /// frozen key's is, the steps skip the rest of the list.
    written: usize,
}

impl<K, Acc> CowSnapshot<K, Acc> {
    pub(super) fn new() -> Self {
        CowSnapshot {
            active: false,
            delta: false,
            mark: 0,
            b: None,
            codecs: None,
            keys: Vec::new(),
            next: 0,
            written: 0,
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, Acc> CowSnapshot<K, Acc> {
    /// Freezes the key list of the operator (the barrier's part) and
    /// begins the slices' section in `b`. An incremental snapshot (`delta`) first writes
    /// the keys `dropped` since the previous one, and freezes only the keys changed since
    /// (the others are marked as written: they are not part of it).
    pub(super) fn begin(
        &mut self,
        mut b: SnapshotBuilder,
        codecs: (Codec<K>, DynCodec<Acc>),
        keys: &mut HashTable<KeySlices<K, Acc>>,
        delta: Option<&mut Vec<K>>,
    ) {
        self.mark = self.mark.wrapping_add(1);
        self.keys.clear();
        self.delta = delta.is_some();
        if let Some(dropped) = delta {
            write_dropped(&mut b, &codecs.0, dropped);
            for s in keys.iter_mut() {
                if s.touched == 0 {
                    s.mark = self.mark;
                } else {
                    self.keys.push((hash_key(&s.key), s.key.clone()));
                }
            }
        } else {
            self.keys
                .extend(keys.iter().map(|s| (hash_key(&s.key), s.key.clone())));
        }
        b.begin_section(SLICES, self.keys.len());
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
        b.entry(kg, |o| encode_entry(self.delta, k, a, slot, o));
        slot.mark = self.mark;
        slot.touched = 0;
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
        // Once every frozen key's entry is written (in a busy job the data path copies most
        // of them first), the rest of the list needs no lookups.
        while self.next < self.keys.len() && self.written < self.keys.len() && left > 0 {
            let (hash, key) = &self.keys[self.next];
            // A key removed after the barrier had its entry written before: skip it.
            if let Some(slot) = keys.find_mut(*hash, |e| e.key == *key) {
                if slot.mark != self.mark {
                    let delta = self.delta;
                    b.entry(b.key_group(*hash), |o| encode_entry(delta, k, a, slot, o));
                    slot.mark = self.mark;
                    slot.touched = 0;
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
            // A change of a frozen key that skipped `before_change`: the section would not
            // hold what its count says. Fail rather than write a bad snapshot.
            return Err(format!(
                "sliced window snapshot: {} of {} keys written (a change after the barrier \
                 was not copied first)",
                self.written,
                self.keys.len()
            ));
        }
        self.keys.clear();
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

    /// An entry round-trips through `encode_entry` and `apply_delta`, also with an
    /// accumulator that encodes to no bytes at all (`()`).
    #[test]
    fn entries_round_trip_with_an_empty_accumulator() {
        use super::*;
        use crate::window::snapshot::{need, DynCodec};
        let k = need::<u64>(&Default::default(), "key").unwrap();
        let a = DynCodec::of(need::<()>(&Default::default(), "acc").unwrap());
        let slot = KeySlices {
            key: 7u64,
            slices: [(0i64, ()), (50, ()), (100, ())].into_iter().collect(),
            next_fire: Some(99),
            mark: 0,
            touched: FRESH,
        };
        for delta in [false, true] {
            let mut o = Vec::new();
            encode_entry(delta, &k, &a, &slot, &mut o);
            let mut t: HashTable<KeySlices<u64, ()>> = HashTable::new();
            apply_delta(&mut t, &o, &k, &a, 0).unwrap();
            let back = t.iter().next().unwrap();
            assert_eq!(back.slices, slot.slices);
            assert_eq!(back.next_fire, Some(99));
        }
        // A delta (not replacing) of a key no earlier snapshot holds: the chain misses a file.
        let mut changed = KeySlices { touched: 2, ..slot };
        changed.slices.truncate(3);
        let mut o = Vec::new();
        encode_entry(true, &k, &a, &changed, &mut o);
        let mut t: HashTable<KeySlices<u64, ()>> = HashTable::new();
        assert!(apply_delta(&mut t, &o, &k, &a, 0).is_err());
        // Truncated entries fail, and never panic.
        let mut o = Vec::new();
        encode_entry(false, &k, &a, &changed, &mut o);
        for cut in 0..o.len() {
            let mut t: HashTable<KeySlices<u64, ()>> = HashTable::new();
            assert!(
                apply_delta(&mut t, &o[..cut], &k, &a, 0).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        use super::{get_varint, put_varint, unzig, zig};
        let mut vals: Vec<u64> = (0..64).flat_map(|b| [1u64 << b, (1u64 << b) - 1]).collect();
        vals.push(u64::MAX);
        for v in vals {
            let mut o = Vec::new();
            put_varint(v, &mut o);
            assert_eq!(get_varint(&mut &o[..]).unwrap(), v);
            assert!(get_varint(&mut &o[..o.len() - 1]).is_err(), "truncated {v}");
        }
        for v in [0i64, 1, -1, 1000, -1000, i64::MIN, i64::MAX] {
            assert_eq!(unzig(zig(v)), v);
        }
        assert_eq!(zig(-1), 1);
        assert!(get_varint(&mut &[0xffu8; 11][..]).is_err());
    }

    #[test]
    fn touched_covers_every_changed_slice() {
        use super::{KeySlices, FRESH};
        // Slices at 0..5; the one at index 1 changes, then slices are inserted after it,
        // before it and at the back, and the front is dropped: the changed slices always
        // stay within the last `touched - 1`.
        let mut s = KeySlices {
            key: 1u64,
            slices: (0..5).map(|i| (i * 10, 0u64)).collect(),
            next_fire: None,
            mark: 0,
            touched: 0,
        };
        s.touch_at(1);
        assert_eq!(s.touched, 1 + 4);
        s.slices.insert(3, (25, 0));
        s.touch_insert(3);
        assert_eq!(s.touched, 1 + 5, "index 1 is 5 from the back now");
        s.slices.push_back((50, 0));
        s.touch_insert(6);
        assert_eq!(s.touched, 1 + 6);
        s.slices.pop_front();
        s.slices.pop_front();
        s.touch_front();
        assert_eq!(s.touched, 1 + 5, "clamped to the slices left");
        s.touched = 0;
        s.touch_front();
        assert_eq!(s.touched, 1, "a front change alone");
        s.touched = FRESH;
        s.touch_at(0);
        s.touch_insert(0);
        s.touch_front();
        assert_eq!(s.touched, FRESH);
    }
}
