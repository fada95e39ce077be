//! `MmapMapState`: a map of user keys to values per key, in an [`MmapStore`].
//!
//! Each (key, user key) pair is one store entry, keyed by `len(K archive) as u32 LE ‖ K
//! archive ‖ UK archive` and written under the key's key group, so rescaling moves a key's
//! whole map together. The hash index has no order, so listing or clearing one key's map
//! (Flink's `entries()` / `clear()`) would need a per-key secondary index: not provided yet.

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

/// A map per key, in memory-mapped files (the mmap backend's Flink `MapState`): point
/// operations only (`get`, `put`, `remove`, `contains`); values are read in place as
/// `&Archived<UV>`.
///
/// # Examples
///
/// ```
/// use spate::state::FixedKey;
/// use spate::state::mmap::{MmapConfig, MmapMapState};
/// let dir = tempfile::tempdir()?;
/// let mut per_item = MmapMapState::<String, u32, u64>::open(MmapConfig::new(dir.path()))?;
/// let k = FixedKey::new("user".to_string(), 0);
/// per_item.put(&k, &7, &1)?;
/// per_item.put(&k, &7, &2)?;
/// per_item.put(&k, &8, &5)?;
/// assert_eq!(per_item.get(&k, &7)?.map(|v| v.to_native()), Some(2));
/// assert!(per_item.remove(&k, &7)?);
/// assert!(!per_item.contains(&k, &7)?);
/// assert_eq!(per_item.entry_count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// In a job, create it unbound ([`MmapMapState::unbound`] or `Default`) and register it in
/// `KeyedProcessFunction::state` (or a keyed co-process function's), like [`MmapValueState`](super::MmapValueState).
#[derive(Debug)]
pub struct MmapMapState<K, UK, UV> {
    store: Option<MmapStore>,
    enc: Encoder,
    ttl: Option<StateTtl>,
    _types: PhantomData<fn(&K, &UK, &UV)>,
}

impl<K, UK, UV> MmapMapState<K, UK, UV> {
    /// A handle with no store yet, bound by its operator when the job starts.
    pub fn unbound() -> Self {
        MmapMapState {
            store: None,
            enc: Encoder::new(),
            ttl: None,
            _types: PhantomData,
        }
    }

    /// An unbound handle whose entries (each user key's value) expire after `ttl`, with the
    /// rules of [`MmapValueState::with_ttl`](super::MmapValueState::with_ttl) (Flink's map
    /// state TTL is per user key too).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::state::{FixedKey, StateTtl, TtlUpdate};
    /// use spate::state::mmap::{MmapConfig, MmapMapState};
    /// let dir = tempfile::tempdir()?;
    /// let ttl = StateTtl::new(100).update_on(TtlUpdate::OnReadAndWrite);
    /// let mut m = MmapMapState::<u8, u8, u64>::with_ttl(ttl).open_in(MmapConfig::new(dir.path()))?;
    /// m.put(&FixedKey::new(1, 0), &2, &3)?;
    /// assert!(m.get(&FixedKey::new(1, 90), &2)?.is_some()); // read: lives until 190
    /// assert!(m.get(&FixedKey::new(1, 180), &2)?.is_some());
    /// assert!(!m.contains(&FixedKey::new(1, 280), &2)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_ttl(ttl: StateTtl) -> Self {
        MmapMapState {
            ttl: Some(ttl),
            ..Self::unbound()
        }
    }
}

impl<K, UK, UV> Default for MmapMapState<K, UK, UV> {
    fn default() -> Self {
        Self::unbound()
    }
}

impl<K, UK, UV> Clone for MmapMapState<K, UK, UV> {
    /// An unbound handle with the same TTL (stores are not shared).
    fn clone(&self) -> Self {
        MmapMapState {
            ttl: self.ttl,
            ..Self::unbound()
        }
    }
}

fn unbound_error() -> crate::error::SpateError {
    crate::error::SpateError::Config(
        "MmapMapState used before it was bound: register it in the `state` of a \
         KeyedProcessFunction or KeyedCoProcessFunction and choose Env::state_backend(StateBackend::mmap(dir))"
            .into(),
    )
}

impl<K, UK, UV> crate::checkpoint::CheckpointedState for MmapMapState<K, UK, UV>
where
    K: Archivable + crate::checkpoint::StateData + 'static,
    UK: Archivable,
    UV: Archivable,
    Archived<UV>: for<'a> CheckBytes<HighValidator<'a, RkyvError>>,
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
            check: check_alignment::<UV>,
            ttl: self.ttl.is_some(),
        })
    }
}

impl<K: Archivable, UK: Archivable, UV: Archivable> MmapMapState<K, UK, UV>
where
    Archived<UV>: for<'a> CheckBytes<HighValidator<'a, RkyvError>>,
{
    fn wrap(store: MmapStore) -> Result<Self> {
        check_alignment::<UV>()?;
        Ok(MmapMapState {
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
        Ok(MmapMapState {
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

    /// Builds the composite key of (current key, `user_key`) in `enc.composite`.
    fn compose<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, user_key: &UK) -> Result<()> {
        let e = &mut self.enc;
        archive(scope.key(), &mut e.key, &mut e.arena)?;
        archive(user_key, &mut e.user_key, &mut e.arena)?;
        e.composite.clear();
        e.composite
            .extend_from_slice(&(e.key.len() as u32).to_le_bytes());
        e.composite.extend_from_slice(&e.key);
        e.composite.extend_from_slice(&e.user_key);
        Ok(())
    }

    /// The value of `user_key` in the current key's map, read in place.
    pub fn get<S: KeyScope<K> + ?Sized>(
        &mut self,
        scope: &S,
        user_key: &UK,
    ) -> Result<Option<&Archived<UV>>> {
        self.compose(scope, user_key)?;
        let store = self.store.as_mut().ok_or_else(unbound_error)?;
        let e = &mut self.enc;
        // SAFETY: this handle owns its store (no `&mut MmapStore` is handed out) and only
        // ever writes trusted records that `put` archived from a `UV` (after the TTL prefix
        // when it has a TTL, on every record: restores check that).
        unsafe { read_with_ttl::<UV>(store, self.ttl, scope.now(), &e.composite, &mut e.ttl) }
    }

    /// `true` when the current key's map holds `user_key`.
    pub fn contains<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, user_key: &UK) -> Result<bool> {
        if self.ttl.is_some() {
            // A read for TTL: an expired entry is gone, a live one's clock may restart.
            return Ok(self.get(scope, user_key)?.is_some());
        }
        self.compose(scope, user_key)?;
        let store = self.store.as_ref().ok_or_else(unbound_error)?;
        Ok(store.get(&self.enc.composite).is_some())
    }

    /// Sets `user_key` to `value` in the current key's map.
    pub fn put<S: KeyScope<K> + ?Sized>(
        &mut self,
        scope: &S,
        user_key: &UK,
        value: &UV,
    ) -> Result<()> {
        self.compose(scope, user_key)?;
        archive(value, &mut self.enc.value, &mut self.enc.arena)?;
        let store = self.store.as_mut().ok_or_else(unbound_error)?;
        let group = key_group(scope.key_hash(), store.config().max_parallelism) as u16;
        let e = &mut self.enc;
        put_with_ttl(
            store,
            self.ttl,
            scope.now(),
            (group, &e.composite),
            &e.value,
            &mut e.ttl,
        )
    }

    /// Removes `user_key` from the current key's map; `true` when it was there.
    pub fn remove<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, user_key: &UK) -> Result<bool> {
        self.compose(scope, user_key)?;
        let store = self.store.as_mut().ok_or_else(unbound_error)?;
        store.delete(&self.enc.composite)
    }

    /// Number of (key, user key) entries over all keys.
    pub fn entry_count(&self) -> usize {
        self.store.as_ref().map_or(0, MmapStore::len)
    }

    /// `true` when no key has entries.
    pub fn is_empty(&self) -> bool {
        self.entry_count() == 0
    }

    super::typed::store_methods!();
}
