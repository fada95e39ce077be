//! A query's result rows written as CSV: the end of every query in [`QUERIES`](super::QUERIES).
//!
//! Each query ends in a [`ResultSink`], made by [`QueryContext::append`] or
//! [`QueryContext::table`](super::QueryContext::table): it counts the rows in the context's
//! [`Counter`] and, when the context has a [`ResultFile`], writes them as CSV lines
//! without header, in the column order of the reference SQL's result (its sink table),
//! timestamps as epoch milliseconds (as `nexmark generate` writes the input), nulls as empty
//! fields.
//!
//! - An **append-only** result (projections, filters, windows, joins without aggregates)
//!   is written row by row: each shard fills its own buffer and appends it to the file,
//!   under a lock, once it holds [`FLUSH_AT`] bytes and when the input ends. Lines of
//!   different shards interleave in no fixed order.
//! - An **updating** result (group-bys without windows, top-N, dedup) arrives as upserts
//!   keyed by its table's key; each shard keeps the last row of each of its keys, and when
//!   the last shard's input ends the final table is written, one line per key, sorted by
//!   key. A key's rows come from one shard (they leave a keyed operator keyed by it).
//!
//! With checkpoints, a [`QueryContext`](super::QueryContext) with a `sink_dir` also
//! publishes the rows exactly once through `write_lines_exactly_once` into that folder
//! (`part-<epoch>-s<shard>.txt` files, published when the epoch's checkpoint completes):
//!
//! - an append-only result as the same lines `--output` writes ([`RowLine`]);
//! - an updating result as a **changelog** ([`UpsertLine`]): one line per upsert,
//!   `+U<TAB>key<TAB>row`, the key as `{:?}` writes it, the row as `--output` writes it.
//!   The op column is always `+U` (an upsert: the row replaces the key's previous one; the
//!   queries emit no deletions).
//!
//! [`fold`] turns a published folder back into the table `--output` writes: the rows of an
//! append-only result, and the last row of each key of a changelog (a key's upserts come
//! from one shard, so reading the files in epoch order, then shard, keeps them in order).
//! Both sorted, so that outputs of different runs compare line for line.
//!
//! [`QueryContext::append`]: super::QueryContext::append

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Display};
use std::fs::File;
use std::hash::Hash;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use spate::io::{write_csv_field, Sink};
use spate::prelude::*;
use spate::Data;

use super::Counter;

/// Bytes a shard buffers before appending them to the file.
pub const FLUSH_AT: usize = 1 << 20;

/// Appends a row's fields, comma-separated, without the newline.
pub type WriteRow<T> = fn(&T, &mut String);

/// Appends `fields` comma-separated (each quoted where needed), no newline.
pub fn csv_fields(out: &mut String, fields: &[&dyn Display]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_csv_field(out, *f);
    }
}

/// An `f64` shown with three decimals: the reference's `DECIMAL(23, 3)` of `0.908 * price`.
#[derive(Clone, Copy, Debug)]
pub struct Dec3(pub f64);

impl Display for Dec3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}", self.0)
    }
}

/// An optional value: empty when `None` (a SQL null in CSV).
#[derive(Clone, Copy, Debug)]
pub struct Nullable<T>(pub Option<T>);

impl<T: Display> Display for Nullable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => Ok(()),
        }
    }
}

thread_local! {
    /// The line being formatted by [`RowLine`] and [`UpsertLine`] (reused).
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Formats `row` with `write` into the thread's reused buffer and hands it to `f`.
fn with_row<T>(row: &T, write: WriteRow<T>, f: impl FnOnce(&str) -> fmt::Result) -> fmt::Result {
    LINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            write(row, &mut buf);
            f(&buf)
        }
        // Re-entered (a row whose fields format rows): format into a buffer of its own.
        Err(_) => {
            let mut buf = String::new();
            write(row, &mut buf);
            f(&buf)
        }
    })
}

/// An append-only result row as its CSV line (what the exactly-once sink writes).
#[derive(Clone)]
pub struct RowLine<T> {
    /// The row.
    pub row: T,
    /// How its fields are written.
    pub write: WriteRow<T>,
}

impl<T> Display for RowLine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        with_row(&self.row, self.write, |s| f.write_str(s))
    }
}

/// An updating result's upsert as a changelog line: `+U<TAB>{key:?}<TAB>row`.
#[derive(Clone)]
pub struct UpsertLine<T, K> {
    /// The row's key in its table.
    pub key: K,
    /// The row.
    pub row: T,
    /// How its fields are written.
    pub write: WriteRow<T>,
}

impl<T, K: fmt::Debug> Display for UpsertLine<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+U\t{:?}\t", self.key)?;
        with_row(&self.row, self.write, |s| f.write_str(s))
    }
}

/// Where a published file sits in publication order: its epoch (`part-final` last), then
/// its shard; `None` for a name that is not a published part.
fn part_order(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".txt")?;
    let (epoch, shard) = rest.rsplit_once("-s")?;
    let shard = shard.parse().ok()?;
    let epoch = if epoch == "final" {
        u64::MAX
    } else {
        epoch.parse().ok()?
    };
    Some((epoch, shard))
}

/// The table the folder `dir` published by the exactly-once sink holds: every row of an
/// append-only result, or the last row of each key of a changelog, sorted (see the
/// [module docs](self)). Staged (unpublished) files are not read.
///
/// # Examples
///
/// ```
/// use spate_workloads::nexmark::queries::output::fold;
///
/// let dir = std::env::temp_dir().join(format!("spate-fold-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("part-00000000000000000001-s0.txt"), "+U\t7\t7,1\n+U\t8\t8,1\n").unwrap();
/// std::fs::write(dir.join("part-final-s0.txt"), "+U\t7\t7,2\n").unwrap();
/// assert_eq!(fold(&dir).unwrap(), vec!["7,2".to_string(), "8,1".to_string()]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn fold(dir: &Path) -> Result<Vec<String>, SpateError> {
    let io = |path: &Path, source| SpateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name();
        if let Some(at) = name.to_str().and_then(part_order) {
            parts.push((at, entry.path()));
        }
    }
    parts.sort();
    let (mut rows, mut table) = (Vec::new(), HashMap::new());
    for (_, path) in parts {
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        for (n, line) in text.lines().enumerate() {
            match line.strip_prefix("+U\t") {
                Some(change) => {
                    let (key, row) =
                        change
                            .split_once('\t')
                            .ok_or_else(|| SpateError::BadInput {
                                source_name: path.display().to_string(),
                                position: format!("line {}", n + 1),
                                message: format!("a changelog line without a key: {line}"),
                            })?;
                    table.insert(key.to_string(), row.to_string());
                }
                None => rows.push(line.to_string()),
            }
        }
    }
    if !rows.is_empty() && !table.is_empty() {
        return Err(SpateError::BadInput {
            source_name: dir.display().to_string(),
            position: "its published files".into(),
            message: "both changelog lines and plain rows (two queries' output?)".into(),
        });
    }
    rows.extend(table.into_values());
    rows.sort();
    Ok(rows)
}

/// The file a query's result rows go to, shared by the shards' sinks.
#[derive(Debug)]
pub struct ResultFile {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
    rows: AtomicU64,
}

impl ResultFile {
    /// Creates (or truncates) the file at `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate_workloads::nexmark::queries::{self, Counter, QueryContext, ResultFile};
    /// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
    ///
    /// let path = std::env::temp_dir().join(format!("spate-q2-doc-{}.csv", std::process::id()));
    /// let mut cx = QueryContext::new(Counter::new());
    /// cx.output = Some(ResultFile::create(&path).unwrap());
    /// let env = Env::new().shards(2);
    /// let source = NexmarkSource::new(NexmarkConfig::default()).unwrap().events(Some(10_000));
    /// (queries::find("q2").unwrap().build)(&env.add_source("nexmark", source), &cx);
    /// env.execute().unwrap();
    /// let rows = cx.output.as_ref().unwrap().finish().unwrap();
    /// let text = std::fs::read_to_string(&path).unwrap();
    /// // q2's columns: auction, price.
    /// assert_eq!(text.lines().count() as u64, rows);
    /// assert!(text.lines().all(|l| l.split(',').next().unwrap().parse::<u64>().unwrap() % 123 == 0));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn create(path: &Path) -> Result<Arc<Self>, SpateError> {
        let file = File::create(path).map_err(|source| SpateError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Arc::new(ResultFile {
            path: path.to_path_buf(),
            file: Mutex::new(BufWriter::new(file)),
            rows: AtomicU64::new(0),
        }))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file; returns the lines written so far.
    pub fn finish(&self) -> Result<u64, SpateError> {
        let io = |source| SpateError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = self
            .file
            .lock()
            .map_err(|_| io(std::io::Error::other("a writer panicked")))?;
        f.flush().map_err(io)?;
        Ok(self.rows.load(Ordering::Acquire))
    }

    /// Appends `text` (whole lines, `rows` of them).
    fn append(&self, text: &str, rows: u64) -> Result<(), UserError> {
        let mut f = self
            .file
            .lock()
            .map_err(|_| format!("{}: a writer panicked", self.path.display()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        self.rows.fetch_add(rows, Ordering::AcqRel);
        Ok(())
    }
}

/// The end of a query: counts its rows and writes them to a [`ResultFile`] if one is set.
/// `K` is the key of an updating result's table (`()` for an append-only one).
pub struct ResultSink<T, K> {
    counter: Counter,
    out: Option<Arc<ResultFile>>,
    write: WriteRow<T>,
    buf: String,
    buffered: u64,
    table: Option<Table<T, K>>,
}

/// An updating result's table: this shard's last row per key, and the tables of the
/// shards that have finished.
struct Table<T, K> {
    key: fn(&T) -> K,
    local: HashMap<K, T>,
    shared: Arc<Mutex<BTreeMap<K, T>>>,
    finished: Arc<AtomicUsize>,
    shards: usize,
}

impl<T, K> Clone for Table<T, K> {
    fn clone(&self) -> Self {
        Table {
            key: self.key,
            local: HashMap::new(),
            shared: self.shared.clone(),
            finished: self.finished.clone(),
            shards: self.shards,
        }
    }
}

impl<T, K> Clone for ResultSink<T, K> {
    fn clone(&self) -> Self {
        ResultSink {
            counter: self.counter.clone(),
            out: self.out.clone(),
            write: self.write,
            buf: String::new(),
            buffered: 0,
            table: self.table.clone(),
        }
    }
}

impl<T, K> ResultSink<T, K> {
    /// A sink of an append-only result.
    pub fn append(counter: Counter, out: Option<Arc<ResultFile>>, write: WriteRow<T>) -> Self {
        ResultSink {
            counter,
            out,
            write,
            buf: String::new(),
            buffered: 0,
            table: None,
        }
    }

    /// A sink of an updating result whose rows are upserts keyed by `key`.
    pub fn table(
        counter: Counter,
        out: Option<Arc<ResultFile>>,
        key: fn(&T) -> K,
        write: WriteRow<T>,
    ) -> Self {
        let table = out.as_ref().map(|_| Table {
            key,
            local: HashMap::new(),
            shared: Arc::default(),
            finished: Arc::default(),
            shards: 1,
        });
        ResultSink {
            table,
            ..Self::append(counter, out, write)
        }
    }

    fn line(&mut self, row: &T) {
        (self.write)(row, &mut self.buf);
        self.buf.push('\n');
        self.buffered += 1;
    }

    fn flush(&mut self) -> Result<(), UserError> {
        if let Some(out) = &self.out {
            if !self.buf.is_empty() {
                out.append(&self.buf, self.buffered)?;
            }
        }
        self.buf.clear();
        self.buffered = 0;
        Ok(())
    }
}

impl<T: Data, K: Hash + Ord + Send + 'static> Sink<T> for ResultSink<T, K> {
    fn open(&mut self, shard: usize, shards: usize) -> Result<(), UserError> {
        if let Some(t) = &mut self.table {
            t.shards = shards;
        }
        <Counter as Sink<()>>::open(&mut self.counter, shard, shards)
    }

    #[inline]
    fn write(&mut self, value: T, timestamp: Option<i64>) -> Result<(), UserError> {
        <Counter as Sink<()>>::write(&mut self.counter, (), timestamp)?;
        if self.out.is_some() {
            match &mut self.table {
                Some(t) => {
                    t.local.insert((t.key)(&value), value);
                }
                None => {
                    self.line(&value);
                    if self.buf.len() >= FLUSH_AT {
                        self.flush()?;
                    }
                }
            }
        }
        Ok(())
    }

    fn end_of_batch(&mut self) -> Result<(), UserError> {
        <Counter as Sink<()>>::end_of_batch(&mut self.counter)
    }

    fn finish(&mut self) -> Result<(), UserError> {
        <Counter as Sink<()>>::finish(&mut self.counter)?;
        if let Some(t) = &mut self.table {
            let mut shared = t.shared.lock().map_err(|_| "a result sink panicked")?;
            shared.extend(t.local.drain());
            let done = t.finished.fetch_add(1, Ordering::AcqRel) + 1;
            if done == t.shards {
                let rows = std::mem::take(&mut *shared);
                drop(shared);
                for row in rows.values() {
                    self.line(row);
                    if self.buf.len() >= FLUSH_AT {
                        self.flush()?;
                    }
                }
            }
        }
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fold_keeps_the_last_upsert_in_epoch_then_shard_order_and_refuses_bad_lines() {
        let dir = std::env::temp_dir().join(format!("spate-fold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".staging")).expect("created");
        let put = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("written");
        // Epoch 10 sorts after epoch 9 (by number), and final after both.
        put("part-00000000000000000010-s1.txt", "+U\t(1, 2)\tb10\n");
        put(
            "part-00000000000000000009-s0.txt",
            "+U\t(1, 2)\tb9\n+U\t3\tc\n",
        );
        put("part-final-s0.txt", "+U\t4\td\n");
        put(".staging/e11-s0", "+U\t(1, 2)\tunpublished\n");
        put("notes.txt", "not a part\n");
        assert_eq!(fold(&dir).expect("folds"), ["b10", "c", "d"]);
        put("part-final-s1.txt", "plain,row\n");
        assert!(fold(&dir).is_err(), "changelog and plain rows mixed");
        std::fs::remove_file(dir.join("part-final-s1.txt")).expect("removed");
        put("part-final-s1.txt", "+U\tno key\n");
        let e = fold(&dir).expect_err("a line without a key").to_string();
        assert!(
            e.contains("part-final-s1.txt") && e.contains("line 1"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    use std::collections::{BTreeMap, HashMap};

    use super::super::testing::{at_rate, input_of, EVENTS};
    use super::super::{find, q5, QueryContext};
    use super::*;
    use crate::nexmark::{Bid, Event, NexmarkConfig, NexmarkSource};

    /// The sorted lines `query` writes for the first `n` events of `cfg`, on 1 shard, 2
    /// shards with batches of 7, and 3 shards; and whether each file was sorted as written.
    fn written(query: &str, cfg: &NexmarkConfig, n: u64) -> Vec<(Vec<String>, bool)> {
        let q = find(query).expect("a query");
        [(1, 1024), (2, 7), (3, 1024)]
            .into_iter()
            .map(|(shards, batch)| {
                let path = std::env::temp_dir().join(format!(
                    "spate-output-{query}-{shards}-{}.csv",
                    std::process::id()
                ));
                let counter = Counter::new();
                let mut cx = QueryContext::new(counter.clone());
                let file = ResultFile::create(&path).expect("created");
                cx.output = Some(file.clone());
                let env = Env::new().shards(shards).batch_size(batch);
                let source = NexmarkSource::new(cfg.clone())
                    .expect("valid")
                    .events(Some(n));
                (q.build)(&env.add_source("nexmark", source), &cx);
                env.execute().expect("the query runs");
                let rows = file.finish().expect("flushed");
                let text = std::fs::read_to_string(&path).expect("written");
                let _ = std::fs::remove_file(&path);
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                assert_eq!(lines.len() as u64, rows, "{query}: rows counted");
                let sorted = lines.windows(2).all(|w| w[0] <= w[1]);
                lines.sort();
                (lines, sorted)
            })
            .collect()
    }

    fn bids_of(cfg: &NexmarkConfig, n: u64) -> Vec<Bid> {
        input_of(cfg, n)
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    fn check(query: &str, got: Vec<(Vec<String>, bool)>, mut want: Vec<String>) {
        want.sort();
        assert!(want.len() > 20, "{query}: {} rows", want.len());
        for (i, (lines, _)) in got.iter().enumerate() {
            assert!(
                *lines == want,
                "{query} run {i}: {} lines, want {}; first differing: {:?} vs {:?}",
                lines.len(),
                want.len(),
                lines.iter().zip(&want).find(|(a, b)| a != b),
                want.get(lines.len())
            );
        }
    }

    #[test]
    fn q2_writes_auction_and_price_of_every_selected_bid() {
        let cfg = NexmarkConfig::default();
        let want = bids_of(&cfg, EVENTS)
            .into_iter()
            .filter(|b| b.auction % 123 == 0)
            .map(|b| format!("{},{}", b.auction, b.price))
            .collect();
        check("q2", written("q2", &cfg, EVENTS), want);
    }

    #[test]
    fn q1_writes_euro_prices_with_three_decimals() {
        let cfg = NexmarkConfig::default();
        let want = bids_of(&cfg, 2_000)
            .into_iter()
            .map(|b| {
                // 0.908 * price as DECIMAL(23, 3): exact in integers of 1/1000.
                let m = b.price * 908;
                format!(
                    "{},{},{}.{:03},{},{}",
                    b.auction,
                    b.bidder,
                    m / 1000,
                    m % 1000,
                    b.date_time,
                    b.extra
                )
            })
            .collect();
        check("q1", written("q1", &cfg, 2_000), want);
    }

    #[test]
    fn q5_writes_each_windows_most_bid_auctions() {
        let cfg = at_rate(500);
        let mut per_window: BTreeMap<i64, HashMap<u64, u64>> = BTreeMap::new();
        for b in bids_of(&cfg, EVENTS) {
            let mut start = b.date_time.div_euclid(q5::SLIDE_MS) * q5::SLIDE_MS;
            while start > b.date_time - q5::SIZE_MS {
                *per_window
                    .entry(start)
                    .or_default()
                    .entry(b.auction)
                    .or_default() += 1;
                start -= q5::SLIDE_MS;
            }
        }
        let mut want = Vec::new();
        for counts in per_window.values() {
            let max = counts.values().copied().max().unwrap_or(0);
            want.extend(
                counts
                    .iter()
                    .filter(|c| *c.1 == max)
                    .map(|(auction, num)| format!("{auction},{num}")),
            );
        }
        check("q5", written("q5", &cfg, EVENTS), want);
    }

    #[test]
    fn q18_writes_the_final_table_one_row_per_bidder_and_auction() {
        let cfg = NexmarkConfig::default();
        let mut last: BTreeMap<(u64, u64), Bid> = BTreeMap::new();
        for b in bids_of(&cfg, EVENTS) {
            let e = last.entry((b.bidder, b.auction)).or_insert(b);
            if (b.date_time, b) > (e.date_time, *e) {
                *e = b;
            }
        }
        let want = last
            .values()
            .map(|b| {
                format!(
                    "{},{},{},{},{},{},{}",
                    b.auction, b.bidder, b.price, b.channel, b.url, b.date_time, b.extra
                )
            })
            .collect();
        let got = written("q18", &cfg, EVENTS);
        check("q18", got, want);
    }

    #[test]
    fn q4_writes_one_average_per_category_sorted_by_category() {
        // The winning bid of each auction (closed within the input), averaged per category.
        let cfg = at_rate(1_000);
        let events = input_of(&cfg, EVENTS);
        let mut best: HashMap<u64, (u64, u64)> = HashMap::new();
        let auctions: HashMap<u64, crate::nexmark::Auction> = events
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) => Some((a.id, *a)),
                _ => None,
            })
            .collect();
        for e in &events {
            let Event::Bid(b) = e else { continue };
            let Some(a) = auctions.get(&b.auction) else {
                continue;
            };
            if (a.date_time..=a.expires).contains(&b.date_time) {
                let w = best.entry(a.id).or_insert((a.category, 0));
                w.1 = w.1.max(b.price);
            }
        }
        let mut per_category: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for (category, price) in best.values() {
            let s = per_category.entry(*category).or_default();
            s.0 += price;
            s.1 += 1;
        }
        let want: Vec<String> = per_category
            .iter()
            .map(|(c, (sum, n))| format!("{c},{}", sum / n))
            .collect();
        let got = written("q4", &cfg, EVENTS);
        assert!(got.iter().all(|(_, sorted)| *sorted), "q4: sorted by key");
        for (i, (lines, _)) in got.iter().enumerate() {
            assert_eq!(*lines, want, "q4 run {i}");
        }
    }
}
