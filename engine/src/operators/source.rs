//! Sources: the traits a source implements and the node that drives one split per shard.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::split_watermarks::{MakeSplitWatermarks, SplitWatermarks};
use super::{Batch, OperatorGuard, Output};
use crate::error::{Result, SpateError};
use crate::graph::{flush_all, Instantiate, NodeFactory, ShardBuild, ShardNode, Wired};
use crate::runtime::task::{sleep, yield_now};
use crate::time::{Timestamp, MAX_WATERMARK, NO_TIMESTAMP};

/// What a split reports after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// More records may follow at once.
    More,
    /// Nothing right now; poll again a little later.
    Idle,
    /// The split is exhausted (a bounded input has ended).
    Done,
}

/// Where a split writes the records of one poll.
pub struct SourceOutput<'a, T> {
    pub(crate) batch: &'a mut Batch<T>,
    pub(crate) limit: usize,
    /// A barrier to send after this poll's records.
    pub(crate) barrier: Option<u64>,
}

impl<T> SourceOutput<'_, T> {
    /// Emits a record without an event-time timestamp.
    #[inline]
    pub fn emit(&mut self, value: T) {
        self.batch.push((NO_TIMESTAMP, value));
    }

    /// Emits a record with event-time timestamp `ts`.
    #[inline]
    pub fn emit_at(&mut self, ts: Timestamp, value: T) {
        self.batch.push((ts, value));
    }

    /// Sends barrier `epoch` after the records of this poll (embedded flush; checkpoints).
    pub(crate) fn barrier_after(&mut self, epoch: u64) {
        self.barrier = Some(epoch);
    }

    /// How many more records fit in this poll's batch.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.batch.len())
    }
}

/// One shard's part of a source. Polled by its shard until it reports
/// [`SourceStatus::Done`].
///
/// Contract: `poll` returns promptly (it must not block the shard's thread for long) and
/// emits at most `out.remaining()` records; an error fails the job, so report malformed
/// records with [`SpateError::BadInput`] and their position.
pub trait SourceSplit<T>: Send + 'static {
    /// Emits the next records.
    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus, SpateError>;

    /// `true` when this split will certainly emit nothing (it then never holds back the
    /// watermark of the operators it feeds). The default, `false`, is always safe.
    fn is_empty(&self) -> bool {
        false
    }

    /// The position to resume from so that exactly the records not yet emitted follow
    /// (a sequence number, a byte offset, an index); `None` when the split cannot be
    /// replayed (the default). A job with checkpoints needs every source to have one.
    fn offset(&self) -> Option<u64> {
        None
    }

    /// Moves to `offset`, a value [`offset`](SourceSplit::offset) returned by the same
    /// split (same index, same split count) of the same source, before the first poll of a
    /// restored job.
    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        Err(SpateError::Config(format!(
            "this source cannot be replayed from offset {offset}"
        )))
    }
}

/// A parallel source: makes one split per shard.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
///
/// /// Counts from 0 to `n` on shard 0 only.
/// #[derive(Clone)]
/// struct Count(u64);
/// struct CountSplit { next: u64, end: u64 }
/// impl SourceSplit<u64> for CountSplit {
///     fn poll(&mut self, out: &mut SourceOutput<'_, u64>) -> Result<SourceStatus, SpateError> {
///         while self.next < self.end && out.remaining() > 0 {
///             out.emit(self.next);
///             self.next += 1;
///         }
///         Ok(if self.next == self.end { SourceStatus::Done } else { SourceStatus::More })
///     }
/// }
/// impl Source<u64> for Count {
///     fn split(&mut self, shard: usize, _shards: usize) -> Result<Box<dyn SourceSplit<u64>>, SpateError> {
///         let end = if shard == 0 { self.0 } else { 0 };
///         Ok(Box::new(CountSplit { next: 0, end }))
///     }
/// }
///
/// let env = Env::new().shards(2);
/// let out = env.add_source("count", Count(5)).collect();
/// env.execute().unwrap();
/// assert_eq!(out.sorted(), vec![0, 1, 2, 3, 4]);
/// ```
pub trait Source<T>: 'static {
    /// The split for `shard` of `shards`.
    fn split(&mut self, shard: usize, shards: usize)
        -> Result<Box<dyn SourceSplit<T>>, SpateError>;

    /// `true` when `split(i, n)` describes the same records whenever it is called, on any
    /// shard: then a checkpoint taken with `n` shards restores on another shard count, its
    /// `n` splits (with their offsets) reassigned round robin to the new shards (Flink's
    /// FLIP-27 model: a shard may read several splits, or none and stay idle). The default,
    /// `false`, makes such a restore an error for this source.
    fn splits_are_stable(&self) -> bool {
        false
    }
}

/// The splits one shard reads: usually one, after a restore on another shard count
/// possibly several (polled round robin) or none.
struct ShardSplits<T> {
    /// `(split index, split, done)`.
    splits: Vec<(usize, Box<dyn SourceSplit<T>>, bool)>,
    /// The source's split count.
    count: usize,
    next: usize,
    /// The split (its place in `splits`) whose records the last poll's batch holds.
    emitted: Option<usize>,
    /// Splits (places in `splits`) found done by polls since the caller last took them.
    ended: Vec<usize>,
}

impl<T: 'static> ShardSplits<T> {
    fn is_empty(&self) -> bool {
        self.splits.iter().all(|(_, s, done)| *done || s.is_empty())
    }

    fn offsets(&self) -> crate::runtime::Part {
        crate::runtime::Part::Offsets {
            splits: self.count,
            offsets: self
                .splits
                .iter()
                .map(|(i, s, _)| (*i, s.offset().unwrap_or(0)))
                .collect(),
        }
    }

    /// Polls the next split that is not done; an idle one passes the turn on, so the shard
    /// idles only when every split does.
    /// The records of one poll come from one split (`emitted`).
    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus> {
        let n = self.splits.len();
        self.emitted = None;
        for _ in 0..n {
            let i = self.next % n;
            self.next = (i + 1) % n;
            let (_, split, done) = &mut self.splits[i];
            if *done {
                continue;
            }
            self.emitted = Some(i);
            match split.poll(out)? {
                SourceStatus::More => return Ok(SourceStatus::More),
                SourceStatus::Done => {
                    *done = true;
                    self.ended.push(i);
                }
                SourceStatus::Idle => {}
            }
            if !out.batch.is_empty() {
                break;
            }
        }
        Ok(if self.splits.iter().all(|s| s.2) {
            SourceStatus::Done
        } else if out.batch.is_empty() {
            SourceStatus::Idle
        } else {
            SourceStatus::More
        })
    }
}

/// A source node: the source and, with `Env::from_source`, its per-split watermarks.
pub(crate) struct SourceFactory<S, T>(
    pub(crate) S,
    pub(crate) Option<Box<dyn MakeSplitWatermarks<T>>>,
);

impl<T: Clone + Send + 'static, S: Source<T>> NodeFactory for SourceFactory<S, T> {
    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        Ok(()) // whether it can be replayed is checked per split
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        let (shard, shards) = (cx.shard, cx.cfg.shards);
        // The splits recorded by the checkpoint restored, if it has this source (else the
        // source is new and starts from its beginning).
        let recorded = cx.cfg.restored().and_then(|r| {
            r.source_splits(cx.node)
                .map(|(count, offsets)| (r.manifest.epoch, count, offsets))
        });
        let mut splits = Vec::new();
        let count = match recorded {
            None => {
                splits.push((shard, self.0.split(shard, shards)?, false));
                shards
            }
            Some((epoch, count, offsets)) => {
                if count != shards && !self.0.splits_are_stable() {
                    return Err(SpateError::Config(format!(
                        "checkpoint {epoch} has {count} splits of source node {} and the job \
                         runs on {shards} shards, but this source cannot reassign its splits \
                         (Source::splits_are_stable is false)",
                        cx.node
                    )));
                }
                // Round robin: split i goes to shard i mod M.
                for (i, off) in offsets.into_iter().filter(|(i, _)| i % shards == shard) {
                    let mut s = self.0.split(i, count)?;
                    s.seek(off)?;
                    splits.push((i, s, false));
                }
                count
            }
        };
        if cx.cfg.checkpoint.is_some() && splits.iter().any(|s| s.1.offset().is_none()) {
            return Err(SpateError::Config(format!(
                "checkpointing is on, but source node {} cannot be replayed (it has no offset): \
                 use a replayable source (collections, generators, files)",
                cx.node
            )));
        }
        let watermarks = self.1.as_ref().map(|m| m.make(splits.len()));
        Ok(Box::new(SourceShard(
            ShardSplits {
                splits,
                count,
                next: 0,
                emitted: None,
                ended: Vec::new(),
            },
            watermarks,
        )))
    }
}

struct SourceShard<T>(ShardSplits<T>, Option<Box<dyn SplitWatermarks<T>>>);

struct NoInputs;
impl Wired for NoInputs {
    fn input(&mut self, _input: usize) -> Box<dyn Any> {
        Box::new(())
    }
}

impl<T: Clone + Send + 'static> ShardNode for SourceShard<T> {
    fn live(&self) -> Option<bool> {
        Some(!self.0.is_empty())
    }

    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn Any>>>,
        cx: &mut ShardBuild,
    ) -> Result<Box<dyn Wired>> {
        let out = cx.output::<T>(std::mem::take(&mut outputs[0]))?;
        let reach = cx.down_reach.clone();
        let (cancel, batch_size, node) = (cx.cfg.cancel.clone(), cx.cfg.batch_size, cx.node);
        let low_latency = cx.cfg.low_latency;
        let (mut split, mut watermarks) = (self.0, self.1);
        let clock = cx.cfg.clock.clone();
        let ckpt = cx.snapshots.clone().map(|s| {
            let id = s.register(node);
            (s, id)
        });
        // The newest barrier injected. Epochs of this run start after the restored one, so
        // every epoch triggered is newer, even one triggered before this shard was wired
        // (a savepoint asked for as the job starts).
        let mut injected = 0;
        cx.drive(async move {
            let mut out: Output<T> = out;
            let mut batch: Batch<T> = Vec::with_capacity(batch_size.min(4096));
            loop {
                if cancel.load(Ordering::Relaxed) {
                    return Err(SpateError::Cancelled);
                }
                if let Some((snaps, id)) = &ckpt {
                    // One atomic load per poll: take the offset and send the barrier of a
                    // newly triggered epoch before anything read after it.
                    let requested = snaps.shared.requested();
                    if requested > injected {
                        injected = requested;
                        let _g = OperatorGuard::enter(node);
                        snaps.deposit(requested, *id, split.offsets());
                        out.barrier(requested)?;
                    }
                }
                let status = {
                    let _g = OperatorGuard::enter(node);
                    let mut so = SourceOutput {
                        batch: &mut batch,
                        limit: batch_size,
                        barrier: None,
                    };
                    let status = split.poll(&mut so)?;
                    let barrier = so.barrier;
                    match &mut watermarks {
                        None => out.give_batch(&mut batch)?,
                        Some(w) => {
                            let (emitted, now) = (split.emitted, clock.now_ms());
                            w.on_poll(emitted, &split.ended, &mut batch, now, &mut out)?;
                            split.ended.clear();
                            out.flush()?;
                        }
                    }
                    if let Some(e) = barrier {
                        out.barrier(e)?;
                    }
                    if status == SourceStatus::Done {
                        out.watermark(MAX_WATERMARK)?;
                        out.end()?;
                        if let Some((snaps, id)) = &ckpt {
                            snaps.finish(*id, split.offsets());
                        }
                    }
                    status
                };
                flush_all(&reach, status == SourceStatus::More).await?;
                match status {
                    SourceStatus::More => yield_now().await,
                    SourceStatus::Idle if low_latency => yield_now().await,
                    SourceStatus::Idle => sleep(Duration::from_millis(1)).await,
                    SourceStatus::Done => return Ok(()),
                }
            }
        });
        Ok(Box::new(NoInputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Emits `items`, reporting `Idle` on the polls listed in `idle_at`.
    struct Fake {
        items: Vec<u64>,
        polls: usize,
        idle_at: Vec<usize>,
    }

    impl SourceSplit<u64> for Fake {
        fn poll(&mut self, out: &mut SourceOutput<'_, u64>) -> Result<SourceStatus> {
            self.polls += 1;
            if self.idle_at.contains(&self.polls) {
                return Ok(SourceStatus::Idle);
            }
            while out.remaining() > 0 && !self.items.is_empty() {
                out.emit(self.items.remove(0));
            }
            Ok(if self.items.is_empty() {
                SourceStatus::Done
            } else {
                SourceStatus::More
            })
        }
        fn is_empty(&self) -> bool {
            self.items.is_empty()
        }
    }

    fn poll(s: &mut ShardSplits<u64>, limit: usize) -> (SourceStatus, Vec<u64>) {
        let mut batch = Vec::new();
        let mut out = SourceOutput {
            batch: &mut batch,
            limit,
            barrier: None,
        };
        let st = s.poll(&mut out).unwrap();
        (st, batch.into_iter().map(|r| r.1).collect())
    }

    fn splits(v: Vec<(Vec<u64>, Vec<usize>)>) -> ShardSplits<u64> {
        ShardSplits {
            count: v.len(),
            splits: v
                .into_iter()
                .enumerate()
                .map(|(i, (items, idle_at))| {
                    let f: Box<dyn SourceSplit<u64>> = Box::new(Fake {
                        items,
                        polls: 0,
                        idle_at,
                    });
                    (i, f, false)
                })
                .collect(),
            next: 0,
            emitted: None,
            ended: Vec::new(),
        }
    }

    #[test]
    fn several_splits_are_polled_in_turn_until_all_are_done() {
        let mut s = splits(vec![(vec![1, 2, 3], vec![]), (vec![10, 20], vec![])]);
        assert_eq!(poll(&mut s, 2), (SourceStatus::More, vec![1, 2]));
        assert_eq!(poll(&mut s, 2), (SourceStatus::More, vec![10, 20]));
        assert_eq!(poll(&mut s, 2), (SourceStatus::Done, vec![3]));
        assert!(s.is_empty());
    }

    #[test]
    fn an_idle_split_passes_its_turn_and_the_shard_idles_only_when_all_do() {
        let mut s = splits(vec![(vec![1], vec![1, 2]), (vec![5, 6], vec![2])]);
        // Split 0 idle: split 1's records come in the same poll (and are said to be its).
        assert_eq!(poll(&mut s, 1), (SourceStatus::More, vec![5]));
        assert_eq!(s.emitted, Some(1));
        // Split 0 idle again, split 1 idle: the shard idles.
        assert_eq!(poll(&mut s, 1), (SourceStatus::Idle, vec![]));
        // Split 0's last record: it is done.
        assert_eq!(poll(&mut s, 1), (SourceStatus::More, vec![1]));
        assert_eq!((s.emitted, s.ended.clone()), (Some(0), vec![0]));
        assert_eq!(poll(&mut s, 1), (SourceStatus::Done, vec![6]));
        assert_eq!((s.emitted, s.ended.clone()), (Some(1), vec![0, 1]));
    }

    #[test]
    fn a_shard_without_splits_is_empty_and_done() {
        let mut s = splits(vec![]);
        assert!(s.is_empty());
        assert_eq!(poll(&mut s, 4), (SourceStatus::Done, vec![]));
    }
}
