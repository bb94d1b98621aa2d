//! One 2D run, written once (SPEC §2, §5): the training set a run names, the score model built
//! for it, training with progress and cancel, and the checkpoint with its loss history. The
//! `train` command, the sweep runner and the app all go through here, so a run means the same
//! thing wherever it is started.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use super::spec::{ModelChoice, TrainingPart};
use super::trainer::{TrainConfig, TrainError, Trainer};
use crate::data::{DatasetSpec, Points, ReadError, read_points};
use crate::device::DeviceChoice;
use crate::model::checkpoint::FORMAT_VERSION;
use crate::model::fast::AdamSettings;
use crate::model::{
    Checkpoint, CheckpointMeta, DataSource, LossPoint, MlpConfig, MlpWeights, NetSpec,
};

/// The paper's model sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Preset {
    /// 3 × 100 Tanh (the paper's 2D experiments).
    #[value(name = "2d")]
    #[serde(rename = "2d")]
    TwoD,
    /// 2 × 1000 Tanh (the paper's MoG experiments).
    #[value(name = "mog")]
    #[serde(rename = "mog")]
    Mog,
}

impl Preset {
    /// The paper's preset for data of dimension `d`: the MoG one above two dimensions.
    pub fn for_dim(d: usize) -> Self {
        if d > 2 { Self::Mog } else { Self::TwoD }
    }

    /// The preset's MLP on `d`-dimensional data.
    pub fn mlp(self, d: usize) -> MlpConfig {
        match self {
            Self::TwoD => MlpConfig::preset_2d(d),
            Self::Mog => MlpConfig::preset_mog(d),
        }
    }
}

/// The paper's training-set size for a synthetic dataset: 50,000 for the Gaussian mixtures
/// `mog` and `mog1d`, 500,000 for the 2D sets.
pub fn paper_size(spec: &DatasetSpec) -> usize {
    match spec {
        DatasetSpec::Mog { .. } => 50_000,
        _ => 500_000,
    }
}

/// The data scale the skip architectures start from: the mean per-coordinate std.
pub fn data_std(data: &Points) -> f64 {
    data.std().iter().sum::<f64>() / data.d.max(1) as f64
}

/// Loads the training set a run (or a checkpoint) names.
pub fn training_set(source: &DataSource) -> Result<Points, ReadError> {
    match source {
        DataSource::Synthetic { dataset, n, seed } => Ok(dataset.generate(*n, *seed)),
        DataSource::File { path } => read_points(path),
        DataSource::Picture { path, n, seed } => crate::data::picture::trace(path, *n, *seed),
    }
}

/// A whole run: its data, its model and how it trains.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecipe {
    /// The training set.
    pub data: DataSource,
    /// The model.
    pub model: ModelChoice,
    /// How it trains.
    pub training: TrainingPart,
    /// Seed of the weights and of every batch.
    pub seed: u64,
    /// Where to train.
    pub device: DeviceChoice,
}

impl RunRecipe {
    /// Loads the training set.
    pub fn training_set(&self) -> Result<Points, ReadError> {
        training_set(&self.data)
    }

    /// The training configuration on `data` (this recipe's training set).
    pub fn train_config(&self, data: &Points) -> TrainConfig {
        TrainConfig {
            net: self.model.net_spec(data),
            lr: self.training.lr,
            batch: self.training.batch,
            iterations: self.training.iters,
            seed: self.seed,
            device: self.device,
            adam: AdamSettings::default(),
            times: self.training.times,
        }
    }

    /// The training set and a trainer for it, ready to step.
    pub fn prepare(&self) -> Result<(Arc<Points>, Trainer), RecipeError> {
        // Sizes first: a synthetic set is drawn whole, and a model is allocated whole.
        if let DataSource::Synthetic { dataset, n, .. } = &self.data {
            crate::limits::check_allocation(
                format!("the training set (--n {n} points of d = {})", dataset.dim()),
                *n as u128 * dataset.dim() as u128,
                4,
                "ask for fewer points",
            )?;
        }
        let data = Arc::new(self.training_set()?);
        let trainer = Trainer::new(self.train_config(&data), data.clone())?;
        Ok((data, trainer))
    }

    /// The checkpoint of `weights` trained by this recipe to `iteration`, with the loss
    /// history and free-form `extra` training notes (device, sweep run, …).
    pub fn checkpoint(
        &self,
        net: NetSpec,
        weights: Vec<MlpWeights>,
        iteration: u64,
        losses: &LossHistory,
        extra: serde_json::Value,
    ) -> Checkpoint {
        let times = self
            .training
            .times
            .unwrap_or_else(|| net.objective.default_times());
        let mut training = serde_json::json!({
            "lr": self.training.lr,
            "batch": self.training.batch,
            "iters": self.training.iters,
            "times": times.name(),
        });
        if let (Some(t), serde_json::Value::Object(extra)) = (training.as_object_mut(), extra) {
            t.extend(extra);
        }
        Checkpoint {
            meta: CheckpointMeta {
                format_version: FORMAT_VERSION,
                net,
                data: self.data.clone(),
                iteration,
                seed: self.seed,
                loss: losses.recent_mean(),
                training,
                losses: losses.points().to_vec(),
            },
            weights,
        }
    }
}

/// Why a run could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The training set could not be read.
    #[error("the training set: {0}")]
    Data(#[from] ReadError),
    /// The trainer refused the configuration.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The data or the model would not fit in memory.
    #[error(transparent)]
    TooLarge(#[from] crate::limits::TooLarge),
}

/// At most this many loss points are kept; older ones are thinned by half.
pub const MAX_LOSS_POINTS: usize = 4000;
/// Iterations in the moving mean that a run reports as its loss.
const RECENT: usize = 100;

/// A loss curve that stays small however long the run (thinned by half when full), and the
/// mean of the last 100 losses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LossHistory {
    points: Vec<LossPoint>,
    recent: std::collections::VecDeque<f64>,
}

impl LossHistory {
    /// A history that starts from a checkpoint's points.
    pub fn from_points(points: Vec<LossPoint>) -> Self {
        Self {
            points,
            recent: Default::default(),
        }
    }

    /// Records a finite `loss` at `iteration` (non-finite ones are dropped).
    pub fn push(&mut self, iteration: u64, loss: f64) {
        if !loss.is_finite() {
            return;
        }
        if self.points.len() >= MAX_LOSS_POINTS {
            self.points = self.points.iter().step_by(2).copied().collect();
        }
        self.points.push(LossPoint { iteration, loss });
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(loss);
    }

    /// The curve.
    pub fn points(&self) -> &[LossPoint] {
        &self.points
    }

    /// The newest point.
    pub fn last(&self) -> Option<&LossPoint> {
        self.points.last()
    }

    /// Mean of the last 100 recorded losses.
    pub fn recent_mean(&self) -> Option<f64> {
        (!self.recent.is_empty())
            .then(|| self.recent.iter().sum::<f64>() / self.recent.len() as f64)
    }
}

/// How a run went.
#[derive(Debug)]
pub struct RunOutcome {
    /// Iterations done (fewer than asked when it diverged or was cancelled).
    pub iterations: u64,
    /// Wall time.
    pub seconds: f64,
    /// The loss curve.
    pub losses: LossHistory,
    /// Why it stopped early: divergence (the trainer keeps the last finite weights).
    pub diverged: Option<TrainError>,
    /// Whether `cancel` stopped it.
    pub cancelled: bool,
}

/// Trains `trainer` for `iterations` more iterations. `progress(iteration, mean loss)` is
/// called after every iteration (throttle it yourself); `cancel` stops between iterations.
/// Divergence ends the run with the last finite weights kept; other errors are returned.
pub fn train_run(
    trainer: &mut Trainer,
    iterations: u64,
    progress: &mut (dyn FnMut(u64, f64) + Send),
    cancel: &AtomicBool,
) -> Result<RunOutcome, TrainError> {
    // The whole loop on the pool, not each step (`Trainer::on_pool`).
    trainer.on_pool(|t| train_loop(t, iterations, progress, cancel))
}

fn train_loop(
    trainer: &mut Trainer,
    iterations: u64,
    progress: &mut (dyn FnMut(u64, f64) + Send),
    cancel: &AtomicBool,
) -> Result<RunOutcome, TrainError> {
    let start = Instant::now();
    let mut losses = LossHistory::default();
    let (mut diverged, mut cancelled) = (None, false);
    for _ in 0..iterations {
        if cancel.load(Ordering::Relaxed) {
            cancelled = true;
            break;
        }
        match trainer.step() {
            Ok(loss) => {
                losses.push(trainer.iteration(), loss);
                progress(trainer.iteration(), losses.recent_mean().unwrap_or(loss));
            }
            Err(e @ TrainError::Diverged(_)) => {
                diverged = Some(e);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(RunOutcome {
        iterations: trainer.iteration(),
        seconds: start.elapsed().as_secs_f64(),
        losses,
        diverged,
        cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(iterations: u64) -> RunRecipe {
        RunRecipe {
            data: DataSource::Synthetic {
                dataset: DatasetSpec::Chessboard,
                n: 2000,
                seed: 3,
            },
            model: ModelChoice {
                width: Some(16),
                depth: Some(2),
                ..ModelChoice::default()
            },
            training: TrainingPart {
                iters: iterations,
                lr: 5e-3,
                batch: 256,
                times: None,
            },
            seed: 0,
            device: DeviceChoice::Cpu,
        }
    }

    #[test]
    fn presets_follow_the_data_dimension() {
        let two = DatasetSpec::Chessboard.generate(500, 0);
        let ten = DatasetSpec::Mog { dim: 10, std: 0.1 }.generate(500, 0);
        let m = ModelChoice::default();
        assert_eq!(m.net_spec(&two).mlp, MlpConfig::preset_2d(2));
        assert_eq!(m.net_spec(&ten).mlp, MlpConfig::preset_mog(10));
        assert_eq!(paper_size(&DatasetSpec::Mog { dim: 1, std: 0.1 }), 50_000);
        assert_eq!(paper_size(&DatasetSpec::Spiral), 500_000);
    }

    /// Two coordinates with stds 1 and 3 (a ±1 and a ±3 pattern) have a mean std of 2.
    #[test]
    fn data_std_is_the_mean_coordinate_std() {
        let data = Points::new(4, 2, vec![1.0, 3.0, -1.0, -3.0, 1.0, 3.0, -1.0, -3.0]);
        assert!((data_std(&data) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_run_trains_records_its_losses_and_checkpoints_them() {
        let r = recipe(30);
        let (_, mut trainer) = r.prepare().unwrap();
        let mut calls = 0;
        let out = train_run(
            &mut trainer,
            30,
            &mut |_, _| calls += 1,
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(
            (out.iterations, calls, out.losses.points().len()),
            (30, 30, 30)
        );
        assert!(out.diverged.is_none() && !out.cancelled);
        let ckpt = r.checkpoint(
            trainer.config().net.clone(),
            trainer.weights(),
            out.iterations,
            &out.losses,
            serde_json::json!({ "device": "cpu" }),
        );
        assert_eq!(ckpt.meta.losses.len(), 30);
        assert_eq!(ckpt.meta.training["batch"], 256);
        assert_eq!(ckpt.meta.training["device"], "cpu");
        let dir = tempfile::tempdir().unwrap();
        ckpt.save(dir.path()).unwrap();
        let back = Checkpoint::load(dir.path()).unwrap();
        assert_eq!(back.meta.losses, ckpt.meta.losses);
        assert_eq!(back.meta.loss, out.losses.recent_mean());

        // A sidecar whose sizes the weights file cannot hold is refused before anything is
        // allocated: a 10⁹-wide, 10⁹-deep network, a zero width.
        let json = dir.path().join("model.json");
        let text = std::fs::read_to_string(&json).unwrap();
        let mut meta: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (width, depth, needle) in [
            (1_000_000_000u64, 1_000_000_000u64, "parameters"),
            (0, 2, "positive"),
        ] {
            meta["net"]["mlp"]["width"] = width.into();
            meta["net"]["mlp"]["depth"] = depth.into();
            std::fs::write(&json, meta.to_string()).unwrap();
            let e = Checkpoint::load(dir.path()).err().unwrap().to_string();
            assert!(e.contains(needle) && e.contains("model.json"), "{e}");
        }
    }

    #[test]
    fn a_raised_cancel_flag_stops_before_the_first_step() {
        let (_, mut trainer) = recipe(10).prepare().unwrap();
        let out = train_run(&mut trainer, 10, &mut |_, _| {}, &AtomicBool::new(true)).unwrap();
        assert!(out.cancelled);
        assert_eq!(out.iterations, 0);
    }

    #[test]
    fn loss_history_is_thinned_and_averages_the_last_hundred() {
        let mut h = LossHistory::default();
        for i in 0..(3 * MAX_LOSS_POINTS as u64) {
            h.push(
                i,
                if i < 3 * MAX_LOSS_POINTS as u64 - 100 {
                    9.0
                } else {
                    1.0
                },
            );
        }
        h.push(0, f64::NAN);
        assert!(h.points().len() <= MAX_LOSS_POINTS);
        assert_eq!(h.last().unwrap().iteration, 3 * MAX_LOSS_POINTS as u64 - 1);
        assert_eq!(h.recent_mean(), Some(1.0));
    }
}
