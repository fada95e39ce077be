//! Time: timestamps, watermarks, processing-time clocks and timers.
//!
//! Timestamps are milliseconds since the Unix epoch as `i64`, as in Flink. A record without
//! an event-time timestamp carries [`NO_TIMESTAMP`]. Watermarks are plain timestamps that
//! travel in-band with the data; [`MAX_WATERMARK`] marks the end of event time (the end of a
//! bounded input). Processing time comes from a [`Clock`], so tests can drive it by hand
//! with a [`ManualClock`].

mod clock;
mod generator;
mod timers;
mod watermark;

pub use clock::{Clock, ManualClock, SystemClock};
pub(crate) use generator::IdlenessTimer;
pub use generator::{BoundedOutOfOrderness, NoWatermarks, WatermarkGenerator, WatermarkOutput};
pub use timers::TimeDomain;
pub(crate) use timers::TimerService;
pub use watermark::{Frontier, RecordTimestamps, TimestampAssigner, WatermarkStrategy};

/// Event time or processing time, in milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// The timestamp of a record that has none (Flink's "no timestamp").
pub const NO_TIMESTAMP: Timestamp = i64::MIN;

/// The watermark that ends event time: every event-time timer and window fires at it.
pub const MAX_WATERMARK: Timestamp = i64::MAX;

/// The watermark before any has been seen.
pub const MIN_WATERMARK: Timestamp = i64::MIN;
