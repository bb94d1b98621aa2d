//! One evaluation of a trained 2D (or d-dimensional) score model, the way
//! [`crate::images::study`] is the one image study: the regime numbers (band losses and the
//! velocity MAE against the exact score) and, per sampler, samples from the shared noise, their
//! TID against the training set and the error correlation along their trajectories. The sweep
//! runner, `compare` and the app's analysis pass call these, so a number means the same thing
//! wherever it is shown.

use std::time::Instant;

use burn::tensor::Device;

use crate::data::Points;
use crate::diffusion::diagnostics::velocity_mae;
use crate::diffusion::loss::{Band, regime_loss};
use crate::diffusion::{EpsilonModel, SampleOutput, SamplerConfig, sample};
use crate::metrics::{
    CORRELATION_PARTICLES, ReferenceMetrics, TidError, TidEstimate, TidReference,
    trajectory_error_correlation,
};

/// Seed of the draws of the low-noise band's ε-loss (from ε̂, whatever the objective).
pub const LOSS_LOW_SEED: u64 = 11;
/// Seed of the draws of the high-noise band's ε-loss.
pub const LOSS_HIGH_SEED: u64 = 12;
/// Seed of the draws of the low-noise band's velocity MAE.
pub const MAE_LOW_SEED: u64 = 13;
/// Seed of the draws of the high-noise band's velocity MAE.
pub const MAE_HIGH_SEED: u64 = 14;

/// The see-saw's numbers (SPEC §2 regime losses, §7 velocity MAE) in the low-noise band
/// `[t_min, 0.1]` and the high-noise band `[0.9, 1]`, in units that do not depend on the
/// objective: the ε-loss of ε̂, and the error of `v_θ` against `v*` (MAE: with an exact score).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegimeNumbers {
    /// ε-loss on the low-noise band.
    pub loss_low: f64,
    /// ε-loss on the high-noise band.
    pub loss_high: f64,
    /// Velocity MAE on the low-noise band.
    pub mae_low: Option<f64>,
    /// Velocity MAE on the high-noise band.
    pub mae_high: Option<f64>,
}

/// Velocity MAE in the low- and high-noise bands from `draws` draws each (the named seeds).
pub fn velocity_maes(
    model: &dyn EpsilonModel,
    exact: &dyn EpsilonModel,
    data: &Points,
    draws: usize,
    device: &Device,
) -> (f64, f64) {
    let p = model.process();
    let draws = draws.max(1);
    (
        velocity_mae(
            model,
            exact,
            data,
            Band::low(&p),
            draws,
            MAE_LOW_SEED,
            device,
        ),
        velocity_mae(
            model,
            exact,
            data,
            Band::high(&p),
            draws,
            MAE_HIGH_SEED,
            device,
        ),
    )
}

/// The regime losses and, with an exact score, the velocity MAE, from `draws` draws each.
pub fn regime_numbers(
    model: &dyn EpsilonModel,
    exact: Option<&dyn EpsilonModel>,
    data: &Points,
    draws: usize,
    device: &Device,
) -> RegimeNumbers {
    let p = model.process();
    let draws = draws.max(1);
    let maes = exact.map(|e| velocity_maes(model, e, data, draws, device));
    RegimeNumbers {
        loss_low: regime_loss(model, data, Band::low(&p), draws, LOSS_LOW_SEED, device),
        loss_high: regime_loss(model, data, Band::high(&p), draws, LOSS_HIGH_SEED, device),
        mae_low: maes.map(|m| m.0),
        mae_high: maes.map(|m| m.1),
    }
}

/// One sampler's evaluation.
#[derive(Debug)]
pub struct SamplerEvaluation {
    /// The sampler as run (its trajectory recorded for the first particles when an exact score
    /// was given).
    pub config: SamplerConfig,
    /// Its output (samples, and the recorded trajectory).
    pub output: SampleOutput,
    /// Wall time of the sampling.
    pub seconds: f64,
    /// TID at each of the reference's radii.
    pub tid: Vec<TidEstimate>,
    /// Mean correlation of the velocity error between grid times along the first
    /// [`CORRELATION_PARTICLES`] trajectories; `None` without an exact score.
    pub error_correlation: Option<f64>,
    /// Precision, recall, density, coverage and the energy distance on TID's subsets.
    pub reference: ReferenceMetrics,
}

/// Why a sampler's evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// The sampler's state stopped being finite.
    #[error(transparent)]
    Sampling(#[from] crate::diffusion::NonFiniteSamples),
    /// TID or the reference metrics could not be measured.
    #[error(transparent)]
    Tid(#[from] TidError),
}

/// Samples `n` points with `config` from the shared noise of `seed`, measures their TID against
/// `reference` and, with an exact score, the error correlation along their trajectories.
/// `progress(step, steps)` follows the sampler.
#[expect(clippy::too_many_arguments)] // reason: the evaluation's inputs, each distinct
pub fn evaluate_sampler(
    model: &dyn EpsilonModel,
    exact: Option<&dyn EpsilonModel>,
    reference: &TidReference,
    config: &SamplerConfig,
    n: usize,
    seed: u64,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SamplerEvaluation, EvaluationError> {
    let mut config = config.clone();
    if exact.is_some() {
        config = config.recording_first(CORRELATION_PARTICLES);
    }
    let start = Instant::now();
    let output = sample(model, &config, n, seed, device, progress)?;
    let seconds = start.elapsed().as_secs_f64();
    let error_correlation = match (exact, &output.trajectory) {
        (Some(e), Some(tr)) => trajectory_error_correlation(
            model,
            e,
            tr,
            &output.times,
            output.trajectory_particles,
            device,
        ),
        _ => None,
    };
    let tid = reference.measure(&output.samples)?;
    let metrics = reference.reference_metrics(&output.samples)?;
    Ok(SamplerEvaluation {
        config,
        output,
        seconds,
        tid,
        error_correlation,
        reference: metrics,
    })
}
