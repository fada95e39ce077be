//! Starting a job in the background and controlling it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Control;
use crate::api::{Env, JobResult};
use crate::error::{Result, SpateError};

/// A job running in the background (see [`Env::start`]). Dropping it cancels the job and
/// waits for its threads.
pub struct JobHandle {
    thread: Option<JoinHandle<Result<JobResult>>>,
    cancel: Arc<AtomicBool>,
    control: Arc<Control>,
    /// Embedded sinks × shards: the acknowledgements a flush waits for.
    acks_expected: usize,
    sources: usize,
    /// Savepoints are asked through it (jobs with checkpoints).
    checkpoints: Option<Arc<crate::checkpoint::shared::CheckpointShared>>,
}

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field("running", &!self.is_finished())
            .finish()
    }
}

impl Env {
    /// Starts the job on its shard threads and returns at once with a handle; the caller's
    /// thread stays free (no async runtime needed). Feed it through
    /// [`channel_source`](Env::channel_source) inputs, read it through
    /// [`to_channel`](crate::DataStream::to_channel) or
    /// [`for_each`](crate::DataStream::for_each).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2).low_latency(true);
    /// let (input, words) = env.channel_source::<String>(64);
    /// let lengths = words.map(|w| w.len()).to_channel(64);
    /// let job = env.start().unwrap();
    /// input.push("stream".to_string()).unwrap();
    /// assert_eq!(lengths.recv(), Some(6));
    /// job.shutdown().unwrap();
    /// ```
    pub fn start(self) -> Result<JobHandle> {
        let (control, sinks, sources, shards) = {
            let inner = self.inner.borrow();
            (
                inner.embedding.control.clone(),
                inner.embedding.sinks,
                inner.embedding.sources,
                self.shard_count(),
            )
        };
        let acks_expected = sinks * shards;
        let _ = control
            .acks
            .set((0..acks_expected).map(|_| AtomicU64::new(0)).collect());
        control.sinks.store(sinks as u64, Ordering::Release);
        let prepared = self.prepare()?;
        let cancel = prepared.cancel.clone();
        let checkpoints = prepared.checkpoints.clone();
        let thread = std::thread::Builder::new()
            .name("spate-job".into())
            .spawn(move || prepared.run())
            .map_err(|e| SpateError::Runtime(format!("cannot start the job thread: {e}")))?;
        Ok(JobHandle {
            thread: Some(thread),
            cancel,
            control,
            acks_expected,
            sources,
            checkpoints,
        })
    }
}

impl JobHandle {
    /// Whether the job has ended (finished, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits until every record pushed before this call has reached every embedded sink
    /// (`to_channel`, `for_each`): a barrier goes through the job behind them. Returns at
    /// once if the job has no channel source or no embedded sink, and when the job ends.
    pub fn flush(&self) -> Result<()> {
        self.flush_timeout(Duration::MAX).map(|_| ())
    }

    /// As [`flush`](Self::flush), giving up after `timeout`; `true` if the flush completed.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<bool> {
        if self.sources == 0 || self.acks_expected == 0 {
            return Ok(true);
        }
        let epoch = self.control.flush_requested.fetch_add(1, Ordering::AcqRel) + 1;
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            let done = self
                .control
                .acks
                .get()
                .is_some_and(|acks| acks.iter().all(|a| a.load(Ordering::Acquire) >= epoch));
            if done || self.is_finished() {
                return Ok(true);
            }
            if started.elapsed() >= timeout {
                return Ok(false);
            }
            // Spin briefly (a flush in low-latency mode takes microseconds), then back off.
            spins += 1;
            if spins < 1000 {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Takes a savepoint into `dir` and waits until it is complete (see
    /// `docs/checkpoints.md`): the next epoch is triggered at once, and once every shard has
    /// acknowledged it, its snapshot files and a manifest of kind `savepoint` are written
    /// into `dir`, which retention never touches. Restore it with
    /// [`RestoreFrom::Path`](crate::RestoreFrom::Path), on any shard count. The job goes on
    /// running. Needs [`Env::checkpointing`]; `dir` must not hold a savepoint already.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use std::time::Duration;
    /// let tmp = std::env::temp_dir().join(format!("spate-doc-savepoint-{}", std::process::id()));
    /// let env = Env::new()
    ///     .shards(2)
    ///     .checkpointing(tmp.join("chk"), Duration::from_secs(3600));
    /// let _out = env.generate(None, |i| i).uid("numbers").filter(|_| false).collect();
    /// let job = env.start().unwrap();
    /// let sp = job.savepoint(tmp.join("sp")).unwrap();
    /// assert!(sp.join("_manifest").is_file());
    /// job.cancel().ok();
    /// # std::fs::remove_dir_all(&tmp).unwrap();
    /// ```
    pub fn savepoint(&self, dir: impl Into<std::path::PathBuf>) -> Result<std::path::PathBuf> {
        let Some(c) = &self.checkpoints else {
            return Err(SpateError::Config(
                "savepoints need checkpointing (Env::checkpointing) when the job starts".into(),
            ));
        };
        c.savepoint(dir.into(), Duration::from_secs(600), || self.is_finished())
    }

    /// Ends the job gracefully: the channel sources read what was pushed, then end; every
    /// operator flushes; the job's result (or its error) comes back.
    pub fn shutdown(mut self) -> Result<JobResult> {
        self.control.closing.store(true, Ordering::Release);
        self.wait()
    }

    /// Waits for the job to end by itself (bounded sources, or every [`Input`](super::Input)
    /// dropped).
    pub fn join(mut self) -> Result<JobResult> {
        self.wait()
    }

    /// Stops the job at once; records in flight are dropped. Returns the job's outcome
    /// (normally [`SpateError::Cancelled`]).
    pub fn cancel(mut self) -> Result<JobResult> {
        self.cancel.store(true, Ordering::Release);
        self.control.closing.store(true, Ordering::Release);
        self.wait()
    }

    fn wait(&mut self) -> Result<JobResult> {
        match self.thread.take() {
            None => Err(SpateError::Internal("job handle already waited on".into())),
            Some(t) => t
                .join()
                .map_err(|_| SpateError::Internal("the job thread panicked".into()))?,
        }
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.cancel.store(true, Ordering::Release);
            self.control.closing.store(true, Ordering::Release);
            let _ = self.wait();
        }
    }
}
