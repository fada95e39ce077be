//! `spate-bench`: runs Spate jobs, measures them, and records the figures.
//!
//! ```text
//! spate-bench [keyed-count] [--events N] [--keys K] [--shards S] [--repeat R] [--batch-size B]
//! spate-bench chain         [same flags]
//! spate-bench window        [--kind tumbling|sliding|sliding-unsliced|session] [--per-ms P] [same flags]
//! spate-bench join          [--events N] [--keys 10,1000,100000] [--shards S] [--repeat R] …
//! spate-bench report        [--out results/foundation.md] [--criterion results/criterion-exchange.txt]
//! spate-bench window-join   [--events N] [--keys K1,K2,..] [--window-ms W] [--per-ms R]
//! spate-bench regular-join  [--events N] [--keys K1,K2,..] [--join inner|left|right|full]
//! spate-bench nexmark       generate | speed | report | --query qN | --all   (see `nexmark/`)
//! ```
//!
//! Each benchmark invocation runs its job `R` times, prints a table of the repeats and their
//! median, and appends one JSON object (figures plus provenance: revision, machine,
//! toolchain, date) to `results/runs.jsonl`. `report` renders the latest invocation of each
//! benchmark and shard count from that file as Markdown.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use spate_bench::jobs::{self, JobSize};
use spate_bench::measure::{measure, median, Sample};
use spate_bench::meta::Meta;
use spate_bench::windows::{self, WindowKind};

mod fraud;
mod joins;
mod nexmark;
mod report;
mod window_joins;

/// Command-line interface.
#[derive(Parser, Debug)]
#[command(
    name = "spate-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Flags of the default subcommand, `keyed-count`.
    #[command(flatten)]
    job: JobArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Cmd {
    /// generate (seq % keys, seq) → key_by → keyed sum → counting sink (the default).
    KeyedCount(JobArgs),
    /// generate → map → filter → map → counting sink, fused on each shard, no exchange.
    Chain(JobArgs),
    /// generate → event-time windows counting per key → counting sink; `--kind` picks the
    /// windows (sliding vs sliding-unsliced is the slicing ratio).
    Window(WindowArgs),
    /// Event→alert latency of the embedded fraud job at a fixed push rate.
    Fraud(fraud::FraudArgs),
    /// Interval and overlap joins at several key cardinalities: pairs/s, peak state;
    /// writes results/joins.md.
    Join(joins::JoinArgs),
    /// Render the latest run of each benchmark in runs.jsonl as a Markdown table.
    Report(report::ReportArgs),
    /// Nexmark: generate its input as CSV, measure the generator, run its queries.
    Nexmark(Box<nexmark::NexmarkArgs>),
    /// Tumbling window join of two generated streams at several key cardinalities.
    WindowJoin(window_joins::JoinArgs),
    /// Regular keyed join of two generated streams at several key cardinalities.
    RegularJoin(window_joins::JoinArgs),
}

/// Flags shared by the benchmarks.
#[derive(Args, Debug, Clone)]
struct JobArgs {
    /// Records generated per run, over all shards.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Distinct keys (keyed-count only).
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Shards (threads); default: the number of cores.
    #[arg(long)]
    shards: Option<usize>,
    /// Runs to measure; the figures quoted are their median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// The JSON-lines file each invocation appends its record to.
    #[arg(long, default_value_os_t = default_runs_file())]
    runs_file: PathBuf,
    /// Measure and print, but append nothing to the runs file.
    #[arg(long)]
    no_record: bool,
}

/// Flags of the window benchmark.
#[derive(Args, Debug, Clone)]
struct WindowArgs {
    /// Which windows.
    #[arg(long, value_enum, default_value_t = WindowKind::Sliding)]
    kind: WindowKind,
    /// Records per millisecond of event time.
    #[arg(long, default_value_t = 1000)]
    per_ms: u64,
    #[command(flatten)]
    job: JobArgs,
}

/// Which job a benchmark runs.
#[derive(Clone, Copy, Debug)]
enum Bench {
    KeyedCount,
    Chain,
    Window(WindowKind, u64),
}

impl Bench {
    fn name(self) -> &'static str {
        match self {
            Bench::KeyedCount => "keyed-count",
            Bench::Chain => "chain",
            Bench::Window(kind, _) => kind.name(),
        }
    }

    fn run(self, size: &JobSize) -> spate::Result<u64> {
        match self {
            Bench::KeyedCount => jobs::keyed_count(size),
            Bench::Chain => jobs::chain(size),
            Bench::Window(kind, per_ms) => windows::window_count(size, kind, per_ms),
        }
    }

    fn expected(self, size: &JobSize) -> u64 {
        match self {
            Bench::KeyedCount => size.events,
            Bench::Chain => jobs::chain_expected(size.events),
            Bench::Window(kind, per_ms) => windows::window_expected(size, kind, per_ms),
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn default_runs_file() -> PathBuf {
    workspace_root().join("results").join("runs.jsonl")
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => run_bench(Bench::KeyedCount, &cli.job),
        Some(Cmd::KeyedCount(a)) => run_bench(Bench::KeyedCount, &a),
        Some(Cmd::Chain(a)) => run_bench(Bench::Chain, &a),
        Some(Cmd::Window(w)) => run_bench(Bench::Window(w.kind, w.per_ms), &w.job),
        Some(Cmd::Join(a)) => joins::run(&a),
        Some(Cmd::Report(a)) => report::run(&a),
        Some(Cmd::Fraud(a)) => fraud::run(&a),
        Some(Cmd::Nexmark(a)) => nexmark::run(&a),
        Some(Cmd::WindowJoin(a)) => window_joins::run(window_joins::Bench::Window, &a),
        Some(Cmd::RegularJoin(a)) => window_joins::run(window_joins::Bench::Regular, &a),
    }
}

/// One repeat's figures, derived from its [`Sample`].
fn repeat_json(s: &Sample, events: u64, shards: usize) -> Value {
    let eps = events as f64 / s.wall_s;
    json!({
        "wall_s": s.wall_s,
        "events_per_s": eps,
        "events_per_s_per_shard": eps / shards as f64,
        "cpu_s": s.cpu_s,
        "events_per_cpu_s": events as f64 / s.cpu_s,
        "peak_rss_bytes": s.peak_rss_bytes,
        "peak_rss_per_run": s.rss_reset,
    })
}

const FIGURES: [&str; 6] = [
    "wall_s",
    "events_per_s",
    "events_per_s_per_shard",
    "cpu_s",
    "events_per_cpu_s",
    "peak_rss_bytes",
];

fn print_row(label: &str, r: &Value) {
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "{label:>7} {:>9.3} {:>9.2} {:>12.2} {:>8.2} {:>11.2} {:>13.1}",
        f("wall_s"),
        f("events_per_s") / 1e6,
        f("events_per_s_per_shard") / 1e6,
        f("cpu_s"),
        f("events_per_cpu_s") / 1e6,
        f("peak_rss_bytes") / (1024.0 * 1024.0),
    );
}

fn run_bench(bench: Bench, a: &JobArgs) -> anyhow::Result<()> {
    ensure!(a.repeat >= 1, "--repeat must be at least 1");
    let meta = Meta::probe(&workspace_root());
    let size = JobSize {
        events: a.events,
        keys: a.keys,
        shards: a.shards.unwrap_or(meta.cores),
        batch_size: a.batch_size,
    };
    let expected = bench.expected(&size);
    println!(
        "{}: events={} keys={} shards={} batch={} | {} cores, {} | {}{}",
        bench.name(),
        size.events,
        size.keys,
        size.shards,
        size.batch_size,
        meta.cores,
        meta.cpu_model,
        meta.git_rev,
        if meta.git_dirty { " (dirty)" } else { "" },
    );
    println!("    run    wall s     Mev/s  Mev/s/shard    CPU s  Mev/CPU-s  peak RSS MiB");
    let mut runs = Vec::with_capacity(a.repeat);
    for i in 0..a.repeat {
        let (count, sample) = measure(|| bench.run(&size));
        let count = count.with_context(|| format!("{} run {} failed", bench.name(), i + 1))?;
        ensure!(
            count == expected,
            "{} run {}: the sink counted {count} records, expected {expected}",
            bench.name(),
            i + 1
        );
        let r = repeat_json(&sample, size.events, size.shards);
        print_row(&(i + 1).to_string(), &r);
        runs.push(r);
    }
    let mut med = serde_json::Map::new();
    for k in FIGURES {
        let xs: Vec<f64> = runs.iter().filter_map(|r| r[k].as_f64()).collect();
        med.insert(k.into(), json!(median(&xs)));
    }
    let med = Value::Object(med);
    print_row("median", &med);

    if a.no_record {
        return Ok(());
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    args.insert(0, "spate-bench".into());
    let record = json!({
        "benchmark": bench.name(),
        "command": args.join(" "),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "git_rev": meta.git_rev,
        "git_dirty": meta.git_dirty,
        "shards": size.shards,
        "cores": meta.cores,
        "cpu_model": meta.cpu_model,
        "mem_total_bytes": meta.mem_total_bytes,
        "rustc": meta.rustc,
        "date": meta.date,
        "config": {
            "events": size.events,
            "keys": (!matches!(bench, Bench::Chain)).then_some(size.keys),
            "per_ms": match bench {
                Bench::Window(_, per_ms) => Some(per_ms),
                _ => None,
            },
            "batch_size": size.batch_size,
            "repeat": a.repeat,
            "records_to_sink": expected,
        },
        "runs": runs,
        "median": med,
    });
    append_line(&a.runs_file, &record.to_string())?;
    println!("recorded in {}", a.runs_file.display());
    Ok(())
}

/// Appends `line` and a newline to `path`, creating the file and its folder if needed.
fn append_line(path: &Path, line: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(f, "{line}").with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subcommand_means_keyed_count_with_its_flags() {
        let cli = Cli::try_parse_from(["spate-bench", "--events", "5", "--shards", "2"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(
            (cli.job.events, cli.job.shards, cli.job.repeat),
            (5, Some(2), 3)
        );
        let cli = Cli::try_parse_from(["spate-bench", "chain", "--batch-size", "7"]).unwrap();
        assert!(matches!(cli.command, Some(Cmd::Chain(ref a)) if a.batch_size == 7));
    }

    #[test]
    fn repeat_figures_derive_from_the_sample() {
        let s = Sample {
            wall_s: 2.0,
            cpu_s: 4.0,
            peak_rss_bytes: 10,
            rss_reset: true,
        };
        let r = repeat_json(&s, 100, 2);
        assert_eq!(r["events_per_s"], json!(50.0));
        assert_eq!(r["events_per_s_per_shard"], json!(25.0));
        assert_eq!(r["events_per_cpu_s"], json!(25.0));
    }
}
