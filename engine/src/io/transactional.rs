//! The exactly-once file sink (two-phase commit, as Flink's `FileSink`): each shard writes
//! the records of an epoch to an in-progress file under `DIR/.staging/`; at barrier `e` the
//! file is synced and renamed to a staged name tagged `e` (pre-commit); once checkpoint `e`
//! is complete the coordinator renames every staged file tagged `≤ e` into `DIR` (commit).
//! On recovery from checkpoint `c`, staged files tagged `≤ c` are published and the rest,
//! with any in-progress file, deleted: their records are replayed from `c`'s offsets.
//!
//! ```text
//! DIR/.staging/open-s1.tmp                 records since the last barrier (shard 1)
//! DIR/.staging/e00000000000000000012-s1    closed by barrier 12, waiting for checkpoint 12
//! DIR/part-00000000000000000012-s1.txt     published: checkpoint 12 completed
//! DIR/part-final-s1.txt                    the records after the last barrier (job ended)
//! ```
//! Without checkpoints, output goes to the in-progress file and is published when the
//! input ends.

use std::fmt::Display;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use crate::error::{Result, SpateError};
use crate::operators::unary::{Unary, UnaryCx};
use crate::operators::Batch;

const STAGING: &str = ".staging";

fn staged_name(tag: u64, shard: usize) -> String {
    format!("e{tag:020}-s{shard}")
}

fn published_name(tag: u64, shard: usize) -> String {
    if tag == u64::MAX {
        format!("part-final-s{shard}.txt")
    } else {
        format!("part-{tag:020}-s{shard}.txt")
    }
}

/// `(tag, shard)` of a staged file name.
fn parse_staged(name: &str) -> Option<(u64, usize)> {
    let (tag, shard) = name.strip_prefix('e')?.split_once("-s")?;
    Some((tag.parse().ok()?, shard.parse().ok()?))
}

fn io_err(p: &Path) -> impl FnOnce(std::io::Error) -> SpateError + '_ {
    move |e| SpateError::io(p, e)
}

/// Publishes every staged file of `dir` tagged `≤ up_to` (commit of a checkpoint).
pub(crate) fn publish_staged(dir: &Path, up_to: u64) -> Result<()> {
    let staging = dir.join(STAGING);
    let Ok(rd) = fs::read_dir(&staging) else {
        return Ok(());
    };
    let mut any = false;
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some((tag, shard)) = name.to_str().and_then(parse_staged) else {
            continue;
        };
        if tag <= up_to {
            let to = dir.join(published_name(tag, shard));
            fs::rename(e.path(), &to).map_err(io_err(&to))?;
            any = true;
        }
    }
    if any {
        crate::checkpoint::store::sync_dir(dir)?;
    }
    Ok(())
}

/// Recovery of `dir` before a job starts: publishes what checkpoint `committed` covered
/// (everything when it was the final one), deletes every other staged or in-progress file.
pub(crate) fn recover_staged(dir: &Path, committed: Option<u64>) -> Result<()> {
    let staging = dir.join(STAGING);
    fs::create_dir_all(&staging).map_err(io_err(&staging))?;
    if let Some(c) = committed {
        publish_staged(dir, c)?;
    }
    for e in fs::read_dir(&staging)
        .map_err(io_err(&staging))?
        .filter_map(|e| e.ok())
    {
        let p = e.path();
        fs::remove_file(&p).map_err(io_err(&p))?;
    }
    Ok(())
}

/// A job that starts without a checkpoint to resume from must not publish over output
/// already in its directory: a final part (`part-final-*`), or an epoch's part numbered
/// from `first_epoch` on (a new checkpoint directory numbers its epochs from 1 again).
/// Output of earlier epochs stays; the job adds its own beside it.
fn refuse_published(dir: &Path, first_epoch: Option<u64>) -> Result<()> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(());
    };
    let collides = |n: &str| {
        let Some(tag) = n.strip_prefix("part-").and_then(|n| n.split_once("-s")) else {
            return false;
        };
        match (tag.0, first_epoch) {
            ("final", _) => true,
            (t, Some(first)) => t.parse::<u64>().is_ok_and(|t| t >= first),
            (_, None) => false,
        }
    };
    let published = rd
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_str().is_some_and(collides));
    match published {
        Some(e) => Err(SpateError::Config(format!(
            "exactly-once sink directory {} already holds published output ({}) that this \
             job, which does not resume from the checkpoint that wrote it, would overwrite: \
             use an empty directory, remove it, or restore that checkpoint",
            dir.display(),
            e.path().display()
        ))),
        None => Ok(()),
    }
}

/// The operator behind
/// [`DataStream::write_lines_exactly_once`](crate::DataStream::write_lines_exactly_once).
pub(crate) struct TxnLinesSink<T> {
    dir: PathBuf,
    checkpointing: bool,
    open: Option<BufWriter<File>>,
    line: String,
    _t: PhantomData<fn(T)>,
}

impl<T> Clone for TxnLinesSink<T> {
    fn clone(&self) -> Self {
        TxnLinesSink {
            dir: self.dir.clone(),
            checkpointing: self.checkpointing,
            open: None,
            line: String::new(),
            _t: PhantomData,
        }
    }
}

impl<T> TxnLinesSink<T> {
    pub(crate) fn new(dir: &Path) -> Self {
        TxnLinesSink {
            dir: dir.to_path_buf(),
            checkpointing: false,
            open: None,
            line: String::new(),
            _t: PhantomData,
        }
    }

    fn open_path(&self, shard: usize) -> PathBuf {
        self.dir.join(STAGING).join(format!("open-s{shard}.tmp"))
    }

    /// Syncs and closes the in-progress file and renames it to `to`.
    fn close_into(&mut self, shard: usize, to: &Path) -> Result<()> {
        let Some(w) = self.open.take() else {
            return Ok(());
        };
        let from = self.open_path(shard);
        let f = w
            .into_inner()
            .map_err(|e| SpateError::io(&from, e.into_error()))?;
        f.sync_all().map_err(io_err(&from))?;
        drop(f);
        fs::rename(&from, to).map_err(io_err(to))
    }
}

impl<T: Display + Clone + 'static> Unary for TxnLinesSink<T> {
    type In = T;
    type Out = ();

    fn prepare(&mut self, cfg: &crate::graph::JobConfig) -> Result<()> {
        let staging = self.dir.join(STAGING);
        fs::create_dir_all(&staging).map_err(io_err(&staging))?;
        match &cfg.checkpoint {
            Some(shared) => {
                self.checkpointing = true;
                let committed = shared.restored.as_ref().map(|r| {
                    if r.manifest.finished {
                        u64::MAX
                    } else {
                        r.manifest.epoch
                    }
                });
                if committed.is_none() {
                    let first = shared
                        .first_epoch
                        .load(std::sync::atomic::Ordering::Acquire);
                    refuse_published(&self.dir, Some(first))?;
                }
                recover_staged(&self.dir, committed)?;
                if let Ok(mut d) = shared.sink_dirs.lock() {
                    if !d.contains(&self.dir) {
                        d.push(self.dir.clone());
                    }
                }
            }
            None => {
                refuse_published(&self.dir, None)?;
                recover_staged(&self.dir, None)?
            }
        }
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        Ok(true)
    }

    fn on_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, ()>) -> Result<()> {
        use std::fmt::Write as _;
        cx.out.add_count(batch.len() as u64);
        if self.open.is_none() {
            let p = self.open_path(cx.info.shard);
            let f = File::create(&p).map_err(io_err(&p))?;
            self.open = Some(BufWriter::with_capacity(64 * 1024, f));
        }
        let shard = cx.info.shard;
        let p = self.open_path(shard);
        if let Some(w) = self.open.as_mut() {
            for (_, v) in batch.drain(..) {
                self.line.clear();
                let _ = writeln!(self.line, "{v}");
                w.write_all(self.line.as_bytes()).map_err(io_err(&p))?;
            }
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        _wm: crate::time::Timestamp,
        _cx: &mut UnaryCx<'_, ()>,
    ) -> Result<bool> {
        Ok(false)
    }

    fn on_barrier(&mut self, epoch: u64, cx: &mut UnaryCx<'_, ()>) -> Result<()> {
        if self.checkpointing {
            let shard = cx.info.shard;
            let to = self.dir.join(STAGING).join(staged_name(epoch, shard));
            self.close_into(shard, &to)?;
        }
        Ok(())
    }

    fn on_end(&mut self, cx: &mut UnaryCx<'_, ()>) -> Result<()> {
        let shard = cx.info.shard;
        let to = if self.checkpointing {
            self.dir.join(STAGING).join(staged_name(u64::MAX, shard))
        } else {
            self.dir.join(published_name(u64::MAX, shard))
        };
        self.close_into(shard, &to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_publishes_committed_epochs_and_discards_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let st = dir.join(STAGING);
        fs::create_dir_all(&st).unwrap();
        for (tag, shard) in [(3u64, 0usize), (4, 1), (5, 0), (u64::MAX, 1)] {
            fs::write(st.join(staged_name(tag, shard)), format!("{tag}\n")).unwrap();
        }
        fs::write(st.join("open-s0.tmp"), "partial\n").unwrap();
        recover_staged(dir, Some(4)).unwrap();
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != STAGING)
            .collect();
        names.sort();
        assert_eq!(names, vec![published_name(3, 0), published_name(4, 1)]);
        assert_eq!(fs::read_dir(&st).unwrap().count(), 0);
        // A final checkpoint publishes the final files too.
        fs::write(st.join(staged_name(u64::MAX, 0)), "end\n").unwrap();
        recover_staged(dir, Some(u64::MAX)).unwrap();
        assert!(dir.join("part-final-s0.txt").is_file());
    }

    #[test]
    fn a_fresh_job_refuses_to_publish_over_output() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        refuse_published(dir, Some(1)).unwrap();
        fs::create_dir_all(dir.join(STAGING)).unwrap();
        fs::write(dir.join("notes.md"), "mine\n").unwrap();
        fs::write(dir.join(published_name(7, 0)), "7\n").unwrap();
        // Epochs 8 on (the checkpoint directory goes on numbering): nothing is overwritten.
        refuse_published(dir, Some(8)).unwrap();
        refuse_published(dir, None).unwrap();
        // A new checkpoint directory numbers from 1 again: epoch 7 would be overwritten.
        let e = refuse_published(dir, Some(1)).unwrap_err().to_string();
        assert!(e.contains("already holds published output"), "{e}");
        assert!(e.contains(&published_name(7, 0)), "{e}");
        fs::write(dir.join(published_name(u64::MAX, 1)), "end\n").unwrap();
        assert!(refuse_published(dir, Some(8)).is_err());
        assert!(refuse_published(dir, None).is_err());
    }
}
