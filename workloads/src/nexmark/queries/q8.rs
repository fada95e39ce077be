//! Query 8, monitor new users: the people who registered and opened an auction in the
//! same 10 s tumbling window.
//!
//! ```sql
//! SELECT P.id, P.name, P.starttime
//! FROM (
//!   SELECT id, name, window_start AS starttime, window_end AS endtime
//!   FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//!   GROUP BY id, name, window_start, window_end
//! ) P
//! JOIN (
//!   SELECT seller, window_start AS starttime, window_end AS endtime
//!   FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//!   GROUP BY seller, window_start, window_end
//! ) A
//! ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
//! ```
//!
//! A window join: people keyed by id and auctions by seller meet in one keyed co-process
//! function, which keeps the person's name and window and the windows the seller opened
//! auctions in, and at each window's end (an event-time timer) emits the person if both
//! fall in it, then forgets that window. One row per person and window, as the SQL's
//! group-bys make it; timestamped with the window's last millisecond.

use spate::prelude::*;
use spate::state::ValueState;

use super::{auctions, event_time, persons, Query, QueryClass};
use crate::nexmark::{Auction, Event, Person, PoolStr};

/// q8 in the registry.
pub const QUERY: Query = Query {
    name: "q8",
    about: "new users: people who opened an auction in the 10 s window they registered in",
    class: QueryClass::Windowed,
    build: |events, cx| cx.append(&q8(events), "q8", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: id, name, starttime.
pub fn write_row(r: &NewSeller, out: &mut String) {
    super::output::csv_fields(out, &[&r.id, &r.name, &r.starttime]);
}

/// The window size (10 s).
pub const SIZE_MS: i64 = 10_000;

/// A person who opened an auction in the window they registered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NewSeller {
    /// The person's id.
    pub id: u64,
    /// Their name.
    pub name: PoolStr,
    /// The window's start (epoch ms).
    pub starttime: i64,
}

/// The people who registered and opened an auction in the same 10 s window.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q8::q8;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 500, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q8(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(!rows.is_empty() && rows.iter().all(|p| p.starttime % 10_000 == 0));
/// ```
#[track_caller]
pub fn q8(events: &DataStream<Event>) -> DataStream<NewSeller> {
    let events = event_time(events);
    let people = persons(&events).key_by(|p: &Person| p.id);
    let sellers = auctions(&events).key_by(|a: &Auction| a.seller);
    people.connect(&sellers).process(WindowJoin::default())
}

fn window_start(ts: i64) -> i64 {
    ts.div_euclid(SIZE_MS) * SIZE_MS
}

#[derive(Clone, Debug, Default)]
struct Seen {
    /// The person's name and window start, until that window ends.
    person: Option<(PoolStr, i64)>,
    /// Starts of the open windows the id sold in.
    sold_in: Vec<i64>,
}

crate::nexmark::codec::state_data!(Seen { person, sold_in });

#[derive(Clone, Default)]
struct WindowJoin {
    state: ValueState<u64, Seen>,
}

impl KeyedCoProcessFunction<u64, Person, Auction, NewSeller> for WindowJoin {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("seen", &mut self.state);
    }

    fn process_element1(
        &mut self,
        p: Person,
        ctx: &mut KeyedContext<'_, u64, NewSeller>,
    ) -> Result<(), UserError> {
        let start = window_start(p.date_time);
        let person = Some((p.name, start));
        match self.state.value_mut(ctx) {
            Some(seen) => seen.person = person,
            None => self.state.update(
                ctx,
                Seen {
                    person,
                    sold_in: Vec::new(),
                },
            ),
        }
        ctx.register_event_time_timer(start + SIZE_MS - 1);
        Ok(())
    }

    fn process_element2(
        &mut self,
        a: Auction,
        ctx: &mut KeyedContext<'_, u64, NewSeller>,
    ) -> Result<(), UserError> {
        let start = window_start(a.date_time);
        match self.state.value_mut(ctx) {
            Some(seen) if seen.sold_in.contains(&start) => return Ok(()),
            Some(seen) => seen.sold_in.push(start),
            None => self.state.update(
                ctx,
                Seen {
                    person: None,
                    sold_in: vec![start],
                },
            ),
        }
        ctx.register_event_time_timer(start + SIZE_MS - 1);
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, NewSeller>,
    ) -> Result<(), UserError> {
        let id = *ctx.current_key();
        let start = ts + 1 - SIZE_MS;
        let Some(seen) = self.state.value_mut(ctx) else {
            return Ok(());
        };
        let sold = seen.sold_in.contains(&start);
        seen.sold_in.retain(|&s| s > start);
        if let Some((name, at)) = seen.person {
            if at <= start {
                seen.person = None;
                if at == start && sold {
                    ctx.collect(NewSeller {
                        id,
                        name,
                        starttime: start,
                    });
                }
            }
        }
        if seen.person.is_none() && seen.sold_in.is_empty() {
            self.state.clear(ctx);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::super::testing::{assert_runs, at_rate, input_of, runs, EVENTS};
    use super::*;

    #[test]
    fn q8_joins_people_and_sellers_of_the_same_window() {
        let cfg = at_rate(500);
        let input = input_of(&cfg, EVENTS);
        let sold: HashSet<(u64, i64)> = input
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) => Some((a.seller, window_start(a.date_time))),
                _ => None,
            })
            .collect();
        let people: HashMap<u64, &Person> = input
            .iter()
            .filter_map(|e| match e {
                Event::Person(p) => Some((p.id, p)),
                _ => None,
            })
            .collect();
        let mut want: Vec<NewSeller> = people
            .values()
            .filter(|p| sold.contains(&(p.id, window_start(p.date_time))))
            .map(|p| NewSeller {
                id: p.id,
                name: p.name,
                starttime: window_start(p.date_time),
            })
            .collect();
        want.sort();
        assert!(want.len() > 10, "{} rows", want.len());
        let got = runs(&cfg, EVENTS, q8)
            .into_iter()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        assert_runs(got, &want, "q8");
    }
}
