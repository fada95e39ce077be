//! Query 11, user sessions: how many bids did a user make in each session they were
//! active? Session windows with a 10 s gap.
//!
//! ```sql
//! SELECT
//!     B.bidder,
//!     count(*) as bid_count,
//!     SESSION_START(B.dateTime, INTERVAL '10' SECOND) as starttime,
//!     SESSION_END(B.dateTime, INTERVAL '10' SECOND) as endtime
//! FROM bid B
//! GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND);
//! ```
//!
//! Bids keyed by bidder into event-time session windows (Flink's: a bid opens
//! `[t, t + gap)`, and windows that overlap or touch merge), counted incrementally; a
//! session's row is emitted when the watermark passes its end, which is its last bid plus
//! the gap.

use spate::prelude::*;
use spate::window::{Count, SessionWindows, TimeWindow, WindowContext};

use super::{bids, event_time, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q11 in the registry.
pub const QUERY: Query = Query {
    name: "q11",
    about: "user sessions: bids per bidder session (10 s gap)",
    class: QueryClass::Windowed,
    build: |events, cx| cx.append(&q11(events), "q11", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: bidder, bid_count,
/// starttime, endtime.
pub fn write_row(r: &Session, out: &mut String) {
    super::output::csv_fields(out, &[&r.bidder, &r.bid_count, &r.starttime, &r.endtime]);
}

/// The session gap (10 s).
pub const GAP_MS: i64 = 10_000;

/// A bidder's session and the bids in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Session {
    /// The bidder's person id.
    pub bidder: u64,
    /// Bids in the session.
    pub bid_count: u64,
    /// The first bid's time.
    pub starttime: i64,
    /// The last bid's time plus the gap.
    pub endtime: i64,
}

/// Every bidder's sessions (bids less than 10 s apart) with their bid counts.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q11::q11;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 200, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q11(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.iter().all(|s| s.bid_count > 0 && s.endtime - s.starttime >= 10_000));
/// ```
#[track_caller]
pub fn q11(events: &DataStream<Event>) -> DataStream<Session> {
    bids(&event_time(events))
        .key_by(|b: &Bid| b.bidder)
        .window(SessionWindows::with_gap(GAP_MS))
        .aggregate_process(
            Count,
            |bidder: &u64, n: &[u64], ctx: &mut WindowContext<'_, TimeWindow, Session>| {
                let w = *ctx.window();
                for &bid_count in n {
                    ctx.collect(Session {
                        bidder: *bidder,
                        bid_count,
                        starttime: w.start,
                        endtime: w.end,
                    });
                }
                Ok(())
            },
        )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{assert_runs, at_rate, input_of, runs, EVENTS};
    use super::*;

    #[test]
    fn q11_counts_bids_per_session_of_each_bidder() {
        let cfg = at_rate(200);
        let mut times: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
        for e in input_of(&cfg, EVENTS) {
            if let Event::Bid(b) = e {
                times.entry(b.bidder).or_default().push(b.date_time);
            }
        }
        let mut want = Vec::new();
        for (bidder, mut ts) in times {
            ts.sort();
            let mut start = 0;
            for i in 1..=ts.len() {
                if i == ts.len() || ts[i] - ts[i - 1] > GAP_MS {
                    want.push(Session {
                        bidder,
                        bid_count: (i - start) as u64,
                        starttime: ts[start],
                        endtime: ts[i - 1] + GAP_MS,
                    });
                    start = i;
                }
            }
        }
        want.sort();
        assert!(want.iter().any(|s| s.bid_count > 1) && want.len() > 100);
        let got = runs(&cfg, EVENTS, q11)
            .into_iter()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        assert_runs(got, &want, "q11");
    }
}
