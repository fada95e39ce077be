//! Reading events back from the CSV files `spate-bench nexmark generate` writes, as a Spate
//! source: so a query can run on exactly the input another system is given.
//!
//! The folder holds `person.csv`, `auction.csv` and `bid.csv`, without header, times in
//! epoch milliseconds, columns in the reference's order (see [`Person::write_csv`] and
//! its siblings). Each shard reads its byte range of each file (the lines that start in
//! it) and merges the three by event time, so a shard's events come in time order, as the
//! generator's do. Strings become [`PoolStr`] handles through [`PoolStr::from_text`]: the
//! generator's own text maps back to its handles without allocating; other text is
//! interned.
//!
//! [`Person::write_csv`]: super::Person::write_csv

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use spate::SpateError;

use super::model::{Auction, Bid, Event, Person};
use super::pools::PoolStr;
use super::timing::Timing;

/// The files of a folder, in the order merged.
const FILES: [&str; 3] = ["person.csv", "auction.csv", "bid.csv"];

/// Events read from `person.csv`, `auction.csv` and `bid.csv` in a folder; each record is
/// emitted with its event time.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::{Event, NexmarkConfig, NexmarkCsvSource, NexmarkGenerator};
///
/// let dir = std::env::temp_dir().join(format!("spate-csv-doc-{}", std::process::id()));
/// let g = NexmarkGenerator::new(NexmarkConfig::default()).unwrap();
/// let events: Vec<Event> = g.events(0..500).collect();
/// NexmarkCsvSource::write(&dir, &events).unwrap();
///
/// let env = Env::new().shards(2);
/// let read = env.add_source("csv", NexmarkCsvSource::new(&dir)).collect();
/// env.execute().unwrap();
/// let mut want = events.clone();
/// want.sort();
/// assert_eq!(read.sorted(), want);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct NexmarkCsvSource {
    dir: PathBuf,
    timing: Option<Arc<Timing>>,
}

impl NexmarkCsvSource {
    /// The events of the three files in `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        NexmarkCsvSource {
            dir: dir.as_ref().to_path_buf(),
            timing: None,
        }
    }

    /// Notes in `timing` when each batch entered the job.
    pub fn timed(mut self, timing: Arc<Timing>) -> Self {
        self.timing = Some(timing);
        self
    }

    /// Writes `events` as the three files in `dir` (created if missing): what `nexmark
    /// generate` writes, for tests and examples.
    pub fn write(dir: &Path, events: &[Event]) -> Result<(), SpateError> {
        std::fs::create_dir_all(dir).map_err(|source| SpateError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut texts = [String::new(), String::new(), String::new()];
        for e in events {
            e.write_csv(&mut texts[e.kind() as usize]);
        }
        for (name, text) in FILES.iter().zip(texts) {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| SpateError::Io { path, source })?;
        }
        Ok(())
    }

    /// The lowest and highest event time in the files (from each file's first and last
    /// line), or `None` when they hold no event.
    pub fn time_span(dir: &Path) -> Result<Option<(i64, i64)>, SpateError> {
        let mut span: Option<(i64, i64)> = None;
        for (kind, name) in FILES.iter().enumerate() {
            let path = dir.join(name);
            let text = std::fs::read(&path).map_err(|source| SpateError::Io {
                path: path.clone(),
                source,
            })?;
            let lines: Vec<&[u8]> = text
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            for (i, line) in [lines.first(), lines.last()]
                .into_iter()
                .flatten()
                .enumerate()
            {
                let line = String::from_utf8_lossy(line);
                let e = parse(kind, &line).map_err(|m| bad(&path, i, m))?;
                let t = e.timestamp();
                span = Some(span.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
            }
        }
        Ok(span)
    }
}

fn bad(path: &Path, at: impl std::fmt::Display, message: String) -> SpateError {
    SpateError::BadInput {
        source_name: path.display().to_string(),
        position: format!("byte {at}"),
        message,
    }
}

impl Source<Event> for NexmarkCsvSource {
    fn split(
        &mut self,
        shard: usize,
        shards: usize,
    ) -> Result<Box<dyn SourceSplit<Event>>, SpateError> {
        let mut files = Vec::with_capacity(3);
        for (kind, name) in FILES.iter().enumerate() {
            files.push(Lines::open(&self.dir.join(name), kind, shard, shards)?);
        }
        let mut split = CsvSplit {
            files,
            heads: [None, None, None],
            timing: self.timing.clone(),
        };
        for k in 0..3 {
            split.refill(k)?;
        }
        Ok(Box::new(split))
    }
}

/// One shard's byte range of one file, read line by line.
struct Lines {
    path: PathBuf,
    kind: usize,
    reader: BufReader<File>,
    /// Where the next line starts, and the end of the range (lines starting before it).
    pos: u64,
    end: u64,
    line: String,
}

impl Lines {
    fn open(path: &Path, kind: usize, shard: usize, shards: usize) -> Result<Self, SpateError> {
        let io = |source| SpateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let n = shards.max(1) as u64;
        let (start, end) = (len * shard as u64 / n, len * (shard as u64 + 1) / n);
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut pos = start;
        if start > 0 {
            // The line holding byte `start - 1` belongs to the previous range.
            reader.seek(SeekFrom::Start(start - 1)).map_err(io)?;
            let mut skip = Vec::new();
            pos = start - 1 + reader.read_until(b'\n', &mut skip).map_err(io)? as u64;
        }
        Ok(Lines {
            path: path.to_path_buf(),
            kind,
            reader,
            pos,
            end,
            line: String::new(),
        })
    }

    /// The next event of the range, if any.
    fn next(&mut self) -> Result<Option<Event>, SpateError> {
        loop {
            if self.pos >= self.end {
                return Ok(None);
            }
            self.line.clear();
            let at = self.pos;
            let n = self
                .reader
                .read_line(&mut self.line)
                .map_err(|source| SpateError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.pos += n as u64;
            let line = self.line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                continue;
            }
            return parse(self.kind, line)
                .map(Some)
                .map_err(|m| bad(&self.path, at, m));
        }
    }
}

/// One shard's share of the three files, merged by event time.
struct CsvSplit {
    files: Vec<Lines>,
    heads: [Option<Event>; 3],
    timing: Option<Arc<Timing>>,
}

impl CsvSplit {
    fn refill(&mut self, k: usize) -> Result<(), SpateError> {
        self.heads[k] = self.files[k].next()?;
        Ok(())
    }
}

impl SourceSplit<Event> for CsvSplit {
    fn poll(&mut self, out: &mut SourceOutput<'_, Event>) -> Result<SourceStatus, SpateError> {
        let (mut n, mut last) = (0u64, i64::MIN);
        while out.remaining() > 0 {
            let next = (0..3)
                .filter_map(|k| self.heads[k].map(|e| (e.timestamp(), k)))
                .min();
            let Some((ts, k)) = next else { break };
            if let Some(e) = self.heads[k].take() {
                out.emit_at(ts, e);
                (n, last) = (n + 1, ts);
            }
            self.refill(k)?;
        }
        if let Some(t) = self.timing.as_ref().filter(|_| n > 0) {
            t.source_batch(last, n);
        }
        Ok(if self.heads.iter().all(Option::is_none) {
            SourceStatus::Done
        } else {
            SourceStatus::More
        })
    }

    fn is_empty(&self) -> bool {
        self.heads.iter().all(Option::is_none)
    }
}

/// Most fields a line has (an auction's).
const MAX_FIELDS: usize = 10;

/// A line's fields, borrowed from it unless quoted.
type Fields<'a> = [std::borrow::Cow<'a, str>; MAX_FIELDS + 1];

/// Splits a CSV line into `out` and returns how many fields it has (counting past
/// `MAX_FIELDS + 1` without keeping them): quoted fields lose their quotes (`""` inside
/// stands for `"`).
fn fields<'a>(line: &'a str, out: &mut Fields<'a>) -> usize {
    let mut n = 0;
    let mut rest = line;
    let mut push = |v: std::borrow::Cow<'a, str>| {
        if n < out.len() {
            out[n] = v;
        }
        n += 1;
    };
    loop {
        if let Some(q) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut r = q;
            loop {
                match r.find('"') {
                    Some(i) if r[i + 1..].starts_with('"') => {
                        value.push_str(&r[..=i]);
                        r = &r[i + 2..];
                    }
                    Some(i) => {
                        value.push_str(&r[..i]);
                        r = &r[i + 1..];
                        break;
                    }
                    None => {
                        value.push_str(r);
                        r = "";
                        break;
                    }
                }
            }
            push(value.into());
            match r.strip_prefix(',') {
                Some(after) => rest = after,
                None => break,
            }
        } else {
            match rest.find(',') {
                Some(i) => {
                    push(rest[..i].into());
                    rest = &rest[i + 1..];
                }
                None => {
                    push(rest.into());
                    break;
                }
            }
        }
    }
    n
}

/// A line of file `kind` (0 person, 1 auction, 2 bid) as an event.
fn parse(kind: usize, line: &str) -> Result<Event, String> {
    let mut f: Fields<'_> = Default::default();
    let n = fields(line, &mut f);
    let want = [8, 10, 7][kind.min(2)];
    if n != want {
        return Err(format!("{n} fields, expected {want}"));
    }
    let num = |i: usize| -> Result<u64, String> {
        f[i].trim()
            .parse()
            .map_err(|e| format!("field {}: {:?}: {e}", i + 1, f[i]))
    };
    let time = |i: usize| -> Result<i64, String> {
        f[i].trim()
            .parse()
            .map_err(|e| format!("field {}: {:?}: {e}", i + 1, f[i]))
    };
    let text = |i: usize| -> Result<PoolStr, String> {
        PoolStr::from_text(&f[i]).ok_or_else(|| "too many distinct strings to intern".into())
    };
    Ok(match kind {
        0 => Event::Person(Person {
            id: num(0)?,
            name: text(1)?,
            email_address: text(2)?,
            credit_card: text(3)?,
            city: text(4)?,
            state: text(5)?,
            date_time: time(6)?,
            extra: text(7)?,
        }),
        1 => Event::Auction(Auction {
            id: num(0)?,
            item_name: text(1)?,
            description: text(2)?,
            initial_bid: num(3)?,
            reserve: num(4)?,
            date_time: time(5)?,
            expires: time(6)?,
            seller: num(7)?,
            category: num(8)?,
            extra: text(9)?,
        }),
        _ => Event::Bid(Bid {
            auction: num(0)?,
            bidder: num(1)?,
            price: num(2)?,
            channel: text(3)?,
            url: text(4)?,
            date_time: time(5)?,
            extra: text(6)?,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nexmark::{NexmarkConfig, NexmarkGenerator};
    use spate::prelude::*;

    #[test]
    fn fields_unquote() {
        let mut f: Fields<'_> = Default::default();
        let n = fields(r#"1,"a,b","say ""hi""",,x"#, &mut f);
        let f: Vec<&str> = f[..n].iter().map(|c| c.as_ref()).collect();
        assert_eq!(f, vec!["1", "a,b", "say \"hi\"", "", "x"]);
    }

    #[test]
    fn each_shard_reads_its_lines_in_time_order_and_all_lines_are_read_once() {
        let dir = std::env::temp_dir().join(format!("spate-csv-test-{}", std::process::id()));
        let g = NexmarkGenerator::new(NexmarkConfig::default()).expect("valid");
        let events: Vec<Event> = g.events(0..7_000).collect();
        NexmarkCsvSource::write(&dir, &events).expect("written");
        assert_eq!(
            NexmarkCsvSource::time_span(&dir).expect("readable"),
            Some((events[0].timestamp(), events[6_999].timestamp()))
        );
        let mut want = events.clone();
        want.sort();
        for shards in 1..=3 {
            let env = Env::new().shards(shards).batch_size(64);
            let ordered = env
                .add_source("csv", NexmarkCsvSource::new(&dir))
                .process(|e: Event, ctx: &mut ProcessContext<'_, (Event, bool)>| {
                    let in_order = ctx.timestamp() == Some(e.timestamp());
                    ctx.collect((e, in_order));
                    Ok(())
                })
                .collect();
            env.execute().expect("runs");
            let got = ordered.take();
            assert!(got.iter().all(|(_, ok)| *ok));
            let mut got: Vec<Event> = got.into_iter().map(|(e, _)| e).collect();
            got.sort();
            assert!(got == want, "{shards} shards: {} events", got.len());
        }
        std::fs::write(dir.join("bid.csv"), "1,2,x,c,u,5,e\n").expect("written");
        let env = Env::new().shards(1);
        env.add_source("csv", NexmarkCsvSource::new(&dir)).collect();
        let err = env.execute().expect_err("a bad price fails the job");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(err.to_string().contains("field 3"), "{err}");
    }
}
