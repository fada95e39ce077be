//! Sources and sinks: collections, generators, text files, CSV, and the traits for more.
//!
//! File I/O here uses blocking `std::fs` reads and writes from the shard's thread, which is
//! fine for page-cache-resident files; the io_uring (glommio `DmaFile`) path belongs with
//! checkpoint snapshots, where writes must not stall the data path.

mod lines;
mod sinks;
mod sources;
mod transactional;

pub use crate::operators::sink::Sink;
pub use crate::operators::source::{Source, SourceOutput, SourceSplit, SourceStatus};
pub(crate) use lines::LinesSource;
pub use sinks::{write_csv_field, Collected, CsvRow};
pub(crate) use sinks::{CollectSink, CsvSink, LinesSink, PrintSink, StdoutLines};
pub use sources::GenerateSource;
pub(crate) use sources::IterSource;
pub(crate) use transactional::{publish_staged, TxnLinesSink};
