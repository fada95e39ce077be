//! Query 2, selection: the bids on a few auctions.
//!
//! ```sql
//! SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
//! ```

use spate::prelude::*;

use super::{bids, Query, QueryClass};
use crate::nexmark::Event;

/// q2 in the registry.
pub const QUERY: Query = Query {
    name: "q2",
    about: "selection: bids on auctions whose id is a multiple of 123",
    class: QueryClass::Stateless,
    build: |events, cx| cx.append(&q2(events), "q2", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, price.
pub fn write_row(r: &(u64, u64), out: &mut String) {
    super::output::csv_fields(out, &[&r.0, &r.1]);
}

/// `(auction, price)` of the bids of `events` on auctions whose id is a multiple of 123.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q2::q2;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(100000));
/// let out = q2(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(!rows.is_empty() && rows.iter().all(|(auction, _)| auction % 123 == 0));
/// ```
#[track_caller]
pub fn q2(events: &DataStream<Event>) -> DataStream<(u64, u64)> {
    bids(events)
        .filter(|b| b.auction % 123 == 0)
        .map(|b| (b.auction, b.price))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{input, run_on_shards};
    use super::*;

    #[test]
    fn q2_selects_the_bids_on_every_123rd_auction() {
        let mut want: Vec<(u64, u64)> = input()
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) if b.auction % 123 == 0 => Some((b.auction, b.price)),
                _ => None,
            })
            .collect();
        want.sort();
        assert!(!want.is_empty());
        for (i, got) in run_on_shards(q2).into_iter().enumerate() {
            assert!(
                got == want,
                "run {i}: {} results, want {}",
                got.len(),
                want.len()
            );
        }
    }
}
