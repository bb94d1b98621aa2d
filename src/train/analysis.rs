//! The analysis thread: takes the newest weight snapshot (stale ones are skipped) and computes
//! what the views need — regime losses and velocity MAE, the velocity field, samples of every
//! selected sampler from one shared noise seed with their paths and density evolution, and TID
//! curves against the training set. Training never waits for it.
//!
//! Each stage is published as soon as it is done, so the cheap views refresh quickly while the
//! expensive ones (stochastic samplers, TID) follow. A pass is abandoned when the run is reset or
//! the settings change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TryRecvError, bounded};

use super::worker::{Snapshot, SnapshotSlot};
use crate::data::{GaussianMixture, Points};
use crate::diffusion::diagnostics::{trajectory_velocity_errors, velocity_mae};
use crate::diffusion::loss::{Band, regime_loss};
use crate::diffusion::model::{to_host, to_tensor};
use crate::diffusion::{
    EpsilonModel, ExactMixtureScore, SamplerConfig, SamplerKind, Times, sample,
};
use crate::metrics::density::{DensityEvolution, error_covariance};
use crate::metrics::{TidPoint, tid_curve};
use crate::model::FastScoreNet;

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
    /// Points of each set used for TID (paper: 2,000).
    pub tid_points: usize,
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

/// Regime losses and velocity errors of one snapshot (the see-saw view).
#[derive(Clone, Debug, PartialEq)]
pub struct RegimeMetrics {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the weights.
    pub iteration: u64,
    /// DSM loss on the low-noise band `[t_min, 0.1]`.
    pub loss_low: f64,
    /// DSM loss on the high-noise band `[0.9, 1]`.
    pub loss_high: f64,
    /// Velocity MAE against the exact velocity on the low band (MoG data only).
    pub mae_low: Option<f64>,
    /// The same on the high band.
    pub mae_high: Option<f64>,
}

/// The probability-flow velocity on a grid at several times.
///
/// In 2D the grid covers the view's `x × y` box (`ny` rows of `nx`, row 0 at the lowest `y`);
/// in any other dimension it is a line: `ny = 1` and grid point `x` is `x·1_d` (the diagonal,
/// through both means of the d-D MoG), with the velocity averaged over coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct VelocityField {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the weights.
    pub iteration: u64,
    /// The times (ascending).
    pub times: Vec<f64>,
    /// Columns.
    pub nx: usize,
    /// Rows (1 for a line).
    pub ny: usize,
    /// Components per grid point (2 in 2D, 1 otherwise).
    pub components: usize,
    /// `x` range of the grid.
    pub x_range: [f64; 2],
    /// `y` range (2D only; `[0, 0]` otherwise).
    pub y_range: [f64; 2],
    /// `v_θ`, `[times, ny, nx, components]`.
    pub velocity: Vec<f32>,
    /// `v_θ − v*` in the same layout, when the exact score exists.
    pub error: Option<Vec<f32>>,
}

/// One sampler's result on one snapshot.
#[derive(Clone, Debug)]
pub struct SamplerRun {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the weights.
    pub iteration: u64,
    /// The sampler.
    pub config: SamplerConfig,
    /// Final samples.
    pub samples: Points,
    /// Recorded times of the kept paths (subsampled grid, descending from 1).
    pub path_times: Vec<f64>,
    /// Paths of the first `n_paths` particles, `[path_times, n_paths, d]`.
    pub paths: Vec<f32>,
    /// Number of kept paths.
    pub n_paths: usize,
    /// Density evolution of the chosen coordinate over all particles and all grid times.
    pub density: DensityEvolution,
    /// 2D histogram of the samples over the view box, `[bins, bins]`, row 0 at the lowest `y`,
    /// normalised to a density (2D data only).
    pub histogram: Option<Vec<f32>>,
    /// Error covariance along the kept paths at `path_times`, `[T, T]` (exact score only).
    pub error_covariance: Option<Vec<f64>>,
    /// Seconds the sampler took.
    pub seconds: f64,
}

/// TID curves of every sampler against the training set.
#[derive(Clone, Debug)]
pub struct TidCurves {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the weights.
    pub iteration: u64,
    /// One curve per sampler.
    pub curves: Vec<(SamplerKind, Vec<TidPoint>)>,
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
    /// A pass finished.
    Finished {
        /// Seconds the whole pass took.
        seconds: f64,
    },
    /// Something failed.
    Error(String),
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
                    quick_every_ms: quick,
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.run()));
                if let Err(panic) = result {
                    let msg = super::panic_message(panic.as_ref());
                    let _ = a.events.try_send(AnalysisEvent::Error(format!(
                        "analysis thread panicked: {msg}"
                    )));
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

/// Why a pass stopped early.
enum Interrupt {
    /// A command arrived (it has been applied).
    Command,
    /// The UI is gone.
    Shutdown,
}

struct Analysis {
    commands: Receiver<AnalysisCommand>,
    events: Sender<AnalysisEvent>,
    snapshots: Arc<SnapshotSlot>,
    wake: Box<dyn Fn() + Send + Sync>,
    context: AnalysisContext,
    settings: AnalysisSettings,
    last: Option<Arc<Snapshot>>,
    last_progress: Instant,
    /// When the cheap stages last ran for a newer snapshot in the middle of a pass, and for
    /// which iteration.
    last_quick: Instant,
    quick_iteration: Option<u64>,
    /// Milliseconds between those refreshes (see [`AnalysisHandle::set_quick_interval`]).
    quick_every_ms: Arc<AtomicU64>,
}

impl Analysis {
    fn run(&mut self) {
        let mut pending: Option<Arc<Snapshot>> = None;
        loop {
            match self.poll_commands() {
                Ok(true) => pending = self.last.clone(),
                Ok(false) => {}
                Err(Interrupt::Shutdown) => return,
                Err(Interrupt::Command) => unreachable!("poll_commands applies commands"),
            }
            let snap = match pending.take() {
                Some(s) => Some(s),
                None => self.snapshots.take(Duration::from_millis(100)),
            };
            let Some(snap) = snap else {
                if self.snapshots.is_closed() {
                    return;
                }
                continue;
            };
            if snap.generation != self.context.generation {
                // A reset's first snapshot can overtake its context: hold it until then.
                if snap.generation > self.context.generation {
                    self.last = Some(snap);
                }
                continue;
            }
            self.last = Some(snap.clone());
            match self.pass(&snap) {
                Ok(()) => {}
                Err(Interrupt::Command) => pending = self.last.clone(),
                Err(Interrupt::Shutdown) => return,
            }
        }
    }

    /// Applies every queued command; `Ok(true)` when the last snapshot must be analysed again.
    fn poll_commands(&mut self) -> Result<bool, Interrupt> {
        let mut again = false;
        loop {
            match self.commands.try_recv() {
                Ok(AnalysisCommand::Shutdown) | Err(TryRecvError::Disconnected) => {
                    return Err(Interrupt::Shutdown);
                }
                Ok(AnalysisCommand::Settings(s)) => {
                    self.settings = *s;
                    again = true;
                }
                Ok(AnalysisCommand::Context(c)) => {
                    self.context = *c;
                    let held = self.last.as_ref();
                    if held.is_some_and(|l| l.generation == self.context.generation) {
                        again = true;
                    } else {
                        self.last = None;
                        again = false;
                    }
                }
                Ok(AnalysisCommand::Refresh) => again = true,
                Err(TryRecvError::Empty) => return Ok(again),
            }
        }
    }

    /// Between stages: stop when a command arrived or a newer run started.
    fn checkpoint(&mut self) -> Result<(), Interrupt> {
        if !self.commands.is_empty() {
            self.poll_commands()?;
            return Err(Interrupt::Command);
        }
        if self.snapshots.is_closed() {
            return Err(Interrupt::Shutdown);
        }
        Ok(())
    }

    fn emit(&self, e: AnalysisEvent) -> Result<(), Interrupt> {
        let mut e = e;
        loop {
            match self.events.send_timeout(e, Duration::from_millis(200)) {
                Ok(()) => {
                    (self.wake)();
                    return Ok(());
                }
                Err(SendTimeoutError::Disconnected(_)) => return Err(Interrupt::Shutdown),
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.snapshots.is_closed() {
                        return Err(Interrupt::Shutdown);
                    }
                    e = back;
                }
            }
        }
    }

    /// Between sampler steps: runs the cheap stages for a newer snapshot, at most every
    /// `quick_every_ms`.
    /// Errors (shutdown, a full queue) are left for the pass's next checkpoint to notice.
    fn quick_update(&mut self, pass_iteration: u64) {
        let every = Duration::from_millis(self.quick_every_ms.load(Ordering::Relaxed));
        if self.last_quick.elapsed() < every {
            return;
        }
        self.last_quick = Instant::now();
        let Some(snap) = self.snapshots.peek() else {
            return;
        };
        let newest_done = self
            .quick_iteration
            .unwrap_or(pass_iteration)
            .max(pass_iteration);
        if snap.generation != self.context.generation || snap.iteration <= newest_done {
            return;
        }
        self.quick_iteration = Some(snap.iteration);
        let (model, exact) = self.models(&snap);
        let exact_ref = exact.as_ref().map(|e| e as &dyn EpsilonModel);
        let _ = self.cheap_stages(&snap, &model, exact_ref);
    }

    /// The snapshot's model on the fused path, and the exact score where the data has one.
    fn models(&self, snap: &Snapshot) -> (FastScoreNet, Option<ExactMixtureScore>) {
        let model = FastScoreNet::new(snap.net.clone(), &snap.weights);
        let exact = self
            .context
            .exact
            .clone()
            .map(|m| ExactMixtureScore::new(m, snap.net.process));
        (model, exact)
    }

    /// Stages 1–2 of a pass on `snap` (whose `model` and `exact` score are given): regime
    /// losses and velocity MAE, and the velocity field.
    fn cheap_stages(
        &mut self,
        snap: &Snapshot,
        model: &FastScoreNet,
        exact_ref: Option<&dyn EpsilonModel>,
    ) -> Result<(), Interrupt> {
        let device = Device::flex();
        let (generation, iteration) = (snap.generation, snap.iteration);
        let s = &self.settings;
        let ctx = &self.context;
        let p = snap.net.process;
        let (low, high) = (Band::low(&p), Band::high(&p));
        let draws = s.metric_draws.max(1);
        let metrics = RegimeMetrics {
            generation,
            iteration,
            loss_low: regime_loss(model, &ctx.data, low, draws, 11, &device),
            loss_high: regime_loss(model, &ctx.data, high, draws, 12, &device),
            mae_low: exact_ref.map(|e| velocity_mae(model, e, &ctx.data, low, draws, 13, &device)),
            mae_high: exact_ref
                .map(|e| velocity_mae(model, e, &ctx.data, high, draws, 14, &device)),
        };
        let field = velocity_field(model, exact_ref, ctx, s, generation, iteration, &device);
        self.emit(AnalysisEvent::Metrics(metrics))?;
        self.emit(AnalysisEvent::Field(Arc::new(field)))
    }

    /// Coalesced progress: at most 4 events (and UI wake-ups) a second.
    fn progress(&mut self, stage: &str, fraction: f32) {
        if self.last_progress.elapsed() >= Duration::from_millis(250) {
            self.last_progress = Instant::now();
            if self
                .events
                .try_send(AnalysisEvent::Progress {
                    stage: stage.to_string(),
                    fraction,
                })
                .is_ok()
            {
                (self.wake)();
            }
        }
    }

    fn pass(&mut self, snap: &Snapshot) -> Result<(), Interrupt> {
        let start = Instant::now();
        let (generation, iteration) = (snap.generation, snap.iteration);
        self.emit(AnalysisEvent::Started {
            generation,
            iteration,
        })?;
        let device = Device::flex();
        let (model, exact) = self.models(snap);
        let exact_ref = exact.as_ref().map(|e| e as &dyn EpsilonModel);
        let s = self.settings.clone();
        let ctx = self.context.clone();

        // 1–2. Regime losses and velocity MAE (fixed draws so curves are smooth), the field.
        self.cheap_stages(snap, &model, exact_ref)?;
        self.checkpoint()?;

        // 3. Samplers from shared noise.
        let mut outputs = Vec::with_capacity(s.samplers.len());
        let count = s.samplers.len();
        for (k, cfg) in s.samplers.iter().enumerate() {
            let t0 = Instant::now();
            let label = format!("sampling {} ({} steps)", cfg.kind.name(), cfg.steps);
            let mut cfg_rec = cfg.clone();
            cfg_rec.record_trajectory = true;
            let out = sample(
                &model,
                &cfg_rec,
                s.n_samples,
                s.seed,
                &device,
                &mut |step, steps| {
                    let f = (k as f32 + step as f32 / steps.max(1) as f32) / count as f32;
                    self.progress(&label, f);
                    self.quick_update(iteration);
                },
            );
            self.checkpoint()?;
            let run = sampler_run(
                &model,
                exact_ref,
                cfg,
                out,
                &ctx,
                &s,
                (generation, iteration),
                t0,
                &device,
            );
            outputs.push(run.samples.clone());
            self.emit(AnalysisEvent::Samples(Arc::new(run)))?;
            self.checkpoint()?;
        }

        // 4. TID of every sampler against the training set (fixed subsets).
        self.progress("TID", 1.0);
        let train = ctx.data.subset(s.tid_points, 0x7D1D);
        let mut curves = Vec::with_capacity(outputs.len());
        for (cfg, gen_set) in s.samplers.iter().zip(&outputs) {
            let g = gen_set.subset(s.tid_points, 0x7D1E);
            match tid_curve(&train, &g, &s.eps, None) {
                Ok(c) => curves.push((cfg.kind, c)),
                Err(e) => self.emit(AnalysisEvent::Error(format!("TID: {e}")))?,
            }
        }
        self.emit(AnalysisEvent::Tid(Arc::new(TidCurves {
            generation,
            iteration,
            curves,
        })))?;
        self.emit(AnalysisEvent::Finished {
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// Evenly spaced values from `lo` to `hi`, `n ≥ 2` of them, at cell centres when `centres`.
fn linspace(lo: f64, hi: f64, n: usize, centres: bool) -> Vec<f64> {
    let n = n.max(2);
    if centres {
        let w = (hi - lo) / n as f64;
        (0..n).map(|i| lo + (i as f64 + 0.5) * w).collect()
    } else {
        (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect()
    }
}

fn velocity_field(
    model: &dyn EpsilonModel,
    exact: Option<&dyn EpsilonModel>,
    ctx: &AnalysisContext,
    s: &AnalysisSettings,
    generation: u64,
    iteration: u64,
    device: &Device,
) -> VelocityField {
    let d = model.dim();
    let p = model.process();
    // The (t, x) map of 1D/d-D data is an image in t: it needs a finer time grid than the
    // slider of the 2D field (and is a line, so it stays cheap).
    let (n_times, res) = if d == 2 {
        (s.field_times, s.field_resolution.max(2))
    } else {
        (s.field_times.max(101), s.field_resolution.max(128))
    };
    let times = linspace(crate::diffusion::T_END, p.t_max(), n_times, false);
    let (ny, components, x_range, y_range) = if d == 2 {
        (res, 2, ctx.bounds[0], ctx.bounds[1])
    } else {
        // The line x·1_d spans every coordinate's range.
        let lo = ctx
            .bounds
            .iter()
            .map(|b| b[0])
            .fold(f64::INFINITY, f64::min);
        let hi = ctx
            .bounds
            .iter()
            .map(|b| b[1])
            .fold(f64::NEG_INFINITY, f64::max);
        (1, 1, [lo, hi], [0.0, 0.0])
    };
    let xs = linspace(x_range[0], x_range[1], res, true);
    let ys = if d == 2 {
        linspace(y_range[0], y_range[1], ny, true)
    } else {
        vec![0.0]
    };
    let mut rows = Vec::with_capacity(res * ny * d);
    for &y in &ys {
        for &x in &xs {
            if d == 2 {
                rows.extend_from_slice(&[x as f32, y as f32]);
            } else {
                rows.extend(std::iter::repeat_n(x as f32, d));
            }
        }
    }
    let m = res * ny;
    let reduce = |v: Vec<f32>| -> Vec<f32> {
        if d == 2 {
            v
        } else {
            v.chunks_exact(d)
                .map(|r| r.iter().sum::<f32>() / d as f32)
                .collect()
        }
    };
    let mut velocity = Vec::with_capacity(times.len() * m * components);
    let mut error = exact.map(|_| Vec::with_capacity(times.len() * m * components));
    for &t in &times {
        let x = to_tensor(&rows, m, d, device);
        let tt = Times::Shared(t);
        let v = model.velocity(x.clone(), &tt);
        if let (Some(e), Some(err)) = (exact, error.as_mut()) {
            let diff = v.clone().sub(e.velocity(x, &tt));
            err.extend(reduce(to_host(diff)));
        }
        velocity.extend(reduce(to_host(v)));
    }
    VelocityField {
        generation,
        iteration,
        times,
        nx: res,
        ny,
        components,
        x_range,
        y_range,
        velocity,
        error,
    }
}

#[expect(clippy::too_many_arguments)] // one call site; the pieces are unrelated
fn sampler_run(
    model: &dyn EpsilonModel,
    exact: Option<&dyn EpsilonModel>,
    cfg: &SamplerConfig,
    out: crate::diffusion::SampleOutput,
    ctx: &AnalysisContext,
    s: &AnalysisSettings,
    (generation, iteration): (u64, u64),
    t0: Instant,
    device: &Device,
) -> SamplerRun {
    let (n, d) = (out.samples.n, out.samples.d);
    let traj = out.trajectory.as_deref().unwrap_or(&[]);
    let coord = s.density_coord.min(d - 1);
    // Particles start as N(0, I): the range must hold ±3.5 as well as the data.
    let b = ctx.bounds[coord];
    let range = (b[0].min(-3.5), b[1].max(3.5));
    let density = DensityEvolution::from_trajectory(
        traj,
        &out.times,
        n,
        d,
        coord,
        range,
        s.density_bins.max(1),
    );
    // Kept paths: the first `m` particles at evenly subsampled times.
    let m = s.n_paths.min(n);
    let t_all = out.times.len();
    let keep: Vec<usize> = if t_all <= s.path_times.max(2) {
        (0..t_all).collect()
    } else {
        let k = s.path_times.max(2);
        let mut v: Vec<usize> = (0..k)
            .map(|i| ((i as f64 * (t_all - 1) as f64) / (k - 1) as f64).round() as usize)
            .collect();
        v.dedup();
        v
    };
    let mut paths = Vec::with_capacity(keep.len() * m * d);
    for &k in &keep {
        let state = &traj[k * n * d..(k + 1) * n * d];
        paths.extend_from_slice(&state[..m * d]);
    }
    let path_times: Vec<f64> = keep.iter().map(|&k| out.times[k]).collect();
    let error_covariance = exact.filter(|_| m >= 2).map(|e| {
        let errs = trajectory_velocity_errors(model, e, &paths, &path_times, m, device);
        error_covariance(&errs, path_times.len(), m, d)
    });
    let histogram = (d == 2).then(|| {
        histogram_2d(
            &out.samples,
            ctx.bounds[0],
            ctx.bounds[1],
            s.histogram_bins.max(1),
        )
    });
    SamplerRun {
        generation,
        iteration,
        config: cfg.clone(),
        samples: out.samples,
        path_times,
        paths,
        n_paths: m,
        density,
        histogram,
        error_covariance,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// Density histogram of 2D points over `x_range × y_range`, `[bins, bins]` row-major, row 0 at
/// the lowest `y`; it integrates to the fraction of points inside the box.
pub fn histogram_2d(p: &Points, x_range: [f64; 2], y_range: [f64; 2], bins: usize) -> Vec<f32> {
    assert_eq!(p.d, 2, "histogram_2d needs 2D points");
    let (wx, wy) = (
        (x_range[1] - x_range[0]) / bins as f64,
        (y_range[1] - y_range[0]) / bins as f64,
    );
    let mut h = vec![0f32; bins * bins];
    for r in p.data.chunks_exact(2) {
        let i = ((r[0] as f64 - x_range[0]) / wx).floor();
        let j = ((r[1] as f64 - y_range[0]) / wy).floor();
        if i >= 0.0 && j >= 0.0 && (i as usize) < bins && (j as usize) < bins {
            h[j as usize * bins + i as usize] += 1.0;
        }
    }
    let norm = 1.0 / (p.n.max(1) as f64 * wx * wy);
    h.iter_mut().for_each(|v| *v = (*v as f64 * norm) as f32);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;
    use crate::diffusion::NoiseProcess;
    use crate::model::{Activation, Architecture, MlpConfig, NetSpec};

    /// A histogram of points uniform on the box integrates to 1 and is flat (≈ 1/area per bin,
    /// within Poisson error).
    #[test]
    fn histogram_of_uniform_points_is_flat() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let n = 200_000;
        let data: Vec<f32> = (0..2 * n).map(|_| rng.random_range(0.0..2.0)).collect();
        let h = histogram_2d(&Points::new(n, 2, data), [0.0, 2.0], [0.0, 2.0], 10);
        let cell = 0.2 * 0.2;
        let total: f64 = h.iter().map(|&v| v as f64 * cell).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // Each bin holds ~2,000 points: relative error ~ 1/sqrt(2000) ≈ 2.2%; allow 5 sigma.
        for &v in &h {
            assert!((v as f64 * 4.0 - 1.0).abs() < 0.12, "{v}");
        }
    }

    /// A full pass on a tiny net: every stage arrives, shapes are consistent, the exact score
    /// enables velocity errors, and dropping the handle does not hang.
    #[test]
    fn pass_publishes_every_stage() {
        let spec = DatasetSpec::Mog { dim: 1, std: 0.1 };
        let data = Arc::new(spec.generate(3000, 0));
        let net = NetSpec {
            arch: Architecture::Mlp,
            mlp: MlpConfig::new(1, 16, 2, Activation::Tanh),
            process: NoiseProcess::vp(),
            t_split: 0.5,
            data_std: 1.0,
        };
        let slot = Arc::new(SnapshotSlot::default());
        let settings = AnalysisSettings {
            samplers: vec![
                SamplerConfig::new(SamplerKind::OdeEuler).with_steps(20),
                SamplerConfig::new(SamplerKind::Sde).with_steps(40),
            ],
            n_samples: 500,
            n_paths: 20,
            path_times: 11,
            tid_points: 400,
            metric_draws: 300,
            ..AnalysisSettings::default()
        };
        let ctx = AnalysisContext::new(0, data, spec.mixture());
        let h = AnalysisHandle::spawn(slot.clone(), ctx, settings, Box::new(|| {}));
        slot.publish(Arc::new(Snapshot {
            iteration: 7,
            weights: net.init_weights(0),
            net,
            generation: 0,
        }));
        let (mut metrics, mut field, mut samples, mut tid) = (None, None, Vec::new(), None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match h.recv_timeout(Duration::from_millis(200)) {
                Some(AnalysisEvent::Metrics(m)) => metrics = Some(m),
                Some(AnalysisEvent::Field(f)) => field = Some(f),
                Some(AnalysisEvent::Samples(s)) => samples.push(s),
                Some(AnalysisEvent::Tid(t)) => tid = Some(t),
                Some(AnalysisEvent::Finished { .. }) => break,
                Some(AnalysisEvent::Error(e)) => panic!("{e}"),
                _ => {}
            }
        }
        let m = metrics.expect("metrics");
        assert_eq!(m.iteration, 7);
        assert!(m.loss_low.is_finite() && m.loss_high.is_finite());
        assert!(m.mae_low.unwrap() > 0.0 && m.mae_high.unwrap() > 0.0);
        let f = field.expect("field");
        assert_eq!(f.velocity.len(), f.times.len() * f.nx);
        assert_eq!(f.error.as_ref().unwrap().len(), f.velocity.len());
        assert_eq!(samples.len(), 2);
        for s in &samples {
            assert_eq!(s.samples.n, 500);
            assert_eq!(s.paths.len(), s.path_times.len() * 20);
            assert_eq!(s.density.times.len(), s.config.steps + 1);
            let c = s.error_covariance.as_ref().unwrap();
            assert_eq!(c.len(), s.path_times.len().pow(2));
        }
        // ODE and SDE start from the same noise: their first recorded states coincide.
        assert_eq!(samples[0].paths[..20], samples[1].paths[..20]);
        let t = tid.expect("tid");
        assert_eq!(t.curves.len(), 2);
        let start = Instant::now();
        drop(h);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "drop must not hang"
        );
    }
}
