//! A text file read as lines, split across shards by byte range.
//!
//! Split `s` of `n` covers bytes `[s·len/n, (s+1)·len/n)` and owns every line that *starts*
//! in that range: it skips the partial line at its start (unless it starts at 0 or right
//! after a newline) and reads past its end to finish its last line.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::SpateError;
use crate::operators::source::{Source, SourceOutput, SourceSplit, SourceStatus};

pub(crate) struct LinesSource {
    path: PathBuf,
}

impl LinesSource {
    pub(crate) fn new(path: &Path) -> Self {
        LinesSource {
            path: path.to_path_buf(),
        }
    }
}

struct LinesSplit {
    path: PathBuf,
    reader: BufReader<File>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
}

impl Source<String> for LinesSource {
    fn split(
        &mut self,
        shard: usize,
        shards: usize,
    ) -> Result<Box<dyn SourceSplit<String>>, SpateError> {
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
        Ok(Box::new(LinesSplit {
            path: self.path.clone(),
            reader,
            pos,
            end,
            buf: Vec::new(),
        }))
    }
}

impl SourceSplit<String> for LinesSplit {
    fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    fn poll(&mut self, out: &mut SourceOutput<'_, String>) -> Result<SourceStatus, SpateError> {
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
            out.emit(String::from_utf8_lossy(line).into_owned());
        }
        Ok(SourceStatus::More)
    }
}
