//! Nexmark queries with checkpoints: a run that fails part-way, started again on the same
//! checkpoint folder, publishes (folded) exactly the rows an uninterrupted run writes with
//! `--output`, on 1, 2 and 3 shards.
//!
//! The failure is injected by a source wrapping the generator: each split emits about a
//! third of its events, waits (idle) until a checkpoint triggered after it paused is
//! complete (so that the checkpoint holds state and the rows before it are published),
//! emits a sixth more (records after the checkpoint, which the restarted job must replay
//! without publishing their rows twice) and fails. The second run restores the newest
//! checkpoint and finishes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use spate::prelude::*;
use spate::SpateError;
use spate_workloads::nexmark::queries::{self, output, Counter, QueryContext, ResultFile};
use spate_workloads::nexmark::{Event, NexmarkConfig, NexmarkSource};

/// Events per run: 40 s of event time at the rate below (windows of q5, q7, q8, q11).
const EVENTS: u64 = 40_000;

fn config() -> NexmarkConfig {
    NexmarkConfig {
        event_rate: 1_000,
        ..NexmarkConfig::default()
    }
}

fn source() -> NexmarkSource<Event> {
    NexmarkSource::new(config())
        .expect("valid")
        .events(Some(EVENTS))
}

/// The epoch of the newest complete checkpoint in `dir`, if any.
fn newest_checkpoint(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().join("_manifest").is_file())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok())
        .max()
}

/// The generator, failing part-way once a checkpoint is complete (see the module docs).
#[derive(Clone)]
struct FailingSource {
    inner: NexmarkSource<Event>,
    checkpoints: PathBuf,
}

struct FailingSplit {
    inner: Box<dyn SourceSplit<Event>>,
    checkpoints: PathBuf,
    emitted: u64,
    pause_at: u64,
    fail_at: u64,
    /// The newest checkpoint when the split paused, once it has.
    paused_after: Option<Option<u64>>,
    passed_checkpoint: bool,
}

impl Source<Event> for FailingSource {
    fn split(
        &mut self,
        shard: usize,
        shards: usize,
    ) -> Result<Box<dyn SourceSplit<Event>>, SpateError> {
        let share = EVENTS / shards as u64;
        Ok(Box::new(FailingSplit {
            inner: self.inner.split(shard, shards)?,
            checkpoints: self.checkpoints.clone(),
            emitted: 0,
            pause_at: share / 3,
            fail_at: share / 2,
            paused_after: None,
            passed_checkpoint: false,
        }))
    }

    fn splits_are_stable(&self) -> bool {
        true
    }
}

impl SourceSplit<Event> for FailingSplit {
    fn poll(&mut self, out: &mut SourceOutput<'_, Event>) -> Result<SourceStatus, SpateError> {
        if self.emitted >= self.pause_at && !self.passed_checkpoint {
            let newest = newest_checkpoint(&self.checkpoints);
            let at_pause = *self.paused_after.get_or_insert(newest);
            if newest <= at_pause {
                return Ok(SourceStatus::Idle);
            }
            self.passed_checkpoint = true;
        }
        if self.emitted >= self.fail_at {
            return Err(SpateError::Config("injected failure (test)".into()));
        }
        let before = out.remaining();
        let status = self.inner.poll(out)?;
        self.emitted += (before - out.remaining()) as u64;
        Ok(status)
    }

    fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    fn offset(&self) -> Option<u64> {
        self.inner.offset()
    }

    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        self.inner.seek(offset)
    }
}

/// A fresh folder for one case.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-nx-chk-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("created");
    dir
}

/// The sorted rows `--output` writes for `query` in an uninterrupted run without
/// checkpoints.
fn uninterrupted(query: &str, shards: usize, dir: &Path) -> Vec<String> {
    let q = queries::find(query).expect("a query");
    let path = dir.join("reference.csv");
    let mut cx = QueryContext::new(Counter::new());
    cx.output = Some(ResultFile::create(&path).expect("created"));
    let env = Env::new().shards(shards).batch_size(64);
    (q.build)(&env.add_source("nexmark", source()), &cx);
    env.execute().expect("the uninterrupted run");
    cx.output.as_ref().expect("set").finish().expect("flushed");
    let mut rows: Vec<String> = std::fs::read_to_string(&path)
        .expect("written")
        .lines()
        .map(String::from)
        .collect();
    rows.sort();
    rows
}

/// How the second run treats the checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Resume {
    /// Restores everything.
    Restore,
    /// A map added after the source changes every operator's derived id: only the source
    /// offsets are restored, the operators' state is dropped (`allow_non_restored_state`).
    DropState,
}

/// Runs `query` with checkpoints into `dir/chk` and its rows into `dir/sink`, on `source`.
fn checkpointed<S: Source<Event> + Clone + 'static>(
    query: &str,
    shards: usize,
    dir: &Path,
    source: S,
    resume: Resume,
) -> Result<(), SpateError> {
    let q = queries::find(query).expect("a query");
    let mut cx = QueryContext::new(Counter::new());
    cx.sink_dir = Some(dir.join("sink"));
    let env = queries::state_types(
        Env::new()
            .shards(shards)
            .batch_size(64)
            .checkpointing(dir.join("chk"), Duration::from_millis(20))
            .allow_non_restored_state(resume == Resume::DropState),
    );
    let events = env.add_source("nexmark", source);
    match resume {
        Resume::Restore => (q.build)(&events, &cx),
        Resume::DropState => (q.build)(&events.map(|e: Event| e), &cx),
    }
    env.execute().map(|_| ())
}

/// Fails `query` part-way, starts it again on the same folders (see [`Resume`]), and
/// returns the folded published rows and the uninterrupted run's rows.
fn fail_and_resume(query: &str, shards: usize, resume: Resume) -> (Vec<String>, Vec<String>) {
    let dir = scratch(&format!("{query}-{shards}-{resume:?}"));
    let want = uninterrupted(query, shards, &dir);
    let failing = FailingSource {
        inner: source(),
        checkpoints: dir.join("chk"),
    };
    let first = checkpointed(query, shards, &dir, failing, Resume::Restore);
    let err = first.expect_err("the first run fails").to_string();
    assert!(err.contains("injected failure"), "{query}: {err}");
    assert!(
        newest_checkpoint(&dir.join("chk")).is_some(),
        "{query}: a checkpoint before the failure"
    );
    checkpointed(query, shards, &dir, source(), resume).expect("the second run finishes");
    let got = output::fold(&dir.join("sink")).expect("folds");
    let _ = std::fs::remove_dir_all(&dir);
    (got, want)
}

fn assert_exactly_once(query: &str) {
    for shards in [1, 2, 3] {
        let (got, want) = fail_and_resume(query, shards, Resume::Restore);
        assert!(!want.is_empty(), "{query}: the test input gives rows");
        if got != want {
            let missing: Vec<_> = want.iter().filter(|l| !got.contains(l)).take(3).collect();
            let extra: Vec<_> = got.iter().filter(|l| !want.contains(l)).take(3).collect();
            panic!(
                "{query} on {shards} shards: {} rows published, {} expected; missing e.g. \
                 {missing:?}, unexpected e.g. {extra:?}",
                got.len(),
                want.len()
            );
        }
    }
}

#[test]
fn q5_hot_items_exactly_once_after_a_failure() {
    assert_exactly_once("q5");
}

#[test]
fn q11_sessions_exactly_once_after_a_failure() {
    assert_exactly_once("q11");
}

#[test]
fn q7_highest_bids_exactly_once_after_a_failure() {
    assert_exactly_once("q7");
}

#[test]
fn q8_window_join_exactly_once_after_a_failure() {
    assert_exactly_once("q8");
}

#[test]
fn q4_changelog_folds_to_the_final_table_after_a_failure() {
    assert_exactly_once("q4");
}

/// The check above can fail: a second run that rewinds the sources but does not restore
/// the operators' state publishes other rows.
#[test]
fn without_the_state_the_rows_differ() {
    for query in ["q5", "q8"] {
        let (got, want) = fail_and_resume(query, 2, Resume::DropState);
        assert_ne!(
            got, want,
            "{query}: the state before the checkpoint matters"
        );
    }
}
