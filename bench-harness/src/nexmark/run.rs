//! `nexmark --query qN` and `--all`: each query run `--repeat` times on the generator (or on
//! CSV files with `--source`), into a counting sink, measured.
//!
//! Per run: wall and CPU seconds (`getrusage`), events per second in total, per core and
//! per CPU-second, peak RSS, results, and the percentiles of two distributions sampled at
//! the sink (see `spate_workloads::nexmark::timing`): **latency**, processing time from
//! the moment an event entered the source to the moment a result derived from it reached
//! the sink; **lag**, how far the sources were ahead in event time of the result's
//! timestamp when it came out (for window results: how long after its window closed in
//! event time). Each invocation appends one JSON record per query to the runs file.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};
use spate::prelude::*;
use spate_bench::measure::{measure, median};
use spate_bench::meta::Meta;
use spate_workloads::nexmark::queries::{self, q13, Counter, Query, QueryContext, ResultFile};
use spate_workloads::nexmark::timing::{LatencySample, Timing};
use spate_workloads::nexmark::{NexmarkCsvSource, NexmarkGenerator, NexmarkSource};

use super::GenFlags;

/// Flags of `nexmark --query` and `--all`.
#[derive(Args, Debug, Clone)]
pub(super) struct QueryArgs {
    /// Events generated per run, over all shards (ignored with --source).
    #[arg(long, default_value_t = 10_000_000)]
    pub(super) events: u64,
    /// Shards (threads); default: the number of cores.
    #[arg(long)]
    pub(super) shards: Option<usize>,
    /// Runs to measure per query; the figures quoted are their median.
    #[arg(long, default_value_t = 3)]
    pub(super) repeat: usize,
    /// Read the events from person.csv, auction.csv and bid.csv in this folder (as
    /// `nexmark generate` writes them) instead of generating them.
    #[arg(long)]
    pub(super) source: Option<PathBuf>,
    /// The JSON-lines file each query's record is appended to.
    #[arg(long, default_value_os_t = default_runs_file())]
    pub(super) runs_file: PathBuf,
    /// Measure and print, but record nothing (and, with --all, rewrite no report).
    #[arg(long)]
    pub(super) no_record: bool,
    /// Periodic watermark interval in ms of processing time. Flink's 200 ms default is
    /// 20 K events at its speed but a million here, so results would wait seconds of event
    /// time for each watermark; 10 ms keeps a watermark every ~50 K events per shard.
    #[arg(long, default_value_t = 10)]
    pub(super) watermark_interval_ms: i64,
    /// Write the query's result rows to this file as CSV (no header, the reference SQL's
    /// columns, times in epoch ms); an updating result's final table, one row per key.
    /// For q10, the folder its partitioned files are written to (and kept in); with
    /// --sink-dir, q10 writes no partitioned files and this is a file of its rows. With
    /// --checkpoint-dir, the rows this process computed (not exactly once: a resumed run
    /// writes only what it computes after the restore); --sink-dir is the exactly-once copy.
    #[arg(long, conflicts_with = "all")]
    pub(super) output: Option<PathBuf>,
    /// Sample the runs in-process (pprof, SIGPROF) and write a flame graph SVG here, and
    /// the functions most on top of the stack next to it (`FILE.top.txt`).
    #[arg(long, conflicts_with = "all")]
    pub(super) flamegraph: Option<PathBuf>,
    /// Take checkpoints into this folder; a run started again with the same folder resumes
    /// from its newest complete checkpoint (sources rewound to its offsets). Needs
    /// `--repeat 1` and the generator (not `--source`).
    #[arg(long, conflicts_with = "all")]
    pub(super) checkpoint_dir: Option<PathBuf>,
    /// Milliseconds between checkpoints (with --checkpoint-dir; default 1000).
    #[arg(long)]
    pub(super) checkpoint_interval_ms: Option<u64>,
    /// Incremental snapshots (with --checkpoint-dir): window operators that can (sliced
    /// windows: q5, q7, q8 and the other sliding and tumbling aggregates) write at most this
    /// many snapshots in a row holding only what changed since the previous checkpoint,
    /// then a full one (`Env::incremental_checkpoints`; default 0: every snapshot full).
    #[arg(long)]
    pub(super) incremental_checkpoints: Option<usize>,
    /// Publish the result rows exactly once into this folder (with --checkpoint-dir):
    /// `part-<epoch>-s<shard>.txt` files of the lines `--output` writes, or changelog
    /// lines `+U<TAB>key<TAB>row` for updating queries; `nexmark fold` reads them back.
    #[arg(long, conflicts_with = "all")]
    pub(super) sink_dir: Option<PathBuf>,
    /// Also write the run's state as a savepoint into this folder (with --checkpoint-dir;
    /// it must not hold one): the run's final checkpoint when its input ends, kept until
    /// deleted, independent of the shard count. A later run continues from it with
    /// --restore-from.
    #[arg(long, conflicts_with = "all")]
    pub(super) savepoint_dir: Option<PathBuf>,
    /// Take the savepoint this many milliseconds after the start, in the middle of the run,
    /// and stop the run there (Flink's stop-with-savepoint: open windows and pending timers
    /// stay in the savepoint, and a run restored from it goes on with them). Needs
    /// --savepoint-dir; a run that ends sooner leaves its final state as the savepoint.
    #[arg(long)]
    pub(super) savepoint_after_ms: Option<u64>,
    /// Start from this savepoint (or checkpoint) folder instead of the newest checkpoint
    /// of --checkpoint-dir, on any --shards: state and source offsets are restored, and
    /// the run goes on after the events the savepoint's run had read.
    #[arg(long, conflicts_with = "all")]
    pub(super) restore_from: Option<PathBuf>,
    #[command(flatten)]
    pub(super) gen: GenFlags,
}

/// What `--checkpoint-dir`, `--checkpoint-interval-ms` and `--sink-dir` ask for.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Checkpoints {
    /// Where checkpoints go.
    pub(super) dir: PathBuf,
    /// How often.
    pub(super) interval: Duration,
    /// Incremental snapshots: deltas in a row at most (0: off).
    pub(super) incremental: usize,
    /// Where the exactly-once sink publishes, if anywhere.
    pub(super) sink_dir: Option<PathBuf>,
    /// Where the run's final checkpoint is also written as a savepoint, if anywhere.
    pub(super) savepoint_dir: Option<PathBuf>,
    /// When to take that savepoint in the middle of the run and stop there, if at all.
    pub(super) savepoint_after: Option<Duration>,
    /// The savepoint or checkpoint to start from instead of the newest of `dir`.
    pub(super) restore_from: Option<PathBuf>,
}

impl QueryArgs {
    /// The checkpoint settings, or an error naming the flag that is misused.
    pub(super) fn checkpoints(&self) -> anyhow::Result<Option<Checkpoints>> {
        let Some(dir) = &self.checkpoint_dir else {
            ensure!(
                self.sink_dir.is_none(),
                "--sink-dir needs --checkpoint-dir: the exactly-once sink publishes its rows \
                 when checkpoints complete"
            );
            ensure!(
                self.checkpoint_interval_ms.is_none(),
                "--checkpoint-interval-ms needs --checkpoint-dir"
            );
            ensure!(
                self.incremental_checkpoints.is_none(),
                "--incremental-checkpoints needs --checkpoint-dir"
            );
            ensure!(
                self.savepoint_dir.is_none() && self.restore_from.is_none(),
                "--savepoint-dir and --restore-from need --checkpoint-dir: savepoints are \
                 written and restored by the checkpointing of the run"
            );
            return Ok(None);
        };
        let ms = self.checkpoint_interval_ms.unwrap_or(1000);
        ensure!(ms >= 1, "--checkpoint-interval-ms must be at least 1");
        ensure!(
            self.repeat == 1,
            "--checkpoint-dir needs --repeat 1: a second run on the same folder would resume \
             the first one's finished checkpoint and replay nothing"
        );
        ensure!(
            self.source.is_none(),
            "--checkpoint-dir runs on the generator only: the CSV source (--source) cannot \
             rewind to a checkpoint's offsets"
        );
        if let Some(sink) = &self.sink_dir {
            ensure!(
                sink != dir,
                "--sink-dir and --checkpoint-dir must be different folders"
            );
        }
        for (flag, other) in [
            ("--savepoint-dir", &self.savepoint_dir),
            ("--restore-from", &self.restore_from),
        ] {
            if let Some(other) = other {
                ensure!(
                    other != dir && Some(other) != self.sink_dir.as_ref(),
                    "{flag} must be a folder of its own (not --checkpoint-dir or --sink-dir)"
                );
            }
        }
        ensure!(
            self.savepoint_after_ms.is_none() || self.savepoint_dir.is_some(),
            "--savepoint-after-ms needs --savepoint-dir: where the savepoint goes"
        );
        if let Some(from) = &self.restore_from {
            ensure!(
                from.join("_manifest").is_file(),
                "--restore-from {}: no savepoint or checkpoint there (no _manifest file)",
                from.display()
            );
        }
        Ok(Some(Checkpoints {
            dir: dir.clone(),
            interval: Duration::from_millis(ms),
            incremental: self.incremental_checkpoints.unwrap_or(0),
            sink_dir: self.sink_dir.clone(),
            savepoint_dir: self.savepoint_dir.clone(),
            savepoint_after: self.savepoint_after_ms.map(Duration::from_millis),
            restore_from: self.restore_from.clone(),
        }))
    }
}

/// `results/nexmark.jsonl` in the workspace.
pub(super) fn default_runs_file() -> PathBuf {
    crate::workspace_root()
        .join("results")
        .join("nexmark.jsonl")
}

/// Runs the query named `name`.
pub(super) fn one(name: &str, a: &QueryArgs) -> anyhow::Result<()> {
    let Some(query) = queries::find(name) else {
        let known: Vec<&str> = queries::QUERIES.iter().map(|q| q.name).collect();
        bail!("no query {name:?}; known: {}", known.join(", "));
    };
    a.checkpoints()?;
    let meta = Meta::probe(&crate::workspace_root());
    let input = Input::new(a)?;
    header(a, &meta, &input);
    bench(query, a, &meta, &input)
}

/// Runs every query, then rewrites the report.
pub(super) fn all(a: &QueryArgs) -> anyhow::Result<()> {
    let meta = Meta::probe(&crate::workspace_root());
    let input = Input::new(a)?;
    header(a, &meta, &input);
    for query in queries::QUERIES {
        bench(query, a, &meta, &input)?;
    }
    if !a.no_record {
        super::report::write(&a.runs_file, &super::report::results_dir(&a.runs_file))?;
    }
    Ok(())
}

/// Where the events come from.
enum Input {
    Generator(NexmarkGenerator, u64),
    Files(PathBuf, (i64, i64)),
}

impl Input {
    fn new(a: &QueryArgs) -> anyhow::Result<Self> {
        Ok(match &a.source {
            None => Input::Generator(a.gen.generator()?, a.events),
            Some(dir) => {
                let span = NexmarkCsvSource::time_span(dir)?
                    .with_context(|| format!("{} holds no events", dir.display()))?;
                Input::Files(dir.clone(), span)
            }
        })
    }

    /// The event times the run covers: first, and how many ms it spans.
    fn span(&self) -> (i64, u64) {
        match self {
            Input::Generator(g, n) => {
                let first = g.timestamp(0);
                let last = g.timestamp(n.saturating_sub(1));
                (first, (last - first).max(0) as u64 + 1)
            }
            Input::Files(_, (lo, hi)) => (*lo, (hi - lo).max(0) as u64 + 1),
        }
    }

    fn describe(&self) -> String {
        match self {
            Input::Generator(g, n) => format!(
                "{n} generated events at {} events/s of event time",
                g.config().event_rate
            ),
            Input::Files(dir, _) => format!("events from {}", dir.display()),
        }
    }
}

fn header(a: &QueryArgs, meta: &Meta, input: &Input) {
    println!(
        "nexmark: {}, {} shards, {} repeats | {} cores, {} | {}{} | {}",
        input.describe(),
        a.shards.unwrap_or(meta.cores),
        a.repeat,
        meta.cores,
        meta.cpu_model,
        meta.git_rev,
        if meta.git_dirty { " (dirty)" } else { "" },
        meta.rustc,
    );
}

/// What one run measured.
struct Repeat {
    wall_s: f64,
    cpu_s: f64,
    events: u64,
    results: u64,
    peak_rss_bytes: u64,
    rss_reset: bool,
    samples: Vec<LatencySample>,
    /// Rows written with `--output`, and where.
    written: Option<(u64, PathBuf)>,
}

/// Runs `query` once on `input` with `shards` shards.
fn run_once(
    query: &Query,
    shards: usize,
    watermark_interval_ms: i64,
    input: &Input,
    output: Option<&Path>,
    checkpoints: Option<&Checkpoints>,
) -> anyhow::Result<Repeat> {
    let (base, span) = input.span();
    let timing = Arc::new(Timing::new(base, span));
    let counter = Counter::timed(timing.clone());
    let mut cx = QueryContext::new(counter.clone());
    if let Input::Files(dir, _) = input {
        let side = dir.join("side_input.csv");
        if side.exists() {
            cx.side_input = side;
        }
    }
    if !cx.side_input.exists() {
        q13::write_side_input(&cx.side_input, q13::KEYS)
            .with_context(|| format!("cannot write {}", cx.side_input.display()))?;
    }
    cx.sink_dir = checkpoints.and_then(|c| c.sink_dir.clone());
    // q10 writes partitioned files, kept in the --output folder; with --sink-dir its rows
    // go to the exactly-once sink instead, and --output is a file as for the others.
    let keep_q10 = query.name == "q10" && output.is_some() && cx.sink_dir.is_none();
    match output {
        Some(dir) if keep_q10 => cx.output_dir = dir.to_path_buf(),
        Some(file) => cx.output = Some(ResultFile::create(file)?),
        None => {}
    }
    remove_dir(&cx.output_dir)?;
    let progress = Progress::start(input, &timing, query.name);
    let (done, s) = measure(|| {
        let mut env = Env::new()
            .shards(shards)
            .watermark_interval_ms(watermark_interval_ms);
        if let Some(c) = checkpoints {
            env = queries::state_types(env.checkpointing(&c.dir, c.interval))
                .incremental_checkpoints(c.incremental);
            if let Some(sp) = &c.savepoint_dir {
                env = env.savepoint_on_finish(sp);
            }
            if let Some(from) = &c.restore_from {
                env = env.restore_from(spate::checkpoint::RestoreFrom::Path(from.clone()));
            }
        }
        let events = match input {
            Input::Generator(g, n) => env.add_source(
                "nexmark",
                NexmarkSource::from_generator(g.clone())
                    .events(Some(*n))
                    .timed(timing.clone()),
            ),
            Input::Files(dir, _) => env.add_source(
                "nexmark csv",
                NexmarkCsvSource::new(dir).timed(timing.clone()),
            ),
        };
        (query.build)(&events, &cx);
        match checkpoints.and_then(|c| c.savepoint_dir.as_deref().zip(c.savepoint_after)) {
            Some((dir, after)) => stop_with_savepoint(env, dir, after),
            None => env.execute().map(drop),
        }
    });
    progress.finish();
    // q10's files are kept only when asked for: a run writes about 100 bytes per bid.
    if !keep_q10 {
        remove_dir(&cx.output_dir)?;
    }
    done.with_context(|| format!("{} failed", query.name))?;
    let written = match &cx.output {
        Some(file) => Some((file.finish()?, file.path().to_path_buf())),
        None => keep_q10.then(|| (counter.total(), cx.output_dir.clone())),
    };
    Ok(Repeat {
        wall_s: s.wall_s,
        cpu_s: s.cpu_s,
        events: timing.emitted(),
        results: counter.total(),
        peak_rss_bytes: s.peak_rss_bytes,
        rss_reset: s.rss_reset,
        samples: timing.take_samples(),
        written,
    })
}

/// Starts the job, takes a savepoint into `dir` once `after` has passed and stops the job
/// (Flink's stop-with-savepoint); a job that ends sooner just ends (it writes its final
/// state as the savepoint).
fn stop_with_savepoint(env: Env, dir: &Path, after: Duration) -> spate::Result<()> {
    let job = env.start()?;
    let start = std::time::Instant::now();
    while start.elapsed() < after && !job.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    if job.is_finished() {
        return job.join().map(drop);
    }
    job.savepoint(dir)?;
    // The savepoint is complete: stopping the job can only say that it was stopped.
    match job.cancel() {
        Err(e) if !e.is_secondary() => Err(e),
        _ => Ok(()),
    }
}

fn remove_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// A progress bar of events emitted, on a terminal only.
struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(input: &Input, timing: &Arc<Timing>, name: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let bar = match input {
            Input::Generator(_, n) => indicatif::ProgressBar::new(*n),
            Input::Files(..) => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>4} [{bar:40}] {human_pos}/{human_len} events {per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_prefix(name.to_string());
        let (t, s) = (timing.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                bar.set_position(t.emitted());
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Percentiles of latency (ms) and lag (ms) over the samples, as flat JSON fields.
fn percentiles(samples: &[LatencySample]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("samples".into(), json!(samples.len()));
    let (Ok(mut lat), Ok(mut lag)) = (
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3),
        Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3),
    ) else {
        return m;
    };
    for s in samples {
        lat.saturating_record(s.latency_ns.max(1));
        lag.saturating_record(s.lag_ms.max(1) as u64);
    }
    if samples.is_empty() {
        return m;
    }
    for (name, q) in [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)] {
        m.insert(
            format!("latency_{name}_ms"),
            json!(lat.value_at_quantile(q) as f64 / 1e6),
        );
    }
    m.insert("latency_max_ms".into(), json!(lat.max() as f64 / 1e6));
    for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
        m.insert(format!("lag_{name}_ms"), json!(lag.value_at_quantile(q)));
    }
    m.insert("lag_max_ms".into(), json!(lag.max()));
    m
}

/// One run's figures as JSON.
fn repeat_json(r: &Repeat, cores_used: usize) -> Value {
    let eps = r.events as f64 / r.wall_s;
    let mut m = Map::new();
    m.insert("wall_s".into(), json!(r.wall_s));
    m.insert("cpu_s".into(), json!(r.cpu_s));
    m.insert("events".into(), json!(r.events));
    m.insert("results".into(), json!(r.results));
    m.insert("events_per_s".into(), json!(eps));
    m.insert(
        "events_per_s_per_core".into(),
        json!(eps / cores_used as f64),
    );
    m.insert("events_per_cpu_s".into(), json!(r.events as f64 / r.cpu_s));
    m.insert("peak_rss_bytes".into(), json!(r.peak_rss_bytes));
    m.insert("peak_rss_per_run".into(), json!(r.rss_reset));
    m.extend(percentiles(&r.samples));
    Value::Object(m)
}

/// The median of every numeric field over the runs.
fn medians(runs: &[Value]) -> Value {
    let mut keys: Vec<&String> = runs
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let mut m = Map::new();
    for k in keys {
        let xs: Vec<f64> = runs.iter().filter_map(|r| r[k].as_f64()).collect();
        if !xs.is_empty() && runs.iter().all(|r| !r[k].is_boolean()) {
            m.insert(k.clone(), json!(median(&xs)));
        }
    }
    Value::Object(m)
}

fn print_row(label: &str, r: &Value) {
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "{label:>7} {:>8.3} {:>8.2} {:>9.2} {:>7.2} {:>8.2} {:>8.2} {:>8.1} {:>8.0} {:>8.0} {:>8.1} {:>10}",
        f("wall_s"),
        f("events_per_s") / 1e6,
        f("events_per_s_per_core") / 1e6,
        f("cpu_s"),
        f("events_per_cpu_s") / 1e6,
        f("latency_p50_ms"),
        f("latency_p99_ms"),
        f("lag_p50_ms"),
        f("lag_p99_ms"),
        f("peak_rss_bytes") / (1024.0 * 1024.0),
        f("results"),
    );
}

/// Runs `query` `--repeat` times, prints each run and the median, records them.
fn bench(query: &Query, a: &QueryArgs, meta: &Meta, input: &Input) -> anyhow::Result<()> {
    ensure!(a.repeat >= 1, "--repeat must be at least 1");
    let shards = a.shards.unwrap_or(meta.cores);
    ensure!(shards >= 1, "--shards must be at least 1");
    let cores_used = shards.min(meta.cores).max(1);
    println!("{} ({}):", query.name, query.about);
    println!(
        "    run   wall s  M ev/s  M/s/core   CPU s  M/CPU-s   p50 ms   p99 ms  lag p50  lag p99  RSS MiB    results"
    );
    let profile = match &a.flamegraph {
        Some(svg) => Some(super::profile::Profile::start(svg)?),
        None => None,
    };
    let mut runs = Vec::with_capacity(a.repeat);
    for i in 0..a.repeat {
        let r = run_once(
            query,
            shards,
            a.watermark_interval_ms,
            input,
            a.output.as_deref(),
            a.checkpoints()?.as_ref(),
        )
        .with_context(|| format!("{} run {}", query.name, i + 1))?;
        let v = repeat_json(&r, cores_used);
        print_row(&(i + 1).to_string(), &v);
        if let Some((rows, path)) = &r.written {
            println!("        wrote {rows} result rows to {}", path.display());
        }
        runs.push(v);
    }
    let med = medians(&runs);
    print_row("median", &med);
    if let (Some(p), Some(svg)) = (profile, &a.flamegraph) {
        let title = format!(
            "nexmark {} | {} events | {shards} shards | {}",
            query.name, a.events, meta.git_rev
        );
        let top = p.write(&title)?;
        println!("flame graph: {}; most on top of the stack:", svg.display());
        let own = top.lines().skip_while(|l| !l.contains("innermost Spate"));
        for line in own.skip(1).take(10) {
            println!("    {line}");
        }
    }
    if a.no_record {
        return Ok(());
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    args.insert(0, "spate-bench".into());
    let (rate, seed) = (a.gen.rate, a.gen.seed);
    let record = json!({
        "benchmark": "nexmark",
        "query": query.name,
        "about": query.about,
        "target_m_per_core": query.class.target_m_per_core(),
        "command": args.join(" "),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "git_rev": meta.git_rev,
        "git_dirty": meta.git_dirty,
        "shards": shards,
        "cores": meta.cores,
        "cpu_model": meta.cpu_model,
        "mem_total_bytes": meta.mem_total_bytes,
        "rustc": meta.rustc,
        "date": meta.date,
        "config": {
            "input": input.describe(),
            "events": match input { Input::Generator(_, n) => Some(*n), Input::Files(..) => None },
            "rate": rate,
            "seed": seed,
            "source": a.source.as_ref().map(|p| p.display().to_string()),
            "repeat": a.repeat,
            "batch_size": 1024,
            "watermark_interval_ms": a.watermark_interval_ms,
            "checkpoint_interval_ms": a.checkpoints()?.map(|c| c.interval.as_millis() as u64),
            "sink_dir": a.sink_dir.is_some(),
            "savepoint_dir": a.savepoint_dir.is_some(),
            "restore_from": a.restore_from.is_some(),
            "savepoint_after_ms": a.savepoint_after_ms,
        },
        "runs": runs,
        "median": med,
    });
    crate::append_line(&a.runs_file, &record.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians_of_samples() {
        let samples: Vec<LatencySample> = (1..=100)
            .map(|i| LatencySample {
                latency_ns: i * 1_000_000,
                lag_ms: i as i64,
            })
            .collect();
        let p = percentiles(&samples);
        let ms = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
        assert!((ms("latency_p50_ms") - 50.0).abs() < 0.1);
        assert!((ms("latency_p99_ms") - 99.0).abs() < 0.1);
        assert_eq!(p["lag_max_ms"], json!(100));
        assert!(percentiles(&[]).get("latency_p50_ms").is_none());
        let runs = vec![
            json!({"a": 1.0, "b": true}),
            json!({"a": 3.0, "b": false}),
            json!({"a": 2.0}),
        ];
        assert_eq!(medians(&runs), json!({"a": 2.0}));
    }

    #[test]
    fn every_query_runs_on_generated_and_file_input() {
        let dir = std::env::temp_dir().join(format!("spate-bench-nx-{}", std::process::id()));
        let g = NexmarkGenerator::new(Default::default()).expect("valid");
        let events: Vec<_> = g.events(0..3_000).collect();
        NexmarkCsvSource::write(&dir, &events).expect("written");
        let gen = Input::Generator(g, 3_000);
        let files = Input::Files(
            dir.clone(),
            NexmarkCsvSource::time_span(&dir)
                .ok()
                .flatten()
                .unwrap_or_default(),
        );
        for q in queries::QUERIES {
            let a = run_once(q, 2, 10, &gen, None, None).expect("runs on the generator");
            let b = run_once(q, 2, 10, &files, None, None).expect("runs on files");
            assert_eq!((a.events, b.events), (3_000, 3_000), "{}", q.name);
            // Upserts depend on the order records meet in (files split by byte range,
            // the generator by event number), and q12 on the clock: the rest must agree.
            let ordered = ["q12", "q15", "q16", "q17", "q18", "q19"].contains(&q.name);
            if !ordered {
                assert_eq!(a.results, b.results, "{}: same results from files", q.name);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_query_writes_its_rows_with_output() {
        let dir = std::env::temp_dir().join(format!("spate-bench-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("created");
        let g = NexmarkGenerator::new(Default::default()).expect("valid");
        let gen = Input::Generator(g, 3_000);
        let tables = ["q4", "q9", "q15", "q16", "q17", "q18", "q19"];
        for q in queries::QUERIES {
            let path = dir.join(format!("{}.csv", q.name));
            let r = run_once(q, 2, 10, &gen, Some(&path), None).expect("runs");
            let (rows, at) = r.written.expect("rows written");
            assert_eq!(at, path, "{}", q.name);
            if q.name == "q10" {
                // q10's result is its partitioned files, kept in the folder.
                assert!(path.join("dt=2015-07-15").is_dir());
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("written");
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len() as u64, rows, "{}", q.name);
            if tables.contains(&q.name) {
                assert!(
                    rows <= r.results,
                    "{}: the final table folds upserts",
                    q.name
                );
            } else {
                assert_eq!(rows, r.results, "{}: every row written", q.name);
            }
            // Unquoted lines of one query have one number of columns.
            let cols: Vec<usize> = lines
                .iter()
                .filter(|l| !l.contains('"'))
                .map(|l| l.split(',').count())
                .collect();
            assert!(
                cols.windows(2).all(|w| w[0] == w[1]),
                "{}: {cols:?}",
                q.name
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
