//! The app's state logic, without a window: what the trainer and the analysis thread reported,
//! folded into histories and the newest result of each view. Tested with fake events.

use std::sync::Arc;

use crate::diffusion::SamplerKind;
use crate::train::analysis::{RegimeMetrics, SamplerFailure, SamplerRun, TidCurves, VelocityField};
use crate::train::{AnalysisEvent, LossHistory, TrainEvent};

/// Everything the views show, updated from events.
#[derive(Default)]
pub struct ExplorerState {
    /// Run generation the state belongs to; events of other generations are ignored.
    pub generation: u64,
    /// Device in use, in words.
    pub device: String,
    /// Whether the fused CPU path trains.
    pub fast_path: bool,
    /// Iterations done.
    pub iteration: u64,
    /// Iterations per second (smoothed).
    pub iters_per_sec: f64,
    /// Whether the trainer is iterating.
    pub running: bool,
    /// Whether the run reached its configured iterations.
    pub finished: bool,
    /// Training loss history.
    pub losses: LossHistory,
    /// Regime losses and velocity MAE history (the see-saw view).
    pub metrics: Vec<RegimeMetrics>,
    /// Newest velocity field.
    pub field: Option<Arc<VelocityField>>,
    /// Newest run of each sampler, in the order they arrived in the last pass.
    pub samples: Vec<Arc<SamplerRun>>,
    /// Samplers whose newest run failed, each shown in its own panel; a sampler is in
    /// `samples` or here, never both.
    pub failures: Vec<Arc<SamplerFailure>>,
    /// Newest TID curves.
    pub tid: Option<Arc<TidCurves>>,
    /// The analysis stage in progress and its fraction.
    pub analysis_progress: Option<(String, f32)>,
    /// Iteration of the snapshot the analysis is working on.
    pub analysing_iteration: Option<u64>,
    /// Seconds of the last complete analysis pass.
    pub last_pass_seconds: Option<f64>,
    /// The last error or divergence message (shown until dismissed).
    pub message: Option<String>,
    /// Analysis events applied (the views' data version).
    pub version: u64,
    /// Sample sets received (one per sampler per pass): how often the sample views refresh.
    pub sample_updates: u64,
    /// Velocity fields received: how often the field (and see-saw) views refresh.
    pub field_updates: u64,
}

impl ExplorerState {
    /// A fresh state for a new run generation.
    pub fn reset(&mut self, generation: u64) {
        *self = Self {
            generation,
            device: std::mem::take(&mut self.device),
            fast_path: self.fast_path,
            version: self.version + 1,
            ..Self::default()
        };
    }

    /// Folds a trainer event in; events of another generation (a run since restarted) are
    /// dropped, so a late progress or pause of the old run cannot change the new one.
    pub fn apply_train(&mut self, e: TrainEvent) {
        if e.generation() != self.generation {
            return;
        }
        match e {
            TrainEvent::Ready {
                device, fast_path, ..
            } => {
                self.device = device;
                self.fast_path = fast_path;
            }
            TrainEvent::Progress {
                iteration,
                loss,
                iters_per_sec,
                ..
            } => {
                self.iteration = iteration;
                self.iters_per_sec = if self.iters_per_sec > 0.0 {
                    0.8 * self.iters_per_sec + 0.2 * iters_per_sec
                } else {
                    iters_per_sec
                };
                self.losses.push(iteration, loss);
            }
            TrainEvent::Started { iteration, .. } => {
                self.iteration = iteration;
                self.running = true;
                self.finished = false;
            }
            TrainEvent::Paused {
                iteration,
                finished,
                ..
            } => {
                self.iteration = iteration;
                self.running = false;
                self.finished = finished;
            }
            TrainEvent::Diverged { message, .. } | TrainEvent::Error { message, .. } => {
                self.running = false;
                self.message = Some(message);
            }
        }
    }

    /// Folds an analysis event in; stale generations are dropped.
    pub fn apply_analysis(&mut self, e: AnalysisEvent) {
        let current = |g: u64| g == self.generation;
        match e {
            AnalysisEvent::Started {
                generation,
                iteration,
            } if current(generation) => {
                self.analysing_iteration = Some(iteration);
            }
            AnalysisEvent::Progress {
                generation,
                stage,
                fraction,
            } if current(generation) => {
                self.analysis_progress = Some((stage, fraction));
            }
            AnalysisEvent::Metrics(m) if current(m.generation) => {
                // Keep the history ordered by iteration (a refresh may repeat one).
                self.metrics.retain(|x| x.iteration != m.iteration);
                let at = self.metrics.partition_point(|x| x.iteration < m.iteration);
                self.metrics.insert(at, m);
            }
            AnalysisEvent::Field(f) if current(f.generation) => {
                self.field = Some(f);
                self.field_updates += 1;
            }
            AnalysisEvent::Samples(s) if current(s.generation) => {
                self.failures.retain(|f| f.config.kind != s.config.kind);
                match self
                    .samples
                    .iter_mut()
                    .find(|x| x.config.kind == s.config.kind)
                {
                    Some(slot) => *slot = s,
                    None => self.samples.push(s),
                }
                self.sample_updates += 1;
            }
            AnalysisEvent::SamplerFailed(f) if current(f.generation) => {
                // Its older samples are not what it gives now: the panel shows the failure.
                self.samples.retain(|r| r.config.kind != f.config.kind);
                match self
                    .failures
                    .iter_mut()
                    .find(|x| x.config.kind == f.config.kind)
                {
                    Some(slot) => *slot = f,
                    None => self.failures.push(f),
                }
            }
            AnalysisEvent::Tid(t) if current(t.generation) => self.tid = Some(t),
            AnalysisEvent::Finished {
                generation,
                seconds,
            } if current(generation) => {
                self.analysis_progress = None;
                self.last_pass_seconds = Some(seconds);
            }
            AnalysisEvent::Error {
                generation,
                message,
            } if generation.is_none_or(current) => self.message = Some(message),
            _ => return,
        }
        self.version += 1;
    }

    /// The newest run of `kind`, if any.
    pub fn run_of(&self, kind: SamplerKind) -> Option<&Arc<SamplerRun>> {
        self.samples.iter().find(|r| r.config.kind == kind)
    }

    /// How many iterations the shown samples lag behind training (0 when current).
    pub fn staleness(&self) -> Option<u64> {
        let newest = self.samples.iter().map(|r| r.iteration).min()?;
        Some(self.iteration.saturating_sub(newest))
    }

    /// Drops sampler runs no longer selected.
    pub fn keep_samplers(&mut self, kinds: &[SamplerKind]) {
        self.samples.retain(|r| kinds.contains(&r.config.kind));
        self.failures.retain(|f| kinds.contains(&f.config.kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Points;
    use crate::diffusion::SamplerConfig;
    use crate::metrics::density::DensityEvolution;
    use crate::train::recipe::MAX_LOSS_POINTS;

    fn run(generation: u64, iteration: u64, kind: SamplerKind) -> Arc<SamplerRun> {
        Arc::new(SamplerRun {
            generation,
            iteration,
            config: SamplerConfig::new(kind),
            samples: Points::new(1, 2, vec![0.0, 0.0]),
            path_times: vec![],
            paths: vec![],
            n_paths: 0,
            density: DensityEvolution::from_trajectory(
                &[0.0, 0.0],
                &[1.0],
                1,
                2,
                0,
                (-1.0, 1.0),
                4,
            ),
            histogram: None,
            error_covariance: None,
            error_correlation: None,
            seconds: 0.0,
        })
    }

    fn metrics(generation: u64, iteration: u64) -> RegimeMetrics {
        RegimeMetrics {
            generation,
            iteration,
            loss_low: 1.0,
            loss_high: 0.5,
            mae_low: None,
            mae_high: None,
        }
    }

    #[test]
    fn progress_updates_iteration_and_losses() {
        let mut s = ExplorerState::default();
        s.apply_train(TrainEvent::Ready {
            device: "CPU".into(),
            fast_path: true,
            generation: 0,
        });
        for i in 1..=3 {
            s.apply_train(TrainEvent::Progress {
                generation: 0,
                iteration: i * 10,
                loss: 1.0 / i as f64,
                iters_per_sec: 100.0,
            });
        }
        s.apply_train(TrainEvent::Progress {
            generation: 0,
            iteration: 40,
            loss: f64::NAN,
            iters_per_sec: 100.0,
        });
        assert_eq!(s.iteration, 40);
        assert_eq!(s.device, "CPU");
        assert_eq!(s.losses.points().len(), 3, "a NaN loss is not plotted");
        assert!((s.iters_per_sec - 100.0).abs() < 1e-9);
        s.apply_train(TrainEvent::Diverged {
            generation: 0,
            message: "diverged at 41".into(),
        });
        assert_eq!(s.message.as_deref(), Some("diverged at 41"));
        assert!(!s.running);
    }

    /// The restart race: the old run's last progress, pause and error arrive after the app has
    /// reset into the next generation, and change nothing; the new run's events apply.
    #[test]
    fn a_restarted_run_ignores_the_old_runs_late_events() {
        let mut s = ExplorerState::default();
        s.reset(1);
        s.running = true;
        s.apply_train(TrainEvent::Progress {
            generation: 0,
            iteration: 900,
            loss: 0.5,
            iters_per_sec: 100.0,
        });
        s.apply_train(TrainEvent::Paused {
            generation: 0,
            iteration: 900,
            finished: true,
        });
        s.apply_train(TrainEvent::Error {
            generation: 0,
            message: "old".into(),
        });
        assert_eq!(s.iteration, 0, "a stale progress moved the new run");
        assert!(s.losses.points().is_empty());
        assert!(s.running && !s.finished && s.message.is_none());
        s.apply_train(TrainEvent::Progress {
            generation: 1,
            iteration: 10,
            loss: 0.7,
            iters_per_sec: 100.0,
        });
        s.apply_train(TrainEvent::Paused {
            generation: 1,
            iteration: 10,
            finished: false,
        });
        assert_eq!(s.iteration, 10);
        assert!(!s.running);
    }

    #[test]
    fn stale_generations_are_ignored_and_runs_replace_by_sampler() {
        let mut s = ExplorerState::default();
        s.reset(2);
        s.apply_analysis(AnalysisEvent::Samples(run(1, 5, SamplerKind::OdeEuler)));
        assert!(s.samples.is_empty(), "generation 1 is stale");
        s.apply_analysis(AnalysisEvent::Samples(run(2, 5, SamplerKind::OdeEuler)));
        s.apply_analysis(AnalysisEvent::Samples(run(2, 5, SamplerKind::Sde)));
        s.apply_analysis(AnalysisEvent::Samples(run(2, 9, SamplerKind::OdeEuler)));
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.run_of(SamplerKind::OdeEuler).unwrap().iteration, 9);
        s.iteration = 12;
        // The oldest shown run (SDE at 5) sets the staleness.
        assert_eq!(s.staleness(), Some(7));
        s.keep_samplers(&[SamplerKind::Sde]);
        assert_eq!(s.samples.len(), 1);
    }

    /// An analysis pass of the previous run that reports progress, an error and its end after
    /// a restart changes nothing; an error of the analysis thread itself (no generation) shows.
    #[test]
    fn stale_analysis_progress_errors_and_ends_are_ignored() {
        let mut s = ExplorerState::default();
        s.reset(3);
        s.apply_analysis(AnalysisEvent::Progress {
            generation: 2,
            stage: "TID".into(),
            fraction: 0.5,
        });
        s.apply_analysis(AnalysisEvent::Error {
            generation: Some(2),
            message: "old".into(),
        });
        s.apply_analysis(AnalysisEvent::Finished {
            generation: 2,
            seconds: 1.0,
        });
        assert!(s.analysis_progress.is_none() && s.message.is_none());
        assert!(s.last_pass_seconds.is_none());
        s.apply_analysis(AnalysisEvent::Progress {
            generation: 3,
            stage: "TID".into(),
            fraction: 0.5,
        });
        assert!(s.analysis_progress.is_some());
        s.apply_analysis(AnalysisEvent::Error {
            generation: None,
            message: "analysis thread panicked".into(),
        });
        assert_eq!(s.message.as_deref(), Some("analysis thread panicked"));
    }

    /// A sampler that fails replaces its older samples with its failure, the other samplers
    /// keep theirs, the status line is left alone, and its next good run clears the failure.
    #[test]
    fn a_failed_sampler_shows_in_its_own_place_until_it_runs_again() {
        let failure = |generation: u64, kind: SamplerKind| {
            AnalysisEvent::SamplerFailed(Arc::new(SamplerFailure {
                generation,
                iteration: 7,
                config: SamplerConfig {
                    steps: 5,
                    ..SamplerConfig::new(kind)
                },
                message: "pc stopped at step 2".into(),
            }))
        };
        let mut s = ExplorerState::default();
        s.reset(1);
        s.apply_analysis(AnalysisEvent::Samples(run(1, 5, SamplerKind::OdeEuler)));
        s.apply_analysis(AnalysisEvent::Samples(run(
            1,
            5,
            SamplerKind::PredictorCorrector,
        )));
        s.apply_analysis(failure(0, SamplerKind::PredictorCorrector));
        assert!(s.failures.is_empty(), "generation 0 is stale");
        s.apply_analysis(failure(1, SamplerKind::PredictorCorrector));
        s.apply_analysis(failure(1, SamplerKind::PredictorCorrector));
        assert_eq!(s.failures.len(), 1);
        assert!(s.run_of(SamplerKind::PredictorCorrector).is_none());
        assert!(s.run_of(SamplerKind::OdeEuler).is_some());
        assert!(
            s.message.is_none(),
            "the failure is the panel's, not the status line's"
        );
        s.apply_analysis(AnalysisEvent::Samples(run(
            1,
            9,
            SamplerKind::PredictorCorrector,
        )));
        assert!(s.failures.is_empty());
        s.apply_analysis(failure(1, SamplerKind::PredictorCorrector));
        s.keep_samplers(&[SamplerKind::OdeEuler]);
        assert!(s.failures.is_empty());
    }

    /// The race the monkey test found: Pause, then Train clicked before the trainer's Paused
    /// arrived. The late Paused turned the status line to "paused" while the trainer trained;
    /// the trainer's Started, sent after it, turns it back.
    #[test]
    fn a_train_click_crossing_a_late_pause_ends_as_training() {
        // "Train" clicked: shown at once.
        let mut s = ExplorerState {
            running: true,
            ..ExplorerState::default()
        };
        s.apply_train(TrainEvent::Paused {
            generation: 0,
            iteration: 40,
            finished: false,
        });
        assert!(!s.running, "the late pause is applied");
        s.apply_train(TrainEvent::Started {
            generation: 0,
            iteration: 40,
        });
        assert!(s.running && !s.finished);
    }

    #[test]
    fn metrics_stay_sorted_without_duplicates() {
        let mut s = ExplorerState::default();
        for it in [10, 30, 20, 30] {
            s.apply_analysis(AnalysisEvent::Metrics(metrics(0, it)));
        }
        let its: Vec<u64> = s.metrics.iter().map(|m| m.iteration).collect();
        assert_eq!(its, vec![10, 20, 30]);
    }

    #[test]
    fn loss_history_is_thinned_not_unbounded() {
        let mut s = ExplorerState::default();
        for i in 0..(3 * MAX_LOSS_POINTS as u64) {
            s.apply_train(TrainEvent::Progress {
                generation: 0,
                iteration: i,
                loss: 1.0,
                iters_per_sec: 1.0,
            });
        }
        assert!(s.losses.points().len() <= MAX_LOSS_POINTS);
        assert_eq!(
            s.losses.last().unwrap().iteration,
            3 * MAX_LOSS_POINTS as u64 - 1
        );
    }
}
