//! Query 16, channel statistics report: per channel and day, how many bids, bidders and
//! auctions, in total and per price rank, and the latest minute seen.
//!
//! ```sql
//! SELECT
//!     channel,
//!     DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`,
//!     max(DATE_FORMAT(dateTime, 'HH:mm')) as `minute`,
//!     count(*) AS total_bids,
//!     count(*) filter (where price < 10000) AS rank1_bids,
//!     count(*) filter (where price >= 10000 and price < 1000000) AS rank2_bids,
//!     count(*) filter (where price >= 1000000) AS rank3_bids,
//!     count(distinct bidder) AS total_bidders,
//!     … (as q15, per rank) …
//!     count(distinct auction) filter (where price >= 1000000) AS rank3_auctions
//! FROM bid
//! GROUP BY channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd');
//! ```
//!
//! As q15 ([`q15`](super::q15)), keyed by channel and day: an updating table, a row per
//! key at most once per second of event time, the last row of each key being the final
//! table.

use spate::prelude::*;

use super::stats::{DistinctStats, EverySecond, PriceStats};
use super::time_fmt::{Day, HourMinute};
use super::{bids, event_time, Query, QueryClass};
use crate::nexmark::{Bid, Event, PoolStr};

/// q16 in the registry.
pub const QUERY: Query = Query {
    name: "q16",
    about: "channel statistics per day: bids, distinct bidders and auctions per price rank",
    class: QueryClass::Other,
    build: |events, cx| cx.table(&q16(events), "q16", |r| (r.channel, r.day), write_row),
};

/// Appends a result row's CSV fields in the reference's column order: channel, day, minute,
/// total_bids, rank1_bids … rank3_auctions.
/// The result is an updating table keyed by `(channel, day)`.
pub fn write_row(r: &ChannelStats, out: &mut String) {
    super::output::csv_fields(out, &[&r.channel, &r.day, &r.minute]);
    for counts in [&r.stats.bids, &r.stats.bidders, &r.stats.auctions] {
        for c in counts {
            out.push(',');
            super::output::csv_fields(out, &[c]);
        }
    }
}

/// A channel's statistics for a day so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelStats {
    /// The channel.
    pub channel: PoolStr,
    /// The day (displays as `yyyy-MM-dd`).
    pub day: Day,
    /// The latest minute of the day with a bid (displays as `HH:mm`).
    pub minute: HourMinute,
    /// The counts.
    pub stats: PriceStats,
}

/// Per channel and day bid statistics, as an updating table (upserts by channel and day).
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q16::q16;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q16(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.iter().all(|r| r.stats.bids[0] >= r.stats.bidders[0]));
/// ```
#[track_caller]
pub fn q16(events: &DataStream<Event>) -> DataStream<ChannelStats> {
    bids(&event_time(events))
        .key_by(|b: &Bid| (b.channel, Day::of(b.date_time)))
        .process(EverySecond::new(
            |acc: &mut (DistinctStats, i64), b: &Bid| {
                acc.0.add(b);
                acc.1 = acc.1.max(b.date_time);
            },
            |&(channel, day): &(PoolStr, Day), acc: &(DistinctStats, i64)| ChannelStats {
                channel,
                day,
                minute: HourMinute::of(acc.1),
                stats: acc.0.stats,
            },
        ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{assert_runs, at_rate, final_table, input_of, runs};
    use super::*;

    #[test]
    fn q16_final_table_equals_the_reference_counts() {
        let mut cfg = at_rate(3);
        cfg.base_time -= 3_600_000;
        let n = 20_000;
        let mut keys: BTreeMap<(PoolStr, Day), (DistinctStats, i64)> = BTreeMap::new();
        for e in input_of(&cfg, n) {
            if let Event::Bid(b) = e {
                let acc = keys.entry((b.channel, Day::of(b.date_time))).or_default();
                acc.0.add(&b);
                acc.1 = acc.1.max(b.date_time);
            }
        }
        let want: BTreeMap<(PoolStr, Day), ChannelStats> = keys
            .into_iter()
            .map(|((channel, day), (d, last))| {
                let row = ChannelStats {
                    channel,
                    day,
                    minute: HourMinute::of(last),
                    stats: d.stats,
                };
                ((channel, day), row)
            })
            .collect();
        assert!(want.len() > 100);
        let got = runs(&cfg, n, q16)
            .into_iter()
            .map(|rows| final_table(rows, |r| (r.channel, r.day)))
            .collect();
        assert_runs(got, &want, "q16");
    }
}
