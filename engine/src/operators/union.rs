//! `union` and the receiving side of exchanges: several inputs of one type merged into one
//! stream, with watermark = minimum over live inputs, end once all inputs ended, and a
//! barrier forwarded once every live input delivered it.

use super::{Batch, OnInput, Output};
use crate::error::Result;
use crate::time::{Frontier, Timestamp};

/// Merges `n` inputs.
pub(crate) struct Merge<T> {
    out: Output<T>,
    frontier: Frontier,
    barriers: Vec<u64>,
    forwarded_barrier: u64,
}

impl<T: Clone> Merge<T> {
    /// A merge of `live.len()` inputs; inputs that cannot emit anything start idle.
    pub(crate) fn new(live: &[bool], out: Output<T>) -> Self {
        let mut frontier = Frontier::new(live.len());
        for (i, l) in live.iter().enumerate() {
            if !l {
                frontier.set_idle(i, true);
            }
        }
        Merge {
            out,
            frontier,
            // An input that can emit nothing never delivers a barrier: it holds none back.
            barriers: live.iter().map(|l| if *l { 0 } else { u64::MAX }).collect(),
            forwarded_barrier: 0,
        }
    }
}

impl<T: Clone> OnInput<T> for Merge<T> {
    #[inline]
    fn on_batch(&mut self, _input: usize, batch: &mut Batch<T>) -> Result<()> {
        self.out.give_batch(batch)
    }

    fn on_watermark(&mut self, input: usize, wm: Timestamp) -> Result<()> {
        let w = self.frontier.advance(input, wm);
        self.out.progress(w, self.frontier.idle_change())
    }

    fn on_idle(&mut self, input: usize, idle: bool) -> Result<()> {
        let w = self.frontier.set_idle(input, idle);
        self.out.progress(w, self.frontier.idle_change())
    }

    fn on_barrier(&mut self, input: usize, epoch: u64) -> Result<()> {
        self.barriers[input] = self.barriers[input].max(epoch);
        let min = self.barriers.iter().copied().min().unwrap_or(epoch);
        if min > self.forwarded_barrier {
            self.forwarded_barrier = min;
            self.out.barrier(min)?;
        }
        Ok(())
    }

    fn on_end(&mut self, input: usize) -> Result<()> {
        // An ended input no longer holds barriers back.
        self.barriers[input] = u64::MAX;
        let w = self.frontier.end(input);
        self.out.progress(w, self.frontier.idle_change())?;
        if self.frontier.all_ended() {
            self.out.end()?;
        }
        Ok(())
    }
}

/// Makes per-shard `Merge` instances for a `union` of `inputs` streams.
pub(crate) struct MergeFactory<T> {
    inputs: usize,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T> MergeFactory<T> {
    pub(crate) fn new(inputs: usize) -> Self {
        MergeFactory {
            inputs,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Clone + Send + 'static> crate::graph::NodeFactory for MergeFactory<T> {
    fn instantiate(
        &mut self,
        cx: &crate::graph::Instantiate<'_>,
    ) -> Result<Box<dyn crate::graph::ShardNode>> {
        Ok(Box::new(MergeShard::<T> {
            live: (0..self.inputs).map(|k| cx.input_live(k)).collect(),
            _t: std::marker::PhantomData,
        }))
    }
}

struct MergeShard<T> {
    live: Vec<bool>,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Clone + Send + 'static> crate::graph::ShardNode for MergeShard<T> {
    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn std::any::Any>>>,
        cx: &mut crate::graph::ShardBuild,
    ) -> Result<Box<dyn crate::graph::Wired>> {
        let out = cx.output::<T>(std::mem::take(&mut outputs[0]))?;
        let op = std::rc::Rc::new(std::cell::RefCell::new(Merge::new(&self.live, out)));
        Ok(Box::new(super::unary::OpWired {
            op,
            node: cx.node,
            _t: std::marker::PhantomData::<fn(T)>,
        }))
    }
}
