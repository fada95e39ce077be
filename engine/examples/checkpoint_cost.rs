//! What checkpoints cost: a keyed job (generator → key_by over 100 k keys → keyed process
//! counting in `ValueState` and emitting every 1,000th count → a discarding sink) run without
//! checkpoints and with checkpoints every `--interval-ms` (default 1,000), median of
//! `--runs` (default 3) alternating; prints throughput, CPU time per record (user + system,
//! every thread of the process, from `getrusage`), the checkpoints completed, their size and
//! their duration from trigger to manifest (`JobResult::checkpoints`).
//!
//! With `--job windowed`: generator (event time: 1,000 records per ms) → `key_by` over 100 k
//! keys → sliding windows of 10 s every 1 s counting by slices (`aggregate(Count)`) → a
//! discarding sink; the snapshot then holds each key's slice accumulators and timers.
//! With `--job generic`: the same input in tumbling windows of 1 s counted by the generic
//! window operator (`without_slicing`): per key, its windows' accumulators and timers.
//!
//! ```text
//! cargo run --release --example checkpoint_cost -- [--job keyed|windowed|generic] [--records N]
//!     [--shards S] [--runs R] [--interval-ms MS] [--once with|without] [--snapshot-step N]
//!     [--incremental N]
//! ```
//!
//! `--incremental N`: incremental snapshots, at most N deltas in a row
//! (`Env::incremental_checkpoints`; default 0: every snapshot full).
//!
//! `--snapshot-step N`: entries per step of copy-on-write snapshots (`Env::snapshot_step`;
//! `0`: the whole snapshot at the barrier).
//!
//! `--once` runs one mode once (to profile it alone, e.g. under `perf record`).
//!
//! `--paired`: both modes at the same time on one shard each, side by side on two cores
//! (`Env::cores`), then with the cores swapped, `--runs` times: each pair's ratio of
//! throughputs is taken under the same load on the machine, which a shared machine varies
//! by ±20% from one run to the next. The job with checkpoints has its snapshot writer and
//! coordinator on its own core, as on a machine whose every core runs a shard.

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

/// What one run measured.
struct Run {
    /// Records per second of wall-clock time.
    rate: f64,
    /// CPU time (user + system, all threads) per record, in nanoseconds.
    cpu_ns: f64,
    checkpoints: Vec<spate::checkpoint::CompletedCheckpoint>,
}

/// User + system CPU time of the whole process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Which job runs.
#[derive(Clone, Copy, PartialEq)]
enum Job {
    Keyed,
    Windowed,
    Generic,
}

/// Runs the job once.
fn run(
    records: u64,
    shards: usize,
    job: Job,
    ckpt: Option<(&std::path::Path, u64)>,
    step: Option<usize>,
    incremental: usize,
    core: Option<usize>,
) -> Run {
    let mut env = Env::new().shards(shards);
    if let Some(c) = core {
        env = env.cores([c]);
    }
    if let Some((dir, ms)) = ckpt {
        env = env.checkpointing(dir, Duration::from_millis(ms));
        if let Some(n) = step {
            env = env.snapshot_step(n);
        }
        env = env.incremental_checkpoints(incremental);
    }
    if job != Job::Keyed {
        // Event time from the sequence number: 1,000 records per millisecond.
        let keyed = env
            .generate(Some(records), |s| {
                (
                    s.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100_000,
                    s as i64 / 1_000,
                )
            })
            .assign_timestamps_and_watermarks(
                WatermarkStrategy::for_monotonous_timestamps()
                    .with_timestamp_assigner(|r: &(u64, i64)| r.1),
            )
            .key_by(|r: &(u64, i64)| r.0);
        let counts = if job == Job::Windowed {
            keyed
                .window(spate::window::SlidingWindows::of(10_000, 1_000))
                .aggregate(spate::window::Count)
        } else {
            keyed
                .window(spate::window::TumblingWindows::of(1_000))
                .without_slicing()
                .aggregate(spate::window::Count)
        };
        counts.add_sink("discard", Discard);
    } else {
        env.generate(Some(records), |s| {
            s.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100_000
        })
        .key_by(|k: &u64| *k)
        .process(Count::default())
        .add_sink("discard", Discard);
    }
    let (t, cpu) = (Instant::now(), cpu_time());
    let r = env.execute().expect("job");
    Run {
        rate: records as f64 / t.elapsed().as_secs_f64(),
        cpu_ns: (cpu_time() - cpu).as_nanos() as f64 / records as f64,
        checkpoints: r.checkpoints,
    }
}

#[derive(Clone)]
struct Discard;
impl spate::io::Sink<u64> for Discard {
    fn write(&mut self, _v: u64, _ts: Option<i64>) -> Result<(), UserError> {
        Ok(())
    }
}

/// The MB each checkpoint's manifest lists, in order.
fn mb_listed(c: &[spate::checkpoint::CompletedCheckpoint]) -> String {
    let mb: Vec<String> = c
        .iter()
        .map(|c| format!("{:.1}", c.bytes as f64 / 1e6))
        .collect();
    mb.join(" ")
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
    let mut job = Job::Keyed;
    let mut once = None;
    let mut step = None;
    let mut incremental = 0;
    let mut paired = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--once" {
            once = match args.next().as_deref() {
                Some("with") => Some(true),
                Some("without") => Some(false),
                other => {
                    eprintln!("--once with|without, not {other:?}");
                    std::process::exit(2)
                }
            };
            continue;
        }
        if a == "--paired" {
            paired = true;
            continue;
        }
        if a == "--job" {
            job = match args.next().as_deref() {
                Some("windowed") => Job::Windowed,
                Some("generic") => Job::Generic,
                Some("keyed") => Job::Keyed,
                other => {
                    eprintln!("--job keyed|windowed|generic, not {other:?}");
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
            "--snapshot-step" => step = Some(v as usize),
            "--incremental" => incremental = v as usize,
            _ => {
                eprintln!("unknown argument {a}");
                std::process::exit(2)
            }
        }
    }
    if paired {
        return side_by_side(records, job, interval, step, incremental, runs);
    }
    if let Some(with) = once {
        let dir = std::env::temp_dir().join(format!("spate-ckpt-cost-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ckpt = with.then_some((dir.as_path(), interval));
        let r = run(records, shards, job, ckpt, step, incremental, None);
        let _ = std::fs::remove_dir_all(&dir);
        let ms: Vec<String> = r
            .checkpoints
            .iter()
            .map(|c| format!("{}", c.duration.as_millis()))
            .collect();
        println!(
            "{:.2} M records/s, {:.1} ns CPU/record, {} checkpoints, trigger → manifest ms [{}], \
             MB listed [{}]",
            r.rate / 1e6,
            r.cpu_ns,
            r.checkpoints.len(),
            ms.join(" "),
            mb_listed(&r.checkpoints)
        );
        return;
    }
    // Alternating runs, so that drift in the machine's load hits both alike.
    let mut base = Vec::new();
    let mut with = Vec::new();
    let mut stats = Vec::new();
    let mut ckpts = Vec::new();
    for i in 0..runs {
        let b = run(records, shards, job, None, None, 0, None);
        let dir = std::env::temp_dir().join(format!("spate-ckpt-cost-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let w = run(
            records,
            shards,
            job,
            Some((&dir, interval)),
            step,
            incremental,
            None,
        );
        stats.push(checkpoint_stats(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        let ms: Vec<String> = w
            .checkpoints
            .iter()
            .map(|c| format!("{}", c.duration.as_millis()))
            .collect();
        eprintln!(
            "run {i}: without {:.2} M/s {:.1} ns CPU/record; with {:.2} M/s {:.1} ns CPU/record, \
             {} checkpoints, trigger → manifest ms [{}]",
            b.rate / 1e6,
            b.cpu_ns,
            w.rate / 1e6,
            w.cpu_ns,
            w.checkpoints.len(),
            ms.join(" ")
        );
        ckpts.extend(w.checkpoints.iter().cloned());
        base.push(b);
        with.push(w);
    }
    let job = match job {
        Job::Keyed => "keyed",
        Job::Windowed => "windowed",
        Job::Generic => "generic",
    };
    println!(
        "job {job}, records {records}, shards {shards}, runs {runs} (median), interval {interval} ms"
    );
    let rate_of = |v: &[Run]| median(v.iter().map(|r| r.rate).collect());
    let cpu_of = |v: &[Run]| median(v.iter().map(|r| r.cpu_ns).collect());
    let (b, w) = (rate_of(&base), rate_of(&with));
    let (bc, wc) = (cpu_of(&base), cpu_of(&with));
    println!(
        "without checkpoints: {:.2} M records/s, {bc:.1} ns CPU/record",
        b / 1e6
    );
    println!(
        "with checkpoints:    {:.2} M records/s ({:+.1}%), {wc:.1} ns CPU/record ({:+.1}%)",
        w / 1e6,
        (w / b - 1.0) * 100.0,
        (wc / bc - 1.0) * 100.0
    );
    if !ckpts.is_empty() {
        let ms = median(
            ckpts
                .iter()
                .map(|c| c.duration.as_secs_f64() * 1e3)
                .collect(),
        );
        let max = ckpts.iter().map(|c| c.duration).max().unwrap_or_default();
        let mb = median(ckpts.iter().map(|c| c.bytes as f64 / 1e6).collect());
        println!(
            "checkpoints: {} in {runs} runs; trigger → manifest median {ms:.0} ms, max {} ms; \
             size median {mb:.1} MB",
            ckpts.len(),
            max.as_millis()
        );
    }
    for (i, s) in stats.iter().enumerate() {
        println!("run {i}: {s}");
    }
}

/// `--paired`: each round runs the job without checkpoints on one core and with them on
/// the other at the same time, then again with the cores swapped.
fn side_by_side(
    records: u64,
    job: Job,
    interval: u64,
    step: Option<usize>,
    incremental: usize,
    runs: usize,
) {
    let cores = Env::allowed_cores();
    let [a, b, ..] = cores[..] else {
        eprintln!("--paired needs two cores, this process may use {cores:?}");
        std::process::exit(2)
    };
    let mut ratios = Vec::new();
    let mut ckpts = Vec::new();
    for i in 0..runs {
        for (base_core, with_core) in [(a, b), (b, a)] {
            let dir = std::env::temp_dir().join(format!("spate-ckpt-pair-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let (base, with) = std::thread::scope(|s| {
                let base = s.spawn(|| run(records, 1, job, None, None, 0, Some(base_core)));
                let ckpt = Some((dir.as_path(), interval));
                let with =
                    s.spawn(move || run(records, 1, job, ckpt, step, incremental, Some(with_core)));
                (base.join(), with.join())
            });
            let _ = std::fs::remove_dir_all(&dir);
            let (Ok(base), Ok(with)) = (base, with) else {
                eprintln!("a job of round {i} panicked");
                std::process::exit(1)
            };
            let r = with.rate / base.rate - 1.0;
            println!(
                "round {i}: without on core {base_core} {:.2} M/s, with on core {with_core} {:.2} M/s \
                 ({:+.1}%), {} checkpoints, MB listed [{}]",
                base.rate / 1e6,
                with.rate / 1e6,
                r * 100.0,
                with.checkpoints.len(),
                mb_listed(&with.checkpoints)
            );
            ratios.push(r);
            ckpts.extend(with.checkpoints);
        }
    }
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ms = median(
        ckpts
            .iter()
            .map(|c| c.duration.as_secs_f64() * 1e3)
            .collect(),
    );
    println!(
        "paired, {} pairs: with checkpoints every {interval} ms vs without, median {:+.1}% \
         (range {:+.1}% … {:+.1}%); {} checkpoints, trigger → manifest median {ms:.0} ms",
        ratios.len(),
        median(ratios) * 100.0,
        lo * 100.0,
        hi * 100.0,
        ckpts.len()
    );
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
