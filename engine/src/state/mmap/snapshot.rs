//! Incremental snapshots (a manifest of sealed segment files), export into a checkpoint
//! directory, and restore (whole, or a key-group range from several snapshots).

use std::ops::RangeInclusive;
use std::path::Path;

use super::record::{self, PUT};
use super::segment::Segment;
use super::store::{hash_bytes, slot_key_eq, MmapStore, Slot, UNTRUSTED};
use super::MmapConfig;
use crate::error::{Result, SpateError};

/// Version of the segment and manifest format.
pub const FORMAT_VERSION: u32 = 1;

/// The files a snapshot of an [`MmapStore`] consists of, oldest first.
///
/// Every listed segment is sealed (immutable); a segment listed by an earlier snapshot is
/// listed again, unchanged, so only the segments with `first_epoch == epoch` are new
/// ([`SnapshotManifest::new_segments`]). The manifest is an rkyv archive type, so the
/// checkpoint code can store it as it stores everything else.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct SnapshotManifest {
    /// [`FORMAT_VERSION`] of the files.
    pub format: u32,
    /// The epoch (checkpoint id) of the snapshot.
    pub epoch: u64,
    /// The store's `max_parallelism` (number of key groups).
    pub max_parallelism: u32,
    /// The segment files, in the order their records must be replayed.
    pub segments: Vec<SegmentFile>,
}

/// One segment file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct SegmentFile {
    /// File name (no directory part).
    pub name: String,
    /// Length in bytes.
    pub len: u64,
    /// crc32 of the whole file.
    pub crc32: u32,
    /// Epoch of the first snapshot that listed the file.
    pub first_epoch: u64,
}

impl SnapshotManifest {
    /// The segments written since the previous snapshot: the only files this snapshot adds.
    pub fn new_segments(&self) -> impl Iterator<Item = &SegmentFile> + '_ {
        self.segments
            .iter()
            .filter(move |s| s.first_epoch == self.epoch)
    }

    /// Total bytes of the listed segments.
    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }
}

fn bad(path: &Path, position: String, message: String) -> SpateError {
    SpateError::BadInput {
        source_name: path.display().to_string(),
        position,
        message,
    }
}

/// A manifest's file name must be a plain name: no directory part.
fn check_name(manifest_dir: &Path, name: &str) -> Result<()> {
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']);
    if plain {
        Ok(())
    } else {
        Err(bad(
            manifest_dir,
            "manifest".into(),
            format!("segment name {name:?} is not a plain file name"),
        ))
    }
}

/// Hard-links `src` to `dst`, copying when linking is not possible (another file system).
fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if std::fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dst).map_err(|e| SpateError::io(src, e))?;
    let f = std::fs::File::open(dst).map_err(|e| SpateError::io(dst, e))?;
    f.sync_all().map_err(|e| SpateError::io(dst, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    let d = std::fs::File::open(dir).map_err(|e| SpateError::io(dir, e))?;
    d.sync_all().map_err(|e| SpateError::io(dir, e))
}

fn same_dir(a: &Path, b: &Path) -> Result<bool> {
    let ca = a.canonicalize().map_err(|e| SpateError::io(a, e))?;
    let cb = b.canonicalize().map_err(|e| SpateError::io(b, e))?;
    Ok(ca == cb)
}

impl MmapStore {
    /// Snapshot for checkpoint `epoch`: seals the active segment, makes every segment
    /// durable and lists them. Segments listed before are listed again (reused), so only
    /// the ones written since the last snapshot are new. Cost: one `fsync` per new segment,
    /// no copy. Epochs must increase. The listed files stay in the store's directory until
    /// the *next* snapshot at least; link them into the checkpoint with
    /// [`MmapStore::export`] before then.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::state::mmap::{MmapConfig, MmapStore};
    /// let (work, ckpt) = (tempfile::tempdir()?, tempfile::tempdir()?);
    /// let mut store = MmapStore::open(MmapConfig::new(work.path()))?;
    /// store.put(0, b"a", b"1")?;
    /// let first = store.snapshot(1)?;
    /// store.export(&first, ckpt.path())?;
    /// store.put(0, b"b", b"2")?;
    /// let second = store.snapshot(2)?;
    /// assert_eq!(second.segments.len(), 2);
    /// assert_eq!(second.new_segments().count(), 1, "the first segment is reused");
    /// store.export(&second, ckpt.path())?;
    ///
    /// let restored = MmapStore::restore(MmapConfig::new(tempfile::tempdir()?.path()), ckpt.path(), &second)?;
    /// assert_eq!(restored.get(b"b").map(|v| v.bytes), Some(&b"2"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&mut self, epoch: u64) -> Result<SnapshotManifest> {
        self.check_epoch(epoch)?;
        self.seal_active()?;
        self.rolled = false;
        for s in self.segments.iter_mut().flatten() {
            s.sync()?;
        }
        sync_dir(&self.config.dir)?;
        self.list_segments(epoch)
    }

    /// [`snapshot`](MmapStore::snapshot) without making anything durable (a checkpoint's
    /// writer thread does it, off the shard thread): returns the manifest and the names of
    /// the segments whose data is not synced yet, which it marks synced. The caller must
    /// sync them before the snapshot counts, and set [`resync`](MmapStore::resync) if that
    /// fails: the next snapshot then lists every segment as unsynced again.
    pub(crate) fn snapshot_unsynced(
        &mut self,
        epoch: u64,
    ) -> Result<(SnapshotManifest, Vec<String>)> {
        self.check_epoch(epoch)?;
        if self.resync.swap(false, std::sync::atomic::Ordering::AcqRel) {
            self.segments
                .iter_mut()
                .flatten()
                .for_each(|s| s.synced = false);
        }
        self.seal_active()?;
        self.rolled = false;
        let unsynced = self
            .segments
            .iter_mut()
            .flatten()
            .filter(|s| !s.synced)
            .map(|s| {
                s.synced = true;
                s.name.clone()
            })
            .collect();
        Ok((self.list_segments(epoch)?, unsynced))
    }

    fn check_epoch(&self, epoch: u64) -> Result<()> {
        match self.last_epoch.filter(|&l| epoch <= l) {
            Some(last) => Err(SpateError::Config(format!(
                "snapshot epoch {epoch} is not after the previous one ({last})"
            ))),
            None => Ok(()),
        }
    }

    /// The manifest of every segment, in order; deletes the files compaction retired
    /// before the previous snapshot.
    fn list_segments(&mut self, epoch: u64) -> Result<SnapshotManifest> {
        let mut order: Vec<(u64, u32)> = self
            .segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s.seq, i as u32)))
            .collect();
        order.sort_unstable();
        let mut segments = Vec::with_capacity(order.len());
        for (_, i) in order {
            if let Some(Some(s)) = self.segments.get_mut(i as usize) {
                segments.push(SegmentFile {
                    name: s.name.clone(),
                    len: s.len as u64,
                    crc32: s.crc,
                    first_epoch: *s.first_epoch.get_or_insert(epoch),
                });
            }
        }
        for p in self.pending_delete.drain(..) {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(SpateError::io(&p, e))
                }
                _ => {}
            }
        }
        self.last_epoch = Some(epoch);
        Ok(SnapshotManifest {
            format: FORMAT_VERSION,
            epoch,
            max_parallelism: self.config.max_parallelism as u32,
            segments,
        })
    }

    /// Makes `dest` hold every segment `manifest` lists, hard-linking (or copying, across
    /// file systems) those it does not hold yet from the store's directory; returns how many
    /// were added. With one `dest` per job, that is exactly the new segments.
    pub fn export(&self, manifest: &SnapshotManifest, dest: &Path) -> Result<usize> {
        let added = self.export_unsynced(manifest, dest)?;
        if added > 0 {
            sync_dir(dest)?;
        }
        Ok(added)
    }

    /// [`export`](MmapStore::export) without syncing `dest` (the caller does, when it adds
    /// any link).
    pub(crate) fn export_unsynced(
        &self,
        manifest: &SnapshotManifest,
        dest: &Path,
    ) -> Result<usize> {
        std::fs::create_dir_all(dest).map_err(|e| SpateError::io(dest, e))?;
        let mut added = 0;
        for s in &manifest.segments {
            check_name(&self.config.dir, &s.name)?;
            let to = dest.join(&s.name);
            if to.exists() {
                continue;
            }
            link_or_copy(&self.config.dir.join(&s.name), &to)?;
            added += 1;
        }
        Ok(added)
    }

    /// Rebuilds a store from the snapshot `manifest` whose segments are in `from`: links
    /// them into `config.dir` (unless it is `from` itself: then the store reads them in
    /// place and never deletes them), checks every file's length and checksum, and scans
    /// every record (checksums, bounds) into the index. Restored values are validated with
    /// `rkyv::access` when typed handles read them.
    ///
    /// A truncated, torn or corrupted file gives [`SpateError::BadInput`] naming the file
    /// and the byte position.
    pub fn restore(
        config: MmapConfig,
        from: &Path,
        manifest: &SnapshotManifest,
    ) -> Result<MmapStore> {
        if manifest.format != FORMAT_VERSION {
            return Err(bad(
                from,
                "manifest".into(),
                format!(
                    "snapshot format {} is not supported (this build reads {FORMAT_VERSION})",
                    manifest.format
                ),
            ));
        }
        if manifest.max_parallelism as usize != config.max_parallelism {
            return Err(SpateError::Config(format!(
                "snapshot has max_parallelism {}, the job {}: key groups would not match",
                manifest.max_parallelism, config.max_parallelism
            )));
        }
        let mut store = MmapStore::open(config)?;
        let in_place = same_dir(from, &store.config.dir)?;
        for sf in &manifest.segments {
            check_name(from, &sf.name)?;
            if sf.len > u64::from(UNTRUSTED) {
                return Err(bad(
                    from,
                    "manifest".into(),
                    format!("segment {} is over the 2 GiB limit", sf.name),
                ));
            }
            let path = store.config.dir.join(&sf.name);
            if !in_place && !path.exists() {
                link_or_copy(&from.join(&sf.name), &path)?;
            }
            let seq = store.next_seq;
            let mut seg =
                Segment::open_sealed(path, sf.name.clone(), seq, sf.len, sf.crc32, !in_place)?;
            seg.first_epoch = Some(sf.first_epoch);
            store.next_seq += 1;
            let i = store.insert_segment(seg);
            store.scan(i)?;
        }
        store.last_epoch = Some(manifest.epoch);
        Ok(store)
    }

    /// Builds a store holding the key groups `groups` of several snapshots (one per old
    /// shard, read in place from their directories): rescaling N shards to M. The kept
    /// entries are copied into new segments.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::state::mmap::{MmapConfig, MmapStore};
    /// let (a, b, out) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    /// let mut left = MmapStore::open(MmapConfig::new(a.path()))?;
    /// left.put(1, b"x", b"from shard 0")?;
    /// left.put(70, b"y", b"from shard 0, other half")?;
    /// let m0 = left.snapshot(5)?;
    /// let mut right = MmapStore::open(MmapConfig::new(b.path()))?;
    /// right.put(100, b"z", b"from shard 1")?;
    /// let m1 = right.snapshot(5)?;
    ///
    /// let merged = MmapStore::restore_key_groups(
    ///     MmapConfig::new(out.path()),
    ///     &[(a.path(), &m0), (b.path(), &m1)],
    ///     64..=127,
    /// )?;
    /// assert_eq!(merged.len(), 2);
    /// assert!(merged.get(b"x").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore_key_groups(
        config: MmapConfig,
        sources: &[(&Path, &SnapshotManifest)],
        groups: RangeInclusive<u16>,
    ) -> Result<MmapStore> {
        let mut out = MmapStore::open(config.clone())?;
        for &(dir, manifest) in sources {
            let src_config = MmapConfig {
                dir: dir.to_path_buf(),
                ..config.clone()
            };
            let src = MmapStore::restore(src_config, dir, manifest)?;
            for e in src.iter_key_groups(groups.clone()) {
                out.put_inner(e.key_group, e.key, e.value, UNTRUSTED)?;
            }
        }
        Ok(out)
    }

    /// Replays segment `i`'s records into the index, validating each.
    fn scan(&mut self, i: u32) -> Result<()> {
        let mut key = std::mem::take(&mut self.scratch);
        let mut off = 0;
        let max_parallelism = self.config.max_parallelism;
        while let Some(seg) = self.seg(i).filter(|s| off < s.len) {
            let r = record::decode(seg.bytes(), off)
                .map_err(|e| bad(seg.path(), format!("byte {off}"), e.to_string()))?;
            if r.key_group as usize >= max_parallelism {
                return Err(bad(
                    seg.path(),
                    format!("byte {off}"),
                    format!(
                        "key group {} out of range 0..{max_parallelism}",
                        r.key_group
                    ),
                ));
            }
            let (kind, size) = (r.kind, r.size);
            key.clear();
            key.extend_from_slice(r.key);
            let hash = hash_bytes(&key);
            if kind == PUT {
                if let Some(Some(s)) = self.segments.get_mut(i as usize) {
                    s.live += size;
                }
                let slot = Slot {
                    hash,
                    seg: i,
                    off: off as u32 | UNTRUSTED,
                };
                self.set_slot(hash, &key, slot);
            } else {
                let segments = &self.segments;
                if let Ok(o) = self
                    .index
                    .find_entry(hash, |s| slot_key_eq(segments, s, hash, &key))
                {
                    let (old, _) = o.remove();
                    self.retire(&old);
                }
            }
            off += size;
        }
        self.scratch = key;
        Ok(())
    }
}
