//! What the typed handles share: the rkyv bound, reused serialization buffers, and reading
//! an archived value in place (validated once when it came from disk).

use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor::Error as RkyvError;
use rkyv::ser::allocator::{Arena, ArenaHandle};
use rkyv::util::AlignedVec;
use rkyv::{Archived, Portable, Serialize};

use super::record::ALIGN;
use super::store::{hash_bytes, MmapStore, UNTRUSTED};
use crate::error::{Result, SpateError};

/// The bound on keys and values of mmap state: any type rkyv can archive with its default
/// (high-level) serializer — `#[derive(rkyv::Archive, rkyv::Serialize)]` types, integers,
/// `String`, `Vec`, tuples, options …
pub trait Archivable:
    for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, RkyvError>>
{
}

impl<T> Archivable for T where
    T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, RkyvError>>
{
}

/// Reused serialization buffers: no allocation per record once they have grown.
pub(crate) struct Encoder {
    pub(crate) key: AlignedVec,
    pub(crate) user_key: AlignedVec,
    pub(crate) value: AlignedVec,
    /// Composite keys of map state.
    pub(crate) composite: Vec<u8>,
    pub(crate) arena: Arena,
}

impl Encoder {
    pub(crate) fn new() -> Encoder {
        Encoder {
            key: AlignedVec::new(),
            user_key: AlignedVec::new(),
            value: AlignedVec::new(),
            composite: Vec::new(),
            arena: Arena::new(),
        }
    }
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

/// Replaces `buf`'s contents with the rkyv archive of `value`.
pub(crate) fn archive<T: Archivable>(
    value: &T,
    buf: &mut AlignedVec,
    arena: &mut Arena,
) -> Result<()> {
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

/// Values are read in place at 16-byte boundaries: archives aligned to more are refused.
pub(crate) fn check_alignment<V: rkyv::Archive>() -> Result<()> {
    let align = std::mem::align_of::<Archived<V>>();
    if align > ALIGN {
        return Err(SpateError::Config(format!(
            "{} archives with alignment {align} (mmap state supports up to {ALIGN})",
            std::any::type_name::<V>()
        )));
    }
    Ok(())
}

/// The archived value of `key`, in place. Bytes from disk are validated with
/// `rkyv::access` on first read and then marked trusted; trusted bytes are read with
/// `access_unchecked`.
///
/// # Safety
///
/// Every trusted record of `store` must hold the rkyv archive of a `V`: the store belongs to
/// one typed handle whose values are all `V`, and nothing else writes trusted records.
pub(crate) unsafe fn read_archived<'s, V>(
    store: &'s mut MmapStore,
    key: &[u8],
) -> Result<Option<&'s Archived<V>>>
where
    V: rkyv::Archive,
    Archived<V>: Portable + for<'a> CheckBytes<HighValidator<'a, RkyvError>>,
{
    let hash = hash_bytes(key);
    let Some(slot) = store.find(hash, key).copied() else {
        return Ok(None);
    };
    let missing = || SpateError::Internal("mmap state: index points at no record".into());
    if slot.off & UNTRUSTED != 0 {
        let r = store.record(&slot).ok_or_else(missing)?;
        if let Err(e) = rkyv::access::<Archived<V>, RkyvError>(r.value) {
            return Err(SpateError::BadInput {
                source_name: store.dir().display().to_string(),
                position: format!("a value of key group {}", r.key_group),
                message: format!("not a valid archive of {}: {e}", std::any::type_name::<V>()),
            });
        }
        store.mark_trusted(hash, key);
    }
    let bytes = store.record(&slot).ok_or_else(missing)?.value;
    debug_assert_eq!(
        bytes.as_ptr() as usize % std::mem::align_of::<Archived<V>>(),
        0
    );
    // SAFETY: the record is trusted or was validated just above, so its bytes are an archive
    // of `V` (the caller's contract) or bytes `rkyv::access` validated as an `Archived<V>`.
    // Compaction copies records verbatim and sealed segments are never modified. Values
    // start at a 16-byte boundary of a page-aligned mapping and `check_alignment` refuses
    // archives aligned to more than 16, so the root is aligned; the slice is exactly the
    // archive, so its root position is right.
    Ok(Some(unsafe {
        rkyv::access_unchecked::<Archived<V>>(bytes)
    }))
}

/// The store-level methods both typed handles offer (sizes, the store itself, snapshot,
/// export, compaction), written once over their `store: Option<MmapStore>` field and their
/// module's `unbound_error()`.
macro_rules! store_methods {
    () => {
        /// Sizes of the underlying store (all zero while unbound).
        pub fn stats(&self) -> StoreStats {
            self.store
                .as_ref()
                .map_or_else(StoreStats::default, MmapStore::stats)
        }

        /// The underlying store, read-only (iteration by key group, sizes); `None` while
        /// unbound.
        pub fn store(&self) -> Option<&MmapStore> {
            self.store.as_ref()
        }

        /// Snapshot for checkpoint `epoch` (see [`MmapStore::snapshot`]).
        pub fn snapshot(&mut self, epoch: u64) -> Result<SnapshotManifest> {
            self.store
                .as_mut()
                .ok_or_else(unbound_error)?
                .snapshot(epoch)
        }

        /// Links the snapshot's files into `dest` (see [`MmapStore::export`]).
        pub fn export(&self, manifest: &SnapshotManifest, dest: &Path) -> Result<usize> {
            self.store
                .as_ref()
                .ok_or_else(unbound_error)?
                .export(manifest, dest)
        }

        /// Compacts segments whose live ratio is low (see [`MmapStore::compact`]).
        pub fn compact(&mut self) -> Result<usize> {
            self.store.as_mut().ok_or_else(unbound_error)?.compact()
        }
    };
}
pub(crate) use store_methods;
