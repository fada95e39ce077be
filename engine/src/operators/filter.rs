//! `filter`: keeps the records a predicate accepts.

use std::marker::PhantomData;

use super::unary::{Unary, UnaryCx};
use super::Batch;
use crate::error::Result;

/// Keeps records for which `f` returns `true`; the batch is filtered in place.
pub(crate) struct Filter<F, T> {
    pub(crate) f: F,
    pub(crate) _t: PhantomData<fn(T)>,
}

impl<F: Clone, T> Clone for Filter<F, T> {
    fn clone(&self) -> Self {
        Filter {
            f: self.f.clone(),
            _t: PhantomData,
        }
    }
}

impl<F, T> Unary for Filter<F, T>
where
    F: FnMut(&T) -> bool + Clone + Send + 'static,
    T: Clone + 'static,
{
    type In = T;
    type Out = T;

    /// Takes part in checkpoints without state (a filter holds no state).
    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        Ok(false)
    }

    #[inline]
    fn on_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, T>) -> Result<()> {
        let f = &mut self.f;
        batch.retain(|(_, v)| f(v));
        cx.out.give_batch(batch)
    }
}
