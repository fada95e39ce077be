//! `MmapValueState`: one value per key in an [`MmapStore`], read in place as an rkyv archive.

use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::path::Path;

use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor::Error as RkyvError;
use rkyv::Archived;

use super::store::{MmapStore, StoreStats};
use super::typed::{archive, check_alignment, read_archived, Archivable, Encoder};
use super::{MmapConfig, SnapshotManifest};
use crate::error::Result;
use crate::state::{key_group, KeyScope};

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
        check_alignment::<V>()?;
        Ok(MmapValueState {
            store,
            enc: Encoder::new(),
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
        // SAFETY: this handle owns its store (no `&mut MmapStore` is handed out) and only
        // ever writes trusted records that `update` archived from a `V`.
        unsafe { read_archived::<V>(&mut self.store, &self.enc.key) }
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
