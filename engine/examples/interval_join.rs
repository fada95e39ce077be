//! Flink's interval join of two CSV files.
//!
//! Inputs: CSV lines `key,timestamp_ms,value` (value an `i64`). Output: one CSV line per
//! joined pair, `key,left_ts,right_ts,left_value,right_value`, for every left and right
//! record with equal keys and `left_ts + lower <= right_ts <= left_ts + upper`.
//!
//! ```text
//! cargo run --release --example interval_join -- --left orders.csv --right payments.csv \
//!     --lower 0 --upper 60000 --output paid.csv
//! ```
//!
//! Watermarks follow Flink's bounded out-of-orderness strategy (`max timestamp − d − 1`,
//! every 200 ms, or after every record with `--punctuated`); each input ends with watermark
//! `+∞`, so a file gives the batch result. A record below the watermark when it arrives is
//! late: written to `--late-output` as `left,LINE` or `right,LINE`, or counted on standard
//! error. With one shard and in-order files (or a large enough `--out-of-orderness`)
//! nothing is late. Malformed lines are reported on standard error with their line number
//! and skipped, or fail the run with `--strict`.

mod common;

use std::path::PathBuf;

use clap::Parser;
use common::Event;
use spate::prelude::*;

/// Command-line arguments.
#[derive(Parser, Debug, Clone)]
#[command(about = "Interval join of two CSV files of key,timestamp_ms,value")]
struct Args {
    /// Left input: `key,timestamp_ms,value` per line.
    #[arg(long)]
    left: PathBuf,
    /// Right input: `key,timestamp_ms,value` per line.
    #[arg(long)]
    right: PathBuf,
    /// Lower bound of `right_ts − left_ts`, in ms.
    #[arg(long, allow_hyphen_values = true)]
    lower: i64,
    /// Upper bound of `right_ts − left_ts`, in ms.
    #[arg(long, allow_hyphen_values = true)]
    upper: i64,
    /// Make the lower bound exclusive.
    #[arg(long)]
    lower_exclusive: bool,
    /// Make the upper bound exclusive.
    #[arg(long)]
    upper_exclusive: bool,
    /// Where to write the pairs.
    #[arg(long)]
    output: PathBuf,
    /// Bounded out-of-orderness of both inputs' watermarks, in ms.
    #[arg(long, default_value_t = 0)]
    out_of_orderness: i64,
    /// Emit a watermark after every record instead of periodically.
    #[arg(long)]
    punctuated: bool,
    /// Where to write late records, as `left,LINE` / `right,LINE`.
    #[arg(long)]
    late_output: Option<PathBuf>,
    /// Number of shards (default: one per core).
    #[arg(long)]
    shards: Option<usize>,
    /// Fail on the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,
}

/// `key,left_ts,right_ts,left_value,right_value`.
type Pair = (String, i64, i64, i64, i64);

/// One input, stamped and keyed.
fn side(
    env: &Env,
    path: &std::path::Path,
    args: &Args,
) -> KeyedStream<String, Event, fn(&Event) -> String> {
    let key: fn(&Event) -> String = |e| e.key.clone();
    common::read_timed(
        env,
        path,
        args.strict,
        common::parse_event,
        args.out_of_orderness,
        args.punctuated,
        |e: &Event| e.ts,
    )
    .key_by(key)
}

/// Builds the job: the pairs, and the late records of both sides as `side,LINE`.
fn build(env: &Env, args: &Args) -> (DataStream<Pair>, DataStream<String>) {
    let (late_l, late_r) = (OutputTag::new("late left"), OutputTag::new("late right"));
    let mut join = side(env, &args.left, args)
        .interval_join(&side(env, &args.right, args))
        .between(args.lower, args.upper)
        .side_output_left_late_data(&late_l)
        .side_output_right_late_data(&late_r);
    if args.lower_exclusive {
        join = join.lower_bound_exclusive();
    }
    if args.upper_exclusive {
        join = join.upper_bound_exclusive();
    }
    let pairs = join.process(
        |l: &Event, r: &Event, ctx: &mut ProcessJoinContext<'_, String, Pair>| {
            ctx.collect((l.key.clone(), l.ts, r.ts, l.value, r.value));
            Ok(())
        },
    );
    let late = pairs
        .side_output(&late_l)
        .map(|e: Event| format!("left,{}", e.line))
        .union(&[pairs
            .side_output(&late_r)
            .map(|e: Event| format!("right,{}", e.line))]);
    (pairs, late)
}

fn run(args: &Args) -> anyhow::Result<JobResult> {
    let env = common::env(args.shards);
    let (pairs, late) = build(&env, args);
    pairs.write_csv(&args.output);
    common::write_late(&late, args.late_output.as_deref());
    Ok(env.execute()?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let result = run(&args)?;
    eprintln!(
        "interval_join: {} pairs in {:?}",
        result.records_out("interval_join").unwrap_or(0),
        result.elapsed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::sorted_lines as lines;

    fn args(dir: &std::path::Path, lower: i64, upper: i64) -> Args {
        Args {
            left: dir.join("left.csv"),
            right: dir.join("right.csv"),
            lower,
            upper,
            lower_exclusive: false,
            upper_exclusive: false,
            output: dir.join("out.csv"),
            out_of_orderness: 0,
            punctuated: true,
            late_output: Some(dir.join("late.csv")),
            shards: Some(1),
            strict: false,
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("spate-interval-join-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn pairs_within_the_bounds_and_malformed_lines() {
        let d = dir("pairs");
        // Orders (left) and payments (right); a payment counts within [0, 10] ms after the
        // order. The right file is out of order by 2 ms, within --out-of-orderness: nothing
        // is late, whatever the shards and the interleaving of the two files.
        std::fs::write(
            d.join("left.csv"),
            "a,1,100\nb,2,200\na,10,101\noops\na,20,102\n",
        )
        .expect("write");
        std::fs::write(
            d.join("right.csv"),
            "a,5,-1\na,10,-3\nb,12,-2\nc,10,-4\na,30,-5\n",
        )
        .expect("write");
        for shards in 1..=3 {
            let mut a = args(&d, 0, 10);
            a.shards = Some(shards);
            a.out_of_orderness = 5;
            run(&a).expect("job runs");
            assert_eq!(
                lines(&d.join("out.csv")),
                vec![
                    "a,1,10,100,-3",
                    "a,1,5,100,-1",
                    "a,10,10,101,-3",
                    "a,20,30,102,-5",
                    "b,2,12,200,-2",
                ],
                "{shards} shards"
            );
            assert!(lines(&d.join("late.csv")).is_empty());
        }
    }

    #[test]
    fn late_records_go_to_the_late_output() {
        let d = dir("late");
        // The right file is empty, so the join's watermark is the left file's: after (a,20)
        // it is 19 and (b,3) is late.
        std::fs::write(d.join("left.csv"), "a,1,100\na,20,102\nb,3,201\n").expect("write");
        std::fs::write(d.join("right.csv"), "").expect("write");
        run(&args(&d, 0, 10)).expect("job runs");
        assert!(lines(&d.join("out.csv")).is_empty());
        assert_eq!(lines(&d.join("late.csv")), vec!["left,b,3,201"]);
    }

    #[test]
    fn exclusive_bounds_and_negative_offsets() {
        let d = dir("exclusive");
        std::fs::write(d.join("left.csv"), "k,100,1\n").expect("write");
        std::fs::write(d.join("right.csv"), "k,90,2\nk,95,3\nk,100,4\n").expect("write");
        let mut a = args(&d, -10, 0);
        a.out_of_orderness = 1000;
        run(&a).expect("job runs");
        assert_eq!(
            lines(&d.join("out.csv")),
            vec!["k,100,100,1,4", "k,100,90,1,2", "k,100,95,1,3"]
        );
        a.lower_exclusive = true;
        a.upper_exclusive = true;
        run(&a).expect("job runs");
        assert_eq!(lines(&d.join("out.csv")), vec!["k,100,95,1,3"]);
    }
}
