//! Windows: assigners, triggers, evictors, window functions and the window operator, with
//! Flink's semantics (`docs/flink-window-semantics.md` records the rules followed).
//!
//! A keyed window operator keeps, per key, the contents of each live window (an accumulator
//! for `reduce`/`aggregate`, the elements for `process` or behind an evictor) and its trigger
//! state; timers fire triggers and drop windows at `end − 1 + allowed lateness`. Session
//! windows merge through a per-key mapping from in-flight windows to the window whose state
//! holds their contents, as Flink's `MergingWindowSet` does, so merging moves no elements.
//!
//! Why per-key vectors of windows rather than one map keyed by `(key, window)`: a key has few
//! live windows (one or two tumbling, `size/slide` sliding), so a linear scan after one hash
//! lookup per record beats hashing the pair, and it never clones the key to look it up.

mod assigner;
#[cfg(test)]
pub(crate) mod cow_check;
mod evictor;
mod function;
pub(crate) mod operator;
pub(crate) mod sliced;
pub(crate) mod sliced_snapshot;
pub(crate) mod snapshot;
mod trigger;
mod types;

pub use assigner::{
    GlobalWindows, SessionWindows, SlidingWindows, TimeCharacteristic, TimeTrigger,
    TumblingWindows, WindowAssigner,
};
pub use evictor::{CountEvictor, Evictor, TimeEvictor};
pub(crate) use function::{
    AggregateContents, AggregateProcessContents, Contents, EvictingContents, ProcessContents,
    ReduceContents,
};
pub use function::{AggregateFunction, Avg, Count, ProcessWindowFunction, WindowContext};
pub use trigger::{
    ContinuousEventTimeTrigger, CountTrigger, EventTimeTrigger, NeverTrigger,
    ProcessingTimeTrigger, PurgingTrigger, Trigger, TriggerContext, TriggerResult,
};
pub use types::{GlobalWindow, TimeWindow, Window};
