//! One segment file: mapped writable while it is the active segment, then sealed (truncated
//! to what was written and mapped read-only; never modified again).

use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};

use crate::error::{Result, SpateError};

enum Map {
    Active(MmapMut),
    Sealed(Mmap),
    Closed,
}

/// A segment file and its mapping, with the bookkeeping the store needs.
pub(crate) struct Segment {
    /// The file name (in the store's directory).
    pub(crate) name: String,
    /// Order of creation: a later segment's records are newer.
    pub(crate) seq: u64,
    path: PathBuf,
    file: File,
    map: Map,
    /// Bytes written.
    pub(crate) len: usize,
    /// Bytes of records the index points at (plus copied-forward tombstones).
    pub(crate) live: usize,
    /// crc32 of the whole file, once sealed.
    pub(crate) crc: u32,
    /// The store may delete the file (it created it, or linked it into its own directory).
    pub(crate) owned: bool,
    /// The file's data is known to be on disk.
    pub(crate) synced: bool,
    /// The epoch of the first snapshot that listed this segment.
    pub(crate) first_epoch: Option<u64>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("seq", &self.seq)
            .field("len", &self.len)
            .field("live", &self.live)
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

/// Reserves `len` bytes of disk for `file`, so that a full disk is an error here and not a
/// `SIGBUS` when a page of the mapping is first written.
fn preallocate(file: &File, path: &Path, len: usize) -> Result<()> {
    let len_off = libc::off_t::try_from(len)
        .map_err(|_| SpateError::Config(format!("segment size {len} too large")))?;
    // SAFETY: `file` is an open file descriptor owned by this function's caller for the
    // duration of the call; posix_fallocate reads no memory of ours.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
    match rc {
        0 => Ok(()),
        // File systems without fallocate: a sparse file (a full disk then shows as SIGBUS).
        libc::EOPNOTSUPP | libc::EINVAL => file
            .set_len(len as u64)
            .map_err(|e| SpateError::io(path, e)),
        errno => Err(SpateError::io(
            path,
            std::io::Error::from_raw_os_error(errno),
        )),
    }
}

impl Segment {
    /// Creates a new, empty, writable segment of `cap` bytes. Fails if the file exists.
    pub(crate) fn create(dir: &Path, name: String, seq: u64, cap: usize) -> Result<Segment> {
        let path = dir.join(&name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| SpateError::io(&path, e))?;
        preallocate(&file, &path, cap)?;
        // SAFETY: the file was just created by us (create_new) in the store's private
        // directory; nothing else maps or truncates it while the mapping lives (the store's
        // documented contract on its directory).
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| SpateError::io(&path, e))?;
        Ok(Segment {
            name,
            seq,
            path,
            file,
            map: Map::Active(map),
            len: 0,
            live: 0,
            crc: 0,
            owned: true,
            synced: false,
            first_epoch: None,
        })
    }

    /// Opens a sealed segment that must be `expect_len` bytes long with crc32 `expect_crc`
    /// over the whole file.
    pub(crate) fn open_sealed(
        path: PathBuf,
        name: String,
        seq: u64,
        expect_len: u64,
        expect_crc: u32,
        owned: bool,
    ) -> Result<Segment> {
        let bad = |message: String| SpateError::BadInput {
            source_name: path.display().to_string(),
            position: "whole segment".into(),
            message,
        };
        let file = File::open(&path).map_err(|e| SpateError::io(&path, e))?;
        let len = file.metadata().map_err(|e| SpateError::io(&path, e))?.len();
        if len != expect_len {
            return Err(bad(format!(
                "segment is {len} bytes, its manifest says {expect_len}: truncated or overwritten"
            )));
        }
        if len == 0 {
            return Err(bad("empty segment file".into()));
        }
        // SAFETY: sealed segments are never written again; the store's directory (and the
        // checkpoint directory it restores from) are private to Spate by contract, so nothing
        // truncates or modifies the file while it is mapped.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| SpateError::io(&path, e))?;
        let crc = crc32fast::hash(&map);
        if crc != expect_crc {
            return Err(bad(format!(
                "segment checksum mismatch: file crc32 {crc:08x}, manifest {expect_crc:08x}"
            )));
        }
        Ok(Segment {
            name,
            seq,
            path,
            file,
            len: map.len(),
            map: Map::Sealed(map),
            live: 0,
            crc,
            owned,
            synced: true,
            first_epoch: None,
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The written bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.map {
            Map::Active(m) => &m[..self.len],
            Map::Sealed(m) => &m[..self.len],
            Map::Closed => &[],
        }
    }

    /// Room left for appends (0 once sealed).
    #[inline]
    pub(crate) fn room(&self) -> usize {
        match &self.map {
            Map::Active(m) => m.len() - self.len,
            _ => 0,
        }
    }

    pub(crate) fn is_sealed(&self) -> bool {
        !matches!(self.map, Map::Active(_))
    }

    /// The next `n` bytes to append into; the caller writes them all and then calls
    /// [`Segment::commit`]. `None` when there is not enough room.
    #[inline]
    pub(crate) fn reserve(&mut self, n: usize) -> Option<&mut [u8]> {
        match &mut self.map {
            Map::Active(m) if m.len() - self.len >= n => Some(&mut m[self.len..self.len + n]),
            _ => None,
        }
    }

    /// Marks `n` reserved bytes as written.
    #[inline]
    pub(crate) fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// Seals the segment: truncates the file to what was written, maps it read-only and
    /// computes its checksum. An empty segment is not sealed (returns `false`): delete it.
    pub(crate) fn seal(&mut self) -> Result<bool> {
        if self.is_sealed() {
            return Ok(true);
        }
        if self.len == 0 {
            return Ok(false);
        }
        self.map = Map::Closed;
        let path = &self.path;
        self.file
            .set_len(self.len as u64)
            .map_err(|e| SpateError::io(path, e))?;
        // SAFETY: as in `create`: our own file in the store's private directory; from now on
        // it is never written again.
        let map = unsafe { Mmap::map(&self.file) }.map_err(|e| SpateError::io(path, e))?;
        self.crc = crc32fast::hash(&map);
        self.map = Map::Sealed(map);
        Ok(true)
    }

    /// Makes the file's data durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if !self.synced {
            self.file
                .sync_data()
                .map_err(|e| SpateError::io(&self.path, e))?;
            self.synced = true;
        }
        Ok(())
    }

    /// Unmaps the segment; deletes the file when the store owns it.
    pub(crate) fn close_and_delete(mut self) -> Result<()> {
        self.map = Map::Closed;
        if self.owned {
            std::fs::remove_file(&self.path).map_err(|e| SpateError::io(&self.path, e))?;
        }
        Ok(())
    }
}
