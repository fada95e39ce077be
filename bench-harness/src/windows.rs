//! Window benchmarks: one keyed event-time window count per kind, on the generator.
//!
//! Record `seq` has key `seq % keys` and event time `seq / per_ms` ms (`per_ms` records per
//! millisecond of event time), with watermarks `max − 1` every batch-ish (periodic, 200 ms
//! of processing time) and `+∞` at the end. Each window emits its count. The kinds:
//!
//! | kind | windows |
//! |---|---|
//! | `tumbling` | 10 s |
//! | `sliding` | 10 s every 1 s, on shared slices (the default for `aggregate`) |
//! | `sliding-unsliced` | the same windows, each kept on its own (`without_slicing`) |
//! | `session` | 500 ms gap |
//!
//! `sliding` against `sliding-unsliced` is the slicing ratio: the same results, with one
//! accumulator update per record instead of ten.

use spate::prelude::*;
use spate::window::{Count, SessionWindows, SlidingWindows, TumblingWindows};

use crate::jobs::{CountSink, JobSize};

/// Which windows a window benchmark computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WindowKind {
    /// 10 s tumbling windows.
    Tumbling,
    /// 10 s windows every 1 s, on shared slices.
    Sliding,
    /// 10 s windows every 1 s, each computed on its own.
    SlidingUnsliced,
    /// Session windows with a 500 ms gap.
    Session,
}

/// Window size of the tumbling and sliding kinds, ms.
pub const SIZE_MS: i64 = 10_000;
/// Slide of the sliding kinds, ms.
pub const SLIDE_MS: i64 = 1_000;
/// Gap of the session kind, ms.
pub const GAP_MS: i64 = 500;

impl WindowKind {
    /// The benchmark's name in results.
    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Tumbling => "window-tumbling",
            WindowKind::Sliding => "window-sliding",
            WindowKind::SlidingUnsliced => "window-sliding-unsliced",
            WindowKind::Session => "window-session",
        }
    }
}

/// Runs the window count of `kind` over `size.events` records with `per_ms` records per
/// millisecond of event time; returns the window results the sink counted (expected:
/// [`window_expected`]).
pub fn window_count(size: &JobSize, kind: WindowKind, per_ms: u64) -> spate::Result<u64> {
    let keys = size.keys.max(1);
    let per_ms = per_ms.max(1);
    let env = Env::new().shards(size.shards).batch_size(size.batch_size);
    let keyed = env
        .generate(Some(size.events), move |seq| {
            (seq % keys, (seq / per_ms) as i64)
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|r: &(u64, i64)| r.1),
        )
        .key_by(|r| r.0);
    let counts = match kind {
        WindowKind::Tumbling => keyed.window(TumblingWindows::of(SIZE_MS)).aggregate(Count),
        WindowKind::Sliding => keyed
            .window(SlidingWindows::of(SIZE_MS, SLIDE_MS))
            .aggregate(Count),
        WindowKind::SlidingUnsliced => keyed
            .window(SlidingWindows::of(SIZE_MS, SLIDE_MS))
            .without_slicing()
            .aggregate(Count),
        WindowKind::Session => keyed
            .window(SessionWindows::with_gap(GAP_MS))
            .aggregate(Count),
    };
    let sink = CountSink::new();
    counts.add_sink("count", sink.clone());
    env.execute()?;
    Ok(sink.total())
}

/// The number of window results [`window_count`] emits, computed without the engine.
pub fn window_expected(size: &JobSize, kind: WindowKind, per_ms: u64) -> u64 {
    let (n, keys, per_ms) = (size.events, size.keys.max(1), per_ms.max(1));
    if n == 0 {
        return 0;
    }
    let last_ts = ((n - 1) / per_ms) as i64;
    // Whether key `k` has a record with event time in [lo, hi).
    let has = |k: u64, lo: i64, hi: i64| -> bool {
        let lo_seq = (lo.max(0) as u64).saturating_mul(per_ms);
        let hi_seq = (hi.max(0) as u64).saturating_mul(per_ms).min(n);
        if lo_seq >= hi_seq {
            return false;
        }
        let first = lo_seq + (k + keys - lo_seq % keys) % keys;
        first < hi_seq
    };
    let count_windows = |size_ms: i64, slide_ms: i64| -> u64 {
        let mut total = 0;
        let mut start = -(size_ms - slide_ms);
        while start <= last_ts {
            total += (0..keys)
                .filter(|&k| has(k, start, start + size_ms))
                .count() as u64;
            start += slide_ms;
        }
        total
    };
    match kind {
        WindowKind::Tumbling => count_windows(SIZE_MS, SIZE_MS),
        WindowKind::Sliding | WindowKind::SlidingUnsliced => count_windows(SIZE_MS, SLIDE_MS),
        WindowKind::Session => {
            // Per key, a new session whenever the gap to the previous record exceeds the
            // gap (windows that touch merge, as Flink's do).
            let mut sessions = 0;
            for k in 0..keys.min(n) {
                let mut prev: Option<i64> = None;
                let mut seq = k;
                while seq < n {
                    let ts = (seq / per_ms) as i64;
                    if prev.is_none_or(|p| ts > p + GAP_MS) {
                        sessions += 1;
                    }
                    prev = Some(ts);
                    seq += keys;
                }
            }
            sessions
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_emits_the_expected_windows() {
        for (keys, per_ms) in [(7, 3), (50, 1), (3, 40)] {
            for shards in [1, 2, 3] {
                let size = JobSize {
                    events: 30_011,
                    keys,
                    shards,
                    batch_size: 64,
                };
                for kind in [
                    WindowKind::Tumbling,
                    WindowKind::Sliding,
                    WindowKind::SlidingUnsliced,
                    WindowKind::Session,
                ] {
                    let got = window_count(&size, kind, per_ms).expect("job runs");
                    assert_eq!(
                        got,
                        window_expected(&size, kind, per_ms),
                        "{kind:?}, {keys} keys, {per_ms}/ms, {shards} shards"
                    );
                }
            }
        }
    }
}
