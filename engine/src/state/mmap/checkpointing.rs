//! The mmap backend in checkpoints: binding a handle's store to its working directory when
//! the operator opens, incremental snapshots at the barrier, restore (also by key group on
//! another shard count).
//!
//! ```text
//! work:  <backend dir>/<run>/n3-s0/count-1a2b3c4d/*.seg      the store's own files
//! chk:   DIR/chk-0000000012/n3-s0.snap                         section spate/mmap/count:
//!                                                             its SnapshotManifest
//!        DIR/chk-0000000012/mmap-n3-s0/count-1a2b3c4d/*.seg   hard links, listed in the
//!                                                             checkpoint manifest with
//!                                                             their sizes and CRC-32
//! ```
//! Every checkpoint directory links every segment its snapshot lists, so deleting an old
//! checkpoint (retention) removes links only: a segment's bytes stay on disk while a
//! retained checkpoint links it. Sealed segments never change, so a checkpoint's new bytes
//! are the segments written since the previous one; the older ones cost a hard link each.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use super::{MmapConfig, MmapStore, SegmentFile, SnapshotManifest};
use crate::checkpoint::format::{SnapshotBuilder, StateWriter, FINAL_EPOCH};
use crate::checkpoint::manifest::FileEntry;
use crate::checkpoint::registry::RestoreView;
use crate::checkpoint::{DecodeError, StateData};

/// Prefix of the snapshot-file section that holds a file-backed handle's manifest.
pub(crate) const SECTION: &str = "spate/mmap/";

const NOT_BOUND: &str = "the mmap state handle is not bound: register it in the `state` \
                         of a KeyedProcessFunction or KeyedCoProcessFunction and choose \
                         `Env::state_backend(StateBackend::mmap(dir))`";

/// A file-backed state handle's store, as the checkpoint registry sees it (returned by
/// [`CheckpointedState::mmap_store`](crate::checkpoint::CheckpointedState::mmap_store)).
pub struct MmapSlot<'a> {
    pub(crate) store: &'a mut Option<MmapStore>,
    /// Checks the handle's value type can live in a segment (alignment).
    pub(crate) check: fn() -> crate::error::Result<()>,
    /// Whether the handle has a TTL (its values start with the last-touched time).
    pub(crate) ttl: bool,
}

/// Ends the sub-directory of a handle with TTL in a snapshot: a restore checks that the
/// handle it restores into reads values the same way.
const TTL_MARK: &str = ".ttl";

impl std::fmt::Debug for MmapSlot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapSlot")
            .field("bound", &self.store.is_some())
            .finish()
    }
}

/// Where one operator instance's file-backed handles keep their working files.
#[derive(Debug, Clone)]
pub(crate) struct BindCx {
    /// `<backend dir>/<run>/n<node>-s<shard>`; `None` with the heap backend.
    pub(crate) dir: Option<PathBuf>,
    pub(crate) segment_bytes: usize,
    pub(crate) max_parallelism: usize,
}

impl BindCx {
    /// The working directory of operator `node`'s instance on `shard` (`None` with the heap
    /// backend).
    pub(crate) fn for_instance(cfg: &crate::graph::JobConfig, node: usize, shard: usize) -> Self {
        BindCx {
            dir: cfg
                .state_dir
                .as_ref()
                .map(|(d, _)| d.join(format!("n{node}-s{shard}"))),
            segment_bytes: cfg.state_dir.as_ref().map_or(0, |(_, b)| *b),
            max_parallelism: cfg.max_parallelism,
        }
    }
}

/// Where file-backed state exports its segments at a barrier, and what it exported.
#[derive(Debug)]
pub(crate) struct FilesOut {
    /// The epoch's checkpoint directory.
    pub(crate) epoch_dir: PathBuf,
    /// Sub-directory of this operator instance: `mmap-n<node>-s<shard>`.
    pub(crate) rel: String,
    pub(crate) files: Exported,
}

/// The files file-backed state exported at a barrier, and what the checkpoint's writer
/// thread must make durable before the epoch is acknowledged (the shard thread does not
/// wait for `fsync`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Exported {
    /// `(where the file is now, its manifest entry relative to the epoch directory)`.
    pub(crate) files: Vec<(PathBuf, FileEntry)>,
    /// Segment files not synced yet (their links in the export directory: never deleted
    /// before the epoch completes), then directories that got new links.
    pub(crate) sync: Vec<PathBuf>,
    /// Set when syncing fails: the stores sync every segment again at their next snapshot.
    pub(crate) failed: Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Exported {
    /// The writer could not make the epoch durable: every store syncs all its segments at
    /// its next snapshot.
    pub(crate) fn mark_failed(&self) {
        for f in &self.failed {
            f.store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

/// A state name as a directory name: plain characters, plus a hash so that names that
/// differ only in other characters stay apart.
fn dir_name(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    format!("{plain}-{:08x}", crate::checkpoint::crc32(name.as_bytes()))
}

/// Opens an empty store for the handle under the operator instance's working directory
/// (unless the handle is bound already).
pub(crate) fn bind(slot: MmapSlot<'_>, cx: &BindCx, name: &str) -> Result<(), String> {
    (slot.check)().map_err(|e| e.to_string())?;
    if slot.store.is_some() {
        return Ok(());
    }
    let dir = cx.dir.as_ref().ok_or_else(|| {
        "an mmap state handle needs `Env::state_backend(StateBackend::mmap(dir))`".to_string()
    })?;
    let config = MmapConfig::new(dir.join(dir_name(name)))
        .segment_bytes(cx.segment_bytes)
        .max_parallelism(cx.max_parallelism);
    *slot.store = Some(MmapStore::open(config).map_err(|e| e.to_string())?);
    Ok(())
}

type Entry = (
    (u32, u32, String),
    (u32, u64, u32),
    Vec<(String, u64, u32, u64)>,
);

fn encode_entry(shard: u32, shards: u32, sub: &str, m: &SnapshotManifest, o: &mut Vec<u8>) {
    let segs: Vec<(String, u64, u32, u64)> = m
        .segments
        .iter()
        .map(|s| (s.name.clone(), s.len, s.crc32, s.first_epoch))
        .collect();
    let e: Entry = (
        (shard, shards, sub.to_string()),
        (m.format, m.epoch, m.max_parallelism),
        segs,
    );
    e.encode(o);
}

/// `(old shard, old shard count, sub-directory, manifest)`.
fn decode_entry(mut b: &[u8]) -> Result<(u32, u32, String, SnapshotManifest), DecodeError> {
    let ((shard, shards, sub), (format, epoch, max_parallelism), segs) = Entry::decode(&mut b)?;
    if !b.is_empty() {
        return Err(DecodeError("trailing bytes after an mmap manifest".into()));
    }
    let segments = segs
        .into_iter()
        .map(|(name, len, crc32, first_epoch)| SegmentFile {
            name,
            len,
            crc32,
            first_epoch,
        })
        .collect();
    let m = SnapshotManifest {
        format,
        epoch,
        max_parallelism,
        segments,
    };
    Ok((shard, shards, sub, m))
}

/// Seals and syncs the segments written since the last barrier, links every listed segment
/// into the epoch's directory, and records the manifest as the handle's section.
pub(crate) fn snapshot(
    slot: MmapSlot<'_>,
    b: &mut SnapshotBuilder,
    name: &str,
) -> Result<(), String> {
    let store = slot.store.as_mut().ok_or(NOT_BOUND)?;
    let (epoch, shard, shards) = (b.header.epoch, b.header.shard, b.header.shards);
    let out = b
        .files
        .as_mut()
        .ok_or("mmap state can only be snapshotted into a checkpoint directory")?;
    let (m, unsynced) = store.snapshot_unsynced(epoch).map_err(|e| e.to_string())?;
    let mark = if slot.ttl { TTL_MARK } else { "" };
    let sub = format!("{}/{}{mark}", out.rel, dir_name(name));
    // The final snapshot (the input ended) stands in for later epochs whose directories
    // do not exist yet: its files wait next to the store and are linked when written.
    let export = if epoch == FINAL_EPOCH {
        store.dir().with_extension("final")
    } else {
        out.epoch_dir.join(&sub)
    };
    let added = store
        .export_unsynced(&m, &export)
        .map_err(|e| e.to_string())?;
    let out = &mut out.files;
    out.sync.extend(unsynced.iter().map(|n| export.join(n)));
    if added > 0 {
        out.sync.push(export.clone());
    }
    out.failed.push(store.resync.clone());
    for s in &m.segments {
        out.files.push((
            export.join(&s.name),
            FileEntry {
                name: format!("{sub}/{}", s.name),
                size: s.len,
                crc: s.crc32,
            },
        ));
    }
    let mut w = StateWriter::new(b.max_parallelism());
    w.entry(0, |o| encode_entry(shard, shards, &sub, &m, o));
    b.add(&format!("{SECTION}{name}"), w);
    Ok(())
}

/// The key groups `shard` of `shards` owns (a contiguous range; empty when none).
fn groups_of(shard: usize, shards: usize, max_parallelism: usize) -> RangeInclusive<u16> {
    let mine = (0..max_parallelism)
        .filter(|&g| crate::state::shard_for_key_group(g, max_parallelism, shards) == shard);
    let (lo, hi) = mine.fold((usize::MAX, 0), |(lo, hi), g| (lo.min(g), hi.max(g)));
    if lo == usize::MAX {
        let (one, zero) = (1, 0);
        one..=zero // empty
    } else {
        lo as u16..=hi as u16
    }
}

/// Replaces the handle's (bound, empty) store by the checkpoint's: the same shard's
/// snapshot when the shard count is unchanged, else the key groups this shard owns from
/// every old shard's snapshot.
pub(crate) fn restore(slot: MmapSlot<'_>, v: &RestoreView, name: &str) -> Result<(), String> {
    let config = slot.store.take().ok_or(NOT_BOUND)?.config().clone();
    let err = |e: crate::error::SpateError| e.to_string();
    let Some(entries) = v.mmap.get(name) else {
        *slot.store = Some(MmapStore::open(config).map_err(err)?);
        return Ok(());
    };
    let decoded = entries
        .iter()
        .map(|e| decode_entry(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    for (_, _, sub, _) in &decoded {
        if sub
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(format!("bad mmap directory {sub:?} in the checkpoint"));
        }
        if sub.ends_with(TTL_MARK) != slot.ttl {
            let (saved, now) = if slot.ttl {
                ("without", "with")
            } else {
                ("with", "without")
            };
            return Err(format!(
                "it was saved {saved} a TTL and is registered {now} one (values are laid out \
                 differently)"
            ));
        }
    }
    let same = decoded.iter().all(|d| d.1 as usize == v.shards);
    let store = match decoded.iter().find(|d| d.0 as usize == v.shard) {
        Some((_, _, sub, m)) if same => MmapStore::restore(config, &v.dir.join(sub), m),
        _ => {
            let dirs: Vec<PathBuf> = decoded.iter().map(|d| v.dir.join(&d.2)).collect();
            let sources: Vec<(&Path, &SnapshotManifest)> = dirs
                .iter()
                .zip(&decoded)
                .map(|(d, e)| (d.as_path(), &e.3))
                .collect();
            let groups = groups_of(v.shard, v.shards, v.max_parallelism);
            MmapStore::restore_key_groups(config, &sources, groups)
        }
    };
    let mut store = store.map_err(err)?;
    if store.last_epoch == Some(FINAL_EPOCH) {
        // Restored from the checkpoint taken when the job ended: its final snapshot may be
        // taken again.
        store.last_epoch = None;
    }
    *slot.store = Some(store);
    Ok(())
}

/// Syncs what the barrier left unsynced, blocking (the coordinator's final checkpoint; the
/// shards' writers sync through io_uring instead), marking the stores on failure.
pub(crate) fn sync_blocking(exported: &Exported) -> crate::error::Result<()> {
    for p in &exported.sync {
        let r = std::fs::File::open(p).and_then(|f| f.sync_all());
        if let Err(e) = r {
            exported.mark_failed();
            return Err(crate::error::SpateError::io(p, e));
        }
    }
    Ok(())
}

/// Links the files a snapshot exported (synced before) into the directory of the epoch it
/// stands in for (a no-op for files already there), returning their manifest entries.
pub(crate) fn link_into(dir: &Path, exported: &Exported) -> crate::error::Result<Vec<FileEntry>> {
    use crate::error::SpateError;
    let files = &exported.files;
    let mut synced: Vec<PathBuf> = Vec::new();
    for (src, entry) in files {
        let dst = dir.join(&entry.name);
        if dst.exists() {
            continue;
        }
        let parent = dst.parent().unwrap_or(dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| SpateError::io(&parent, e))?;
        if std::fs::hard_link(src, &dst).is_err() {
            std::fs::copy(src, &dst).map_err(|e| SpateError::io(src, e))?;
        }
        if !synced.contains(&parent) {
            synced.push(parent);
        }
    }
    for d in synced {
        crate::checkpoint::store::sync_dir(&d)?;
    }
    Ok(files.iter().map(|(_, e)| e.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ranges_cover_every_group_once() {
        for shards in 1..=5 {
            let mut all: Vec<u16> = (0..shards)
                .flat_map(|s| groups_of(s, shards, 128))
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..128).collect::<Vec<u16>>(), "{shards} shards");
        }
    }

    #[test]
    fn names_become_plain_distinct_directories() {
        assert_ne!(dir_name("a/b"), dir_name("a b"));
        assert!(!dir_name("../x y").contains(['/', ' ', '.']));
    }
}
