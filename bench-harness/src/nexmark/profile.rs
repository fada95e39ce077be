//! `--flamegraph FILE.svg`: samples the process while a query runs (pprof's SIGPROF timer,
//! no hardware counters needed) and writes a flame graph, plus the functions most often on
//! top of the stack to `FILE.top.txt`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Samples per second of CPU time, per thread (odd, so it does not beat with a timer).
pub(super) const HZ: i32 = 999;

/// Functions listed in the top file.
const TOP: usize = 25;

/// A running profile: sampling stops when it is written.
pub(super) struct Profile {
    guard: pprof::ProfilerGuard<'static>,
    svg: PathBuf,
}

impl Profile {
    /// Starts sampling every thread of the process.
    pub(super) fn start(svg: &Path) -> anyhow::Result<Self> {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(HZ)
            // Unwinding from inside these can deadlock (pprof's advice).
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .context("cannot start the profiler")?;
        Ok(Profile {
            guard,
            svg: svg.to_path_buf(),
        })
    }

    /// Writes the flame graph and the top functions; returns the top list as text.
    pub(super) fn write(self, title: &str) -> anyhow::Result<String> {
        let report = self
            .guard
            .report()
            .build()
            .context("cannot build the profile")?;
        drop(self.guard);
        if let Some(dir) = self.svg.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = File::create(&self.svg)
            .with_context(|| format!("cannot create {}", self.svg.display()))?;
        let mut options = pprof::flamegraph::Options::default();
        options.title = title.to_string();
        report
            .flamegraph_with_options(file, &mut options)
            .with_context(|| format!("cannot write {}", self.svg.display()))?;
        let text = top(&report, title);
        let top_path = self.svg.with_extension("top.txt");
        std::fs::write(&top_path, &text)
            .with_context(|| format!("cannot write {}", top_path.display()))?;
        Ok(text)
    }
}

/// A symbol's demangled name without its hash suffix.
fn clean(name: &str) -> &str {
    match name.rfind("::h") {
        Some(i) if name.len() - i == 19 && name[i + 3..].bytes().all(|b| b.is_ascii_hexdigit()) => {
            &name[..i]
        }
        _ => name,
    }
}

/// The functions with the most samples on top of the stack (self) and anywhere on it
/// (total), as percentages of all samples.
fn top(report: &pprof::Report, title: &str) -> String {
    let mut self_n: HashMap<String, isize> = HashMap::new();
    let mut own_n: HashMap<String, isize> = HashMap::new();
    let mut total_n: HashMap<String, isize> = HashMap::new();
    let mut all = 0isize;
    for (frames, &n) in &report.data {
        all += n;
        // frames[0] is the innermost frame; each frame lists its inlined functions,
        // innermost first.
        if let Some(sym) = frames.frames.first().and_then(|f| f.first()) {
            *self_n.entry(clean(&sym.name()).to_string()).or_default() += n;
        }
        // The innermost Spate function: where std's and hashbrown's inlined helpers are
        // charged to their caller.
        let own = frames
            .frames
            .iter()
            .flatten()
            .map(|s| s.name())
            .find(|n| n.starts_with("spate") || n.starts_with("<spate"));
        *own_n
            .entry(own.map_or_else(|| "(outside Spate)".to_string(), |n| clean(&n).to_string()))
            .or_default() += n;
        let mut seen: Vec<String> = Vec::new();
        for sym in frames.frames.iter().flatten() {
            let name = clean(&sym.name()).to_string();
            if !seen.contains(&name) {
                *total_n.entry(name.clone()).or_default() += n;
                seen.push(name);
            }
        }
    }
    let pct = |n: isize| 100.0 * n as f64 / all.max(1) as f64;
    let mut out = format!("{title}\n{all} samples at {HZ} Hz per thread\n\nself %  function\n");
    let mut rows: Vec<(String, isize)> = self_n.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (name, n) in rows.iter().take(TOP) {
        let _ = writeln!(out, "{:6.1}  {name}", pct(*n));
    }
    out.push_str("\nself %  innermost Spate function (std and library code charged to it)\n");
    let mut rows: Vec<(String, isize)> = own_n.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (name, n) in rows.iter().take(TOP) {
        let name: String = name.chars().take(160).collect();
        let _ = writeln!(out, "{:6.1}  {name}", pct(*n));
    }
    out.push_str(
        "\ntotal %  function on the stack (frames on 95 % or more of them, threads and executor, left out)\n",
    );
    let mut rows: Vec<(String, isize)> = total_n
        .into_iter()
        .filter(|(_, n)| pct(*n) < 95.0)
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (name, n) in rows.iter().take(TOP * 2) {
        let name: String = name.chars().take(160).collect();
        let _ = writeln!(out, "{:7.1}  {name}", pct(*n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_the_hash_suffix_only() {
        assert_eq!(clean("spate::a::b::h0123456789abcdef"), "spate::a::b");
        assert_eq!(clean("spate::a::hash"), "spate::a::hash");
        assert_eq!(clean("x"), "x");
    }

    #[test]
    fn a_profile_writes_an_svg_and_counts_its_samples() {
        let dir = std::env::temp_dir().join(format!("spate-prof-{}", std::process::id()));
        let svg = dir.join("busy.svg");
        let p = Profile::start(&svg).expect("starts");
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while t0.elapsed().as_millis() < 300 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let text = p.write("busy").expect("written");
        let svg_text = std::fs::read_to_string(&svg).expect("an SVG");
        assert!(svg_text.contains("<svg"), "an SVG file");
        let samples: u64 = text
            .lines()
            .nth(1)
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(samples > 10, "{text}");
        assert!(dir.join("busy.top.txt").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
