//! Criterion benchmarks of keyed state backends: the heap `ValueState<u64, u64>` against the
//! mmap `MmapValueState<u64, u64>`, with 1,048,576 keys.
//!
//! - `state_update/{heap,mmap}`: batches of 4,096 updates of random keys (xorshift), as a
//!   keyed operator does per record. The mmap figure includes appends, index updates,
//!   segment roll-overs and the compactions they trigger (the store reaches steady state
//!   while the benchmark warms up).
//! - `state_read/{heap,mmap}`: batches of 4,096 reads of random keys; the mmap read is the
//!   zero-copy `&Archived<u64>` in the mapping.
//!
//! Both include building the `FixedKey` scope (one stable hash per record), like an operator.
//! The mmap store lives in a temporary directory (64 MiB segments); after a prefill the
//! whole working set is in the page cache, so this measures the CPU cost of the backends,
//! not the disk.

use std::time::Duration;

use criterion::{black_box, Criterion, Throughput};
use spate::state::mmap::{MmapConfig, MmapValueState};
use spate::state::{FixedKey, ValueState};

const KEYS: u64 = 1 << 20;
const BATCH: u64 = 4096;

/// A xorshift64 stream of keys in `0..KEYS`.
struct Keys(u64);

impl Keys {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % KEYS
    }
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut heap = ValueState::<u64, u64>::new();
    let mut mmap = MmapValueState::<u64, u64>::open(MmapConfig::new(dir.path()))
        .expect("the mmap store opens");
    for k in 0..KEYS {
        let scope = FixedKey::new(k, 0);
        heap.update(&scope, k);
        mmap.update(&scope, &k).expect("prefill");
    }

    let mut g = c.benchmark_group("state_update");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let mut keys = Keys(0x9E37_79B9_7F4A_7C15);
    g.bench_function("heap", |b| {
        b.iter(|| {
            for i in 0..BATCH {
                heap.update(&FixedKey::new(keys.next(), 0), i);
            }
        });
    });
    let mut keys = Keys(0x9E37_79B9_7F4A_7C15);
    g.bench_function("mmap", |b| {
        b.iter(|| {
            for i in 0..BATCH {
                mmap.update(&FixedKey::new(keys.next(), 0), &i)
                    .expect("update");
            }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("state_read");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let mut keys = Keys(0x2545_F491_4F6C_DD1D);
    g.bench_function("heap", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for _ in 0..BATCH {
                sum = sum.wrapping_add(
                    heap.value(&FixedKey::new(keys.next(), 0))
                        .copied()
                        .unwrap_or(0),
                );
            }
            black_box(sum)
        });
    });
    let mut keys = Keys(0x2545_F491_4F6C_DD1D);
    g.bench_function("mmap", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for _ in 0..BATCH {
                let v = mmap.value(&FixedKey::new(keys.next(), 0)).expect("read");
                sum = sum.wrapping_add(v.map_or(0, |v| v.to_native()));
            }
            black_box(sum)
        });
    });
    g.finish();
    let st = mmap.stats();
    eprintln!(
        "mmap store after the bench: {} keys, {} segments, {} MB on disk, {} MB live, index {} MB",
        st.keys,
        st.segments,
        st.disk_bytes >> 20,
        st.live_bytes >> 20,
        st.index_bytes >> 20
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
