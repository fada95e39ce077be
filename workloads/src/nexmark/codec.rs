//! [`StateData`] codecs for the Nexmark records, so that queries keeping them in keyed
//! state, windows or joins take part in checkpoints.
//!
//! A [`PoolStr`] is written as its handle when it points into the generator's arena (8
//! bytes, after the arena's version, 4 bytes: the arena is the same in every process built
//! with the same [`POOL_VERSION`](super::POOL_VERSION), and a handle written under another
//! version is refused when read, naming both), and as its text when it is interned (interned
//! handles mean nothing in another process; the text is interned again when read). The
//! records are their fields in declaration order.
//!
//! [`state_data!`] implements the codec of a struct by delegating to its fields; the
//! queries use it for the types they keep in state.

use spate::checkpoint::{DecodeError, StateData};

use super::intern::INTERNED;
use super::model::{Auction, Bid, Event, Person};
use super::pools::{PoolStr, POOL_VERSION};

/// Implements [`StateData`] for a struct with named fields (each a `StateData`), written in
/// the order listed: `state_data!(Type { a, b, c });`.
macro_rules! state_data {
    ($t:ty { $($f:ident),+ $(,)? }) => {
        impl spate::checkpoint::StateData for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                $(spate::checkpoint::StateData::encode(&self.$f, out);)+
            }
            fn decode(input: &mut &[u8]) -> Result<Self, spate::checkpoint::DecodeError> {
                Ok(Self {
                    $($f: spate::checkpoint::StateData::decode(input)?,)+
                })
            }
        }
    };
}
pub(crate) use state_data;

impl StateData for PoolStr {
    fn encode(&self, out: &mut Vec<u8>) {
        let (off, len) = self.parts();
        if off & INTERNED == 0 {
            out.push(2);
            POOL_VERSION.encode(out);
            off.encode(out);
            len.encode(out);
        } else {
            out.push(1);
            self.as_str().to_string().encode(out);
        }
    }

    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match u8::decode(input)? {
            2 => {
                let version = u32::decode(input)?;
                if version != POOL_VERSION {
                    return Err(DecodeError(format!(
                        "string handle of the generator's text arena version {version}, this \
                         build has version {POOL_VERSION}: restore with the build that wrote \
                         the checkpoint, or start without it"
                    )));
                }
                let (off, len) = (u32::decode(input)?, u32::decode(input)?);
                let s = PoolStr::from_parts(off, len);
                // A handle outside the arena would read as "": refuse it instead.
                if off & INTERNED != 0 || s.as_str().len() != len as usize {
                    return Err(DecodeError(format!(
                        "string handle {off}+{len} is outside the generator's text arena"
                    )));
                }
                Ok(s)
            }
            1 => {
                let text = String::decode(input)?;
                PoolStr::from_text(&text)
                    .ok_or_else(|| DecodeError("too many distinct strings to intern".into()))
            }
            t => Err(DecodeError(format!("invalid string tag {t}"))),
        }
    }
}

state_data!(Person {
    id,
    name,
    email_address,
    credit_card,
    city,
    state,
    date_time,
    extra
});
state_data!(Auction {
    id,
    item_name,
    description,
    initial_bid,
    reserve,
    date_time,
    expires,
    seller,
    category,
    extra
});
state_data!(Bid {
    auction,
    bidder,
    price,
    channel,
    url,
    date_time,
    extra
});

impl StateData for Event {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Event::Person(p) => {
                out.push(0);
                p.encode(out);
            }
            Event::Auction(a) => {
                out.push(1);
                a.encode(out);
            }
            Event::Bid(b) => {
                out.push(2);
                b.encode(out);
            }
        }
    }

    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match u8::decode(input)? {
            0 => Ok(Event::Person(Person::decode(input)?)),
            1 => Ok(Event::Auction(Auction::decode(input)?)),
            2 => Ok(Event::Bid(Bid::decode(input)?)),
            t => Err(DecodeError(format!("invalid event tag {t}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nexmark::{NexmarkConfig, NexmarkGenerator};

    fn round<T: StateData + PartialEq + std::fmt::Debug>(x: &T) {
        let mut buf = Vec::new();
        x.encode(&mut buf);
        let mut input = &buf[..];
        assert_eq!(&T::decode(&mut input).expect("decodes"), x);
        assert!(input.is_empty(), "every byte read");
        for cut in 0..buf.len() {
            assert!(
                T::decode(&mut &buf[..cut]).is_err(),
                "a prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn generated_events_round_trip() {
        let g = NexmarkGenerator::new(NexmarkConfig::default()).expect("valid");
        for e in g.events(0..200) {
            round(&e);
        }
        let side = PoolStr::from_text("not generated, interned").expect("interned");
        round(&side);
        let mut buf = Vec::new();
        side.encode(&mut buf);
        assert_eq!(buf[0], 1, "an interned string is written as its text");
    }

    #[test]
    fn handles_outside_the_arena_are_errors() {
        let mut buf = vec![2u8];
        POOL_VERSION.encode(&mut buf);
        (u32::MAX >> 1).encode(&mut buf);
        5u32.encode(&mut buf);
        let e = PoolStr::decode(&mut &buf[..]).unwrap_err();
        assert!(e.0.contains("outside"), "{}", e.0);
        assert!(Event::decode(&mut &[9u8][..]).is_err());
    }

    #[test]
    fn handles_of_another_arena_version_are_refused() {
        let g = NexmarkGenerator::new(NexmarkConfig::default()).expect("valid");
        let bid = g.events(0..50).find_map(|e| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        });
        let mut buf = Vec::new();
        bid.expect("a bid among 50 events").channel.encode(&mut buf);
        assert_eq!(buf[0], 2, "a generated string is written as its handle");
        buf[1..5].copy_from_slice(&(POOL_VERSION + 1).to_le_bytes());
        let e = PoolStr::decode(&mut &buf[..]).unwrap_err();
        assert!(e.0.contains("version"), "{}", e.0);
    }
}
