//! The exchange node: a partitioning send side and a merging receive side on every shard.

use std::any::Any;
use std::cell::{OnceCell, RefCell};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::rc::Rc;

use super::outbox::Outbox;
use super::{Msg, Partition};
use crate::error::{Result, SpateError};
use crate::graph::{
    flush_all, Flush, Instantiate, JobConfig, NodeFactory, ShardBuild, ShardNode, Wired,
};
use crate::operators::union::Merge;
use crate::operators::{Batch, OperatorGuard, Port, Push};
use crate::runtime::channel::{bounded, Rx, RxEnd, TxEnd};
use crate::time::Timestamp;

/// One shard's channel ends of an exchange: senders to, and receivers from, each shard.
type ShardEnds<T> = (Vec<Option<TxEnd<Msg<T>>>>, Vec<Option<RxEnd<Msg<T>>>>);

/// Makes the exchange's channels and its per-shard instances.
pub(crate) struct ExchangeFactory<T: Send + 'static, P> {
    part: P,
    ends: Vec<ShardEnds<T>>,
}

impl<T: Send + 'static, P> ExchangeFactory<T, P> {
    pub(crate) fn new(part: P) -> Self {
        ExchangeFactory {
            part,
            ends: Vec::new(),
        }
    }
}

impl<T, P> NodeFactory for ExchangeFactory<T, P>
where
    T: Clone + Send + 'static,
    P: Partition<T> + Clone,
{
    fn prepare(&mut self, cfg: &JobConfig) -> Result<()> {
        let n = cfg.shards;
        let mut txs: Vec<Vec<Option<TxEnd<Msg<T>>>>> =
            (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        let mut rxs: Vec<Vec<Option<RxEnd<Msg<T>>>>> =
            (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        for (src, src_txs) in txs.iter_mut().enumerate() {
            for (dst, slot) in src_txs.iter_mut().enumerate() {
                if src != dst {
                    let (tx, rx) = bounded(cfg.channel_capacity);
                    *slot = Some(tx);
                    rxs[dst][src] = Some(rx);
                }
            }
        }
        self.ends = txs.into_iter().zip(rxs).collect();
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        Ok(()) // its receiving merge aligns barriers; it holds no state
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        let (txs, rxs) = std::mem::take(&mut self.ends[cx.shard]);
        Ok(Box::new(ExchangeShard {
            part: self.part.clone(),
            txs,
            rxs,
            senders_live: cx.inputs_live[0].clone(),
            _t: PhantomData::<fn() -> T>,
        }))
    }
}

struct ExchangeShard<T: Send + 'static, P> {
    part: P,
    txs: Vec<Option<TxEnd<Msg<T>>>>,
    rxs: Vec<Option<RxEnd<Msg<T>>>>,
    /// Which shards' upstream can send anything at all.
    senders_live: Vec<bool>,
    _t: PhantomData<fn() -> T>,
}

impl<T, P> ShardNode for ExchangeShard<T, P>
where
    T: Clone + Send + 'static,
    P: Partition<T>,
{
    fn live(&self) -> Option<bool> {
        Some(self.senders_live.iter().any(|l| *l))
    }

    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn Any>>>,
        cx: &mut ShardBuild,
    ) -> Result<Box<dyn Wired>> {
        let this = *self;
        let (n, me, node) = (cx.cfg.shards, cx.shard, cx.node);
        let out = cx.output::<T>(outputs.swap_remove(0))?;
        let ext = crate::operators::union::merge_ext::<T>(cx, &this.senders_live)?;
        let merge = Rc::new(RefCell::new(
            Merge::new(&this.senders_live, out, cx.cfg.checkpoint.is_some()).with_ext(ext),
        ));
        let outbox = Rc::new(Outbox::<T>::new(n, me, cx.cfg.batch_size));
        for (dst, end) in this.txs.into_iter().enumerate() {
            if let Some(end) = end {
                let ob = outbox.clone();
                cx.connects.push(Box::pin(async move {
                    let tx = end.connect().await;
                    ob.lanes[dst]
                        .tx
                        .set(tx)
                        .map_err(|_| SpateError::Internal("exchange lane connected twice".into()))
                }));
            }
        }
        for (src, end) in this.rxs.into_iter().enumerate() {
            if let Some(end) = end {
                let slot: Rc<OnceCell<Rx<Msg<T>>>> = Rc::new(OnceCell::new());
                let s = slot.clone();
                cx.connects.push(Box::pin(async move {
                    let _ = s.set(end.connect().await);
                    Ok(())
                }));
                let port = Port::<_, T>::new(merge.clone(), src, node);
                let reach = cx.down_reach.clone();
                cx.drive(receive(slot, port, merge.clone(), (src, node), reach, me));
            }
        }
        cx.own_outbox = Some(outbox.clone() as Rc<dyn Flush>);
        let send = ExchangeSend {
            part: this.part,
            outbox,
            local: Box::new(Port::<_, T>::new(merge, me, node)),
            me,
        };
        Ok(Box::new(SendSide(Some(Box::new(send) as Box<dyn Push<T>>))))
    }
}

/// Runs one inbound channel into the merge until the peer ends.
///
/// With aligned checkpoints, a channel that delivered a barrier is not read until the
/// barrier is forwarded. With unaligned checkpoints, while the merge waits for this channel's barrier of the
/// pending epoch, each turn first takes what the channel already holds up to that barrier
/// (without waiting for the operators behind the merge: the barrier overtakes the queued
/// records), records it as in-flight data and counts the barrier; the records then go on,
/// in order, one message per turn.
async fn receive<T: Clone + Send + 'static>(
    slot: Rc<OnceCell<Rx<Msg<T>>>>,
    mut port: Port<Merge<T>, T>,
    merge: Rc<RefCell<Merge<T>>>,
    (src, node): (usize, usize),
    reach: Vec<Rc<dyn Flush>>,
    me: usize,
) -> Result<()> {
    let rx = slot
        .get()
        .ok_or_else(|| SpateError::Internal("receiver driven before connect".into()))?;
    let unaligned = merge.borrow().unaligned();
    // Messages taken ahead, with the epoch their records were recorded for.
    let mut ahead: VecDeque<(Msg<T>, u64)> = VecDeque::new();
    loop {
        if unaligned && merge.borrow().overtaking(src) {
            take_ahead(rx, &merge, src, &mut ahead);
        }
        let (msg, recorded) = match ahead.pop_front() {
            Some(m) => m,
            None => {
                unblocked(&merge, src).await;
                match rx.recv().await {
                    None => return Err(SpateError::PeerFailed { shard: me }),
                    Some(m) => (m, u64::MAX),
                }
            }
        };
        match msg {
            Msg::Data(mut b) if recorded != u64::MAX => {
                let _g = OperatorGuard::enter(node);
                merge.borrow_mut().pass(src, &mut b, recorded)?
            }
            Msg::Data(mut b) => port.push(&mut b)?,
            Msg::Watermark(w) => port.watermark(w)?,
            Msg::Idle(i) => port.idle(i)?,
            Msg::Barrier(e) => port.barrier(e)?,
            Msg::End => {
                port.end()?;
                return flush_all(&reach, false).await;
            }
        }
        flush_all(&reach, false).await?;
        // Under back-pressure the channel is never empty and every await above is ready:
        // without this the receiver keeps the thread, and the shard's source (which sends
        // the barriers) and checkpoint writes wait until the channel drains.
        crate::runtime::task::yield_if_needed().await;
    }
}

/// Waits while input `src` is blocked at a barrier (aligned checkpoints): the channel is
/// not read meanwhile, so the sender feels back-pressure instead of the merge holding an
/// unbounded queue (bounded alignment).
async fn unblocked<T: Clone>(merge: &RefCell<Merge<T>>, src: usize) {
    std::future::poll_fn(|cx| {
        let mut m = merge.borrow_mut();
        if m.input_blocked(src) {
            m.park(cx.waker());
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await
}

/// Takes what channel `src` holds now, up to its next barrier or end, recording its
/// records as in-flight data and counting the barrier.
fn take_ahead<T: Clone + Send + 'static>(
    rx: &Rx<Msg<T>>,
    merge: &RefCell<Merge<T>>,
    src: usize,
    ahead: &mut VecDeque<(Msg<T>, u64)>,
) {
    while let Some(m) = rx.try_recv() {
        let mut mg = merge.borrow_mut();
        let epoch = mg.recording_epoch();
        let stop = match &m {
            Msg::Data(b) => {
                mg.record(src, b);
                false
            }
            Msg::Barrier(e) => {
                mg.overtaken_barrier(src, *e);
                true
            }
            Msg::End => true,
            Msg::Watermark(_) | Msg::Idle(_) => false,
        };
        ahead.push_back((m, epoch));
        if stop {
            return;
        }
    }
}

struct SendSide<T>(Option<Box<dyn Push<T>>>);

impl<T: 'static> Wired for SendSide<T> {
    fn input(&mut self, _input: usize) -> Box<dyn Any> {
        match self.0.take() {
            Some(p) => Box::new(p),
            None => Box::new(()),
        }
    }
}

struct ExchangeSend<T: Send + 'static, P> {
    part: P,
    outbox: Rc<Outbox<T>>,
    local: Box<dyn Push<T>>,
    me: usize,
}

impl<T: Clone + Send + 'static, P: Partition<T>> Push<T> for ExchangeSend<T, P> {
    fn push(&mut self, batch: &mut Batch<T>) -> Result<()> {
        if self.outbox.lanes.len() == 1 {
            // One shard: every record stays here, no routing to do.
            return self.local.push(batch);
        }
        // Records for this shard go straight on; the others wait in their lane until it
        // holds a full batch (or the driver's step ends with nothing more coming).
        let mut local = {
            let mut staged = self.outbox.staged.borrow_mut();
            self.part.partition(batch, &mut staged);
            std::mem::take(&mut staged[self.me])
        };
        self.outbox.send_full_lanes();
        let r = if local.is_empty() {
            Ok(())
        } else {
            self.local.push(&mut local)
        };
        local.clear();
        let mut staged = self.outbox.staged.borrow_mut();
        if staged[self.me].capacity() < local.capacity() {
            staged[self.me] = local; // hand the buffer back for reuse
        }
        r
    }

    fn watermark(&mut self, wm: Timestamp) -> Result<()> {
        self.broadcast(|| Msg::Watermark(wm));
        self.local.watermark(wm)
    }

    fn idle(&mut self, idle: bool) -> Result<()> {
        self.broadcast(|| Msg::Idle(idle));
        self.local.idle(idle)
    }

    fn barrier(&mut self, epoch: u64) -> Result<()> {
        self.broadcast(|| Msg::Barrier(epoch));
        self.local.barrier(epoch)
    }

    fn end(&mut self) -> Result<()> {
        self.broadcast(|| Msg::End);
        self.local.end()
    }
}

impl<T: Send + 'static, P> ExchangeSend<T, P> {
    /// Sends held-back records, then `msg`, to every peer: control messages stay behind the
    /// data that preceded them.
    fn broadcast(&self, msg: impl Fn() -> Msg<T>) {
        self.outbox.send_staged();
        for dst in (0..self.outbox.lanes.len()).filter(|d| *d != self.me) {
            self.outbox.send(dst, msg());
        }
    }
}
