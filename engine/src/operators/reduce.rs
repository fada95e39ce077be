//! Keyed `reduce` (and `sum`/`min`/`max`/`min_by`/`max_by` built on it): a running
//! aggregate per key, emitted after every record as Flink's keyed reduce does.

use std::hash::Hash;
use std::marker::PhantomData;

use super::unary::{Unary, UnaryCx};
use super::Batch;
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::registry::RestoreView;
use crate::checkpoint::types::Codec;
use crate::checkpoint::{DecodeError, StateData, StateWriter};
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
    /// Codecs of the key and value types, found in `Env::state_type` registrations.
    pub(crate) codecs: Option<(Codec<K>, Codec<T>)>,
    /// The snapshot whose accumulators are still being copied (copy-on-write).
    pub(crate) staged: Option<SnapshotBuilder>,
    pub(crate) _t: PhantomData<fn(T)>,
}

impl<F: Clone, KF: Clone, K: Hash + Eq + Clone, T> Clone for Reduce<F, KF, K, T> {
    fn clone(&self) -> Self {
        Reduce {
            f: self.f.clone(),
            key_fn: self.key_fn.clone(),
            state: ValueState::new(),
            codecs: self.codecs.clone(),
            staged: None,
            _t: PhantomData,
        }
    }
}

const REDUCE_STATE: &str = "spate/reduce";

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

    fn prepare(&mut self, cfg: &crate::graph::JobConfig) -> Result<()> {
        if cfg.checkpoint.is_some() {
            self.codecs = cfg.state_types.get::<K>().zip(cfg.state_types.get::<T>());
        }
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        match self.codecs {
            Some(_) => Ok(true),
            None => Err(format!(
                "register its key type `{}` and value type `{}` with Env::state_type",
                std::any::type_name::<K>(),
                std::any::type_name::<T>()
            )),
        }
    }

    fn snapshot(&mut self, b: &mut SnapshotBuilder) -> std::result::Result<(), String> {
        let (k, v) = self.codecs.as_ref().ok_or("no codecs")?;
        let mut w = StateWriter::new(b.max_parallelism());
        self.state.snapshot_with(&mut w, k.encode, |acc, o| {
            acc.as_ref().encode_with(o, v.encode)
        });
        b.add(REDUCE_STATE, w);
        Ok(())
    }

    /// Freezes the key list; the accumulators are copied on write (each before its key's
    /// next record) and in steps.
    fn begin_snapshot(
        &mut self,
        b: SnapshotBuilder,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        let (k, v) = self.codecs.as_ref().ok_or("no codecs")?;
        let v = v.encode;
        let fresh = self
            .state
            .begin_copy_with(b.max_parallelism(), 0, k.encode, move |acc, o| {
                acc.as_ref().encode_with(o, v)
            });
        if !fresh {
            return Err("a snapshot began while the previous one was in progress".into());
        }
        self.staged = Some(b);
        Ok(None)
    }

    fn snapshot_step(
        &mut self,
        budget: usize,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        let mut budget = budget;
        let Some(w) = self.state.copy_step(&mut budget)? else {
            return Ok(None);
        };
        let mut b = self.staged.take().ok_or("no snapshot in progress")?;
        b.add(REDUCE_STATE, w);
        Ok(Some(b))
    }

    fn snapshots_in_steps(&self) -> bool {
        true
    }

    fn restore(&mut self, view: &RestoreView) -> std::result::Result<(), String> {
        let (k, v) = self.codecs.as_ref().ok_or("no codecs")?;
        for e in view.sections.get(REDUCE_STATE).into_iter().flatten() {
            self.state
                .restore_with(e, k.decode, |r| decode_option(r, v.decode))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// `Option<T>` as the `StateData` of `Option` writes it, with `T`'s codec.
trait EncodeWith<T> {
    fn encode_with(self, o: &mut Vec<u8>, enc: fn(&T, &mut Vec<u8>));
}

impl<T> EncodeWith<T> for Option<&T> {
    fn encode_with(self, o: &mut Vec<u8>, enc: fn(&T, &mut Vec<u8>)) {
        match self {
            None => o.push(0),
            Some(x) => {
                o.push(1);
                enc(x, o);
            }
        }
    }
}

fn decode_option<T>(
    r: &mut &[u8],
    dec: fn(&mut &[u8]) -> std::result::Result<T, DecodeError>,
) -> std::result::Result<Option<T>, DecodeError> {
    match bool::decode(r)? {
        false => Ok(None),
        true => Ok(Some(dec(r)?)),
    }
}
