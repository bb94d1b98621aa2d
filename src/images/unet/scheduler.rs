//! A diffusers `scheduler_config.json`: the VP process its linear betas discretise, the time
//! input its training timesteps set, and what the network predicts (ε, v or x₀), turned into the
//! ε̂ every sampler here works on.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::diffusers::{DiffusersConfigError, unsupported};
use crate::diffusion::{NoiseProcess, Times};

/// The fields of a diffusers `scheduler_config.json` that fix the process and the time input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scheduler {
    /// `_class_name` (`DDPMScheduler`, `DDIMScheduler`, …).
    #[serde(rename = "_class_name")]
    pub class_name: Option<String>,
    /// Training timesteps `N`.
    pub num_train_timesteps: usize,
    /// First beta.
    pub beta_start: f64,
    /// Last beta.
    pub beta_end: f64,
    /// Only `linear` (the VP SDE).
    pub beta_schedule: String,
    /// What the network predicts: `epsilon`, `v_prediction` or `sample` (see [`Prediction`]).
    pub prediction_type: String,
    /// Explicit betas (unsupported).
    pub trained_betas: Option<Vec<f64>>,
}

impl Default for Scheduler {
    /// `DDPMScheduler`'s defaults: linear betas 1e-4 to 0.02 over 1,000 steps, ε-prediction.
    fn default() -> Self {
        Self {
            class_name: None,
            num_train_timesteps: 1000,
            beta_start: 1e-4,
            beta_end: 0.02,
            beta_schedule: "linear".into(),
            prediction_type: "epsilon".into(),
            trained_betas: None,
        }
    }
}

impl Scheduler {
    /// The VP process these betas discretise: `β(t) = β_min + t (β_max − β_min)` with
    /// `β_min = N·beta_start`, `β_max = N·beta_end` (the discrete `β_i ≈ β(i/N)/N`).
    pub fn process(&self) -> Result<NoiseProcess, DiffusersConfigError> {
        self.check()?;
        let n = self.num_train_timesteps as f64;
        Ok(NoiseProcess::Vp {
            beta_min: n * self.beta_start,
            beta_max: n * self.beta_end,
        })
    }

    /// The continuous time `t ∈ [0, 1]` becomes timestep `t · (N − 1)`.
    pub fn label_scale(&self) -> f64 {
        (self.num_train_timesteps.max(2) - 1) as f64
    }

    fn check(&self) -> Result<(), DiffusersConfigError> {
        if self.trained_betas.is_some() {
            return Err(unsupported(
                "trained_betas",
                "a list",
                "null (linear betas)",
            ));
        }
        if self.beta_schedule != "linear" {
            return Err(unsupported(
                "beta_schedule",
                &self.beta_schedule,
                "linear (the VP SDE)",
            ));
        }
        self.prediction()?;
        let ok = |b: f64| b.is_finite() && b > 0.0 && b < 1.0;
        if self.num_train_timesteps < 2
            || !ok(self.beta_start)
            || !ok(self.beta_end)
            || self.beta_end < self.beta_start
        {
            return Err(DiffusersConfigError::Invalid(format!(
                "num_train_timesteps = {}, beta_start = {}, beta_end = {}: need at least 2 steps \
                 and 0 < beta_start <= beta_end < 1",
                self.num_train_timesteps, self.beta_start, self.beta_end
            )));
        }
        Ok(())
    }
}

/// What a diffusers U-Net predicts (`prediction_type`). Every sampler here works on ε̂, so
/// [`Scheduler::to_epsilon`] converts the others with diffusers' own `ᾱ` (as its schedulers'
/// `step` does): with `x_t = √ᾱ x₀ + √(1 − ᾱ) ε`, `v = √ᾱ ε − √(1 − ᾱ) x₀` gives
/// `ε̂ = √ᾱ v̂ + √(1 − ᾱ) x_t`, and a predicted sample `x̂₀` gives `ε̂ = (x_t − √ᾱ x̂₀) / √(1 − ᾱ)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prediction {
    /// `epsilon`: the noise (the paper's parameterisation).
    Epsilon,
    /// `v_prediction`: `v = √ᾱ ε − √(1 − ᾱ) x₀`.
    V,
    /// `sample`: the clean image `x₀`.
    Sample,
}

impl Scheduler {
    /// What the network predicts.
    pub fn prediction(&self) -> Result<Prediction, DiffusersConfigError> {
        match self.prediction_type.as_str() {
            "epsilon" => Ok(Prediction::Epsilon),
            "v_prediction" => Ok(Prediction::V),
            "sample" => Ok(Prediction::Sample),
            other => Err(unsupported(
                "prediction_type",
                other,
                "epsilon, v_prediction, sample",
            )),
        }
    }

    /// diffusers' `alphas_cumprod`: `ᾱ_i = ∏_{j ≤ i} (1 − β_j)` over the linear betas.
    pub fn alphas_cumprod(&self) -> Vec<f64> {
        let n = self.num_train_timesteps.max(2);
        let step = (self.beta_end - self.beta_start) / (n - 1) as f64;
        let mut prod = 1.0;
        (0..n)
            .map(|i| {
                prod *= 1.0 - (self.beta_start + step * i as f64);
                prod
            })
            .collect()
    }

    /// The network's output `out` at rows `x` and times `t`, as ε̂ (the identity for
    /// ε-prediction). `ᾱ` at a time between two timesteps (`t · (N − 1)` is the label the
    /// network sees) is interpolated linearly; at the integer timesteps diffusers samples on,
    /// it is diffusers' own.
    pub fn to_epsilon(&self, out: Tensor<2>, x: Tensor<2>, t: &Times) -> Tensor<2> {
        let prediction = self.prediction().unwrap_or(Prediction::Epsilon);
        if prediction == Prediction::Epsilon {
            return out;
        }
        let table = self.alphas_cumprod();
        let last = table.len() - 1;
        let alpha_bar = |t: f64| {
            let i = (t * self.label_scale()).clamp(0.0, last as f64);
            let (lo, frac) = (i.floor() as usize, i.fract());
            let hi = (lo + 1).min(last);
            table[lo] * (1.0 - frac) + table[hi] * frac
        };
        let device = x.device();
        let signal = t.coefficient(&device, |t| alpha_bar(t).sqrt());
        match prediction {
            Prediction::V => {
                let noise = t.coefficient(&device, |t| (1.0 - alpha_bar(t)).sqrt());
                signal.mul(out) + noise.mul(x)
            }
            Prediction::Sample => {
                let inv_noise = t.coefficient(&device, |t| 1.0 / (1.0 - alpha_bar(t)).sqrt());
                inv_noise.mul(x - signal.mul(out))
            }
            Prediction::Epsilon => unreachable!("returned above"),
        }
    }
}
