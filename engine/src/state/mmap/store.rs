//! `MmapStore`: the byte-level log-structured store (index, appends, reads, iteration).

use std::hash::BuildHasher;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use hashbrown::HashTable;

use super::record::{self, PUT, TOMBSTONE};
use super::segment::Segment;
use super::MmapConfig;
use crate::error::{Result, SpateError};
use crate::state::FixedState;

/// Set in [`Slot::off`] for records whose bytes came from disk (restore): readers must
/// validate them (`rkyv::access`) before use.
pub(crate) const UNTRUSTED: u32 = 1 << 31;

/// An index entry: 16 bytes per key in RAM (plus hashbrown's control byte and load factor).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    /// `FixedState` hash of the key bytes (kept so that growing the table reads no segment).
    pub(crate) hash: u64,
    /// Index into `MmapStore::segments`.
    pub(crate) seg: u32,
    /// Offset of the record in the segment; the top bit is [`UNTRUSTED`].
    pub(crate) off: u32,
}

impl Slot {
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        (self.off & !UNTRUSTED) as usize
    }
}

/// A value read from the store, borrowing its mapped segment.
#[derive(Debug, Clone, Copy)]
pub struct StoredValue<'a> {
    /// The key group the value was written under.
    pub key_group: u16,
    /// The value bytes, as given to [`MmapStore::put`] (16-byte aligned).
    pub bytes: &'a [u8],
}

/// One live entry of the store, as yielded by [`MmapStore::iter`].
#[derive(Debug, Clone, Copy)]
pub struct StoreEntry<'a> {
    /// The entry's key group.
    pub key_group: u16,
    /// The key bytes.
    pub key: &'a [u8],
    /// The value bytes (16-byte aligned).
    pub value: &'a [u8],
}

/// Sizes of a store, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Live keys.
    pub keys: usize,
    /// Segment files (the active one included).
    pub segments: usize,
    /// Bytes written to segment files that are still kept.
    pub disk_bytes: usize,
    /// Bytes of live records in them.
    pub live_bytes: usize,
    /// Approximate heap bytes of the in-memory index (the only per-key cost in RAM).
    pub index_bytes: usize,
}

/// A log-structured keyed store in memory-mapped segment files; see the
/// [module docs](crate::state::mmap) for the format, the costs and the contracts.
///
/// Keys and values are bytes; every record carries its key group. Reads borrow the mapped
/// file. Errors (I/O, corrupt files) are returned, never panicked on; after an error from a
/// call that writes, drop the store and restore it from its last snapshot.
///
/// # Examples
///
/// ```
/// use spate::state::mmap::{MmapConfig, MmapStore};
/// let dir = tempfile::tempdir()?;
/// let mut store = MmapStore::open(MmapConfig::new(dir.path()))?;
/// store.put(3, b"alice", b"value bytes")?;
/// assert_eq!(store.get(b"alice").map(|v| v.bytes), Some(&b"value bytes"[..]));
/// assert!(store.delete(b"alice")?);
/// assert!(store.get(b"alice").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MmapStore {
    pub(crate) config: MmapConfig,
    /// Random per-store-instance prefix of segment file names, so that names never repeat
    /// across runs that share a checkpoint directory.
    nonce: u64,
    pub(crate) next_seq: u64,
    pub(crate) segments: Vec<Option<Segment>>,
    free: Vec<u32>,
    pub(crate) active: Option<u32>,
    pub(crate) index: HashTable<Slot>,
    /// A segment was sealed by an append since compaction last ran.
    pub(crate) rolled: bool,
    /// Compacted segment files that a snapshot listed: deleted at the next snapshot, so that
    /// the caller had the time to link them into the checkpoint (see `export`).
    pub(crate) pending_delete: Vec<PathBuf>,
    pub(crate) scratch: Vec<u8>,
    /// The epoch of the last snapshot taken or restored.
    pub(crate) last_epoch: Option<u64>,
    /// Set by a handle with TTL (its records' values start with the last-touched time):
    /// compaction drops the entries expired at `now`.
    pub(crate) ttl: Option<TtlCut>,
    /// Set by a checkpoint writer that failed to sync segments of
    /// [`snapshot_unsynced`](MmapStore::snapshot_unsynced): they are synced again next time.
    pub(crate) resync: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What compaction needs to drop expired entries: the TTL and the handle's latest
/// processing time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TtlCut {
    pub(crate) ttl_ms: i64,
    pub(crate) now: crate::time::Timestamp,
}

#[inline]
pub(crate) fn hash_bytes(key: &[u8]) -> u64 {
    FixedState.hash_one(key)
}

fn nonce() -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

impl MmapStore {
    /// An empty store writing its segments into `config.dir` (created if missing). The
    /// directory must be private to this store; files of other stores or runs in it are left
    /// alone (names never collide).
    pub fn open(config: MmapConfig) -> Result<MmapStore> {
        config.validate()?;
        std::fs::create_dir_all(&config.dir).map_err(|e| SpateError::io(&config.dir, e))?;
        Ok(MmapStore {
            config,
            nonce: nonce(),
            next_seq: 0,
            segments: Vec::new(),
            free: Vec::new(),
            active: None,
            index: HashTable::new(),
            rolled: false,
            pending_delete: Vec::new(),
            scratch: Vec::new(),
            last_epoch: None,
            ttl: None,
            resync: Default::default(),
        })
    }

    /// The store's configuration.
    pub fn config(&self) -> &MmapConfig {
        &self.config
    }

    /// The directory holding the store's segment files.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// `true` when no key is live.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Sizes of the store.
    pub fn stats(&self) -> StoreStats {
        let segs = self.segments.iter().flatten();
        let buckets = if self.index.capacity() == 0 {
            0
        } else {
            (self.index.capacity() * 8 / 7).next_power_of_two()
        };
        StoreStats {
            keys: self.index.len(),
            segments: segs.clone().count(),
            disk_bytes: segs.clone().map(|s| s.len).sum(),
            live_bytes: segs.map(|s| s.live).sum(),
            index_bytes: buckets * (std::mem::size_of::<Slot>() + 1),
        }
    }

    #[inline]
    pub(crate) fn seg(&self, i: u32) -> Option<&Segment> {
        self.segments.get(i as usize).and_then(Option::as_ref)
    }

    #[inline]
    fn seg_mut(&mut self, i: u32) -> Result<&mut Segment> {
        self.segments
            .get_mut(i as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| SpateError::Internal(format!("mmap store: no segment {i}")))
    }

    /// The record a slot points at.
    #[inline]
    pub(crate) fn record(&self, s: &Slot) -> Option<record::View<'_>> {
        record::view(self.seg(s.seg)?.bytes(), s.offset())
    }

    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<&Slot> {
        let segments = &self.segments;
        self.index
            .find(hash, |s| slot_key_eq(segments, s, hash, key))
    }

    /// The value of `key`, read in place from its segment.
    pub fn get(&self, key: &[u8]) -> Option<StoredValue<'_>> {
        self.get_with_trust(key).map(|(v, _)| v)
    }

    /// The value of `key` and whether this process wrote its bytes (`true`) or read them
    /// from disk (`false`: validate before trusting the archive).
    #[inline]
    pub(crate) fn get_with_trust(&self, key: &[u8]) -> Option<(StoredValue<'_>, bool)> {
        let slot = self.find(hash_bytes(key), key)?;
        let r = self.record(slot)?;
        Some((
            StoredValue {
                key_group: r.key_group,
                bytes: r.value,
            },
            slot.off & UNTRUSTED == 0,
        ))
    }

    /// Marks `key`'s record as validated by its reader.
    pub(crate) fn mark_trusted(&mut self, hash: u64, key: &[u8]) {
        let segments = &self.segments;
        if let Some(s) = self
            .index
            .find_mut(hash, |s| slot_key_eq(segments, s, hash, key))
        {
            s.off &= !UNTRUSTED;
        }
    }

    /// Sets `key` (in `key_group`) to `value`. The store treats the value as opaque bytes
    /// and marks them as to be validated on read, like bytes restored from disk.
    pub fn put(&mut self, key_group: u16, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_inner(key_group, key, value, UNTRUSTED)
    }

    /// `put` with the trust flag given: `0` only for values the caller serialized itself as
    /// the archive type its readers expect.
    pub(crate) fn put_inner(
        &mut self,
        key_group: u16,
        key: &[u8],
        value: &[u8],
        trust: u32,
    ) -> Result<()> {
        if key_group as usize >= self.config.max_parallelism {
            return Err(SpateError::Config(format!(
                "key group {key_group} out of range 0..{}",
                self.config.max_parallelism
            )));
        }
        let size = record::size(key.len(), value.len());
        let (seg, off) =
            self.append_with(size, |dst| record::encode(dst, PUT, key_group, key, value))?;
        self.seg_mut(seg)?.live += size;
        let hash = hash_bytes(key);
        self.set_slot(
            hash,
            key,
            Slot {
                hash,
                seg,
                off: off | trust,
            },
        );
        self.after_write()
    }

    /// Points `key`'s index entry at `new`, retiring the record it pointed at before.
    pub(crate) fn set_slot(&mut self, hash: u64, key: &[u8], new: Slot) {
        let segments = &self.segments;
        let old = match self
            .index
            .entry(hash, |s| slot_key_eq(segments, s, hash, key), |s| s.hash)
        {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(o.get_mut(), new))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(new);
                None
            }
        };
        if let Some(old) = old {
            self.retire(&old);
        }
    }

    /// Subtracts a record that is no longer live from its segment's live bytes.
    pub(crate) fn retire(&mut self, old: &Slot) {
        let size = self.record(old).map_or(0, |r| r.size);
        if let Some(Some(s)) = self.segments.get_mut(old.seg as usize) {
            s.live = s.live.saturating_sub(size);
        }
    }

    /// Deletes `key`; `true` when it was live. Writes a tombstone so that a restore from
    /// this store's snapshots does not bring the key back.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        let hash = hash_bytes(key);
        let Some(group) = self
            .find(hash, key)
            .and_then(|s| self.record(s))
            .map(|r| r.key_group)
        else {
            return Ok(false);
        };
        let size = record::size(key.len(), 0);
        self.append_with(size, |dst| record::encode(dst, TOMBSTONE, group, key, &[]))?;
        let segments = &self.segments;
        if let Ok(o) = self
            .index
            .find_entry(hash, |s| slot_key_eq(segments, s, hash, key))
        {
            let (old, _) = o.remove();
            self.retire(&old);
        }
        self.after_write()?;
        Ok(true)
    }

    /// Every live entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = StoreEntry<'_>> + '_ {
        self.index.iter().filter_map(|s| {
            let r = self.record(s)?;
            Some(StoreEntry {
                key_group: r.key_group,
                key: r.key,
                value: r.value,
            })
        })
    }

    /// The live entries whose key group is in `groups` (to split state for rescaling).
    pub fn iter_key_groups(
        &self,
        groups: RangeInclusive<u16>,
    ) -> impl Iterator<Item = StoreEntry<'_>> + '_ {
        self.iter().filter(move |e| groups.contains(&e.key_group))
    }

    /// Appends a record of `size` bytes written by `write`, rolling over to a new segment
    /// when the active one is full. Returns (segment, offset).
    pub(crate) fn append_with(
        &mut self,
        size: usize,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<(u32, u32)> {
        let seg = match self.active {
            Some(a) if self.seg(a).is_some_and(|s| s.room() >= size) => a,
            _ => self.roll(size)?,
        };
        let s = self.seg_mut(seg)?;
        let off = s.len as u32;
        let dst = s
            .reserve(size)
            .ok_or_else(|| SpateError::Internal("mmap store: no room after roll-over".into()))?;
        write(dst);
        s.commit(size);
        s.synced = false;
        Ok((seg, off))
    }

    /// Seals the active segment (if any) and opens a new one with room for `size` bytes.
    fn roll(&mut self, size: usize) -> Result<u32> {
        let max = UNTRUSTED as usize;
        if size > max {
            return Err(SpateError::Config(format!(
                "state record of {size} bytes is larger than the 2 GiB segment limit"
            )));
        }
        self.seal_active()?;
        let cap = self.config.segment_bytes.max(size);
        let seq = self.next_seq;
        let name = format!("{:016x}-{seq:08}.seg", self.nonce);
        let seg = Segment::create(&self.config.dir, name, seq, cap)?;
        self.next_seq += 1;
        let i = self.insert_segment(seg);
        self.active = Some(i);
        Ok(i)
    }

    /// Seals the active segment; an empty one is deleted.
    pub(crate) fn seal_active(&mut self) -> Result<()> {
        if let Some(a) = self.active.take() {
            self.rolled = true;
            if !self.seg_mut(a)?.seal()? {
                if let Some(s) = self.take_segment(a) {
                    s.close_and_delete()?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn insert_segment(&mut self, seg: Segment) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.segments[i as usize] = Some(seg);
                i
            }
            None => {
                self.segments.push(Some(seg));
                (self.segments.len() - 1) as u32
            }
        }
    }

    pub(crate) fn take_segment(&mut self, i: u32) -> Option<Segment> {
        let s = self.segments.get_mut(i as usize)?.take()?;
        self.free.push(i);
        Some(s)
    }

    fn after_write(&mut self) -> Result<()> {
        if self.rolled {
            self.rolled = false;
            self.compact_below_threshold()?;
        }
        Ok(())
    }
}

#[inline]
pub(crate) fn slot_key_eq(segments: &[Option<Segment>], s: &Slot, hash: u64, key: &[u8]) -> bool {
    s.hash == hash
        && segments
            .get(s.seg as usize)
            .and_then(Option::as_ref)
            .and_then(|seg| record::view(seg.bytes(), s.offset()))
            .is_some_and(|r| r.key == key)
}
