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
//! Bids keyed by bidder into a keyed process function holding each bidder's open
//! sessions with Flink's session-window semantics: a bid opens `[t, t + gap)`, windows that
//! overlap or touch merge, and a session's row is emitted (timestamped `end - 1`) when the
//! watermark passes its last millisecond `end - 1`, its end being its last bid plus the gap;
//! a bid whose own window is already past the watermark and merges with no open session is
//! late and dropped, as Flink's window operator drops it.
//!
//! Why not the engine's session windows (`window(SessionWindows::with_gap(..))`, which
//! compute the same rows): every bid extends its bidder's session, and the window operator
//! then deletes the session's timer and registers a new one, two hash-set operations and a
//! timer-queue push per bid (`results/flamegraphs/q11-before.svg`). Here a session keeps
//! the timer it was opened with; when that fires before the session's end, it is
//! registered again at the end then: one or two timers per session, none per bid.

use spate::prelude::*;
use spate::state::ValueState;

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
        .process(Sessions::default())
}

/// One open session of a bidder.
#[derive(Clone, Copy, Debug)]
struct Open {
    start: i64,
    /// Last bid + gap (exclusive).
    end: i64,
    count: u64,
    /// The registered timer that will look at this session next (at most `end - 1`).
    timer: i64,
}

crate::nexmark::codec::state_data!(Open {
    start,
    end,
    count,
    timer
});

/// Each bidder's open sessions (rarely more than one).
#[derive(Clone, Default)]
struct Sessions {
    open: ValueState<u64, Vec<Open>>,
}

impl KeyedProcessFunction<u64, Bid, Session> for Sessions {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("open", &mut self.open);
    }

    fn process_element(
        &mut self,
        b: Bid,
        ctx: &mut KeyedContext<'_, u64, Session>,
    ) -> Result<(), UserError> {
        let t = b.date_time;
        let mut new = Open {
            start: t,
            end: t.saturating_add(GAP_MS),
            count: 1,
            timer: i64::MAX,
        };
        let open = self.open.value_or_insert_with(ctx, Vec::new);
        // Merge every open session the bid's window overlaps or touches (Flink's
        // `TimeWindow::intersects`).
        let mut i = 0;
        while i < open.len() {
            let s = open[i];
            if s.start <= new.end && s.end >= new.start {
                new.start = new.start.min(s.start);
                new.end = new.end.max(s.end);
                new.count += s.count;
                new.timer = new.timer.min(s.timer);
                open.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if new.timer == i64::MAX {
            if new.end - 1 <= ctx.current_watermark() {
                // Late, and merged with nothing: dropped.
                if open.is_empty() {
                    self.open.clear(ctx);
                }
                return Ok(());
            }
            new.timer = new.end - 1;
            ctx.register_event_time_timer(new.timer);
        }
        open.push(new);
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, Session>,
    ) -> Result<(), UserError> {
        let bidder = *ctx.current_key();
        let wm = ts.max(ctx.current_watermark());
        let Some(open) = self.open.value_mut(ctx) else {
            return Ok(());
        };
        let mut i = 0;
        while i < open.len() {
            let s = open[i];
            if s.end - 1 <= wm {
                ctx.collect_with_timestamp(
                    Session {
                        bidder,
                        bid_count: s.count,
                        starttime: s.start,
                        endtime: s.end,
                    },
                    s.end - 1,
                );
                open.swap_remove(i);
            } else {
                if s.timer <= ts {
                    // Extended since its timer was set: look again at its end.
                    open[i].timer = s.end - 1;
                    ctx.register_event_time_timer(s.end - 1);
                }
                i += 1;
            }
        }
        if open.is_empty() {
            self.open.clear(ctx);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{assert_runs, at_rate, input_of, runs, EVENTS};
    use super::super::OUT_OF_ORDERNESS_MS;
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

    #[test]
    fn sessions_merge_bridge_and_drop_late_bids_as_flinks_windows() {
        // One bidder; a watermark after every record, 4 s behind the highest time.
        let bid = |t: i64| Bid {
            bidder: 7,
            date_time: t,
            ..Bid::default()
        };
        let times = [
            0, 5_000, 30_000, 20_000, 100_000, 50_000, 108_000, 114_000, 130_000,
        ];
        let env = Env::new().shards(1).batch_size(1);
        let rows = env
            .from_iter(times.map(bid).to_vec())
            .assign_timestamps_and_watermarks(
                WatermarkStrategy::for_bounded_out_of_orderness(OUT_OF_ORDERNESS_MS)
                    .with_timestamp_assigner(|b: &Bid| b.date_time)
                    .punctuated(),
            )
            .key_by(|b: &Bid| b.bidder)
            .process(Sessions::default())
            .collect();
        env.execute().expect("runs");
        let s = |starttime, endtime, bid_count| Session {
            bidder: 7,
            bid_count,
            starttime,
            endtime,
        };
        // 0 and 5 000 merge; 20 000 merges with 30 000 (its window ends where 30 000's
        // starts: touching windows merge); 50 000 arrives when the watermark is 96 000 and
        // is dropped; 108 000 and 114 000 extend 100 000's session, whose first timer
        // (109 999) fires at watermark 110 000 and is set again at its end (123 999).
        let mut want = vec![
            s(0, 15_000, 2),
            s(20_000, 40_000, 2),
            s(100_000, 124_000, 3),
            s(130_000, 140_000, 1),
        ];
        want.sort();
        assert_eq!(rows.sorted(), want);
    }
}
