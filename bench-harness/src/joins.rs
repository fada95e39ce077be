//! `join`: the interval and overlap joins at a few key cardinalities — joined pairs per
//! second and the peak number of records the join buffers — with a same-run baseline that
//! only exchanges both inputs by key.
//!
//! ```text
//! spate-bench join [--events N] [--keys 10,1000,100000] [--bound MS] [--shards 1,2]
//!                  [--repeat R] [--batch-size B] [--watermark-every MS] [--out results/joins.md]
//! ```
//!
//! Workload: two generated inputs of `N` records each, one record per millisecond of event
//! time per input (sequence number = timestamp), keys spread by a hash of the sequence
//! number. Interval join: pairs with `|right.ts − left.ts| <= bound`. Overlap join: left
//! records are `[ts, ts + 20..100)`, right records `[ts, ts + 10..50)`. Watermarks follow the
//! timestamps exactly (no record is late) and are emitted every `--watermark-every` ms of
//! event time. Each job's pair count is checked against a reference count computed outside
//! the timed region.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{ensure, Context as _};
use clap::Args;
use serde_json::json;
use spate::join::{Interval, JoinStateGauge};
use spate::prelude::*;
use spate::time::{WatermarkGenerator, WatermarkOutput};
use spate_bench::jobs::CountSink;
use spate_bench::measure::{measure, median};
use spate_bench::meta::Meta;

/// Flags of `join`.
#[derive(Args, Debug, Clone)]
pub struct JoinArgs {
    /// Records per input.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Key cardinalities to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10u64, 1_000, 100_000])]
    keys: Vec<u64>,
    /// Interval join bounds: `right.ts − left.ts` in `[−bound, bound]` ms.
    #[arg(long, default_value_t = 50)]
    bound: i64,
    /// Event time between watermarks, in ms.
    #[arg(long, default_value_t = 100)]
    watermark_every: i64,
    /// Shard counts to measure, comma-separated; default: the number of cores.
    #[arg(long, value_delimiter = ',')]
    shards: Vec<usize>,
    /// Runs per configuration; the figures are their median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// The Markdown file to write.
    #[arg(long, default_value_os_t = super::workspace_root().join("results").join("joins.md"))]
    out: PathBuf,
    /// Measure and print, but write no file.
    #[arg(long)]
    no_record: bool,
}

/// Which job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Baseline,
    Interval,
    Overlap,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Baseline => "baseline: key_by both inputs, no join",
            Kind::Interval => "interval join",
            Kind::Overlap => "overlap join",
        }
    }
}

/// One job's settings.
#[derive(Clone, Copy, Debug)]
struct Job {
    kind: Kind,
    events: u64,
    keys: u64,
    bound: i64,
    every: i64,
    shards: usize,
    batch: usize,
}

/// SplitMix64's finaliser: spreads sequence numbers over keys and lengths.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const SALT: u64 = 0x5bd1_e995;

/// `(key, start, end)` of the left and right record with sequence number `seq`.
fn left(seq: u64, keys: u64) -> (u64, i64, i64) {
    (
        mix(seq) % keys,
        seq as i64,
        seq as i64 + 20 + (mix(seq ^ 1) % 80) as i64,
    )
}
fn right(seq: u64, keys: u64) -> (u64, i64, i64) {
    let h = mix(seq ^ SALT);
    (h % keys, seq as i64, seq as i64 + 10 + (mix(h) % 40) as i64)
}
const RIGHT_MAX_LEN: i64 = 50;

/// A watermark at `ts − 1` whenever event time has moved `every` ms since the last one.
#[derive(Clone)]
struct Every {
    every: i64,
    next: i64,
}

impl<T> WatermarkGenerator<T> for Every {
    #[inline]
    fn on_event(&mut self, _v: &T, ts: Timestamp, out: &mut WatermarkOutput) {
        if ts >= self.next {
            out.emit_watermark(ts - 1);
            self.next = ts.saturating_add(self.every);
        }
    }
    fn on_periodic_emit(&mut self, _out: &mut WatermarkOutput) {}
}

type Rec = (u64, i64, i64);

/// Runs the job; returns (records at the sink, peak records buffered).
fn run_job(j: &Job) -> spate::Result<(u64, u64)> {
    let env = Env::new().shards(j.shards).batch_size(j.batch);
    let strategy = WatermarkStrategy::for_generator(Every {
        every: j.every,
        next: i64::MIN,
    })
    .with_timestamp_assigner(|r: &Rec| r.1)
    .punctuated();
    let keys = j.keys;
    let l = env
        .generate(Some(j.events), move |s| left(s, keys))
        .assign_timestamps_and_watermarks(strategy.clone())
        .key_by(|r: &Rec| r.0);
    let r = env
        .generate(Some(j.events), move |s| right(s, keys))
        .assign_timestamps_and_watermarks(strategy)
        .key_by(|r: &Rec| r.0);
    let (sink, gauge) = (CountSink::new(), JoinStateGauge::new());
    match j.kind {
        Kind::Baseline => l
            .as_stream()
            .union(&[r.as_stream()])
            .add_sink("count", sink.clone()),
        Kind::Interval => l
            .interval_join(&r)
            .between(-j.bound, j.bound)
            .state_gauge(&gauge)
            .process(
                |a: &Rec, b: &Rec, ctx: &mut ProcessJoinContext<'_, u64, (i64, i64)>| {
                    ctx.collect((a.1, b.1));
                    Ok(())
                },
            )
            .add_sink("count", sink.clone()),
        Kind::Overlap => l
            .overlap_join(
                &r,
                |a: &Rec| Interval::new(a.1, a.2),
                |b: &Rec| Interval::new(b.1, b.2),
            )
            .state_gauge(&gauge)
            .process(
                |_: &Rec, _: Option<&Rec>, ctx: &mut OverlapContext<'_, u64, (i64, i64)>| {
                    if let Some(o) = ctx.overlap() {
                        ctx.collect((o.start, o.end));
                    }
                    Ok(())
                },
            )
            .add_sink("count", sink.clone()),
    }
    env.execute()?;
    Ok((sink.total(), gauge.peak()))
}

/// The records the job's sink must see, computed by sorting and binary search.
fn expected(j: &Job) -> u64 {
    if j.kind == Kind::Baseline {
        return 2 * j.events;
    }
    // Right records per key, by start (generated in start order).
    let mut by_key: Vec<Vec<(i64, i64)>> = vec![Vec::new(); j.keys as usize];
    for s in 0..j.events {
        let (k, start, end) = right(s, j.keys);
        by_key[k as usize].push((start, end));
    }
    let mut n = 0u64;
    for s in 0..j.events {
        let (k, start, end) = left(s, j.keys);
        let rs = &by_key[k as usize];
        n += match j.kind {
            Kind::Interval => {
                let lo = rs.partition_point(|r| r.0 < start - j.bound);
                let hi = rs.partition_point(|r| r.0 <= start + j.bound);
                (hi - lo) as u64
            }
            _ => {
                let lo = rs.partition_point(|r| r.0 <= start - RIGHT_MAX_LEN);
                let hi = rs.partition_point(|r| r.0 < end);
                rs[lo..hi].iter().filter(|r| r.1 > start).count() as u64
            }
        };
    }
    n
}

/// One configuration's medians.
struct Row {
    job: Job,
    pairs: u64,
    wall_s: f64,
    peak_state: f64,
    peak_rss_mib: f64,
}

/// Runs every configuration, prints the table and writes the Markdown file.
pub fn run(a: &JoinArgs) -> anyhow::Result<()> {
    ensure!(a.repeat >= 1, "--repeat must be at least 1");
    ensure!(a.keys.iter().all(|k| *k >= 1), "--keys must be at least 1");
    let meta = Meta::probe(&super::workspace_root());
    let shard_counts = if a.shards.is_empty() {
        vec![meta.cores]
    } else {
        a.shards.clone()
    };
    ensure!(
        shard_counts.iter().all(|s| *s >= 1),
        "--shards must be at least 1"
    );
    let mut rows = Vec::new();
    let mut jobs = Vec::new();
    for &shards in &shard_counts {
        for &keys in &a.keys {
            for kind in [Kind::Baseline, Kind::Interval, Kind::Overlap] {
                jobs.push(Job {
                    kind,
                    events: a.events,
                    keys,
                    bound: a.bound,
                    every: a.watermark_every,
                    shards,
                    batch: a.batch_size,
                });
            }
        }
    }
    println!(
        "join: events={} per input, batch={} | {} cores, {} | {}{}",
        a.events,
        a.batch_size,
        meta.cores,
        meta.cpu_model,
        meta.git_rev,
        if meta.git_dirty { " (dirty)" } else { "" },
    );
    for job in jobs {
        let want = expected(&job);
        let (mut walls, mut peaks, mut rss) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..a.repeat {
            let (r, sample) = measure(|| run_job(&job));
            let (got, peak) =
                r.with_context(|| format!("{} run {} failed", job.kind.name(), i + 1))?;
            ensure!(
                got == want,
                "{}, {} keys: the sink counted {got} records, expected {want}",
                job.kind.name(),
                job.keys
            );
            walls.push(sample.wall_s);
            peaks.push(peak as f64);
            rss.push(sample.peak_rss_bytes as f64 / (1024.0 * 1024.0));
        }
        let row = Row {
            job,
            pairs: want,
            wall_s: median(&walls),
            peak_state: median(&peaks),
            peak_rss_mib: median(&rss),
        };
        println!("{}", line(&row));
        rows.push(row);
    }
    if a.no_record {
        return Ok(());
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    args.insert(0, "spate-bench".into());
    let page = render(&rows, a, &meta, &args.join(" "));
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&a.out, page).with_context(|| format!("cannot write {}", a.out.display()))?;
    println!("written to {}", a.out.display());
    Ok(())
}

fn line(r: &Row) -> String {
    let inputs = 2.0 * r.job.events as f64;
    format!(
        "| {} | {} | {} | {:.3} | {:.2} | {} | {:.2} | {} | {:.0} |",
        r.job.kind.name(),
        r.job.shards,
        r.job.keys,
        r.wall_s,
        inputs / r.wall_s / 1e6,
        r.pairs,
        if r.job.kind == Kind::Baseline {
            f64::NAN
        } else {
            r.pairs as f64 / r.wall_s / 1e6
        },
        if r.job.kind == Kind::Baseline {
            "–".to_string()
        } else {
            format!("{:.0}", r.peak_state)
        },
        r.peak_rss_mib,
    )
}

fn render(rows: &[Row], a: &JoinArgs, meta: &Meta, command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Joins: interval and overlap\n");
    let _ = writeln!(
        s,
        "`{command}` — revision {}{}, {} cores ({}, {:.1} GiB), {}, {}.\n",
        meta.git_rev,
        if meta.git_dirty { " (dirty)" } else { "" },
        meta.cores,
        meta.cpu_model,
        meta.mem_total_bytes as f64 / (1u64 << 30) as f64,
        meta.rustc,
        meta.date,
    );
    let _ = writeln!(
        s,
        "{} records per input, one per ms of event time per input, keys hashed from the \
         sequence number; interval join `[-{b}, {b}]` ms; overlap join: left `[ts, ts + \
         20..100)`, right `[ts, ts + 10..50)`; a watermark every {} ms of event time; batches \
         of {}. Figures are medians of {} runs. *Input M rec/s* counts both inputs; *peak \
         state* is the most records the join held at once (summed over shards, as published \
         once per batch); peak RSS is the process's. Pair counts are checked against a \
         reference count.\n",
        a.events,
        a.watermark_every,
        a.batch_size,
        a.repeat,
        b = a.bound,
    );
    let _ = writeln!(
        s,
        "| job | shards | keys | wall s | input M rec/s | pairs | M pairs/s | peak state (records) | peak RSS MiB |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let _ = writeln!(s, "{}", line(r).replace("NaN", "–"));
    }
    let _ = writeln!(
        s,
        "\n```json\n{}\n```",
        json!({
            "command": command, "git_rev": meta.git_rev, "cores": meta.cores,
            "cpu_model": meta.cpu_model, "rustc": meta.rustc, "date": meta.date,
        })
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: Kind, shards: usize, batch: usize) -> Job {
        Job {
            kind,
            events: 3_001,
            keys: 7,
            bound: 5,
            every: 13,
            shards,
            batch,
        }
    }

    #[test]
    fn every_job_counts_exactly_the_reference_pairs() {
        for kind in [Kind::Baseline, Kind::Interval, Kind::Overlap] {
            for (shards, batch) in [(1, 1024), (2, 7), (3, 64)] {
                let j = job(kind, shards, batch);
                let (got, _) = run_job(&j).expect("runs");
                assert_eq!(
                    got,
                    expected(&j),
                    "{kind:?}, {shards} shards, batch {batch}"
                );
            }
        }
    }
}
