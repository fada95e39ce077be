//! The window join (Flink's `JoinedStreams`): per key and window, every pair of a left and a
//! right element — an inner join, computed as a nested loop over the co-group of the two
//! sides (see [`cogroup`](super::cogroup)), exactly as Flink computes it.
//!
//! Semantics, all inherited from the window operator:
//! - a pair is emitted when its window fires (event time: when the watermark passes
//!   `end − 1`), timestamped `end − 1`, in the order left-major, then right, each in
//!   arrival order;
//! - sliding windows emit a pair once for every window holding both elements, sessions
//!   merge across both sides;
//! - with allowed lateness an element within it re-fires its window, which emits all of
//!   the window's pairs again (earlier ones included);
//! - elements too late for every window of theirs go to the late-data side output as
//!   [`Either`]s, if one is set.
//!
//! The function sees both elements by reference, so nothing is cloned per pair unless the
//! function clones.

use crate::api::{op_name, Data, DataStream, Key, NoEvictor, WithEvictor};
use crate::error::UserError;
use crate::window::{Evictor, Trigger, WindowAssigner, WindowContext};

use super::cogroup::{CoGroupedStreams, Either, InnerJoin, WithWindow};

impl<A: Data> DataStream<A> {
    /// Starts a window join of this stream with `other` (Flink's `join`):
    /// `a.join(&b).where_(key_a).equal_to(key_b).window(assigner).apply(f)` emits `f(a, b)`
    /// for each pair of elements with equal keys in the same window. See
    /// [`WithWindow::apply`](WithWindow#method.apply-1).
    pub fn join<B: Data>(&self, other: &DataStream<B>) -> CoGroupedStreams<InnerJoin, A, B> {
        CoGroupedStreams {
            a: self.clone(),
            b: other.clone(),
            _m: std::marker::PhantomData,
        }
    }
}

macro_rules! join_functions {
    ($evictor:ty, [$($extra:tt)*]) => {
        impl<K, A, B, FA, FB, WA, Tr, $($extra)*> WithWindow<InnerJoin, K, A, B, FA, FB, WA, Tr, $evictor>
        where
            K: Key,
            A: Data,
            B: Data,
            FA: Fn(&A) -> K + Clone + Send + 'static,
            FB: Fn(&B) -> K + Clone + Send + 'static,
            WA: WindowAssigner<Either<A, B>>,
            Tr: Trigger<Either<A, B>, WA::W>,
        {
            /// Emits `f(left, right)` for every pair of elements with equal keys in each
            /// firing window (Flink's `JoinFunction`), timestamped with the window's last
            /// millisecond.
            ///
            /// # Examples
            ///
            /// Pair each order with the clicks on its item in the same 10 ms window:
            ///
            /// ```
            /// use spate::prelude::*;
            /// use spate::window::TumblingWindows;
            /// let env = Env::new().shards(2);
            /// let orders = env
            ///     .from_iter(vec![("pen", 1i64, 3u32), ("ink", 4, 1), ("pen", 12, 2)])
            ///     .assign_timestamps_and_watermarks(
            ///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|o: &(&str, i64, u32)| o.1),
            ///     );
            /// let clicks = env
            ///     .from_iter(vec![("pen", 2i64, 'x'), ("pen", 7, 'y'), ("ink", 15, 'z')])
            ///     .assign_timestamps_and_watermarks(
            ///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|c: &(&str, i64, char)| c.1),
            ///     );
            /// let pairs = orders
            ///     .join(&clicks)
            ///     .where_(|o| o.0)
            ///     .equal_to(|c| c.0)
            ///     .window(TumblingWindows::of(10))
            ///     .apply(|o, c| (o.0, o.2, c.2))
            ///     .collect();
            /// env.execute().unwrap();
            /// assert_eq!(pairs.sorted(), vec![("pen", 3, 'x'), ("pen", 3, 'y')]);
            /// ```
            #[track_caller]
            pub fn apply<O: Data, F>(self, mut f: F) -> DataStream<O>
            where
                F: FnMut(&A, &B) -> O + Clone + Send + 'static,
            {
                self.build_co_group(
                    op_name("window_join"),
                    move |left: &[A], right: &[B], out: &mut WindowContext<'_, WA::W, O>| {
                        for a in left {
                            for b in right {
                                out.collect(f(a, b));
                            }
                        }
                        Ok(())
                    },
                )
            }

            /// Calls `f(left, right, ctx)` for every pair of elements with equal keys in
            /// each firing window (Flink's `FlatJoinFunction`): `ctx` emits any number of
            /// results, timestamped with the window's last millisecond, and gives the
            /// window.
            ///
            /// # Examples
            ///
            /// ```
            /// use spate::prelude::*;
            /// use spate::window::{TimeWindow, TumblingWindows, WindowContext};
            /// let env = Env::new().shards(1);
            /// let by_ts = |r: &(u8, i64)| r.1;
            /// let a = env.from_iter(vec![(1u8, 1i64), (1, 2)])
            ///     .assign_timestamps_and_watermarks(WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(by_ts));
            /// let b = env.from_iter(vec![(1u8, 5i64)])
            ///     .assign_timestamps_and_watermarks(WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(by_ts));
            /// let out = a
            ///     .join(&b)
            ///     .where_(|r| r.0)
            ///     .equal_to(|r| r.0)
            ///     .window(TumblingWindows::of(10))
            ///     .flat_apply(|l, r, ctx: &mut WindowContext<'_, TimeWindow, (i64, i64)>| {
            ///         if r.1 - l.1 > 3 {
            ///             ctx.collect((ctx.window().end, l.1));
            ///         }
            ///         Ok(())
            ///     })
            ///     .collect();
            /// env.execute().unwrap();
            /// assert_eq!(out.take(), vec![(10, 1)]);
            /// ```
            #[track_caller]
            pub fn flat_apply<O: Data, F>(self, mut f: F) -> DataStream<O>
            where
                F: FnMut(&A, &B, &mut WindowContext<'_, WA::W, O>) -> Result<(), UserError>
                    + Clone
                    + Send
                    + 'static,
            {
                self.build_co_group(
                    op_name("window_join"),
                    move |left: &[A], right: &[B], out: &mut WindowContext<'_, WA::W, O>| {
                        for a in left {
                            for b in right {
                                f(a, b, out)?;
                            }
                        }
                        Ok(())
                    },
                )
            }
        }
    };
}

join_functions!(NoEvictor, []);
join_functions!(WithEvictor<E>, [E: Evictor<Either<A, B>>]);
