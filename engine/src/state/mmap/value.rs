//! `MmapValueState`: one value per key in an [`MmapStore`], read in place as an rkyv archive.

use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::path::Path;

use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor::Error as RkyvError;
use rkyv::ser::allocator::{Arena, ArenaHandle};
use rkyv::util::AlignedVec;
use rkyv::{Archived, Serialize};

use super::record::ALIGN;
use super::store::{hash_bytes, MmapStore, StoreStats, UNTRUSTED};
use super::{MmapConfig, SnapshotManifest};
use crate::error::{Result, SpateError};
use crate::state::{key_group, KeyScope};

/// A serializer bound for keys and values of mmap state: any type rkyv can archive with its
/// default (high-level) serializer.
pub trait Archivable:
    for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, RkyvError>>
{
}

impl<T> Archivable for T where
    T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, RkyvError>>
{
}

/// Reused serialization buffers: no allocation per record once they have grown.
struct Encoder {
    key: AlignedVec,
    value: AlignedVec,
    arena: Arena,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

fn archive<T: Archivable>(value: &T, buf: &mut AlignedVec, arena: &mut Arena) -> Result<()> {
    let mut out = std::mem::take(buf);
    out.clear();
    *buf = rkyv::api::high::to_bytes_in_with_alloc::<_, _, RkyvError>(value, out, arena.acquire())
        .map_err(|e| SpateError::BadInput {
            source_name: "mmap state".into(),
            position: std::any::type_name::<T>().into(),
            message: format!("cannot be archived with rkyv: {e}"),
        })?;
    Ok(())
}

/// One value per key, in memory-mapped files (the mmap backend's Flink `ValueState`).
///
/// Same shape as [`ValueState`](crate::state::ValueState), with three differences: `value`
/// returns the rkyv archive of the value in place (`&Archived<V>`, no copy), `update` takes
/// the value by reference (it is serialized, not moved), and both return `Result` because
/// they touch files. No TTL.
///
/// # Examples
///
/// ```
/// use spate::state::FixedKey;
/// use spate::state::mmap::{MmapConfig, MmapValueState};
/// let dir = tempfile::tempdir()?;
/// let mut last = MmapValueState::<String, i64>::open(MmapConfig::new(dir.path()))?;
/// let k = FixedKey::new("k".to_string(), 0);
/// assert!(last.value(&k)?.is_none());
/// last.update(&k, &5)?;
/// assert_eq!(last.value(&k)?.map(|v| v.to_native()), Some(5));
/// last.clear(&k)?;
/// assert!(last.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MmapValueState<K, V> {
    store: MmapStore,
    enc: Encoder,
    _types: PhantomData<fn(&K, &V)>,
}

impl<K: Archivable, V: Archivable> MmapValueState<K, V>
where
    Archived<V>: for<'a> CheckBytes<HighValidator<'a, RkyvError>>,
{
    fn wrap(store: MmapStore) -> Result<Self> {
        if std::mem::align_of::<Archived<V>>() > ALIGN {
            return Err(SpateError::Config(format!(
                "{} archives with alignment {} (mmap state supports up to {ALIGN})",
                std::any::type_name::<V>(),
                std::mem::align_of::<Archived<V>>()
            )));
        }
        Ok(MmapValueState {
            store,
            enc: Encoder {
                key: AlignedVec::new(),
                value: AlignedVec::new(),
                arena: Arena::new(),
            },
            _types: PhantomData,
        })
    }

    /// An empty state storing its segments in `config.dir`.
    pub fn open(config: MmapConfig) -> Result<Self> {
        Self::wrap(MmapStore::open(config)?)
    }

    /// The state of snapshot `manifest`, whose segments are in `from`
    /// (see [`MmapStore::restore`]).
    pub fn restore(config: MmapConfig, from: &Path, manifest: &SnapshotManifest) -> Result<Self> {
        Self::wrap(MmapStore::restore(config, from, manifest)?)
    }

    /// The key groups `groups` of several snapshots (see [`MmapStore::restore_key_groups`]).
    pub fn restore_key_groups(
        config: MmapConfig,
        sources: &[(&Path, &SnapshotManifest)],
        groups: RangeInclusive<u16>,
    ) -> Result<Self> {
        Self::wrap(MmapStore::restore_key_groups(config, sources, groups)?)
    }

    /// The current key's value, read in place.
    pub fn value<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) -> Result<Option<&Archived<V>>> {
        archive(scope.key(), &mut self.enc.key, &mut self.enc.arena)?;
        let key = &self.enc.key[..];
        let hash = hash_bytes(key);
        let Some(slot) = self.store.find(hash, key).copied() else {
            return Ok(None);
        };
        let missing = || SpateError::Internal("mmap state: index points at no record".into());
        if slot.off & UNTRUSTED != 0 {
            // Bytes from disk: validate once, then remember they are a valid `Archived<V>`.
            let r = self.store.record(&slot).ok_or_else(missing)?;
            if let Err(e) = rkyv::access::<Archived<V>, RkyvError>(r.value) {
                return Err(SpateError::BadInput {
                    source_name: self.store.dir().display().to_string(),
                    position: format!("a value of key group {}", r.key_group),
                    message: format!("not a valid archive of {}: {e}", std::any::type_name::<V>()),
                });
            }
            self.store.mark_trusted(hash, key);
        }
        let bytes = self.store.record(&slot).ok_or_else(missing)?.value;
        debug_assert_eq!(
            bytes.as_ptr() as usize % std::mem::align_of::<Archived<V>>(),
            0
        );
        // SAFETY: the record is trusted or was validated just above, so its bytes are either
        // an archive of `V` that `update` serialized in this process, or bytes that
        // `rkyv::access` validated as an `Archived<V>` (the store is private to this handle,
        // so no other type wrote or validated them). They are copied verbatim by compaction,
        // and sealed segments are never modified. Values start at a 16-byte boundary of a
        // page-aligned mapping and `wrap` rejects archives aligned to more than 16, so the
        // root is aligned; the slice is exactly the archive, so the root position is right.
        Ok(Some(unsafe {
            rkyv::access_unchecked::<Archived<V>>(bytes)
        }))
    }

    /// Sets the current key's value.
    pub fn update<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, value: &V) -> Result<()> {
        archive(scope.key(), &mut self.enc.key, &mut self.enc.arena)?;
        archive(value, &mut self.enc.value, &mut self.enc.arena)?;
        let group = key_group(scope.key_hash(), self.store.config().max_parallelism) as u16;
        self.store
            .put_inner(group, &self.enc.key, &self.enc.value, 0)
    }

    /// Removes the current key's value.
    pub fn clear<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) -> Result<()> {
        archive(scope.key(), &mut self.enc.key, &mut self.enc.arena)?;
        self.store.delete(&self.enc.key).map(|_| ())
    }

    /// Number of keys with a value.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// `true` when no key has a value.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Sizes of the underlying store.
    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// The underlying store, read-only (iteration by key group, sizes).
    pub fn store(&self) -> &MmapStore {
        &self.store
    }

    /// Snapshot for checkpoint `epoch` (see [`MmapStore::snapshot`]).
    pub fn snapshot(&mut self, epoch: u64) -> Result<SnapshotManifest> {
        self.store.snapshot(epoch)
    }

    /// Links the snapshot's files into `dest` (see [`MmapStore::export`]).
    pub fn export(&self, manifest: &SnapshotManifest, dest: &Path) -> Result<usize> {
        self.store.export(manifest, dest)
    }

    /// Compacts segments whose live ratio is low (see [`MmapStore::compact`]).
    pub fn compact(&mut self) -> Result<usize> {
        self.store.compact()
    }
}
