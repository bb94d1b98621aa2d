//! Objectives (SPEC §2 "Objectives"): what a network outputs, what it is trained against, and
//! how its output becomes the `ε̂` every sampler, view and metric reads.
//!
//! Every objective here is affine in the same way, which is what lets one trainer and one
//! inference path serve them all:
//! - the network sees `[k_in(t)·x, τ(t)]` (`k_in = 1`, `τ = t` but for EDM);
//! - it is trained with an unweighted MSE against `target = a(t)·x_0 + b(t)·ε`;
//! - its output `o` converts as `ε̂ = c(t)·x + e(t)·o`.
//!
//! EDM's loss weight `(s² + s_d²)/(s s_d)²` on `x̂_0` is exactly `1/c_out²`, so its weighted
//! `x̂_0` loss is the unweighted MSE of `F` against `(x_0 − c_skip y)/c_out` (Karras et al. 2022,
//! eq. 8): the same affine form. Adding an objective is a variant here; the exhaustive `match`es
//! below are the list the compiler checks.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::loss::Band;
use super::{NoiseProcess, Times};

/// What the network outputs (SPEC §2 "Objectives").
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The noise `ε` (the paper's).
    #[default]
    Epsilon,
    /// The clean point `x_0`.
    #[value(name = "x0")]
    #[serde(rename = "x0")]
    X0,
    /// `v = α ε − σ x_0` (Salimans & Ho; diffusers' `v_prediction`).
    V,
    /// The conditional velocity `u = α' x_0 + σ' ε`: flow matching (rectified flow on the
    /// linear process); the output is the probability-flow velocity itself.
    Flow,
    /// EDM's preconditioned denoiser (Karras et al. 2022) on any process, through the log-SNR.
    Edm,
}

/// An objective's coefficients at one time (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coefficients {
    /// `k_in`: the network sees `k_in · x`.
    pub input_scale: f64,
    /// `τ`: the time feature the network sees.
    pub time_feature: f64,
    /// `a`: the target's weight on `x_0`.
    pub target_x0: f64,
    /// `b`: the target's weight on `ε`.
    pub target_eps: f64,
    /// `c`: `ε̂`'s weight on `x`.
    pub eps_from_x: f64,
    /// `e`: `ε̂`'s weight on the output.
    pub eps_from_output: f64,
}

impl Coefficients {
    /// Whether every coefficient is finite.
    fn all_finite(&self) -> bool {
        [
            self.input_scale,
            self.time_feature,
            self.target_x0,
            self.target_eps,
            self.eps_from_x,
            self.eps_from_output,
        ]
        .iter()
        .all(|v| v.is_finite())
    }
}

/// An objective a process cannot support, or an architecture it cannot be combined with.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ObjectiveError {
    /// The conversion to `ε̂` is singular (or not finite) somewhere on the training window.
    #[error(
        "objective = {objective} cannot be used with process = {process}: {why} at t = {t} (valid objectives for it: {valid})"
    )]
    Unsupported {
        /// The objective's name.
        objective: &'static str,
        /// The process' name.
        process: &'static str,
        /// What vanishes.
        why: &'static str,
        /// Where.
        t: f64,
        /// The objectives this process does support.
        valid: String,
    },
}

/// EDM's training distribution of `ln s` (Karras et al. 2022: `P_mean`, `P_std`).
pub const EDM_LN_S_MEAN: f64 = -1.2;
/// See [`EDM_LN_S_MEAN`].
pub const EDM_LN_S_STD: f64 = 1.2;

impl Objective {
    /// Every objective, in the order the CLI and the app list them (from the enum itself).
    pub fn all() -> &'static [Objective] {
        <Self as clap::ValueEnum>::value_variants()
    }

    /// Whether this is the paper's ε-prediction (the default).
    pub fn is_epsilon(&self) -> bool {
        *self == Self::Epsilon
    }

    /// CLI and file name (`epsilon`, `x0`, `v`, `flow`, `edm`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Epsilon => "epsilon",
            Self::X0 => "x0",
            Self::V => "v",
            Self::Flow => "flow",
            Self::Edm => "edm",
        }
    }

    /// One line for a picker's hover text.
    pub fn guide(self) -> &'static str {
        match self {
            Self::Epsilon => "predict the noise ε (the paper's)",
            Self::X0 => "predict the clean point x₀; ε̂ = (x − α x̂₀)/σ",
            Self::V => "predict v = α ε − σ x₀ (diffusers' v_prediction)",
            Self::Flow => {
                "predict the velocity α' x₀ + σ' ε: flow matching with the linear process"
            }
            Self::Edm => {
                "EDM's preconditioned denoiser (Karras et al. 2022), its own training times"
            }
        }
    }

    /// The objective's training-time distribution when none is chosen: uniform, but EDM's own.
    pub fn default_times(self) -> TimeSampling {
        match self {
            Self::Edm => TimeSampling::Edm,
            Self::Epsilon | Self::X0 | Self::V | Self::Flow => TimeSampling::Uniform,
        }
    }

    /// Whether the network's input is `[x, t]` unchanged (all but EDM, which preconditions it).
    pub fn plain_input(self) -> bool {
        match self {
            Self::Edm => false,
            Self::Epsilon | Self::X0 | Self::V | Self::Flow => true,
        }
    }

    /// The coefficients at time `t` on process `p`; `data_std` is EDM's `s_d`.
    pub fn coefficients(self, p: &NoiseProcess, data_std: f64, t: f64) -> Coefficients {
        let (a, s) = (p.alpha(t), p.sigma(t));
        let plain = |target_x0, target_eps, eps_from_x, eps_from_output| Coefficients {
            input_scale: 1.0,
            time_feature: t,
            target_x0,
            target_eps,
            eps_from_x,
            eps_from_output,
        };
        match self {
            Self::Epsilon => plain(0.0, 1.0, 0.0, 1.0),
            // ε̂ = (x − α x̂_0)/σ.
            Self::X0 => plain(1.0, 0.0, 1.0 / s, -a / s),
            // ε̂ = (σ x + α o)/(α² + σ²).
            Self::V => {
                let n = a * a + s * s;
                plain(-s, a, s / n, a / n)
            }
            // u = α' x_0 + σ' ε; ε̂ = (α o − α' x)/(α σ' − α' σ).
            Self::Flow => {
                let (da, ds) = (p.alpha_dot(t), p.sigma_dot(t));
                let den = a * ds - da * s;
                plain(da, ds, -da / den, a / den)
            }
            // y = x/α = x_0 + s ε with s = σ/α: x̂_0 = c_skip y + c_out F(c_in y, ¼ ln s).
            Self::Edm => {
                let sd = data_std;
                let sr = s / a;
                let v = sr * sr + sd * sd;
                let c_skip = sd * sd / v;
                let c_out = sr * sd / v.sqrt();
                let c_in = 1.0 / v.sqrt();
                Coefficients {
                    input_scale: c_in / a,
                    time_feature: 0.25 * sr.ln(),
                    // F's target (x_0 − c_skip (x_0 + s ε))/c_out.
                    target_x0: (1.0 - c_skip) / c_out,
                    target_eps: -c_skip * sr / c_out,
                    // ε̂ = (x − α x̂_0)/σ with x̂_0 = (c_skip/α) x + c_out F.
                    eps_from_x: (1.0 - c_skip) / s,
                    eps_from_output: -a * c_out / s,
                }
            }
        }
    }

    /// Whether `p` supports this objective: its conversion to `ε̂` must be finite and
    /// non-singular over the whole training window (checked on a fine grid, ends included).
    pub fn check(self, p: &NoiseProcess, data_std: f64) -> Result<(), ObjectiveError> {
        self.check_quietly(p, data_std).map_err(|(why, t)| {
            let valid: Vec<&str> = Self::all()
                .iter()
                .filter(|o| o.check_quietly(p, data_std).is_ok())
                .map(|o| o.name())
                .collect();
            ObjectiveError::Unsupported {
                objective: self.name(),
                process: p.name(),
                why,
                t,
                valid: if valid.is_empty() {
                    "none".into()
                } else {
                    valid.join(", ")
                },
            }
        })
    }

    fn check_quietly(self, p: &NoiseProcess, data_std: f64) -> Result<(), (&'static str, f64)> {
        if self == Self::Edm && !(data_std.is_finite() && data_std > 0.0) {
            return Err(("the data std s_d is not positive", f64::NAN));
        }
        const POINTS: usize = 1000;
        let (lo, hi) = (p.t_min(), p.t_max());
        for i in 0..=POINTS {
            let t = lo + (hi - lo) * i as f64 / POINTS as f64;
            let c = self.coefficients(p, data_std, t);
            if !c.all_finite() {
                let why = match self {
                    Self::Flow => "α σ' − α' σ vanishes",
                    Self::X0 | Self::Edm => "σ(t) vanishes",
                    Self::V => "α² + σ² vanishes",
                    Self::Epsilon => "the schedule is not finite",
                };
                return Err((why, t));
            }
            if c.eps_from_output == 0.0 {
                return Err(("the output does not reach ε̂", t));
            }
        }
        Ok(())
    }

    /// The network input `[k_in x, τ]` of every row of `x` (`[n, d]` row-major) at per-row
    /// times `t` (`[n]`), as `[n, d + 1]`.
    pub fn input_rows(self, p: &NoiseProcess, data_std: f64, x: &[f32], t: &[f64]) -> Vec<f32> {
        let n = t.len();
        let d = x.len() / n.max(1);
        let mut input = Vec::with_capacity(n * (d + 1));
        for (row, &ti) in x.chunks_exact(d.max(1)).zip(t) {
            if self.plain_input() {
                input.extend_from_slice(row);
                input.push(ti as f32);
            } else {
                let c = self.coefficients(p, data_std, ti);
                let k = c.input_scale as f32;
                input.extend(row.iter().map(|&v| k * v));
                input.push(c.time_feature as f32);
            }
        }
        input
    }

    /// The training target `a x_0 + b ε` of every row (`[n, d]` each, per-row times `[n]`).
    pub fn targets(
        self,
        p: &NoiseProcess,
        data_std: f64,
        x0: &[f32],
        eps: &[f32],
        t: &[f64],
    ) -> Vec<f32> {
        if self == Self::Epsilon {
            return eps.to_vec();
        }
        let d = x0.len() / t.len().max(1);
        let mut out = Vec::with_capacity(x0.len());
        for ((xr, er), &ti) in x0
            .chunks_exact(d.max(1))
            .zip(eps.chunks_exact(d.max(1)))
            .zip(t)
        {
            let c = self.coefficients(p, data_std, ti);
            let (a, b) = (c.target_x0 as f32, c.target_eps as f32);
            out.extend(xr.iter().zip(er).map(|(&x, &e)| a * x + b * e));
        }
        out
    }

    /// `ε̂ = c x + e o` in place of the outputs `o` (`[n, d]` row-major) at times `t`; at a
    /// shared time (a sampler's step) the coefficients are computed once.
    pub fn outputs_to_epsilon(
        self,
        p: &NoiseProcess,
        data_std: f64,
        d: usize,
        x: &[f32],
        out: &mut [f32],
        t: &Times,
    ) {
        if self == Self::Epsilon {
            return;
        }
        let at = |t: f64| {
            let c = self.coefficients(p, data_std, t);
            (c.eps_from_x as f32, c.eps_from_output as f32)
        };
        let (shared, per_row) = match t {
            Times::Shared(t) => (Some(at(*t)), &[][..]),
            Times::PerRow(ts) => (None, ts.as_slice()),
        };
        let d = d.max(1);
        for (i, (xr, or)) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).enumerate() {
            let (cx, co) = shared.unwrap_or_else(|| at(per_row[i]));
            for (o, &xv) in or.iter_mut().zip(xr) {
                *o = cx * xv + co * *o;
            }
        }
    }
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How training draws its times `t` (SPEC §2 "Objectives": uniform, logit-normal, EDM's).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSampling {
    /// `t ~ U[band]` (the paper's).
    #[default]
    Uniform,
    /// `t = sigmoid(z)`, `z ~ N(0, 1)` (SD3's default), restricted to the band.
    LogitNormal,
    /// EDM's: `ln s ~ N(−1.2, 1.2²)`, `t = λ⁻¹(−ln s)`, clamped to the process window and
    /// restricted to the band.
    Edm,
}

impl TimeSampling {
    /// CLI and file name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::LogitNormal => "logit-normal",
            Self::Edm => "edm",
        }
    }

    /// One time in `band` (a sub-interval of `p`'s training window).
    ///
    /// The uniform draw is the paper's, one uniform number per row (so ε-runs reproduce what
    /// they always did). The others draw on the whole window and redraw until the time lies
    /// in the band (a band is where a two-model part or a high-noise-only model trains); after
    /// 10,000 misses (a band with almost no mass) the time is uniform in the band.
    pub fn draw<R: Rng + ?Sized>(self, p: &NoiseProcess, band: Band, rng: &mut R) -> f64 {
        let in_window = |rng: &mut R| -> f64 {
            let z: f64 = StandardNormal.sample(rng);
            let t = match self {
                Self::Uniform => unreachable!("handled below"),
                Self::LogitNormal => 1.0 / (1.0 + (-z).exp()),
                Self::Edm => p.log_snr_inverse_closed(-(EDM_LN_S_MEAN + EDM_LN_S_STD * z)),
            };
            t.clamp(p.t_min(), p.t_max())
        };
        match self {
            Self::Uniform => band.lo + (band.hi - band.lo) * rng.random::<f64>(),
            Self::LogitNormal | Self::Edm => {
                for _ in 0..10_000 {
                    let t = in_window(rng);
                    if t >= band.lo && t <= band.hi {
                        return t;
                    }
                }
                band.lo + (band.hi - band.lo) * rng.random::<f64>()
            }
        }
    }
}

impl std::fmt::Display for TimeSampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;
    use crate::diffusion::ProcessKind;

    fn processes() -> Vec<NoiseProcess> {
        ProcessKind::ALL.iter().map(|k| k.process()).collect()
    }

    /// The defining identity of every conversion: an output equal to the target made from the
    /// true `(x_0, ε)` converts back to that `ε` exactly (up to float rounding), on every
    /// process, at times across the window (the conversions are affine, so this pins them).
    #[test]
    fn the_target_converts_back_to_the_noise() {
        let mut rng = StdRng::seed_from_u64(5);
        for p in processes() {
            for &obj in Objective::all() {
                let sd = 0.7;
                obj.check(&p, sd).unwrap();
                for i in 0..=50 {
                    let t = p.t_min() + (p.t_max() - p.t_min()) * i as f64 / 50.0;
                    let c = obj.coefficients(&p, sd, t);
                    for _ in 0..20 {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        let x0 = 2.0 * z;
                        let e: f64 = StandardNormal.sample(&mut rng);
                        let x = p.alpha(t) * x0 + p.sigma(t) * e;
                        let o = c.target_x0 * x0 + c.target_eps * e;
                        let back = c.eps_from_x * x + c.eps_from_output * o;
                        // The conversion divides by σ (x0, EDM) near t = 0: allow the relative
                        // error of the terms it cancels.
                        let scale = 1.0 + (c.eps_from_x * x).abs() + (c.eps_from_output * o).abs();
                        assert!(
                            (back - e).abs() < 1e-12 * scale,
                            "{obj} on {} at t = {t}: {back} vs {e}",
                            p.name()
                        );
                    }
                }
            }
        }
    }

    /// Closed forms by hand: on the linear process, flow's target is `ε − x_0` and its output
    /// the velocity (`ε̂ = x + (1 − t) o`); v's target on VP at `α = σ` is `(ε − x_0)/√2`.
    #[test]
    fn closed_forms_by_hand() {
        let p = NoiseProcess::Linear;
        let c = Objective::Flow.coefficients(&p, 1.0, 0.3);
        assert!((c.target_x0 + 1.0).abs() < 1e-12 && (c.target_eps - 1.0).abs() < 1e-12);
        // α σ' − α' σ = (1 − t) + t = 1; ε̂ = (α o − α' x) = (1 − t) o + x.
        assert!((c.eps_from_x - 1.0).abs() < 1e-12);
        assert!((c.eps_from_output - 0.7).abs() < 1e-12);
        // The flow output is the probability-flow velocity: v = f x + ½ g²/σ ε̂ inverts it.
        let t = 0.3;
        let (x, o) = (0.4, -1.3);
        let eps = c.eps_from_x * x + c.eps_from_output * o;
        let v = p.drift(t) * x + 0.5 * p.diffusion_sq(t) / p.sigma(t) * eps;
        assert!((v - o).abs() < 1e-12, "{v} vs {o}");
        // On VP too.
        let p = NoiseProcess::vp();
        for t in [0.01, 0.4, 0.95] {
            let c = Objective::Flow.coefficients(&p, 1.0, t);
            let eps = c.eps_from_x * x + c.eps_from_output * o;
            let v = p.drift(t) * x + 0.5 * p.diffusion_sq(t) / p.sigma(t) * eps;
            assert!(
                (v - o).abs() < 1e-9 * (1.0 + o.abs()),
                "VP t = {t}: {v} vs {o}"
            );
        }
        // v on VP where α = σ = 1/√2.
        let t = p.log_snr_inverse(0.0);
        let c = Objective::V.coefficients(&p, 1.0, t);
        let r = 0.5f64.sqrt();
        assert!((c.target_x0 + r).abs() < 1e-9 && (c.target_eps - r).abs() < 1e-9);
        // EDM's effective weight is 1: its input at s = s_d is x/(α s_d √2), its time ¼ ln s.
        let sd: f64 = 0.5;
        let t = p.log_snr_inverse(-sd.ln());
        let c = Objective::Edm.coefficients(&p, sd, t);
        let want_in = 1.0 / (p.alpha(t) * sd * 2f64.sqrt());
        assert!((c.input_scale - want_in).abs() < 1e-9 * want_in);
        assert!((c.time_feature - 0.25 * sd.ln()).abs() < 1e-9);
    }

    /// A degenerate process (no noise: σ ≡ 0) supports none of the objectives that divide by
    /// σ, and the error names the objective, the process and the valid values.
    #[test]
    fn a_process_without_noise_is_refused_by_name() {
        let p = NoiseProcess::Vp {
            beta_min: 0.0,
            beta_max: 0.0,
        };
        let err = Objective::Flow.check(&p, 1.0).unwrap_err().to_string();
        assert!(err.contains("objective = flow"), "{err}");
        assert!(err.contains("process = vp"), "{err}");
        assert!(err.contains("α σ' − α' σ vanishes"), "{err}");
        assert!(err.contains("valid objectives for it"), "{err}");
        assert!(Objective::X0.check(&p, 1.0).is_err());
        assert!(Objective::Edm.check(&NoiseProcess::vp(), 0.0).is_err());
    }

    /// Every objective has one name, shared by clap, serde and `name()`.
    #[test]
    fn objective_names_are_one_list() {
        for &o in Objective::all() {
            let value = clap::ValueEnum::to_possible_value(&o).unwrap();
            assert_eq!(value.get_name(), o.name());
            assert_eq!(serde_json::to_value(o).unwrap(), o.name());
        }
        for &s in <TimeSampling as clap::ValueEnum>::value_variants() {
            let value = clap::ValueEnum::to_possible_value(&s).unwrap();
            assert_eq!(value.get_name(), s.name());
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        let err = serde_json::from_str::<Objective>("\"sample\"").unwrap_err();
        assert!(err.to_string().contains("x0"), "{err}");
    }

    /// Logit-normal times: `logit(t)` has mean 0 and std 1 (sampling error ~ 1/√n); EDM's:
    /// `ln s` has mean −1.2 and std 1.2 where the window does not clamp it (VP's window covers
    /// ln s from about −6.9 to 5.0, so clamping moves less than 1e-4 of the mass).
    #[test]
    fn training_time_distributions_have_their_moments() {
        let p = NoiseProcess::vp();
        let band = Band::full(&p);
        let mut rng = StdRng::seed_from_u64(3);
        let n = 40_000;
        let moments = |v: Vec<f64>| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            (m, var.sqrt())
        };
        let logits: Vec<f64> = (0..n)
            .map(|_| TimeSampling::LogitNormal.draw(&p, band, &mut rng))
            .map(|t| (t / (1.0 - t)).ln())
            .collect();
        let (m, s) = moments(logits);
        let tol = 5.0 / (n as f64).sqrt();
        assert!(
            m.abs() < tol && (s - 1.0).abs() < tol,
            "logit-normal: {m} {s}"
        );
        let ln_s: Vec<f64> = (0..n)
            .map(|_| TimeSampling::Edm.draw(&p, band, &mut rng))
            .map(|t| -p.log_snr(t))
            .collect();
        let (m, s) = moments(ln_s);
        assert!(
            (m + 1.2).abs() < 1.2 * tol && (s - 1.2).abs() < 1.2 * tol,
            "edm: {m} {s}"
        );
        // Restricted to a band, every draw lies in it.
        let high = Band { lo: 0.5, hi: 1.0 };
        for s in [TimeSampling::LogitNormal, TimeSampling::Edm] {
            for _ in 0..1000 {
                let t = s.draw(&p, high, &mut rng);
                assert!((0.5..=1.0).contains(&t), "{s}: {t}");
            }
        }
    }
}
