//! Query 3, local item suggestion: who is selling in OR, ID or CA in category 10, and for
//! what auction ids? An incremental join of people and auctions.
//!
//! ```sql
//! SELECT P.name, P.city, P.state, A.id
//! FROM auction AS A INNER JOIN person AS P on A.seller = P.id
//! WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
//! ```
//!
//! People are keyed by id and category-10 auctions by seller into one keyed co-process
//! function. A person leaves their name, city and state if their state matches, or a mark
//! that it does not (so that their later auctions are dropped at once); an auction whose
//! seller has not arrived yet waits for them (the generator picks sellers up to a few ids
//! ahead). As in the reference's regular join, state is not expired: it grows with the
//! people seen (a few bytes each) and the auctions of sellers still to come.
//!
//! Each result row is emitted once, when its second input arrives; the result is an
//! append-only table, as the reference's.

use spate::checkpoint::StateData;
use spate::prelude::*;
use spate::state::ValueState;

use super::{auctions, persons, Query, QueryClass};
use crate::nexmark::{Auction, Event, Person, PoolStr};

/// q3 in the registry.
pub const QUERY: Query = Query {
    name: "q3",
    about: "local item suggestion: person ⋈ auction, category 10, OR/ID/CA",
    class: QueryClass::Join,
    build: |events, cx| cx.append(&q3(events), "q3", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: name, city, state,
/// id.
pub fn write_row(r: &LocalItem, out: &mut String) {
    super::output::csv_fields(out, &[&r.name, &r.city, &r.state, &r.id]);
}

/// A seller in OR, ID or CA and one of their category-10 auctions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalItem {
    /// The seller's name.
    pub name: PoolStr,
    /// The seller's city.
    pub city: PoolStr,
    /// The seller's state.
    pub state: PoolStr,
    /// The auction's id.
    pub id: u64,
}

/// `true` for the states q3 selects.
#[inline]
pub fn selected_state(state: &str) -> bool {
    matches!(state, "OR" | "ID" | "CA")
}

/// The category q3 selects.
pub const CATEGORY: u64 = 10;

/// Every category-10 auction of a seller in OR, ID or CA, with the seller's name, city and
/// state.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q3::q3;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q3(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(!rows.is_empty());
/// assert!(rows.iter().all(|r| ["OR", "ID", "CA"].contains(&r.state.as_str())));
/// ```
#[track_caller]
pub fn q3(events: &DataStream<Event>) -> DataStream<LocalItem> {
    let people = persons(events).key_by(|p: &Person| p.id);
    let items = auctions(events)
        .filter(|a| a.category == CATEGORY)
        .key_by(|a: &Auction| a.seller);
    people.connect(&items).process(Join::default())
}

/// What is known about a seller id.
#[derive(Clone, Debug)]
enum Seller {
    /// Arrived, in a selected state.
    Selected {
        name: PoolStr,
        city: PoolStr,
        state: PoolStr,
    },
    /// Arrived, elsewhere.
    Elsewhere,
    /// Not arrived; their auctions so far.
    Awaited(Vec<u64>),
}

impl spate::checkpoint::StateData for Seller {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Seller::Selected { name, city, state } => {
                out.push(0);
                (*name, *city, *state).encode(out);
            }
            Seller::Elsewhere => out.push(1),
            Seller::Awaited(v) => {
                out.push(2);
                v.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, spate::checkpoint::DecodeError> {
        Ok(match u8::decode(input)? {
            0 => {
                let (name, city, state) = StateData::decode(input)?;
                Seller::Selected { name, city, state }
            }
            1 => Seller::Elsewhere,
            2 => Seller::Awaited(StateData::decode(input)?),
            t => {
                return Err(spate::checkpoint::DecodeError(format!(
                    "q3: invalid seller tag {t}"
                )))
            }
        })
    }
}

#[derive(Clone, Default)]
struct Join {
    sellers: ValueState<u64, Seller>,
}

impl KeyedCoProcessFunction<u64, Person, Auction, LocalItem> for Join {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("sellers", &mut self.sellers);
    }

    fn process_element1(
        &mut self,
        p: Person,
        ctx: &mut KeyedContext<'_, u64, LocalItem>,
    ) -> Result<(), UserError> {
        let seller = if selected_state(&p.state) {
            Seller::Selected {
                name: p.name,
                city: p.city,
                state: p.state,
            }
        } else {
            Seller::Elsewhere
        };
        if let (Some(Seller::Awaited(ids)), Seller::Selected { name, city, state }) =
            (self.sellers.value(ctx), &seller)
        {
            for &id in ids {
                ctx.collect(LocalItem {
                    name: *name,
                    city: *city,
                    state: *state,
                    id,
                });
            }
        }
        self.sellers.update(ctx, seller);
        Ok(())
    }

    fn process_element2(
        &mut self,
        a: Auction,
        ctx: &mut KeyedContext<'_, u64, LocalItem>,
    ) -> Result<(), UserError> {
        match self.sellers.value_mut(ctx) {
            Some(Seller::Selected { name, city, state }) => {
                let row = LocalItem {
                    name: *name,
                    city: *city,
                    state: *state,
                    id: a.id,
                };
                ctx.collect(row);
            }
            Some(Seller::Elsewhere) => {}
            Some(Seller::Awaited(ids)) => ids.push(a.id),
            None => self.sellers.update(ctx, Seller::Awaited(vec![a.id])),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::testing::{assert_runs, input, run_on_shards};
    use super::*;

    #[test]
    fn q3_equals_a_plain_hash_join() {
        let input = input();
        let people: HashMap<u64, Person> = input
            .iter()
            .filter_map(|e| match e {
                Event::Person(p) => Some((p.id, *p)),
                _ => None,
            })
            .collect();
        let mut want: Vec<LocalItem> = input
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) if a.category == CATEGORY => {
                    people.get(&a.seller).map(|p| (p, a))
                }
                _ => None,
            })
            .filter(|(p, _)| selected_state(&p.state))
            .map(|(p, a)| LocalItem {
                name: p.name,
                city: p.city,
                state: p.state,
                id: a.id,
            })
            .collect();
        want.sort();
        assert!(want.len() > 20, "{} rows", want.len());
        assert_runs(run_on_shards(q3), &want, "q3");
    }
}
