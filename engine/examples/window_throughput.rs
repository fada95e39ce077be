//! Window operator throughput on one shard: 5 M records over 10 k keys into tumbling
//! (100 s), sliding (100 s every 20 s) and session (50 s gap) event-time windows counting
//! their elements; prints the median of 5 runs per kind.
//!
//! ```text
//! cargo run --release --example window_throughput
//! ```
//!
//! A stopgap until the window benchmarks join `spate-bench` (issue 3).
use spate::prelude::*;
use spate::window::{Count, SessionWindows, SlidingWindows, TumblingWindows};
fn main() {
    let n: u64 = 5_000_000;
    for kind in ["tumbling", "sliding", "session"] {
        let mut rates = Vec::new();
        for _ in 0..5 {
            let env = Env::new().shards(1);
            let keyed = env
                .generate(Some(n), |s| (s % 10_000, s as i64))
                .assign_timestamps_and_watermarks(
                    WatermarkStrategy::for_bounded_out_of_orderness(0)
                        .with_timestamp_assigner(|r: &(u64, i64)| r.1),
                )
                .key_by(|r| r.0);
            let out = match kind {
                "tumbling" => keyed.window(TumblingWindows::of(100_000)).aggregate(Count),
                "sliding" => keyed
                    .window(SlidingWindows::of(100_000, 20_000))
                    .aggregate(Count),
                _ => keyed
                    .window(SessionWindows::with_gap(50_000))
                    .aggregate(Count),
            };
            out.filter(|_| false).collect();
            let t = std::time::Instant::now();
            env.execute().unwrap();
            rates.push(n as f64 / t.elapsed().as_secs_f64() / 1e6);
        }
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{kind}: median {:.2} M records/s ({:?})",
            rates[2],
            rates
                .iter()
                .map(|r| (r * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
    }
}
