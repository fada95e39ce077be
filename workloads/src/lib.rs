//! Reusable Spate jobs: the workloads the benchmarks and examples run.
//!
//! Each workload is a module with its generator, its jobs, and reference models in its
//! tests. Here now: [`nexmark`] (the model, the generator, its sources, and the queries
//! q0–q22 as Spate jobs) and [`fraud`] (the walkthrough rule and a generator with planted
//! fraud). Planned: clickstream sessions, IoT aggregation, leaderboards. The engine
//! (`spate`) never depends on this crate.

/// The engine this crate's jobs are built with, re-exported so users of a workload need one
/// dependency.
pub use spate;

pub mod fraud;
pub mod nexmark;
