//! The input side: a bounded channel from the caller's threads into a source.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam::channel::{self, Receiver as CbReceiver, Sender, TryRecvError, TrySendError};

use super::Control;
use crate::api::{DataStream, Env};
use crate::error::SpateError;
use crate::io::{Source, SourceOutput, SourceSplit, SourceStatus};

/// Pushes records into a running embedded job (see [`Env::channel_source`]). Clone it for
/// more producer threads; the stream ends when every `Input` is dropped and what was
/// pushed has been read, or at [`JobHandle::shutdown`](super::JobHandle::shutdown).
pub struct Input<T> {
    tx: Sender<T>,
}

impl<T> Clone for Input<T> {
    fn clone(&self) -> Self {
        Input {
            tx: self.tx.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Input<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Input({} queued)", self.tx.len())
    }
}

impl<T> Input<T> {
    /// Pushes one record, blocking while the input channel is full (back-pressure).
    /// Fails with [`SpateError::Cancelled`] once the job no longer reads its input.
    pub fn push(&self, value: T) -> Result<(), SpateError> {
        self.tx.send(value).map_err(|_| SpateError::Cancelled)
    }

    /// Pushes one record if there is room; gives it back when the channel is full.
    /// Fails with [`SpateError::Cancelled`] once the job no longer reads its input.
    pub fn try_push(&self, value: T) -> Result<Option<T>, SpateError> {
        match self.tx.try_send(value) {
            Ok(()) => Ok(None),
            Err(TrySendError::Full(v)) => Ok(Some(v)),
            Err(TrySendError::Disconnected(_)) => Err(SpateError::Cancelled),
        }
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
}

struct ChannelSplit<T> {
    /// `None` on the shards that do not read.
    rx: Option<CbReceiver<T>>,
    control: Arc<Control>,
    /// The newest flush barrier sent.
    flushed: u64,
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
        }))
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
        let stream = self.add_source("channel_source", ChannelSource { rx, control });
        (Input { tx }, stream)
    }
}
