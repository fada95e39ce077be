//! `window-join` and `regular-join`: pairs per second and state size of the joins at
//! several key cardinalities.
//!
//! ```text
//! spate-bench window-join  [--events N] [--keys 1000,10000,...] [--window-ms W] [--per-ms R]
//! spate-bench regular-join [--events N] [--keys ...] [--join inner|left|right|full]
//! ```
//!
//! Both generate two streams of `events` records each: left `(seq % keys, ts, seq)`, right
//! `((7·seq + 3) % keys, ts, seq)`, so every key gets the same share of each side.
//! - **window-join**: event time `ts = seq / per_ms` with punctuated watermarks, tumbling
//!   windows of `window_ms`: a window holds `window_ms · per_ms` records per side, whatever
//!   the number of keys; more keys means fewer pairs per window and more, smaller, per-key
//!   entries. State is the window operator's buffered elements.
//! - **regular-join**: no event time; every row is kept (no TTL), so state is every row.
//!
//! The expected number of pairs is computed before the runs and checked after each: a
//! benchmark that drops records is not a benchmark. Each invocation appends a JSON record
//! to `results/window-joins.jsonl` and renders `results/window-joins.md` from the latest
//! record of each benchmark.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{ensure, Context as _};
use clap::Args;
use serde_json::{json, Value};
use spate::join::RegularJoin;
use spate::prelude::*;
use spate::state::StateGauge;
use spate::window::TumblingWindows;
use spate_bench::jobs::CountSink;
use spate_bench::measure::{measure, median};
use spate_bench::meta::Meta;

/// Flags of `window-join` and `regular-join`.
#[derive(Args, Debug, Clone)]
pub struct JoinArgs {
    /// Records generated per side, per run.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Key cardinalities to measure, comma-separated (default: per benchmark).
    #[arg(long, value_delimiter = ',')]
    keys: Vec<u64>,
    /// Shards (threads); default: the number of cores.
    #[arg(long)]
    shards: Option<usize>,
    /// Runs per cardinality; the figures quoted are their median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// window-join: tumbling window size, ms of event time.
    #[arg(long, default_value_t = 10)]
    window_ms: u64,
    /// window-join: records per ms of event time, per side.
    #[arg(long, default_value_t = 1_000)]
    per_ms: u64,
    /// regular-join: inner, left, right or full.
    #[arg(long, default_value = "inner")]
    join: String,
    /// The JSON-lines file each invocation appends its record to.
    #[arg(long, default_value_os_t = super::workspace_root().join("results/window-joins.jsonl"))]
    runs_file: PathBuf,
    /// The Markdown page rendered from the runs file.
    #[arg(long, default_value_os_t = super::workspace_root().join("results/window-joins.md"))]
    out: PathBuf,
    /// Measure and print, but record nothing.
    #[arg(long)]
    no_record: bool,
    /// A remark recorded with the figures and shown on the page (e.g. the machine's load).
    #[arg(long)]
    note: Option<String>,
    /// Measure nothing: render the page from the runs file again.
    #[arg(long)]
    render_only: bool,
}

/// Which join a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bench {
    /// Tumbling window join.
    Window,
    /// Regular keyed join.
    Regular,
}

impl Bench {
    fn name(self) -> &'static str {
        match self {
            Bench::Window => "window-join",
            Bench::Regular => "regular-join",
        }
    }
    fn default_keys(self) -> Vec<u64> {
        match self {
            Bench::Window => vec![1_000, 10_000, 100_000, 1_000_000],
            Bench::Regular => vec![100_000, 1_000_000, 10_000_000],
        }
    }
}

type Rec = (u64, i64, u64);

fn left_key(seq: u64, keys: u64) -> u64 {
    seq % keys
}
fn right_key(seq: u64, keys: u64) -> u64 {
    (seq.wrapping_mul(7).wrapping_add(3)) % keys
}

/// Pairs the inner join emits: per block of `block` sequence numbers (a window; the whole
/// input for the regular join), the sum over keys of left count × right count.
fn expected_pairs(events: u64, keys: u64, block: u64) -> u64 {
    let mut count = vec![0u32; usize::try_from(keys).unwrap_or(usize::MAX)];
    let mut pairs = 0u64;
    let mut start = 0;
    while start < events {
        let end = events.min(start.saturating_add(block));
        for seq in start..end {
            count[left_key(seq, keys) as usize] += 1;
        }
        for seq in start..end {
            pairs += u64::from(count[right_key(seq, keys) as usize]);
        }
        for seq in start..end {
            count[left_key(seq, keys) as usize] = 0;
        }
        start = end;
    }
    pairs
}

fn parse_join(s: &str) -> anyhow::Result<RegularJoin> {
    Ok(match s {
        "inner" => RegularJoin::inner(),
        "left" => RegularJoin::left_outer(),
        "right" => RegularJoin::right_outer(),
        "full" => RegularJoin::full_outer(),
        _ => anyhow::bail!("--join {s}: expected inner, left, right or full"),
    })
}

/// One run: (records out of the join, peak state entries).
fn run_once(bench: Bench, a: &JoinArgs, shards: usize, keys: u64) -> anyhow::Result<(u64, u64)> {
    let env = Env::new().shards(shards).batch_size(a.batch_size);
    let per_ms = a.per_ms.max(1);
    let side = |key: fn(u64, u64) -> u64| {
        env.generate(Some(a.events), move |seq| {
            (key(seq, keys), (seq / per_ms) as i64, seq)
        })
    };
    let (left, right) = (side(left_key), side(right_key));
    let gauge = StateGauge::new();
    let sink = CountSink::new();
    match bench {
        Bench::Window => {
            let stamp = || {
                WatermarkStrategy::for_monotonous_timestamps()
                    .with_timestamp_assigner(|r: &Rec| r.1)
                    .punctuated()
            };
            left.assign_timestamps_and_watermarks(stamp())
                .join(&right.assign_timestamps_and_watermarks(stamp()))
                .where_(|l| l.0)
                .equal_to(|r| r.0)
                .window(TumblingWindows::of(a.window_ms as i64))
                .state_gauge(&gauge)
                .apply(|l, r| (l.2, r.2))
                .add_sink("count", sink.clone());
        }
        Bench::Regular => {
            let spec = parse_join(&a.join)?.state_gauge(&gauge);
            left.key_by(|l| l.0)
                .connect(&right.key_by(|r| r.0))
                .regular_join(spec)
                .add_sink("count", sink.clone());
        }
    }
    env.execute()?;
    Ok((sink.total(), gauge.peak()))
}

/// Runs the benchmark at every cardinality, prints and records the medians.
pub fn run(bench: Bench, a: &JoinArgs) -> anyhow::Result<()> {
    if a.render_only {
        return render_file(a);
    }
    ensure!(a.repeat >= 1, "--repeat must be at least 1");
    ensure!(a.window_ms >= 1, "--window-ms must be at least 1");
    let meta = Meta::probe(&super::workspace_root());
    let shards = a.shards.unwrap_or(meta.cores);
    let keys = if a.keys.is_empty() {
        bench.default_keys()
    } else {
        a.keys.clone()
    };
    println!(
        "{}: {} events per side, shards={} batch={} | {} cores, {} | {}{}",
        bench.name(),
        a.events,
        shards,
        a.batch_size,
        meta.cores,
        meta.cpu_model,
        meta.git_rev,
        if meta.git_dirty { " (dirty)" } else { "" },
    );
    println!("      keys        pairs   wall s  Mpairs/s  Mrec/s   CPU s  state peak  RSS MiB");
    let mut rows = Vec::new();
    for &k in &keys {
        ensure!(k >= 1, "--keys must be at least 1");
        let block = match bench {
            Bench::Window => a.window_ms.saturating_mul(a.per_ms.max(1)),
            Bench::Regular => u64::MAX,
        };
        let inner = expected_pairs(a.events, k, block);
        let mut runs = Vec::new();
        for i in 0..a.repeat {
            let (r, s) = measure(|| run_once(bench, a, shards, k));
            let (out, state) =
                r.with_context(|| format!("{} run {} failed", bench.name(), i + 1))?;
            // Outer joins add padded rows and their retractions to the inner pairs.
            let ok = if bench == Bench::Regular && a.join != "inner" {
                out >= inner
            } else {
                out == inner
            };
            ensure!(
                ok,
                "{}, {k} keys: the join emitted {out} records, expected {inner} pairs",
                bench.name()
            );
            runs.push(json!({
                "wall_s": s.wall_s, "cpu_s": s.cpu_s, "peak_rss_bytes": s.peak_rss_bytes,
                "out": out, "pairs_per_s": out as f64 / s.wall_s,
                "records_per_s": 2.0 * a.events as f64 / s.wall_s,
                "records_per_cpu_s": 2.0 * a.events as f64 / s.cpu_s, "state_peak": state,
            }));
        }
        let med = |key: &str| {
            median(
                &runs
                    .iter()
                    .filter_map(|r| r[key].as_f64())
                    .collect::<Vec<_>>(),
            )
        };
        let row = json!({
            "keys": k, "pairs": runs[0]["out"], "wall_s": med("wall_s"), "cpu_s": med("cpu_s"),
            "pairs_per_s": med("pairs_per_s"), "records_per_s": med("records_per_s"),
            "records_per_cpu_s": med("records_per_cpu_s"),
            "state_peak": med("state_peak"), "peak_rss_bytes": med("peak_rss_bytes"),
            "each_pairs_per_s": runs.iter().map(|r| r["pairs_per_s"].clone()).collect::<Vec<_>>(),
        });
        let f = |key: &str| row[key].as_f64().unwrap_or(f64::NAN);
        println!(
            "{k:>10} {:>12} {:>8.3} {:>9.2} {:>7.2} {:>7.2} {:>11.0} {:>8.1}",
            runs[0]["out"],
            f("wall_s"),
            f("pairs_per_s") / 1e6,
            f("records_per_s") / 1e6,
            f("cpu_s"),
            f("state_peak"),
            f("peak_rss_bytes") / (1024.0 * 1024.0),
        );
        rows.push(row);
    }
    if a.no_record {
        return Ok(());
    }
    // The command as run, but for the note, which is recorded apart.
    let mut command = vec!["spate-bench".to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--note" {
            args.next();
        } else if !arg.starts_with("--note=") {
            command.push(arg);
        }
    }
    let record = json!({
        "benchmark": bench.name(), "command": command.join(" "),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "git_rev": meta.git_rev, "git_dirty": meta.git_dirty, "shards": shards,
        "cores": meta.cores, "cpu_model": meta.cpu_model, "mem_total_bytes": meta.mem_total_bytes,
        "rustc": meta.rustc, "date": meta.date, "note": a.note,
        "config": {
            "events_per_side": a.events, "batch_size": a.batch_size, "repeat": a.repeat,
            "window_ms": (bench == Bench::Window).then_some(a.window_ms),
            "per_ms": (bench == Bench::Window).then_some(a.per_ms),
            "join": (bench == Bench::Regular).then_some(a.join.as_str()),
        },
        "rows": rows,
    });
    super::append_line(&a.runs_file, &record.to_string())?;
    render_file(a)
}

/// Renders the page from every record of the runs file.
fn render_file(a: &JoinArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.runs_file)
        .with_context(|| format!("cannot read {}", a.runs_file.display()))?;
    let records: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    std::fs::write(&a.out, render(&records))
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    println!("wrote {} from {}", a.out.display(), a.runs_file.display());
    Ok(())
}

/// The command as run, without the spate-bench prefix and the `--note` (shown apart).
fn command_without_note(command: &str) -> &str {
    let c = command.trim_start_matches("spate-bench").trim();
    c.find(" --note").map_or(c, |i| &c[..i])
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".into(),
        other => other.to_string(),
    }
}

/// The page: the latest record of each benchmark and shard count, a table each.
fn render(records: &[Value]) -> String {
    let mut latest: std::collections::BTreeMap<(String, u64), &Value> = Default::default();
    for r in records {
        let name = text(&r["benchmark"]);
        latest.insert((name, r["shards"].as_u64().unwrap_or(0)), r);
    }
    let mut s = String::new();
    let _ = writeln!(s, "# Join benchmarks: window join and regular join\n");
    let _ = writeln!(
        s,
        "Generated by `spate-bench window-join` / `regular-join` from \
         `results/window-joins.jsonl` (the latest run of each benchmark and shard count). Two generated streams of \
         `events` records each; left key `seq % keys`, right key `(7·seq + 3) % keys`. \
         Pairs/s counts the join's output records (checked against the expected count), \
         input rec/s both sides' records. *State peak* is the join's own gauge of live \
         entries (buffered elements for the window join, stored rows for the regular join), \
         the sum of each shard's peak: with several shards it also counts what a shard \
         holds while another shard's watermark lags behind. Peak RSS is the process's, per \
         run. Figures are medians of the repeats.\n"
    );
    // window-join before regular-join, fewer shards first.
    let mut latest: Vec<_> = latest.into_iter().collect();
    latest.sort_by(|(a, _), (b, _)| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for ((name, shards), r) in latest {
        let c = &r["config"];
        let what = if name == "window-join" {
            format!(
                "tumbling windows of {} ms, {} records per ms per side (punctuated watermarks)",
                text(&c["window_ms"]),
                text(&c["per_ms"])
            )
        } else {
            format!("{} join, no TTL (every row stays)", text(&c["join"]))
        };
        let dirty = if r["git_dirty"].as_bool() == Some(true) {
            " (dirty)"
        } else {
            ""
        };
        let plural = if shards == 1 { "" } else { "s" };
        let _ = writeln!(s, "## {name}, {shards} shard{plural}\n");
        let _ = writeln!(
            s,
            "{} events per side, {what}; batch {}, {} repeats.\n\n\
             Command: `cargo run --release -p spate-bench -- {}` at {}{} ({} build), {}; \
             {} cores ({}), {:.1} GiB RAM, {}.\n",
            text(&c["events_per_side"]),
            text(&c["batch_size"]),
            text(&c["repeat"]),
            command_without_note(&text(&r["command"])),
            text(&r["git_rev"]),
            dirty,
            text(&r["profile"]),
            text(&r["date"]),
            text(&r["cores"]),
            text(&r["cpu_model"]),
            num(&r["mem_total_bytes"]) / (1u64 << 30) as f64,
            text(&r["rustc"]),
        );
        if let Some(note) = r["note"].as_str() {
            let _ = writeln!(s, "Note: {note}\n");
        }
        let _ = writeln!(
            s,
            "| keys | pairs | wall s | M pairs/s | M input rec/s | M input rec per CPU-s | \
             CPU s | state peak | peak RSS MiB | M pairs/s of each repeat |"
        );
        let _ = writeln!(s, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
        for row in r["rows"].as_array().into_iter().flatten() {
            let each: Vec<String> = row["each_pairs_per_s"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| format!("{:.2}", num(x) / 1e6))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} | {} |",
                text(&row["keys"]),
                text(&row["pairs"]),
                num(&row["wall_s"]),
                num(&row["pairs_per_s"]) / 1e6,
                num(&row["records_per_s"]) / 1e6,
                num(&row["records_per_cpu_s"]) / 1e6,
                num(&row["cpu_s"]),
                num(&row["state_peak"]),
                num(&row["peak_rss_bytes"]) / (1024.0 * 1024.0),
                each.join(", "),
            );
        }
        let _ = writeln!(s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nested loop the closed form replaces.
    fn brute(events: u64, keys: u64, block: u64) -> u64 {
        let mut n = 0;
        for l in 0..events {
            for r in 0..events {
                if l / block == r / block && left_key(l, keys) == right_key(r, keys) {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn expected_pairs_match_the_nested_loop() {
        for (events, keys, block) in [(50, 7, 10), (64, 1, 64), (33, 100, 5), (40, 3, u64::MAX)] {
            assert_eq!(
                expected_pairs(events, keys, block),
                brute(events, keys, block)
            );
        }
    }

    #[test]
    fn small_runs_emit_the_expected_pairs_and_report_state() {
        let a = JoinArgs {
            events: 5_000,
            keys: vec![],
            shards: Some(2),
            repeat: 1,
            batch_size: 64,
            window_ms: 10,
            per_ms: 50,
            join: "inner".into(),
            runs_file: PathBuf::new(),
            out: PathBuf::new(),
            no_record: true,
            note: None,
            render_only: false,
        };
        let (out, state) = run_once(Bench::Window, &a, 2, 100).expect("window join runs");
        assert_eq!(out, expected_pairs(5_000, 100, 500));
        assert!(state >= 500, "a window holds 500 records per side: {state}");
        let (out, state) = run_once(Bench::Regular, &a, 2, 1_000).expect("regular join runs");
        assert_eq!(out, expected_pairs(5_000, 1_000, u64::MAX));
        assert_eq!(state, 10_000, "every row is kept");
    }

    #[test]
    fn the_page_shows_the_latest_run_of_each_join() {
        let rec = |name: &str, pps: f64| {
            json!({"benchmark": name, "command": format!("spate-bench {name}"), "shards": 2,
                   "git_rev": "abc", "git_dirty": false, "profile": "release", "cores": 2,
                   "cpu_model": "CPU", "mem_total_bytes": 1u64 << 30, "rustc": "rustc 1",
                   "date": "2026-01-01", "config": {"events_per_side": 10, "batch_size": 4,
                   "repeat": 1, "window_ms": 10, "per_ms": 5, "join": "inner"},
                   "rows": [{"keys": 7, "pairs": 9, "wall_s": 1.0, "pairs_per_s": pps,
                             "records_per_s": 2e6, "records_per_cpu_s": 4e6, "cpu_s": 1.0, "state_peak": 12.0,
                             "peak_rss_bytes": 1048576.0, "each_pairs_per_s": [pps]}]})
        };
        let page = render(&[
            rec("window-join", 1e6),
            rec("window-join", 3e6),
            rec("regular-join", 2e6),
        ]);
        assert!(page.contains("| 7 | 9 | 1.000 | 3.00 | 2.00 | 4.00 | 1.00 | 12 | 1.0 | 3.00 |"));
        assert!(!page.contains("| 1.00 |\n"), "{page}");
        assert!(page.contains("## regular-join, 2 shards"));
        assert!(page.contains("`cargo run --release -p spate-bench -- window-join`"));
    }
}
