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
        .add_sink("malformed lines", Stderr);
    records
}

/// Writes reports to standard error.
#[derive(Clone)]
pub struct Stderr;

impl spate::io::Sink<String> for Stderr {
    fn write(&mut self, line: String, _ts: Option<i64>) -> Result<(), UserError> {
        eprintln!("malformed: {line}");
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
