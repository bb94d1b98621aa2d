//! How a sampler is set up (SPEC §3): the algorithms by name, their settings, their budgets of
//! network evaluations, and the settings' valid ranges.

use serde::{Deserialize, Serialize};

use crate::diffusion::{NoiseProcess, TimeGrid};

/// The sampling algorithm. Its CLI, sweep-file and serialised names are the short ones
/// (`ode`, `heun`, `ddim`, `dpm2`, `sde`, `pc`, `ald`); the long names are accepted too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum SamplerKind {
    /// Probability-flow ODE, Euler steps.
    #[value(name = "ode", alias = "ode-euler", alias = "euler")]
    #[serde(rename = "ode", alias = "ode-euler", alias = "euler")]
    OdeEuler,
    /// Probability-flow ODE, Heun steps (2 evaluations).
    #[value(name = "heun", alias = "ode-heun")]
    #[serde(rename = "heun", alias = "ode-heun")]
    OdeHeun,
    /// DDIM; deterministic at η = 0 (the default), DDPM-like ancestral at η = 1
    /// ([`SamplerConfig::eta`]).
    #[value(name = "ddim")]
    #[serde(rename = "ddim")]
    Ddim,
    /// DPM-Solver-2 (midpoint in log-SNR).
    #[value(name = "dpm2", alias = "dpm-solver-2", alias = "dpm-solver2")]
    #[serde(rename = "dpm2", alias = "dpm-solver-2", alias = "dpm-solver2")]
    DpmSolver2,
    /// Reverse SDE, Euler–Maruyama.
    #[value(name = "sde", alias = "em", alias = "euler-maruyama")]
    #[serde(rename = "sde", alias = "em", alias = "euler-maruyama")]
    Sde,
    /// ODE Euler predictor + Langevin corrector.
    #[value(name = "pc", alias = "predictor-corrector")]
    #[serde(rename = "pc", alias = "predictor-corrector")]
    PredictorCorrector,
    /// Annealed Langevin dynamics (corrector only).
    #[value(name = "ald", alias = "langevin", alias = "annealed-langevin")]
    #[serde(rename = "ald", alias = "langevin", alias = "annealed-langevin")]
    AnnealedLangevin,
}

impl SamplerKind {
    /// Every sampler, in display order.
    pub const ALL: [SamplerKind; 7] = [
        Self::OdeEuler,
        Self::OdeHeun,
        Self::Ddim,
        Self::DpmSolver2,
        Self::Sde,
        Self::PredictorCorrector,
        Self::AnnealedLangevin,
    ];

    /// CLI name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::OdeEuler => "ode",
            Self::OdeHeun => "heun",
            Self::Ddim => "ddim",
            Self::DpmSolver2 => "dpm2",
            Self::Sde => "sde",
            Self::PredictorCorrector => "pc",
            Self::AnnealedLangevin => "ald",
        }
    }

    /// The name people read, in legends, titles and the app (e.g. "ODE (Euler)").
    pub fn label(&self) -> &'static str {
        match self {
            Self::OdeEuler => "ODE (Euler)",
            Self::OdeHeun => "ODE (Heun)",
            Self::Ddim => "DDIM",
            Self::DpmSolver2 => "DPM-Solver-2",
            Self::Sde => "SDE (Euler–Maruyama)",
            Self::PredictorCorrector => "Predictor–corrector",
            Self::AnnealedLangevin => "Annealed Langevin",
        }
    }

    /// Parses a CLI name (`ode`, `heun`, `ddim`, `dpm2`, `sde`, `pc`, `ald`, or a long name),
    /// ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(name, true).ok()
    }

    /// The known names, comma separated (for messages).
    pub fn known() -> String {
        Self::ALL.map(|k| k.name()).join(", ")
    }

    /// Whether the sampler is deterministic given `x(t_0)`.
    pub fn is_deterministic(&self) -> bool {
        matches!(
            self,
            Self::OdeEuler | Self::OdeHeun | Self::Ddim | Self::DpmSolver2
        )
    }

    /// Default number of steps: 100 for deterministic samplers, 1000 for stochastic ones.
    pub fn default_steps(&self) -> usize {
        if self.is_deterministic() { 100 } else { 1000 }
    }
}

/// A sampler setting outside its valid range. The message names the setting as the library
/// knows it; a front end names its flag or key ([`SamplerError::setting`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SamplerError {
    /// Zero steps.
    #[error("{sampler} needs at least 1 step")]
    NoSteps {
        /// The sampler's name.
        sampler: &'static str,
    },
    /// γ < 0 or not finite.
    #[error(
        "the SDE's noise scale γ must be finite and ≥ 0 (0: the ODE, 1: the reverse SDE; got {0})"
    )]
    NoiseScale(f64),
    /// η outside [0, 1].
    #[error("DDIM's η must be in [0, 1] (0: deterministic DDIM, 1: ancestral; got {0})")]
    Eta(f64),
    /// A Langevin sampler without corrector steps.
    #[error("{sampler} needs at least 1 corrector step per level (its Langevin steps)")]
    NoCorrectorSteps {
        /// The sampler's name.
        sampler: &'static str,
    },
    /// A Langevin snr that is not finite and positive.
    #[error("{sampler} needs a finite snr > 0 (got {snr})")]
    Snr {
        /// The sampler's name.
        sampler: &'static str,
        /// The snr given.
        snr: f64,
    },
    /// A Langevin sampler on VP with `N ≤ β_max` steps: its step would be NaN.
    #[error(
        "{sampler} on vp needs at least {need} steps (its Langevin step has a = 1 − β(t)/N, \
         negative for N = {steps} at β_max = {beta_max}, and every sample would be NaN)"
    )]
    TooFewLangevinSteps {
        /// The sampler's name.
        sampler: &'static str,
        /// The steps given.
        steps: usize,
        /// The fewest that work.
        need: usize,
        /// The process' β_max.
        beta_max: f64,
    },
}

impl SamplerError {
    /// The setting at fault, as the CLI's flags and the sweep files' keys spell it
    /// (`steps`, `noise-scale`, `eta`, `corrector-steps`, `snr`).
    pub fn setting(&self) -> &'static str {
        match self {
            Self::NoSteps { .. } | Self::TooFewLangevinSteps { .. } => "steps",
            Self::NoiseScale(_) => "noise-scale",
            Self::Eta(_) => "eta",
            Self::NoCorrectorSteps { .. } => "corrector-steps",
            Self::Snr { .. } => "snr",
        }
    }
}

/// A budget of network evaluations below one step of a sampler.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a budget of {nfe} network evaluations is below one step of {sampler} ({per_step} per step): \
     give at least {per_step}"
)]
pub struct BudgetError {
    /// The budget asked for.
    pub nfe: usize,
    /// The sampler's name.
    pub sampler: &'static str,
    /// Its evaluations per step.
    pub per_step: usize,
}

/// How to run a sampler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// The algorithm.
    pub kind: SamplerKind,
    /// Number of steps `N` of the time grid.
    pub steps: usize,
    /// Langevin steps per level `M` (predictor–corrector, annealed Langevin).
    pub corrector_steps: usize,
    /// Langevin signal-to-noise ratio.
    pub snr: f64,
    /// DDIM's stochasticity η ∈ [0, 1] (Song et al. 2021): 0 is the deterministic DDIM, 1 the
    /// DDPM-like ancestral sampler. Other samplers ignore it.
    #[serde(default)]
    pub eta: f64,
    /// Keep every intermediate state (`[steps + 1, m, d]` on the host) …
    pub record_trajectory: bool,
    /// … of the first `m` particles only (`None`: all of them).
    #[serde(default)]
    pub record_particles: Option<usize>,
    /// Where the `steps + 1` times lie (SPEC §3 "Time grids"; the paper's uniform-t by
    /// default).
    #[serde(default)]
    pub grid: TimeGrid,
    /// The SDE's noise dial γ ≥ 0: `dx = [f x − ½(1 + γ²) g² s] dt + γ g dw̄` has the same
    /// marginals for every γ; 0 is the probability-flow ODE, 1 (the default) the reverse SDE.
    /// Other samplers ignore it.
    #[serde(default = "one")]
    pub noise_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl SamplerConfig {
    /// The kind's defaults: its default step count, `M = 1`, `snr = 0.16`, no trajectory.
    pub fn new(kind: SamplerKind) -> Self {
        Self {
            kind,
            steps: kind.default_steps(),
            corrector_steps: 1,
            snr: 0.16,
            eta: 0.0,
            record_trajectory: false,
            record_particles: None,
            grid: TimeGrid::UniformT,
            noise_scale: 1.0,
        }
    }

    /// With the SDE's noise dial γ (see [`Self::noise_scale`]).
    pub fn with_noise_scale(mut self, gamma: f64) -> Self {
        self.noise_scale = gamma;
        self
    }

    /// On time grid `grid`.
    pub fn with_grid(mut self, grid: TimeGrid) -> Self {
        self.grid = grid;
        self
    }

    /// With DDIM's stochasticity `eta` (see [`Self::eta`]).
    pub fn with_eta(mut self, eta: f64) -> Self {
        self.eta = eta;
        self
    }

    /// Whether the run is deterministic given `x(t_0)`: the kind's answer, except DDIM at
    /// η > 0.
    pub fn is_deterministic(&self) -> bool {
        (self.kind.is_deterministic() && !(self.kind == SamplerKind::Ddim && self.eta > 0.0))
            || (self.kind == SamplerKind::Sde && self.noise_scale == 0.0)
    }

    /// The sampler in words for tables and legends: its name, with η for a stochastic DDIM.
    pub fn label(&self) -> String {
        if self.kind == SamplerKind::Ddim && self.eta > 0.0 {
            format!("ddim η={}", self.eta)
        } else if self.kind == SamplerKind::Sde && self.noise_scale != 1.0 {
            format!("sde γ={}", self.noise_scale)
        } else {
            self.kind.name().to_string()
        }
    }

    /// With `steps` steps.
    pub fn with_steps(mut self, steps: usize) -> Self {
        self.steps = steps.max(1);
        self
    }

    /// Network evaluations of the whole run (SPEC §3): steps × evaluations per step.
    pub fn nfe(&self) -> usize {
        self.steps * self.evaluations_per_step()
    }

    /// With as many steps as a budget of `nfe` network evaluations pays for,
    /// `⌊nfe / evaluations per step⌋` (so Heun and DPM-Solver-2 use `nfe` or `nfe − 1`).
    pub fn with_nfe(mut self, nfe: usize) -> Result<Self, BudgetError> {
        let per_step = self.evaluations_per_step();
        if nfe < per_step {
            return Err(BudgetError {
                nfe,
                sampler: self.kind.name(),
                per_step,
            });
        }
        self.steps = nfe / per_step;
        Ok(self)
    }

    /// Model evaluations per step: 1 (Euler, DDIM, SDE), 2 (Heun, DPM-Solver-2), `1 + M`
    /// (predictor–corrector) or `M` (annealed Langevin), for `M` corrector steps.
    pub fn evaluations_per_step(&self) -> usize {
        match self.kind {
            SamplerKind::OdeEuler | SamplerKind::Ddim | SamplerKind::Sde => 1,
            SamplerKind::OdeHeun | SamplerKind::DpmSolver2 => 2,
            SamplerKind::PredictorCorrector => 1 + self.corrector_steps,
            SamplerKind::AnnealedLangevin => self.corrector_steps.max(1),
        }
    }

    /// Checks the settings against the sampler's valid range: at least one step; for the
    /// Langevin samplers (predictor–corrector, annealed Langevin) at least one corrector step
    /// and a finite, positive snr (the step size is `2 (snr ‖z‖ / ‖s‖)²`, so snr ≤ 0 or NaN
    /// makes a zero or undefined step). The message names the flag.
    pub fn check(&self) -> Result<(), SamplerError> {
        let sampler = self.kind.name();
        if self.steps == 0 {
            return Err(SamplerError::NoSteps { sampler });
        }
        if !(self.noise_scale.is_finite() && self.noise_scale >= 0.0) {
            return Err(SamplerError::NoiseScale(self.noise_scale));
        }
        if !(self.eta.is_finite() && (0.0..=1.0).contains(&self.eta)) {
            return Err(SamplerError::Eta(self.eta));
        }
        if matches!(
            self.kind,
            SamplerKind::PredictorCorrector | SamplerKind::AnnealedLangevin
        ) {
            if self.corrector_steps == 0 {
                return Err(SamplerError::NoCorrectorSteps { sampler });
            }
            if !(self.snr.is_finite() && self.snr > 0.0) {
                return Err(SamplerError::Snr {
                    sampler,
                    snr: self.snr,
                });
            }
        }
        Ok(())
    }

    /// [`Self::check`], and what the process `p` adds: the Langevin samplers' step on VP uses
    /// `a = 1 − β(t)/N` (Song et al.'s corrector), which must stay positive for the step size
    /// `2a(snr‖z‖/‖g‖)²` to have a square root, so they need `N > β_max` steps (21 at the
    /// paper's β_max = 20); below, every sample would be NaN.
    pub fn check_on(&self, p: &NoiseProcess) -> Result<(), SamplerError> {
        self.check()?;
        let langevin = matches!(
            self.kind,
            SamplerKind::PredictorCorrector | SamplerKind::AnnealedLangevin
        );
        if let (true, NoiseProcess::Vp { beta_max, .. }) = (langevin, p)
            && self.steps as f64 <= *beta_max
        {
            return Err(SamplerError::TooFewLangevinSteps {
                sampler: self.kind.name(),
                steps: self.steps,
                need: beta_max.floor() as usize + 1,
                beta_max: *beta_max,
            });
        }
        Ok(())
    }

    /// Recording the trajectory.
    pub fn recording(mut self) -> Self {
        self.record_trajectory = true;
        self
    }

    /// Recording the trajectory of the first `m` particles.
    pub fn recording_first(mut self, m: usize) -> Self {
        self.record_trajectory = true;
        self.record_particles = Some(m);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI, sweep files, serialised configs and messages spell every sampler one way, and
    /// the long names still parse.
    #[test]
    fn sampler_names_are_one_list() {
        for k in SamplerKind::ALL {
            let value = clap::ValueEnum::to_possible_value(&k).unwrap();
            assert_eq!(value.get_name(), k.name());
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
            assert_eq!(SamplerKind::from_name(&k.name().to_uppercase()), Some(k));
        }
        assert_eq!(
            SamplerKind::from_name("euler-maruyama"),
            Some(SamplerKind::Sde)
        );
        let old: SamplerKind = serde_json::from_str("\"ode-euler\"").unwrap();
        assert_eq!(old, SamplerKind::OdeEuler);
        assert_eq!(SamplerKind::from_name("rk4"), None);
        assert_eq!(SamplerKind::known(), "ode, heun, ddim, dpm2, sde, pc, ald");
    }

    /// An equal budget buys each sampler `⌊NFE / evaluations per step⌋` steps, and those steps
    /// cost what the counting model counts (the test above): N or N − 1 for the two-stage
    /// solvers. A budget below one step is refused with the numbers.
    #[test]
    fn a_budget_buys_the_steps_it_pays_for() {
        for kind in SamplerKind::ALL {
            for nfe in [9, 10, 100] {
                let cfg = SamplerConfig::new(kind).with_nfe(nfe).unwrap();
                let per = cfg.evaluations_per_step();
                assert_eq!(cfg.steps, nfe / per, "{kind:?}");
                assert!(cfg.nfe() <= nfe && cfg.nfe() > nfe - per, "{kind:?} {nfe}");
            }
        }
        let heun = SamplerConfig::new(SamplerKind::OdeHeun)
            .with_nfe(9)
            .unwrap();
        assert_eq!((heun.steps, heun.nfe()), (4, 8));
        let e = SamplerConfig::new(SamplerKind::DpmSolver2)
            .with_nfe(1)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a budget of 1 network evaluations is below one step of dpm2 (2 per step): give at least 2"
        );
    }
}
