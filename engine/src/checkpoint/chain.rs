//! Incremental snapshots by chains of snapshot files (`docs/checkpoints.md`, "Incremental
//! snapshots").
//!
//! An operator instance whose state changes only in part between two checkpoints (the
//! sliced window operator: a key's newest slices) may write into its snapshot file only
//! what changed since its previous snapshot: a delta. The checkpoint must then also hold
//! the files the delta builds on: the instance's last full snapshot (the base) and the
//! deltas after it. They are hard-linked into the epoch's directory, as the mmap backend
//! links its segments, listed in the manifest with their sizes and checksums (so they are
//! verified like every other file), and named, oldest first, by the chain section of the
//! epoch's snapshot file:
//!
//! ```text
//! DIR/chk-0000000014/n3-s0.snap                    delta of 14; section spate/chain:
//!                                                  [chain-n3-s0/0000000012.part, ...13.part]
//! DIR/chk-0000000014/chain-n3-s0/0000000012.part   the base: the snapshot file of epoch 12
//! DIR/chk-0000000014/chain-n3-s0/0000000013.part   the delta of epoch 13
//! ```
//!
//! Retention deletes directories, so links: a file's bytes stay while a retained checkpoint
//! links it. A restore reads the chain's files (on any shard count: entries carry their key
//! groups) and hands them to the operator oldest first, before the epoch's own file
//! ([`RestoreView::layers`](super::registry::RestoreView)).
//!
//! A snapshot is a delta only when every file it builds on is durable and stays linked
//! ([`may_delta`]): the instance's previous snapshot, of the epoch just before, belongs to
//! a complete checkpoint. Otherwise it is full (and starts a new chain): the instance's
//! first snapshot (so also after a restore or a restart), after a declined or failed
//! checkpoint, after `max_deltas` deltas in a row, a savepoint's and the final snapshot
//! (both self-contained), and when a link cannot be made.

use std::path::{Path, PathBuf};

use super::format::{SnapshotBuilder, StateWriter, FINAL_EPOCH};
use super::manifest::FileEntry;
use super::store::{snapshot_name, CheckpointStore};
use super::StateData;

/// The section that lists a delta's chain: one entry, the files' names relative to the
/// epoch's directory, oldest first. Read unfiltered, whatever the key groups.
pub(crate) const CHAIN: &str = "spate/chain";

/// What a shard's checkpoints tell a chain at a barrier (set on the snapshot builder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainCx {
    /// Deltas in a row at most before a full snapshot (0: every snapshot is full).
    pub(crate) max_deltas: usize,
    /// The newest epoch whose checkpoint is complete (0: none).
    pub(crate) last_complete: u64,
    /// The epoch is a savepoint's.
    pub(crate) savepoint: bool,
}

/// A file of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    epoch: u64,
    size: u64,
    crc: u32,
}

/// The chain of one operator instance: the files its next delta builds on.
#[derive(Debug, Default)]
pub(crate) struct SnapshotChain {
    /// The base and the deltas after it, oldest first, without the last snapshot's file.
    links: Vec<Link>,
    /// The epoch of the instance's last snapshot (its file joins the chain at the next
    /// barrier, if that one is a delta).
    last: Option<u64>,
}

/// Whether the snapshot of `epoch` may be a delta (pure): the instance's last snapshot, of
/// epoch `last` (an earlier one: the instance snapshots at every barrier it sees, so no
/// change since is unrecorded), belongs to the newest complete checkpoint, the chain holds
/// `links` files before it (fewer than `max_deltas`), and the snapshot is neither a
/// savepoint's nor the final one.
pub(crate) fn may_delta(cx: Option<&ChainCx>, epoch: u64, last: Option<u64>, links: usize) -> bool {
    let (Some(cx), Some(last)) = (cx, last) else {
        return false;
    };
    cx.max_deltas > 0
        && links < cx.max_deltas
        && !cx.savepoint
        && epoch != FINAL_EPOCH
        && last != FINAL_EPOCH
        && last < epoch
        && cx.last_complete == last
}

impl SnapshotChain {
    /// At the barrier of `b`'s epoch: `true` when the snapshot is to be a delta over the
    /// chain, whose files are then linked into the epoch's directory and listed in `b`
    /// (its chain section, its files for the manifest); `false` for a full snapshot, which
    /// starts a new chain.
    pub(crate) fn begin(&mut self, b: &mut SnapshotBuilder) -> bool {
        let epoch = b.header.epoch;
        let delta = may_delta(b.chain.as_ref(), epoch, self.last, self.links.len())
            && match self.link(b) {
                Ok(()) => true,
                Err(why) => {
                    tracing::warn!(epoch, reason = %why, "full snapshot instead of a delta");
                    false
                }
            };
        if !delta {
            self.links.clear();
        }
        self.last = Some(epoch);
        delta
    }

    /// Links the chain, with the last snapshot's file, into `b`'s epoch directory.
    fn link(&mut self, b: &mut SnapshotBuilder) -> Result<(), String> {
        let last = self.last.ok_or("no snapshot before")?;
        let (node, shard) = (b.header.operator as usize, b.header.shard as usize);
        let max_parallelism = b.max_parallelism();
        let out = b
            .files
            .as_mut()
            .ok_or("the snapshot has no checkpoint directory")?;
        let root = out
            .epoch_dir
            .parent()
            .ok_or("the epoch directory has no parent")?;
        let prev_dir = CheckpointStore::new(root).epoch_dir(last);
        let own = prev_dir.join(snapshot_name(node, shard));
        let (size, crc) = size_and_crc(&own)?;
        let mut links = self.links.clone();
        links.push(Link {
            epoch: last,
            size,
            crc,
        });
        let rel = format!("chain-n{node}-s{shard}");
        let dir = out.epoch_dir.join(&rel);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut names = Vec::with_capacity(links.len());
        let mut listed = Vec::with_capacity(links.len());
        for l in &links {
            let name = format!("{rel}/{:010}.part", l.epoch);
            let src = if l.epoch == last {
                own.clone()
            } else {
                prev_dir.join(&name)
            };
            let dst = out.epoch_dir.join(&name);
            let _ = std::fs::remove_file(&dst); // left by an earlier attempt
            if let Err(e) = std::fs::hard_link(&src, &dst) {
                // Nothing listed: the full snapshot taken instead names no link.
                for (made, _) in &listed {
                    let _ = std::fs::remove_file(made);
                }
                return Err(format!("linking {}: {e}", src.display()));
            }
            listed.push((
                dst,
                FileEntry {
                    name: name.clone(),
                    size: l.size,
                    crc: l.crc,
                },
            ));
            names.push(name);
        }
        out.files.files.extend(listed);
        out.files.sync.push(dir);
        let mut w = StateWriter::new(max_parallelism);
        w.entry(0, |o| names.encode(o));
        b.add(CHAIN, w);
        self.links = links;
        Ok(())
    }
}

/// The size of a snapshot file and its CRC-32 (what the manifest records), from its length
/// and its trailer rather than reading it all.
fn size_and_crc(path: &Path) -> Result<(u64, u32), String> {
    use std::os::unix::fs::FileExt;
    let bad = |e: std::io::Error| format!("{}: {e}", path.display());
    let f = std::fs::File::open(path).map_err(bad)?;
    let size = f.metadata().map_err(bad)?.len();
    if size < 8 {
        return Err(format!("{}: {size} bytes", path.display()));
    }
    let mut t = [0u8; 4];
    f.read_exact_at(&mut t, size - 4).map_err(bad)?;
    Ok((size, super::format::crc_from_trailer(t, size - 4)))
}

/// The files a delta's chain section names, checked to stay inside the checkpoint's
/// directory.
pub(crate) fn decode_names(mut bytes: &[u8]) -> Result<Vec<PathBuf>, String> {
    let names = Vec::<String>::decode(&mut bytes).map_err(|e| format!("chain section: {e}"))?;
    if !bytes.is_empty() {
        return Err("chain section: trailing bytes".into());
    }
    names
        .into_iter()
        .map(|n| {
            let p = PathBuf::from(&n);
            let plain = p
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if plain && !n.is_empty() {
                Ok(p)
            } else {
                Err(format!("chain section: bad file name {n:?}"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
