//! The executor facilities operators' drivers need: spawning, yielding, sleeping.

use std::future::Future;
use std::time::Duration;

/// A task on the current shard; dropping it cancels it.
pub(crate) type Task<T> = glommio::Task<T>;

/// Spawns `f` on the current shard.
pub(crate) fn spawn<T: 'static>(f: impl Future<Output = T> + 'static) -> Task<T> {
    glommio::spawn_local(f)
}

thread_local! {
    /// The shard's task queue for checkpoint I/O (made on first use).
    static IO_QUEUE: std::cell::OnceCell<glommio::TaskQueueHandle> = const { std::cell::OnceCell::new() };
}

/// Spawns `f`, which waits on file I/O, on the shard's latency-sensitive queue: glommio
/// reaps I/O completions when it preempts, which it does by default only every 100 ms; a
/// queue with `Latency::Matters` makes it preempt within a couple of milliseconds while
/// such I/O is pending, so a snapshot write is not held up behind a busy source.
pub(crate) fn spawn_io(f: impl Future<Output = ()> + 'static) {
    let q = IO_QUEUE.with(|q| {
        *q.get_or_init(|| {
            glommio::executor().create_task_queue(
                glommio::Shares::default(),
                glommio::Latency::Matters(Duration::from_millis(2)),
                "spate-checkpoint-io",
            )
        })
    });
    match glommio::spawn_local_into(f, q) {
        Ok(t) => {
            t.detach();
        }
        // The epoch then times out and is declined; the job goes on.
        Err(e) => tracing::warn!(error = %e, "cannot start a checkpoint write"),
    }
}

/// Lets the shard's other tasks run.
pub(crate) async fn yield_now() {
    futures_lite::future::yield_now().await
}

/// Lets the shard's other tasks (and queues: checkpoint I/O) run if this one has had the
/// thread for its time slice; otherwise returns at once (one flag read). A loop whose awaits
/// are all ready (a channel that is never empty) must call it, or it keeps the thread.
pub(crate) async fn yield_if_needed() {
    glommio::yield_if_needed().await
}

/// Sleeps on the shard's timer.
pub(crate) async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await
}

/// An async mutual-exclusion lock between the tasks of one shard.
pub(crate) struct AsyncLock(glommio::sync::Semaphore);

/// Held while the lock is taken; released on drop.
pub(crate) struct AsyncLockGuard<'a>(#[allow(dead_code)] Option<glommio::sync::Permit<'a>>);

impl AsyncLock {
    pub(crate) fn new() -> Self {
        AsyncLock(glommio::sync::Semaphore::new(1))
    }

    /// Waits for the lock.
    pub(crate) async fn lock(&self) -> AsyncLockGuard<'_> {
        // The semaphore is never closed, so acquiring only fails if it were.
        AsyncLockGuard(self.0.acquire_permit(1).await.ok())
    }
}
