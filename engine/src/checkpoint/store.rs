//! The checkpoint directory: one sub-directory per epoch, the manifest committed last by an
//! atomic rename, verification, choosing the checkpoint to restore, and retention.
//!
//! ```text
//! DIR/chk-0000000012/n3-s0.snap     snapshot of operator 3 on shard 0
//! DIR/chk-0000000012/_manifest      present only once epoch 12 is complete
//! ```
//! Snapshot files are written by the shards (writer threads, see `runtime/`); the manifest
//! by the coordinator with `std::fs` from its own thread: write `_manifest.tmp`, fsync,
//! rename to `_manifest`, fsync the directory. A crash at any point leaves either no
//! manifest (the epoch never happened) or a complete one.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::crc::crc32;
use super::format::{parse, SnapshotFile};
use super::manifest::{Manifest, SourceEntry};
use super::protocol::{choose_restore, to_delete};
use crate::error::{Result, SpateError};

pub(crate) const MANIFEST: &str = "_manifest";

/// A checkpoint directory.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointStore {
    dir: PathBuf,
}

/// A verified checkpoint, loaded: its manifest and every snapshot file, parsed.
#[derive(Debug)]
pub(crate) struct Restored {
    pub(crate) manifest: Manifest,
    /// Parsed snapshot files by operator id.
    pub(crate) files: HashMap<u32, Vec<SnapshotFile>>,
    /// Parsed files of incremental snapshots' chains (`checkpoint/chain.rs`), by their name
    /// in the manifest: read once, whatever the number of shards that restore from them.
    pub(crate) parts: HashMap<String, SnapshotFile>,
    /// The checkpoint's directory (file-backed state restores its segments from it).
    pub(crate) dir: PathBuf,
}

impl Restored {
    /// The splits recorded for source `node`: their count and `(split, offset)` of each;
    /// `None` when the checkpoint has none for it (a source added since).
    pub(crate) fn source_splits(&self, node: usize) -> Option<(usize, Vec<(usize, u64)>)> {
        let mine: Vec<&SourceEntry> = self
            .manifest
            .sources
            .iter()
            .filter(|e| e.node == node)
            .collect();
        let first = mine.first()?;
        Some((
            first.splits,
            mine.iter().map(|e| (e.split, e.offset)).collect(),
        ))
    }

    /// Re-keys the checkpoint's state from the node positions of the job that wrote it to
    /// those of the job restoring it, matching operators by stable id (`new`: `(node, uid)`
    /// of every operator of the new job). State of an id the new job lacks is an error
    /// unless `allow_non_restored_state`, then it is dropped; a new operator without state
    /// in the checkpoint starts empty.
    pub(crate) fn rebind(
        &mut self,
        new: &[(usize, String)],
        allow_non_restored_state: bool,
    ) -> std::result::Result<(), String> {
        let mut map: HashMap<usize, usize> = HashMap::new();
        let mut unmatched = Vec::new();
        for o in &self.manifest.operators {
            let has_state = self.files.contains_key(&(o.node as u32))
                || self.manifest.sources.iter().any(|s| s.node == o.node);
            match new.iter().find(|(_, uid)| *uid == o.uid) {
                Some((n, _)) => {
                    map.insert(o.node, *n);
                }
                None if has_state => unmatched.push(format!("'{}' ({})", o.uid, o.name)),
                None => {}
            }
        }
        if !unmatched.is_empty() && !allow_non_restored_state {
            return Err(format!(
                "it holds state of operators the job no longer has: {} (give the operators \
                 their ids with DataStream::uid, or set allow_non_restored_state to drop that \
                 state)",
                unmatched.join(", ")
            ));
        }
        if !unmatched.is_empty() {
            tracing::warn!(operators = %unmatched.join(", "), "state not restored (allow_non_restored_state)");
        }
        let files = std::mem::take(&mut self.files);
        self.files = files
            .into_iter()
            .filter_map(|(op, v)| map.get(&(op as usize)).map(|n| (*n as u32, v)))
            .collect();
        self.manifest.sources = std::mem::take(&mut self.manifest.sources)
            .into_iter()
            .filter_map(|mut e| {
                e.node = *map.get(&e.node)?;
                Some(e)
            })
            .collect();
        for o in &mut self.manifest.operators {
            if let Some(n) = map.get(&o.node) {
                o.node = *n;
            }
        }
        Ok(())
    }
}

/// The snapshot file name of operator `node` on `shard`.
pub(crate) fn snapshot_name(node: usize, shard: usize) -> String {
    format!("n{node}-s{shard}.snap")
}

impl CheckpointStore {
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        CheckpointStore { dir: dir.into() }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of `epoch`.
    pub(crate) fn epoch_dir(&self, epoch: u64) -> PathBuf {
        self.dir.join(format!("chk-{epoch:010}"))
    }

    /// Creates the directory of `epoch`.
    pub(crate) fn create_epoch_dir(&self, epoch: u64) -> Result<PathBuf> {
        let d = self.epoch_dir(epoch);
        fs::create_dir_all(&d).map_err(|e| SpateError::io(&d, e))?;
        Ok(d)
    }

    /// Every epoch that has a directory, with whether its manifest exists.
    pub(crate) fn epochs(&self) -> Vec<(u64, bool)> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<(u64, bool)> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name();
                let epoch = name.to_str()?.strip_prefix("chk-")?.parse::<u64>().ok()?;
                Some((epoch, e.path().join(MANIFEST).is_file()))
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// Commits `m`: written to a temporary name, synced, renamed into place, directory synced.
    pub(crate) fn write_manifest(&self, m: &Manifest) -> Result<()> {
        let d = self.create_epoch_dir(m.epoch)?;
        write_manifest_in(&d, m)
    }

    /// Checks that `epoch`'s manifest and every snapshot file it lists are intact.
    pub(crate) fn verify(&self, epoch: u64) -> std::result::Result<Manifest, String> {
        verify_dir(&self.epoch_dir(epoch), Some(epoch))
    }

    /// The newest checkpoint that verifies; newer ones that do not are logged and skipped.
    pub(crate) fn latest(&self) -> Option<u64> {
        let candidates = self
            .epochs()
            .into_iter()
            .filter(|(_, has_manifest)| *has_manifest)
            .map(|(e, _)| (e, self.verify(e).map(|_| ())))
            .collect();
        choose_restore(candidates, |epoch, why| {
            tracing::warn!(epoch, reason = why, "skipping a corrupt checkpoint");
        })
    }

    /// Loads `epoch` for restoring: verifies it, then parses every snapshot file.
    pub(crate) fn load(&self, epoch: u64) -> Result<Restored> {
        load_dir(&self.epoch_dir(epoch), Some(epoch))
    }
    /// Deletes complete checkpoints beyond the newest `keep`, and incomplete epochs older
    /// than the newest complete one (abandoned attempts).
    pub(crate) fn retain(&self, keep: usize) {
        let all = self.epochs();
        let complete: Vec<u64> = all.iter().filter(|e| e.1).map(|e| e.0).collect();
        let newest = complete.last().copied().unwrap_or(0);
        let mut doomed = to_delete(&complete, keep);
        doomed.extend(all.iter().filter(|e| !e.1 && e.0 < newest).map(|e| e.0));
        for e in doomed {
            if let Err(err) = fs::remove_dir_all(self.epoch_dir(e)) {
                tracing::warn!(epoch = e, error = %err, "cannot delete an old checkpoint");
            }
        }
    }
}

/// Checks that the manifest of directory `d` and every snapshot file it lists are intact;
/// `epoch`: the epoch the directory's name says (a checkpoint), `None` for a savepoint.
pub(crate) fn verify_dir(d: &Path, epoch: Option<u64>) -> std::result::Result<Manifest, String> {
    let bytes = fs::read(d.join(MANIFEST)).map_err(|e| format!("manifest unreadable: {e}"))?;
    let m = Manifest::parse(&bytes)?;
    if let Some(epoch) = epoch.filter(|e| *e != m.epoch) {
        return Err(format!(
            "manifest says epoch {} in the directory of {epoch}",
            m.epoch
        ));
    }
    for f in &m.files {
        let b = fs::read(d.join(&f.name)).map_err(|e| format!("{}: unreadable: {e}", f.name))?;
        if b.len() as u64 != f.size {
            return Err(format!(
                "{}: {} bytes, the manifest says {}",
                f.name,
                b.len(),
                f.size
            ));
        }
        if crc32(&b) != f.crc {
            return Err(format!("{}: checksum differs from the manifest's", f.name));
        }
    }
    Ok(m)
}

/// Loads the checkpoint or savepoint in `d` for restoring: verifies it, then parses every
/// snapshot file.
pub(crate) fn load_dir(d: &Path, epoch: Option<u64>) -> Result<Restored> {
    let bad =
        |why: String| SpateError::Config(format!("{} cannot be restored: {why}", d.display()));
    let manifest = verify_dir(d, epoch).map_err(bad)?;
    let epoch = manifest.epoch;
    let mut files: HashMap<u32, Vec<SnapshotFile>> = HashMap::new();
    let mut parts: HashMap<String, SnapshotFile> = HashMap::new();
    for f in manifest.files.iter().filter(|f| f.name.ends_with(".part")) {
        let b = fs::read(d.join(&f.name)).map_err(|e| SpateError::io(d.join(&f.name), e))?;
        let s = parse(&b).map_err(|e| bad(format!("{}: {e}", f.name)))?;
        parts.insert(f.name.clone(), s);
    }
    // Only snapshot files are parsed; other listed files (mmap segments, under a
    // sub-directory) were verified above and are read by their state handles.
    for f in manifest.files.iter().filter(|f| f.name.ends_with(".snap")) {
        let b = fs::read(d.join(&f.name)).map_err(|e| SpateError::io(d.join(&f.name), e))?;
        let s = parse(&b).map_err(|e| bad(format!("{}: {e}", f.name)))?;
        if s.header.epoch != epoch && s.header.epoch != super::format::FINAL_EPOCH {
            return Err(bad(format!(
                "{} belongs to epoch {}",
                f.name, s.header.epoch
            )));
        }
        files.entry(s.header.operator).or_default().push(s);
    }
    Ok(Restored {
        manifest,
        files,
        parts,
        dir: d.to_path_buf(),
    })
}

/// Commits `m` in directory `d`: written to a temporary name, synced, renamed into place,
/// directory synced.
pub(crate) fn write_manifest_in(d: &Path, m: &Manifest) -> Result<()> {
    let d = d.to_path_buf();
    let tmp = d.join("_manifest.tmp");
    let fin = d.join(MANIFEST);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| SpateError::io(p, e)
    };
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(m.render().as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, &fin).map_err(io(&fin))?;
    sync_dir(&d)?;
    Ok(())
}

/// Makes a directory's entries (a rename) durable.
pub(crate) fn sync_dir(d: &Path) -> Result<()> {
    fs::File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| SpateError::io(d, e))
}

#[cfg(test)]
mod tests {
    use super::super::format::{SnapshotBuilder, SnapshotHeader, StateWriter};
    use super::super::manifest::FileEntry;
    use super::*;
    use crate::checkpoint::StateData;

    fn write_checkpoint(store: &CheckpointStore, epoch: u64, value: u64) {
        let d = store.create_epoch_dir(epoch).unwrap();
        let mut b = SnapshotBuilder::new(SnapshotHeader {
            epoch,
            operator: 1,
            shard: 0,
            shards: 1,
            max_parallelism: 4,
        });
        let mut w = StateWriter::new(4);
        w.entry(value, |o| value.encode(o));
        b.add("v", w);
        let bytes = b.finish();
        let name = snapshot_name(1, 0);
        fs::write(d.join(&name), &bytes).unwrap();
        store
            .write_manifest(&Manifest {
                epoch,
                shards: 1,
                max_parallelism: 4,
                files: vec![FileEntry {
                    name,
                    size: bytes.len() as u64,
                    crc: crc32(&bytes),
                }],
                ..Default::default()
            })
            .unwrap();
    }

    fn value_of(r: &Restored) -> u64 {
        let e = &r.files[&1][0].sections[0].1[0].1;
        u64::decode(&mut &e[..]).unwrap()
    }

    #[test]
    fn newest_valid_is_restored_and_retention_keeps_k() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(tmp.path());
        for e in 1..=4 {
            write_checkpoint(&store, e, e * 10);
        }
        store.create_epoch_dir(5).unwrap(); // in flight: no manifest
        assert_eq!(store.latest(), Some(4));
        assert_eq!(value_of(&store.load(4).unwrap()), 40);
        store.retain(2);
        assert_eq!(store.epochs(), vec![(3, true), (4, true), (5, false)]);
    }

    /// Corrupts one file of the newest checkpoint in each byte class; the previous one is
    /// chosen each time.
    #[test]
    fn a_corrupt_newest_checkpoint_falls_back_to_the_previous() {
        type Damage = fn(&mut Vec<u8>);
        let cases: Vec<(&str, &str, Damage)> = vec![
            ("snapshot truncated", "n1-s0.snap", |b| {
                b.truncate(b.len() / 2)
            }),
            ("snapshot header", "n1-s0.snap", |b| b[9] ^= 1),
            ("snapshot body", "n1-s0.snap", |b| {
                let i = b.len() - 6;
                b[i] ^= 0x80
            }),
            ("snapshot checksum", "n1-s0.snap", |b| {
                let i = b.len() - 1;
                b[i] ^= 0xff
            }),
            ("manifest byte", MANIFEST, |b| b[20] ^= 2),
            ("manifest truncated", MANIFEST, |b| b.truncate(b.len() - 3)),
            ("manifest emptied", MANIFEST, |b| b.clear()),
        ];
        for (what, file, damage) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let store = CheckpointStore::new(tmp.path());
            write_checkpoint(&store, 1, 10);
            write_checkpoint(&store, 2, 20);
            let p = store.epoch_dir(2).join(file);
            let mut b = fs::read(&p).unwrap();
            damage(&mut b);
            fs::write(&p, &b).unwrap();
            assert!(store.verify(2).is_err(), "{what}: detected");
            assert_eq!(
                store.latest(),
                Some(1),
                "{what}: previous checkpoint chosen"
            );
            assert_eq!(value_of(&store.load(1).unwrap()), 10);
            assert!(store.load(2).is_err(), "{what}: loading it directly fails");
        }
    }

    #[test]
    fn a_missing_snapshot_file_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(tmp.path());
        write_checkpoint(&store, 1, 10);
        fs::remove_file(store.epoch_dir(1).join("n1-s0.snap")).unwrap();
        assert_eq!(store.latest(), None);
    }
}
