//! The generator against the reference's rules: determinism, replay, splitting, mix, id
//! ranges, hot ratios, sizes, times, and the CSV format.

use std::sync::{Arc, Mutex};

use spate::io::Sink;
use spate::prelude::*;

use super::*;

fn gen(cfg: NexmarkConfig) -> NexmarkGenerator {
    NexmarkGenerator::new(cfg).expect("a valid config")
}

fn default_gen() -> NexmarkGenerator {
    gen(NexmarkConfig::default())
}

fn sorted(mut v: Vec<Event>) -> Vec<Event> {
    v.sort();
    v
}

#[test]
fn the_same_seed_gives_the_same_events_and_another_seed_others() {
    let a: Vec<Event> = default_gen().events(0..5_000).collect();
    let b: Vec<Event> = default_gen().events(0..5_000).collect();
    assert_eq!(a, b);
    let c: Vec<Event> = gen(NexmarkConfig {
        seed: 7,
        ..NexmarkConfig::default()
    })
    .events(0..5_000)
    .collect();
    let same = a.iter().zip(&c).filter(|(x, y)| x == y).count();
    assert!(same < 50, "{same} of 5000 events equal across seeds");
    // Kinds, ids and times do not depend on the seed.
    assert!(a
        .iter()
        .zip(&c)
        .all(|(x, y)| x.kind() == y.kind() && x.timestamp() == y.timestamp()));
}

#[test]
fn replay_from_any_event_equals_the_tail_of_a_full_run() {
    for group in [1, 7] {
        let g = gen(NexmarkConfig {
            out_of_order_group_size: group,
            ..NexmarkConfig::default()
        });
        let full: Vec<Event> = g.events(0..3_000).collect();
        for k in [0, 1, 49, 50, 51, 1_234, 2_999, 3_000] {
            let tail: Vec<Event> = g.events(k..3_000).collect();
            assert_eq!(tail, full[k as usize..], "replay from {k}, group {group}");
        }
        assert!((0..3_000).all(|n| g.event(n) == full[n as usize]));
        let bids: Vec<Event> = g.bids(1_000..3_000).map(Event::Bid).collect();
        let expected: Vec<Event> = full[1_000..]
            .iter()
            .filter(|e| e.kind() == EventKind::Bid)
            .copied()
            .collect();
        assert_eq!(bids, expected);
    }
}

#[test]
fn shards_together_make_exactly_the_events_of_one_generator() {
    let g = default_gen();
    let whole = sorted(g.events(17..2_017).collect());
    for shards in 1..=3 {
        let parts: Vec<Event> = (0..shards)
            .flat_map(|s| g.shard::<Event>(17..2_017, s, shards))
            .collect();
        assert_eq!(sorted(parts), whole, "{shards} shards");
        let bids: usize = (0..shards)
            .map(|s| g.shard::<Bid>(17..2_017, s, shards).count())
            .sum();
        assert_eq!(bids, g.bids(17..2_017).count());
    }
}

/// Records every record with its timestamp.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(i64, Event)>>>);

impl Sink<Event> for Recorder {
    fn write(&mut self, value: Event, ts: Option<i64>) -> Result<(), UserError> {
        let ts = ts.ok_or("a record without a timestamp")?;
        self.0.lock().map_err(|_| "poisoned")?.push((ts, value));
        Ok(())
    }
}

#[test]
fn the_source_on_one_to_three_shards_emits_the_generators_events_with_their_times() {
    let g = default_gen();
    let expected: Vec<(i64, Event)> = g.events(100..2_600).map(|e| (e.timestamp(), e)).collect();
    for shards in 1..=3 {
        for batch in [1, 7, 1024] {
            let env = Env::new().shards(shards).batch_size(batch);
            let rec = Recorder::default();
            let source = NexmarkSource::from_generator(g.clone())
                .starting_at(100)
                .events(Some(2_500));
            env.add_source("nexmark", source)
                .add_sink("record", rec.clone());
            env.execute().expect("the job runs");
            let mut got = rec.0.lock().expect("not poisoned").clone();
            got.sort();
            let mut want = expected.clone();
            want.sort();
            assert_eq!(got, want, "{shards} shards, batch {batch}");
        }
    }
}

#[test]
fn the_mix_is_one_person_three_auctions_and_46_bids_in_every_50_events() {
    let g = default_gen();
    let mut counts = [0usize; 3];
    for (n, e) in g.events(0..50 * 200).enumerate() {
        assert_eq!(g.kind(n as u64), e.kind());
        counts[e.kind() as usize] += 1;
    }
    assert_eq!(counts, [200, 600, 9_200]);
}

/// Checks every event's ids against the people and auctions made before it.
#[test]
fn ids_lie_within_the_references_ranges() {
    let cfg = NexmarkConfig::default();
    let g = gen(cfg.clone());
    let (mut people, mut auctions) = (0u64, 0u64);
    let (mut bids, mut hot_auction, mut hot_bidder) = (0u64, 0u64, 0u64);
    for e in g.events(0..200_000) {
        match e {
            Event::Person(p) => {
                assert_eq!(p.id, cfg.first_person_id + people, "person ids count up");
                people += 1;
            }
            Event::Auction(a) => {
                assert_eq!(
                    a.id,
                    cfg.first_auction_id + auctions,
                    "auction ids count up"
                );
                auctions += 1;
                let last = people - 1;
                let seller = a.seller - cfg.first_person_id;
                assert!(
                    seller <= last + 10 && seller + 1000 >= last,
                    "seller {seller}"
                );
                assert!((10..15).contains(&a.category));
                assert!(a.expires > a.date_time && a.reserve >= a.initial_bid);
            }
            Event::Bid(b) => {
                bids += 1;
                let (last_p, last_a) = (people - 1, auctions - 1);
                let auction = b.auction - cfg.first_auction_id;
                assert!(
                    auction <= last_a + 10 && auction + 100 >= last_a,
                    "auction {auction}"
                );
                let bidder = b.bidder - cfg.first_person_id;
                assert!(
                    bidder <= last_p + 10 && bidder + 1000 >= last_p,
                    "bidder {bidder}"
                );
                hot_auction += u64::from(auction == last_a / 100 * 100);
                hot_bidder += u64::from(bidder == last_p / 100 * 100 + 1);
                assert!((100..=100_000_000).contains(&b.price), "price {}", b.price);
            }
        }
    }
    // Hot with probability 1 - 1/ratio, plus the cold draws that land on the hot id.
    let share = |n: u64| n as f64 / bids as f64;
    assert!(
        (0.49..0.53).contains(&share(hot_auction)),
        "{}",
        share(hot_auction)
    );
    assert!(
        (0.74..0.77).contains(&share(hot_bidder)),
        "{}",
        share(hot_bidder)
    );
}

#[test]
fn records_average_the_references_sizes() {
    let g = default_gen();
    let (mut sizes, mut counts) = ([0u64; 3], [0u64; 3]);
    for e in g.events(0..100_000) {
        // The reference's `currentSize` (8 per number, string lengths) plus `extra`.
        let size = match e {
            Event::Person(p) => {
                let s = [p.name, p.email_address, p.credit_card, p.city, p.state];
                8 + s.iter().map(|x| x.len()).sum::<usize>() + p.extra.len()
            }
            Event::Auction(a) => 48 + a.item_name.len() + a.description.len() + a.extra.len(),
            Event::Bid(b) => 32 + b.extra.len(),
        };
        sizes[e.kind() as usize] += size as u64;
        counts[e.kind() as usize] += 1;
    }
    for (k, want) in [200.0, 500.0, 100.0].into_iter().enumerate() {
        let avg = sizes[k] as f64 / counts[k] as f64;
        assert!(
            (avg - want).abs() < want * 0.02,
            "kind {k}: average {avg}, want {want}"
        );
    }
}

#[test]
fn event_time_follows_the_event_number_and_the_rate() {
    let g = default_gen();
    let mut last = i64::MIN;
    for (n, e) in g.events(0..10_000).enumerate() {
        // 100,000 events per second: 100 events per millisecond.
        assert_eq!(e.timestamp(), DEFAULT_BASE_TIME + n as i64 / 100);
        assert!(e.timestamp() >= last);
        last = e.timestamp();
    }
    let slow = gen(NexmarkConfig {
        event_rate: 3,
        base_time: 0,
        ..NexmarkConfig::default()
    });
    assert_eq!(slow.timestamp(3), 1_000);
    assert_eq!(slow.timestamp(4), 1_333);
}

#[test]
fn out_of_order_groups_shuffle_within_each_group() {
    for size in [2u64, 3, 4, 10, 1000] {
        let cfg = NexmarkConfig {
            out_of_order_group_size: size,
            ..NexmarkConfig::default()
        };
        for group in [0, 5] {
            let mut ids: Vec<u64> = (group * size..(group + 1) * size)
                .map(|n| cfg.adjusted_event_number(n))
                .collect();
            ids.sort_unstable();
            assert_eq!(ids, (group * size..(group + 1) * size).collect::<Vec<_>>());
        }
    }
    let shuffled = gen(NexmarkConfig {
        out_of_order_group_size: 10,
        ..NexmarkConfig::default()
    });
    assert_eq!(
        sorted(shuffled.events(0..1_000).collect()),
        sorted(default_gen().events(0..1_000).collect())
    );
}

#[test]
fn csv_lines_have_the_reference_columns() {
    let g = default_gen();
    let mut line = String::new();
    for e in g.events(0..2_000) {
        line.clear();
        e.write_csv(&mut line);
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        let cols: Vec<&str> = line.trim_end().split(',').collect();
        let num = |i: usize| cols[i].parse::<i64>().expect("a number");
        match e {
            Event::Person(p) => {
                assert_eq!(cols.len(), 8);
                assert_eq!((num(0), num(6)), (p.id as i64, p.date_time));
                assert_eq!((cols[1], cols[7]), (p.name.as_str(), p.extra.as_str()));
            }
            Event::Auction(a) => {
                assert_eq!(cols.len(), 10);
                let nums: Vec<i64> = [0, 3, 4, 5, 6, 7, 8].map(num).to_vec();
                let fields = [a.id, a.initial_bid, a.reserve].map(|x| x as i64);
                assert_eq!(nums[..3], fields);
                assert_eq!(
                    nums[3..],
                    [a.date_time, a.expires, a.seller as i64, a.category as i64]
                );
            }
            Event::Bid(b) => {
                assert_eq!(cols.len(), 7);
                assert_eq!(
                    [num(0), num(1), num(2), num(5)],
                    [b.auction, b.bidder, b.price, b.date_time as u64].map(|x| x as i64)
                );
                assert_eq!((cols[3], cols[4]), (b.channel.as_str(), b.url.as_str()));
            }
        }
    }
}

#[test]
fn events_survive_an_rkyv_round_trip() {
    let events: Vec<Event> = default_gen().events(0..100).collect();
    for e in events {
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&e).expect("serializes");
        let back = rkyv::from_bytes::<Event, rkyv::rancor::Error>(&bytes).expect("deserializes");
        assert_eq!(back, e);
    }
}

#[test]
fn prices_match_the_references_formula() {
    // Auctions' initial bids and bids' prices are round(10^(6u) * 100): log-uniform, so
    // about a sixth of them in each decade from $1 to $1M.
    let mut decades = [0u32; 6];
    for b in default_gen().bids(0..60_000) {
        let d = ((b.price as f64 / 100.0).log10().floor() as usize).min(5);
        decades[d] += 1;
    }
    let n: u32 = decades.iter().sum();
    assert!(
        decades
            .iter()
            .all(|&c| (c as f64 / n as f64 - 1.0 / 6.0).abs() < 0.01),
        "{decades:?}"
    );
}

#[test]
fn bad_configs_are_refused_with_a_reason() {
    let ok = NexmarkConfig::default();
    for bad in [
        NexmarkConfig {
            person_proportion: 0,
            ..ok.clone()
        },
        NexmarkConfig {
            event_rate: 0,
            ..ok.clone()
        },
        NexmarkConfig {
            hot_bidders_ratio: 0,
            ..ok.clone()
        },
        NexmarkConfig {
            out_of_order_group_size: 953,
            ..ok.clone()
        },
        NexmarkConfig {
            avg_auction_byte_size: MAX_AVG_BYTE_SIZE + 1,
            ..ok.clone()
        },
        NexmarkConfig {
            num_categories: 0,
            ..ok.clone()
        },
    ] {
        let err = NexmarkGenerator::new(bad).expect_err("refused");
        assert!(
            matches!(err, SpateError::Config(ref m) if m.starts_with("nexmark:")),
            "{err}"
        );
    }
}
