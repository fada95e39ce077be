//! Query 0, pass-through: every bid, unchanged. Measures the cost of reading the input.
//!
//! ```sql
//! SELECT auction, bidder, price, dateTime, extra FROM bid;
//! ```
//!
//! Deviation: the result keeps every field of [`Bid`] (also `channel` and `url`); the
//! columns the SQL selects are picked when the result is written out.

use spate::prelude::*;

use super::{bids, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q0 in the registry.
pub const QUERY: Query = Query {
    name: "q0",
    about: "pass-through: every bid",
    class: QueryClass::Stateless,
    build: |events, cx| cx.append(&q0(events), "q0", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, dateTime, extra.
pub fn write_row(r: &Bid, out: &mut String) {
    super::output::csv_fields(
        out,
        &[&r.auction, &r.bidder, &r.price, &r.date_time, &r.extra],
    );
}

/// Every bid of `events`.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q0::q0;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(1000));
/// let out = q0(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert_eq!(rows.len(), 920);
/// ```
#[track_caller]
pub fn q0(events: &DataStream<Event>) -> DataStream<Bid> {
    bids(events)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{input, run_on_shards};
    use super::*;

    #[test]
    fn q0_passes_every_bid_through() {
        let mut want: Vec<Bid> = input()
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some(b),
                _ => None,
            })
            .collect();
        want.sort();
        for (i, got) in run_on_shards(q0).into_iter().enumerate() {
            assert!(
                got == want,
                "run {i}: {} results, want {}",
                got.len(),
                want.len()
            );
        }
    }
}
