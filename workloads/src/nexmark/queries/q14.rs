//! Query 14, calculation: bids in a price band, with the price in euros, the time of day
//! they were placed in, and how many `c`s their `extra` holds (a user-defined function in
//! the reference).
//!
//! ```sql
//! SELECT
//!     auction, bidder, 0.908 * price as price,
//!     CASE
//!         WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime'
//!         WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime'
//!         ELSE 'otherTime'
//!     END AS bidTimeType,
//!     dateTime, extra, count_char(extra, 'c') AS c_counts
//! FROM bid
//! WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
//! ```
//!
//! Deviations: the price is an `f64` (the reference's is a `DECIMAL(23, 3)`; see q1), and
//! the hour is taken in UTC.

use std::fmt;

use spate::prelude::*;

use super::time_fmt::HourMinute;
use super::{bids, Query, QueryClass};
use crate::nexmark::{Event, PoolStr};

/// q14 in the registry.
pub const QUERY: Query = Query {
    name: "q14",
    about: "calculation: euro price band, time of day, count of 'c' in extra",
    class: QueryClass::Stateless,
    build: |events, cx| cx.append(&q14(events), "q14", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, bidTimeType, dateTime, extra, c_counts.
pub fn write_row(r: &Calculated, out: &mut String) {
    super::output::csv_fields(
        out,
        &[
            &r.auction,
            &r.bidder,
            &super::output::Dec3(r.price),
            &r.bid_time_type,
            &r.date_time,
            &r.extra,
            &r.c_counts,
        ],
    );
}

/// When in the day a bid was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BidTimeType {
    /// 08:00–18:59.
    DayTime,
    /// 20:00–06:59.
    NightTime,
    /// 07:00–07:59 and 19:00–19:59.
    OtherTime,
}

impl BidTimeType {
    /// The type of a bid placed in `hour` (0–23).
    pub fn of_hour(hour: u16) -> Self {
        match hour {
            8..=18 => BidTimeType::DayTime,
            h if h <= 6 || h >= 20 => BidTimeType::NightTime,
            _ => BidTimeType::OtherTime,
        }
    }
}

impl fmt::Display for BidTimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BidTimeType::DayTime => "dayTime",
            BidTimeType::NightTime => "nightTime",
            BidTimeType::OtherTime => "otherTime",
        })
    }
}

/// A bid of q14's result.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Calculated {
    /// The auction's id.
    pub auction: u64,
    /// The bidder's person id.
    pub bidder: u64,
    /// `0.908 * price`.
    pub price: f64,
    /// When in the day it was placed.
    pub bid_time_type: BidTimeType,
    /// When it was placed (epoch ms).
    pub date_time: i64,
    /// Its padding.
    pub extra: PoolStr,
    /// How many `c`s `extra` holds.
    pub c_counts: u64,
}

/// Bids whose euro price is between 1,000,000 and 50,000,000 (exclusive), calculated.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q14::q14;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q14(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.iter().all(|c| c.price > 1e6 && c.price < 5e7));
/// ```
#[track_caller]
pub fn q14(events: &DataStream<Event>) -> DataStream<Calculated> {
    bids(events).flat_map(|b| {
        let price = 0.908 * b.price as f64;
        (price > 1_000_000.0 && price < 50_000_000.0).then(|| Calculated {
            auction: b.auction,
            bidder: b.bidder,
            price,
            bid_time_type: BidTimeType::of_hour(HourMinute::of(b.date_time).hour()),
            date_time: b.date_time,
            extra: b.extra,
            c_counts: b.extra.bytes().filter(|&c| c == b'c').count() as u64,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_runs, at_rate, input_of, runs};
    use super::*;

    #[test]
    fn q14_calculates_the_bids_in_the_band() {
        // 2 events per second over 20,000 events from 06:00: 2.8 hours, so every time
        // type.
        let mut cfg = at_rate(2);
        cfg.base_time += 6 * 3_600_000;
        let key = |c: &Calculated| (c.date_time, c.auction, c.bidder, c.price.to_bits(), c.extra);
        let mut want: Vec<Calculated> = input_of(&cfg, 20_000)
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some(b),
                _ => None,
            })
            .filter(|b| {
                let p = b.price as f64 * 0.908;
                p > 1e6 && p < 5e7
            })
            .map(|b| {
                let hour = (b.date_time.rem_euclid(86_400_000) / 3_600_000) as u16;
                Calculated {
                    auction: b.auction,
                    bidder: b.bidder,
                    price: b.price as f64 * 0.908,
                    bid_time_type: BidTimeType::of_hour(hour),
                    date_time: b.date_time,
                    extra: b.extra,
                    c_counts: b.extra.matches('c').count() as u64,
                }
            })
            .collect();
        want.sort_by_key(key);
        assert!(want.len() > 500);
        for t in [
            BidTimeType::NightTime,
            BidTimeType::OtherTime,
            BidTimeType::DayTime,
        ] {
            assert!(want.iter().any(|c| c.bid_time_type == t), "{t}");
        }
        assert!(want.iter().any(|c| c.c_counts > 0));
        let got = runs(&cfg, 20_000, q14)
            .into_iter()
            .map(|mut v| {
                v.sort_by_key(key);
                v
            })
            .collect();
        assert_runs(got, &want, "q14");
        assert_eq!(
            [0, 7, 8, 18, 19, 20].map(|h| BidTimeType::of_hour(h).to_string()),
            [
                "nightTime",
                "otherTime",
                "dayTime",
                "dayTime",
                "otherTime",
                "nightTime"
            ]
        );
    }
}
