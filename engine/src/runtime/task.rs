//! The executor facilities operators' drivers need: spawning, yielding, sleeping.

use std::future::Future;
use std::time::Duration;

/// A task on the current shard; dropping it cancels it.
pub(crate) type Task<T> = glommio::Task<T>;

/// Spawns `f` on the current shard.
pub(crate) fn spawn<T: 'static>(f: impl Future<Output = T> + 'static) -> Task<T> {
    glommio::spawn_local(f)
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
