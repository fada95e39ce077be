//! What a window computes: reduce, aggregate, process, and the contents each keeps.

use std::marker::PhantomData;

use super::evictor::Evictor;
use super::snapshot::{need, DynCodec};
use super::types::Window;
use crate::checkpoint::types::StateTypes;
use crate::error::UserError;
use crate::operators::{Output, OutputTag, SideOutputs};
use crate::time::Timestamp;

/// An incremental aggregation (Flink's `AggregateFunction`): an accumulator per window,
/// updated per element, merged when session windows merge, turned into a result on firing.
///
/// # Examples
///
/// ```
/// use spate::window::AggregateFunction;
/// /// The mean of the values.
/// #[derive(Clone)]
/// struct Mean;
/// impl AggregateFunction<f64, f64> for Mean {
///     type Acc = (f64, u64);
///     fn create_accumulator(&self) -> (f64, u64) { (0.0, 0) }
///     fn add(&self, v: f64, acc: &mut (f64, u64)) { acc.0 += v; acc.1 += 1; }
///     fn get_result(&self, acc: &(f64, u64)) -> f64 { acc.0 / acc.1 as f64 }
///     fn merge(&self, a: &mut (f64, u64), b: (f64, u64)) { a.0 += b.0; a.1 += b.1; }
/// }
/// let mut acc = Mean.create_accumulator();
/// Mean.add(1.0, &mut acc);
/// Mean.add(2.0, &mut acc);
/// assert_eq!(Mean.get_result(&acc), 1.5);
/// ```
pub trait AggregateFunction<T, O>: Clone + Send + 'static {
    /// The accumulator. `Clone`, because sliding windows keep one per slice and merge
    /// copies of them into each window's result.
    type Acc: Clone + Send + 'static;
    /// A fresh accumulator.
    fn create_accumulator(&self) -> Self::Acc;
    /// Folds one element in.
    fn add(&self, value: T, acc: &mut Self::Acc);
    /// The result for the accumulator so far.
    fn get_result(&self, acc: &Self::Acc) -> O;
    /// Folds `other` into `acc` (session windows merging).
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
}

/// What a [`ProcessWindowFunction`] can see and do for one firing window.
pub struct WindowContext<'a, W, O> {
    pub(crate) window: &'a W,
    pub(crate) watermark: Timestamp,
    pub(crate) now: Timestamp,
    pub(crate) out: &'a mut Output<O>,
    pub(crate) sides: &'a mut SideOutputs,
}

impl<W: Window, O: Clone> WindowContext<'_, W, O> {
    /// The firing window.
    pub fn window(&self) -> &W {
        self.window
    }
    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }
    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.now
    }
    /// Emits a result, timestamped with the window's last millisecond.
    #[inline]
    pub fn collect(&mut self, value: O) {
        self.out.give(self.window.max_timestamp(), value);
    }
    /// Emits to a side output, timestamped with the window's last millisecond.
    pub fn output<X: Clone + 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.sides.give(tag, self.window.max_timestamp(), value);
    }
}

/// A function over all elements of a firing window (Flink's `ProcessWindowFunction`).
/// Closures `FnMut(&K, &[T], &mut WindowContext<W, O>) -> Result<(), UserError>` implement it.
pub trait ProcessWindowFunction<K, T, O, W>: Clone + Send + 'static {
    /// Called when a window fires, with its elements in arrival order.
    fn process(
        &mut self,
        key: &K,
        elements: &[T],
        ctx: &mut WindowContext<'_, W, O>,
    ) -> Result<(), UserError>;
}

impl<K, T, O, W, F> ProcessWindowFunction<K, T, O, W> for F
where
    F: FnMut(&K, &[T], &mut WindowContext<'_, W, O>) -> Result<(), UserError>
        + Clone
        + Send
        + 'static,
{
    fn process(
        &mut self,
        key: &K,
        elements: &[T],
        ctx: &mut WindowContext<'_, W, O>,
    ) -> Result<(), UserError> {
        self(key, elements, ctx)
    }
}

/// How a window keeps its contents and turns them into output (internal: reduce,
/// aggregate, process, aggregate + process, and any of them behind an evictor).
pub(crate) trait Contents<K, T, W, O>: Clone + Send + 'static {
    type Acc: Send + 'static;
    fn create(&mut self) -> Self::Acc;
    /// State entries `acc` holds, for the state gauge: elements of a buffer, 1 for an
    /// accumulator.
    fn size(&self, _acc: &Self::Acc) -> usize {
        1
    }
    fn add(&mut self, acc: &mut Self::Acc, ts: Timestamp, value: T);
    fn merge(&mut self, into: &mut Self::Acc, from: Self::Acc);
    fn emit(
        &mut self,
        key: &K,
        acc: &mut Self::Acc,
        cx: &mut WindowContext<'_, W, O>,
    ) -> Result<(), UserError>;
    /// The codec of the contents for checkpoints, from the types registered with
    /// `Env::state_type`; `Err` names the type to register. The default refuses (contents
    /// built elsewhere, e.g. a window co-group, that do not snapshot yet).
    fn acc_codec(&self, _types: &StateTypes) -> Result<DynCodec<Self::Acc>, String> {
        Err("its window contents cannot be snapshotted yet".into())
    }
}

/// `reduce`: the first element, then `f(acc, element)`.
#[derive(Clone)]
pub(crate) struct ReduceContents<F>(pub(crate) F);

impl<K, T, W, F> Contents<K, T, W, T> for ReduceContents<F>
where
    T: Clone + Send + 'static,
    W: Window,
    F: FnMut(T, T) -> T + Clone + Send + 'static,
{
    type Acc = Option<T>;
    fn create(&mut self) -> Option<T> {
        None
    }
    fn size(&self, acc: &Option<T>) -> usize {
        usize::from(acc.is_some())
    }
    #[inline]
    fn add(&mut self, acc: &mut Option<T>, _ts: Timestamp, value: T) {
        *acc = Some(match acc.take() {
            Some(a) => (self.0)(a, value),
            None => value,
        });
    }
    fn merge(&mut self, into: &mut Option<T>, from: Option<T>) {
        if let Some(v) = from {
            *into = Some(match into.take() {
                Some(a) => (self.0)(a, v),
                None => v,
            });
        }
    }
    fn emit(
        &mut self,
        _key: &K,
        acc: &mut Option<T>,
        cx: &mut WindowContext<'_, W, T>,
    ) -> Result<(), UserError> {
        if let Some(v) = acc {
            cx.collect(v.clone());
        }
        Ok(())
    }
    fn acc_codec(&self, types: &StateTypes) -> Result<DynCodec<Option<T>>, String> {
        Ok(DynCodec::option(need::<T>(types, "element")?))
    }
}

/// `aggregate`: an [`AggregateFunction`]'s accumulator.
#[derive(Clone)]
pub(crate) struct AggregateContents<A>(pub(crate) A);

impl<K, T, W, O, A> Contents<K, T, W, O> for AggregateContents<A>
where
    W: Window,
    O: Clone,
    A: AggregateFunction<T, O>,
{
    type Acc = A::Acc;
    fn create(&mut self) -> A::Acc {
        self.0.create_accumulator()
    }
    #[inline]
    fn add(&mut self, acc: &mut A::Acc, _ts: Timestamp, value: T) {
        self.0.add(value, acc);
    }
    fn merge(&mut self, into: &mut A::Acc, from: A::Acc) {
        self.0.merge(into, from);
    }
    fn emit(
        &mut self,
        _key: &K,
        acc: &mut A::Acc,
        cx: &mut WindowContext<'_, W, O>,
    ) -> Result<(), UserError> {
        cx.collect(self.0.get_result(acc));
        Ok(())
    }
    fn acc_codec(&self, types: &StateTypes) -> Result<DynCodec<A::Acc>, String> {
        Ok(DynCodec::of(need::<A::Acc>(types, "accumulator")?))
    }
}

/// `process`: every element, handed to a [`ProcessWindowFunction`].
#[derive(Clone)]
pub(crate) struct ProcessContents<P>(pub(crate) P);

impl<K, T, W, O, P> Contents<K, T, W, O> for ProcessContents<P>
where
    T: Send + 'static,
    P: ProcessWindowFunction<K, T, O, W>,
{
    type Acc = Vec<T>;
    fn create(&mut self) -> Vec<T> {
        Vec::new()
    }
    fn size(&self, acc: &Vec<T>) -> usize {
        acc.len()
    }
    #[inline]
    fn add(&mut self, acc: &mut Vec<T>, _ts: Timestamp, value: T) {
        acc.push(value);
    }
    fn merge(&mut self, into: &mut Vec<T>, mut from: Vec<T>) {
        into.append(&mut from);
    }
    fn emit(
        &mut self,
        key: &K,
        acc: &mut Vec<T>,
        cx: &mut WindowContext<'_, W, O>,
    ) -> Result<(), UserError> {
        self.0.process(key, acc, cx)
    }
    fn acc_codec(&self, types: &StateTypes) -> Result<DynCodec<Vec<T>>, String> {
        Ok(DynCodec::vec(need::<T>(types, "element")?))
    }
}

/// `aggregate` then `process`: the function sees the one aggregated result.
#[derive(Clone)]
pub(crate) struct AggregateProcessContents<A, P, R> {
    pub(crate) agg: A,
    pub(crate) process: P,
    pub(crate) _r: PhantomData<fn() -> R>,
}

impl<K, T, W, O, R, A, P> Contents<K, T, W, O> for AggregateProcessContents<A, P, R>
where
    R: Clone + 'static,
    A: AggregateFunction<T, R>,
    P: ProcessWindowFunction<K, R, O, W>,
{
    type Acc = A::Acc;
    fn create(&mut self) -> A::Acc {
        self.agg.create_accumulator()
    }
    #[inline]
    fn add(&mut self, acc: &mut A::Acc, _ts: Timestamp, value: T) {
        self.agg.add(value, acc);
    }
    fn merge(&mut self, into: &mut A::Acc, from: A::Acc) {
        self.agg.merge(into, from);
    }
    fn emit(
        &mut self,
        key: &K,
        acc: &mut A::Acc,
        cx: &mut WindowContext<'_, W, O>,
    ) -> Result<(), UserError> {
        let r = [self.agg.get_result(acc)];
        self.process.process(key, &r, cx)
    }
    fn acc_codec(&self, types: &StateTypes) -> Result<DynCodec<A::Acc>, String> {
        Ok(DynCodec::of(need::<A::Acc>(types, "accumulator")?))
    }
}

/// Any contents behind an evictor: the window buffers its elements with timestamps, and on
/// firing evicts, runs the inner function over what is left, and evicts again.
#[derive(Clone)]
pub(crate) struct EvictingContents<E, C> {
    pub(crate) evictor: E,
    pub(crate) inner: C,
}

impl<K, T, W, O, E, C> Contents<K, T, W, O> for EvictingContents<E, C>
where
    T: Clone + Send + 'static,
    E: Evictor<T>,
    C: Contents<K, T, W, O>,
{
    type Acc = Vec<(Timestamp, T)>;
    fn create(&mut self) -> Self::Acc {
        Vec::new()
    }
    fn size(&self, acc: &Self::Acc) -> usize {
        acc.len()
    }
    #[inline]
    fn add(&mut self, acc: &mut Self::Acc, ts: Timestamp, value: T) {
        acc.push((ts, value));
    }
    fn merge(&mut self, into: &mut Self::Acc, mut from: Self::Acc) {
        into.append(&mut from);
    }
    fn emit(
        &mut self,
        key: &K,
        acc: &mut Self::Acc,
        cx: &mut WindowContext<'_, W, O>,
    ) -> Result<(), UserError> {
        self.evictor.evict_before(acc);
        let mut inner = self.inner.create();
        for (ts, v) in acc.iter() {
            self.inner.add(&mut inner, *ts, v.clone());
        }
        self.inner.emit(key, &mut inner, cx)?;
        self.evictor.evict_after(acc);
        Ok(())
    }
    fn acc_codec(&self, types: &StateTypes) -> Result<DynCodec<Self::Acc>, String> {
        Ok(DynCodec::timestamped_vec(need::<T>(types, "element")?))
    }
}

/// Counts elements: `aggregate(Count)` emits a `u64` per window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

impl<T> AggregateFunction<T, u64> for Count {
    type Acc = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    #[inline]
    fn add(&self, _v: T, acc: &mut u64) {
        *acc += 1;
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
}

/// The mean of `f(element)`: `aggregate(Avg(|t| t.price as f64))`.
#[derive(Debug, Clone, Copy)]
pub struct Avg<F>(pub F);

impl<T, F: Fn(&T) -> f64 + Clone + Send + 'static> AggregateFunction<T, f64> for Avg<F> {
    type Acc = (f64, u64);
    fn create_accumulator(&self) -> (f64, u64) {
        (0.0, 0)
    }
    #[inline]
    fn add(&self, v: T, acc: &mut (f64, u64)) {
        acc.0 += (self.0)(&v);
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(f64, u64)) -> f64 {
        if acc.1 == 0 {
            f64::NAN
        } else {
            acc.0 / acc.1 as f64
        }
    }
    fn merge(&self, acc: &mut (f64, u64), other: (f64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
}
