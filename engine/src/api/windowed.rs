//! `WindowedStream`: a keyed stream cut into windows, and what to compute per window.

use std::any::{Any, TypeId};
use std::marker::PhantomData;
use std::ops::AddAssign;

use super::keyed::KeyedStream;
use super::stream::DataStream;
use super::{fields, op_name, Data, Key};
use crate::operators::OutputTag;
use crate::window::operator::WindowOp;
use crate::window::sliced::{SlicedWindowOp, Slicing};
use crate::window::{
    AggregateContents, AggregateFunction, AggregateProcessContents, Contents, CountEvictor,
    CountTrigger, EventTimeTrigger, EvictingContents, Evictor, GlobalWindows, ProcessContents,
    ProcessWindowFunction, PurgingTrigger, ReduceContents, SlidingWindows, TimeTrigger, Trigger,
    TumblingWindows, WindowAssigner,
};

/// No evictor (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvictor;

/// An evictor set with [`WindowedStream::evictor`].
#[derive(Debug, Clone, Copy)]
pub struct WithEvictor<E>(pub(crate) E);

/// A keyed stream cut into windows (Flink's `WindowedStream`). Configure the trigger,
/// evictor, allowed lateness and late-data side output, then say what to compute per window.
///
/// With checkpoints, a window operator snapshots each key's window contents, trigger state,
/// merged (session) windows and timers, and restores them on any shard count. It finds how
/// to write them by type, as the keyed aggregations do: register with
/// [`Env::state_type`](crate::Env::state_type) the key type and the element type (`reduce`,
/// `process`, evictors) or the accumulator type (`aggregate`); the window types, the
/// built-in triggers' state and `u64`/`i64`/`()` are known. A job missing one refuses to
/// start, naming the types; a custom trigger's `State` is registered the same way.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate::window::{TimeWindow, TumblingWindows, WindowContext};
/// use std::time::Duration;
/// let dir = std::env::temp_dir().join(format!("spate-doc-winchk-{}", std::process::id()));
/// let env = Env::new()
///     .shards(2)
///     .checkpointing(&dir, Duration::from_millis(50))
///     .state_type::<String>() // the key
///     .state_type::<(String, i64)>(); // the elements `process` buffers
/// let out = env
///     .from_iter(vec![("a".to_string(), 1i64), ("b".into(), 2), ("a".into(), 12)])
///     .assign_timestamps_and_watermarks(
///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &(String, i64)| r.1),
///     )
///     .key_by(|r: &(String, i64)| r.0.clone())
///     .window(TumblingWindows::of(10))
///     .process(|k: &String, els: &[(String, i64)], cx: &mut WindowContext<'_, TimeWindow, String>| {
///         let start = cx.window().start;
///         cx.collect(format!("{k}@{start}: {}", els.len()));
///         Ok(())
///     })
///     .collect();
/// env.execute().unwrap();
/// assert_eq!(out.sorted(), vec!["a@0: 1", "a@10: 1", "b@0: 1"]);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct WindowedStream<K, T, F, A, Tr, E = NoEvictor> {
    keyed: KeyedStream<K, T, F>,
    assigner: A,
    trigger: Tr,
    evictor: E,
    lateness: i64,
    late_tag: Option<OutputTag<T>>,
    slicing: bool,
}

impl<K, T, F> KeyedStream<K, T, F>
where
    K: Key,
    T: Data,
    F: Fn(&T) -> K + Clone + Send + 'static,
{
    /// Cuts the stream into the windows `assigner` gives each element; they fire with the
    /// assigner's default trigger (event time: when the watermark reaches the window's end).
    ///
    /// # Examples
    ///
    /// Per-key sums over 10 ms tumbling windows of event time:
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::window::TumblingWindows;
    /// let env = Env::new().shards(2);
    /// let sums = env
    ///     .from_iter(vec![("a", 1i64, 5i64), ("a", 4, 1), ("b", 7, 2), ("a", 12, 10)])
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &(&str, i64, i64)| r.1),
    ///     )
    ///     .key_by(|r| r.0)
    ///     .window(TumblingWindows::of(10))
    ///     .sum(|r| &mut r.2)
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(sums.sorted(), vec![("a", 1, 6), ("a", 12, 10), ("b", 7, 2)]);
    /// ```
    pub fn window<A: WindowAssigner<T>>(
        &self,
        assigner: A,
    ) -> WindowedStream<K, T, F, A, A::DefaultTrigger> {
        WindowedStream {
            keyed: self.clone(),
            trigger: assigner.default_trigger(),
            assigner,
            evictor: NoEvictor,
            lateness: 0,
            late_tag: None,
            slicing: true,
        }
    }

    /// Tumbling count windows: fire and purge every `size` elements of a key (Flink's
    /// `countWindow(size)`); a last, incomplete window is not emitted.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let out = env.from_iter(1..=7u32).key_by(|_| 0u8).count_window(3).reduce(|a, b| a + b).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![6, 15]);
    /// ```
    pub fn count_window(
        &self,
        size: u64,
    ) -> WindowedStream<K, T, F, GlobalWindows, PurgingTrigger<CountTrigger>> {
        self.window(GlobalWindows)
            .trigger(PurgingTrigger(CountTrigger(size)))
    }

    /// Sliding count windows: every `slide` elements, the last `size` (Flink's
    /// `countWindow(size, slide)`: the first windows hold fewer).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(1);
    /// let out = env.from_iter(1..=6u32).key_by(|_| 0u8).count_window_sliding(3, 2).reduce(|a, b| a + b).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![1 + 2, 2 + 3 + 4, 4 + 5 + 6]);
    /// ```
    pub fn count_window_sliding(
        &self,
        size: u64,
        slide: u64,
    ) -> WindowedStream<K, T, F, GlobalWindows, CountTrigger, WithEvictor<CountEvictor>> {
        self.window(GlobalWindows)
            .trigger(CountTrigger(slide))
            .evictor(CountEvictor::of(size as usize))
    }
}

impl<T: Data> DataStream<T> {
    /// Windows over the whole stream, not per key (Flink's `windowAll`): every element goes
    /// to one shard, as Flink runs `windowAll` with parallelism 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::window::{Count, TumblingWindows};
    /// let env = Env::new().shards(3);
    /// let counts = env
    ///     .generate(Some(100), |s| s as i64)
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::for_bounded_out_of_orderness(100).with_timestamp_assigner(|v: &i64| *v),
    ///     )
    ///     .window_all(TumblingWindows::of(50))
    ///     .aggregate(Count)
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(counts.sorted(), vec![50, 50]);
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn window_all<A: WindowAssigner<T>>(
        &self,
        assigner: A,
    ) -> WindowedStream<(), T, fn(&T) -> (), A, A::DefaultTrigger> {
        let unit: fn(&T) -> () = |_| ();
        self.key_by(unit).window(assigner)
    }
}

impl<K, T, F, A, Tr, E: 'static> WindowedStream<K, T, F, A, Tr, E>
where
    K: Key,
    T: Data,
    F: Fn(&T) -> K + Clone + Send + 'static,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
{
    /// Replaces the trigger.
    pub fn trigger<Tr2: Trigger<T, A::W>>(
        self,
        trigger: Tr2,
    ) -> WindowedStream<K, T, F, A, Tr2, E> {
        WindowedStream {
            keyed: self.keyed,
            assigner: self.assigner,
            trigger,
            evictor: self.evictor,
            lateness: self.lateness,
            late_tag: self.late_tag,
            slicing: self.slicing,
        }
    }

    /// Sets an evictor: windows then keep their elements, and the function runs over what
    /// the evictor leaves.
    pub fn evictor<E2: Evictor<T>>(
        self,
        evictor: E2,
    ) -> WindowedStream<K, T, F, A, Tr, WithEvictor<E2>> {
        WindowedStream {
            keyed: self.keyed,
            assigner: self.assigner,
            trigger: self.trigger,
            evictor: WithEvictor(evictor),
            lateness: self.lateness,
            late_tag: self.late_tag,
            slicing: self.slicing,
        }
    }

    /// Keeps event-time windows `ms` past their end: a late element within that time updates
    /// its window and fires it again; state is dropped when the watermark passes
    /// `end − 1 + ms`.
    pub fn allowed_lateness(mut self, ms: i64) -> Self {
        self.lateness = ms.max(0);
        self
    }

    /// Computes every window on its own even where windows could share slices (event-time
    /// sliding windows with `aggregate`): for an aggregate whose result depends on the order
    /// of its elements, which slicing changes across slices.
    pub fn without_slicing(mut self) -> Self {
        self.slicing = false;
        self
    }

    /// Sends elements dropped as late (every window of theirs already dropped) to the side
    /// output `tag`, unchanged and with their timestamps; read it with `side_output(&tag)` on
    /// the window's result stream.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late_tag = Some(tag.clone());
        self
    }

    /// Whether this window computation runs on slices (`window::sliced`): event-time
    /// tumbling or sliding windows with the default trigger and no evictor.
    fn slicing(&self) -> Option<Slicing> {
        if !self.slicing || TypeId::of::<E>() != TypeId::of::<NoEvictor>() {
            return None;
        }
        let trigger: &dyn Any = &self.trigger;
        let event_time = trigger.is::<EventTimeTrigger>()
            || matches!(
                trigger.downcast_ref::<TimeTrigger>(),
                Some(TimeTrigger::Event(_))
            );
        if !event_time {
            return None;
        }
        let assigner: &dyn Any = &self.assigner;
        if let Some(t) = assigner.downcast_ref::<TumblingWindows>() {
            return t.slicing();
        }
        assigner.downcast_ref::<SlidingWindows>()?.slicing()
    }

    fn build_sliced<O: Data, C>(self, name: String, contents: C, geo: Slicing) -> DataStream<O>
    where
        C: Contents<K, T, A::W, O>,
        C::Acc: Clone,
    {
        let op = SlicedWindowOp::new(
            self.keyed.key.clone(),
            contents,
            geo,
            self.lateness,
            self.late_tag,
        );
        self.keyed.stream.unary(name, op)
    }

    fn build<O: Data, C: Contents<K, T, A::W, O>>(
        self,
        name: String,
        contents: C,
    ) -> DataStream<O> {
        let op = WindowOp::new(
            self.keyed.key.clone(),
            self.assigner,
            self.trigger,
            contents,
            self.lateness,
            self.late_tag,
        );
        self.keyed.stream.unary(name, op)
    }
}

macro_rules! window_functions {
    ($evictor:ty, $this:ident, $contents:ident => $wrap:expr, [$($extra:tt)*]) => {
        impl<K, T, F, A, Tr, $($extra)*> WindowedStream<K, T, F, A, Tr, $evictor>
        where
            K: Key,
            T: Data,
            F: Fn(&T) -> K + Clone + Send + 'static,
            A: WindowAssigner<T>,
            Tr: Trigger<T, A::W>,
        {
            /// Folds each window's elements with `f` (the first element, then `f(acc, e)`)
            /// and emits the result when the window fires.
            #[track_caller]
            pub fn reduce<R: FnMut(T, T) -> T + Clone + Send + 'static>(self, f: R) -> DataStream<T> {
                let name = op_name("window_reduce");
                let $this = self;
                let $contents = ReduceContents(f);
                let c = $wrap;
                $this.build(name, c)
            }

            /// Aggregates each window incrementally with an [`AggregateFunction`].
            #[track_caller]
            pub fn aggregate<O: Data, G: AggregateFunction<T, O>>(self, agg: G) -> DataStream<O> {
                let name = op_name("window_aggregate");
                if let Some(geo) = self.slicing() {
                    return self.build_sliced(name, AggregateContents(agg), geo);
                }
                let $this = self;
                let $contents = AggregateContents(agg);
                let c = $wrap;
                $this.build(name, c)
            }

            /// Runs a [`ProcessWindowFunction`] over all elements of each firing window.
            #[track_caller]
            pub fn process<O: Data, P: ProcessWindowFunction<K, T, O, A::W>>(self, f: P) -> DataStream<O> {
                let name = op_name("window_process");
                let $this = self;
                let $contents = ProcessContents(f);
                let c = $wrap;
                $this.build(name, c)
            }

            /// Aggregates incrementally, then hands the one result to a
            /// [`ProcessWindowFunction`] that also sees the key and window.
            #[track_caller]
            pub fn aggregate_process<R: Data, O: Data, G, P>(self, agg: G, f: P) -> DataStream<O>
            where
                G: AggregateFunction<T, R>,
                P: ProcessWindowFunction<K, R, O, A::W>,
            {
                let name = op_name("window_aggregate_process");
                let contents = AggregateProcessContents { agg, process: f, _r: PhantomData::<fn() -> R> };
                if let Some(geo) = self.slicing() {
                    return self.build_sliced(name, contents, geo);
                }
                let $this = self;
                let $contents = contents;
                let c = $wrap;
                $this.build(name, c)
            }

            /// Sum of a field per window; other fields from the window's first element.
            #[track_caller]
            pub fn sum<N, G>(self, field: G) -> DataStream<T>
            where
                N: AddAssign + Copy,
                G: Fn(&mut T) -> &mut N + Clone + Send + 'static,
            {
                self.reduce(fields::sum(field))
            }

            /// Minimum of a field per window; other fields from the window's first element.
            #[track_caller]
            pub fn min<N: PartialOrd + Copy, G: Fn(&mut T) -> &mut N + Clone + Send + 'static>(self, field: G) -> DataStream<T> {
                self.reduce(fields::extreme(field, true))
            }

            /// Maximum of a field per window; other fields from the window's first element.
            #[track_caller]
            pub fn max<N: PartialOrd + Copy, G: Fn(&mut T) -> &mut N + Clone + Send + 'static>(self, field: G) -> DataStream<T> {
                self.reduce(fields::extreme(field, false))
            }

            /// The element with the smallest field per window (the earlier on ties).
            #[track_caller]
            pub fn min_by<N: PartialOrd + Copy, G: Fn(&mut T) -> &mut N + Clone + Send + 'static>(self, field: G) -> DataStream<T> {
                self.reduce(fields::extreme_by(field, true))
            }

            /// The element with the largest field per window (the earlier on ties).
            #[track_caller]
            pub fn max_by<N: PartialOrd + Copy, G: Fn(&mut T) -> &mut N + Clone + Send + 'static>(self, field: G) -> DataStream<T> {
                self.reduce(fields::extreme_by(field, false))
            }
        }
    };
}

window_functions!(NoEvictor, this, contents => contents, []);
window_functions!(WithEvictor<E>, this, contents => EvictingContents { evictor: this.evictor.0.clone(), inner: contents }, [E: Evictor<T>]);
