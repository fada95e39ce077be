//! # spate-bench
//!
//! The Spate benchmark harness: the jobs it measures, and how it measures them.
//!
//! ```text
//!   spate-bench (binary)     CLI: keyed-count | chain | window | report
//!     │   runs R repeats of
//!   jobs, windows            the measured pipelines + a counting sink
//!     │   each wrapped by
//!   measure                  wall time, CPU seconds (getrusage), peak RSS (VmHWM)
//!     │   recorded with
//!   meta                     git revision, cores, CPU model, rustc, UTC date
//!     ▼
//!   results/runs.jsonl  ──report──▶  results/foundation.md
//! ```
//!
//! The criterion benches in `benches/` build the same pipelines from [`jobs`], so a number
//! in `results/` and a criterion throughput describe the same code.
//!
//! Timings never live in tests: the tests here check the jobs' outputs and the
//! bookkeeping, not speed.

pub mod jobs;
pub mod measure;
pub mod meta;
pub mod windows;
