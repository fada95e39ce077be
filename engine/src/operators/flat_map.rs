//! `flat_map`: any number of output records per input record.

use std::marker::PhantomData;

use super::unary::{Unary, UnaryCx};
use super::Batch;
use crate::error::Result;

/// Emits every item of the iterator `f` returns, with the input record's timestamp.
pub(crate) struct FlatMap<F, I, R> {
    pub(crate) f: F,
    pub(crate) _t: PhantomData<fn(I) -> R>,
}

impl<F: Clone, I, R> Clone for FlatMap<F, I, R> {
    fn clone(&self) -> Self {
        FlatMap {
            f: self.f.clone(),
            _t: PhantomData,
        }
    }
}

impl<F, I, R> Unary for FlatMap<F, I, R>
where
    F: FnMut(I) -> R + Clone + Send + 'static,
    R: IntoIterator + 'static,
    R::Item: Clone + 'static,
    I: Clone + 'static,
{
    type In = I;
    type Out = R::Item;

    /// Takes part in checkpoints without state (a flat_map holds no state).
    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        Ok(false)
    }

    #[inline]
    fn on_batch(&mut self, batch: &mut Batch<I>, cx: &mut UnaryCx<'_, R::Item>) -> Result<()> {
        for (ts, v) in batch.drain(..) {
            for o in (self.f)(v) {
                cx.out.give(ts, o);
            }
        }
        Ok(())
    }
}
