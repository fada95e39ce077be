//! The overlap join of two CSV files of validity intervals.
//!
//! Inputs: CSV lines `key,start_ms,end_ms,value`, each record valid over `[start, end)`.
//! Output: one CSV line per pair of records with equal keys whose intervals overlap,
//! `key,left_start,left_end,right_start,right_end,overlap_start,overlap_end,left_value,right_value`;
//! with `--left-outer`, also one line per left record nothing overlapped, its right and
//! overlap fields empty.
//!
//! ```text
//! cargo run --release --example overlap_join -- --left shifts.csv --right alarms.csv \
//!     --left-outer --output during.csv
//! ```
//!
//! A record's event time is its start: watermarks follow the starts with Flink's bounded
//! out-of-orderness strategy (`max start − d − 1`, every 200 ms, or after every record with
//! `--punctuated`), and each input ends with watermark `+∞`. A record whose start is below
//! the watermark is late: written to `--late-output` as `left,LINE` / `right,LINE`, or
//! reported on standard error. Malformed lines (and intervals whose end is before their
//! start) are reported with their line number and skipped, or fail the run with `--strict`.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Parser;
use spate::io::write_csv_field;
use spate::prelude::*;

/// Command-line arguments.
#[derive(Parser, Debug, Clone)]
#[command(about = "Overlap join of two CSV files of key,start_ms,end_ms,value")]
struct Args {
    /// Left input: `key,start_ms,end_ms,value` per line.
    #[arg(long)]
    left: PathBuf,
    /// Right input: `key,start_ms,end_ms,value` per line.
    #[arg(long)]
    right: PathBuf,
    /// Also output left records nothing overlapped.
    #[arg(long)]
    left_outer: bool,
    /// Where to write the joined lines.
    #[arg(long)]
    output: PathBuf,
    /// Bounded out-of-orderness of both inputs' watermarks (over starts), in ms.
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

/// A record valid over `[start, end)`.
#[derive(Debug, Clone)]
struct Valid {
    key: String,
    start: i64,
    end: i64,
    value: String,
    line: String,
}

fn parse_valid(line: &str) -> Result<Valid, String> {
    let f = common::fields(line, 4, "key,start_ms,end_ms,value")?;
    let (start, end) = (common::int("start", f[1])?, common::int("end", f[2])?);
    if end < start {
        return Err(format!("end {end} is before start {start}"));
    }
    Ok(Valid {
        key: f[0].to_string(),
        start,
        end,
        value: f[3].to_string(),
        line: line.to_string(),
    })
}

fn interval(v: &Valid) -> Interval {
    Interval::new(v.start, v.end)
}

fn side(env: &Env, path: &Path, args: &Args) -> KeyedStream<String, Valid, fn(&Valid) -> String> {
    let key: fn(&Valid) -> String = |v| v.key.clone();
    common::read_timed(
        env,
        path,
        args.strict,
        parse_valid,
        args.out_of_orderness,
        args.punctuated,
        |v: &Valid| v.start,
    )
    .key_by(key)
}

/// One output line.
fn row(l: &Valid, r: Option<&Valid>, overlap: Option<Interval>) -> String {
    let mut s = String::new();
    write_csv_field(&mut s, &l.key);
    let _ = write!(s, ",{},{},", l.start, l.end);
    match (r, overlap) {
        (Some(r), Some(o)) => {
            let _ = write!(s, "{},{},{},{},", r.start, r.end, o.start, o.end);
        }
        _ => s.push_str(",,,,"),
    }
    write_csv_field(&mut s, &l.value);
    s.push(',');
    if let Some(r) = r {
        write_csv_field(&mut s, &r.value);
    }
    s
}

/// Builds the job: the output lines, and the late records as `side,LINE`.
fn build(env: &Env, args: &Args) -> (DataStream<String>, DataStream<String>) {
    let (late_l, late_r) = (OutputTag::new("late left"), OutputTag::new("late right"));
    let mut join = side(env, &args.left, args)
        .overlap_join(&side(env, &args.right, args), interval, interval)
        .side_output_left_late_data(&late_l)
        .side_output_right_late_data(&late_r);
    if args.left_outer {
        join = join.left_outer();
    }
    let rows = join.process(
        |l: &Valid, r: Option<&Valid>, ctx: &mut OverlapContext<'_, String, String>| {
            let line = row(l, r, ctx.overlap());
            ctx.collect(line);
            Ok(())
        },
    );
    let late = rows
        .side_output(&late_l)
        .map(|v: Valid| format!("left,{}", v.line))
        .union(&[rows
            .side_output(&late_r)
            .map(|v: Valid| format!("right,{}", v.line))]);
    (rows, late)
}

fn run(args: &Args) -> anyhow::Result<JobResult> {
    let env = common::env(args.shards);
    let (rows, late) = build(&env, args);
    rows.write_lines(&args.output);
    common::write_late(&late, args.late_output.as_deref());
    Ok(env.execute()?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let result = run(&args)?;
    eprintln!(
        "overlap_join: {} lines in {:?}",
        result.records_out("overlap_join").unwrap_or(0),
        result.elapsed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::sorted_lines as lines;

    fn args(dir: &Path, left_outer: bool, shards: usize) -> Args {
        Args {
            left: dir.join("left.csv"),
            right: dir.join("right.csv"),
            left_outer,
            output: dir.join("out.csv"),
            out_of_orderness: 10,
            punctuated: true,
            late_output: Some(dir.join("late.csv")),
            shards: Some(shards),
            strict: false,
        }
    }

    #[test]
    fn overlaps_their_intersections_and_unmatched_left_records() {
        let d = std::env::temp_dir().join(format!("spate-overlap-join-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        // Shifts (left) and alarms (right) per machine; starts out of order by at most 5.
        std::fs::write(
            d.join("left.csv"),
            "m1,0,8,early\nm2,0,8,early\nm1,8,16,late shift\nm3,5,9,quiet\nm1,20,10,bad\n",
        )
        .expect("write");
        std::fs::write(
            d.join("right.csv"),
            "m1,6,10,overheat\nm2,3,4,\"jam\"\nm1,1,2,spark\nm2,8,9,after\nm9,0,99,x\n",
        )
        .expect("write");
        let inner = [
            "m1,0,8,1,2,1,2,early,spark",
            "m1,0,8,6,10,6,8,early,overheat",
            "m1,8,16,6,10,8,10,late shift,overheat",
            "m2,0,8,3,4,3,4,early,\"\"\"jam\"\"\"",
        ];
        for shards in 1..=3 {
            run(&args(&d, false, shards)).expect("job runs");
            assert_eq!(lines(&d.join("out.csv")), inner, "inner, {shards} shards");
            run(&args(&d, true, shards)).expect("job runs");
            let mut outer: Vec<&str> = inner.to_vec();
            outer.push("m3,5,9,,,,,quiet,");
            outer.sort();
            assert_eq!(
                lines(&d.join("out.csv")),
                outer,
                "left outer, {shards} shards"
            );
            assert!(lines(&d.join("late.csv")).is_empty());
        }
    }

    #[test]
    fn strict_mode_fails_on_an_inverted_interval_naming_the_line() {
        let d = std::env::temp_dir().join(format!("spate-overlap-strict-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        std::fs::write(d.join("left.csv"), "k,0,5,a\nk,9,3,b\n").expect("write");
        std::fs::write(d.join("right.csv"), "k,1,2,c\n").expect("write");
        let mut a = args(&d, false, 1);
        a.strict = true;
        let err = run(&a).expect_err("strict run fails").to_string();
        assert!(
            err.contains("line 2") && err.contains("before start"),
            "{err}"
        );
    }
}
