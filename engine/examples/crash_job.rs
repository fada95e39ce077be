//! The job of the crash test (`scripts/crash-test.sh`, `tests/checkpoint_crash.rs`): a
//! stateful keyed job with event-time timers, a replayable generator and the exactly-once
//! file sink, checkpointing every 200 ms. Killed with SIGKILL at random moments and started
//! again with the same directories until it finishes, its published output must equal a
//! failure-free run's.
//!
//! ```text
//! cargo run --example crash_job -- --checkpoint-dir /tmp/c --out /tmp/o [--records N]
//!     [--shards S] [--interval-ms MS] [--slow-every K]
//! ```
//! Prints `done` when the job has finished. Without `--checkpoint-dir` it runs without
//! checkpoints (the reference run).

use std::path::{Path, PathBuf};
use std::time::Duration;

use spate::prelude::*;
use spate::state::ValueState;

/// Counts records per key and registers an event-time timer at the end of the record's
/// 100 ms bucket, which reports the key and the bucket: the published lines are the same
/// whatever the order in which the shards' records interleave.
#[derive(Clone, Default)]
pub struct CountWithTimers {
    count: ValueState<u64, u64>,
}

impl KeyedProcessFunction<u64, (u64, i64), String> for CountWithTimers {
    fn process_element(
        &mut self,
        (_, ts): (u64, i64),
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        let n = self.count.value_or_insert_with(ctx, || 0);
        *n += 1;
        let n = *n;
        ctx.register_event_time_timer(ts - ts % 100 + 99);
        ctx.collect(format!("rec {} {n}", ctx.current_key()));
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        ctx.collect(format!("timer {} {ts}", ctx.current_key()));
        Ok(())
    }

    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.count);
    }
}

/// The job's settings.
#[derive(Debug, Clone)]
pub struct Job {
    /// Checkpoint directory (none: no checkpoints).
    pub checkpoint_dir: Option<PathBuf>,
    /// Output directory of the exactly-once sink.
    pub out: PathBuf,
    /// Records generated.
    pub records: u64,
    /// Shards.
    pub shards: usize,
    /// Checkpoint interval.
    pub interval_ms: u64,
    /// The generator sleeps 1 ms every this many records (so that the job runs a while).
    pub slow_every: u64,
}

/// Builds and runs the job to completion.
pub fn run(job: &Job) -> Result<(), SpateError> {
    let mut env = Env::new().shards(job.shards).batch_size(64);
    if let Some(d) = &job.checkpoint_dir {
        env = env.checkpointing(d, Duration::from_millis(job.interval_ms));
    }
    let slow = job.slow_every.max(1);
    env.generate(Some(job.records), move |seq| {
        if seq % slow == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        (seq, seq as i64)
    })
    .assign_timestamps_and_watermarks(
        WatermarkStrategy::for_bounded_out_of_orderness(10)
            .with_timestamp_assigner(|r: &(u64, i64)| r.1),
    )
    .key_by(|r: &(u64, i64)| r.0 % 13)
    .process(CountWithTimers::default())
    .write_lines_exactly_once(&job.out);
    env.execute().map(|_| ())
}

/// Every published line of `out`, sorted.
pub fn published(out: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_dir(out)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .flat_map(|p| {
                    std::fs::read_to_string(p)
                        .unwrap_or_default()
                        .lines()
                        .map(String::from)
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap_or_default();
    lines.sort();
    lines
}

fn parse_args() -> Result<Job, String> {
    let mut job = Job {
        checkpoint_dir: None,
        out: PathBuf::new(),
        records: 200_000,
        shards: 2,
        interval_ms: 200,
        slow_every: 100,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--checkpoint-dir" => job.checkpoint_dir = Some(val()?.into()),
            "--out" => job.out = val()?.into(),
            "--records" => job.records = val()?.parse().map_err(|e| format!("{e}"))?,
            "--shards" => job.shards = val()?.parse().map_err(|e| format!("{e}"))?,
            "--interval-ms" => job.interval_ms = val()?.parse().map_err(|e| format!("{e}"))?,
            "--slow-every" => job.slow_every = val()?.parse().map_err(|e| format!("{e}"))?,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if job.out.as_os_str().is_empty() {
        return Err("--out is required".into());
    }
    Ok(job)
}

#[allow(dead_code)] // also compiled into tests/checkpoint_crash.rs, which has its own main
fn main() {
    let job = match parse_args() {
        Ok(j) => j,
        Err(e) => {
            eprintln!("crash_job: {e}");
            std::process::exit(2);
        }
    };
    match run(&job) {
        Ok(()) => println!("done"),
        Err(e) => {
            eprintln!("crash_job failed: {e}");
            std::process::exit(1);
        }
    }
}
