//! Criterion benchmarks of the shard exchange and of a fused operator chain.
//!
//! - `key_by_exchange/2_shards`: 2,000,000 generated `u64`s → `key_by(x % 1024)` → count,
//!   on 2 shards: the cost of partitioning and moving batches between shards.
//! - `key_by_exchange/nexmark_bids_2_shards`: the bids of 2,000,000 generated Nexmark
//!   events (1,840,000 bids of 64 bytes) → `key_by(auction)` → count, on 2 shards: the same
//!   exchange with records as large as the benchmark's; throughput in events.
//! - `chain/1_shard`: the same records → `map` → `filter` → `map` → count on 1 shard: the
//!   per-record cost of the fused chain, with no exchange.
//!
//! Each iteration builds and runs a whole job (thread start-up included), so the figures are
//! end-to-end, like `spate-bench`'s. Sample sizes are small so that the whole bench ends in
//! a few minutes on a 2-core machine; throughput is in generated records.

use std::time::Duration;

use criterion::{black_box, Criterion, Throughput};
use spate::prelude::*;
use spate_bench::jobs::{chain_expected, CountSink};
use spate_workloads::nexmark::queries::bids;
use spate_workloads::nexmark::{Bid, NexmarkConfig, NexmarkSource};

const N: u64 = 2_000_000;

fn key_by_exchange(shards: usize) -> u64 {
    let env = Env::new().shards(shards);
    let sink = CountSink::new();
    env.generate(Some(N), |seq| seq)
        .key_by(|x| *x % 1024)
        .as_stream()
        .add_sink("count", sink.clone());
    env.execute().expect("the key_by job runs");
    sink.total()
}

fn nexmark_bids_exchange(shards: usize) -> u64 {
    let env = Env::new().shards(shards);
    let sink = CountSink::new();
    let source = NexmarkSource::new(NexmarkConfig::default())
        .expect("the default is valid")
        .events(Some(N));
    bids(&env.add_source("nexmark", source))
        .key_by(|b: &Bid| b.auction)
        .as_stream()
        .add_sink("count", sink.clone());
    env.execute().expect("the nexmark key_by job runs");
    sink.total()
}

fn map_filter_chain(shards: usize) -> u64 {
    let env = Env::new().shards(shards);
    let sink = CountSink::new();
    env.generate(Some(N), |seq| seq)
        .map(|x| x.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .filter(|x| x & 1 == 0)
        .map(|x| x >> 7)
        .add_sink("count", sink.clone());
    env.execute().expect("the chain job runs");
    sink.total()
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("key_by_exchange");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("2_shards", |b| {
        b.iter(|| assert_eq!(black_box(key_by_exchange(2)), N));
    });
    g.bench_function("nexmark_bids_2_shards", |b| {
        b.iter(|| assert_eq!(black_box(nexmark_bids_exchange(2)), N / 50 * 46));
    });
    g.finish();

    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("1_shard", |b| {
        b.iter(|| assert_eq!(black_box(map_filter_chain(1)), chain_expected(N)));
    });
    g.finish();
}

// `criterion_main!` spelled out: the macros' generated functions carry no docs.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
