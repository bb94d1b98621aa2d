//! The analysis thread's loop: it waits for snapshots and commands, runs a pass stage by stage,
//! and abandons it when a command arrives or the UI goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TryRecvError};

use super::stages::{RegimeMetrics, TidCurves, sampler_run, velocity_field};
use super::{AnalysisCommand, AnalysisContext, AnalysisEvent, AnalysisSettings, SamplerFailure};
use crate::diffusion::{EpsilonModel, ExactMixtureScore, sample};
use crate::metrics::{TidProtocol, TidReference};
use crate::model::FastScoreNet;
use crate::train::evaluation::regime_numbers;
use crate::train::worker::{Snapshot, SnapshotSlot};

/// Why a pass stopped early.
enum Interrupt {
    /// A command arrived (it has been applied).
    Command,
    /// The UI is gone.
    Shutdown,
}

/// The thread's state: its channels, the current context and settings, and the last snapshot.
pub(super) struct Analysis {
    pub(super) commands: Receiver<AnalysisCommand>,
    pub(super) events: Sender<AnalysisEvent>,
    pub(super) snapshots: Arc<SnapshotSlot>,
    pub(super) wake: Box<dyn Fn() + Send + Sync>,
    pub(super) context: AnalysisContext,
    pub(super) settings: AnalysisSettings,
    pub(super) last: Option<Arc<Snapshot>>,
    pub(super) last_progress: Instant,
    /// When the cheap stages last ran for a newer snapshot in the middle of a pass, and for
    /// which iteration.
    pub(super) last_quick: Instant,
    pub(super) quick_iteration: Option<u64>,
    /// Milliseconds between those refreshes (see [`super::AnalysisHandle::set_quick_interval`]).
    pub(super) quick_every_ms: Arc<AtomicU64>,
    /// The TID protocol's training side (subsets, neighbour counts, k-NN balls): the same for
    /// every pass until the settings or the context change, so it is built once for them.
    pub(super) tid_reference: Option<Arc<TidReference>>,
}

impl Analysis {
    /// Analyses snapshots until the UI shuts the thread down or the snapshot slot closes.
    pub(super) fn run(&mut self) {
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
            // A pass that panics (a bug, or weights that do not fit their network) is reported
            // and the thread waits for the next snapshot: the views keep what they have.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.pass(&snap)));
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(Interrupt::Command)) => pending = self.last.clone(),
                Ok(Err(Interrupt::Shutdown)) => return,
                Err(panic) => {
                    let msg = crate::train::panic_message(panic.as_ref());
                    let _ = self.events.try_send(AnalysisEvent::Error {
                        generation: Some(snap.generation),
                        message: format!("analysis of iteration {} failed: {msg}", snap.iteration),
                    });
                    (self.wake)();
                }
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
                    self.tid_reference = None;
                    again = true;
                }
                Ok(AnalysisCommand::Context(c)) => {
                    self.context = *c;
                    self.tid_reference = None;
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
        let numbers = regime_numbers(model, exact_ref, &ctx.data, s.metric_draws, &device);
        let metrics = RegimeMetrics {
            generation,
            iteration,
            loss_low: numbers.loss_low,
            loss_high: numbers.loss_high,
            mae_low: numbers.mae_low,
            mae_high: numbers.mae_high,
        };
        let field = velocity_field(model, exact_ref, ctx, s, generation, iteration, &device);
        self.emit(AnalysisEvent::Metrics(metrics))?;
        self.emit(AnalysisEvent::Field(Arc::new(field)))
    }

    /// Coalesced progress of a pass over `generation`'s snapshot: at most 4 events (and UI
    /// wake-ups) a second. The pass's own generation, not the context's: a restart applied
    /// mid-pass must not label the abandoned pass's last progress as the new run's.
    fn progress(&mut self, generation: u64, stage: &str, fraction: f32) {
        if self.last_progress.elapsed() >= Duration::from_millis(250) {
            self.last_progress = Instant::now();
            if self
                .events
                .try_send(AnalysisEvent::Progress {
                    generation,
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
            // Settings known to fail on this process (PC/ALD on VP under 21 steps) are refused
            // before any sampling, with the minimum named; a sampler whose state stops being
            // finite stops there. Either way its panel says why, and the others go on.
            let mut cfg_rec = cfg.clone();
            cfg_rec.record_trajectory = true;
            let out = match cfg.check_on(&model.process()) {
                Err(e) => Err(e.to_string()),
                Ok(()) => sample(
                    &model,
                    &cfg_rec,
                    s.n_samples,
                    s.seed,
                    &device,
                    &mut |step, steps| {
                        let f = (k as f32 + step as f32 / steps.max(1) as f32) / count as f32;
                        self.progress(generation, &label, f);
                        self.quick_update(iteration);
                    },
                )
                .map_err(|e| e.to_string()),
            };
            self.checkpoint()?;
            let out = match out {
                Ok(out) => out,
                Err(message) => {
                    self.emit(AnalysisEvent::SamplerFailed(Arc::new(SamplerFailure {
                        generation,
                        iteration,
                        config: cfg.clone(),
                        message,
                    })))?;
                    continue;
                }
            };
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
            outputs.push((cfg.kind, run.samples.clone()));
            self.emit(AnalysisEvent::Samples(Arc::new(run)))?;
            self.checkpoint()?;
        }

        // 4. TID of every sampler against the training set: the protocol's training subsets
        // once, shared by every sampler (equal-size subsets, mean ± std over repeats).
        self.progress(generation, "TID", 1.0);
        let protocol = TidProtocol {
            points: s.tid_points,
            repeats: s.tid_repeats,
            seed: s.seed,
            k: s.k,
        };
        let mut curves = Vec::with_capacity(outputs.len());
        let mut metrics = Vec::with_capacity(outputs.len());
        let reference = match self.tid_reference.clone() {
            Some(r) => Ok(r),
            None => TidReference::new(&ctx.data, &s.eps, protocol).map(Arc::new),
        };
        match reference {
            Ok(reference) => {
                self.tid_reference = Some(reference.clone());
                // The reference metrics take a while (every pair of points, per repeat): the
                // cheap stages keep following training in between, as they do while sampling.
                for (kind, gen_set) in &outputs {
                    self.quick_update(iteration);
                    match reference.measure(gen_set) {
                        Ok(c) => curves.push((*kind, c)),
                        Err(e) => self.emit(AnalysisEvent::Error {
                            generation: Some(generation),
                            message: format!("TID: {e}"),
                        })?,
                    }
                    self.checkpoint()?;
                    self.quick_update(iteration);
                    if let Ok(m) = reference.reference_metrics(gen_set) {
                        metrics.push((*kind, m));
                    }
                    self.checkpoint()?;
                }
            }
            Err(e) => self.emit(AnalysisEvent::Error {
                generation: Some(generation),
                message: format!("TID: {e}"),
            })?,
        }
        self.emit(AnalysisEvent::Tid(Arc::new(TidCurves {
            generation,
            iteration,
            curves,
            reference: metrics,
        })))?;
        self.emit(AnalysisEvent::Finished {
            generation,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;
    use crate::diffusion::{NoiseProcess, SamplerConfig, SamplerKind};
    use crate::model::{Activation, Architecture, MlpConfig, NetSpec};
    use crate::train::analysis::AnalysisHandle;

    /// A full pass on a tiny net: every stage arrives, shapes are consistent, the exact score
    /// enables velocity errors, and dropping the handle does not hang.
    #[test]
    fn a_failed_pass_is_reported_and_the_next_snapshot_is_analysed() {
        let spec = DatasetSpec::Mog { dim: 1, std: 0.1 };
        let data = Arc::new(spec.generate(2000, 0));
        let net = |dim| NetSpec {
            arch: Architecture::Mlp,
            mlp: MlpConfig::new(dim, 16, 2, Activation::Tanh),
            process: NoiseProcess::vp(),
            t_split: 0.5,
            data_std: 1.0,
            objective: Default::default(),
        };
        let slot = Arc::new(SnapshotSlot::default());
        let settings = AnalysisSettings {
            samplers: vec![SamplerConfig::new(SamplerKind::OdeEuler).with_steps(10)],
            n_samples: 300,
            n_paths: 10,
            path_times: 6,
            tid_points: 200,
            tid_repeats: 1,
            metric_draws: 200,
            ..AnalysisSettings::default()
        };
        let ctx = AnalysisContext::new(0, data, spec.mixture());
        let h = AnalysisHandle::spawn(slot.clone(), ctx, settings, Box::new(|| {}));
        // Weights of a 2-D network under a 1-D spec: the pass cannot run.
        slot.publish(Arc::new(Snapshot {
            iteration: 1,
            weights: net(2).init_weights(0),
            net: net(1),
            generation: 0,
        }));
        let next = |what: &str| loop {
            match h.recv_timeout(Duration::from_secs(60)) {
                Some(e @ (AnalysisEvent::Error { .. } | AnalysisEvent::Finished { .. })) => {
                    break e;
                }
                Some(_) => {}
                None => panic!("no {what} within 60 s"),
            }
        };
        match next("error") {
            AnalysisEvent::Error { message: e, .. } => {
                assert!(e.contains("iteration 1 failed"), "{e}")
            }
            other => panic!("expected an error, got {other:?}"),
        }
        slot.publish(Arc::new(Snapshot {
            iteration: 2,
            weights: net(1).init_weights(0),
            net: net(1),
            generation: 0,
        }));
        assert!(
            matches!(next("pass"), AnalysisEvent::Finished { .. }),
            "the thread analyses the next snapshot"
        );
    }

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
            objective: Default::default(),
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
                Some(AnalysisEvent::Error { message, .. }) => panic!("{message}"),
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
        // Beside TID, every sampler's reference metrics, on the same subsets.
        assert_eq!(t.reference.len(), 2);
        for (_, m) in &t.reference {
            assert!((0.0..=1.0).contains(&m.coverage) && m.energy_distance.is_finite());
        }
        let start = Instant::now();
        drop(h);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "drop must not hang"
        );
    }
}
