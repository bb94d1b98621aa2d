//! What passes between the app and the trainer thread: commands in, events out, the newest
//! weights in a single-slot mailbox, and the trainer's own status.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::super::TrainConfig;
use crate::data::Points;
use crate::model::{MlpWeights, NetSpec};
use crate::sync::lock;

/// UI → trainer.
#[derive(Debug)]
pub enum TrainCommand {
    /// Start (or resume) iterating.
    Start,
    /// Stop iterating; keep the state.
    Pause,
    /// Run exactly one iteration while paused.
    StepOnce,
    /// Change the learning rate.
    SetLr(f64),
    /// Throw the run away and set up a new one (paused).
    ///
    /// The command names the new run's generation (the app's count of runs), so that the
    /// events of the new run carry the number the app expects even if an earlier reset was
    /// never delivered.
    Reset(Box<TrainConfig>, Arc<Points>, Generation),
    /// Like [`TrainCommand::Reset`], then start from given weights (a checkpoint) at an
    /// iteration.
    ResetFrom(
        Box<TrainConfig>,
        Arc<Points>,
        Vec<MlpWeights>,
        u64,
        Generation,
    ),
    /// End the thread.
    Shutdown,
}

/// The weights at one iteration, for the analysis side (plain data, no tensors).
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Iteration the weights come from.
    pub iteration: u64,
    /// Architecture and process.
    pub net: NetSpec,
    /// Weights of every part.
    pub weights: Vec<MlpWeights>,
    /// The run's generation (increments on every reset).
    pub generation: u64,
}

/// Trainer → UI.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainEvent {
    /// A run was set up.
    Ready {
        /// Which device, in words.
        device: String,
        /// Whether the fused CPU path is used.
        fast_path: bool,
        /// Run generation.
        generation: u64,
    },
    /// Coalesced progress (dropped, never blocking, when the UI falls behind).
    Progress {
        /// Run generation.
        generation: u64,
        /// Iterations done.
        iteration: u64,
        /// Mean loss since the last progress event.
        loss: f64,
        /// Iterations per second since the last progress event.
        iters_per_sec: f64,
    },
    /// Iterating began (a `Start` while paused). The UI shows "training" on its click; this
    /// and [`Self::Paused`], in the order the trainer did them, keep it right when a click
    /// crosses a pause still on its way.
    Started {
        /// Run generation.
        generation: u64,
        /// Iterations done before it.
        iteration: u64,
    },
    /// Iterating stopped (paused, or the configured iterations are done).
    Paused {
        /// Run generation.
        generation: u64,
        /// Iterations done.
        iteration: u64,
        /// True when the run reached its configured iteration count.
        finished: bool,
    },
    /// Training diverged; the weights are the last finite ones.
    Diverged {
        /// Run generation.
        generation: u64,
        /// What happened, for the user.
        message: String,
    },
    /// Something failed (the message says what).
    Error {
        /// Run generation.
        generation: u64,
        /// What failed, for the user.
        message: String,
    },
}

impl TrainEvent {
    /// The run generation the event belongs to.
    pub fn generation(&self) -> u64 {
        match self {
            Self::Ready { generation, .. }
            | Self::Progress { generation, .. }
            | Self::Started { generation, .. }
            | Self::Paused { generation, .. }
            | Self::Diverged { generation, .. }
            | Self::Error { generation, .. } => *generation,
        }
    }

    /// Whether the event ends or starts something the UI must not miss (every event but
    /// progress): [`Worker::emit`] waits for room for these instead of dropping them.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Self::Progress { .. })
    }
}

/// A run generation (the first run is 0; each reset names the next).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generation(pub u64);

/// Publishing cadence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PublishSettings {
    /// Minimum time between progress events.
    pub progress_every: Duration,
    /// Publish a snapshot every this many iterations …
    pub snapshot_every: u64,
    /// … but not more often than this (so copying weights stays well under 5% of training).
    pub snapshot_min_interval: Duration,
    /// Threads the training computation may use: `None` shares rayon's global pool (every
    /// core); the app passes `Some(n)` so that its analysis and drawing keep the other cores
    /// instead of queueing behind training's parallel jobs.
    pub train_threads: Option<usize>,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            progress_every: Duration::from_millis(50),
            snapshot_every: 50,
            snapshot_min_interval: Duration::from_millis(150),
            train_threads: None,
        }
    }
}

/// What the trainer thread is doing now, as it last wrote it: the ground truth the app's
/// status line should come to agree with (tests compare the two).
#[derive(Debug, Default)]
pub struct TrainerStatus {
    generation: AtomicU64,
    iteration: AtomicU64,
    running: AtomicBool,
}

impl TrainerStatus {
    /// The generation of the run the trainer holds.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Iterations done in that run.
    pub fn iteration(&self) -> u64 {
        self.iteration.load(Ordering::Acquire)
    }

    /// Whether it is iterating.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(super) fn set(&self, generation: u64, iteration: u64, running: bool) {
        self.generation.store(generation, Ordering::Release);
        self.iteration.store(iteration, Ordering::Release);
        self.running.store(running, Ordering::Release);
    }
}

/// A single-slot mailbox holding the newest snapshot.
#[derive(Default)]
pub struct SnapshotSlot {
    slot: Mutex<SlotInner>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotInner {
    /// Published and not yet taken.
    pending: Option<Arc<Snapshot>>,
    /// The newest published, taken or not (for saving checkpoints).
    latest: Option<Arc<Snapshot>>,
    closed: bool,
}

impl SnapshotSlot {
    /// Replaces the held snapshot.
    pub fn publish(&self, s: Arc<Snapshot>) {
        let mut g = lock(&self.slot);
        g.pending = Some(s.clone());
        g.latest = Some(s);
        self.ready.notify_all();
    }

    /// Takes the newest snapshot, waiting up to `timeout`; `None` on timeout or after close.
    pub fn take(&self, timeout: Duration) -> Option<Arc<Snapshot>> {
        let g = lock(&self.slot);
        let (mut g, _) = self
            .ready
            .wait_timeout_while(g, timeout, |s| s.pending.is_none() && !s.closed)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.pending.take()
    }

    /// The newest published snapshot, whether or not it was taken.
    pub fn peek(&self) -> Option<Arc<Snapshot>> {
        lock(&self.slot).latest.clone()
    }

    /// Wakes every waiter for good.
    pub fn close(&self) {
        let mut g = lock(&self.slot);
        g.closed = true;
        self.ready.notify_all();
    }

    /// Whether [`Self::close`] was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.slot).closed
    }
}
