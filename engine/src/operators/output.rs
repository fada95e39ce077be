//! An operator's main output: a reusable buffer fanned out to its consumers.

use std::cell::Cell;
use std::rc::Rc;

use super::{Batch, Push};
use crate::error::{Result, SpateError};
use crate::time::Timestamp;

/// Records emitted by one operator instance (shared with the shard's metrics).
pub(crate) type Counter = Rc<Cell<u64>>;

/// Buffers emitted records and hands them downstream as batches of `batch_size`.
///
/// With several consumers the batch is cloned for all but the last (a tee). An error from
/// downstream during an automatic flush in [`give`](Output::give) is kept and returned by
/// the next [`flush`](Output::flush), so user code can emit without handling errors.
pub(crate) struct Output<T> {
    buf: Batch<T>,
    spare: Batch<T>,
    targets: Vec<Box<dyn Push<T>>>,
    batch_size: usize,
    counter: Counter,
    error: Option<SpateError>,
}

impl<T: Clone> Output<T> {
    pub(crate) fn new(targets: Vec<Box<dyn Push<T>>>, batch_size: usize, counter: Counter) -> Self {
        Output {
            buf: Vec::with_capacity(batch_size.min(4096)),
            spare: Vec::new(),
            targets,
            batch_size: batch_size.max(1),
            counter,
            error: None,
        }
    }

    /// Emits one record.
    #[inline]
    pub(crate) fn give(&mut self, ts: Timestamp, value: T) {
        self.buf.push((ts, value));
        if self.buf.len() >= self.batch_size {
            if let Err(e) = self.push_buf() {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Emits every record of `batch`, draining it. Moves the whole vector when the buffer
    /// is empty (no copy).
    pub(crate) fn give_batch(&mut self, batch: &mut Batch<T>) -> Result<()> {
        if self.buf.is_empty() && batch.len() <= self.batch_size {
            std::mem::swap(&mut self.buf, batch);
            batch.clear();
            return self.flush();
        }
        for (ts, v) in batch.drain(..) {
            self.give(ts, v);
        }
        self.flush()
    }

    /// Sends what is buffered downstream and reports any earlier downstream error.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.push_buf()
    }

    fn push_buf(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.counter.set(self.counter.get() + self.buf.len() as u64);
        let result = match self.targets.split_last_mut() {
            None => Ok(()),
            Some((last, rest)) => {
                let mut r = Ok(());
                for t in rest {
                    self.spare.clear();
                    self.spare.extend_from_slice(&self.buf);
                    r = t.push(&mut self.spare);
                    if r.is_err() {
                        break;
                    }
                }
                r.and_then(|()| last.push(&mut self.buf))
            }
        };
        self.buf.clear();
        result
    }

    /// Counts `n` records as handled by this operator (sinks, which emit nothing).
    pub(crate) fn add_count(&mut self, n: u64) {
        self.counter.set(self.counter.get() + n);
    }

    /// Flushes, then forwards the watermark to every consumer.
    pub(crate) fn watermark(&mut self, wm: Timestamp) -> Result<()> {
        self.flush()?;
        self.targets.iter_mut().try_for_each(|t| t.watermark(wm))
    }

    /// Forwards a combined input's progress: becoming active goes before the watermark it
    /// brings, going idle after the watermark it released.
    pub(crate) fn progress(&mut self, wm: Option<Timestamp>, idle: Option<bool>) -> Result<()> {
        in_order(wm, idle, |p| match p {
            Progress::Idle(i) => self.idle(i),
            Progress::Watermark(w) => self.watermark(w),
        })
    }

    /// Flushes, then forwards a change of idleness to every consumer.
    pub(crate) fn idle(&mut self, idle: bool) -> Result<()> {
        self.flush()?;
        self.targets.iter_mut().try_for_each(|t| t.idle(idle))
    }

    /// Flushes, then forwards the barrier to every consumer.
    pub(crate) fn barrier(&mut self, epoch: u64) -> Result<()> {
        self.flush()?;
        self.targets.iter_mut().try_for_each(|t| t.barrier(epoch))
    }

    /// Flushes, then ends every consumer's input.
    pub(crate) fn end(&mut self) -> Result<()> {
        self.flush()?;
        self.targets.iter_mut().try_for_each(|t| t.end())
    }
}

/// One step of a combined input's progress.
pub(crate) enum Progress {
    Idle(bool),
    Watermark(Timestamp),
}

/// Calls `emit` with a watermark and a change of idleness in the order downstream needs:
/// becoming active before the watermark it brings, going idle after the watermark it
/// released.
pub(crate) fn in_order(
    wm: Option<Timestamp>,
    idle: Option<bool>,
    mut emit: impl FnMut(Progress) -> Result<()>,
) -> Result<()> {
    if idle == Some(false) {
        emit(Progress::Idle(false))?;
    }
    if let Some(w) = wm {
        emit(Progress::Watermark(w))?;
    }
    if idle == Some(true) {
        emit(Progress::Idle(true))?;
    }
    Ok(())
}
