//! Query 1, currency conversion: every bid's price from dollars to euros.
//!
//! ```sql
//! SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid;
//! ```
//!
//! Deviation: the reference's `0.908 * price` is an exact decimal (`DECIMAL(23, 3)`); here
//! it is an `f64`, which holds it to within a millionth of a cent for any generated price.

use spate::prelude::*;

use super::{bids, Query, QueryClass};
use crate::nexmark::{Event, PoolStr};

/// q1 in the registry.
pub const QUERY: Query = Query {
    name: "q1",
    about: "currency conversion: price * 0.908",
    class: QueryClass::Stateless,
    build: |events, cx| cx.append(&q1(events), "q1", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, dateTime, extra.
pub fn write_row(r: &EuroBid, out: &mut String) {
    super::output::csv_fields(
        out,
        &[
            &r.auction,
            &r.bidder,
            &super::output::Dec3(r.price),
            &r.date_time,
            &r.extra,
        ],
    );
}

/// A bid with its price in euros.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct EuroBid {
    /// The auction's id.
    pub auction: u64,
    /// The bidder's person id.
    pub bidder: u64,
    /// The price in euro cents: `0.908 * price`.
    pub price: f64,
    /// When the bid was placed (epoch ms).
    pub date_time: i64,
    /// The bid's padding.
    pub extra: PoolStr,
}

/// Every bid of `events`, its price converted at 0.908 euros to the dollar.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q1::q1;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(1000));
/// let out = q1(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.len() == 920 && rows.iter().all(|b| b.price > 0.0));
/// ```
#[track_caller]
pub fn q1(events: &DataStream<Event>) -> DataStream<EuroBid> {
    bids(events).map(|b| EuroBid {
        auction: b.auction,
        bidder: b.bidder,
        price: 0.908 * b.price as f64,
        date_time: b.date_time,
        extra: b.extra,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::input;
    use super::*;
    use crate::nexmark::{NexmarkConfig, NexmarkSource};

    #[test]
    fn q1_converts_every_price() {
        let key = |b: &EuroBid| (b.date_time, b.auction, b.bidder, b.price.to_bits(), b.extra);
        let mut want: Vec<EuroBid> = input()
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some(EuroBid {
                    auction: b.auction,
                    bidder: b.bidder,
                    price: b.price as f64 * 0.908,
                    date_time: b.date_time,
                    extra: b.extra,
                }),
                _ => None,
            })
            .collect();
        want.sort_by_key(key);
        for shards in 1..=3 {
            let env = Env::new().shards(shards);
            let source = NexmarkSource::new(NexmarkConfig::default())
                .expect("valid")
                .events(Some(super::super::testing::EVENTS));
            let out = q1(&env.add_source("nexmark", source)).collect();
            env.execute().expect("runs");
            let mut got = out.take();
            got.sort_by_key(key);
            assert!(
                got == want,
                "{shards} shards: {} results, want {}",
                got.len(),
                want.len()
            );
        }
    }
}
