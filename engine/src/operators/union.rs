//! `union` and the receiving side of exchanges: several inputs of one type merged into one
//! stream, with watermark = minimum over live inputs, end once all inputs ended, and a
//! barrier forwarded once every live input delivered it.
//!
//! Alignment (exactly-once): an input that delivered barrier `e` before the others is
//! *blocked*: what it sends next (records, watermarks, further barriers, its end) is held
//! back, in order, until `e` has been forwarded, so nothing after the barrier reaches the
//! state snapshotted at it. Held messages are buffered rather than the input paused,
//! because the local input of an exchange is a direct call that cannot wait; alignment is
//! short (one epoch in flight at a time) and the buffer is empty outside it. The check on
//! the data path is one comparison per batch.
//!
//! With unaligned checkpoints ([`super::inflight`]) nothing is held back: the first barrier
//! of an epoch goes on at once and what the other inputs send until their barrier is
//! recorded as in-flight data (`MergeExt`); the data path then pays one more test per batch.

use std::collections::VecDeque;

use super::inflight::{Recorder, Step, Unaligned};
use super::unary::Participant;
use super::{Batch, OnInput, Output};
use crate::checkpoint::format::FINAL_EPOCH;
use crate::error::Result;
use crate::time::{Frontier, Timestamp};

/// What a blocked input sent, held until the barrier it delivered is forwarded.
pub(crate) enum Held<T> {
    Data(Batch<T>),
    Watermark(Timestamp),
    Idle(bool),
    Barrier(u64),
    End,
}

/// Merges `n` inputs.
pub(crate) struct Merge<T> {
    out: Output<T>,
    frontier: Frontier,
    /// The newest barrier each input delivered (`u64::MAX` once it ended or if it never
    /// emits).
    barriers: Vec<u64>,
    forwarded_barrier: u64,
    held: Vec<VecDeque<Held<T>>>,
    /// Whether to hold inputs past their barrier: only when the job takes checkpoints.
    /// Embedded flush barriers only need the barrier itself to wait for every input.
    align: bool,
    /// Unaligned checkpoints and the replay of restored in-flight data (`None`: neither).
    ext: Option<Box<MergeExt<T>>>,
    /// Receivers of inputs that stopped reading their channel while blocked (bounded
    /// alignment), woken when a barrier is forwarded.
    parked: Vec<std::task::Waker>,
}

/// A merge's side of unaligned checkpoints.
pub(crate) struct MergeExt<T> {
    /// Restored in-flight batches, replayed before any new input.
    replay: Vec<Batch<T>>,
    unaligned: Option<MergeUnaligned<T>>,
}

struct MergeUnaligned<T> {
    progress: Unaligned,
    recorders: Vec<Recorder<T>>,
    participant: Participant,
    shard: usize,
}

impl<T> MergeExt<T> {
    /// `codec`: unaligned checkpoints are on (with the shard's `participant`); `replay`:
    /// restored in-flight batches. `None` when there is nothing to do.
    pub(crate) fn new(
        live: &[bool],
        unaligned: Option<(crate::checkpoint::types::Codec<T>, Participant)>,
        replay: Vec<Batch<T>>,
        shard: usize,
    ) -> Option<Box<Self>> {
        if unaligned.is_none() && replay.is_empty() {
            return None;
        }
        let unaligned = unaligned.map(|(codec, participant)| {
            let maxp = participant.shared().max_parallelism;
            MergeUnaligned {
                progress: Unaligned::new(live),
                recorders: live
                    .iter()
                    .map(|_| Recorder::new(codec.clone(), maxp))
                    .collect(),
                participant,
                shard,
            }
        });
        Some(Box::new(MergeExt { replay, unaligned }))
    }
}

/// The unaligned-checkpoint side of the merge of `live.len()` inputs being wired, if any.
pub(crate) fn merge_ext<T: 'static>(
    cx: &crate::graph::ShardBuild,
    live: &[bool],
) -> Result<Option<Box<MergeExt<T>>>> {
    let unaligned = match (super::inflight::codec::<T>(cx)?, cx.snapshots.as_ref()) {
        (Some(c), Some(s)) => Some((c, Participant::new(s, cx.node))),
        _ => None,
    };
    let mut replay = Vec::new();
    for i in 0..live.len() {
        replay.extend(super::inflight::replay::<T>(cx, i)?);
    }
    Ok(MergeExt::new(live, unaligned, replay, cx.shard))
}

impl<T> MergeUnaligned<T> {
    /// Deposits the in-flight data of `epoch` (no file when there is none).
    fn deposit(&mut self, epoch: u64) {
        let p = &self.participant;
        let mut b = p.builder(epoch, self.shard);
        let bytes: usize = self
            .recorders
            .iter_mut()
            .enumerate()
            .map(|(i, r)| r.write_into(i, &mut b))
            .sum();
        if bytes == 0 {
            p.hand_in_nothing(epoch);
        } else {
            tracing::debug!(epoch, bytes, "in-flight data recorded");
            p.hand_in(epoch, b.finish());
        }
    }

    fn reset(&mut self) {
        self.recorders.iter_mut().for_each(Recorder::reset);
    }
}

impl<T: Clone> Merge<T> {
    /// A merge of `live.len()` inputs; inputs that cannot emit anything start idle.
    pub(crate) fn new(live: &[bool], out: Output<T>, align: bool) -> Self {
        let mut frontier = Frontier::new(live.len());
        for (i, l) in live.iter().enumerate() {
            if !l {
                frontier.set_idle(i, true);
            }
        }
        Merge {
            out,
            frontier,
            // An input that can emit nothing never delivers a barrier: it holds none back.
            barriers: live.iter().map(|l| if *l { 0 } else { u64::MAX }).collect(),
            forwarded_barrier: 0,
            held: live.iter().map(|_| VecDeque::new()).collect(),
            align,
            ext: None,
            parked: Vec::new(),
        }
    }

    /// Adds unaligned checkpoints or a replay (see [`MergeExt::new`]).
    pub(crate) fn with_ext(mut self, ext: Option<Box<MergeExt<T>>>) -> Self {
        if ext.as_ref().is_some_and(|x| x.unaligned.is_some()) {
            self.align = false; // aligned only for savepoints' epochs
        }
        self.ext = ext;
        self
    }

    /// Whether input `i` is blocked at a barrier (aligned): its receiver stops reading the
    /// channel, which then gives back-pressure instead of filling the held queue.
    #[inline]
    pub(crate) fn input_blocked(&self, i: usize) -> bool {
        self.blocked(i)
    }

    /// Wakes `w` once a barrier is forwarded (inputs may be unblocked).
    pub(crate) fn park(&mut self, w: &std::task::Waker) {
        if !self.parked.iter().any(|p| p.will_wake(w)) {
            self.parked.push(w.clone());
        }
    }

    fn unpark(&mut self) {
        for w in self.parked.drain(..) {
            w.wake();
        }
    }

    /// Whether input `i` owes the pending unaligned epoch its barrier: what it sends now
    /// is in-flight data (an exchange receiver takes it without waiting).
    #[inline]
    pub(crate) fn overtaking(&self, i: usize) -> bool {
        match &self.ext {
            Some(x) => x
                .unaligned
                .as_ref()
                .is_some_and(|u| u.progress.recording(i)),
            None => false,
        }
    }

    /// Records a batch input `i` sent as in-flight data, before it is processed (through
    /// [`pass`](Merge::pass)): taken from its channel ahead of the operators.
    pub(crate) fn record(&mut self, i: usize, batch: &Batch<T>) {
        if let Some(u) = self.ext.as_mut().and_then(|x| x.unaligned.as_mut()) {
            if u.progress.recording(i) {
                u.recorders[i].record(batch);
            }
        }
    }

    /// Counts barrier `e` of input `i`, taken from its channel ahead of the records before
    /// it: when `e` is the epoch waited for, its in-flight data may be complete now. The
    /// barrier itself goes through later, in its place, and is then a no-op.
    pub(crate) fn overtaken_barrier(&mut self, i: usize, e: u64) {
        if let Some(u) = self.ext.as_mut().and_then(|x| x.unaligned.as_mut()) {
            if u.progress.pending() == e {
                if let Step::Complete(e) = u.progress.barrier(i, e, || false) {
                    u.deposit(e);
                }
            }
        }
    }

    /// The epoch being recorded (0: none).
    pub(crate) fn recording_epoch(&self) -> u64 {
        match &self.ext {
            Some(x) => x.unaligned.as_ref().map_or(0, |u| u.progress.pending()),
            None => 0,
        }
    }

    /// Whether unaligned checkpoints are on.
    pub(crate) fn unaligned(&self) -> bool {
        self.ext.as_ref().is_some_and(|x| x.unaligned.is_some())
    }

    /// A batch taken from input `i`'s channel ahead of the operators goes on; it was
    /// recorded as in-flight data of epoch `recorded` (see [`record`](Merge::record)), and
    /// is recorded again if a newer epoch is being recorded now.
    pub(crate) fn pass(&mut self, i: usize, batch: &mut Batch<T>, recorded: u64) -> Result<()> {
        if self.recording_epoch() != recorded {
            self.record(i, batch);
        }
        if self.blocked(i) || !self.held[i].is_empty() {
            self.held[i].push_back(Held::Data(std::mem::take(batch)));
            return Ok(());
        }
        self.out.give_batch(batch)
    }

    /// The slow part of a batch's way with `ext`: replay, then recording.
    #[cold]
    fn ext_batch(&mut self, i: usize, batch: &Batch<T>) -> Result<()> {
        self.replay()?;
        self.record(i, batch);
        Ok(())
    }

    /// Replays restored in-flight batches (once, before anything else goes on).
    fn replay(&mut self) -> Result<()> {
        let Some(x) = self.ext.as_mut() else {
            return Ok(());
        };
        if x.replay.is_empty() {
            return Ok(());
        }
        for mut b in std::mem::take(&mut x.replay) {
            self.out.give_batch(&mut b)?;
        }
        Ok(())
    }

    /// Barrier `e` of input `i` under unaligned checkpoints: `true` when handled.
    fn unaligned_barrier(&mut self, i: usize, e: u64) -> Result<bool> {
        let Some(u) = self.ext.as_mut().and_then(|x| x.unaligned.as_mut()) else {
            return Ok(false);
        };
        let shared = u.participant.shared().clone();
        match u.progress.barrier(i, e, || shared.aligned_epoch(e)) {
            Step::Nothing => {}
            Step::Start { epoch, complete } => {
                self.align = false;
                for w in self.parked.drain(..) {
                    w.wake();
                }
                u.reset();
                if complete {
                    u.deposit(epoch);
                }
                self.forwarded_barrier = self.forwarded_barrier.max(epoch);
                self.out.barrier(epoch)?;
            }
            Step::Complete(epoch) => u.deposit(epoch),
            Step::Align(_) => {
                u.reset();
                self.align = true; // `release` forwards it once every input delivered it
            }
        }
        Ok(true)
    }

    /// Input `i` delivered a barrier not forwarded yet: what it sends next waits.
    #[inline]
    fn blocked(&self, i: usize) -> bool {
        let b = self.barriers[i];
        self.align && b > self.forwarded_barrier && b != u64::MAX
    }

    fn deliver(&mut self, i: usize, m: Held<T>) -> Result<()> {
        if self.ext.is_some() {
            self.replay()?;
        }
        if self.blocked(i) || !self.held[i].is_empty() {
            self.held[i].push_back(m);
            return Ok(());
        }
        self.apply(i, m)?;
        self.release()
    }

    fn apply(&mut self, i: usize, m: Held<T>) -> Result<()> {
        match m {
            Held::Data(mut b) => self.out.give_batch(&mut b),
            Held::Watermark(wm) => {
                let w = self.frontier.advance(i, wm);
                self.out.progress(w, self.frontier.idle_change())
            }
            Held::Idle(idle) => {
                let w = self.frontier.set_idle(i, idle);
                self.out.progress(w, self.frontier.idle_change())
            }
            Held::Barrier(e) => {
                self.barriers[i] = self.barriers[i].max(e);
                if self.ext.is_some() {
                    self.unaligned_barrier(i, e)?;
                }
                Ok(())
            }
            Held::End => {
                // An ended input no longer holds barriers back.
                self.barriers[i] = u64::MAX;
                if let Some(u) = self.ext.as_mut().and_then(|x| x.unaligned.as_mut()) {
                    if let Step::Complete(e) = u.progress.end(i) {
                        u.deposit(e);
                    }
                }
                let w = self.frontier.end(i);
                self.out.progress(w, self.frontier.idle_change())?;
                if self.frontier.all_ended() {
                    if let Some(u) = self.ext.as_ref().and_then(|x| x.unaligned.as_ref()) {
                        u.participant.hand_in_nothing(FINAL_EPOCH);
                    }
                    self.out.end()?;
                }
                Ok(())
            }
        }
    }

    /// Forwards the barrier every input has delivered, then replays what unblocked inputs
    /// held, until nothing changes.
    fn release(&mut self) -> Result<()> {
        loop {
            let min = self.barriers.iter().copied().min().unwrap_or(u64::MAX);
            if min > self.forwarded_barrier && min != u64::MAX {
                self.forwarded_barrier = min;
                if let Some(u) = self.ext.as_ref().and_then(|x| x.unaligned.as_ref()) {
                    u.participant.hand_in_nothing(min); // an aligned (savepoint's) epoch
                }
                self.unpark();
                self.out.barrier(min)?;
            }
            let mut progressed = false;
            for i in 0..self.held.len() {
                while !self.blocked(i) {
                    let Some(m) = self.held[i].pop_front() else {
                        break;
                    };
                    self.apply(i, m)?;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }
}

impl<T: Clone> OnInput<T> for Merge<T> {
    #[inline]
    fn on_batch(&mut self, input: usize, batch: &mut Batch<T>) -> Result<()> {
        if self.blocked(input) || !self.held[input].is_empty() {
            self.held[input].push_back(Held::Data(std::mem::take(batch)));
            return Ok(());
        }
        if self.ext.is_some() {
            self.ext_batch(input, batch)?;
        }
        self.out.give_batch(batch)
    }

    fn on_watermark(&mut self, input: usize, wm: Timestamp) -> Result<()> {
        self.deliver(input, Held::Watermark(wm))
    }

    fn on_idle(&mut self, input: usize, idle: bool) -> Result<()> {
        self.deliver(input, Held::Idle(idle))
    }

    fn on_barrier(&mut self, input: usize, epoch: u64) -> Result<()> {
        self.deliver(input, Held::Barrier(epoch))
    }

    fn on_end(&mut self, input: usize) -> Result<()> {
        self.deliver(input, Held::End)
    }
}

/// Makes per-shard `Merge` instances for a `union` of `inputs` streams.
pub(crate) struct MergeFactory<T> {
    inputs: usize,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T> MergeFactory<T> {
    pub(crate) fn new(inputs: usize) -> Self {
        MergeFactory {
            inputs,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Clone + Send + 'static> crate::graph::NodeFactory for MergeFactory<T> {
    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        Ok(()) // aligns barriers, holds no state
    }

    fn instantiate(
        &mut self,
        cx: &crate::graph::Instantiate<'_>,
    ) -> Result<Box<dyn crate::graph::ShardNode>> {
        Ok(Box::new(MergeShard::<T> {
            live: (0..self.inputs).map(|k| cx.input_live(k)).collect(),
            _t: std::marker::PhantomData,
        }))
    }
}

struct MergeShard<T> {
    live: Vec<bool>,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Clone + Send + 'static> crate::graph::ShardNode for MergeShard<T> {
    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn std::any::Any>>>,
        cx: &mut crate::graph::ShardBuild,
    ) -> Result<Box<dyn crate::graph::Wired>> {
        let out = cx.output::<T>(std::mem::take(&mut outputs[0]))?;
        let ext = merge_ext::<T>(cx, &self.live)?;
        let op = std::rc::Rc::new(std::cell::RefCell::new(
            Merge::new(&self.live, out, cx.cfg.checkpoint.is_some()).with_ext(ext),
        ));
        Ok(Box::new(super::unary::OpWired {
            op,
            node: cx.node,
            _t: std::marker::PhantomData::<fn(T)>,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::operators::{Counter, Push};

    /// What reaches the merge's consumer, in order.
    #[derive(Debug, Clone, PartialEq)]
    enum Ev {
        Rec(u32),
        Barrier(u64),
        End,
    }

    struct Log(Rc<RefCell<Vec<Ev>>>);
    impl Push<u32> for Log {
        fn push(&mut self, b: &mut Batch<u32>) -> Result<()> {
            self.0
                .borrow_mut()
                .extend(b.drain(..).map(|r| Ev::Rec(r.1)));
            Ok(())
        }
        fn watermark(&mut self, _: Timestamp) -> Result<()> {
            Ok(())
        }
        fn idle(&mut self, _: bool) -> Result<()> {
            Ok(())
        }
        fn barrier(&mut self, e: u64) -> Result<()> {
            self.0.borrow_mut().push(Ev::Barrier(e));
            Ok(())
        }
        fn end(&mut self) -> Result<()> {
            self.0.borrow_mut().push(Ev::End);
            Ok(())
        }
    }

    fn merge(n: usize) -> (Merge<u32>, Rc<RefCell<Vec<Ev>>>) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let out = Output::new(vec![Box::new(Log(log.clone()))], 1, Counter::default());
        (Merge::new(&vec![true; n], out, true), log)
    }

    fn send(m: &mut Merge<u32>, input: usize, v: u32) {
        m.on_batch(input, &mut vec![(0, v)]).unwrap();
    }

    #[test]
    fn an_input_past_its_barrier_is_held_until_every_input_delivered_it() {
        let (mut m, log) = merge(3);
        send(&mut m, 0, 1);
        m.on_barrier(0, 1).unwrap();
        send(&mut m, 0, 2); // after input 0's barrier: held
        m.on_barrier(0, 2).unwrap(); // a second barrier of the same input: held too
        send(&mut m, 0, 3);
        send(&mut m, 1, 10); // input 1 has not delivered barrier 1: goes on
        m.on_barrier(1, 1).unwrap();
        send(&mut m, 1, 11); // held
        send(&mut m, 2, 20);
        assert_eq!(*log.borrow(), vec![Ev::Rec(1), Ev::Rec(10), Ev::Rec(20)]);
        // Input 2 ends instead of delivering barrier 1: it no longer holds it back. Barrier 1
        // goes out, then what was held, in order; input 0 blocks again at its barrier 2.
        m.on_end(2).unwrap();
        assert_eq!(
            *log.borrow(),
            vec![
                Ev::Rec(1),
                Ev::Rec(10),
                Ev::Rec(20),
                Ev::Barrier(1),
                Ev::Rec(2),
                Ev::Rec(11)
            ]
        );
        send(&mut m, 1, 12);
        m.on_barrier(1, 2).unwrap();
        m.on_end(1).unwrap(); // held behind barrier 2 until it is forwarded: at once here
        m.on_end(0).unwrap();
        assert_eq!(
            log.borrow()[6..].to_vec(),
            vec![Ev::Rec(12), Ev::Barrier(2), Ev::Rec(3), Ev::End]
        );
    }

    #[test]
    fn without_checkpoints_a_barrier_holds_no_data_back() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let out = Output::new(vec![Box::new(Log(log.clone()))], 1, Counter::default());
        let mut m = Merge::new(&[true, true], out, false);
        m.on_barrier(0, 1).unwrap();
        send(&mut m, 0, 1);
        m.on_barrier(1, 1).unwrap();
        assert_eq!(*log.borrow(), vec![Ev::Rec(1), Ev::Barrier(1)]);
    }

    /// Counts its wake-ups.
    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_blocked_input_parks_its_receiver_until_the_barrier_is_forwarded() {
        let (mut m, log) = merge(2);
        let count = std::sync::Arc::new(Count(Default::default()));
        let waker = std::task::Waker::from(count.clone());
        assert!(!m.input_blocked(0));
        m.on_barrier(0, 1).unwrap();
        assert!(m.input_blocked(0), "the channel is no longer read");
        m.park(&waker);
        m.park(&waker); // parked once
        send(&mut m, 1, 7);
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 0);
        m.on_barrier(1, 1).unwrap();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!m.input_blocked(0));
        assert_eq!(*log.borrow(), vec![Ev::Rec(7), Ev::Barrier(1)]);
    }

    /// A merge of `n` inputs with unaligned checkpoints, and the shared state that says
    /// which epoch is a savepoint's. A second participant never deposits, so that no
    /// snapshot is written (that needs the shard's executor).
    fn unaligned(
        n: usize,
    ) -> (
        Merge<u32>,
        Rc<RefCell<Vec<Ev>>>,
        std::sync::Arc<crate::checkpoint::shared::CheckpointShared>,
    ) {
        use crate::checkpoint::shared::{CheckpointConfig, CheckpointShared};
        let cfg = CheckpointConfig {
            unaligned: true,
            ..CheckpointConfig::new(
                std::env::temp_dir().join("spate-never-written"),
                Default::default(),
            )
        };
        let (shared, _rx) = CheckpointShared::new(&cfg, 1, 16, None);
        let snaps = Rc::new(crate::runtime::ShardSnapshots::new(
            0,
            shared.clone(),
            Vec::new().into(),
        ));
        let p = Participant::new(&snaps, 1);
        let _idle = Participant::new(&snaps, 2);
        let codec = crate::checkpoint::types::Codec::<u32> {
            encode: |v, o| crate::checkpoint::StateData::encode(v, o),
            decode: <u32 as crate::checkpoint::StateData>::decode,
        };
        let live = vec![true; n];
        let ext = MergeExt::new(&live, Some((codec, p)), Vec::new(), 0);
        let log = Rc::new(RefCell::new(Vec::new()));
        let out = Output::new(vec![Box::new(Log(log.clone()))], 1, Counter::default());
        (Merge::new(&live, out, true).with_ext(ext), log, shared)
    }

    #[test]
    fn unaligned_the_first_barrier_goes_on_at_once_and_nothing_is_held() {
        let (mut m, log, _shared) = unaligned(2);
        send(&mut m, 0, 1);
        m.on_barrier(0, 1).unwrap();
        assert_eq!(m.recording_epoch(), 1);
        assert!(m.overtaking(1) && !m.overtaking(0));
        send(&mut m, 1, 10); // in flight: recorded, and goes on
        send(&mut m, 0, 2); // after the barrier on its input: goes on
        assert!(!m.input_blocked(0), "nothing waits");
        m.on_barrier(1, 1).unwrap(); // the last input: the epoch is complete
        assert_eq!(m.recording_epoch(), 0);
        assert!(!m.overtaking(1));
        assert_eq!(
            *log.borrow(),
            vec![Ev::Rec(1), Ev::Barrier(1), Ev::Rec(10), Ev::Rec(2)],
            "barrier 1 forwarded once, at the first barrier"
        );
    }

    #[test]
    fn unaligned_a_savepoints_epoch_is_aligned() {
        let (mut m, log, shared) = unaligned(2);
        shared.mark_savepoint(1);
        m.on_barrier(0, 1).unwrap();
        send(&mut m, 0, 2); // held: aligned
        send(&mut m, 1, 10);
        assert!(m.input_blocked(0) && m.recording_epoch() == 0);
        m.on_barrier(1, 1).unwrap();
        assert_eq!(*log.borrow(), vec![Ev::Rec(10), Ev::Barrier(1), Ev::Rec(2)]);
        // The next epoch, not a savepoint's, is unaligned again.
        m.on_barrier(1, 2).unwrap();
        assert_eq!(log.borrow().last(), Some(&Ev::Barrier(2)));
        assert!(m.overtaking(0));
    }

    #[test]
    fn without_barriers_nothing_is_held() {
        let (mut m, log) = merge(2);
        for v in 0..4 {
            send(&mut m, (v % 2) as usize, v);
        }
        m.on_end(0).unwrap();
        m.on_end(1).unwrap();
        let want: Vec<Ev> = (0..4).map(Ev::Rec).chain([Ev::End]).collect();
        assert_eq!(*log.borrow(), want);
    }
}
