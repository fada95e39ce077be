//! State time-to-live, following Flink's `StateTtlConfig` (processing time).

use crate::time::Timestamp;

/// When an entry's TTL clock restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlUpdate {
    /// On creation and every write (Flink's default).
    OnCreateAndWrite,
    /// Also on every read.
    OnReadAndWrite,
}

/// Whether an expired entry that has not been cleaned up yet may still be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlVisibility {
    /// An expired entry is never returned (Flink's default).
    NeverReturnExpired,
    /// An expired entry is returned until it is cleaned up.
    ReturnExpiredIfNotCleanedUp,
}

/// Time-to-live of state entries: an entry last touched at `t` expires at `t + ttl`
/// (expired when `t + ttl <= now`). Expired entries are removed when accessed and by an
/// amortised sweep that runs after as many writes as the state has entries.
///
/// # Examples
///
/// ```
/// use spate::state::{FixedKey, StateTtl, ValueState};
/// let mut seen = ValueState::<u32, bool>::with_ttl(StateTtl::new(1_000));
/// seen.update(&FixedKey::new(7, 0), true);
/// assert_eq!(seen.value(&FixedKey::new(7, 999)), Some(&true));
/// assert_eq!(seen.value(&FixedKey::new(7, 1_000)), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtl {
    /// Time to live, in milliseconds.
    pub ttl_ms: i64,
    /// When the clock restarts.
    pub update: TtlUpdate,
    /// Whether expired entries may be read.
    pub visibility: TtlVisibility,
}

impl StateTtl {
    /// TTL of `ttl_ms`, restarted on create and write, expired entries never returned.
    pub fn new(ttl_ms: i64) -> Self {
        StateTtl {
            ttl_ms,
            update: TtlUpdate::OnCreateAndWrite,
            visibility: TtlVisibility::NeverReturnExpired,
        }
    }

    /// Sets when the TTL clock restarts.
    pub fn update_on(mut self, update: TtlUpdate) -> Self {
        self.update = update;
        self
    }

    /// Sets whether expired entries may be read.
    pub fn visibility(mut self, visibility: TtlVisibility) -> Self {
        self.visibility = visibility;
        self
    }

    #[inline]
    pub(crate) fn expired(&self, touched: Timestamp, now: Timestamp) -> bool {
        touched.saturating_add(self.ttl_ms) <= now
    }
}

/// The TTL bookkeeping every handle shares: an optional config and the write counter that
/// schedules sweeps.
#[derive(Debug, Clone, Default)]
pub(crate) struct TtlClock {
    pub(crate) ttl: Option<StateTtl>,
    writes: usize,
}

impl TtlClock {
    pub(crate) fn new(ttl: Option<StateTtl>) -> Self {
        TtlClock { ttl, writes: 0 }
    }

    /// Is an entry touched at `touched` hidden at `now`?
    #[inline]
    pub(crate) fn hidden(&self, touched: Timestamp, now: Timestamp) -> bool {
        match self.ttl {
            Some(t) => t.visibility == TtlVisibility::NeverReturnExpired && t.expired(touched, now),
            None => false,
        }
    }

    #[inline]
    pub(crate) fn expired(&self, touched: Timestamp, now: Timestamp) -> bool {
        self.ttl.is_some_and(|t| t.expired(touched, now))
    }

    #[inline]
    pub(crate) fn touch_on_read(&self) -> bool {
        self.ttl
            .is_some_and(|t| t.update == TtlUpdate::OnReadAndWrite)
    }

    /// Counts a write; `true` when a sweep of `len` entries is due.
    #[inline]
    pub(crate) fn count_write(&mut self, len: usize) -> bool {
        if self.ttl.is_none() {
            return false;
        }
        self.writes += 1;
        if self.writes > len.max(1024) {
            self.writes = 0;
            true
        } else {
            false
        }
    }
}
