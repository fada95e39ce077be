//! One keyed window aggregation over event time, chosen by flags.
//!
//! Input: CSV lines `key,timestamp_ms,value` (value an `i64`). Output: one CSV line per
//! window firing, `key,window_start,window_end,count,sum,min,max`. Late records (dropped
//! because every window of theirs is gone) are written unchanged to `--late-output`.
//! Malformed lines are reported on standard error with their line number and skipped, or
//! fail the run with `--strict`.
//!
//! ```text
//! cargo run --release --example event_time -- --input events.csv \
//!     --window sliding:10000:5000 --out-of-orderness 2000 --allowed-lateness 1000 \
//!     --output windows.csv --late-output late.csv
//! ```
//!
//! Watermarks follow Flink's bounded out-of-orderness strategy (`max timestamp − d − 1`),
//! emitted every 200 ms of processing time (as Flink's default), or after every record with
//! `--punctuated`, which makes the results independent of timing. With several shards the
//! file is read in byte-range splits, each with its own watermark, and a window operator's
//! watermark is the minimum over the splits (as with Flink's parallel file source): which
//! records are late then depends on how the file was split. Use `--shards 1` to read it in
//! file order.

mod common;

use std::path::PathBuf;

use clap::Parser;
use spate::prelude::*;
use spate::window::{
    AggregateFunction, SessionWindows, SlidingWindows, TimeWindow, Trigger, TumblingWindows,
    WindowAssigner, WindowContext,
};
use spate::WindowedStream;

use common::Event;

/// Command-line arguments.
#[derive(Parser, Debug, Clone)]
#[command(about = "A keyed event-time window aggregation over a CSV file")]
struct Args {
    /// CSV input: `key,timestamp_ms,value` per line.
    #[arg(long)]
    input: PathBuf,
    /// `tumbling:SIZE_MS`, `sliding:SIZE_MS:SLIDE_MS` or `session:GAP_MS`.
    #[arg(long)]
    window: String,
    /// Bounded out-of-orderness of the watermark strategy, in ms.
    #[arg(long, default_value_t = 0)]
    out_of_orderness: i64,
    /// Emit a watermark after every record instead of periodically.
    #[arg(long)]
    punctuated: bool,
    /// Allowed lateness of the windows, in ms.
    #[arg(long, default_value_t = 0)]
    allowed_lateness: i64,
    /// Number of shards (default: one per core).
    #[arg(long)]
    shards: Option<usize>,
    /// Where to write the window results (standard output when absent).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Where to write late records, unchanged.
    #[arg(long)]
    late_output: Option<PathBuf>,
    /// Fail on the first malformed line instead of skipping it.
    #[arg(long)]
    strict: bool,
}

/// The window of `--window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowSpec {
    Tumbling(i64),
    Sliding(i64, i64),
    Session(i64),
}

fn parse_window(spec: &str) -> Result<WindowSpec, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let num = |s: &str| -> Result<i64, String> {
        match s.parse::<i64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "'{s}' in --window {spec} is not a positive number of ms"
            )),
        }
    };
    match parts.as_slice() {
        ["tumbling", size] => Ok(WindowSpec::Tumbling(num(size)?)),
        ["sliding", size, slide] => Ok(WindowSpec::Sliding(num(size)?, num(slide)?)),
        ["session", gap] => Ok(WindowSpec::Session(num(gap)?)),
        _ => Err(format!(
            "--window {spec}: expected tumbling:SIZE_MS, sliding:SIZE_MS:SLIDE_MS or session:GAP_MS"
        )),
    }
}

/// Count, sum, min and max of the values in a window.
#[derive(Debug, Clone, Copy)]
struct Stats;

impl AggregateFunction<Event, (u64, i64, i64, i64)> for Stats {
    type Acc = (u64, i64, i64, i64);
    fn create_accumulator(&self) -> Self::Acc {
        (0, 0, i64::MAX, i64::MIN)
    }
    fn add(&self, e: Event, acc: &mut Self::Acc) {
        acc.0 += 1;
        acc.1 = acc.1.wrapping_add(e.value);
        acc.2 = acc.2.min(e.value);
        acc.3 = acc.3.max(e.value);
    }
    fn get_result(&self, acc: &Self::Acc) -> Self::Acc {
        *acc
    }
    fn merge(&self, a: &mut Self::Acc, b: Self::Acc) {
        *a = (a.0 + b.0, a.1.wrapping_add(b.1), a.2.min(b.2), a.3.max(b.3));
    }
}

/// `key,window_start,window_end,count,sum,min,max`.
type Row = (String, i64, i64, u64, i64, i64, i64);

// The key type is the stream's (`String`); the window function receives `&K`.
#[allow(clippy::ptr_arg)]
fn to_row(
    key: &String,
    stats: &[(u64, i64, i64, i64)],
    ctx: &mut WindowContext<'_, TimeWindow, Row>,
) -> Result<(), UserError> {
    for &(n, sum, min, max) in stats {
        let w = *ctx.window();
        ctx.collect((key.clone(), w.start, w.end, n, sum, min, max));
    }
    Ok(())
}

fn finish<A, Tr>(
    w: WindowedStream<String, Event, impl Fn(&Event) -> String + Clone + Send + 'static, A, Tr>,
    args: &Args,
    late: &OutputTag<Event>,
) -> DataStream<Row>
where
    A: WindowAssigner<Event, W = TimeWindow>,
    Tr: Trigger<Event, TimeWindow>,
{
    w.allowed_lateness(args.allowed_lateness)
        .side_output_late_data(late)
        .aggregate_process(Stats, to_row)
}

/// Builds the job; returns the window results and the late records.
fn build(env: &Env, args: &Args, spec: WindowSpec) -> (DataStream<Row>, DataStream<Event>) {
    let keyed = common::read_timed(
        env,
        &args.input,
        args.strict,
        common::parse_event,
        args.out_of_orderness,
        args.punctuated,
        |e: &Event| e.ts,
    )
    .key_by(|e: &Event| e.key.clone());
    let late = OutputTag::<Event>::new("late");
    let rows = match spec {
        WindowSpec::Tumbling(size) => finish(keyed.window(TumblingWindows::of(size)), args, &late),
        WindowSpec::Sliding(size, slide) => {
            finish(keyed.window(SlidingWindows::of(size, slide)), args, &late)
        }
        WindowSpec::Session(gap) => {
            finish(keyed.window(SessionWindows::with_gap(gap)), args, &late)
        }
    };
    let late_records = rows.side_output(&late);
    (rows, late_records)
}

fn run(args: &Args) -> anyhow::Result<JobResult> {
    let spec = parse_window(&args.window).map_err(anyhow::Error::msg)?;
    let env = common::env(args.shards);
    let (rows, late) = build(&env, args, spec);
    match &args.output {
        Some(p) => rows.write_csv(p),
        None => rows
            .map(|r| format!("{},{},{},{},{},{},{}", r.0, r.1, r.2, r.3, r.4, r.5, r.6))
            .print_lines(),
    }
    if let Some(p) = &args.late_output {
        late.map(|e| e.line).write_lines(p);
    }
    Ok(env.execute()?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let result = run(&args)?;
    eprintln!("event_time: finished in {:?}", result.elapsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn args(input: &Path, window: &str, out: &Path, late: &Path) -> Args {
        Args {
            input: input.to_path_buf(),
            window: window.into(),
            out_of_orderness: 0,
            punctuated: true,
            allowed_lateness: 0,
            shards: Some(2),
            output: Some(out.to_path_buf()),
            late_output: Some(late.to_path_buf()),
            strict: false,
        }
    }

    use common::sorted_lines as lines;

    #[test]
    fn window_specs_parse_and_bad_ones_say_why() {
        assert_eq!(parse_window("tumbling:10"), Ok(WindowSpec::Tumbling(10)));
        assert_eq!(parse_window("sliding:10:5"), Ok(WindowSpec::Sliding(10, 5)));
        assert_eq!(parse_window("session:3"), Ok(WindowSpec::Session(3)));
        assert!(parse_window("sliding:10").unwrap_err().contains("expected"));
        assert!(parse_window("tumbling:-5")
            .unwrap_err()
            .contains("positive"));
    }

    #[test]
    fn tumbling_windows_late_records_and_malformed_lines() {
        let dir = std::env::temp_dir().join(format!("spate-event-time-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (input, out, late) = (
            dir.join("in.csv"),
            dir.join("out.csv"),
            dir.join("late.csv"),
        );
        // One shard reads the file in order. Punctuated watermarks, no out-of-orderness: the
        // watermark is max_ts - 1 after each record; (a,5) arrives when the watermark is 11,
        // after [0,10) fired: late.
        std::fs::write(
            &input,
            "a,1,10\nb,2,5\na,7,-3\nnot a record\na,12,1\na,5,100\nb,25,7\n",
        )
        .expect("write");
        let mut a = args(&input, "tumbling:10", &out, &late);
        a.shards = Some(1);
        run(&a).expect("job runs");
        assert_eq!(
            lines(&out),
            vec![
                "a,0,10,2,7,-3,10",
                "a,10,20,1,1,1,1",
                "b,0,10,1,5,5,5",
                "b,20,30,1,7,7,7"
            ]
        );
        assert_eq!(lines(&late), vec!["a,5,100"]);
    }

    #[test]
    fn strict_mode_fails_naming_the_line() {
        let dir =
            std::env::temp_dir().join(format!("spate-event-time-strict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (input, out, late) = (
            dir.join("in.csv"),
            dir.join("out.csv"),
            dir.join("late.csv"),
        );
        std::fs::write(&input, "a,1,10\na,x,3\n").expect("write");
        let mut a = args(&input, "tumbling:10", &out, &late);
        a.strict = true;
        let err = run(&a).expect_err("strict run fails").to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
