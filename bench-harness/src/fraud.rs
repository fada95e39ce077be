//! `spate-bench fraud`: event→alert latency of the embedded fraud job at a fixed rate.
//!
//! The caller's thread pushes generated transactions ([`TransactionGenerator`], about one
//! in a hundred completes a planted pattern) into an embedded job (`Env::start`, low-latency
//! mode) on a fixed schedule: transaction `i` is due at `start + i / rate`. Each alert's
//! latency is measured from the *scheduled* send time of the transaction that raised it to
//! the moment the alert reaches the callback, so a pusher that falls behind (back-pressure)
//! shows up as latency (no coordinated omission). Percentiles come from an HdrHistogram.
//!
//! `--rate` takes a list (`--rate 100000,500000,1000000`): each rate is one run, and the
//! last line names the highest rate *sustained*: the pusher kept to the schedule (it
//! finished within 1% of the planned time and was never more than 10 ms behind), i.e. the
//! job took the input as fast as it was offered. `--dynamic` adds the dynamic rules
//! ([`demo_rules`], broadcast state) next to the classic rule.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{ensure, Context as _};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::json;
use spate::prelude::*;
use spate_bench::meta::Meta;
use spate_workloads::fraud::rules::RuleUpdate;
use spate_workloads::fraud::{
    demo_rules, dynamic_job_stamped, SmallThenLarge, Transaction, TransactionGenerator,
};

/// The pusher may fall this far behind schedule and still count as keeping up, ns.
const SUSTAINED_MAX_BEHIND_NS: u64 = 10_000_000;

/// Flags of the fraud latency benchmark.
#[derive(Args, Debug, Clone)]
pub struct FraudArgs {
    /// Transactions pushed per second; a comma-separated list runs each rate in turn.
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    rate: Vec<u64>,
    /// Seconds to push for.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Shards of the job.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Ordinary accounts.
    #[arg(long, default_value_t = 100_000)]
    accounts: u64,
    /// Capacity of the input channel.
    #[arg(long, default_value_t = 65_536)]
    input_capacity: usize,
    /// The JSON-lines file the run is appended to.
    #[arg(long, default_value_os_t = crate::default_runs_file())]
    runs_file: PathBuf,
    /// Also run the dynamic rules (the generator's demo rules, broadcast to every shard).
    #[arg(long)]
    dynamic: bool,
    /// Measure and print, but record nothing.
    #[arg(long)]
    no_record: bool,
}

/// What one run at one rate measured.
struct Measured {
    rate: u64,
    achieved: f64,
    max_behind_ns: u64,
    hist: Histogram<u64>,
}

impl Measured {
    fn sustained(&self) -> bool {
        self.achieved >= 0.99 * self.rate as f64 && self.max_behind_ns <= SUSTAINED_MAX_BEHIND_NS
    }
}

/// Runs the benchmark at every rate asked for, prints (and records) each, and names the
/// highest rate sustained.
pub fn run(a: &FraudArgs) -> anyhow::Result<()> {
    ensure!(!a.rate.is_empty(), "--rate needs at least one rate");
    let mut best: Option<u64> = None;
    for &rate in &a.rate {
        let m = run_at(a, rate)?;
        report(a, &m)?;
        if m.sustained() {
            best = best.max(Some(rate));
        }
    }
    match best {
        Some(r) => println!("highest rate sustained: {r} /s"),
        None => println!("highest rate sustained: none of the rates tried"),
    }
    Ok(())
}

/// One run at `rate`.
fn run_at(a: &FraudArgs, rate: u64) -> anyhow::Result<Measured> {
    ensure!(
        rate > 0 && a.duration > 0,
        "--rate and --duration must be positive"
    );
    let n = rate.saturating_mul(a.duration);
    // Transaction ids are dense from 1; planted cases add a few beyond n.
    let slots = (n + n / 10 + 1024) as usize;
    let scheduled: Arc<Vec<AtomicU64>> = Arc::new((0..slots).map(|_| AtomicU64::new(0)).collect());
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).context("histogram bounds")?,
    ));
    let env = Env::new().shards(a.shards).low_latency(true);
    let (input, txns) = env.channel_source::<Transaction>(a.input_capacity);
    let origin = Instant::now();
    let (sched, h) = (scheduled.clone(), hist.clone());
    let record = move |txn: u64| {
        let now = origin.elapsed().as_nanos() as u64;
        let due = sched
            .get(txn as usize)
            .map_or(now, |s| s.load(Ordering::Acquire));
        if let Ok(mut h) = h.lock() {
            let _ = h.record(now.saturating_sub(due).max(1));
        }
    };
    let rec = record.clone();
    txns.key_by(|t: &Transaction| t.account)
        .process(SmallThenLarge::default())
        .for_each(move |alert| rec(alert.transaction));
    let rules_in = if a.dynamic {
        let (rules_in, rules) = env.channel_source::<RuleUpdate>(64);
        let stamped = txns.assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|t: &Transaction| t.ts),
        );
        dynamic_job_stamped(&stamped, &rules).for_each(move |alert| record(alert.transaction));
        Some(rules_in)
    } else {
        None
    };
    let job = env.start()?;
    if let Some(rules_in) = &rules_in {
        for r in demo_rules() {
            rules_in.push(RuleUpdate::Upsert(r))?;
        }
        job.flush()?;
    }
    let mut gen = TransactionGenerator::new(1, a.accounts);
    let period_ns = 1e9 / rate as f64;
    let start_ns = origin.elapsed().as_nanos() as u64 + 1_000_000;
    let mut max_behind_ns = 0u64;
    for i in 0..n {
        let due = start_ns + (i as f64 * period_ns) as u64;
        let mut now = origin.elapsed().as_nanos() as u64;
        while now < due {
            std::hint::spin_loop();
            now = origin.elapsed().as_nanos() as u64;
        }
        max_behind_ns = max_behind_ns.max(now - due);
        let Some(t) = gen.next() else { break };
        if let Some(s) = scheduled.get(t.id as usize) {
            s.store(due, Ordering::Release);
        }
        input.push(t)?;
    }
    let pushed_s = (origin.elapsed().as_nanos() as u64 - start_ns) as f64 / 1e9;
    job.flush()?;
    job.shutdown()?;
    drop(rules_in);
    let hist = hist
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock poisoned"))?
        .clone();
    Ok(Measured {
        rate,
        achieved: n as f64 / pushed_s,
        max_behind_ns,
        hist,
    })
}

/// Prints one run and appends its JSON record.
fn report(a: &FraudArgs, m: &Measured) -> anyhow::Result<()> {
    let h = &m.hist;
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
    let (achieved, max_behind_ns) = (m.achieved, m.max_behind_ns);
    println!(
        "fraud: rate {} /s for {} s, {} shard(s){}: pushed {:.0} /s, {} alerts, {}",
        m.rate,
        a.duration,
        a.shards,
        if a.dynamic {
            ", classic + dynamic rules"
        } else {
            ""
        },
        achieved,
        h.len(),
        if m.sustained() {
            "sustained"
        } else {
            "NOT sustained"
        }
    );
    println!(
        "event→alert latency µs: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  (pusher at most {:.1} µs behind schedule)",
        us(0.5),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1e3,
        max_behind_ns as f64 / 1e3
    );
    if a.no_record {
        return Ok(());
    }
    let meta = Meta::probe(&crate::workspace_root());
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    args.insert(0, "spate-bench".into());
    let record = json!({
        "benchmark": "fraud-latency",
        "command": args.join(" "),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "git_rev": meta.git_rev,
        "git_dirty": meta.git_dirty,
        "shards": a.shards,
        "cores": meta.cores,
        "cpu_model": meta.cpu_model,
        "rustc": meta.rustc,
        "date": meta.date,
        "config": {"rate": m.rate, "duration_s": a.duration, "accounts": a.accounts,
                   "input_capacity": a.input_capacity, "dynamic_rules": a.dynamic},
        "pushed_per_s": achieved,
        "sustained": m.sustained(),
        "alerts": h.len(),
        "latency_us": {"p50": us(0.5), "p99": us(0.99), "p999": us(0.999),
                        "max": h.max() as f64 / 1e3},
        "pusher_max_behind_us": max_behind_ns as f64 / 1e3,
    });
    crate::append_line(&a.runs_file, &record.to_string())?;
    println!("recorded in {}", a.runs_file.display());
    Ok(())
}
