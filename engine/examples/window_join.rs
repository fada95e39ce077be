//! The classic tumbling window join of two CSV files.
//!
//! Inputs: CSV lines `key,timestamp_ms,value` (value an `i64`) in `--left` and `--right`.
//! Output: one CSV line per joined pair, `key,window_start,window_end,left_value,right_value`:
//! every left and right record with the same key in the same tumbling window of
//! `--window-size` ms (Flink's `join(..).where(..).equalTo(..).window(..)`, an inner join).
//! Records too late for their window (the watermark already passed its end) are written to
//! `--late-output` as `left,LINE` or `right,LINE`, or reported on standard error — never
//! dropped unseen. Malformed lines are reported with their file and line number and
//! skipped, or fail the run with `--strict`.
//!
//! ```text
//! cargo run --release --example window_join -- --left orders.csv --right payments.csv \
//!     --window-size 60000 --out-of-orderness 5000 --output pairs.csv
//! ```
//!
//! Each input ends with a watermark of +∞, so every window fires at the end of the files.
//! Watermarks follow Flink's bounded out-of-orderness strategy (`max timestamp − d − 1`) per
//! file split, emitted every 200 ms or, with `--punctuated`, after every record; the join
//! sees the minimum over both inputs' splits. As in Flink, which records are late depends on
//! how far each input has been read when the other's watermark advances: with
//! `--out-of-orderness` at least the spread of the timestamps, nothing is late and the
//! output is exactly the definition's. The same job in Flink (DataStream API):
//! `left.join(right).where(e -> e.key).equalTo(e -> e.key)
//! .window(TumblingEventTimeWindows.of(size)).apply(...)`, with
//! `WatermarkStrategy.forBoundedOutOfOrderness(d)` on both file sources.

mod common;

use std::path::PathBuf;

use anyhow::ensure;
use clap::Parser;
use spate::join::Either;
use spate::prelude::*;
use spate::window::{TimeWindow, TumblingWindows, WindowContext};

use common::Event;

/// Command-line arguments.
#[derive(Parser, Debug, Clone)]
#[command(about = "A tumbling-window inner join of two CSV files of key,timestamp_ms,value")]
struct Args {
    /// Left CSV input: `key,timestamp_ms,value` per line.
    #[arg(long)]
    left: PathBuf,
    /// Right CSV input: `key,timestamp_ms,value` per line.
    #[arg(long)]
    right: PathBuf,
    /// Tumbling window size, in ms.
    #[arg(long)]
    window_size: i64,
    /// Bounded out-of-orderness of the watermarks, in ms.
    #[arg(long, default_value_t = 0)]
    out_of_orderness: i64,
    /// Emit a watermark after every record instead of periodically.
    #[arg(long)]
    punctuated: bool,
    /// Number of shards (default: one per core).
    #[arg(long)]
    shards: Option<usize>,
    /// Where to write the joined pairs.
    #[arg(long)]
    output: PathBuf,
    /// Where to write late records (`left,LINE` / `right,LINE`); standard error when absent.
    #[arg(long)]
    late_output: Option<PathBuf>,
    /// Fail on the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,
}

/// `key,window_start,window_end,left_value,right_value`.
type Pair = (String, i64, i64, i64, i64);

fn events(env: &Env, path: &std::path::Path, args: &Args) -> DataStream<Event> {
    common::read_timed(
        env,
        path,
        args.strict,
        common::parse_event,
        args.out_of_orderness,
        args.punctuated,
        |e: &Event| e.ts,
    )
}

/// Builds the job; returns the pairs and the late records.
fn build(env: &Env, args: &Args) -> (DataStream<Pair>, DataStream<Either<Event, Event>>) {
    let late = OutputTag::<Either<Event, Event>>::new("late");
    let pairs = events(env, &args.left, args)
        .join(&events(env, &args.right, args))
        .where_(|l| l.key.clone())
        .equal_to(|r| r.key.clone())
        .window(TumblingWindows::of(args.window_size))
        .side_output_late_data(&late)
        .flat_apply(|l, r, ctx: &mut WindowContext<'_, TimeWindow, Pair>| {
            let w = *ctx.window();
            ctx.collect((l.key.clone(), w.start, w.end, l.value, r.value));
            Ok(())
        });
    let late_records = pairs.side_output(&late);
    (pairs, late_records)
}

fn late_line(e: Either<Event, Event>) -> String {
    match e {
        Either::Left(e) => format!("left,{}", e.line),
        Either::Right(e) => format!("right,{}", e.line),
    }
}

fn run(args: &Args) -> anyhow::Result<JobResult> {
    ensure!(
        args.window_size > 0,
        "--window-size must be a positive number of ms, got {}",
        args.window_size
    );
    ensure!(
        args.out_of_orderness >= 0,
        "--out-of-orderness must not be negative, got {}",
        args.out_of_orderness
    );
    let env = common::env(args.shards);
    let (pairs, late) = build(&env, args);
    pairs.write_csv(&args.output);
    common::write_late(&late.map(late_line), args.late_output.as_deref());
    Ok(env.execute()?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let result = run(&args)?;
    eprintln!("window_join: finished in {:?}", result.elapsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use common::sorted_lines as lines;

    fn args(dir: &Path, left: &str, right: &str) -> Args {
        std::fs::create_dir_all(dir).expect("temp dir");
        std::fs::write(dir.join("left.csv"), left).expect("write");
        std::fs::write(dir.join("right.csv"), right).expect("write");
        Args {
            left: dir.join("left.csv"),
            right: dir.join("right.csv"),
            window_size: 10,
            out_of_orderness: 100,
            punctuated: false,
            shards: Some(2),
            output: dir.join("out.csv"),
            late_output: Some(dir.join("late.csv")),
            strict: false,
        }
    }

    fn dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("spate-window-join-{name}-{}", std::process::id()))
    }

    #[test]
    fn pairs_per_key_and_window_with_malformed_lines_skipped() {
        // a: [0,10) has left 1, 2 and right 30 → 2 pairs; [10,20) has left 3 only.
        // b: [0,10) right only. "c,x,1" is malformed; a record with key "d,e" is quoted.
        let a = args(
            &dir("pairs"),
            "a,1,1\na,9,2\nc,x,1\na,12,3\n\"d,e\",5,4\n",
            "b,3,20\na,4,30\n\na,25,40\n",
        );
        run(&a).expect("job runs");
        assert_eq!(lines(&a.output), vec!["a,0,10,1,30", "a,0,10,2,30"]);
        assert!(lines(&a.late_output.clone().expect("set")).is_empty());
    }

    #[test]
    fn negative_timestamps_and_one_shard_give_the_same_pairs() {
        let mut a = args(&dir("negative"), "k,-5,1\nk,-11,2\n", "k,-1,7\nk,-20,8\n");
        a.shards = Some(1);
        run(&a).expect("job runs");
        // [-10, 0) holds -5 and -1; [-20, -10) holds -11 and -20.
        assert_eq!(lines(&a.output), vec!["k,-10,0,1,7", "k,-20,-10,2,8"]);
    }

    #[test]
    fn strict_mode_fails_naming_the_line_and_bad_sizes_are_refused() {
        let mut a = args(&dir("strict"), "a,1,1\n", "a,1,2\na,1\n");
        a.strict = true;
        let err = run(&a).expect_err("strict run fails").to_string();
        assert!(err.contains("line 2"), "{err}");
        a.strict = false;
        a.window_size = 0;
        let err = run(&a).expect_err("size 0 is refused").to_string();
        assert!(err.contains("--window-size"), "{err}");
    }
}
