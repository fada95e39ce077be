//! Keyed `reduce` (and `sum`/`min`/`max`/`min_by`/`max_by` built on it): a running
//! aggregate per key, emitted after every record as Flink's keyed reduce does.

use std::hash::Hash;
use std::marker::PhantomData;

use super::unary::{Unary, UnaryCx};
use super::Batch;
use crate::error::Result;
use crate::state::{hash_key, KeyScope, ValueState};
use crate::time::Timestamp;

pub(crate) struct KeyRef<'a, K> {
    pub(crate) key: &'a K,
    pub(crate) hash: u64,
}

impl<K> KeyScope<K> for KeyRef<'_, K> {
    fn key(&self) -> &K {
        self.key
    }
    fn key_hash(&self) -> u64 {
        self.hash
    }
    fn now(&self) -> Timestamp {
        0
    }
}

/// Folds every record into its key's accumulator with `f(acc, record)` and emits the new
/// accumulator with the record's timestamp.
pub(crate) struct Reduce<F, KF, K, T> {
    pub(crate) f: F,
    pub(crate) key_fn: KF,
    pub(crate) state: ValueState<K, Option<T>>,
    pub(crate) _t: PhantomData<fn(T)>,
}

impl<F: Clone, KF: Clone, K: Hash + Eq + Clone, T> Clone for Reduce<F, KF, K, T> {
    fn clone(&self) -> Self {
        Reduce {
            f: self.f.clone(),
            key_fn: self.key_fn.clone(),
            state: ValueState::new(),
            _t: PhantomData,
        }
    }
}

impl<F, KF, K, T> Unary for Reduce<F, KF, K, T>
where
    F: FnMut(T, T) -> T + Clone + Send + 'static,
    KF: Fn(&T) -> K + Clone + Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    T: Clone + Send + 'static,
{
    type In = T;
    type Out = T;

    fn on_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, T>) -> Result<()> {
        for (ts, v) in batch.drain(..) {
            let key = (self.key_fn)(&v);
            let scope = KeyRef {
                hash: hash_key(&key),
                key: &key,
            };
            let acc = match self.state.value_mut(&scope) {
                Some(slot) => {
                    let acc = match slot.take() {
                        Some(acc) => (self.f)(acc, v),
                        None => v,
                    };
                    *slot = Some(acc.clone());
                    acc
                }
                None => {
                    self.state.update(&scope, Some(v.clone()));
                    v
                }
            };
            cx.out.give(ts, acc);
        }
        Ok(())
    }
}
