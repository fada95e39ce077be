//! The input side: a bounded channel from the caller's threads into a source.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::channel::{self, Receiver as CbReceiver, Sender, TryRecvError, TrySendError};

use super::Control;
use crate::api::{DataStream, Env};
use crate::error::SpateError;
use crate::io::{Source, SourceOutput, SourceSplit, SourceStatus};

/// Pushes records into a running embedded job (see [`Env::channel_source`]). Clone it for
/// more producer threads; the stream ends when every `Input` is dropped and what was
/// pushed has been read, or at [`JobHandle::shutdown`](super::JobHandle::shutdown).
///
/// **Sequence numbers and checkpoints** (like a Kafka consumer's offsets): every record
/// pushed gets the next sequence number of its input, counting from
/// [`resume_from`](Input::resume_from). A checkpoint records, per input, the sequence
/// number of the first record the job had not read at the barrier. A job started again on
/// the same checkpoint directory (a new `Env` built the same way, in this process or
/// another) restores its state and sets `resume_from()` to that number once
/// [`Env::start`] returns: the caller pushes again from there, in the same order. Records
/// given with [`push_at`](Input::push_at) below it are dropped as duplicates, so a caller
/// may also replay its whole log. Exactly-once needs one order: push from one thread per
/// input (with several, the sequence is whatever order the pushes interleave in), and start
/// the job before pushing. Without checkpoints, `resume_from()` is 0.
pub struct Input<T> {
    tx: Sender<T>,
    seq: Arc<InputSeq>,
}

/// The sequence numbers of one input.
#[derive(Debug, Default)]
struct InputSeq {
    /// First sequence number the restored checkpoint had not read.
    resume: AtomicU64,
    /// Sequence number of the next record pushed.
    next: AtomicU64,
}

impl<T> Clone for Input<T> {
    fn clone(&self) -> Self {
        Input {
            tx: self.tx.clone(),
            seq: self.seq.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Input<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Input({} queued)", self.tx.len())
    }
}

impl<T> Input<T> {
    /// Pushes one record (the next sequence number), blocking while the input channel is
    /// full (back-pressure). Fails with [`SpateError::Cancelled`] once the job no longer
    /// reads its input.
    pub fn push(&self, value: T) -> Result<(), SpateError> {
        self.seq.next.fetch_add(1, Ordering::Relaxed);
        self.tx.send(value).map_err(|_| SpateError::Cancelled)
    }

    /// Pushes one record if there is room; gives it back when the channel is full.
    /// Fails with [`SpateError::Cancelled`] once the job no longer reads its input.
    pub fn try_push(&self, value: T) -> Result<Option<T>, SpateError> {
        match self.tx.try_send(value) {
            Ok(()) => {
                self.seq.next.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(TrySendError::Full(v)) => Ok(Some(v)),
            Err(TrySendError::Disconnected(_)) => Err(SpateError::Cancelled),
        }
    }

    /// The sequence number to push from: the first record the restored checkpoint had not
    /// read (0 for a job that restored nothing). Read it after [`Env::start`].
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let log: Vec<u64> = (0..100).collect(); // the caller's own replayable log
    /// let env = Env::new().shards(1).checkpointing(dir.path().join("chk"), Duration::from_millis(50));
    /// let (input, numbers) = env.channel_source::<u64>(16);
    /// numbers.write_lines_exactly_once(dir.path().join("out"));
    /// let job = env.start()?;
    /// let from = input.resume_from(); // 0 here; after a restart, where the checkpoint stopped
    /// for (seq, x) in log.iter().enumerate().skip(from as usize) {
    ///     assert!(input.push_at(seq as u64, *x)?);
    /// }
    /// // Numbers must follow on: a record this run already took is an error, not a duplicate.
    /// assert!(input.push_at(0, 0).is_err());
    /// drop(input);
    /// job.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resume_from(&self) -> u64 {
        self.seq.resume.load(Ordering::Acquire)
    }

    /// Pushes the record with sequence number `seq`: `Ok(false)` drops it when `seq` is
    /// below [`resume_from`](Input::resume_from) (its effect is in the restored state), and
    /// `seq` must otherwise be the next number (records in order, none missing), or it
    /// fails with [`SpateError::BadInput`] naming both numbers.
    pub fn push_at(&self, seq: u64, value: T) -> Result<bool, SpateError> {
        if seq < self.resume_from() {
            return Ok(false);
        }
        if let Err(next) =
            self.seq
                .next
                .compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed)
        {
            return Err(SpateError::BadInput {
                source_name: "channel_source".into(),
                position: format!("sequence {seq}"),
                message: format!(
                    "pushed out of order: the next sequence number is {next} (push from \
                     resume_from() = {}, one record at a time)",
                    self.resume_from()
                ),
            });
        }
        self.tx.send(value).map_err(|_| SpateError::Cancelled)?;
        Ok(true)
    }

    /// Records pushed and not yet taken by the job.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }
}

/// Shard 0 reads the channel, so records enter the job in push order; `key_by` or
/// `rebalance` spreads the work over the shards.
struct ChannelSource<T> {
    rx: CbReceiver<T>,
    control: Arc<Control>,
    seq: Arc<InputSeq>,
}

struct ChannelSplit<T> {
    /// `None` on the shards that do not read.
    rx: Option<CbReceiver<T>>,
    control: Arc<Control>,
    /// The newest flush barrier sent.
    flushed: u64,
    /// Sequence number of the next record read (the checkpointed offset).
    read: u64,
    seq: Arc<InputSeq>,
}

impl<T: Send + 'static> SourceSplit<T> for ChannelSplit<T> {
    fn is_empty(&self) -> bool {
        self.rx.is_none()
    }

    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus, SpateError> {
        // Read the flush request before draining: a record pushed before the request is in
        // the channel by then, and goes out before the barrier.
        let Some(rx) = &self.rx else {
            return Ok(SourceStatus::Done);
        };
        let requested = self.control.flush_requested.load(Ordering::Acquire);
        let mut status = SourceStatus::Idle;
        while out.remaining() > 0 {
            match rx.try_recv() {
                Ok(v) => {
                    out.emit(v);
                    self.read += 1;
                    status = SourceStatus::More;
                }
                Err(TryRecvError::Empty) => {
                    if self.control.closing.load(Ordering::Acquire) {
                        status = SourceStatus::Done;
                    }
                    break;
                }
                Err(TryRecvError::Disconnected) => {
                    status = SourceStatus::Done;
                    break;
                }
            }
        }
        if requested > self.flushed && status != SourceStatus::More {
            // The channel was found empty after the request: send the barrier.
            self.flushed = requested;
            out.barrier_after(requested);
        }
        Ok(status)
    }

    fn offset(&self) -> Option<u64> {
        Some(self.read)
    }

    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        if self.rx.is_some() {
            self.read = offset;
            self.seq.resume.store(offset, Ordering::Release);
            self.seq.next.store(offset, Ordering::Release);
        }
        Ok(())
    }
}

impl<T: Send + 'static> Source<T> for ChannelSource<T> {
    fn split(
        &mut self,
        shard: usize,
        _shards: usize,
    ) -> Result<Box<dyn SourceSplit<T>>, SpateError> {
        Ok(Box::new(ChannelSplit {
            rx: (shard == 0).then(|| self.rx.clone()),
            control: self.control.clone(),
            flushed: 0,
            read: 0,
            seq: self.seq.clone(),
        }))
    }

    /// Split 0 reads the channel, the others nothing: the same whatever the shard count.
    fn splits_are_stable(&self) -> bool {
        true
    }
}

impl Env {
    /// A stream fed by the caller: records pushed into the returned [`Input`] (from any
    /// thread) enter the job once it is started with [`Env::start`]. The channel holds at
    /// most `capacity` records; `push` blocks while it is full. Shard 0 reads it, so the
    /// records enter the job in the order they were pushed (per producer thread); use
    /// `key_by` or `rebalance` to spread the work over the shards.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let (input, numbers) = env.channel_source::<u64>(16);
    /// let doubled = numbers.map(|x| x * 2).to_channel(16);
    /// let job = env.start().unwrap();
    /// for x in 1..=3 {
    ///     input.push(x).unwrap();
    /// }
    /// drop(input); // the input ends when every `Input` is dropped
    /// job.join().unwrap();
    /// let mut got: Vec<u64> = doubled.iter().collect();
    /// got.sort();
    /// assert_eq!(got, vec![2, 4, 6]);
    /// ```
    pub fn channel_source<T: Clone + Send + 'static>(
        &self,
        capacity: usize,
    ) -> (Input<T>, DataStream<T>) {
        let (tx, rx) = channel::bounded(capacity.max(1));
        let control = {
            let mut inner = self.inner.borrow_mut();
            inner.embedding.sources += 1;
            inner.embedding.control.clone()
        };
        let seq = Arc::new(InputSeq::default());
        let source = ChannelSource {
            rx,
            control,
            seq: seq.clone(),
        };
        let stream = self.add_source("channel_source", source);
        (Input { tx, seq }, stream)
    }
}
