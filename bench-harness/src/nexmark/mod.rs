//! `spate-bench nexmark …`: the Nexmark generator's tools and the query benchmark.
//!
//! ```text
//! spate-bench nexmark generate --events N --out DIR [--seed S] [--rate EPS] [--from K]
//! spate-bench nexmark speed    [--events N] [--repeat R] [--seed S]
//! spate-bench nexmark --query qN [--events N] [--shards S] [--repeat R] [--rate EPS] [--source DIR]
//!                               [--output FILE] [--flamegraph FILE.svg]
//! spate-bench nexmark --all      [same flags]
//! spate-bench nexmark report   [--runs-file results/nexmark.jsonl]
//! spate-bench nexmark --query qN --repeat 1 --checkpoint-dir DIR [--checkpoint-interval-ms MS]
//!                               [--sink-dir DIR] [--savepoint-dir DIR [--savepoint-after-ms MS]]
//!                               [--restore-from DIR] [--incremental-checkpoints N]
//!                               [same flags]
//! spate-bench nexmark fold     --sink-dir DIR [--out FILE]
//! ```
//!
//! With `--checkpoint-dir` a query checkpoints into DIR (every `--checkpoint-interval-ms`,
//! default 1000) and, started again with the same DIR, resumes from its newest complete
//! checkpoint; `--sink-dir` publishes its rows there exactly once (changelog lines for
//! updating queries), and `fold` turns that folder into the table `--output` writes,
//! sorted (see `spate_workloads::nexmark::queries::output`). `--savepoint-dir` also writes
//! the run's final state as a savepoint (kept until deleted, any shard count) or, with
//! `--savepoint-after-ms`, its state that long after the start, and stops the run there; and
//! `--restore-from` starts a run from a savepoint (or checkpoint) folder, also on another
//! `--shards`: the savepoint's sources resume after the events it had read.
//! `--incremental-checkpoints N` turns on incremental snapshots of sliced window state
//! (`Env::incremental_checkpoints`: at most N deltas in a row, then a full snapshot).
//!
//! `generate` writes `person.csv`, `auction.csv` and `bid.csv` (no header, times in epoch
//! ms, columns in the reference suite's order) so that other systems can run on the same
//! input, and q13's `side_input.csv`. `speed` measures the raw generator on one thread.
//! `--query` and `--all` run queries on the generator, or on such files with `--source`,
//! into a counting sink, and print and record their figures ([`run`]); `--output` also
//! writes the result rows as CSV (see `spate_workloads::nexmark::queries::output`); `--all` and
//! `report` rewrite `results/nexmark.md` and `results/nexmark.svg` ([`report`]).

mod profile;
mod report;
mod run;

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context as _};
use clap::{Args, Subcommand};
use spate_bench::measure::{cpu_seconds, median};
use spate_bench::meta::Meta;
use spate_workloads::nexmark::queries::q13;
use spate_workloads::nexmark::{Bid, Event, NexmarkConfig, NexmarkGenerator};

/// Flags of `nexmark`.
#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NexmarkArgs {
    #[command(subcommand)]
    command: Option<NexmarkCmd>,
    /// The query to run: q0 … q22.
    #[arg(long, conflicts_with = "all")]
    query: Option<String>,
    /// Run every query, then rewrite results/nexmark.md and results/nexmark.svg.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    run: run::QueryArgs,
}

/// The subcommands of `nexmark`.
#[derive(Subcommand, Debug, Clone)]
enum NexmarkCmd {
    /// Write the generated events as person.csv, auction.csv and bid.csv.
    Generate(GenerateArgs),
    /// Measure the raw generator on one thread (events/s, bids/s).
    Speed(SpeedArgs),
    /// Rewrite results/nexmark.md and results/nexmark.svg from the recorded runs.
    Report(report::ReportArgs),
    /// Fold what a run with --sink-dir published into the table --output writes (sorted).
    Fold(FoldArgs),
}

/// Flags of `nexmark fold`.
#[derive(Args, Debug, Clone)]
struct FoldArgs {
    /// The folder a run with `--sink-dir` published into.
    #[arg(long)]
    sink_dir: PathBuf,
    /// Write the rows here (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes the folded table of `a.sink_dir` (see `queries::output::fold`).
fn fold(a: &FoldArgs) -> anyhow::Result<()> {
    let rows = spate_workloads::nexmark::queries::output::fold(&a.sink_dir)
        .with_context(|| format!("cannot fold {}", a.sink_dir.display()))?;
    let mut text = String::with_capacity(rows.iter().map(|r| r.len() + 1).sum());
    for r in &rows {
        text.push_str(r);
        text.push('\n');
    }
    match &a.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("cannot write to standard output")?,
    }
    Ok(())
}

/// What to generate: shared by the subcommands.
#[derive(Args, Debug, Clone)]
struct GenFlags {
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Events per second of event time.
    #[arg(long, default_value_t = NexmarkConfig::default().event_rate)]
    rate: u64,
}

impl GenFlags {
    fn generator(&self) -> anyhow::Result<NexmarkGenerator> {
        let cfg = NexmarkConfig {
            seed: self.seed,
            event_rate: self.rate,
            ..NexmarkConfig::default()
        };
        Ok(NexmarkGenerator::new(cfg)?)
    }
}

/// Flags of `nexmark generate`.
#[derive(Args, Debug, Clone)]
struct GenerateArgs {
    /// Events to write (of all three kinds together).
    #[arg(long)]
    events: u64,
    /// The folder to write the three files in (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// The first event number (to write a later part of a run).
    #[arg(long, default_value_t = 0)]
    from: u64,
    #[command(flatten)]
    gen: GenFlags,
}

/// Flags of `nexmark speed`.
#[derive(Args, Debug, Clone)]
struct SpeedArgs {
    /// Event numbers per run.
    #[arg(long, default_value_t = 100_000_000)]
    events: u64,
    /// Runs to measure; the figures quoted are their median.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    #[command(flatten)]
    gen: GenFlags,
}

/// Runs `nexmark`.
pub fn run(a: &NexmarkArgs) -> anyhow::Result<()> {
    match (&a.command, &a.query) {
        (Some(NexmarkCmd::Generate(g)), _) => generate(g),
        (Some(NexmarkCmd::Speed(s)), _) => speed(s),
        (Some(NexmarkCmd::Report(r)), _) => report::run(r),
        (Some(NexmarkCmd::Fold(f)), _) => fold(f),
        (None, Some(q)) => run::one(q, &a.run),
        (None, None) if a.all => run::all(&a.run),
        (None, None) => {
            bail!("nexmark: name a subcommand (generate, speed, report, fold), --query or --all")
        }
    }
}

/// Bytes buffered per file before a write.
const FLUSH_AT: usize = 1 << 20;

/// One output file and its line buffer.
struct CsvFile {
    path: PathBuf,
    file: BufWriter<File>,
    buf: String,
    rows: u64,
}

impl CsvFile {
    fn create(dir: &Path, name: &str) -> anyhow::Result<Self> {
        let path = dir.join(name);
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(CsvFile {
            path,
            file: BufWriter::new(file),
            buf: String::with_capacity(FLUSH_AT + 4096),
            rows: 0,
        })
    }

    fn flush_if(&mut self, at: usize) -> anyhow::Result<()> {
        if self.buf.len() >= at {
            self.file
                .write_all(self.buf.as_bytes())
                .with_context(|| format!("cannot write {}", self.path.display()))?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<u64> {
        self.flush_if(0)?;
        self.file
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(self.rows)
    }
}

fn generate(a: &GenerateArgs) -> anyhow::Result<()> {
    let g = a.gen.generator()?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut files = [
        CsvFile::create(&a.out, "person.csv")?,
        CsvFile::create(&a.out, "auction.csv")?,
        CsvFile::create(&a.out, "bid.csv")?,
    ];
    let t0 = Instant::now();
    let end = a
        .from
        .checked_add(a.events)
        .context("--from + --events overflows")?;
    for e in g.events(a.from..end) {
        let f = &mut files[e.kind() as usize];
        e.write_csv(&mut f.buf);
        f.rows += 1;
        f.flush_if(FLUSH_AT)?;
    }
    let [p, au, b] = files;
    let rows = [p.finish()?, au.finish()?, b.finish()?];
    let side = a.out.join("side_input.csv");
    q13::write_side_input(&side, q13::KEYS)
        .with_context(|| format!("cannot write {}", side.display()))?;
    println!(
        "wrote {} events ({} people, {} auctions, {} bids) and side_input.csv to {} in {:.2} s",
        a.events,
        rows[0],
        rows[1],
        rows[2],
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Records a batch holds, as in a Spate source's poll.
const BATCH: usize = 1024;

/// Makes the iterator's records in batches, as a source would; returns the records, the
/// wall seconds and the CPU seconds (of the process: this is its only busy thread). On a
/// shared machine the CPU figure is the steadier one: it leaves out time the thread spent
/// descheduled.
fn timed<T, I: Iterator<Item = T>>(mut it: I) -> (u64, f64, f64) {
    let mut batch: Vec<T> = Vec::with_capacity(BATCH);
    let mut n = 0u64;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    loop {
        batch.clear();
        batch.extend(it.by_ref().take(BATCH));
        if batch.is_empty() {
            break;
        }
        n += batch.len() as u64;
        black_box(&mut batch);
    }
    (n, t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0)
}

fn speed(a: &SpeedArgs) -> anyhow::Result<()> {
    ensure!(a.repeat >= 1, "--repeat must be at least 1");
    let g = a.gen.generator()?;
    let meta = Meta::probe(&super::workspace_root());
    println!(
        "nexmark generator, one thread: {} event numbers per run | {} | {}{} | {}",
        a.events,
        meta.cpu_model,
        meta.git_rev,
        if meta.git_dirty { " (dirty)" } else { "" },
        meta.rustc,
    );
    println!(
        "{:>33} {:>18}",
        "all events, M/s (bids in them)", "bids only, M/s"
    );
    println!(
        "{:>6} {:>6} {:>6} {:>12} {:>11} {:>6}",
        "run", "wall", "CPU", "bids, CPU", "wall", "CPU"
    );
    let bids_in = g.bids(0..a.events).count() as f64;
    let mut rows: Vec<[f64; 5]> = Vec::with_capacity(a.repeat);
    for i in 0..a.repeat {
        let (n, wall, cpu) = timed::<Event, _>(g.events(0..a.events));
        ensure!(n == a.events, "made {n} events, expected {}", a.events);
        let (nb, wall_b, cpu_b) = timed::<Bid, _>(g.bids(0..a.events));
        ensure!(nb as f64 == bids_in, "made {nb} bids, expected {bids_in}");
        let n = n as f64;
        rows.push(
            [
                n / wall,
                n / cpu,
                bids_in / cpu,
                bids_in / wall_b,
                bids_in / cpu_b,
            ]
            .map(|x| x / 1e6),
        );
        print_speed_row(&(i + 1).to_string(), &rows[i]);
    }
    let med: Vec<f64> = (0..5)
        .map(|k| median(&rows.iter().map(|r| r[k]).collect::<Vec<_>>()))
        .collect();
    print_speed_row("median", &med);
    Ok(())
}

fn print_speed_row(label: &str, r: &[f64]) {
    println!(
        "{label:>6} {:>6.2} {:>6.2} {:>12.2} {:>11.2} {:>6.2}",
        r[0], r[1], r[2], r[3], r[4]
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::{Cli, Cmd};

    fn parse(args: &[&str]) -> NexmarkArgs {
        match Cli::try_parse_from(args).expect("parses").command {
            Some(Cmd::Nexmark(a)) => *a,
            other => panic!("not a nexmark command: {other:?}"),
        }
    }

    #[test]
    fn nexmark_subcommands_parse() {
        let a = parse(&[
            "spate-bench",
            "nexmark",
            "generate",
            "--events",
            "5",
            "--out",
            "d",
        ]);
        assert!(
            matches!(a.command, Some(NexmarkCmd::Generate(ref g)) if g.events == 5 && g.gen.rate == 100_000)
        );
        let a = parse(&[
            "spate-bench",
            "nexmark",
            "speed",
            "--repeat",
            "2",
            "--seed",
            "9",
        ]);
        assert!(
            matches!(a.command, Some(NexmarkCmd::Speed(ref s)) if s.repeat == 2 && s.gen.seed == 9)
        );
        let a = parse(&["spate-bench", "nexmark", "--query", "q99", "--shards", "2"]);
        assert_eq!((a.query.as_deref(), a.run.shards), (Some("q99"), Some(2)));
        assert!(run(&a).is_err(), "an unknown query is an error");
        let a = parse(&["spate-bench", "nexmark", "--all", "--repeat", "2"]);
        assert!(a.all && a.query.is_none() && a.run.repeat == 2);
        assert!(Cli::try_parse_from(["spate-bench", "nexmark", "--all", "--query", "q1"]).is_err());
        let a = parse(&["spate-bench", "nexmark", "report"]);
        assert!(matches!(a.command, Some(NexmarkCmd::Report(_))));
    }

    #[test]
    fn checkpoint_flags_are_checked() {
        let err = |args: &[&str]| {
            let mut all = vec!["spate-bench", "nexmark", "--query", "q2", "--no-record"];
            all.extend_from_slice(args);
            format!("{:#}", run(&parse(&all)).expect_err("refused"))
        };
        assert!(err(&["--sink-dir", "s"]).contains("--sink-dir needs --checkpoint-dir"));
        assert!(err(&["--checkpoint-interval-ms", "5"]).contains("needs --checkpoint-dir"));
        assert!(err(&["--incremental-checkpoints", "4"]).contains("needs --checkpoint-dir"));
        assert!(err(&["--checkpoint-dir", "c"]).contains("--repeat 1"));
        let e = err(&["--checkpoint-dir", "c", "--repeat", "1", "--source", "x"]);
        assert!(e.contains("--source"), "{e}");
        let e = err(&["--checkpoint-dir", "c", "--repeat", "1", "--sink-dir", "c"]);
        assert!(e.contains("different folders"), "{e}");
        let e = err(&[
            "--checkpoint-dir",
            "c",
            "--repeat",
            "1",
            "--checkpoint-interval-ms",
            "0",
        ]);
        assert!(e.contains("at least 1"), "{e}");
        let e = err(&["--savepoint-dir", "sp"]);
        assert!(e.contains("need --checkpoint-dir"), "{e}");
        let e = err(&[
            "--checkpoint-dir",
            "c",
            "--repeat",
            "1",
            "--savepoint-after-ms",
            "5",
        ]);
        assert!(
            e.contains("--savepoint-after-ms needs --savepoint-dir"),
            "{e}"
        );
        let nothing = std::env::temp_dir().join("spate-no-savepoint-here");
        let nothing = nothing.to_str().expect("UTF-8");
        let e = err(&[
            "--checkpoint-dir",
            "c",
            "--repeat",
            "1",
            "--restore-from",
            nothing,
        ]);
        assert!(e.contains("no savepoint or checkpoint"), "{e}");
        assert!(
            Cli::try_parse_from(["spate-bench", "nexmark", "--all", "--checkpoint-dir", "c"])
                .is_err()
        );
    }

    #[test]
    fn a_run_with_checkpoints_publishes_what_output_writes_and_resumes_finished() {
        let dir = std::env::temp_dir().join(format!("spate-nexmark-chk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("created");
        let path = |name: &str| dir.join(name).to_str().expect("UTF-8").to_string();
        let (chk, sink, out, folded) = (path("chk"), path("sink"), path("out.csv"), path("f"));
        for query in ["q2", "q18", "q10"] {
            let args = [
                "spate-bench",
                "nexmark",
                "--query",
                query,
                "--events",
                "20000",
                "--shards",
                "2",
                "--repeat",
                "1",
                "--no-record",
                "--checkpoint-dir",
                &chk,
                "--checkpoint-interval-ms",
                "5",
                "--sink-dir",
                &sink,
            ];
            let mut first = args.to_vec();
            first.extend(["--output", &out]);
            run(&parse(&first)).expect("runs with checkpoints");
            assert!(dir.join("chk").read_dir().expect("written").count() > 0);
            // Started again: the finished checkpoint is restored, nothing is replayed
            // (and nothing published again).
            run(&parse(&args)).expect("resumes");
            run(&parse(&[
                "spate-bench",
                "nexmark",
                "fold",
                "--sink-dir",
                &sink,
                "--out",
                &folded,
            ]))
            .expect("folds");
            let mut want: Vec<String> = std::fs::read_to_string(&out)
                .expect("written")
                .lines()
                .map(String::from)
                .collect();
            want.sort();
            let got: Vec<String> = std::fs::read_to_string(&folded)
                .expect("written")
                .lines()
                .map(String::from)
                .collect();
            assert!(!want.is_empty(), "{query}");
            assert!(
                got == want,
                "{query}: {} rows folded, {} written",
                got.len(),
                want.len()
            );
            for d in [&chk, &sink] {
                std::fs::remove_dir_all(d).expect("removed");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A test's scratch folder (emptied first, removed after).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("spate-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("created");
            Scratch(dir)
        }

        /// `name` in the folder, as text for a command line.
        fn path(&self, name: &str) -> String {
            self.0.join(name).to_str().expect("UTF-8").to_string()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs `query` on the generator once, unrecorded, with `more` flags.
    fn run_query(query: &str, events: &str, shards: &str, more: &[&str]) {
        let mut args = vec![
            "spate-bench",
            "nexmark",
            "--query",
            query,
            "--events",
            events,
            "--shards",
            shards,
            "--repeat",
            "1",
            "--no-record",
        ];
        args.extend_from_slice(more);
        run(&parse(&args)).expect("runs");
    }

    /// The lines of `file`, sorted.
    fn sorted_lines(file: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_to_string(file)
            .expect("written")
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    }

    /// The table the exactly-once sink published into `sink`, folded (sorted).
    fn folded(sink: &str) -> Vec<String> {
        let out = format!("{sink}.csv");
        run(&parse(&[
            "spate-bench",
            "nexmark",
            "fold",
            "--sink-dir",
            sink,
            "--out",
            &out,
        ]))
        .expect("folds");
        sorted_lines(&out)
    }

    /// Whether `a` and `b` together are `want` (as multisets).
    fn together_equal(a: Vec<String>, b: Vec<String>, want: &[String]) -> bool {
        let mut both = [a, b].concat();
        both.sort();
        both == want
    }

    /// Stop-with-savepoint from the command line: q5's run on 2 shards (with incremental
    /// snapshots) is stopped by a savepoint taken in its middle (open windows and pending
    /// timers in it, full snapshots), and a run on
    /// 3 shards goes on from it; the rows the two runs published are those of one
    /// uninterrupted run.
    #[test]
    fn stop_with_savepoint_in_the_middle_of_a_windowed_query() {
        let t = Scratch::new("nexmark-stop");
        let q5 = |shards: &str, more: &[&str]| {
            let mut flags = vec!["--checkpoint-interval-ms", "50"];
            flags.extend_from_slice(more);
            run_query("q5", "2000000", shards, &flags);
        };
        let (c0, s0) = (t.path("c0"), t.path("s0"));
        q5("2", &["--checkpoint-dir", &c0, "--sink-dir", &s0]);
        let want = folded(&s0);
        let (c1, s1, c2, s2, sp) = (
            t.path("c1"),
            t.path("s1"),
            t.path("c2"),
            t.path("s2"),
            t.path("sp"),
        );
        q5(
            "2",
            &[
                "--checkpoint-dir",
                &c1,
                "--sink-dir",
                &s1,
                "--savepoint-dir",
                &sp,
                "--savepoint-after-ms",
                "300",
                "--incremental-checkpoints",
                "2",
            ],
        );
        assert!(
            t.0.join("sp/_manifest").is_file(),
            "the savepoint is written"
        );
        // Incremental snapshots in the run, but a savepoint is self-contained: full
        // snapshots, no chain of earlier files.
        let chained = std::fs::read_dir(t.0.join("sp"))
            .expect("the savepoint folder")
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("chain-"));
        assert!(!chained, "the savepoint links no chain");
        q5(
            "3",
            &[
                "--checkpoint-dir",
                &c2,
                "--sink-dir",
                &s2,
                "--restore-from",
                &sp,
            ],
        );
        let (first, second) = (folded(&s1), folded(&s2));
        assert!(
            !second.is_empty(),
            "the first run was stopped in its middle ({} rows of {})",
            first.len(),
            want.len()
        );
        assert!(together_equal(first, second, &want), "the two runs are one");
    }

    /// A savepoint written from the command line by a run on 2 shards, restored by a
    /// longer run on 3 shards: q3's state (people and waiting auctions, never expired) and
    /// the generator's offsets come back, and the two runs' rows together are the rows of
    /// one uninterrupted run (a lost offset repeats or skips rows; lost state loses the
    /// second run's matches with people of the first).
    #[test]
    fn a_savepoint_from_the_command_line_restores_on_another_shard_count() {
        let t = Scratch::new("nexmark-sp");
        let (want, sp) = (t.path("want.csv"), t.path("sp"));
        run_query("q3", "60000", "2", &["--output", &want]);
        let (c1, s1, c2, s2) = (t.path("c1"), t.path("s1"), t.path("c2"), t.path("s2"));
        let first = [
            "--checkpoint-dir",
            &c1,
            "--sink-dir",
            &s1,
            "--savepoint-dir",
            &sp,
        ];
        run_query("q3", "30000", "2", &first);
        assert!(
            t.0.join("sp/_manifest").is_file(),
            "the savepoint is written"
        );
        let second = [
            "--checkpoint-dir",
            &c2,
            "--sink-dir",
            &s2,
            "--restore-from",
            &sp,
        ];
        run_query("q3", "60000", "3", &second);
        let (first, second) = (folded(&s1), folded(&s2));
        assert!(!first.is_empty() && !second.is_empty(), "rows in both runs");
        assert!(
            together_equal(first, second, &sorted_lines(&want)),
            "the two runs are one"
        );
    }

    #[test]
    fn generate_writes_three_headerless_csv_files() {
        let out = std::env::temp_dir().join(format!("spate-nexmark-csv-{}", std::process::id()));
        let a = parse(&[
            "spate-bench",
            "nexmark",
            "generate",
            "--events",
            "5000",
            "--out",
            out.to_str().expect("a UTF-8 temp dir"),
        ]);
        run(&a).expect("generates");
        for (file, rows, cols) in [
            ("person.csv", 100, 8),
            ("auction.csv", 300, 10),
            ("bid.csv", 4600, 7),
            ("side_input.csv", 10_000, 2),
        ] {
            let text = std::fs::read_to_string(out.join(file)).expect("written");
            assert_eq!(text.lines().count(), rows, "{file}");
            assert!(text.lines().all(|l| l.split(',').count() == cols), "{file}");
            // No header: the first field of the first line is a number.
            let first = text.split(',').next().unwrap_or_default();
            assert!(first.parse::<u64>().is_ok(), "{file}: {first}");
        }
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn output_writes_the_result_rows_of_a_run_on_generated_files() {
        let dir = std::env::temp_dir().join(format!("spate-nexmark-out-{}", std::process::id()));
        let d = dir.to_str().expect("a UTF-8 temp dir");
        run(&parse(&[
            "spate-bench",
            "nexmark",
            "generate",
            "--events",
            "3000",
            "--out",
            d,
        ]))
        .expect("generates");
        let out = dir.join("q0.csv");
        let o = out.to_str().expect("UTF-8");
        let a = parse(&[
            "spate-bench",
            "nexmark",
            "--query",
            "q0",
            "--source",
            d,
            "--shards",
            "2",
            "--repeat",
            "1",
            "--no-record",
            "--output",
            o,
        ]);
        run(&a).expect("runs");
        // q0 on the files: every bid, columns auction, bidder, price, dateTime, extra.
        let bids = std::fs::read_to_string(dir.join("bid.csv")).expect("written");
        let mut want: Vec<String> = bids
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                [f[0], f[1], f[2], f[5], f[6]].join(",")
            })
            .collect();
        let mut got: Vec<String> = std::fs::read_to_string(&out)
            .expect("written")
            .lines()
            .map(str::to_string)
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got.len(), 2760);
        assert!(got == want, "q0's rows are the bids' columns");
        // q10 keeps its partitioned files in the --output folder.
        let q10 = dir.join("q10");
        let q = q10.to_str().expect("UTF-8");
        let a = parse(&[
            "spate-bench",
            "nexmark",
            "--query",
            "q10",
            "--events",
            "3000",
            "--repeat",
            "1",
            "--no-record",
            "--output",
            q,
        ]);
        run(&a).expect("runs");
        assert!(q10.join("dt=2015-07-15").join("hm=00:00").is_dir());
        assert!(Cli::try_parse_from(["spate-bench", "nexmark", "--all", "--output", o]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
