//! What checkpoints cost: a keyed job (generator → key_by over 100 k keys → keyed process
//! counting in `ValueState` and emitting every 1,000th count → a discarding sink) run without
//! checkpoints and with checkpoints every `--interval-ms` (default 1,000), median of
//! `--runs` (default 3) alternating; prints throughput, the checkpoints completed, their snapshot size and
//! the time from trigger to manifest (from the manifests' and files' modification times).
//!
//! With `--job windowed`: generator (event time: 1,000 records per ms) → `key_by` over 100 k
//! keys → sliding windows of 10 s every 1 s counting by slices (`aggregate(Count)`) → a
//! discarding sink; the snapshot then holds each key's slice accumulators and timers.
//!
//! ```text
//! cargo run --release --example checkpoint_cost -- [--job keyed|windowed] [--records N]
//!     [--shards S] [--runs R] [--interval-ms MS]
//! ```

use std::time::{Duration, Instant};

use spate::prelude::*;
use spate::state::ValueState;

#[derive(Clone, Default)]
struct Count {
    n: ValueState<u64, u64>,
}

impl KeyedProcessFunction<u64, u64, u64> for Count {
    fn process_element(
        &mut self,
        _v: u64,
        ctx: &mut KeyedContext<'_, u64, u64>,
    ) -> Result<(), UserError> {
        let n = self.n.value_or_insert_with(ctx, || 0);
        *n += 1;
        if *n % 1_000 == 0 {
            let n = *n;
            ctx.collect(n);
        }
        Ok(())
    }

    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.n);
    }
}

/// Runs the job once; returns records/s.
fn run(records: u64, shards: usize, windowed: bool, ckpt: Option<(&std::path::Path, u64)>) -> f64 {
    let mut env = Env::new().shards(shards);
    if let Some((dir, ms)) = ckpt {
        env = env.checkpointing(dir, Duration::from_millis(ms));
    }
    if windowed {
        // Event time from the sequence number: 1,000 records per millisecond.
        env.generate(Some(records), |s| {
            (
                s.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100_000,
                s as i64 / 1_000,
            )
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|r: &(u64, i64)| r.1),
        )
        .key_by(|r: &(u64, i64)| r.0)
        .window(spate::window::SlidingWindows::of(10_000, 1_000))
        .aggregate(spate::window::Count)
        .add_sink("discard", Discard);
    } else {
        env.generate(Some(records), |s| {
            s.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100_000
        })
        .key_by(|k: &u64| *k)
        .process(Count::default())
        .add_sink("discard", Discard);
    }
    let t = Instant::now();
    env.execute().expect("job");
    records as f64 / t.elapsed().as_secs_f64()
}

#[derive(Clone)]
struct Discard;
impl spate::io::Sink<u64> for Discard {
    fn write(&mut self, _v: u64, _ts: Option<i64>) -> Result<(), UserError> {
        Ok(())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut records = 50_000_000u64;
    let mut shards = 2usize;
    let mut runs = 3usize;
    let mut interval = 1_000u64;
    let mut windowed = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--job" {
            windowed = match args.next().as_deref() {
                Some("windowed") => true,
                Some("keyed") => false,
                other => {
                    eprintln!("--job keyed|windowed, not {other:?}");
                    std::process::exit(2)
                }
            };
            continue;
        }
        let v: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!("{a} needs a number");
            std::process::exit(2)
        });
        match a.as_str() {
            "--records" => records = v,
            "--shards" => shards = v as usize,
            "--runs" => runs = v as usize,
            "--interval-ms" => interval = v,
            _ => {
                eprintln!("unknown argument {a}");
                std::process::exit(2)
            }
        }
    }
    // Alternating runs, so that drift in the machine's load hits both alike.
    let mut base = Vec::new();
    let mut with = Vec::new();
    let mut stats = Vec::new();
    for _ in 0..runs {
        base.push(run(records, shards, windowed, None));
        let dir = std::env::temp_dir().join(format!("spate-ckpt-cost-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        with.push(run(records, shards, windowed, Some((&dir, interval))));
        stats.push(checkpoint_stats(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (base, with) = (median(base), median(with));
    let job = if windowed { "windowed" } else { "keyed" };
    println!(
        "job {job}, records {records}, shards {shards}, runs {runs} (median), interval {interval} ms"
    );
    println!("without checkpoints: {:.2} M records/s", base / 1e6);
    println!(
        "with checkpoints:    {:.2} M records/s ({:+.1}%)",
        with / 1e6,
        (with / base - 1.0) * 100.0
    );
    for (i, s) in stats.iter().enumerate() {
        println!("run {i}: {s}");
    }
}

/// Size and count of the checkpoints left in `dir` (retention keeps the last 3).
fn checkpoint_stats(dir: &std::path::Path) -> String {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let (mut bytes, mut files) = (0u64, 0);
        let (mut first, mut manifest): (Option<std::time::SystemTime>, _) = (None, None);
        for f in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            let Ok(m) = f.metadata() else { continue };
            bytes += m.len();
            files += 1;
            let t = m.modified().ok();
            if f.file_name() == "_manifest" {
                manifest = t;
            } else {
                first = match (first, t) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        // From the first snapshot file written to the manifest: the asynchronous part (the
        // synchronous copy at the barrier comes before and is not seen here).
        let took = manifest
            .zip(first)
            .and_then(|(m, f)| m.duration_since(f).ok())
            .map(|d| format!(", files → manifest {} ms", d.as_millis()))
            .unwrap_or_default();
        out.push(format!(
            "{} {} files {:.1} MB{took}",
            p.file_name().unwrap_or_default().to_string_lossy(),
            files,
            bytes as f64 / 1e6
        ));
    }
    out.sort();
    out.join("; ")
}
