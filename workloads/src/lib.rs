//! Reusable Spate jobs: the workloads the benchmarks and examples run.
//!
//! Planned here, each in its own module with a generator, the job, and a reference model in
//! its tests: Nexmark (generator and queries q0–q22), fraud detection, clickstream sessions,
//! IoT aggregation, leaderboards. The engine (`spate`) never depends on this crate.

/// The engine this crate's jobs are built with, re-exported so users of a workload need one
/// dependency.
pub use spate;
