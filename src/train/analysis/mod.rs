//! The analysis thread: takes the newest weight snapshot (stale ones are skipped) and computes
//! what the views need — regime losses and velocity MAE, the velocity field, samples of every
//! selected sampler from one shared noise seed with their paths and density evolution, and TID
//! curves against the training set. Training never waits for it.
//!
//! Each stage is published as soon as it is done, so the cheap views refresh quickly while the
//! expensive ones (stochastic samplers, TID) follow. A pass is abandoned when the run is reset or
//! the settings change.
//!
//! This module holds the settings, the run context, the messages and the UI's handle; the
//! thread's loop is in `pass`, the stages' computations and their payloads in `stages`.

mod pass;
mod stages;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};

use self::pass::Analysis;
pub use self::stages::{
    RegimeMetrics, SamplerRun, TidCurves, VelocityField, histogram_2d, path_view_range,
};
use super::worker::SnapshotSlot;
use crate::data::{GaussianMixture, Points};
use crate::diffusion::{SamplerConfig, SamplerKind};

/// What to compute for each snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisSettings {
    /// Samplers to compare; all start from the same noise.
    pub samplers: Vec<SamplerConfig>,
    /// Particles per sampler.
    pub n_samples: usize,
    /// Particles whose whole path is kept for the trajectory view (the first ones of the shared
    /// noise, so ODE and SDE paths pair up).
    pub n_paths: usize,
    /// At most this many recorded times per path (evenly subsampled).
    pub path_times: usize,
    /// Seed of the shared initial noise (and of the stochastic samplers' noise).
    pub seed: u64,
    /// TID radii.
    pub eps: Vec<f64>,
    /// Points of each set in every TID subset (paper: 2,000).
    pub tid_points: usize,
    /// TID repeats with fresh subsets (mean ± std).
    pub tid_repeats: usize,
    /// The Hill estimator's k.
    pub k: crate::metrics::HillK,
    /// Grid side of the velocity field (per axis in 2D, x bins in 1D).
    pub field_resolution: usize,
    /// Number of times at which the field is computed (a slider picks one).
    pub field_times: usize,
    /// Bins of the density-evolution histogram.
    pub density_bins: usize,
    /// Coordinate shown by the density evolution.
    pub density_coord: usize,
    /// Bins per axis of the 2D sample histograms.
    pub histogram_bins: usize,
    /// Draws for the regime losses and velocity MAE.
    pub metric_draws: usize,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            samplers: vec![
                SamplerConfig::new(SamplerKind::OdeEuler),
                SamplerConfig::new(SamplerKind::Sde).with_steps(250),
            ],
            n_samples: 4000,
            n_paths: 200,
            path_times: 101,
            seed: 1,
            eps: log_spaced(0.02, 0.5, 12),
            tid_points: 2000,
            tid_repeats: 5,
            k: crate::metrics::HillK::default(),
            field_resolution: 48,
            field_times: 21,
            density_bins: 120,
            density_coord: 0,
            histogram_bins: 96,
            metric_draws: 2000,
        }
    }
}

/// `count` radii from `lo` to `hi`, evenly spaced in log.
pub fn log_spaced(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let count = count.max(2);
    (0..count)
        .map(|i| lo * (hi / lo).powf(i as f64 / (count - 1) as f64))
        .collect()
}

/// The training set and what is known about it, for one run generation.
#[derive(Clone, Debug)]
pub struct AnalysisContext {
    /// Run generation this context belongs to (snapshots of other generations are ignored).
    pub generation: u64,
    /// The training set.
    pub data: Arc<Points>,
    /// The data distribution when it is a Gaussian mixture (enables velocity errors).
    pub exact: Option<GaussianMixture>,
    /// Per-coordinate view range `[lo, hi]` (data range with a margin).
    pub bounds: Vec<[f64; 2]>,
}

impl AnalysisContext {
    /// A context whose bounds are the data's range with a 10% margin on each side.
    pub fn new(generation: u64, data: Arc<Points>, exact: Option<GaussianMixture>) -> Self {
        let mut bounds = vec![[f64::INFINITY, f64::NEG_INFINITY]; data.d];
        for i in 0..data.n {
            for (b, &v) in bounds.iter_mut().zip(data.row(i)) {
                b[0] = b[0].min(v as f64);
                b[1] = b[1].max(v as f64);
            }
        }
        for b in &mut bounds {
            if !(b[0].is_finite() && b[1].is_finite()) {
                *b = [-1.0, 1.0];
            }
            let pad = 0.1 * (b[1] - b[0]).max(1e-3);
            *b = [b[0] - pad, b[1] + pad];
        }
        Self {
            generation,
            data,
            exact,
            bounds,
        }
    }
}

/// Analysis → UI.
#[derive(Clone, Debug)]
pub enum AnalysisEvent {
    /// A pass started on this snapshot.
    Started {
        /// Run generation.
        generation: u64,
        /// Iteration.
        iteration: u64,
    },
    /// Progress inside a pass (coalesced).
    Progress {
        /// Run generation.
        generation: u64,
        /// What is being computed.
        stage: String,
        /// Fraction done, 0…1.
        fraction: f32,
    },
    /// Regime losses and velocity MAE.
    Metrics(RegimeMetrics),
    /// The velocity field.
    Field(Arc<VelocityField>),
    /// One sampler's samples, paths and densities.
    Samples(Arc<SamplerRun>),
    /// TID curves.
    Tid(Arc<TidCurves>),
    /// One sampler's run stopped (its state stopped being finite); the pass goes on with the
    /// other samplers, and the app shows this in that sampler's panel.
    SamplerFailed(Arc<SamplerFailure>),
    /// A pass finished.
    Finished {
        /// Run generation.
        generation: u64,
        /// Seconds the whole pass took.
        seconds: f64,
    },
    /// Something failed.
    Error {
        /// The run generation whose pass failed; `None` when the analysis thread itself
        /// died, which every run shares.
        generation: Option<u64>,
        /// What failed, for the user.
        message: String,
    },
}

/// A sampler whose run failed in a pass: which, on which snapshot, and why.
#[derive(Clone, Debug)]
pub struct SamplerFailure {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the snapshot.
    pub iteration: u64,
    /// The sampler as configured.
    pub config: SamplerConfig,
    /// What went wrong and what to change, for the user.
    pub message: String,
}

/// UI → analysis.
#[derive(Debug)]
pub enum AnalysisCommand {
    /// New settings; the current pass is abandoned and the last snapshot analysed again.
    Settings(Box<AnalysisSettings>),
    /// A new run (after a trainer reset): new data, new generation.
    Context(Box<AnalysisContext>),
    /// Analyse the last snapshot again.
    Refresh,
    /// End the thread.
    Shutdown,
}

/// The UI's side of the analysis thread; dropping it stops and joins the thread.
pub struct AnalysisHandle {
    commands: Sender<AnalysisCommand>,
    events: Option<Receiver<AnalysisEvent>>,
    snapshots: Arc<SnapshotSlot>,
    thread: Option<JoinHandle<()>>,
    quick_every_ms: Arc<AtomicU64>,
}

/// The default of [`AnalysisHandle::set_quick_interval`].
pub const DEFAULT_QUICK_INTERVAL: Duration = Duration::from_secs(1);

impl AnalysisHandle {
    /// While a pass samples (seconds on a small machine), the cheap stages — regime metrics
    /// and the velocity field — are recomputed for newer snapshots at most this often, so the
    /// views built on them follow training live. Each refresh takes CPU from the sampling, so
    /// the app shortens it only while such a view is shown.
    pub fn set_quick_interval(&self, every: Duration) {
        self.quick_every_ms
            .store(every.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    /// Starts the thread on the trainer's snapshot slot.
    pub fn spawn(
        snapshots: Arc<SnapshotSlot>,
        context: AnalysisContext,
        settings: AnalysisSettings,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        let (cmd_tx, cmd_rx) = bounded(16);
        let (ev_tx, ev_rx) = bounded(64);
        let slot = snapshots.clone();
        let quick_every_ms = Arc::new(AtomicU64::new(DEFAULT_QUICK_INTERVAL.as_millis() as u64));
        let quick = quick_every_ms.clone();
        let thread = std::thread::Builder::new()
            .name("analysis".into())
            .spawn(move || {
                let mut a = Analysis {
                    commands: cmd_rx,
                    events: ev_tx,
                    snapshots: slot,
                    wake,
                    context,
                    settings,
                    last: None,
                    last_progress: Instant::now(),
                    last_quick: Instant::now(),
                    quick_iteration: None,
                    tid_reference: None,
                    quick_every_ms: quick,
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.run()));
                if let Err(panic) = result {
                    let msg = super::panic_message(panic.as_ref());
                    let _ = a.events.try_send(AnalysisEvent::Error {
                        generation: None,
                        message: format!("analysis thread panicked: {msg}"),
                    });
                    (a.wake)();
                }
            })
            .expect("spawn analysis thread");
        Self {
            commands: cmd_tx,
            events: Some(ev_rx),
            snapshots,
            thread: Some(thread),
            quick_every_ms,
        }
    }

    /// Sends a command without blocking; false if the queue is full.
    pub fn send(&self, cmd: AnalysisCommand) -> bool {
        self.commands.try_send(cmd).is_ok()
    }

    /// Events received so far, at most `max`.
    pub fn drain(&self, max: usize) -> Vec<AnalysisEvent> {
        self.events
            .as_ref()
            .map(|e| e.try_iter().take(max).collect())
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for one event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<AnalysisEvent> {
        self.events.as_ref()?.recv_timeout(timeout).ok()
    }
}

impl Drop for AnalysisHandle {
    fn drop(&mut self) {
        let _ = self.commands.try_send(AnalysisCommand::Shutdown);
        // Dropping the receiver unblocks a pending send; closing the slot unblocks a wait.
        self.events = None;
        self.snapshots.close();
        let (tx, _) = bounded(0);
        drop(std::mem::replace(&mut self.commands, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
