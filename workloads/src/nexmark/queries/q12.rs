//! Query 12, processing time windows: how many bids does a user make within a fixed
//! processing-time period? Tumbling windows of 10 s of processing time.
//!
//! ```sql
//! CREATE VIEW B AS SELECT *, PROCTIME() as p_time FROM bid;
//!
//! SELECT bidder, count(*) as bid_count, window_start AS starttime, window_end AS endtime
//! FROM TABLE(TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND))
//! GROUP BY bidder, window_start, window_end;
//! ```
//!
//! Bids keyed by bidder into a keyed process function that counts per bidder in the
//! window of the job's processing-time clock (read once per batch) and emits the count when
//! a processing-time timer reaches the window's end (or as soon as the bidder's next bid
//! falls in a later window, if that comes first).
//!
//! Deviation: when a bounded input ends, the windows still open are emitted (through an
//! event-time timer at the end of time) rather than dropped, as Flink drops pending
//! processing-time windows; a benchmark run then accounts for every bid. The rows carry no
//! event time.

use spate::prelude::*;
use spate::state::ValueState;
use spate::time::{TimeDomain, MAX_WATERMARK};

use super::{bids, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q12 in the registry.
pub const QUERY: Query = Query {
    name: "q12",
    about: "bids per bidder per 10 s of processing time",
    class: QueryClass::Windowed,
    build: |events, cx| cx.append(&q12(events), "q12", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: bidder, bid_count,
/// starttime, endtime.
pub fn write_row(r: &BidderCount, out: &mut String) {
    super::output::csv_fields(out, &[&r.bidder, &r.bid_count, &r.starttime, &r.endtime]);
}

/// The window size (10 s of processing time).
pub const SIZE_MS: i64 = 10_000;

/// A bidder's bids in one processing-time window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BidderCount {
    /// The bidder's person id.
    pub bidder: u64,
    /// Bids the job received from them in the window.
    pub bid_count: u64,
    /// The window's start (processing time, epoch ms).
    pub starttime: i64,
    /// The window's end.
    pub endtime: i64,
}

/// Bids per bidder per 10 s tumbling window of processing time.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q12::q12;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q12(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// // Open windows are emitted when the input ends: every bid is counted once.
/// assert_eq!(rows.iter().map(|r| r.bid_count).sum::<u64>(), 18_400);
/// ```
#[track_caller]
pub fn q12(events: &DataStream<Event>) -> DataStream<BidderCount> {
    bids(events)
        .key_by(|b: &Bid| b.bidder)
        .process(PerWindow::default())
}

#[derive(Clone, Default)]
struct PerWindow {
    /// The open window's start and count.
    open: ValueState<u64, (i64, u64)>,
}

impl PerWindow {
    fn emit(ctx: &mut KeyedContext<'_, u64, BidderCount>, (start, n): (i64, u64)) {
        let row = BidderCount {
            bidder: *ctx.current_key(),
            bid_count: n,
            starttime: start,
            endtime: start + SIZE_MS,
        };
        ctx.collect(row);
    }
}

impl KeyedProcessFunction<u64, Bid, BidderCount> for PerWindow {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("open", &mut self.open);
    }

    fn process_element(
        &mut self,
        _b: Bid,
        ctx: &mut KeyedContext<'_, u64, BidderCount>,
    ) -> Result<(), UserError> {
        let start = ctx.current_processing_time().div_euclid(SIZE_MS) * SIZE_MS;
        match self.open.value_mut(ctx) {
            Some(w) if w.0 == start => {
                w.1 += 1;
                return Ok(());
            }
            Some(w) => {
                let old = std::mem::replace(w, (start, 1));
                Self::emit(ctx, old);
            }
            None => {
                self.open.update(ctx, (start, 1));
                ctx.register_event_time_timer(MAX_WATERMARK);
            }
        }
        ctx.register_processing_time_timer(start + SIZE_MS - 1);
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, BidderCount>,
    ) -> Result<(), UserError> {
        let Some(&w) = self.open.value(ctx) else {
            return Ok(());
        };
        let ended = ctx.time_domain() == Some(TimeDomain::EventTime) || ts >= w.0 + SIZE_MS - 1;
        if ended {
            self.open.clear(ctx);
            ctx.delete_event_time_timer(MAX_WATERMARK);
            Self::emit(ctx, w);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    use spate::time::{Clock, ManualClock};

    use super::super::testing::{input, EVENTS};
    use super::*;
    use crate::nexmark::{NexmarkConfig, NexmarkSource};

    /// A clock that moves 3 s every time it is read.
    #[derive(Clone, Default)]
    struct Ticking(Arc<AtomicI64>);
    impl Clock for Ticking {
        fn now_ms(&self) -> i64 {
            self.0.fetch_add(3_000, Ordering::SeqCst)
        }
    }

    fn run(shards: usize, clock: impl Clock) -> Vec<BidderCount> {
        let env = Env::new().shards(shards).batch_size(50).clock(clock);
        let source = NexmarkSource::new(NexmarkConfig::default())
            .expect("valid")
            .events(Some(EVENTS));
        let out = q12(&env.add_source("nexmark", source)).collect();
        env.execute().expect("runs");
        out.sorted()
    }

    fn per_bidder() -> BTreeMap<u64, u64> {
        let mut want = BTreeMap::new();
        for e in input() {
            if let Event::Bid(b) = e {
                *want.entry(b.bidder).or_default() += 1;
            }
        }
        want
    }

    #[test]
    fn q12_counts_each_bidder_in_the_window_of_a_standing_clock() {
        let want: Vec<BidderCount> = per_bidder()
            .into_iter()
            .map(|(bidder, bid_count)| BidderCount {
                bidder,
                bid_count,
                starttime: 120_000,
                endtime: 130_000,
            })
            .collect();
        for shards in 1..=3 {
            assert_eq!(
                run(shards, ManualClock::new(123_456)),
                want,
                "{shards} shards"
            );
        }
    }

    #[test]
    fn q12_spreads_each_bidders_bids_over_windows_of_a_moving_clock() {
        let want = per_bidder();
        for shards in 1..=2 {
            let rows = run(shards, Ticking::default());
            let mut got: BTreeMap<u64, u64> = BTreeMap::new();
            for r in &rows {
                assert_eq!(r.starttime % SIZE_MS, 0);
                assert_eq!(r.endtime, r.starttime + SIZE_MS);
                *got.entry(r.bidder).or_default() += r.bid_count;
            }
            assert_eq!(got, want, "{shards} shards");
            let windows: std::collections::BTreeSet<i64> =
                rows.iter().map(|r| r.starttime).collect();
            assert!(windows.len() > 3, "{} windows", windows.len());
        }
    }
}
