//! The manifest: what makes a checkpoint complete. A small line-oriented text file (easy to
//! read when debugging a recovery) whose last line is the CRC-32 of the lines before it.
//!
//! ```text
//! spate-manifest 2
//! kind checkpoint
//! epoch 12
//! finished 0
//! shards 2
//! max_parallelism 128
//! operator 3 counter keyed_process@examples/crash_job.rs:40:10
//! source 0 2 1 5210
//! file n3-s0.snap 4096 9c0f1a2b
//! crc 1d2e3f40
//! ```
//! `operator NODE UID NAME` names an operator by its position in the job that wrote the
//! manifest and by its stable id (what a restore matches); `source NODE SPLITS SPLIT OFFSET`
//! is the position of split `SPLIT` of the source's `SPLITS`; `file NAME SIZE CRC` a snapshot
//! file of the checkpoint's directory. `finished 1` marks the checkpoint taken when the job
//! ended: restoring it replays nothing. `kind` is `checkpoint` or `savepoint`; the first
//! line carries the format version, checked before anything else.

use super::crc::crc32;

/// The format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 2;

/// What wrote a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Kind {
    /// A periodic checkpoint (deleted by retention).
    #[default]
    Checkpoint,
    /// A savepoint (kept until the user deletes it).
    Savepoint,
}

/// An operator as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OperatorEntry {
    /// Position in the job graph that wrote the manifest (names its snapshot files).
    pub(crate) node: usize,
    /// Stable id (`DataStream::uid`, or derived from the graph).
    pub(crate) uid: String,
    pub(crate) name: String,
}

/// A source split's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceEntry {
    pub(crate) node: usize,
    /// How many splits the source has.
    pub(crate) splits: usize,
    pub(crate) split: usize,
    pub(crate) offset: u64,
}

/// A snapshot file as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileEntry {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) crc: u32,
}

/// Everything a complete checkpoint records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Manifest {
    pub(crate) kind: Kind,
    pub(crate) epoch: u64,
    pub(crate) finished: bool,
    pub(crate) shards: usize,
    pub(crate) max_parallelism: usize,
    /// Every operator of the job.
    pub(crate) operators: Vec<OperatorEntry>,
    /// Every source split's offset.
    pub(crate) sources: Vec<SourceEntry>,
    pub(crate) files: Vec<FileEntry>,
}

impl Manifest {
    /// The manifest's text, checksum line included.
    pub(crate) fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "spate-manifest {FORMAT_VERSION}");
        let kind = match self.kind {
            Kind::Checkpoint => "checkpoint",
            Kind::Savepoint => "savepoint",
        };
        let _ = writeln!(s, "kind {kind}");
        let _ = writeln!(s, "epoch {}", self.epoch);
        let _ = writeln!(s, "finished {}", self.finished as u8);
        let _ = writeln!(s, "shards {}", self.shards);
        let _ = writeln!(s, "max_parallelism {}", self.max_parallelism);
        for o in &self.operators {
            let _ = writeln!(
                s,
                "operator {} {} {}",
                o.node,
                o.uid,
                o.name.replace('\n', " ")
            );
        }
        for e in &self.sources {
            let _ = writeln!(s, "source {} {} {} {}", e.node, e.splits, e.split, e.offset);
        }
        for f in &self.files {
            let _ = writeln!(s, "file {} {} {:08x}", f.name, f.size, f.crc);
        }
        let c = crc32(s.as_bytes());
        let _ = writeln!(s, "crc {c:08x}");
        s
    }

    /// Parses and checks a manifest.
    pub(crate) fn parse(text: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(text).map_err(|_| "manifest is not UTF-8".to_string())?;
        // The version first: a manifest of another version may differ in everything else.
        if let Some(v) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("spate-manifest "))
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            if v != FORMAT_VERSION {
                return Err(format!(
                    "manifest format version {v} is not supported: this build of Spate reads \
                     version {FORMAT_VERSION}"
                ));
            }
        }
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .ok_or("manifest truncated")?;
        let (body, last) = text.split_at(body_end);
        let stored = last
            .strip_prefix("crc ")
            .map(|s| s.trim_end_matches('\n'))
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or("manifest has no checksum line (truncated?)")?;
        if !last.ends_with('\n') {
            return Err("manifest truncated in its checksum line".into());
        }
        let actual = crc32(body.as_bytes());
        if stored != actual {
            return Err(format!(
                "manifest checksum mismatch (stored {stored:08x}, computed {actual:08x})"
            ));
        }
        let mut lines = body.lines();
        if lines.next() != Some(&format!("spate-manifest {FORMAT_VERSION}")[..]) {
            return Err("not a Spate manifest".into());
        }
        let mut m = Manifest::default();
        let bad = |l: &str| format!("malformed manifest line '{l}'");
        for line in lines {
            let mut parts = line.splitn(2, ' ');
            let (kw, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let nums = |n: usize| -> Result<Vec<u64>, String> {
                let v: Vec<u64> = rest
                    .split(' ')
                    .map(|x| x.parse::<u64>().map_err(|_| bad(line)))
                    .collect::<Result<_, _>>()?;
                if v.len() == n {
                    Ok(v)
                } else {
                    Err(bad(line))
                }
            };
            match kw {
                "kind" => {
                    m.kind = match rest {
                        "checkpoint" => Kind::Checkpoint,
                        "savepoint" => Kind::Savepoint,
                        _ => return Err(bad(line)),
                    }
                }
                "epoch" => m.epoch = nums(1)?[0],
                "finished" => m.finished = nums(1)?[0] == 1,
                "shards" => m.shards = nums(1)?[0] as usize,
                "max_parallelism" => m.max_parallelism = nums(1)?[0] as usize,
                "operator" => {
                    let mut f = rest.splitn(3, ' ');
                    let (id, uid, name) = match (f.next(), f.next(), f.next()) {
                        (Some(i), Some(u), Some(n)) if !u.is_empty() => (i, u, n),
                        _ => return Err(bad(line)),
                    };
                    m.operators.push(OperatorEntry {
                        node: id.parse().map_err(|_| bad(line))?,
                        uid: uid.to_string(),
                        name: name.to_string(),
                    });
                }
                "source" => {
                    let v = nums(4)?;
                    m.sources.push(SourceEntry {
                        node: v[0] as usize,
                        splits: v[1] as usize,
                        split: v[2] as usize,
                        offset: v[3],
                    });
                }
                "file" => {
                    let f: Vec<&str> = rest.split(' ').collect();
                    if f.len() != 3 {
                        return Err(bad(line));
                    }
                    m.files.push(FileEntry {
                        name: f[0].to_string(),
                        size: f[1].parse().map_err(|_| bad(line))?,
                        crc: u32::from_str_radix(f[2], 16).map_err(|_| bad(line))?,
                    });
                }
                _ => return Err(bad(line)),
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            kind: Kind::Savepoint,
            epoch: 12,
            finished: false,
            shards: 2,
            max_parallelism: 128,
            operators: vec![
                OperatorEntry {
                    node: 0,
                    uid: "src".into(),
                    name: "generate@a.rs:1:1".into(),
                },
                OperatorEntry {
                    node: 3,
                    uid: "auto-00ff".into(),
                    name: "keyed process".into(),
                },
            ],
            sources: vec![
                SourceEntry {
                    node: 0,
                    splits: 2,
                    split: 0,
                    offset: 5,
                },
                SourceEntry {
                    node: 0,
                    splits: 2,
                    split: 1,
                    offset: 7,
                },
            ],
            files: vec![FileEntry {
                name: "n3-s0.snap".into(),
                size: 40,
                crc: 0xdead_beef,
            }],
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(Manifest::parse(m.render().as_bytes()).unwrap(), m);
    }

    #[test]
    fn an_unknown_format_version_is_named() {
        let text = sample()
            .render()
            .replacen("spate-manifest 2", "spate-manifest 9", 1);
        let e = Manifest::parse(text.as_bytes()).unwrap_err();
        assert!(e.contains("format version 9"), "{e}");
        assert!(e.contains("reads version 2"), "{e}");
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_detected() {
        let good = sample().render().into_bytes();
        for cut in 0..good.len() {
            assert!(Manifest::parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(Manifest::parse(&bad).is_err(), "flipped byte {i}");
        }
    }
}
