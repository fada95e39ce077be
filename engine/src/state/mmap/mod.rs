//! The mmap state backend: a log-structured keyed store in memory-mapped segment files,
//! with an in-memory hash index, values stored as `rkyv` archives and read without copying.
//!
//! ```text
//!   put(group, key, value) ──append──▶ active segment (mapped read-write, preallocated)
//!                                        │ full, or snapshot(epoch)
//!                                        ▼
//!   index: hash(key) ─▶ (segment, offset)   sealed segments (truncated, read-only, immutable)
//!   get(key) ─▶ &[u8] in the mapping         │ live ratio < compact_below
//!                                            ▼
//!                                        compaction: live records copied forward
//! ```
//!
//! **Why a log and not the heap.** State larger than memory: only the index lives in RAM;
//! the segments are files, and the page cache keeps their hot part resident (sealed
//! segments are clean, read-only mappings the kernel can drop and re-read at will). And
//! snapshots are incremental for free: sealed segments never change, so a checkpoint lists
//! them again instead of copying them. The alternative rejected was an embedded LSM (RocksDB
//! as in Flink): a C++ dependency, a second cache and a copy on every read.
//!
//! **Costs.** Per key in RAM: one 16-byte index entry (key hash, segment, offset) plus
//! hashbrown's control byte, at a load factor of up to 7/8: about 19.5 bytes per key, up to
//! about 39 right after the table doubles ([`StoreStats::index_bytes`]). Key bytes and
//! values are only in the segments. A read is a hash, one probe, a key comparison in the
//! mapping and a pointer into the mapping. A write serializes into a reused buffer, copies
//! the record into the mapping and updates the index: no allocation per record once the
//! buffers have grown. Each overwritten or deleted record is garbage until compaction;
//! with `compact_below = 0.5` the files hold at most about twice the live bytes, plus the
//! active segment.
//!
//! **Format.** See `record.rs`: a 16-byte header (checksum, key length, value length,
//! key group, kind, version), the key, the value, each padded to 16 bytes, so values are aligned
//! for rkyv. Deletes write tombstones. Segment files are named
//! `{random store id:016x}-{sequence:08}.seg`, unique across runs.
//!
//! **Keys of typed handles** are the rkyv archive of `K` (deterministic for the usual key
//! types: integers, strings, tuples, structs, enums, vectors; not for hash maps, whose
//! iteration order varies: do not use them as keys). The key group is the heap backend's:
//! [`key_group`](crate::state::key_group)`(scope.key_hash(), max_parallelism)`.
//!
//! **Trust.** Bytes this process serialized from a `V` are read with
//! `rkyv::access_unchecked`; bytes that came from disk (restore, rescale) or through the
//! byte-level [`MmapStore::put`] are read with `rkyv::access` (bytecheck validation).
//!
//! # Integration (what the checkpoint code and `Env::state_backend` call)
//!
//! - Per shard and operator state: `MmapStore::open(MmapConfig::new(work_dir))`, with
//!   `work_dir` private to that store (e.g. `<tmp>/<job>/<operator id>/<shard>`), or the
//!   typed handles' `MmapValueState::open(config)` / `MmapMapState::open(config)`. The store
//!   never removes its working directory (an active segment file stays there, preallocated
//!   to `segment_bytes`): delete it when the job ends, and restore into a fresh one.
//! - Errors: a call that writes and fails (disk full, I/O) leaves the store unusable: drop
//!   it and restore from the last checkpoint, like any other task failure.
//! - On `Barrier(e)`: `let m = store.snapshot(e)?` (seals and fsyncs the new segments: the
//!   only blocking work, one segment at most since the last barrier), then
//!   `store.export(&m, &checkpoint_dir)?` (hard links of `m.new_segments()`; must happen
//!   before the next `snapshot`), and record `m` (an rkyv type) in the epoch's manifest.
//! - Retention: a checkpoint needs exactly the files its manifests list; delete from the
//!   checkpoint directory the files no retained manifest lists.
//! - Restore: `MmapStore::restore(MmapConfig::new(fresh_work_dir), &checkpoint_dir, &m)`
//!   (or `MmapValueState::restore`); a `BadInput` error means a corrupt or torn snapshot:
//!   fall back to the previous checkpoint.
//! - Rescale N → M: `MmapStore::restore_key_groups(config, &[(dir_i, &m_i) ..], range)`
//!   with the new shard's key-group range.
//! - TTL (`MmapValueState::with_ttl`, `MmapMapState::with_ttl`): a value is written after a
//!   16-byte prefix holding its last-touched time (the archive stays 16-aligned); reads
//!   follow the heap handles' rules, and compaction drops expired entries (a tombstone
//!   replaces one unless its segment is the oldest).
//! - In a job, checkpoints seal at the barrier and leave the fsync of the new segments to
//!   the shard's snapshot writer thread (`snapshot_unsynced`, `checkpointing::Exported`).
//! - Not done here: `ListState` /
//!   `ReducingState` equivalents.
//!
//! # Performance follow-ups
//!
//! Measured in `results/state-backends.md`: random updates cost about 13× the heap
//! backend's, random reads about 4×, on a busy VM. Most of an update is three dependent
//! cache/TLB misses (control bytes, slot, old record in the mapping). Keeping keys of up to
//! 8 bytes inline in the index entry (no key comparison in the mapping) was tried and
//! measured no better (one run: 1.08 M updates/s, against a median of 1.10 without it, same
//! busy machine; the comparison's miss overlaps with other work), so it was left out. Next steps: a batch API that prefetches the index groups of a
//! whole batch of keys, and a lower default `compact_below` when disk space allows
//! (compaction is about a fifth of the update cost).

pub(crate) mod checkpointing;
mod compact;
mod map;
mod record;
mod segment;
mod snapshot;
mod store;
mod typed;
mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod ttl_tests;

use std::path::PathBuf;

pub(crate) use checkpointing::BindCx;
pub use checkpointing::MmapSlot;
pub use map::MmapMapState;
pub use snapshot::{SegmentFile, SnapshotManifest, FORMAT_VERSION};
pub use store::{MmapStore, StoreEntry, StoreStats, StoredValue};
pub use typed::Archivable;
pub use value::MmapValueState;

use crate::error::{Result, SpateError};

/// Settings of an [`MmapStore`].
///
/// # Examples
///
/// ```
/// use spate::state::mmap::MmapConfig;
/// let c = MmapConfig::new("/tmp/state").segment_bytes(1 << 20).compact_below(0.3);
/// assert_eq!(c.segment_bytes, 1 << 20);
/// assert_eq!(c.max_parallelism, 128);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MmapConfig {
    /// Directory of the segment files, private to the store.
    pub dir: PathBuf,
    /// Size of a segment file (default 64 MiB; at most 2 GiB).
    pub segment_bytes: usize,
    /// Compact a sealed segment when its live bytes fall below this fraction (default 0.5).
    pub compact_below: f64,
    /// Number of key groups (the job's `max_parallelism`, default 128; at most 32,768).
    pub max_parallelism: usize,
}

impl MmapConfig {
    /// Defaults, storing segments in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> MmapConfig {
        MmapConfig {
            dir: dir.into(),
            segment_bytes: 64 << 20,
            compact_below: 0.5,
            max_parallelism: 128,
        }
    }

    /// Sets the segment size.
    pub fn segment_bytes(mut self, bytes: usize) -> MmapConfig {
        self.segment_bytes = bytes;
        self
    }

    /// Sets the live ratio below which a sealed segment is compacted.
    pub fn compact_below(mut self, ratio: f64) -> MmapConfig {
        self.compact_below = ratio;
        self
    }

    /// Sets the number of key groups.
    pub fn max_parallelism(mut self, groups: usize) -> MmapConfig {
        self.max_parallelism = groups;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.segment_bytes < record::HEADER || self.segment_bytes > store::UNTRUSTED as usize {
            return Err(SpateError::Config(format!(
                "mmap segment size {} out of range 16 B..2 GiB",
                self.segment_bytes
            )));
        }
        if !(0.0..1.0).contains(&self.compact_below) {
            return Err(SpateError::Config(format!(
                "compact_below {} must be in [0, 1)",
                self.compact_below
            )));
        }
        if self.max_parallelism == 0 || self.max_parallelism > 1 << 15 {
            return Err(SpateError::Config(format!(
                "max_parallelism {} out of range 1..=32768",
                self.max_parallelism
            )));
        }
        Ok(())
    }
}
