//! Sinks: the trait a sink implements and the operator that feeds one per shard.

use std::marker::PhantomData;

use super::unary::{Unary, UnaryCx};
use super::Batch;
use crate::error::{Result, UserError};
use crate::time::{Timestamp, NO_TIMESTAMP};

/// Where a stream's records end up. Cloned once per shard before the job starts; each
/// clone sees that shard's records.
///
/// Contract: `open` is called before anything else, `end_of_batch` after each batch of
/// `write`s, and `finish` once when the input has ended. An error fails the job.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use spate::prelude::*;
/// use spate::io::Sink;
///
/// #[derive(Clone)]
/// struct Total(Arc<AtomicU64>);
/// impl Sink<u64> for Total {
///     fn write(&mut self, v: u64, _ts: Option<i64>) -> Result<(), UserError> {
///         self.0.fetch_add(v, Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// let total = Arc::new(AtomicU64::new(0));
/// let env = Env::new().shards(2);
/// env.from_iter(1..=10u64).rebalance().add_sink("total", Total(total.clone()));
/// env.execute().unwrap();
/// assert_eq!(total.load(Ordering::Relaxed), 55);
/// ```
pub trait Sink<T>: Clone + Send + 'static {
    /// Called once on each shard before the first record.
    fn open(&mut self, _shard: usize, _shards: usize) -> Result<(), UserError> {
        Ok(())
    }
    /// Called for every record, with its timestamp if it has one.
    fn write(&mut self, value: T, timestamp: Option<Timestamp>) -> Result<(), UserError>;
    /// Called after each batch of writes.
    fn end_of_batch(&mut self) -> Result<(), UserError> {
        Ok(())
    }
    /// Called when event time advances.
    fn on_watermark(&mut self, _watermark: Timestamp) -> Result<(), UserError> {
        Ok(())
    }
    /// Called when barrier `epoch` arrives: every record before it has been written
    /// (embedded flushes; checkpoints later).
    fn on_barrier(&mut self, _epoch: u64) -> Result<(), UserError> {
        Ok(())
    }
    /// Called once when the input has ended.
    fn finish(&mut self) -> Result<(), UserError> {
        Ok(())
    }
}

/// The operator feeding a [`Sink`].
pub(crate) struct SinkOp<S, T> {
    pub(crate) sink: S,
    pub(crate) opened: bool,
    pub(crate) _t: PhantomData<fn(T)>,
}

impl<S: Clone, T> Clone for SinkOp<S, T> {
    fn clone(&self) -> Self {
        SinkOp {
            sink: self.sink.clone(),
            opened: false,
            _t: PhantomData,
        }
    }
}

impl<S: Sink<T>, T> SinkOp<S, T> {
    fn ensure_open(&mut self, cx: &UnaryCx<'_, ()>) -> Result<()> {
        if !self.opened {
            self.opened = true;
            self.sink
                .open(cx.info.shard, cx.shards)
                .map_err(|e| cx.info.user_error(e))?;
        }
        Ok(())
    }
}

impl<S: Sink<T>, T: Clone + 'static> Unary for SinkOp<S, T> {
    type In = T;
    type Out = ();

    /// Takes part in checkpoints without state (sinks other than the exactly-once file sink are at-least-once).
    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        Ok(false)
    }

    fn on_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, ()>) -> Result<()> {
        self.ensure_open(cx)?;
        cx.out.add_count(batch.len() as u64);
        for (ts, v) in batch.drain(..) {
            let ts = (ts != NO_TIMESTAMP).then_some(ts);
            self.sink.write(v, ts).map_err(|e| cx.info.user_error(e))?;
        }
        self.sink.end_of_batch().map_err(|e| cx.info.user_error(e))
    }

    fn on_watermark(&mut self, wm: Timestamp, cx: &mut UnaryCx<'_, ()>) -> Result<bool> {
        self.ensure_open(cx)?;
        self.sink
            .on_watermark(wm)
            .map_err(|e| cx.info.user_error(e))?;
        Ok(false)
    }

    fn on_barrier(&mut self, epoch: u64, cx: &mut UnaryCx<'_, ()>) -> Result<()> {
        self.ensure_open(cx)?;
        self.sink
            .on_barrier(epoch)
            .map_err(|e| cx.info.user_error(e))
    }

    fn on_end(&mut self, cx: &mut UnaryCx<'_, ()>) -> Result<()> {
        self.ensure_open(cx)?;
        self.sink.finish().map_err(|e| cx.info.user_error(e))
    }
}
