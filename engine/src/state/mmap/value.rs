//! `MmapValueState`: one value per key in an [`MmapStore`], read in place as an rkyv archive.

use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::path::Path;

use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor::Error as RkyvError;
use rkyv::Archived;

use super::store::{MmapStore, StoreStats};
use super::typed::{archive, check_alignment, put_with_ttl, read_with_ttl, Archivable, Encoder};
use super::{MmapConfig, SnapshotManifest};
use crate::error::Result;
use crate::state::{key_group, KeyScope, StateTtl};

/// One value per key, in memory-mapped files (the mmap backend's Flink `ValueState`).
///
/// Same shape as [`ValueState`](crate::state::ValueState), with three differences: `value`
/// returns the rkyv archive of the value in place (`&Archived<V>`, no copy), `update` takes
/// the value by reference (it is serialized, not moved), and both return `Result` because
/// they touch files. TTL as for the heap handles ([`MmapValueState::with_ttl`]).
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
///
/// In a job, create it unbound ([`MmapValueState::unbound`] or `Default`) and register it in
/// [`KeyedProcessFunction::state`](crate::api::KeyedProcessFunction::state) (or a keyed
/// co-process function's `state`): each shard's
/// operator binds it to a working directory under the job's
/// [`StateBackend::Mmap`](crate::state::StateBackend) directory when it opens, and checkpoints
/// snapshot it incrementally. A clone is unbound (the operator clones the function once
/// per shard).
#[derive(Debug)]
pub struct MmapValueState<K, V> {
    store: Option<MmapStore>,
    enc: Encoder,
    ttl: Option<StateTtl>,
    _types: PhantomData<fn(&K, &V)>,
}

impl<K, V> MmapValueState<K, V> {
    /// A handle with no store yet, bound by its operator when the job starts.
    pub fn unbound() -> Self {
        MmapValueState {
            store: None,
            enc: Encoder::new(),
            ttl: None,
            _types: PhantomData,
        }
    }

    /// An unbound handle whose values expire after `ttl` (processing time; Flink's
    /// `StateTtlConfig`, with the same rules as [`ValueState::with_ttl`](crate::state::ValueState::with_ttl)):
    /// each value carries its last-touched time, an expired value is never returned with
    /// [`TtlVisibility::NeverReturnExpired`](crate::state::TtlVisibility) (and is deleted when
    /// read), a read restarts the clock with
    /// [`TtlUpdate::OnReadAndWrite`](crate::state::TtlUpdate) (by writing the record again),
    /// and expired entries are dropped when their segment is compacted. A checkpoint of a
    /// state with TTL restores only into a handle with TTL, and one without only into one
    /// without.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::state::{FixedKey, StateTtl};
    /// use spate::state::mmap::{MmapConfig, MmapValueState};
    /// let dir = tempfile::tempdir()?;
    /// let mut seen = MmapValueState::<u32, bool>::with_ttl(StateTtl::new(1_000))
    ///     .open_in(MmapConfig::new(dir.path()))?;
    /// seen.update(&FixedKey::new(7, 0), &true)?;
    /// assert_eq!(seen.value(&FixedKey::new(7, 999))?.copied(), Some(true));
    /// assert!(seen.value(&FixedKey::new(7, 1_000))?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_ttl(ttl: StateTtl) -> Self {
        MmapValueState {
            ttl: Some(ttl),
            ..Self::unbound()
        }
    }
}

impl<K, V> Default for MmapValueState<K, V> {
    fn default() -> Self {
        Self::unbound()
    }
}

impl<K, V> Clone for MmapValueState<K, V> {
    /// An unbound handle with the same TTL (stores are not shared).
    fn clone(&self) -> Self {
        MmapValueState {
            ttl: self.ttl,
            ..Self::unbound()
        }
    }
}

fn unbound_error() -> crate::error::SpateError {
    crate::error::SpateError::Config(
        "MmapValueState used before it was bound: register it in the `state` of a \
         KeyedProcessFunction or KeyedCoProcessFunction and choose Env::state_backend(StateBackend::mmap(dir))"
            .into(),
    )
}

impl<K, V> crate::checkpoint::CheckpointedState for MmapValueState<K, V>
where
    K: Archivable + crate::checkpoint::StateData + 'static,
    V: Archivable,
    Archived<V>: for<'a> CheckBytes<HighValidator<'a, RkyvError>>,
{
    type Key = K;
    fn snapshot_state(&self, _w: &mut crate::checkpoint::StateWriter) {}
    fn clear_state(&mut self) {}
    fn restore_entry(
        &mut self,
        _bytes: &[u8],
    ) -> std::result::Result<(), crate::checkpoint::DecodeError> {
        Ok(())
    }
    fn mmap_store(&mut self) -> Option<super::MmapSlot<'_>> {
        Some(super::MmapSlot {
            store: &mut self.store,
            check: check_alignment::<V>,
            ttl: self.ttl.is_some(),
        })
    }
}

impl<K: Archivable, V: Archivable> MmapValueState<K, V>
where
    Archived<V>: for<'a> CheckBytes<HighValidator<'a, RkyvError>>,
{
    fn wrap(store: MmapStore) -> Result<Self> {
        check_alignment::<V>()?;
        Ok(MmapValueState {
            store: Some(store),
            enc: Encoder::new(),
            ttl: None,
            _types: PhantomData,
        })
    }

    /// An empty state storing its segments in `config.dir`.
    pub fn open(config: MmapConfig) -> Result<Self> {
        Self::wrap(MmapStore::open(config)?)
    }

    /// This (unbound) handle, with its TTL, bound to an empty store in `config.dir` (outside
    /// a job).
    pub fn open_in(self, config: MmapConfig) -> Result<Self> {
        Ok(MmapValueState {
            ttl: self.ttl,
            ..Self::open(config)?
        })
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
        let store = self.store.as_mut().ok_or_else(unbound_error)?;
        // SAFETY: this handle owns its store (no `&mut MmapStore` is handed out) and only
        // ever writes trusted records that `update` archived from a `V` (after the TTL
        // prefix when it has a TTL, on every record: restores check that).
        unsafe {
            read_with_ttl::<V>(
                store,
                self.ttl,
                scope.now(),
                &self.enc.key,
                &mut self.enc.ttl,
            )
        }
    }

    /// Sets the current key's value.
    pub fn update<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, value: &V) -> Result<()> {
        archive(scope.key(), &mut self.enc.key, &mut self.enc.arena)?;
        archive(value, &mut self.enc.value, &mut self.enc.arena)?;
        let store = self.store.as_mut().ok_or_else(unbound_error)?;
        let group = key_group(scope.key_hash(), store.config().max_parallelism) as u16;
        let e = &mut self.enc;
        put_with_ttl(
            store,
            self.ttl,
            scope.now(),
            (group, &e.key),
            &e.value,
            &mut e.ttl,
        )
    }

    /// Removes the current key's value.
    pub fn clear<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) -> Result<()> {
        archive(scope.key(), &mut self.enc.key, &mut self.enc.arena)?;
        let store = self.store.as_mut().ok_or_else(unbound_error)?;
        store.delete(&self.enc.key).map(|_| ())
    }

    /// Number of keys with a value.
    pub fn len(&self) -> usize {
        self.store.as_ref().map_or(0, MmapStore::len)
    }

    /// `true` when no key has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    super::typed::store_methods!();
}
