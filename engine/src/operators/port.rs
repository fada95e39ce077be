//! Input ports: how an upstream reaches one input of an operator instance, and which
//! operator is running (for naming the culprit of a panic).

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use super::{Batch, Push};
use crate::error::Result;
use crate::time::Timestamp;

/// One input of an operator. `M` tells inputs of the same type apart (two-input operators).
pub(crate) trait OnInput<T, M = ()> {
    fn on_batch(&mut self, input: usize, batch: &mut Batch<T>) -> Result<()>;
    fn on_watermark(&mut self, input: usize, wm: Timestamp) -> Result<()>;
    fn on_idle(&mut self, input: usize, idle: bool) -> Result<()>;
    fn on_barrier(&mut self, input: usize, epoch: u64) -> Result<()>;
    fn on_end(&mut self, input: usize) -> Result<()>;
}

/// A [`Push`] into input `input` of the shared operator `op`.
pub(crate) struct Port<O, T, M = ()> {
    op: Rc<RefCell<O>>,
    input: usize,
    node: usize,
    _t: PhantomData<fn(T, M)>,
}

impl<O, T, M> Port<O, T, M> {
    pub(crate) fn new(op: Rc<RefCell<O>>, input: usize, node: usize) -> Self {
        Port {
            op,
            input,
            node,
            _t: PhantomData,
        }
    }
}

impl<O: OnInput<T, M>, T, M> Push<T> for Port<O, T, M> {
    #[inline]
    fn push(&mut self, batch: &mut Batch<T>) -> Result<()> {
        let _g = OperatorGuard::enter(self.node);
        self.op.borrow_mut().on_batch(self.input, batch)
    }
    fn watermark(&mut self, wm: Timestamp) -> Result<()> {
        let _g = OperatorGuard::enter(self.node);
        self.op.borrow_mut().on_watermark(self.input, wm)
    }
    fn idle(&mut self, idle: bool) -> Result<()> {
        let _g = OperatorGuard::enter(self.node);
        self.op.borrow_mut().on_idle(self.input, idle)
    }
    fn barrier(&mut self, epoch: u64) -> Result<()> {
        let _g = OperatorGuard::enter(self.node);
        self.op.borrow_mut().on_barrier(self.input, epoch)
    }
    fn end(&mut self) -> Result<()> {
        let _g = OperatorGuard::enter(self.node);
        self.op.borrow_mut().on_end(self.input)
    }
}

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Marks node `n` as running for as long as it lives; restores the previous one on drop,
/// except while unwinding, so that a caught panic still names the operator that panicked.
pub(crate) struct OperatorGuard {
    prev: usize,
}

impl OperatorGuard {
    #[inline]
    pub(crate) fn enter(node: usize) -> Self {
        OperatorGuard {
            prev: CURRENT.with(|c| c.replace(node)),
        }
    }
}

impl Drop for OperatorGuard {
    #[inline]
    fn drop(&mut self) {
        if !std::thread::panicking() {
            CURRENT.with(|c| c.set(self.prev));
        }
    }
}

/// The node id of the operator running on this thread (or `usize::MAX`), and resets it.
pub(crate) fn current_operator() -> usize {
    CURRENT.with(|c| c.replace(usize::MAX))
}
