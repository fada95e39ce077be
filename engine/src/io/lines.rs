//! A text file read as lines, split across shards by byte range.
//!
//! Split `s` of `n` covers bytes `[s·len/n, (s+1)·len/n)` and owns every line that *starts*
//! in that range: it skips the partial line at its start (unless it starts at 0 or right
//! after a newline) and reads past its end to finish its last line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::SpateError;
use crate::operators::source::{Source, SourceOutput, SourceSplit, SourceStatus};

/// Lines of a file, each turned into a record by `make(line_number, line)` (1-based line
/// numbers; counted only when `numbered`, which costs one scan of the bytes before the split).
pub(crate) struct LinesSource<F> {
    path: PathBuf,
    numbered: bool,
    make: F,
}

impl<F> LinesSource<F> {
    pub(crate) fn new(path: &Path, numbered: bool, make: F) -> Self {
        LinesSource {
            path: path.to_path_buf(),
            numbered,
            make,
        }
    }
}

struct LinesSplit<F> {
    path: PathBuf,
    reader: BufReader<File>,
    pos: u64,
    end: u64,
    line: u64,
    numbered: bool,
    buf: Vec<u8>,
    make: F,
}

/// Newlines in the first `len` bytes of `path`.
fn count_newlines(path: &Path, len: u64) -> std::io::Result<u64> {
    let mut r = BufReader::with_capacity(64 * 1024, File::open(path)?.take(len));
    let mut n = 0u64;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(n);
        }
        n += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        let l = chunk.len();
        r.consume(l);
    }
}

impl<T, F> Source<T> for LinesSource<F>
where
    T: Send + 'static,
    F: Fn(u64, String) -> T + Clone + Send + 'static,
{
    fn split(
        &mut self,
        shard: usize,
        shards: usize,
    ) -> Result<Box<dyn SourceSplit<T>>, SpateError> {
        let io = |e| SpateError::io(&self.path, e);
        let mut file = File::open(&self.path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let start = len * shard as u64 / shards as u64;
        let end = len * (shard as u64 + 1) / shards as u64;
        let mut pos = start;
        if start > 0 {
            file.seek(SeekFrom::Start(start - 1)).map_err(io)?;
        }
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        if start > 0 {
            // Skip to just past the first newline at or after `start - 1`.
            let mut skipped = Vec::new();
            let n = reader.read_until(b'\n', &mut skipped).map_err(io)? as u64;
            pos = start - 1 + n;
        }
        let line = if self.numbered && pos < end {
            count_newlines(&self.path, pos).map_err(io)?
        } else {
            0
        };
        Ok(Box::new(LinesSplit {
            path: self.path.clone(),
            reader,
            pos,
            end,
            line,
            numbered: self.numbered,
            buf: Vec::new(),
            make: self.make.clone(),
        }))
    }

    /// Split `s` of `n` is a byte range of the file (which must not change while the job
    /// and its restores run).
    fn splits_are_stable(&self) -> bool {
        true
    }
}

impl<T, F> SourceSplit<T> for LinesSplit<F>
where
    T: Send + 'static,
    F: Fn(u64, String) -> T + Send + 'static,
{
    fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// The byte position of the next line.
    fn offset(&self) -> Option<u64> {
        Some(self.pos)
    }

    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        let io = |e| SpateError::io(&self.path, e);
        self.reader.seek(SeekFrom::Start(offset)).map_err(io)?;
        self.pos = offset;
        if self.numbered {
            self.line = count_newlines(&self.path, offset).map_err(io)?;
        }
        Ok(())
    }

    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus, SpateError> {
        while out.remaining() > 0 {
            if self.pos >= self.end {
                return Ok(SourceStatus::Done);
            }
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| SpateError::io(&self.path, e))?;
            if n == 0 {
                return Ok(SourceStatus::Done);
            }
            self.pos += n as u64;
            let mut line: &[u8] = &self.buf;
            if let Some(l) = line.strip_suffix(b"\n") {
                line = l;
            }
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            self.line += 1;
            out.emit((self.make)(
                self.line,
                String::from_utf8_lossy(line).into_owned(),
            ));
        }
        Ok(SourceStatus::More)
    }
}
