//! Processing-time clocks.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::Timestamp;

/// A source of processing time.
///
/// Contract: `now_ms` is monotone non-decreasing as observed by one shard, and cheap (it is
/// read once per batch, never per record).
#[doc(alias = "TimeService")]
pub trait Clock: Send + Sync + 'static {
    /// The current processing time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Timestamp;
}

/// Wall-clock processing time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to: for tests of processing-time timers and TTL.
///
/// Clones share the same time.
///
/// # Examples
///
/// ```
/// use spate::time::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// let seen_by_job = clock.clone();
/// clock.advance(500);
/// assert_eq!(seen_by_job.now_ms(), 1_500);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `start_ms`.
    pub fn new(start_ms: Timestamp) -> Self {
        ManualClock {
            now: Arc::new(AtomicI64::new(start_ms)),
        }
    }

    /// Sets the time; a time earlier than the current one is ignored (time never goes back).
    pub fn set(&self, ms: Timestamp) {
        self.now.fetch_max(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms.max(0), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Timestamp {
        self.now.load(Ordering::SeqCst)
    }
}
