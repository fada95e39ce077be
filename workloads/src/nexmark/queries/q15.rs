//! Query 15, bidding statistics report: per day, how many bids, bidders and auctions, in
//! total and per price rank.
//!
//! ```sql
//! SELECT
//!      DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`,
//!      count(*) AS total_bids,
//!      count(*) filter (where price < 10000) AS rank1_bids,
//!      count(*) filter (where price >= 10000 and price < 1000000) AS rank2_bids,
//!      count(*) filter (where price >= 1000000) AS rank3_bids,
//!      count(distinct bidder) AS total_bidders,
//!      count(distinct bidder) filter (where price < 10000) AS rank1_bidders,
//!      count(distinct bidder) filter (where price >= 10000 and price < 1000000) AS rank2_bidders,
//!      count(distinct bidder) filter (where price >= 1000000) AS rank3_bidders,
//!      count(distinct auction) AS total_auctions,
//!      count(distinct auction) filter (where price < 10000) AS rank1_auctions,
//!      count(distinct auction) filter (where price >= 10000 and price < 1000000) AS rank2_auctions,
//!      count(distinct auction) filter (where price >= 1000000) AS rank3_auctions
//! FROM bid
//! GROUP BY DATE_FORMAT(dateTime, 'yyyy-MM-dd');
//! ```
//!
//! An updating table keyed by day: bids keyed by day fold into counts and, for the
//! distinct counts, one set of bidders and one of auctions with a bit per rank each was
//! seen in. A day's row is emitted at most once per second of event time, when the
//! watermark passes a second in which it changed (the reference runs with mini-batches),
//! and the last row of each day after the input ends is the final table.
//!
//! Limitation: as in the reference without split distinct aggregation, one day is one key,
//! so one shard does a day's work.

use spate::prelude::*;

use super::stats::{DistinctStats, EverySecond, PriceStats};
use super::time_fmt::Day;
use super::{bids, event_time, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q15 in the registry.
pub const QUERY: Query = Query {
    name: "q15",
    about: "bidding statistics per day: bids, distinct bidders and auctions per price rank",
    class: QueryClass::Other,
    build: |events, cx| cx.table(&q15(events), "q15", |r| r.day, write_row),
};

/// Appends a result row's CSV fields in the reference's column order: day, total_bids,
/// rank1_bids … rank3_auctions.
/// The result is an updating table keyed by `day`.
pub fn write_row(r: &DayStats, out: &mut String) {
    super::output::csv_fields(out, &[&r.day]);
    for counts in [&r.stats.bids, &r.stats.bidders, &r.stats.auctions] {
        for c in counts {
            out.push(',');
            super::output::csv_fields(out, &[c]);
        }
    }
}

/// A day's statistics so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DayStats {
    /// The day (displays as `yyyy-MM-dd`).
    pub day: Day,
    /// Its counts.
    pub stats: PriceStats,
}

/// Per-day bid statistics, as an updating table (upserts by day).
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q15::q15;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q15(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// // One day; its last row counts every bid.
/// assert_eq!(rows.last().map(|r| r.stats.bids[0]), Some(18_400));
/// ```
#[track_caller]
pub fn q15(events: &DataStream<Event>) -> DataStream<DayStats> {
    bids(&event_time(events))
        .key_by(|b: &Bid| Day::of(b.date_time))
        .process(EverySecond::new(
            |acc: &mut DistinctStats, b: &Bid| acc.add(b),
            |day: &Day, acc: &DistinctStats| DayStats {
                day: *day,
                stats: acc.stats,
            },
        ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{assert_runs, at_rate, final_table, input_of, runs};
    use super::*;

    #[test]
    fn q15_final_table_equals_the_reference_counts() {
        // 3 events per second across midnight: two days.
        let mut cfg = at_rate(3);
        cfg.base_time -= 3_600_000;
        let n = 20_000;
        let mut days: BTreeMap<Day, DistinctStats> = BTreeMap::new();
        for e in input_of(&cfg, n) {
            if let Event::Bid(b) = e {
                days.entry(Day::of(b.date_time)).or_default().add(&b);
            }
        }
        let want: BTreeMap<Day, DayStats> = days
            .into_iter()
            .map(|(day, d)| {
                (
                    day,
                    DayStats {
                        day,
                        stats: d.stats,
                    },
                )
            })
            .collect();
        assert_eq!(want.len(), 2);
        let got = runs(&cfg, n, q15)
            .into_iter()
            .map(|rows| final_table(rows, |r| r.day))
            .collect();
        assert_runs(got, &want, "q15");
    }
}
