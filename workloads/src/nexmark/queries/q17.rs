//! Query 17, auction statistics report: per auction and day, how many bids, per price
//! rank, and the minimum, maximum, average and total price.
//!
//! ```sql
//! SELECT
//!      auction,
//!      DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`,
//!      count(*) AS total_bids,
//!      count(*) filter (where price < 10000) AS rank1_bids,
//!      count(*) filter (where price >= 10000 and price < 1000000) AS rank2_bids,
//!      count(*) filter (where price >= 1000000) AS rank3_bids,
//!      min(price) AS min_price,
//!      max(price) AS max_price,
//!      avg(price) AS avg_price,
//!      sum(price) AS sum_price
//! FROM bid
//! GROUP BY auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd');
//! ```
//!
//! An updating table keyed by auction and day, emitted as q15's: a row per key at most
//! once per second of event time, the last row of each key being the final table. The
//! average is the integer quotient (`AVG` of a `BIGINT` in Flink).

use spate::prelude::*;

use super::stats::{rank, EverySecond};
use super::time_fmt::Day;
use super::{bids, event_time, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q17 in the registry.
pub const QUERY: Query = Query {
    name: "q17",
    about: "auction statistics per day: bids per price rank, min/max/avg/sum price",
    class: QueryClass::Other,
    build: |events, cx| cx.table(&q17(events), "q17", |r| (r.auction, r.day), write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, day,
/// total_bids, rank1_bids, rank2_bids, rank3_bids, min_price, max_price, avg_price,
/// sum_price.
/// The result is an updating table keyed by `(auction, day)`.
pub fn write_row(r: &AuctionStats, out: &mut String) {
    super::output::csv_fields(
        out,
        &[
            &r.auction,
            &r.day,
            &r.bids[0],
            &r.bids[1],
            &r.bids[2],
            &r.bids[3],
            &r.min_price,
            &r.max_price,
            &r.avg_price,
            &r.sum_price,
        ],
    );
}

/// An auction's statistics for a day so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuctionStats {
    /// The auction's id.
    pub auction: u64,
    /// The day (displays as `yyyy-MM-dd`).
    pub day: Day,
    /// Bids: in total, then in price ranks 1–3.
    pub bids: [u64; 4],
    /// The lowest price.
    pub min_price: u64,
    /// The highest price.
    pub max_price: u64,
    /// The average price (integer quotient).
    pub avg_price: u64,
    /// The total of the prices.
    pub sum_price: u64,
}

/// What a key keeps: counts, min, max, sum.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    bids: [u64; 4],
    min: u64,
    max: u64,
    sum: u64,
}

crate::nexmark::codec::state_data!(Acc {
    bids,
    min,
    max,
    sum
});

impl Acc {
    #[inline]
    fn add(&mut self, b: &Bid) {
        self.min = if self.bids[0] == 0 {
            b.price
        } else {
            self.min.min(b.price)
        };
        self.max = self.max.max(b.price);
        self.sum += b.price;
        self.bids[0] += 1;
        self.bids[rank(b.price)] += 1;
    }

    fn row(&self, auction: u64, day: Day) -> AuctionStats {
        AuctionStats {
            auction,
            day,
            bids: self.bids,
            min_price: self.min,
            max_price: self.max,
            avg_price: self.sum / self.bids[0].max(1),
            sum_price: self.sum,
        }
    }
}

/// Per auction and day bid statistics, as an updating table (upserts by auction and day).
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q17::q17;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q17(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.iter().all(|r| r.min_price <= r.avg_price && r.avg_price <= r.max_price));
/// ```
#[track_caller]
pub fn q17(events: &DataStream<Event>) -> DataStream<AuctionStats> {
    bids(&event_time(events))
        .key_by(|b: &Bid| (b.auction, Day::of(b.date_time)))
        .process(EverySecond::new(
            |acc: &mut Acc, b: &Bid| acc.add(b),
            |&(auction, day): &(u64, Day), acc: &Acc| acc.row(auction, day),
        ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{assert_runs, at_rate, final_table, input_of, runs, EVENTS};
    use super::*;

    #[test]
    fn q17_final_table_equals_the_reference_statistics() {
        let cfg = at_rate(1_000);
        let mut keys: BTreeMap<(u64, Day), Vec<u64>> = BTreeMap::new();
        for e in input_of(&cfg, EVENTS) {
            if let Event::Bid(b) = e {
                keys.entry((b.auction, Day::of(b.date_time)))
                    .or_default()
                    .push(b.price);
            }
        }
        let want: BTreeMap<(u64, Day), AuctionStats> = keys
            .into_iter()
            .map(|((auction, day), prices)| {
                let n = prices.len() as u64;
                let count =
                    |lo: u64, hi: u64| prices.iter().filter(|&&p| lo <= p && p < hi).count() as u64;
                let sum: u64 = prices.iter().sum();
                let row = AuctionStats {
                    auction,
                    day,
                    bids: [
                        n,
                        count(0, 10_000),
                        count(10_000, 1_000_000),
                        count(1_000_000, u64::MAX),
                    ],
                    min_price: prices.iter().copied().min().unwrap_or(0),
                    max_price: prices.iter().copied().max().unwrap_or(0),
                    avg_price: sum / n,
                    sum_price: sum,
                };
                ((auction, day), row)
            })
            .collect();
        assert!(want.values().any(|r| r.bids[0] > 100));
        let got = runs(&cfg, EVENTS, q17)
            .into_iter()
            .map(|rows| final_table(rows, |r| (r.auction, r.day)))
            .collect();
        assert_runs(got, &want, "q17");
    }
}
