//! Query 13, bounded side input join: every bid enriched with the value a side input file
//! holds for its auction id modulo 10,000 (basic stream enrichment).
//!
//! ```sql
//! CREATE TABLE side_input (key BIGINT, `value` VARCHAR)
//!   WITH ('connector.type' = 'filesystem', 'connector.path' = '…/side_input.txt', 'format.type' = 'csv');
//!
//! SELECT B.auction, B.bidder, B.price, B.dateTime, S.`value`
//! FROM (SELECT *, PROCTIME() as p_time FROM bid) B
//! JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S
//! ON mod(B.auction, 10000) = S.key;
//! ```
//!
//! The side input is a CSV file of `key,value` lines ([`write_side_input`] makes one, as
//! the harness does). Each shard reads it into a table when its first bid arrives (the
//! file is small and bounded; every shard needs all of it, so there is no exchange) and
//! looks each bid's key up there: an inner join, so a bid whose key the file lacks is
//! dropped. Values are held as [`PoolStr`] handles (interned once), so a result holds no
//! allocation.
//!
//! Deviation: the file is read once per run, not re-read as of each bid's processing time
//! (the reference's temporal join re-reads it when it changes).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use spate::prelude::*;

use super::{bids, Query, QueryClass};
use crate::nexmark::{Bid, Event, PoolStr};

/// q13 in the registry.
pub const QUERY: Query = Query {
    name: "q13",
    about: "bounded side input join: bids ⋈ side_input on auction % 10000",
    class: QueryClass::Other,
    build: |events, cx| cx.append(&q13(events, &cx.side_input), "q13", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, dateTime, value.
pub fn write_row(r: &Enriched, out: &mut String) {
    super::output::csv_fields(
        out,
        &[&r.auction, &r.bidder, &r.price, &r.date_time, &r.value],
    );
}

/// The side input's keys are auction ids modulo this.
pub const KEYS: u64 = 10_000;

/// A bid with the side input's value for its auction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Enriched {
    /// The auction's id.
    pub auction: u64,
    /// The bidder's person id.
    pub bidder: u64,
    /// The price, in cents.
    pub price: u64,
    /// When the bid was placed (epoch ms).
    pub date_time: i64,
    /// The side input's value for `auction % 10000`.
    pub value: PoolStr,
}

/// Writes a side input for q13 to `path`: `key,value` for keys `0..keys`, each value a
/// short string derived from its key.
///
/// # Examples
///
/// ```
/// use spate_workloads::nexmark::queries::q13::write_side_input;
/// let path = std::env::temp_dir().join(format!("spate-side-doc-{}.csv", std::process::id()));
/// write_side_input(&path, 3).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "0,side-0\n1,side-1\n2,side-2\n");
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn write_side_input(path: &Path, keys: u64) -> std::io::Result<()> {
    let mut text = String::with_capacity(keys as usize * 16);
    for k in 0..keys {
        let _ = writeln!(text, "{k},side-{k}");
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

/// Reads a side input: `key,value` lines (the value is the rest of the line, its quotes
/// removed if it is quoted), into a table by key.
pub fn read_side_input(path: &Path) -> Result<Vec<Option<PoolStr>>, SpateError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: usize, message: String| SpateError::BadInput {
        source_name: path.display().to_string(),
        position: format!("line {line}"),
        message,
    };
    let mut table: Vec<Option<PoolStr>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(',') else {
            return Err(bad(i + 1, "expected key,value".into()));
        };
        let key: usize = key
            .trim()
            .parse()
            .map_err(|e| bad(i + 1, format!("key {key:?}: {e}")))?;
        if key >= KEYS as usize {
            // No bid's key reaches it.
            continue;
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .map_or_else(|| value.to_string(), |v| v.replace("\"\"", "\""));
        let handle = PoolStr::from_text(&value)
            .ok_or_else(|| bad(i + 1, "too many distinct strings to intern".into()))?;
        if table.len() <= key {
            table.resize(key + 1, None);
        }
        table[key] = Some(handle);
    }
    Ok(table)
}

/// Every bid whose `auction % 10000` the side input at `side_input` has a value for, with
/// that value.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q13::{q13, write_side_input};
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let side = std::env::temp_dir().join(format!("spate-q13-doc-{}.csv", std::process::id()));
/// write_side_input(&side, 10_000).unwrap();
/// let env = Env::new().shards(2);
/// let source = NexmarkSource::new(NexmarkConfig::default()).unwrap().events(Some(1_000));
/// let out = q13(&env.add_source("nexmark", source), &side).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert_eq!(rows.len(), 920);
/// assert!(rows.iter().all(|r| r.value.as_str() == format!("side-{}", r.auction % 10_000)));
/// std::fs::remove_file(&side).unwrap();
/// ```
#[track_caller]
pub fn q13(events: &DataStream<Event>, side_input: &Path) -> DataStream<Enriched> {
    bids(events).process(Lookup {
        path: side_input.to_path_buf(),
        table: None,
    })
}

#[derive(Clone)]
struct Lookup {
    path: PathBuf,
    table: Option<Vec<Option<PoolStr>>>,
}

impl ProcessFunction<Bid, Enriched> for Lookup {
    fn state(&mut self, _reg: &mut StateRegistry<'_>) {
        // Stateless: the side input is read again when the job starts.
    }

    #[inline]
    fn process_element(
        &mut self,
        b: Bid,
        ctx: &mut ProcessContext<'_, Enriched>,
    ) -> Result<(), UserError> {
        let table = match &self.table {
            Some(t) => t,
            None => self.table.insert(read_side_input(&self.path)?),
        };
        if let Some(Some(value)) = table.get((b.auction % KEYS) as usize) {
            ctx.collect(Enriched {
                auction: b.auction,
                bidder: b.bidder,
                price: b.price,
                date_time: b.date_time,
                value: *value,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_runs, input, run_on_shards};
    use super::*;

    #[test]
    fn q13_enriches_the_bids_whose_key_the_side_input_has() {
        let path = std::env::temp_dir().join(format!("spate-q13-{}.csv", std::process::id()));
        // Every other key, values quoted on some lines.
        let mut text = String::new();
        for k in (0..KEYS).step_by(2) {
            if k % 4 == 0 {
                let _ = writeln!(text, "{k},\"v,{k}\"");
            } else {
                let _ = writeln!(text, "{k},v{k}");
            }
        }
        std::fs::write(&path, text).expect("written");
        let mut want: Vec<Enriched> = input()
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) if (b.auction % KEYS) % 2 == 0 => {
                    let k = b.auction % KEYS;
                    let v = if k % 4 == 0 {
                        format!("v,{k}")
                    } else {
                        format!("v{k}")
                    };
                    Some(Enriched {
                        auction: b.auction,
                        bidder: b.bidder,
                        price: b.price,
                        date_time: b.date_time,
                        value: PoolStr::from_text(&v).expect("interned"),
                    })
                }
                _ => None,
            })
            .collect();
        want.sort();
        let got = run_on_shards(|e| q13(e, &path));
        let _ = std::fs::remove_file(&path);
        assert!(want.len() > 1000);
        assert_runs(got, &want, "q13");
    }

    #[test]
    fn a_malformed_side_input_fails_the_job_with_its_line() {
        let path = std::env::temp_dir().join(format!("spate-q13-bad-{}.csv", std::process::id()));
        std::fs::write(&path, "0,a\nx,b\n").expect("written");
        let env = Env::new().shards(1);
        q13(&env.from_iter(super::super::testing::input()), &path).collect();
        let err = env.execute().expect_err("a bad key fails the job");
        let _ = std::fs::remove_file(&path);
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
