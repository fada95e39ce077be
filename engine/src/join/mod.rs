//! Joins: the window join and co-group, and the regular (unbounded) keyed equi-join.
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

pub mod cogroup;
pub mod regular;
pub mod window;

pub use cogroup::{CoGroup, CoGroupedStreams, Either, EqualTo, InnerJoin, Where, WithWindow};
pub use regular::{JoinChange, JoinType, RegularJoin, RowKind};
