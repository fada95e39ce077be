//! Unaligned checkpoints at operators with several inputs (Flink's unaligned checkpoints,
//! FLIP-76): the first barrier of an epoch goes on at once; what the other inputs send
//! until they deliver that barrier is processed as usual *and* recorded as the epoch's
//! in-flight data; once the last input delivered it, the recording is deposited with the
//! shard's snapshot of the epoch. A restore replays it into the operator before any new
//! input, in the recorded order per input.
//!
//! Why the records are recorded here and not at the sender: the receiving side is where
//! the barrier overtakes them, so it is the one place that knows which records are behind
//! the snapshot of the operator and ahead of the snapshot of their producer.
//!
//! The decisions are pure ([`Unaligned`]); [`Recorder`] encodes records with the codec
//! registered for their type (`Env::state_type`), per batch, only while an epoch waits.
//! In-flight data lives in the operator's snapshot file (one section per input,
//! `spate/inflight/<input>`, one entry per recorded batch), so the manifest's checksums and
//! the fall-back to an older checkpoint cover it like any state.

use super::Batch;
use crate::checkpoint::format::{Entries, SnapshotBuilder, StateWriter};
use crate::checkpoint::store::Restored;
use crate::checkpoint::types::Codec;
use crate::checkpoint::{DecodeError, StateData};
use crate::error::{Result, SpateError};
use crate::graph::ShardBuild;
use crate::time::Timestamp;

/// The section of a snapshot file holding the in-flight data of input `i`.
const SECTION: &str = "spate/inflight/";

/// What an unaligned multi-input point does after a barrier or an input's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing.
    Nothing,
    /// The first barrier of `epoch`: forward it now and record the inputs that have not
    /// delivered it (any recording of an older epoch is dropped: that epoch was given up).
    /// `complete`: no other input is left to wait for.
    Start { epoch: u64, complete: bool },
    /// Every input delivered the epoch waited for: deposit its in-flight data.
    Complete(u64),
    /// The first barrier of a savepoint's epoch: align it as without unaligned checkpoints.
    Align(u64),
}

/// Unaligned barrier progress of `n` inputs (pure).
#[derive(Debug, Clone)]
pub(crate) struct Unaligned {
    /// The newest barrier each input delivered (`u64::MAX`: ended, or never emits).
    delivered: Vec<u64>,
    /// The newest epoch started (forwarded or aligned).
    started: u64,
    /// The epoch whose in-flight data is being recorded (0: none).
    pending: u64,
}

impl Unaligned {
    /// Inputs that cannot emit anything never hold an epoch back.
    pub(crate) fn new(live: &[bool]) -> Self {
        Unaligned {
            delivered: live.iter().map(|l| if *l { 0 } else { u64::MAX }).collect(),
            started: 0,
            pending: 0,
        }
    }

    /// Whether what input `i` sends now is in-flight data of the pending epoch.
    #[inline]
    pub(crate) fn recording(&self, i: usize) -> bool {
        self.delivered[i] < self.pending
    }

    /// The epoch being recorded (0: none).
    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    /// Input `i` delivered barrier `epoch`; `aligned` says whether a new epoch is a
    /// savepoint's (asked only for the first barrier of an epoch).
    pub(crate) fn barrier(&mut self, i: usize, epoch: u64, aligned: impl FnOnce() -> bool) -> Step {
        if epoch <= self.delivered[i] {
            return Step::Nothing; // counted already (overtaken), or the input ended
        }
        self.delivered[i] = epoch;
        if epoch > self.started {
            self.started = epoch;
            if aligned() {
                self.pending = 0;
                return Step::Align(epoch);
            }
            self.pending = epoch;
            let complete = self.check() != Step::Nothing;
            return Step::Start { epoch, complete };
        }
        self.check()
    }

    /// Input `i` ended: it no longer holds an epoch back.
    pub(crate) fn end(&mut self, i: usize) -> Step {
        self.delivered[i] = u64::MAX;
        self.check()
    }

    fn check(&mut self) -> Step {
        let p = self.pending;
        if p != 0 && self.delivered.iter().all(|d| *d >= p) {
            self.pending = 0;
            return Step::Complete(p);
        }
        Step::Nothing
    }
}

/// Records the in-flight batches of one input, encoded.
pub(crate) struct Recorder<T> {
    codec: Codec<T>,
    w: StateWriter,
    max_parallelism: usize,
}

impl<T> Recorder<T> {
    pub(crate) fn new(codec: Codec<T>, max_parallelism: usize) -> Self {
        Recorder {
            codec,
            w: StateWriter::new(max_parallelism),
            max_parallelism,
        }
    }

    /// Appends a batch (one entry: record count, then timestamp and record of each).
    pub(crate) fn record(&mut self, batch: &[(Timestamp, T)]) {
        if batch.is_empty() {
            return;
        }
        let enc = self.codec.encode;
        self.w.entry(0, |out| {
            (batch.len() as u32).encode(out);
            for (ts, v) in batch {
                ts.encode(out);
                enc(v, out);
            }
        });
    }

    /// Drops what was recorded.
    pub(crate) fn reset(&mut self) {
        self.w = StateWriter::new(self.max_parallelism);
    }

    /// Moves what was recorded into `b` as input `input`'s section; the bytes it holds.
    pub(crate) fn write_into(&mut self, input: usize, b: &mut SnapshotBuilder) -> usize {
        if self.w.is_empty() {
            return 0;
        }
        let w = std::mem::replace(&mut self.w, StateWriter::new(self.max_parallelism));
        let n = w.byte_len();
        b.add(&format!("{SECTION}{input}"), w);
        n
    }
}

/// Decodes the recorded batches of one input.
pub(crate) fn decode<T>(codec: &Codec<T>, entries: &Entries) -> Result<Vec<Batch<T>>, DecodeError> {
    let mut out = Vec::with_capacity(entries.len());
    for (_, bytes) in entries {
        let mut s = bytes.as_slice();
        let n = u32::decode(&mut s)? as usize;
        // Each record takes at least its 8-byte timestamp: bounds the allocation.
        let mut b = Vec::with_capacity(n.min(s.len() / 8));
        for _ in 0..n {
            let ts = Timestamp::decode(&mut s)?;
            b.push((ts, (codec.decode)(&mut s)?));
        }
        out.push(b);
    }
    Ok(out)
}

/// The in-flight sections of node `node` for `shard` in a restored checkpoint: `(input,
/// entries)`. An error when the checkpoint holds in-flight data and was taken on another
/// shard count (in-flight records are not redistributed).
pub(crate) fn restored_sections(
    r: &Restored,
    node: usize,
    shard: usize,
    shards: usize,
) -> std::result::Result<Vec<(usize, &Entries)>, String> {
    let mut out = Vec::new();
    for f in r.files.get(&(node as u32)).into_iter().flatten() {
        for (name, entries) in &f.sections {
            let Some(input) = name.strip_prefix(SECTION) else {
                continue;
            };
            if r.manifest.shards != shards {
                return Err(format!(
                    "checkpoint {} is unaligned and holds in-flight records taken on {} shards; \
                     the job has {shards}, and in-flight records are not redistributed: \
                     rescale from a savepoint, which is always aligned",
                    r.manifest.epoch, r.manifest.shards
                ));
            }
            let input: usize = input
                .parse()
                .map_err(|_| format!("bad in-flight section '{name}'"))?;
            if f.header.shard as usize == shard {
                out.push((input, entries));
            }
        }
    }
    Ok(out)
}

/// The codec of records of type `T` crossing the node being wired, when the job takes
/// unaligned checkpoints (`None` otherwise); an error naming the type when none is
/// registered.
pub(crate) fn codec<T: 'static>(cx: &ShardBuild) -> Result<Option<Codec<T>>> {
    let on = cx.snapshots.is_some() && cx.cfg.checkpoint.as_ref().is_some_and(|c| c.unaligned);
    if !on {
        return Ok(None);
    }
    find::<T>(cx, "unaligned checkpoints record the records").map(Some)
}

fn find<T: 'static>(cx: &ShardBuild, why: &str) -> Result<Codec<T>> {
    cx.cfg.state_types.get::<T>().ok_or_else(|| {
        let t = std::any::type_name::<T>();
        SpateError::Config(format!(
            "operator '{}': {why} of type `{t}` that reach it, which needs their codec: \
             register it with Env::state_type::<{t}>()",
            cx.name
        ))
    })
}

/// The in-flight batches of each input (`inputs` of them) of the node being wired that
/// the restored checkpoint holds, to replay before any new input; empty without any.
pub(crate) fn replay<T: 'static>(cx: &ShardBuild, input: usize) -> Result<Vec<Batch<T>>> {
    let Some(r) = cx.cfg.restored() else {
        return Ok(Vec::new());
    };
    let sections = restored_sections(r, cx.node, cx.shard, cx.cfg.shards)
        .map_err(|why| SpateError::Config(format!("cannot restore node {}: {why}", cx.node)))?;
    let mut out = Vec::new();
    for (i, entries) in sections {
        if i != input {
            continue;
        }
        let codec = find::<T>(cx, "the checkpoint holds in-flight records")?;
        out.extend(decode(&codec, entries).map_err(|e| {
            SpateError::Config(format!(
                "cannot restore the in-flight records of node {} input {i}: {e}",
                cx.node
            ))
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::format::{parse, SnapshotHeader};

    #[test]
    fn the_first_barrier_starts_and_the_last_completes() {
        let mut u = Unaligned::new(&[true, true, true]);
        assert!(!u.recording(1));
        assert_eq!(
            u.barrier(1, 1, || false),
            Step::Start {
                epoch: 1,
                complete: false
            }
        );
        assert!(u.recording(0) && !u.recording(1) && u.recording(2));
        assert_eq!(u.barrier(0, 1, || unreachable!()), Step::Nothing);
        assert!(!u.recording(0));
        assert_eq!(
            u.barrier(0, 1, || unreachable!()),
            Step::Nothing,
            "counted twice"
        );
        assert_eq!(u.end(2), Step::Complete(1));
        assert!(!u.recording(0) && u.pending() == 0);
    }

    #[test]
    fn a_lone_input_completes_at_once_and_dead_inputs_never_wait() {
        let mut u = Unaligned::new(&[true, false]);
        assert_eq!(
            u.barrier(0, 3, || false),
            Step::Start {
                epoch: 3,
                complete: true
            }
        );
        assert_eq!(u.pending(), 0);
    }

    #[test]
    fn a_savepoint_epoch_aligns_and_a_newer_epoch_gives_up_the_pending_one() {
        let mut u = Unaligned::new(&[true, true]);
        assert_eq!(u.barrier(0, 1, || true), Step::Align(1));
        assert!(!u.recording(1), "aligned: nothing recorded");
        assert_eq!(u.barrier(1, 1, || unreachable!()), Step::Nothing);
        assert_eq!(
            u.barrier(0, 2, || false),
            Step::Start {
                epoch: 2,
                complete: false
            }
        );
        // Epoch 2 timed out elsewhere; epoch 3 replaces it.
        assert_eq!(
            u.barrier(0, 3, || false),
            Step::Start {
                epoch: 3,
                complete: false
            }
        );
        assert!(u.recording(1));
        assert_eq!(u.barrier(1, 2, || unreachable!()), Step::Nothing);
        assert!(u.recording(1), "still short of epoch 3");
        assert_eq!(u.barrier(1, 3, || unreachable!()), Step::Complete(3));
    }

    #[test]
    fn recorded_batches_decode_in_order() {
        let codec = Codec::<String> {
            encode: |v, o| v.encode(o),
            decode: String::decode,
        };
        let mut r = Recorder::new(codec.clone(), 16);
        r.record(&[(5, "a".to_string()), (-1, "bc".into())]);
        r.record(&[]);
        r.record(&[(7, "d".to_string())]);
        let mut b = SnapshotBuilder::new(SnapshotHeader {
            epoch: 1,
            operator: 2,
            shard: 0,
            shards: 1,
            max_parallelism: 16,
        });
        assert!(r.write_into(1, &mut b) > 0);
        assert_eq!(r.write_into(1, &mut b), 0, "moved out");
        let f = parse(&b.finish()).unwrap();
        assert_eq!(f.sections[0].0, "spate/inflight/1");
        let got = decode(&codec, &f.sections[0].1).unwrap();
        assert_eq!(
            got,
            vec![
                vec![(5, "a".to_string()), (-1, "bc".into())],
                vec![(7, "d".to_string())]
            ]
        );
        let mut bad = f.sections[0].1.clone();
        bad[0].1.truncate(6);
        assert!(decode(&codec, &bad).is_err(), "truncated entry");
    }
}
