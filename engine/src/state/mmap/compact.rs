//! Compaction: live records of a sealed segment whose live ratio fell below the threshold
//! are copied (byte for byte, checksums unchanged) into the active segment, then the
//! segment is dropped.
//!
//! TTL: in a store of a handle with TTL, a live entry whose last-touched time (the first
//! bytes of its value) expired is not copied but dropped, replaced by a tombstone unless the
//! segment is the oldest.
//!
//! Tombstones: a tombstone is needed while an older segment may still hold a put of its
//! key. Compacting the oldest segment drops its tombstones; otherwise a tombstone whose key
//! has no live value is copied forward and counted as live in its new segment (so that a
//! segment of copied tombstones does not trigger compaction again and again).

use super::record::{self, PUT};
use super::store::{hash_bytes, slot_key_eq, MmapStore, TtlCut, UNTRUSTED};
use super::typed::TTL_PREFIX;
use crate::error::{Result, SpateError};

/// Whether a value written by a handle with TTL (last-touched time first) has expired.
fn ttl_expired(value: &[u8], t: TtlCut) -> bool {
    value
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .is_some_and(|b| {
            value.len() >= TTL_PREFIX && i64::from_le_bytes(b).saturating_add(t.ttl_ms) <= t.now
        })
}

impl MmapStore {
    /// Compacts every sealed segment whose live bytes are below
    /// [`MmapConfig::compact_below`](super::MmapConfig::compact_below) of its size; returns
    /// how many were compacted. Runs by itself whenever an append seals a segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::state::mmap::{MmapConfig, MmapStore};
    /// let dir = tempfile::tempdir()?;
    /// let mut store = MmapStore::open(MmapConfig::new(dir.path()).segment_bytes(4096))?;
    /// for round in 0..10u8 {
    ///     for k in 0..100u32 {
    ///         store.put(0, &k.to_le_bytes(), &[round; 16])?;
    ///     }
    /// }
    /// store.compact()?;
    /// let stats = store.stats();
    /// assert_eq!(stats.keys, 100);
    /// assert!(stats.disk_bytes < 3 * stats.live_bytes, "{stats:?}");
    /// assert_eq!(store.get(&7u32.to_le_bytes()).map(|v| v.bytes), Some(&[9u8; 16][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compact(&mut self) -> Result<usize> {
        self.compact_below_threshold()
    }

    pub(crate) fn compact_below_threshold(&mut self) -> Result<usize> {
        let ratio = self.config.compact_below;
        let mut picked: Vec<(u64, u32)> = self
            .segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                let low = (s.live as f64) < ratio * s.len as f64;
                (s.is_sealed() && low).then_some((s.seq, i as u32))
            })
            .collect();
        picked.sort_unstable();
        for &(_, slot) in &picked {
            self.compact_segment(slot)?;
        }
        self.rolled = false;
        Ok(picked.len())
    }

    fn compact_segment(&mut self, slot: u32) -> Result<()> {
        let missing =
            || SpateError::Internal(format!("mmap store: compacting lost segment {slot}"));
        let min_seq = self.segments.iter().flatten().map(|s| s.seq).min();
        let seg = self.seg(slot).ok_or_else(missing)?;
        let oldest = Some(seg.seq) == min_seq;
        let len = seg.len;
        let mut buf = std::mem::take(&mut self.scratch);
        let mut off = 0;
        while off < len {
            let bytes = self.seg(slot).ok_or_else(missing)?.bytes();
            let r = record::view(bytes, off).ok_or_else(|| {
                SpateError::Internal(format!("mmap store: bad record at {off} while compacting"))
            })?;
            let hash = hash_bytes(r.key);
            let found = self.find(hash, r.key);
            let live = if r.kind == PUT {
                found.is_some_and(|s| s.seg == slot && s.offset() == off)
            } else {
                !oldest && found.is_none()
            };
            let (kind, size) = (r.kind, r.size);
            if live && kind == PUT && self.ttl.is_some_and(|t| ttl_expired(r.value, t)) {
                // Expired: dropped, with a tombstone unless no older segment can hold a put
                // of the key that a restore would bring back.
                buf.clear();
                buf.extend_from_slice(r.key);
                let group = r.key_group;
                if !oldest {
                    let tsize = record::size(buf.len(), 0);
                    let (nseg, _) = self.append_with(tsize, |dst| {
                        record::encode(dst, record::TOMBSTONE, group, &buf, &[])
                    })?;
                    if let Some(Some(s)) = self.segments.get_mut(nseg as usize) {
                        s.live += tsize;
                    }
                }
                let segments = &self.segments;
                if let Ok(o) = self
                    .index
                    .find_entry(hash, |s| slot_key_eq(segments, s, hash, &buf))
                {
                    o.remove();
                }
                off += size;
                continue;
            }
            if live {
                buf.clear();
                buf.extend_from_slice(&bytes[off..off + size]);
                let (nseg, noff) = self.append_with(size, |dst| dst.copy_from_slice(&buf))?;
                if let Some(Some(s)) = self.segments.get_mut(nseg as usize) {
                    s.live += size;
                }
                if kind == PUT {
                    let key = record::view(&buf, 0).map(|r| r.key).unwrap_or_default();
                    let segments = &self.segments;
                    if let Some(s) = self
                        .index
                        .find_mut(hash, |s| slot_key_eq(segments, s, hash, key))
                    {
                        s.seg = nseg;
                        s.off = noff | (s.off & UNTRUSTED);
                    }
                }
            }
            off += size;
        }
        self.scratch = buf;
        if let Some(mut s) = self.take_segment(slot) {
            if s.owned && s.first_epoch.is_some() {
                // A snapshot lists it: keep the file until the next snapshot (see `export`).
                self.pending_delete.push(s.path().to_path_buf());
                s.owned = false;
            }
            s.close_and_delete()?;
        }
        Ok(())
    }
}
