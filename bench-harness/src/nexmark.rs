//! `spate-bench nexmark …`: the Nexmark generator's tools.
//!
//! ```text
//! spate-bench nexmark generate --events N --out DIR [--seed S] [--rate EPS] [--from K]
//! spate-bench nexmark speed    [--events N] [--repeat R] [--seed S]
//! spate-bench nexmark --query qN [--events N] [--shards S] [--repeat R] [--seed S] [--rate EPS]
//! ```
//!
//! `generate` writes `person.csv`, `auction.csv` and `bid.csv` (no header, times in epoch
//! ms, columns in the reference suite's order) so that other systems can run on the same
//! input. `speed` measures the raw generator on one thread: every event, then bids only.
//! `--query` runs a query on the generator (a Spate source on every shard) into a counting
//! sink and prints events/s, total and per shard, and CPU seconds.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context as _};
use clap::{Args, Subcommand};
use spate::prelude::*;
use spate_bench::measure::{cpu_seconds, measure, median};
use spate_bench::meta::Meta;
use spate_workloads::nexmark::queries::{self, Counter, QueryContext};
use spate_workloads::nexmark::{Bid, Event, NexmarkConfig, NexmarkGenerator, NexmarkSource};

/// Flags of `nexmark`.
#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NexmarkArgs {
    #[command(subcommand)]
    command: Option<NexmarkCmd>,
    /// The query to run on the generator: q0, q1, q2.
    #[arg(long)]
    query: Option<String>,
    #[command(flatten)]
    run: QueryArgs,
}

/// Flags of `nexmark --query`.
#[derive(Args, Debug, Clone)]
struct QueryArgs {
    /// Events generated per run, over all shards.
    #[arg(long, default_value_t = 100_000_000)]
    events: u64,
    /// Shards (threads); default: the number of cores.
    #[arg(long)]
    shards: Option<usize>,
    /// Runs to measure; the figures quoted are their median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    #[command(flatten)]
    gen: GenFlags,
}

/// The subcommands of `nexmark`.
#[derive(Subcommand, Debug, Clone)]
enum NexmarkCmd {
    /// Write the generated events as person.csv, auction.csv and bid.csv.
    Generate(GenerateArgs),
    /// Measure the raw generator on one thread (events/s, bids/s).
    Speed(SpeedArgs),
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
        (None, Some(q)) => run_query(q, &a.run),
        (None, None) => bail!("nexmark: name a subcommand (generate, speed) or --query"),
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
    println!(
        "wrote {} events ({} people, {} auctions, {} bids) to {} in {:.2} s",
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

fn run_query(name: &str, a: &QueryArgs) -> anyhow::Result<()> {
    ensure!(a.repeat >= 1, "--repeat must be at least 1");
    let Some(query) = queries::find(name) else {
        let known: Vec<&str> = queries::QUERIES.iter().map(|q| q.name).collect();
        bail!("no query {name:?}; known: {}", known.join(", "));
    };
    let g = a.gen.generator()?;
    let meta = Meta::probe(&super::workspace_root());
    let shards = a.shards.unwrap_or(meta.cores);
    println!(
        "nexmark {} ({}): {} events, {shards} shards | {} cores, {} | {}{}",
        query.name,
        query.about,
        a.events,
        meta.cores,
        meta.cpu_model,
        meta.git_rev,
        if meta.git_dirty { " (dirty)" } else { "" },
    );
    println!("  run    wall s   events M/s   M/s/shard    CPU s   results");
    let (mut eps, mut per, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..a.repeat {
        let counter = Counter::new();
        let (done, s) = measure(|| {
            let env = Env::new().shards(shards);
            let source = NexmarkSource::from_generator(g.clone()).events(Some(a.events));
            (query.build)(
                &env.add_source("nexmark", source),
                &QueryContext::new(counter.clone()),
            );
            env.execute()
        });
        done.with_context(|| format!("{} run {} failed", query.name, i + 1))?;
        eps.push(a.events as f64 / s.wall_s / 1e6);
        per.push(eps[i] / shards as f64);
        cpu.push(s.cpu_s);
        println!(
            "{:>5} {:>9.3} {:>12.2} {:>11.2} {:>8.2} {:>9}",
            i + 1,
            s.wall_s,
            eps[i],
            per[i],
            s.cpu_s,
            counter.total()
        );
    }
    println!(
        "{:>5} {:>9} {:>12.2} {:>11.2} {:>8.2}",
        "median",
        "",
        median(&eps),
        median(&per),
        median(&cpu)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::{Cli, Cmd};

    fn parse(args: &[&str]) -> NexmarkArgs {
        match Cli::try_parse_from(args).expect("parses").command {
            Some(Cmd::Nexmark(a)) => a,
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
        let a = parse(&["spate-bench", "nexmark", "--query", "q9x", "--shards", "2"]);
        assert_eq!((a.query.as_deref(), a.run.shards), (Some("q9x"), Some(2)));
        assert!(run(&a).is_err(), "an unknown query is an error");
        let a = parse(&[
            "spate-bench",
            "nexmark",
            "--query",
            "q2",
            "--events",
            "5000",
        ]);
        let a = NexmarkArgs {
            run: QueryArgs {
                repeat: 1,
                shards: Some(2),
                ..a.run
            },
            ..a
        };
        run(&a).expect("q2 runs");
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
}
