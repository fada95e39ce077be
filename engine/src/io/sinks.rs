//! Built-in sinks: collect for the caller, print, text lines and CSV files.

use std::fmt::{Debug, Display, Write as _};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::UserError;
use crate::operators::sink::Sink;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere fails the job anyway; the data under the lock stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The records a [`collect`](crate::api::DataStream::collect) sink gathered, shared with
/// the caller. Read it after `execute` returns.
#[derive(Debug)]
pub struct Collected<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T> Clone for Collected<T> {
    fn clone(&self) -> Self {
        Collected {
            items: self.items.clone(),
        }
    }
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Collected<T> {
    /// An empty handle.
    pub fn new() -> Self {
        Collected {
            items: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Takes the records gathered so far (in arrival order per shard, shards interleaved).
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *lock(&self.items))
    }

    /// Takes the records gathered so far, sorted: the usual way to compare with a model.
    pub fn sorted(&self) -> Vec<T>
    where
        T: Ord,
    {
        let mut v = self.take();
        v.sort();
        v
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    /// `true` when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Buffers a shard's records per batch and appends them under one lock per batch.
pub(crate) struct CollectSink<T> {
    shared: Arc<Mutex<Vec<T>>>,
    local: Vec<T>,
}

impl<T> Clone for CollectSink<T> {
    fn clone(&self) -> Self {
        CollectSink {
            shared: self.shared.clone(),
            local: Vec::new(),
        }
    }
}

impl<T> CollectSink<T> {
    pub(crate) fn new(c: &Collected<T>) -> Self {
        CollectSink {
            shared: c.items.clone(),
            local: Vec::new(),
        }
    }
}

impl<T: Send + 'static> Sink<T> for CollectSink<T> {
    #[inline]
    fn write(&mut self, value: T, _ts: Option<i64>) -> Result<(), UserError> {
        self.local.push(value);
        Ok(())
    }
    fn end_of_batch(&mut self) -> Result<(), UserError> {
        lock(&self.shared).append(&mut self.local);
        Ok(())
    }
}

/// Prints `Debug` forms, one line per record, one stdout lock per batch.
#[derive(Clone, Default)]
pub(crate) struct PrintSink {
    prefix: String,
    buf: String,
}

impl<T: Debug> Sink<T> for PrintSink {
    fn open(&mut self, shard: usize, shards: usize) -> Result<(), UserError> {
        if shards > 1 {
            self.prefix = format!("{}> ", shard + 1);
        }
        Ok(())
    }
    fn write(&mut self, value: T, _ts: Option<i64>) -> Result<(), UserError> {
        writeln!(self.buf, "{}{:?}", self.prefix, value)?;
        Ok(())
    }
    fn end_of_batch(&mut self) -> Result<(), UserError> {
        std::io::stdout().lock().write_all(self.buf.as_bytes())?;
        self.buf.clear();
        Ok(())
    }
}

/// Writes `Display` forms as lines to standard output, one lock per batch.
#[derive(Clone, Default)]
pub(crate) struct StdoutLines {
    buf: String,
}

impl<T: Display> Sink<T> for StdoutLines {
    fn write(&mut self, value: T, _ts: Option<i64>) -> Result<(), UserError> {
        writeln!(self.buf, "{value}")?;
        Ok(())
    }
    fn end_of_batch(&mut self) -> Result<(), UserError> {
        std::io::stdout().lock().write_all(self.buf.as_bytes())?;
        self.buf.clear();
        Ok(())
    }
}

/// One output file shared by every shard's sink, created by the first to open it.
#[derive(Clone)]
pub(crate) struct SharedFile {
    path: PathBuf,
    file: Arc<Mutex<Option<BufWriter<File>>>>,
}

impl SharedFile {
    fn new(path: &Path) -> Self {
        SharedFile {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(None)),
        }
    }

    fn open(&self) -> Result<(), UserError> {
        let mut f = lock(&self.file);
        if f.is_none() {
            let file = File::create(&self.path)
                .map_err(|e| format!("cannot create {}: {e}", self.path.display()))?;
            *f = Some(BufWriter::with_capacity(256 * 1024, file));
        }
        Ok(())
    }

    fn write(&self, bytes: &[u8]) -> Result<(), UserError> {
        if let Some(w) = lock(&self.file).as_mut() {
            w.write_all(bytes)
                .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), UserError> {
        if let Some(w) = lock(&self.file).as_mut() {
            w.flush()
                .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        }
        Ok(())
    }
}

/// Writes `Display` forms as lines of one file.
#[derive(Clone)]
pub(crate) struct LinesSink {
    file: SharedFile,
    buf: String,
}

impl LinesSink {
    pub(crate) fn new(path: &Path) -> Self {
        LinesSink {
            file: SharedFile::new(path),
            buf: String::new(),
        }
    }
}

impl<T: Display> Sink<T> for LinesSink {
    fn open(&mut self, _shard: usize, _shards: usize) -> Result<(), UserError> {
        self.file.open()
    }
    #[inline]
    fn write(&mut self, value: T, _ts: Option<i64>) -> Result<(), UserError> {
        writeln!(self.buf, "{value}")?;
        Ok(())
    }
    fn end_of_batch(&mut self) -> Result<(), UserError> {
        self.file.write(self.buf.as_bytes())?;
        self.buf.clear();
        Ok(())
    }
    fn finish(&mut self) -> Result<(), UserError> {
        self.file.flush()
    }
}

/// A record that can be written as one CSV line.
///
/// Implemented for tuples of up to eight `Display` fields.
///
/// # Examples
///
/// ```
/// use spate::io::CsvRow;
/// let mut line = String::new();
/// ("a,b", 3, "say \"hi\"").write_csv(&mut line);
/// assert_eq!(line, "\"a,b\",3,\"say \"\"hi\"\"\"");
/// ```
pub trait CsvRow {
    /// Appends the record's fields, comma-separated and quoted where needed (no newline).
    fn write_csv(&self, out: &mut String);
}

/// Appends one CSV field, quoting it when it holds a comma, quote or line break.
pub fn write_csv_field(out: &mut String, field: &dyn Display) {
    let start = out.len();
    let _ = write!(out, "{field}");
    if out[start..].contains([',', '"', '\n', '\r']) {
        let raw = out.split_off(start);
        out.push('"');
        out.push_str(&raw.replace('"', "\"\""));
        out.push('"');
    }
}

macro_rules! csv_tuple {
    ($($n:tt $t:ident),+) => {
        impl<$($t: Display),+> CsvRow for ($($t,)+) {
            fn write_csv(&self, out: &mut String) {
                let mut first = true;
                $(
                    if !first { out.push(','); }
                    first = false;
                    write_csv_field(out, &self.$n);
                )+
                let _ = first;
            }
        }
    };
}
csv_tuple!(0 A);
csv_tuple!(0 A, 1 B);
csv_tuple!(0 A, 1 B, 2 C);
csv_tuple!(0 A, 1 B, 2 C, 3 D);
csv_tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
csv_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
csv_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
csv_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);

/// Writes records as CSV lines of one file.
#[derive(Clone)]
pub(crate) struct CsvSink {
    file: SharedFile,
    buf: String,
}

impl CsvSink {
    pub(crate) fn new(path: &Path) -> Self {
        CsvSink {
            file: SharedFile::new(path),
            buf: String::new(),
        }
    }
}

impl<T: CsvRow> Sink<T> for CsvSink {
    fn open(&mut self, _shard: usize, _shards: usize) -> Result<(), UserError> {
        self.file.open()
    }
    #[inline]
    fn write(&mut self, value: T, _ts: Option<i64>) -> Result<(), UserError> {
        value.write_csv(&mut self.buf);
        self.buf.push('\n');
        Ok(())
    }
    fn end_of_batch(&mut self) -> Result<(), UserError> {
        self.file.write(self.buf.as_bytes())?;
        self.buf.clear();
        Ok(())
    }
    fn finish(&mut self) -> Result<(), UserError> {
        self.file.flush()
    }
}
