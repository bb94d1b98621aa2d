//! Samplers (SPEC §3): probability-flow ODE solvers, the reverse SDE, and Langevin-based
//! samplers, batched on burn tensors so the same code runs on `flex` (CPU) and `wgpu`.
//!
//! Randomness comes from seeded host RNGs, uploaded as tensors: the same seed gives the same
//! initial noise for every sampler and on every backend. Runs that share a seed share `x(t_0)`.

use burn::tensor::{Device, Tensor};
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};

use super::NoiseProcess;
use super::model::{
    EpsilonModel, HostStep, HostUpdate, Times, to_host, to_tensor, velocity_from_epsilon,
};
use crate::data::Points;
#[cfg(test)]
mod accuracy;
mod config;

pub use config::{BudgetError, SamplerConfig, SamplerError, SamplerKind};

/// What a sampler returns.
#[derive(Clone, Debug)]
pub struct SampleOutput {
    /// Final samples `x(t_N)`.
    pub samples: Points,
    /// The times of the recorded states (the grid `t_0..t_N`).
    pub times: Vec<f64>,
    /// Recorded states, `[steps + 1, m, d]` row-major, when asked for.
    pub trajectory: Option<Vec<f32>>,
    /// The `m` of `trajectory`: the first `m` particles were recorded.
    pub trajectory_particles: usize,
}

/// A sampler's state stopped being finite (NaN or ±inf) at a step: the run stops there and
/// returns this instead of samples.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error(
    "{sampler}: the samples became NaN or infinite at step {step} of {steps} (t = {t:.4} to \
     {t_next:.4}); nothing was written. Try more steps or another time grid, or check that the \
     model's output is finite there"
)]
pub struct NonFiniteSamples {
    /// The sampler.
    pub sampler: &'static str,
    /// The step (1-based) after which the state was first not finite.
    pub step: usize,
    /// The run's steps.
    pub steps: usize,
    /// The step's start time.
    pub t: f64,
    /// The step's end time.
    pub t_next: f64,
}

/// Whether every element of `x` is finite: one reduction and one value read back per step.
fn all_finite(x: &Tensor<2>) -> bool {
    x.clone().is_finite().all().into_scalar::<bool>()
}

/// The shared initial noise `x(t_0) ~ N(0, I)`, `[n, d]`, from `seed`.
pub fn initial_noise(n: usize, d: usize, seed: u64) -> Vec<f32> {
    gaussian(n * d, &mut StdRng::seed_from_u64(seed))
}

/// Seed of the per-step noise stream, distinct from the initial-noise stream of the same seed.
fn step_noise_seed(seed: u64) -> u64 {
    seed ^ 0x9E37_79B9_7F4A_7C15
}

fn gaussian(len: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..len).map(|_| StandardNormal.sample(rng)).collect()
}

/// Runs `config` from the shared noise of `seed`, `n` particles, on `device`.
/// `progress(step, steps)` is called after every step. Stops at the first step whose state is
/// not finite ([`NonFiniteSamples`]).
pub fn sample(
    model: &dyn EpsilonModel,
    config: &SamplerConfig,
    n: usize,
    seed: u64,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SampleOutput, NonFiniteSamples> {
    let d = model.dim();
    let x0 = initial_noise(n, d, seed);
    sample_from(model, config, Points::new(n, d, x0), seed, device, progress)
}

/// Runs `config` from given starting points `x(t_0)` (`seed` drives the per-step noise only);
/// the same checks as [`sample`].
pub fn sample_from(
    model: &dyn EpsilonModel,
    config: &SamplerConfig,
    start: Points,
    seed: u64,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SampleOutput, NonFiniteSamples> {
    let p = model.process();
    let (n, d) = (start.n, start.d);
    assert_eq!(
        d,
        model.dim(),
        "sampler: points of dimension {d} for a model of dimension {}",
        model.dim()
    );
    let grid = p.grid(config.grid, config.steps);
    let steps = grid.len() - 1;
    let mut rng = StdRng::seed_from_u64(step_noise_seed(seed));
    let mut noise = |rng: &mut StdRng| to_tensor(&gaussian(n * d, rng), n, d, device);
    let kept = config.record_particles.map_or(n, |m| m.min(n));
    let mut trajectory = config.record_trajectory.then(|| {
        let mut v = Vec::with_capacity((steps + 1) * kept * d);
        v.extend_from_slice(&start.data[..kept * d]);
        v
    });
    // The samplers that are one or two ε and elementwise updates a step (all but the Langevin
    // ones) on a model that runs them on the host (the fused CPU path): in one go, with the same
    // numbers.
    let plan = step_plan(config, &p, &grid);
    if let Some(plan) = &plan {
        let mut x = start.data.clone();
        let record = trajectory.as_mut().map(|path| (path, kept));
        let mut draw = || gaussian(n * d, &mut rng);
        if let Some(done) = model.steps_host(&mut x, plan, &mut draw, record, progress) {
            return match done {
                Ok(()) => Ok(SampleOutput {
                    samples: Points::new(n, d, x),
                    times: grid,
                    trajectory_particles: if trajectory.is_some() { kept } else { 0 },
                    trajectory,
                }),
                Err(i) => Err(NonFiniteSamples {
                    sampler: config.kind.name(),
                    step: i + 1,
                    steps,
                    t: grid[i],
                    t_next: grid[i + 1],
                }),
            };
        }
    }
    let mut x = to_tensor(&start.data, n, d, device);

    for i in 0..steps {
        let (t, t_next) = (grid[i], grid[i + 1]);
        let delta = t - t_next;
        x = match config.kind {
            SamplerKind::OdeEuler
            | SamplerKind::Sde
            | SamplerKind::Ddim
            | SamplerKind::OdeHeun
            | SamplerKind::DpmSolver2 => {
                let step = plan.as_ref().expect("a planned sampler")[i];
                let eps = model.epsilon(x.clone(), &Times::Shared(t));
                let y = match step.update {
                    HostUpdate::Euler { f, c, delta } => {
                        let drift = x.clone().mul_scalar(f).add(eps.mul_scalar(c));
                        x.sub(drift.mul_scalar(delta))
                    }
                    HostUpdate::Affine { a, b } => x.mul_scalar(a).add(eps.mul_scalar(b)),
                    HostUpdate::Heun {
                        f,
                        c,
                        delta,
                        t2,
                        f2,
                        c2,
                        half,
                    } => {
                        let v1 = x.clone().mul_scalar(f).add(eps.mul_scalar(c));
                        let pred = x.clone().sub(v1.clone().mul_scalar(delta));
                        let eps2 = model.epsilon(pred.clone(), &Times::Shared(t2));
                        let v2 = pred.mul_scalar(f2).add(eps2.mul_scalar(c2));
                        x.sub(v1.add(v2).mul_scalar(half))
                    }
                    HostUpdate::Dpm2 {
                        a_u,
                        b_u,
                        t_mid,
                        a,
                        b,
                    } => {
                        let u = x.clone().mul_scalar(a_u).sub(eps.mul_scalar(b_u));
                        let eps_mid = model.epsilon(u, &Times::Shared(t_mid));
                        x.mul_scalar(a).sub(eps_mid.mul_scalar(b))
                    }
                };
                match step.noise_std {
                    Some(s) => y.add(noise(&mut rng).mul_scalar(s)),
                    None => y,
                }
            }
            SamplerKind::PredictorCorrector => {
                let eps = model.epsilon(x.clone(), &Times::Shared(t));
                let v = velocity_from_epsilon(&p, x.clone(), eps, &Times::Shared(t), device);
                let x = x.sub(v.mul_scalar(delta));
                langevin(model, x, t_next, config, steps, &mut rng, &mut noise)
            }
            SamplerKind::AnnealedLangevin => {
                langevin(model, x, t_next, config, steps, &mut rng, &mut noise)
            }
        };
        if !all_finite(&x) {
            return Err(NonFiniteSamples {
                sampler: config.kind.name(),
                step: i + 1,
                steps,
                t,
                t_next,
            });
        }
        if let Some(tr) = trajectory.as_mut() {
            let state = if kept == n {
                x.clone()
            } else {
                x.clone().slice([0..kept, 0..d])
            };
            tr.extend(to_host(state));
        }
        progress(i + 1, steps);
    }
    Ok(SampleOutput {
        samples: Points::new(n, d, to_host(x)),
        times: grid,
        trajectory_particles: if trajectory.is_some() { kept } else { 0 },
        trajectory,
    })
}

/// The steps of the samplers that are one or two ε evaluations and elementwise updates a step,
/// as [`HostStep`]s (coefficients rounded to `f32`, as burn's scalar operations round them);
/// `None` for the Langevin ones. The one statement of these samplers' maths, for both paths:
/// - Euler ODE: `x ← x − Δ v`, `v = f x + ½ g²/σ · ε` (the probability-flow velocity);
/// - SDE: `x ← x − Δ [f x − ½(1 + γ²) g² s] + γ g √Δ z` with `s = −ε/σ` (γ = 1: the reverse
///   SDE; γ = 0: the ODE's Euler step); the last step adds no noise;
/// - DDIM: `x ← α' x̂₀ + √(σ'² − c²) ε + c z` with `x̂₀ = (x − σ ε)/α` and
///   `c = η (σ'/σ) √(σ² − (α/α')² σ'²)`, the posterior std of `x(t')` given `x(t)` and `x̂₀`
///   scaled by η (Song et al. 2021); η = 0: `x ← (α'/α) x + (σ' − α' σ/α) ε`. The last step is
///   deterministic, as the SDE's is;
/// - Heun: the trapezoid of the velocities at `x` and at the Euler prediction `x − Δ v₁`;
/// - DPM-Solver-2 (Lu et al. 2022, the midpoint in log-SNR λ, `h = λ' − λ`):
///   `u = (α_mid/α) x − σ_mid (e^{h/2} − 1) ε`, `x ← (α'/α) x − σ' (e^h − 1) ε(u, t_mid)`.
fn step_plan(config: &SamplerConfig, p: &NoiseProcess, grid: &[f64]) -> Option<Vec<HostStep>> {
    let steps = grid.len() - 1;
    let euler = |t: f64, c: f64, delta: f64| HostUpdate::Euler {
        f: p.drift(t) as f32,
        c: c as f32,
        delta: delta as f32,
    };
    (0..steps)
        .map(|i| {
            let (t, t_next) = (grid[i], grid[i + 1]);
            let delta = t - t_next;
            let last = i + 1 == steps;
            let (update, noise_std) = match config.kind {
                SamplerKind::OdeEuler => (euler(t, p.velocity_epsilon_factor(t), delta), None),
                SamplerKind::Sde => {
                    let gamma = config.noise_scale;
                    let c = 0.5 * (1.0 + gamma * gamma) * p.diffusion_sq(t) / p.sigma(t);
                    let noisy = !(last || gamma == 0.0);
                    let std = gamma * (p.diffusion_sq(t) * delta).sqrt();
                    (euler(t, c, delta), noisy.then_some(std as f32))
                }
                SamplerKind::Ddim => {
                    let (a, s, a2, s2) = (p.alpha(t), p.sigma(t), p.alpha(t_next), p.sigma(t_next));
                    let c = ddim_noise_std(config.eta, a, s, a2, s2);
                    let (b, noise_std) = if c > 0.0 && !last {
                        let dir = (s2 * s2 - c * c).max(0.0).sqrt();
                        (dir - a2 * s / a, Some(c as f32))
                    } else {
                        (s2 - a2 * s / a, None)
                    };
                    let update = HostUpdate::Affine {
                        a: (a2 / a) as f32,
                        b: b as f32,
                    };
                    (update, noise_std)
                }
                SamplerKind::OdeHeun => {
                    let velocity =
                        |t: f64| (p.drift(t) as f32, p.velocity_epsilon_factor(t) as f32);
                    let ((f, c), (f2, c2)) = (velocity(t), velocity(t_next));
                    let update = HostUpdate::Heun {
                        f,
                        c,
                        delta: delta as f32,
                        t2: t_next,
                        f2,
                        c2,
                        half: (0.5 * delta) as f32,
                    };
                    (update, None)
                }
                SamplerKind::DpmSolver2 => {
                    let (l, l2) = (p.log_snr(t), p.log_snr(t_next));
                    let h = l2 - l;
                    let t_mid = p.log_snr_inverse(l + 0.5 * h);
                    let (a, a_mid, s_mid) = (p.alpha(t), p.alpha(t_mid), p.sigma(t_mid));
                    let (a2, s2) = (p.alpha(t_next), p.sigma(t_next));
                    let update = HostUpdate::Dpm2 {
                        a_u: (a_mid / a) as f32,
                        b_u: (s_mid * (0.5 * h).exp_m1()) as f32,
                        t_mid,
                        a: (a2 / a) as f32,
                        b: (s2 * h.exp_m1()) as f32,
                    };
                    (update, None)
                }
                SamplerKind::PredictorCorrector | SamplerKind::AnnealedLangevin => return None,
            };
            Some(HostStep {
                t,
                update,
                noise_std,
            })
        })
        .collect()
}

/// DDIM's per-step noise std `c = η (σ'/σ) √(σ² − (α/α')² σ'²)` from `(α, σ)` at `t` to
/// `(α', σ')` at `t' < t`: η times the std of `x(t')` given `x(t)` and `x(0)` under the forward
/// process (for VP: `η √((1 − ᾱ')/(1 − ᾱ)) √(1 − ᾱ/ᾱ')`, Song et al. 2021, eq. 16).
pub fn ddim_noise_std(eta: f64, a: f64, s: f64, a2: f64, s2: f64) -> f64 {
    if eta <= 0.0 {
        return 0.0;
    }
    let r = a / a2;
    eta * (s2 / s) * (s * s - r * r * s2 * s2).max(0.0).sqrt()
}

/// `M` Langevin corrector steps at time `t` (Song et al.'s reference corrector, SPEC §3).
fn langevin(
    model: &dyn EpsilonModel,
    mut x: Tensor<2>,
    t: f64,
    config: &SamplerConfig,
    steps: usize,
    rng: &mut StdRng,
    noise: &mut dyn FnMut(&mut StdRng) -> Tensor<2>,
) -> Tensor<2> {
    let p = model.process();
    let a = p.beta(t).map_or(1.0, |beta| match p {
        super::NoiseProcess::Vp { .. } => 1.0 - beta / steps as f64,
        _ => 1.0,
    });
    for _ in 0..config.corrector_steps {
        let g = model.score(x.clone(), &Times::Shared(t));
        let z = noise(rng);
        let grad_norm = row_norm_mean(g.clone());
        let noise_norm = row_norm_mean(z.clone());
        let step = 2.0 * a * (config.snr * noise_norm / grad_norm.max(f64::MIN_POSITIVE)).powi(2);
        x = x
            .add(g.mul_scalar(step))
            .add(z.mul_scalar((2.0 * step).sqrt()));
    }
    x
}

/// Mean over rows of the per-row L2 norm.
fn row_norm_mean(x: Tensor<2>) -> f64 {
    x.square().sum_dim(1).sqrt().mean().into_scalar::<f32>() as f64
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::data::{DatasetSpec, GaussianMixture};
    use crate::diffusion::{ExactMixtureScore, NoiseProcess};

    /// Counted by a model that counts its calls.
    #[test]
    fn evaluations_per_step_are_the_model_calls() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Counting(ExactMixtureScore, AtomicUsize);
        impl EpsilonModel for Counting {
            fn dim(&self) -> usize {
                self.0.dim()
            }
            fn process(&self) -> NoiseProcess {
                self.0.process()
            }
            fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
                self.1.fetch_add(1, Ordering::Relaxed);
                self.0.epsilon(x, t)
            }
        }
        let mix = DatasetSpec::Mog { dim: 1, std: 0.1 }.mixture().unwrap();
        let model = Counting(
            ExactMixtureScore::new(mix, NoiseProcess::vp()),
            AtomicUsize::new(0),
        );
        for kind in SamplerKind::ALL {
            // 25 steps: PC and ALD on VP need 21 or more (below, their Langevin step is NaN).
            let mut cfg = SamplerConfig::new(kind).with_steps(25);
            cfg.corrector_steps = 2;
            model.1.store(0, Ordering::Relaxed);
            sample(&model, &cfg, 8, 0, &device(), &mut |_, _| {}).unwrap();
            assert_eq!(
                model.1.load(Ordering::Relaxed),
                25 * cfg.evaluations_per_step(),
                "{kind:?}"
            );
        }
    }

    /// The Langevin samplers on VP need N > β_max steps (a = 1 − β(t)/N stays positive);
    /// below, they are refused up front with the number to give, on other processes not.
    #[test]
    fn langevin_samplers_refuse_too_few_steps_on_vp() {
        let vp = NoiseProcess::vp();
        for kind in [
            SamplerKind::PredictorCorrector,
            SamplerKind::AnnealedLangevin,
        ] {
            for steps in [2, 5, 20] {
                let e = SamplerConfig::new(kind)
                    .with_steps(steps)
                    .check_on(&vp)
                    .unwrap_err();
                assert_eq!(e.setting(), "steps");
                let e = e.to_string();
                assert!(e.contains("at least 21 steps") && !e.contains("--"), "{e}");
            }
            assert!(
                SamplerConfig::new(kind)
                    .with_steps(21)
                    .check_on(&vp)
                    .is_ok()
            );
            assert!(
                SamplerConfig::new(kind)
                    .with_steps(5)
                    .check_on(&NoiseProcess::Linear)
                    .is_ok()
            );
            // At 21 steps the samples are finite (at 5 they were NaN).
            let model = ExactMixtureScore::new(gaussian(), vp);
            let cfg = SamplerConfig::new(kind).with_steps(21);
            let out = sample(&model, &cfg, 200, 1, &device(), &mut |_, _| {}).unwrap();
            assert!(out.samples.data.iter().all(|v| v.is_finite()), "{kind:?}");
        }
        assert!(
            SamplerConfig::new(SamplerKind::Sde)
                .with_steps(2)
                .check_on(&vp)
                .is_ok()
        );
    }

    pub(super) fn device() -> Device {
        Device::flex()
    }

    pub(super) fn run(
        model: &dyn EpsilonModel,
        kind: SamplerKind,
        steps: usize,
        n: usize,
        seed: u64,
    ) -> Points {
        sample(
            model,
            &SamplerConfig::new(kind).with_steps(steps),
            n,
            seed,
            &device(),
            &mut |_, _| {},
        )
        .unwrap()
        .samples
    }

    /// Mean and variance of a 1D sample against a Gaussian N(μ, s²) target (5σ sampling bands;
    /// an extra `bias` allowance covers the time-discretisation error of the sampler).
    pub(super) fn assert_gaussian_moments(p: &Points, mu: f64, s: f64, bias: f64, what: &str) {
        let n = p.n as f64;
        let mean = p.mean()[0];
        let var = p.std()[0].powi(2);
        let se_mean = s / n.sqrt();
        let se_var = s * s * (2.0 / n).sqrt();
        assert!(
            (mean - mu).abs() < 5.0 * se_mean + bias,
            "{what}: mean {mean} vs {mu}"
        );
        assert!(
            (var - s * s).abs() < 5.0 * se_var + bias,
            "{what}: var {var} vs {}",
            s * s
        );
    }

    /// N(1.5, 0.5²), the Gaussian the sampler tests reproduce.
    pub(super) fn gaussian() -> GaussianMixture {
        GaussianMixture {
            weights: vec![1.0],
            means: vec![vec![1.5]],
            stds: vec![0.5],
        }
    }

    pub(super) fn every_process() -> [NoiseProcess; 3] {
        [
            NoiseProcess::vp(),
            NoiseProcess::sub_vp(),
            NoiseProcess::Linear,
        ]
    }

    /// For Gaussian data N(μ, s²) the exact ε is linear and every sampler must produce N(μ, s²).
    ///
    /// Allowances beyond the 5σ sampling bands: 0.01 for time discretisation; 0.02 for the
    /// Langevin samplers, whose finite step `h` inflates the stationary variance by
    /// `1/(1 − h/2v)` (≈ 1.03 at snr 0.16, measured 0.51² vs 0.5²) and whose corrector-only
    /// dynamics (ALD) lag the moving target (mean 1.446 at M = 1, 1.484 at M = 3 on the linear
    /// process), so ALD runs with M = 3 here.
    #[test]
    fn all_samplers_reproduce_a_gaussian() {
        let mix = gaussian();
        for process in every_process() {
            let model = ExactMixtureScore::new(mix.clone(), process);
            for kind in SamplerKind::ALL {
                let mut cfg = SamplerConfig::new(kind).with_steps(if kind.is_deterministic() {
                    100
                } else {
                    500
                });
                let langevin = matches!(
                    kind,
                    SamplerKind::AnnealedLangevin | SamplerKind::PredictorCorrector
                );
                if kind == SamplerKind::AnnealedLangevin {
                    cfg.corrector_steps = 3;
                }
                let p = sample(&model, &cfg, 20_000, 3, &device(), &mut |_, _| {})
                    .unwrap()
                    .samples;
                let bias = if langevin { 0.02 } else { 0.01 };
                assert_gaussian_moments(
                    &p,
                    1.5,
                    0.5,
                    bias,
                    &format!("{} {kind:?}", process.name()),
                );
            }
        }
    }

    /// The SDE's noise dial: every γ keeps the marginals, so every γ reproduces the Gaussian
    /// (under every process); γ = 0 is the Euler ODE step for step (the same samples); γ < 0
    /// or not finite is refused, naming the flag.
    #[test]
    fn every_noise_scale_reproduces_a_gaussian() {
        for process in every_process() {
            let model = ExactMixtureScore::new(gaussian(), process);
            for gamma in [0.0, 0.5, 1.0, 2.0] {
                let cfg = SamplerConfig::new(SamplerKind::Sde)
                    .with_steps(500)
                    .with_noise_scale(gamma);
                assert!(cfg.check().is_ok());
                assert_eq!(cfg.is_deterministic(), gamma == 0.0);
                let p = sample(&model, &cfg, 20_000, 3, &device(), &mut |_, _| {})
                    .unwrap()
                    .samples;
                let what = format!("{} γ = {gamma}", process.name());
                assert_gaussian_moments(&p, 1.5, 0.5, 0.01, &what);
            }
        }
        let model = ExactMixtureScore::new(gaussian(), NoiseProcess::vp());
        let sde0 = SamplerConfig::new(SamplerKind::Sde)
            .with_steps(50)
            .with_noise_scale(0.0);
        let ode = SamplerConfig::new(SamplerKind::OdeEuler).with_steps(50);
        let a = sample(&model, &sde0, 500, 7, &device(), &mut |_, _| {})
            .unwrap()
            .samples;
        let b = sample(&model, &ode, 500, 7, &device(), &mut |_, _| {})
            .unwrap()
            .samples;
        assert_eq!(a.data, b.data);
        for bad in [-0.5, f64::NAN, f64::INFINITY] {
            let cfg = SamplerConfig::new(SamplerKind::Sde).with_noise_scale(bad);
            assert!(
                cfg.check().unwrap_err().setting() == "noise-scale",
                "γ = {bad}"
            );
        }
        assert_eq!(
            SamplerConfig::new(SamplerKind::Sde)
                .with_noise_scale(0.5)
                .label(),
            "sde γ=0.5"
        );
    }

    /// DDIM's noise std against the DDPM posterior worked out by hand: VP (β 0.1 → 20) from
    /// t = 1 to t' = 0.5, ᾱ = e^(−10.05) = 4.318575e-5 and ᾱ' = e^(−2.5375) = 0.0790638, so at
    /// η = 1, c = √((1 − ᾱ')/(1 − ᾱ) · (1 − ᾱ/ᾱ')) = 0.9594128, half that at η = 0.5, and 0 at
    /// η = 0 (and for t' = t, where nothing is left to add).
    #[test]
    fn ddim_noise_std_is_the_ddpm_posterior_std() {
        let p = NoiseProcess::vp();
        let (a, s, a2, s2) = (p.alpha(1.0), p.sigma(1.0), p.alpha(0.5), p.sigma(0.5));
        assert!((a * a - 4.318_574_906e-5).abs() < 1e-12, "ᾱ(1) = {}", a * a);
        assert!((ddim_noise_std(1.0, a, s, a2, s2) - 0.959_412_794_8).abs() < 1e-9);
        assert!((ddim_noise_std(0.5, a, s, a2, s2) - 0.479_706_397_4).abs() < 1e-9);
        assert_eq!(ddim_noise_std(0.0, a, s, a2, s2), 0.0);
        assert!(ddim_noise_std(1.0, a, s, a, s).abs() < 1e-7);
    }

    /// DDIM with η > 0 reproduces a Gaussian under every process, is stochastic (another step
    /// seed, other samples from the same start) where η = 0 is not, and refuses η outside
    /// [0, 1].
    #[test]
    fn stochastic_ddim_reproduces_a_gaussian() {
        let mix = gaussian();
        for process in every_process() {
            let model = ExactMixtureScore::new(mix.clone(), process);
            for eta in [0.5, 1.0] {
                let cfg = SamplerConfig::new(SamplerKind::Ddim)
                    .with_steps(500)
                    .with_eta(eta);
                assert!(!cfg.is_deterministic() && cfg.check().is_ok());
                let p = sample(&model, &cfg, 20_000, 3, &device(), &mut |_, _| {})
                    .unwrap()
                    .samples;
                assert_gaussian_moments(&p, 1.5, 0.5, 0.01, &format!("{} η={eta}", process.name()));
            }
        }
        let model = ExactMixtureScore::new(mix, NoiseProcess::vp());
        let start = Points::new(500, 1, initial_noise(500, 1, 9));
        let from = |eta: f64, seed: u64| {
            let cfg = SamplerConfig::new(SamplerKind::Ddim)
                .with_steps(50)
                .with_eta(eta);
            sample_from(&model, &cfg, start.clone(), seed, &device(), &mut |_, _| {})
                .unwrap()
                .samples
        };
        assert_eq!(from(0.0, 1).data, from(0.0, 2).data);
        assert_ne!(from(1.0, 1).data, from(1.0, 2).data);
        assert_eq!(from(1.0, 1).data, from(1.0, 1).data);
        for bad in [-0.1, 1.5, f64::NAN] {
            let cfg = SamplerConfig::new(SamplerKind::Ddim).with_eta(bad);
            let e = cfg.check().unwrap_err();
            assert!(
                matches!(e, SamplerError::Eta(_)) && e.setting() == "eta",
                "η = {bad}"
            );
        }
    }

    /// ODE and SDE with the exact score reproduce the 1D MoG: component weights and moments.
    #[test]
    fn ode_and_sde_reproduce_mog1d() {
        let spec = DatasetSpec::Mog { dim: 1, std: 0.1 };
        let model = ExactMixtureScore::new(spec.mixture().unwrap(), NoiseProcess::vp());
        let n = 20_000;
        for (kind, steps) in [(SamplerKind::OdeEuler, 100), (SamplerKind::Sde, 1000)] {
            let p = run(&model, kind, steps, n, 1);
            let (pos, neg): (Vec<f32>, Vec<f32>) = p.data.iter().partition(|&&x| x > 0.0);
            // Weight ½: binomial std sqrt(n/4) = 70.7.
            assert!(
                (pos.len() as f64 - n as f64 / 2.0).abs() < 5.0 * 70.7,
                "{kind:?}: {} positive",
                pos.len()
            );
            for (side, mu) in [(pos, 1.0), (neg, -1.0)] {
                let pts = Points::new(side.len(), 1, side);
                // Euler's O(Δ) discretisation widens/narrows the modes a little: allow 0.002.
                assert_gaussian_moments(&pts, mu, 0.1, 0.002, &format!("{kind:?} mode {mu}"));
            }
        }
    }

    #[test]
    fn shared_seed_shares_initial_noise_and_trajectory_shape() {
        let model =
            ExactMixtureScore::new(DatasetSpec::RingMog.mixture().unwrap(), NoiseProcess::vp());
        let cfg = SamplerConfig::new(SamplerKind::Sde)
            .with_steps(10)
            .recording();
        let a = sample(&model, &cfg, 50, 4, &device(), &mut |_, _| {}).unwrap();
        let b = sample(
            &model,
            &SamplerConfig::new(SamplerKind::OdeEuler)
                .with_steps(10)
                .recording(),
            50,
            4,
            &device(),
            &mut |_, _| {},
        )
        .unwrap();
        let (ta, tb) = (a.trajectory.unwrap(), b.trajectory.unwrap());
        assert_eq!(ta.len(), 11 * 50 * 2);
        assert_eq!(ta[..100], tb[..100]);
        assert_eq!(ta[..100], initial_noise(50, 2, 4)[..]);
        // Same seed, same numbers.
        let again = sample(&model, &cfg, 50, 4, &device(), &mut |_, _| {}).unwrap();
        assert_eq!(again.samples, a.samples);
    }

    /// A sampler asked for what its maths cannot do (PC on VP at 5 steps: the Langevin step
    /// size is the square root of a negative number) stops at the first non-finite step and
    /// says which, instead of returning NaN samples.
    #[test]
    fn a_non_finite_state_stops_the_run_and_names_the_step() {
        let mix = DatasetSpec::Mog { dim: 1, std: 0.1 }.mixture().unwrap();
        let model = ExactMixtureScore::new(mix, NoiseProcess::vp());
        for kind in [
            SamplerKind::PredictorCorrector,
            SamplerKind::AnnealedLangevin,
        ] {
            let cfg = SamplerConfig::new(kind).with_steps(5);
            let err = sample(&model, &cfg, 10, 0, &device(), &mut |_, _| {}).unwrap_err();
            assert_eq!((err.sampler, err.step, err.steps), (kind.name(), 1, 5));
            assert!(
                err.t > err.t_next && err.to_string().contains("step 1 of 5"),
                "{err}"
            );
            // Enough steps: finite, as the closed form's samples are.
            let ok = sample(
                &model,
                &cfg.clone().with_steps(30),
                10,
                0,
                &device(),
                &mut |_, _| {},
            );
            assert!(ok.unwrap().samples.data.iter().all(|v| v.is_finite()));
        }
    }
}
