//! The job lifecycle as an explicit state machine.
//!
//! ```text
//! Building ──start──▶ Running ──shard finished──▶ Finishing ──all joined──▶ Done
//!     │                  │                            │
//!     └──────────────────┴───────shard failed─────────┴──▶ Failed ──all joined──▶ Done
//! ```
//! `Done` remembers whether the job failed. Transitions are a pure function so they are
//! tested without threads.

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// The graph is being instantiated for every shard.
    Building,
    /// Shards are running.
    Running,
    /// At least one shard has finished; the others are draining.
    Finishing,
    /// A shard failed; the others are being stopped.
    Failed,
    /// Every shard thread has been joined.
    Done {
        /// Whether the job failed.
        failed: bool,
    },
}

/// What the runtime observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// Every shard thread was started.
    Started,
    /// One shard finished without error.
    ShardFinished,
    /// One shard failed.
    ShardFailed,
    /// Every shard thread has been joined.
    AllJoined,
}

impl JobState {
    /// The state after `event`. Events that make no sense in a state leave it unchanged,
    /// except that a failure always wins over finishing.
    pub fn on(self, event: JobEvent) -> JobState {
        use JobEvent::*;
        use JobState::*;
        match (self, event) {
            (Building, Started) => Running,
            (Building | Running | Finishing, ShardFailed) => Failed,
            (Running | Finishing, ShardFinished) => Finishing,
            (Failed, _) if event != AllJoined => Failed,
            (Failed, AllJoined) => Done { failed: true },
            (Building | Running | Finishing, AllJoined) => Done { failed: false },
            (s, _) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JobEvent::*;
    use super::JobState::*;

    #[test]
    fn lifecycle_transitions() {
        let s = Building.on(Started);
        assert_eq!(s, Running);
        let s = s.on(ShardFinished).on(ShardFinished);
        assert_eq!(s, Finishing);
        assert_eq!(s.on(AllJoined), Done { failed: false });
        let f = Running.on(ShardFinished).on(ShardFailed).on(ShardFinished);
        assert_eq!(f, Failed);
        assert_eq!(f.on(AllJoined), Done { failed: true });
        assert_eq!(
            Building.on(ShardFailed).on(AllJoined),
            Done { failed: true }
        );
        assert_eq!(
            Done { failed: false }.on(ShardFailed),
            Done { failed: false }
        );
    }
}
