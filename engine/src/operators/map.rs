//! `map`: one output record per input record.

use std::marker::PhantomData;

use super::unary::{Unary, UnaryCx};
use super::Batch;
use crate::error::Result;

/// Applies `f` to every record, keeping its timestamp.
pub(crate) struct Map<F, I, O> {
    pub(crate) f: F,
    pub(crate) _t: PhantomData<fn(I) -> O>,
}

impl<F: Clone, I, O> Clone for Map<F, I, O> {
    fn clone(&self) -> Self {
        Map {
            f: self.f.clone(),
            _t: PhantomData,
        }
    }
}

impl<F, I, O> Unary for Map<F, I, O>
where
    F: FnMut(I) -> O + Clone + Send + 'static,
    I: Clone + 'static,
    O: Clone + 'static,
{
    type In = I;
    type Out = O;

    /// Takes part in checkpoints without state (a map holds no state).
    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        Ok(false)
    }

    #[inline]
    fn on_batch(&mut self, batch: &mut Batch<I>, cx: &mut UnaryCx<'_, O>) -> Result<()> {
        for (ts, v) in batch.drain(..) {
            cx.out.give(ts, (self.f)(v));
        }
        Ok(())
    }
}
