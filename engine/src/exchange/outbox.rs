//! The sending side of one exchange on one shard: a lane per peer shard.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use super::Msg;
use crate::error::{Result, SpateError};
use crate::graph::Flush;
use crate::operators::Batch;
use crate::runtime::channel::Tx;
use crate::runtime::task::AsyncLock;

pub(crate) struct Lane<T: Send + 'static> {
    pub(crate) tx: OnceCell<Tx<Msg<T>>>,
    pending: RefCell<VecDeque<Msg<T>>>,
    /// A flusher holds a message popped from `pending` and is waiting to send it: new
    /// messages must queue behind it to keep the lane in order.
    busy: Cell<bool>,
    /// A message could not be handed to the channel (the peer is gone).
    lost: Cell<bool>,
}

/// Messages for peer shards, sent in order per lane.
///
/// Records bound for a peer first collect in its `staged` batch, which is sent once it holds
/// `batch_size` records, so channels carry full batches however many shards there are.
/// Partial batches are sent before any control message, when the driver's step ends with
/// nothing more coming, and at least every [`MAX_HELD_STEPS`] steps (a bound on latency
/// for sparse lanes).
pub(crate) struct Outbox<T: Send + 'static> {
    pub(crate) lanes: Vec<Lane<T>>,
    pub(crate) staged: RefCell<Vec<Batch<T>>>,
    batch_size: usize,
    held_steps: Cell<u32>,
    lock: AsyncLock,
    shard: usize,
}

/// Driver steps a partial batch may wait for more records.
const MAX_HELD_STEPS: u32 = 64;

impl<T: Send + 'static> Outbox<T> {
    pub(crate) fn new(shards: usize, shard: usize, batch_size: usize) -> Self {
        Outbox {
            staged: RefCell::new((0..shards).map(|_| Vec::new()).collect()),
            batch_size: batch_size.max(1),
            held_steps: Cell::new(0),
            lanes: (0..shards)
                .map(|_| Lane {
                    tx: OnceCell::new(),
                    pending: RefCell::new(VecDeque::new()),
                    busy: Cell::new(false),
                    lost: Cell::new(false),
                })
                .collect(),
            lock: AsyncLock::new(),
            shard,
        }
    }

    /// Sends every staged batch that is full.
    #[inline]
    pub(crate) fn send_full_lanes(&self) {
        let mut staged = self.staged.borrow_mut();
        for dst in 0..staged.len() {
            if dst != self.shard && staged[dst].len() >= self.batch_size {
                let b = std::mem::take(&mut staged[dst]);
                self.send(dst, Msg::Data(b));
            }
        }
    }

    /// Sends every non-empty staged batch.
    pub(crate) fn send_staged(&self) {
        self.held_steps.set(0);
        let mut staged = self.staged.borrow_mut();
        for dst in 0..staged.len() {
            if dst != self.shard && !staged[dst].is_empty() {
                let b = std::mem::take(&mut staged[dst]);
                self.send(dst, Msg::Data(b));
            }
        }
    }

    /// Sends at once if the lane is idle and its channel has room, else queues.
    #[inline]
    pub(crate) fn send(&self, dst: usize, msg: Msg<T>) {
        let lane = &self.lanes[dst];
        let mut msg = msg;
        if !lane.busy.get() && lane.pending.borrow().is_empty() {
            if let Some(tx) = lane.tx.get() {
                match tx.try_send(msg) {
                    Ok(()) => return,
                    Err(Some(m)) => msg = m,
                    // The channel lost the message: the peer is gone, and the next flush of
                    // this lane reports it.
                    Err(None) => {
                        lane.lost.set(true);
                        return;
                    }
                }
            }
        }
        lane.pending.borrow_mut().push_back(msg);
    }

    async fn drain(&self) -> Result<()> {
        let _g = self.lock.lock().await;
        for lane in &self.lanes {
            if lane.lost.get() {
                return Err(SpateError::PeerFailed { shard: self.shard });
            }
            loop {
                let next = lane.pending.borrow_mut().pop_front();
                let Some(msg) = next else { break };
                let Some(tx) = lane.tx.get() else {
                    return Err(SpateError::Internal(
                        "exchange lane used before connect".into(),
                    ));
                };
                lane.busy.set(true);
                let r = tx.send(msg).await;
                lane.busy.set(false);
                if r.is_err() {
                    return Err(SpateError::PeerFailed { shard: self.shard });
                }
            }
        }
        Ok(())
    }
}

impl<T: Send + 'static> Flush for Outbox<T> {
    #[inline]
    fn end_of_step(&self, more_coming: bool) {
        let held = self.held_steps.get() + 1;
        if !more_coming || held >= MAX_HELD_STEPS {
            self.send_staged();
        } else {
            self.held_steps.set(held);
        }
    }

    #[inline]
    fn pending(&self) -> bool {
        self.lanes
            .iter()
            .any(|l| l.busy.get() || l.lost.get() || !l.pending.borrow().is_empty())
    }

    fn flush(&self) -> Pin<Box<dyn Future<Output = Result<()>> + '_>> {
        Box::pin(self.drain())
    }
}
