//! Query 5, hot items: which auctions have seen the most bids in the last period? Sliding
//! windows of 10 s every 2 s.
//!
//! ```sql
//! SELECT AuctionBids.auction, AuctionBids.num
//!  FROM (
//!    SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
//!    FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//!    GROUP BY auction, window_start, window_end
//!  ) AS AuctionBids
//!  JOIN (
//!    SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
//!    FROM (
//!      SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
//!      FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//!      GROUP BY auction, window_start, window_end
//!      ) AS CountBids
//!    GROUP BY CountBids.starttime, CountBids.endtime
//!  ) AS MaxBids
//!  ON AuctionBids.starttime = MaxBids.starttime AND
//!     AuctionBids.endtime = MaxBids.endtime AND
//!     AuctionBids.num >= MaxBids.maxn;
//! ```
//!
//! Two stages. First, bids are keyed by a partition of their auction id (64 partitions);
//! each partition counts its auctions' bids per 2 s slice of event time, and when the
//! watermark passes the end of a window (an event-time timer per partition and window, not
//! per auction) it sums the window's five slices and sends on its auctions with the highest
//! count, then forgets the oldest slice. Second, those partial maxima are keyed by window
//! and each window's auctions with the highest count overall are emitted once the watermark
//! has passed every partial. Every auction tied at the maximum is a row, as in the SQL. A
//! bid whose every window has already fired is late and dropped; one that arrives after
//! some of its windows fired counts in the others, as Flink's window operator does.
//!
//! Why not the engine's keyed sliding windows (`key_by(auction).window(SlidingWindows..)
//! .aggregate(Count)`, which compute the same counts): they keep one event-time timer per
//! auction and window, and registering and firing those was half the query's CPU
//! (`results/flamegraphs/q5-before.svg`).
//!
//! Deviation: each row also carries its window's start (the SQL's rows lose it, which
//! makes rows of different windows indistinguishable).

use std::collections::{BTreeMap, HashMap};

use spate::prelude::*;
use spate::state::{FixedState, ValueState};
use spate::window::{AggregateFunction, TimeWindow, WindowContext};

use super::{bids, event_time, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q5 in the registry.
pub const QUERY: Query = Query {
    name: "q5",
    about: "hot items: most-bid auctions per 10 s window sliding by 2 s",
    class: QueryClass::Windowed,
    build: |events, cx| cx.append(&q5(events), "q5", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, num.
pub fn write_row(r: &HotItem, out: &mut String) {
    super::output::csv_fields(out, &[&r.auction, &r.num]);
}

/// Window size (10 s) and slide (2 s).
pub const SIZE_MS: i64 = 10_000;
/// See [`SIZE_MS`].
pub const SLIDE_MS: i64 = 2_000;

/// An auction with the most bids in a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HotItem {
    /// The window's start (epoch ms).
    pub window_start: i64,
    /// The auction.
    pub auction: u64,
    /// Its bids in the window.
    pub num: u64,
}

/// An auction's bid count in one window (the first stage's output).
#[derive(Clone, Copy, Debug)]
struct AuctionCount {
    window_start: i64,
    auction: u64,
    num: u64,
}

/// For every 10 s window sliding by 2 s, the auctions with the most bids in it.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q5::q5;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 1000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q5(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// // Each window of 10 s starts on a 2 s boundary and has its most-bid auctions.
/// assert!(!rows.is_empty() && rows.iter().all(|h| h.window_start % 2_000 == 0 && h.num > 0));
/// ```
#[track_caller]
pub fn q5(events: &DataStream<Event>) -> DataStream<HotItem> {
    let counts = bids(&event_time(events))
        .key_by(|b: &Bid| b.auction % PARTITIONS)
        .process(PartitionCounts::default());
    // Every count of a window carries the window's last millisecond, so a tumbling window
    // of one slide over those timestamps holds exactly one sliding window's counts.
    counts
        .key_by(|c: &AuctionCount| c.window_start)
        .window(spate::window::TumblingWindows::of(SLIDE_MS))
        .aggregate_process(
            MaxCount,
            |start: &i64,
             top: &[(u64, Vec<u64>)],
             ctx: &mut WindowContext<'_, TimeWindow, HotItem>| {
                for (num, auctions) in top {
                    for &auction in auctions {
                        ctx.collect(HotItem {
                            window_start: *start,
                            auction,
                            num: *num,
                        });
                    }
                }
                Ok(())
            },
        )
}

/// Partitions of the first stage.
const PARTITIONS: u64 = 64;

/// A partition's bid counts per auction, per slice start (epoch ms).
type Slices = BTreeMap<i64, HashMap<u64, u64, FixedState>>;

/// The first stage: per partition, counts per slice, and each window's top auctions when
/// the watermark passes its end.
#[derive(Clone, Default)]
struct PartitionCounts {
    slices: ValueState<u64, Slices>,
    /// Scratch map of a window's counts (reused).
    sums: HashMap<u64, u64, FixedState>,
}

impl KeyedProcessFunction<u64, Bid, AuctionCount> for PartitionCounts {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("slices", &mut self.slices);
    }

    fn process_element(
        &mut self,
        b: Bid,
        ctx: &mut KeyedContext<'_, u64, AuctionCount>,
    ) -> Result<(), UserError> {
        let slice = b.date_time.div_euclid(SLIDE_MS) * SLIDE_MS;
        // The last window holding the bid ends at `slice + SIZE_MS`; if it has fired,
        // they all have.
        if slice + SIZE_MS - 1 <= ctx.current_watermark() {
            return Ok(());
        }
        let slices = self.slices.value_or_insert_with(ctx, Slices::new);
        let counts = match slices.get_mut(&slice) {
            Some(c) => c,
            None => {
                // A new slice: a timer at the end of each window holding it.
                let mut end = slice + SLIDE_MS;
                while end <= slice + SIZE_MS {
                    ctx.register_event_time_timer(end - 1);
                    end += SLIDE_MS;
                }
                slices.entry(slice).or_default()
            }
        };
        *counts.entry(b.auction).or_insert(0) += 1;
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, AuctionCount>,
    ) -> Result<(), UserError> {
        let end = ts + 1;
        let window_start = end - SIZE_MS;
        let Some(slices) = self.slices.value_mut(ctx) else {
            return Ok(());
        };
        self.sums.clear();
        for (_, counts) in slices.range(window_start..end) {
            for (&auction, &n) in counts {
                *self.sums.entry(auction).or_insert(0) += n;
            }
        }
        // The oldest slice is in no later window.
        slices.remove(&window_start);
        let now_empty = slices.is_empty();
        let max = self.sums.values().copied().max().unwrap_or(0);
        for (&auction, &num) in &self.sums {
            if num == max {
                ctx.collect_with_timestamp(
                    AuctionCount {
                        window_start,
                        auction,
                        num,
                    },
                    ts,
                );
            }
        }
        if now_empty {
            self.slices.clear(ctx);
        }
        Ok(())
    }
}

/// The highest count and the auctions that have it.
#[derive(Clone, Copy, Debug, Default)]
struct MaxCount;

impl AggregateFunction<AuctionCount, (u64, Vec<u64>)> for MaxCount {
    type Acc = (u64, Vec<u64>);
    fn create_accumulator(&self) -> Self::Acc {
        (0, Vec::new())
    }
    fn add(&self, c: AuctionCount, acc: &mut Self::Acc) {
        if c.num > acc.0 {
            acc.0 = c.num;
            acc.1.clear();
        }
        if c.num == acc.0 {
            acc.1.push(c.auction);
        }
    }
    fn get_result(&self, acc: &Self::Acc) -> (u64, Vec<u64>) {
        acc.clone()
    }
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) {
        if other.0 > acc.0 {
            *acc = other;
        } else if other.0 == acc.0 {
            acc.1.extend(other.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::super::testing::{assert_runs, at_rate, input_of, runs, EVENTS};
    use super::*;

    #[test]
    fn q5_finds_each_windows_most_bid_auctions() {
        let cfg = at_rate(500);
        let mut per_window: BTreeMap<i64, HashMap<u64, u64>> = BTreeMap::new();
        for e in input_of(&cfg, EVENTS) {
            let Event::Bid(b) = e else { continue };
            let last = b.date_time.div_euclid(SLIDE_MS) * SLIDE_MS;
            let mut start = last;
            while start > b.date_time - SIZE_MS {
                *per_window
                    .entry(start)
                    .or_default()
                    .entry(b.auction)
                    .or_default() += 1;
                start -= SLIDE_MS;
            }
        }
        let mut want = Vec::new();
        for (start, counts) in per_window {
            let max = counts.values().copied().max().unwrap_or(0);
            want.extend(
                counts
                    .into_iter()
                    .filter(|c| c.1 == max)
                    .map(|(auction, num)| HotItem {
                        window_start: start,
                        auction,
                        num,
                    }),
            );
        }
        want.sort();
        assert!(want.len() > 20, "{} rows", want.len());
        let got = runs(&cfg, EVENTS, q5)
            .into_iter()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        assert_runs(got, &want, "q5");
    }
}
