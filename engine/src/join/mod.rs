//! Joins of two keyed streams on event time: the **interval join** (Flink's) and the
//! **overlap join** (records with validity intervals).
//!
//! Both are one operator (`operator.rs`) over one state (`state.rs`): per key and side,
//! records sorted by interval start (`buffer.rs`), and per key one pending eviction time
//! (`due.rs`). What differs is a small spec saying where a record sits in time:
//!
//! | join | left record | right record | late when | dropped when the watermark reaches |
//! | --- | --- | --- | --- | --- |
//! | overlap | its interval `[s, e)` | its interval | `s < wm` | `e` |
//! | interval `[lo, hi]` | `[ts + lo, ts + hi + 1)` | the point `[ts, ts + 1)` | `ts < wm` | `ts + hi + 1` / `ts − lo + 1` |
//!
//! The interval join *is* the overlap join with a point on one side: a left record is the
//! interval of right timestamps it accepts, and `ts_l + lo <= ts_r <= ts_l + hi` is exactly
//! "the point overlaps the interval". Only its lateness differs — judged on the left
//! record's own timestamp, as Flink does, not on its interval's start — so a right record is
//! kept `−lo` longer, until no on-time left record can reach it.
//!
//! Why one sorted buffer per key and side rather than Flink's map from timestamp to list: a
//! probe touches only the records it returns (plus a binary search), where Flink iterates
//! every buffered timestamp of the key; eviction takes a prefix; and no timer per record —
//! one pending eviction time per key. `docs/joins.md` records the semantics and where they
//! differ from Flink's.
//!
//! Builders are methods on [`KeyedStream`](crate::KeyedStream) defined next to their
//! operator ([`KeyedStream::interval_join`](crate::KeyedStream::interval_join),
//! [`KeyedStream::overlap_join`](crate::KeyedStream::overlap_join)). Both inputs are keyed
//! streams, already exchanged by key, so a key's records from either side meet on one shard.

mod buffer;
mod due;
mod gauge;
mod interval;
mod operator;
mod overlap;
mod state;

pub use buffer::Interval;
pub use gauge::JoinStateGauge;
pub use interval::{IntervalJoin, IntervalJoined, ProcessJoinContext, ProcessJoinFunction};
pub use overlap::{OverlapContext, OverlapJoin, OverlapJoinFunction};
