//! Criterion benchmarks of the Nexmark generator on one thread (issue 6's target: ≥ 40 M
//! bids/s per core).
//!
//! - `nexmark_generator/bids`: the bids among 1,000,000 event numbers (`bids(range)`: the
//!   people and auctions between them are skipped, not made); throughput in bids.
//! - `nexmark_generator/events`: all 1,000,000 events (`events(range)`); throughput in
//!   events.
//! - `nexmark_generator/event_at`: `event(n)` for scattered `n` (replay from any event
//!   number), 100,000 calls; throughput in events.
//!
//! Each iteration folds the records into a checksum so nothing is optimised away.

use std::time::Duration;

use criterion::{black_box, Criterion, Throughput};
use spate_workloads::nexmark::{Event, NexmarkConfig, NexmarkGenerator};

const N: u64 = 1_000_000;
const RANDOM: u64 = 100_000;

fn benches(c: &mut Criterion) {
    let g = NexmarkGenerator::new(NexmarkConfig::default()).expect("the default is valid");
    let bids = g.bids(0..N).count() as u64;
    let mut group = c.benchmark_group("nexmark_generator");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(bids));
    group.bench_function("bids", |b| {
        b.iter(|| {
            let sum = g
                .bids(0..N)
                .fold(0u64, |s, b| s.wrapping_add(b.price ^ b.bidder));
            black_box(sum)
        });
    });
    group.throughput(Throughput::Elements(N));
    group.bench_function("events", |b| {
        b.iter(|| {
            let sum = g
                .events(0..N)
                .fold(0u64, |s, e| s.wrapping_add(e.timestamp() as u64));
            black_box(sum)
        });
    });
    group.throughput(Throughput::Elements(RANDOM));
    group.bench_function("event_at", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            let mut n = 12_345u64;
            for _ in 0..RANDOM {
                n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1) % (1 << 40);
                if let Event::Bid(b) = g.event(black_box(n)) {
                    sum = sum.wrapping_add(b.price);
                }
            }
            black_box(sum)
        });
    });
    group.finish();
}

// `criterion_main!` spelled out: the macros' generated functions carry no docs.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
