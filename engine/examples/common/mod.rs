//! Input handling shared by the examples: CSV lines parsed into records, malformed lines
//! reported on standard error with their file and line number (or failing the job when
//! strict).

#![allow(dead_code)]

use std::path::Path;

use spate::prelude::*;

/// A record `key,timestamp_ms,value` (value an `i64`), with its line kept for the files
/// that echo input lines (late records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The key field.
    pub key: String,
    /// Event time, ms.
    pub ts: i64,
    /// The value field.
    pub value: i64,
    /// The input line as read.
    pub line: String,
}

/// Splits `line` into exactly `n` comma-separated fields, trimmed; `what` names them.
pub fn fields<'a>(line: &'a str, n: usize, what: &str) -> Result<Vec<&'a str>, String> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() != n {
        return Err(format!("expected {n} fields {what}, found {}", f.len()));
    }
    Ok(f)
}

/// Parses field `name` with value `s` as an `i64`.
pub fn int(name: &str, s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|e| format!("{name} '{s}': {e}"))
}

/// Parses `key,timestamp_ms,value`.
pub fn parse_event(line: &str) -> Result<Event, String> {
    let f = fields(line, 3, "key,timestamp_ms,value")?;
    Ok(Event {
        key: f[0].to_string(),
        ts: int("timestamp", f[1])?,
        value: int("value", f[2])?,
        line: line.to_string(),
    })
}

/// Reads `path` line by line (in byte-range splits, one per shard) and parses each
/// non-empty line with `parse`. A malformed line is reported on standard error as
/// `file:line: why: text` and skipped, or, when `strict`, fails the job with
/// [`SpateError::BadInput`] naming the file and line.
pub fn read_csv<T, P>(env: &Env, path: &Path, strict: bool, parse: P) -> DataStream<T>
where
    T: Clone + Send + 'static,
    P: Fn(&str) -> Result<T, String> + Clone + Send + 'static,
{
    let malformed = OutputTag::<String>::new("malformed");
    let input = path.display().to_string();
    let m = malformed.clone();
    let records = env.read_lines_numbered(path).process(
        move |(n, line): (u64, String), ctx: &mut ProcessContext<'_, T>| {
            if line.trim().is_empty() {
                return Ok(());
            }
            match parse(&line) {
                Ok(r) => ctx.collect(r),
                Err(why) if strict => {
                    return Err(SpateError::BadInput {
                        source_name: input.clone(),
                        position: format!("line {n}"),
                        message: format!("{why}: {line}"),
                    }
                    .into());
                }
                Err(why) => ctx.output(&m, format!("{input}:{n}: {why}: {line}")),
            }
            Ok(())
        },
    );
    records
        .side_output(&malformed)
        .add_sink("malformed lines", Stderr("malformed"));
    records
}

/// [`read_csv`], then event time from `ts` with a bounded out-of-orderness watermark of
/// `out_of_orderness` ms, periodic or, when `punctuated`, after every record.
pub fn read_timed<T, P>(
    env: &Env,
    path: &Path,
    strict: bool,
    parse: P,
    out_of_orderness: i64,
    punctuated: bool,
    ts: fn(&T) -> i64,
) -> DataStream<T>
where
    T: Clone + Send + 'static,
    P: Fn(&str) -> Result<T, String> + Clone + Send + 'static,
{
    let strategy = WatermarkStrategy::for_bounded_out_of_orderness(out_of_orderness)
        .with_timestamp_assigner(ts);
    let strategy = if punctuated {
        strategy.punctuated()
    } else {
        strategy
    };
    read_csv(env, path, strict, parse).assign_timestamps_and_watermarks(strategy)
}

/// An environment with `shards` shards, or one per core.
pub fn env(shards: Option<usize>) -> Env {
    match shards {
        Some(n) => Env::new().shards(n),
        None => Env::new(),
    }
}

/// Writes late-record lines to `path`, or to standard error as `late: LINE`.
pub fn write_late(late: &DataStream<String>, path: Option<&Path>) {
    match path {
        Some(p) => late.write_lines(p),
        None => late.add_sink("late records", Stderr("late")),
    }
}

/// Writes lines to standard error as `LABEL: LINE`.
#[derive(Clone)]
pub struct Stderr(pub &'static str);

impl spate::io::Sink<String> for Stderr {
    fn write(&mut self, line: String, _ts: Option<i64>) -> Result<(), UserError> {
        eprintln!("{}: {line}", self.0);
        Ok(())
    }
}

/// The sorted lines of a file (empty when it does not exist): for the examples' tests.
pub fn sorted_lines(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}
