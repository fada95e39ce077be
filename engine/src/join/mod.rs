//! Joins of two streams.
//!
//! **Interval and overlap joins** (`interval.rs`, `overlap.rs`, one operator in
//! `operator.rs` over one state in `state.rs`):
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
//!
//! **Window join, co-group and the regular join** (`window.rs`, `cogroup.rs`, `regular.rs`):
//!
//! - [`window`]: `a.join(&b).where_(..).equal_to(..).window(..).apply(..)` — Flink's window
//!   join, an inner join per key and window.
//! - [`cogroup`]: `a.co_group(&b)…apply(..)` — both sides' elements per key and window.
//!   Both are built on the window operator over a tagged union of the inputs ([`Either`]),
//!   as Flink builds them.
//! - [`regular`]: `left.connect(&right).regular_join(RegularJoin::left_outer())` — Flink
//!   SQL's regular join (inner, left, right, full outer) as a changelog of
//!   [`JoinChange`]s, with optional state TTL per side; a keyed co-process function.
//!
//! Like `api/windowed.rs`, this module adds builder methods to the API's streams
//! (`DataStream::join`, `co_group`, `KeyedConnectedStreams::regular_join`) and builds them
//! from `window/`, `state/` and the operators; no module below `api/` uses it.

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
pub mod cogroup;
pub mod regular;
pub mod window;
pub use cogroup::{CoGroup, CoGroupedStreams, Either, EqualTo, InnerJoin, Where, WithWindow};
pub use regular::{JoinChange, JoinType, RegularJoin, RowKind};
