//! What the typed handles share: the rkyv bound, reused serialization buffers, and reading
//! an archived value in place (validated once when it came from disk).

use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor::Error as RkyvError;
use rkyv::ser::allocator::{Arena, ArenaHandle};
use rkyv::util::AlignedVec;
use rkyv::{Archived, Portable, Serialize};

use super::record::ALIGN;
use super::store::{hash_bytes, MmapStore, TtlCut, UNTRUSTED};
use crate::error::{Result, SpateError};
use crate::state::{StateTtl, TtlUpdate, TtlVisibility};
use crate::time::Timestamp;

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
    /// Values with their TTL prefix.
    pub(crate) ttl: Vec<u8>,
    pub(crate) arena: Arena,
}

impl Encoder {
    pub(crate) fn new() -> Encoder {
        Encoder {
            key: AlignedVec::new(),
            user_key: AlignedVec::new(),
            value: AlignedVec::new(),
            composite: Vec::new(),
            ttl: Vec::new(),
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

/// The archived value of `key`, in place, `skip` bytes into the record's value (the TTL
/// prefix, or 0). Bytes from disk are validated with
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
    skip: usize,
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
        let value = r.value.get(skip..).unwrap_or_default();
        if let Err(e) = rkyv::access::<Archived<V>, RkyvError>(value) {
            return Err(SpateError::BadInput {
                source_name: store.dir().display().to_string(),
                position: format!("a value of key group {}", r.key_group),
                message: format!("not a valid archive of {}: {e}", std::any::type_name::<V>()),
            });
        }
        store.mark_trusted(hash, key);
    }
    let bytes = store
        .record(&slot)
        .ok_or_else(missing)?
        .value
        .get(skip..)
        .unwrap_or_default();
    debug_assert_eq!(
        bytes.as_ptr() as usize % std::mem::align_of::<Archived<V>>(),
        0
    );
    // SAFETY: the record is trusted or was validated just above, so its bytes are an archive
    // of `V` (the caller's contract) or bytes `rkyv::access` validated as an `Archived<V>`.
    // Compaction copies records verbatim and sealed segments are never modified. Values
    // (and so `skip` = 0 or 16 bytes into them) start at a 16-byte boundary of a
    // page-aligned mapping and `check_alignment` refuses
    // archives aligned to more than 16, so the root is aligned; the slice is exactly the
    // archive, so its root position is right.
    Ok(Some(unsafe {
        rkyv::access_unchecked::<Archived<V>>(bytes)
    }))
}

/// Bytes before the archive in the values of a handle with TTL: the last-touched time
/// (`i64` LE) and 8 zero bytes, so that the archive still starts at a 16-byte boundary.
pub(crate) const TTL_PREFIX: usize = 16;

/// Writes `key` → `value` (an archive) for a handle with TTL `ttl` at processing time `now`:
/// with TTL the value is prefixed with `now` in `buf`.
pub(crate) fn put_with_ttl(
    store: &mut MmapStore,
    ttl: Option<StateTtl>,
    now: Timestamp,
    (group, key): (u16, &[u8]),
    value: &[u8],
    buf: &mut Vec<u8>,
) -> Result<()> {
    let Some(t) = ttl else {
        return store.put_inner(group, key, value, 0);
    };
    store.ttl = Some(TtlCut {
        ttl_ms: t.ttl_ms,
        now,
    });
    buf.clear();
    buf.extend_from_slice(&now.to_le_bytes());
    buf.extend_from_slice(&[0; 8]);
    buf.extend_from_slice(value);
    store.put_inner(group, key, buf, 0)
}

/// The archived value of `key` for a handle with TTL `ttl` at processing time `now`, as
/// [`read_archived`] reads it, after the TTL rules of the heap handles: an expired entry is
/// deleted and not returned (`NeverReturnExpired`), a read restarts the clock with
/// `OnReadAndWrite` (the record is written again with the new time).
///
/// # Safety
///
/// As [`read_archived`]; with TTL every record's value is [`TTL_PREFIX`] bytes then the
/// archive.
pub(crate) unsafe fn read_with_ttl<'s, V>(
    store: &'s mut MmapStore,
    ttl: Option<StateTtl>,
    now: Timestamp,
    key: &[u8],
    buf: &mut Vec<u8>,
) -> Result<Option<&'s Archived<V>>>
where
    V: rkyv::Archive,
    Archived<V>: Portable + for<'a> CheckBytes<HighValidator<'a, RkyvError>>,
{
    let Some(t) = ttl else {
        // SAFETY: the caller's contract.
        return unsafe { read_archived::<V>(store, key, 0) };
    };
    store.ttl = Some(TtlCut {
        ttl_ms: t.ttl_ms,
        now,
    });
    let Some((v, trusted)) = store.get_with_trust(key) else {
        return Ok(None);
    };
    let touched = v
        .bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .filter(|_| v.bytes.len() >= TTL_PREFIX)
        .map(i64::from_le_bytes)
        .ok_or_else(|| SpateError::BadInput {
            source_name: store.dir().display().to_string(),
            position: format!("a value of key group {}", v.key_group),
            message: "shorter than the last-touched time a state with TTL writes".into(),
        })?;
    if t.visibility == TtlVisibility::NeverReturnExpired && t.expired(touched, now) {
        store.delete(key)?;
        return Ok(None);
    }
    if t.update == TtlUpdate::OnReadAndWrite && touched != now {
        let group = v.key_group;
        buf.clear();
        buf.extend_from_slice(&now.to_le_bytes());
        buf.extend_from_slice(&v.bytes[8..]);
        let trust = if trusted { 0 } else { UNTRUSTED };
        store.put_inner(group, key, buf, trust)?;
    }
    // SAFETY: the caller's contract.
    unsafe { read_archived::<V>(store, key, TTL_PREFIX) }
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
