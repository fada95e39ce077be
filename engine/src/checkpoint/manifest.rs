//! The manifest: what makes a checkpoint complete. A small line-oriented text file (easy to
//! read when debugging a recovery) whose last line is the CRC-32 of the lines before it.
//!
//! ```text
//! spate-manifest 1
//! epoch 12
//! finished 0
//! shards 2
//! max_parallelism 128
//! operator 3 keyed_process@examples/crash_job.rs:40:10
//! source 0 1 5210
//! file n3-s0.snap 4096 9c0f1a2b
//! crc 1d2e3f40
//! ```
//! `source NODE SHARD OFFSET` is a source split's position; `file NAME SIZE CRC` a snapshot
//! file of the checkpoint's directory. `finished 1` marks the checkpoint taken when the job
//! ended: restoring it replays nothing.

use super::crc::crc32;

/// The manifest's first line.
const FIRST: &str = "spate-manifest 1";

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
    pub(crate) epoch: u64,
    pub(crate) finished: bool,
    pub(crate) shards: usize,
    pub(crate) max_parallelism: usize,
    /// `(node id, name)` of every operator in the job.
    pub(crate) operators: Vec<(usize, String)>,
    /// `(source node, shard, offset)`.
    pub(crate) sources: Vec<(usize, usize, u64)>,
    pub(crate) files: Vec<FileEntry>,
}

impl Manifest {
    /// The manifest's text, checksum line included.
    pub(crate) fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{FIRST}");
        let _ = writeln!(s, "epoch {}", self.epoch);
        let _ = writeln!(s, "finished {}", self.finished as u8);
        let _ = writeln!(s, "shards {}", self.shards);
        let _ = writeln!(s, "max_parallelism {}", self.max_parallelism);
        for (id, name) in &self.operators {
            let _ = writeln!(s, "operator {id} {}", name.replace('\n', " "));
        }
        for (node, shard, off) in &self.sources {
            let _ = writeln!(s, "source {node} {shard} {off}");
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
        if lines.next() != Some(FIRST) {
            return Err("not a Spate manifest of format 1".into());
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
                "epoch" => m.epoch = nums(1)?[0],
                "finished" => m.finished = nums(1)?[0] == 1,
                "shards" => m.shards = nums(1)?[0] as usize,
                "max_parallelism" => m.max_parallelism = nums(1)?[0] as usize,
                "operator" => {
                    let (id, name) = rest.split_once(' ').ok_or_else(|| bad(line))?;
                    m.operators
                        .push((id.parse().map_err(|_| bad(line))?, name.to_string()));
                }
                "source" => {
                    let v = nums(3)?;
                    m.sources.push((v[0] as usize, v[1] as usize, v[2]));
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
            epoch: 12,
            finished: false,
            shards: 2,
            max_parallelism: 128,
            operators: vec![(0, "generate@a.rs:1:1".into()), (3, "keyed process".into())],
            sources: vec![(0, 0, 5), (0, 1, 7)],
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
