//! Query 10, log to file system: every bid, written as CSV into files partitioned by day
//! and minute of event time.
//!
//! ```sql
//! CREATE TABLE nexmark_q10 (
//!   auction BIGINT, bidder BIGINT, price BIGINT, dateTime TIMESTAMP(3), extra VARCHAR,
//!   dt STRING, hm STRING
//! ) PARTITIONED BY (dt, hm) WITH ('connector' = 'filesystem', 'format' = 'csv', …);
//!
//! INSERT INTO nexmark_q10
//! SELECT auction, bidder, price, dateTime, extra,
//!        DATE_FORMAT(dateTime, 'yyyy-MM-dd'), DATE_FORMAT(dateTime, 'HH:mm')
//! FROM bid;
//! ```
//!
//! Each shard writes its bids to `DIR/dt=yyyy-MM-dd/hm=HH:mm/part-<shard>.csv` (Flink's
//! partition layout), lines `auction,bidder,price,dateTime,extra` with the time in epoch
//! milliseconds (as `nexmark generate` writes it). A shard keeps one buffered file open per
//! minute it is writing, and closes a minute's file once its watermark has passed the
//! minute (the reference rolls files every minute too).
//!
//! Deviations: no `_SUCCESS` files (the reference's partition-commit policy), because a
//! shard's watermark does not say that the other shards are done with a partition;
//! partitions are not committed transactionally. A job with checkpoints and a
//! `sink_dir` (`spate-bench nexmark --sink-dir`) writes no partitioned files: its rows,
//! `dt` and `hm` as the last columns, go to the exactly-once sink ([`write_row`]).
//! The folder is not emptied first: a run writes over its own files only.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use spate::io::{write_csv_field, Sink};
use spate::prelude::*;

use super::time_fmt::{Day, HourMinute};
use super::{bids, event_time, Counter, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q10 in the registry.
pub const QUERY: Query = Query {
    name: "q10",
    about: "log to file system: bids as CSV partitioned by day and minute",
    class: QueryClass::Other,
    build: |events, cx| match cx.sink_dir {
        // With checkpoints the rows go to the exactly-once sink (the partitioned files
        // would be at-least-once), `dt` and `hm` as columns.
        Some(_) => cx.append(&bids(&event_time(events)), "q10", write_row),
        None => q10(events, &cx.output_dir, cx.counter.clone()),
    },
};

/// Writes `auction,bidder,price,dateTime,extra,dt,hm` (the reference's sink table) for
/// the exactly-once sink.
pub fn write_row(b: &Bid, out: &mut String) {
    super::output::csv_fields(
        out,
        &[
            &b.auction,
            &b.bidder,
            &b.price,
            &b.date_time,
            &b.extra,
            &Day::of(b.date_time),
            &HourMinute::of(b.date_time),
        ],
    );
}

const MS_PER_MINUTE: i64 = 60_000;

/// Writes every bid of `events` under `dir` (see the [module docs](self)), and counts the
/// lines written in `counter`.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::{q10::q10, Counter};
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let dir = std::env::temp_dir().join(format!("spate-q10-doc-{}", std::process::id()));
/// let env = Env::new().shards(2);
/// let source = NexmarkSource::new(NexmarkConfig::default()).unwrap().events(Some(1_000));
/// let counter = Counter::new();
/// q10(&env.add_source("nexmark", source), &dir, counter.clone());
/// env.execute().unwrap();
/// assert_eq!(counter.total(), 920);
/// assert!(dir.join("dt=2015-07-15").join("hm=00:00").join("part-0.csv").exists());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[track_caller]
pub fn q10(events: &DataStream<Event>, dir: &Path, counter: Counter) {
    bids(&event_time(events)).add_sink(
        "q10 partitioned files",
        PartitionedFiles {
            dir: dir.to_path_buf(),
            shard: 0,
            counter,
            open: Vec::new(),
            written: Vec::new(),
            line: String::new(),
        },
    );
}

/// One minute's open file.
struct Part {
    minute: i64,
    path: PathBuf,
    file: BufWriter<File>,
}

/// The sink: open files per minute, most recent last.
struct PartitionedFiles {
    dir: PathBuf,
    shard: usize,
    counter: Counter,
    open: Vec<Part>,
    /// Minutes this shard has opened a file for (a later reopening appends).
    written: Vec<i64>,
    /// The line being written (reused).
    line: String,
}

impl Clone for PartitionedFiles {
    fn clone(&self) -> Self {
        PartitionedFiles {
            dir: self.dir.clone(),
            shard: self.shard,
            counter: self.counter.clone(),
            open: Vec::new(),
            written: Vec::new(),
            line: String::new(),
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> UserError {
    format!("q10: cannot write {}: {e}", path.display()).into()
}

impl PartitionedFiles {
    /// The open file for `minute`, opened if need be.
    fn part(&mut self, minute: i64) -> Result<&mut Part, UserError> {
        if let Some(i) = self.open.iter().rposition(|p| p.minute == minute) {
            return Ok(&mut self.open[i]);
        }
        let ts = minute * MS_PER_MINUTE;
        let dir = self
            .dir
            .join(format!("dt={}", Day::of(ts)))
            .join(format!("hm={}", HourMinute::of(ts)));
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let path = dir.join(format!("part-{}.csv", self.shard));
        let again = self.written.contains(&minute);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(again)
            .truncate(!again)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        if !again {
            self.written.push(minute);
        }
        self.open.push(Part {
            minute,
            path,
            file: BufWriter::with_capacity(64 * 1024, file),
        });
        let last = self.open.len() - 1;
        Ok(&mut self.open[last])
    }

    /// Flushes and closes the files of minutes for which `done` holds.
    fn close(&mut self, done: impl Fn(i64) -> bool) -> Result<(), UserError> {
        let mut i = 0;
        while i < self.open.len() {
            if done(self.open[i].minute) {
                let mut p = self.open.remove(i);
                p.file.flush().map_err(|e| io_error(&p.path, e))?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }
}

impl Sink<Bid> for PartitionedFiles {
    fn open(&mut self, shard: usize, shards: usize) -> Result<(), UserError> {
        self.shard = shard;
        Sink::<Bid>::open(&mut self.counter, shard, shards)
    }

    fn write(&mut self, b: Bid, ts: Option<i64>) -> Result<(), UserError> {
        use std::fmt::Write as _;
        let minute = b.date_time.div_euclid(MS_PER_MINUTE);
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(
            line,
            "{},{},{},{},",
            b.auction, b.bidder, b.price, b.date_time
        );
        write_csv_field(&mut line, &b.extra);
        line.push('\n');
        let part = self.part(minute)?;
        let written = part.file.write_all(line.as_bytes());
        let path = &part.path;
        written.map_err(|e| io_error(path, e))?;
        self.line = line;
        self.counter.write(b, ts)
    }

    fn end_of_batch(&mut self) -> Result<(), UserError> {
        Sink::<Bid>::end_of_batch(&mut self.counter)
    }

    fn on_watermark(&mut self, wm: i64) -> Result<(), UserError> {
        self.close(|minute| (minute + 1) * MS_PER_MINUTE - 1 <= wm)
    }

    fn finish(&mut self) -> Result<(), UserError> {
        self.close(|_| true)?;
        Sink::<Bid>::finish(&mut self.counter)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{at_rate, input_of, EVENTS};
    use super::*;
    use crate::nexmark::NexmarkSource;

    fn read_tree(dir: &Path) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        for day in std::fs::read_dir(dir).expect("written") {
            let day = day.expect("entry").path();
            for minute in std::fs::read_dir(&day).expect("a day folder") {
                let minute = minute.expect("entry").path();
                let part = format!(
                    "{}/{}",
                    day.file_name().unwrap_or_default().to_string_lossy(),
                    minute.file_name().unwrap_or_default().to_string_lossy()
                );
                for f in std::fs::read_dir(&minute).expect("a minute folder") {
                    let text = std::fs::read_to_string(f.expect("entry").path()).expect("a file");
                    rows.extend(text.lines().map(|l| (part.clone(), l.to_string())));
                }
            }
        }
        rows.sort();
        rows
    }

    #[test]
    fn q10_writes_every_bid_into_its_minutes_partition() {
        let cfg = at_rate(50);
        let mut want: Vec<(String, String)> = input_of(&cfg, EVENTS)
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some((
                    format!(
                        "dt={}/hm={}",
                        Day::of(b.date_time),
                        HourMinute::of(b.date_time)
                    ),
                    format!(
                        "{},{},{},{},{}",
                        b.auction, b.bidder, b.price, b.date_time, b.extra
                    ),
                )),
                _ => None,
            })
            .collect();
        want.sort();
        assert!(want.iter().any(|r| r.0 == "dt=2015-07-15/hm=00:06"));
        for shards in 1..=3 {
            let dir = std::env::temp_dir()
                .join(format!("spate-q10-test-{}-{shards}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let env = Env::new().shards(shards).batch_size(100);
            let source = NexmarkSource::new(cfg.clone())
                .expect("valid")
                .events(Some(EVENTS));
            let counter = Counter::new();
            q10(&env.add_source("nexmark", source), &dir, counter.clone());
            env.execute().expect("runs");
            let got = read_tree(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            assert_eq!(counter.total(), want.len() as u64);
            assert!(
                got == want,
                "{shards} shards: {} rows, want {}",
                got.len(),
                want.len()
            );
        }
    }
}
