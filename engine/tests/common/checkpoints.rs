//! Helpers of the checkpoint tests: finding a complete checkpoint and reading what the
//! exactly-once sink published.

use std::path::Path;

/// Whether `dir` holds a complete checkpoint (an epoch directory with its manifest).
pub fn has_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.path().join("_manifest").is_file())
        })
        .unwrap_or(false)
}

/// Every line published in `out`, sorted.
pub fn published(out: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

/// Fails with a few missing and unexpected lines when `got` differs from `want`.
pub fn assert_same(got: &[String], want: &[String], what: &str) {
    if got != want {
        let missing: Vec<_> = want.iter().filter(|l| !got.contains(l)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|l| !want.contains(l)).take(5).collect();
        panic!(
            "{what}: {} lines, expected {}; missing e.g. {missing:?}, unexpected e.g. {extra:?}",
            got.len(),
            want.len()
        );
    }
}
