//! Side outputs of one operator instance: typed buffers found by tag without a downcast.
//!
//! Why the `unsafe`: `ctx.output(&tag, v)` runs per record, and a `dyn Any` downcast is a
//! virtual call. Each slot owns its `Output<X>` through a raw pointer from `Box::into_raw`
//! and remembers `X`'s `TypeId`; emitting compares tag and `TypeId` (plain integers) and then
//! casts. The alternative, a boxed trait object per slot, costs a virtual call per record.

use std::any::TypeId;

use super::Output;
use crate::error::Result;
use crate::time::Timestamp;

/// Names a side output of element type `X` (Flink's `OutputTag`). Create it once, emit to it
/// from a process function with `ctx.output(&tag, value)`, and read it with
/// `stream.side_output(&tag)`.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// let env = Env::new().shards(2);
/// let small = OutputTag::<i64>::new("small");
/// let big = env.from_iter(vec![1i64, 50, 7, 99]).process(
///     move |v: i64, ctx: &mut ProcessContext<'_, i64>| {
///         if v < 10 { ctx.output(&small, v) } else { ctx.collect(v) }
///         Ok(())
///     },
/// );
/// let small_out = big.side_output(&OutputTag::<i64>::new("small")).collect();
/// let big_out = big.collect();
/// env.execute().unwrap();
/// assert_eq!(small_out.sorted(), vec![1, 7]);
/// assert_eq!(big_out.sorted(), vec![50, 99]);
/// ```
pub struct OutputTag<X> {
    id: u64,
    name: std::sync::Arc<str>,
    _t: std::marker::PhantomData<fn() -> X>,
}

impl<X> Clone for OutputTag<X> {
    fn clone(&self) -> Self {
        OutputTag {
            id: self.id,
            name: self.name.clone(),
            _t: std::marker::PhantomData,
        }
    }
}

impl<X> std::fmt::Debug for OutputTag<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputTag({})", self.name)
    }
}

impl<X> OutputTag<X> {
    /// A tag named `name`. Tags with the same name and element type are the same side output.
    pub fn new(name: &str) -> Self {
        let id = crate::state::hash_key(&(name, std::any::type_name::<X>()));
        OutputTag {
            id,
            name: name.into(),
            _t: std::marker::PhantomData,
        }
    }

    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

struct Slot {
    tag: u64,
    type_id: TypeId,
    ptr: *mut (),
    // SAFETY: (all six) call only with this slot's own `ptr`; they were made for its type.
    flush: unsafe fn(*mut ()) -> Result<()>,
    // SAFETY: see above.
    watermark: unsafe fn(*mut (), Timestamp) -> Result<()>,
    // SAFETY: see above.
    idle: unsafe fn(*mut (), bool) -> Result<()>,
    // SAFETY: see above.
    end: unsafe fn(*mut ()) -> Result<()>,
    // SAFETY: see above.
    barrier: unsafe fn(*mut (), u64) -> Result<()>,
    // SAFETY: see above; called once, from `Drop`.
    drop: unsafe fn(*mut ()),
}

/// The side outputs an operator instance writes to; tags nobody consumes have no slot and
/// their records are dropped, as in Flink.
#[derive(Default)]
pub(crate) struct SideOutputs {
    slots: Vec<Slot>,
}

/// Flushes the `Output<X>` behind `p`.
///
/// # Safety
/// `p` must come from `Box::<Output<X>>::into_raw` and not have been freed.
unsafe fn flush_fn<X: Clone + 'static>(p: *mut ()) -> Result<()> {
    // SAFETY: `p` came from `Box::<Output<X>>::into_raw` in `add` and is live until `drop`.
    unsafe { (*(p as *mut Output<X>)).flush() }
}
/// Forwards a watermark through the `Output<X>` behind `p`.
///
/// # Safety
/// As for [`flush_fn`].
unsafe fn watermark_fn<X: Clone + 'static>(p: *mut (), wm: Timestamp) -> Result<()> {
    // SAFETY: as in `flush_fn`.
    unsafe { (*(p as *mut Output<X>)).watermark(wm) }
}
/// Forwards a change of idleness through the `Output<X>` behind `p`.
///
/// # Safety
/// As for [`flush_fn`].
unsafe fn idle_fn<X: Clone + 'static>(p: *mut (), idle: bool) -> Result<()> {
    // SAFETY: as in `flush_fn`.
    unsafe { (*(p as *mut Output<X>)).idle(idle) }
}
/// Forwards a checkpoint barrier through the `Output<X>` behind `p`.
///
/// # Safety
/// As for [`flush_fn`].
unsafe fn barrier_fn<X: Clone + 'static>(p: *mut (), epoch: u64) -> Result<()> {
    // SAFETY: as in `flush_fn`.
    unsafe { (*(p as *mut Output<X>)).barrier(epoch) }
}
/// Ends the `Output<X>` behind `p`.
///
/// # Safety
/// As for [`flush_fn`].
unsafe fn end_fn<X: Clone + 'static>(p: *mut ()) -> Result<()> {
    // SAFETY: as in `flush_fn`.
    unsafe { (*(p as *mut Output<X>)).end() }
}
/// Frees the `Output<X>` behind `p`.
///
/// # Safety
/// `p` must come from `Box::<Output<X>>::into_raw`; it is freed, so it must not be used or
/// freed again.
unsafe fn drop_fn<X: 'static>(p: *mut ()) {
    // SAFETY: `p` came from `Box::into_raw` and `SideOutputs::drop` calls this exactly once.
    drop(unsafe { Box::from_raw(p as *mut Output<X>) });
}

impl SideOutputs {
    /// Adds the slot for tag `tag` with element type `X`.
    pub(crate) fn add<X: Clone + 'static>(&mut self, tag: u64, out: Output<X>) {
        let ptr = Box::into_raw(Box::new(out)) as *mut ();
        self.slots.push(Slot {
            tag,
            type_id: TypeId::of::<X>(),
            ptr,
            flush: flush_fn::<X>,
            watermark: watermark_fn::<X>,
            idle: idle_fn::<X>,
            end: end_fn::<X>,
            barrier: barrier_fn::<X>,
            drop: drop_fn::<X>,
        });
    }

    /// Emits `value` to the side output `tag`.
    #[inline]
    pub(crate) fn give<X: Clone + 'static>(&mut self, tag: &OutputTag<X>, ts: Timestamp, value: X) {
        let want = TypeId::of::<X>();
        for s in &self.slots {
            if s.tag == tag.id() && s.type_id == want {
                // SAFETY: the slot's `TypeId` is `X`'s, so `ptr` is a live `Output<X>` owned
                // by this slot; `&mut self` makes this the only reference to it.
                let out = unsafe { &mut *(s.ptr as *mut Output<X>) };
                out.give(ts, value);
                return;
            }
        }
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        // SAFETY: each fn pointer matches the slot's type (set together in `add`).
        self.slots
            .iter()
            .try_for_each(|s| unsafe { (s.flush)(s.ptr) })
    }

    pub(crate) fn watermark(&mut self, wm: Timestamp) -> Result<()> {
        // SAFETY: as in `flush`.
        self.slots
            .iter()
            .try_for_each(|s| unsafe { (s.watermark)(s.ptr, wm) })
    }

    /// As [`Output::progress`], for every side output.
    pub(crate) fn progress(&mut self, wm: Option<Timestamp>, idle: Option<bool>) -> Result<()> {
        super::output::in_order(wm, idle, |p| match p {
            super::output::Progress::Idle(i) => self.idle(i),
            super::output::Progress::Watermark(w) => self.watermark(w),
        })
    }

    pub(crate) fn idle(&mut self, idle: bool) -> Result<()> {
        // SAFETY: as in `flush`.
        self.slots
            .iter()
            .try_for_each(|s| unsafe { (s.idle)(s.ptr, idle) })
    }

    /// Forwards checkpoint barrier `epoch` to every side output (their consumers align on
    /// it like on the main output's).
    pub(crate) fn barrier(&mut self, epoch: u64) -> Result<()> {
        // SAFETY: as in `flush`.
        self.slots
            .iter()
            .try_for_each(|s| unsafe { (s.barrier)(s.ptr, epoch) })
    }

    pub(crate) fn end(&mut self) -> Result<()> {
        // SAFETY: as in `flush`.
        self.slots
            .iter()
            .try_for_each(|s| unsafe { (s.end)(s.ptr) })
    }
}

impl Drop for SideOutputs {
    fn drop(&mut self) {
        for s in self.slots.drain(..) {
            // SAFETY: each slot is dropped once, with the drop fn of its own type.
            unsafe { (s.drop)(s.ptr) }
        }
    }
}
