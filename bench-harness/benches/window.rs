//! Criterion benchmarks of the window operator's per-record update, on one shard.
//!
//! 1,000,000 generated records over 1,000 keys, 100 per millisecond of event time (10 s of
//! event time in all), keyed and counted in event-time windows (see
//! `spate_bench::windows`):
//!
//! - `window_slice_update/tumbling`: 10 s tumbling windows: one accumulator per key and
//!   window, one update per record;
//! - `window_slice_update/sliding`: 10 s windows every 1 s on shared 1 s slices: one slice
//!   update per record, windows merged from ten slices when they fire;
//! - `window_slice_update/sliding_unsliced`: the same windows each kept on its own: ten
//!   updates per record.
//!
//! Each iteration runs a whole job (generator, timestamps and watermarks, exchange-free
//! `key_by` on one shard, counting sink), so the figures are per record end to end; the
//! differences between them are the window operator's. Throughput is in records.

use std::time::Duration;

use criterion::{black_box, Criterion, Throughput};
use spate_bench::jobs::JobSize;
use spate_bench::windows::{window_count, window_expected, WindowKind};

const PER_MS: u64 = 100;

fn benches(c: &mut Criterion) {
    let size = JobSize {
        events: 1_000_000,
        keys: 1_000,
        shards: 1,
        batch_size: 1024,
    };
    let mut g = c.benchmark_group("window_slice_update");
    g.throughput(Throughput::Elements(size.events));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, kind) in [
        ("tumbling", WindowKind::Tumbling),
        ("sliding", WindowKind::Sliding),
        ("sliding_unsliced", WindowKind::SlidingUnsliced),
    ] {
        let want = window_expected(&size, kind, PER_MS);
        g.bench_function(name, |b| {
            b.iter(|| {
                let got = window_count(black_box(&size), kind, PER_MS).expect("the job runs");
                assert_eq!(got, want);
            });
        });
    }
    g.finish();
}

// `criterion_main!` spelled out: the macros' generated functions carry no docs.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
