//! Noise processes (SPEC §1): the schedules `α(t)`, `σ(t)` and everything derived from them.
//!
//! All schedule arithmetic is done in `f64` on the host: the samplers and the exact scores only
//! ever need these as scalars (one time per step), and `f64` keeps `σ(t)` accurate near `t = 0`,
//! where `1 − α²` would cancel catastrophically in `f32`.

use serde::{Deserialize, Serialize};

/// End of every sampler's time grid and start of the linear process' window (SPEC §3).
pub const T_END: f64 = 1e-3;
/// Smallest training time for VP and sub-VP (SPEC §2).
pub const T_MIN: f64 = 1e-5;
/// Upper end of the linear (rectified-flow) process' integration window (SPEC §1).
pub const LINEAR_T_MAX: f64 = 1.0 - 1e-3;

/// EDM's ρ for its time grid (Karras et al. 2022).
pub const EDM_RHO: f64 = 7.0;

/// Where a sampler's `N + 1` times lie between `t_max` and `t_end` (SPEC §3 "Time grids").
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum TimeGrid {
    /// Uniform in t (the paper's).
    #[default]
    UniformT,
    /// Uniform in the log-SNR λ (DPM-Solver's).
    LogSnr,
    /// EDM's: uniform in `s^{1/ρ}`, `s = σ/α`, ρ = 7 (dense at low noise).
    Edm,
    /// `t_i = t_end + (t_max − t_end)(1 − i/N)²` (dense at low noise).
    Quadratic,
}

impl TimeGrid {
    /// CLI and file name.
    pub fn name(self) -> &'static str {
        match self {
            Self::UniformT => "uniform-t",
            Self::LogSnr => "log-snr",
            Self::Edm => "edm",
            Self::Quadratic => "quadratic",
        }
    }

    /// Every grid (from the enum).
    pub fn all() -> &'static [TimeGrid] {
        <Self as clap::ValueEnum>::value_variants()
    }
}

impl std::fmt::Display for TimeGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A noise process by name, with the paper's parameters: what the CLI, sweep files and the app
/// choose from. Its variants are the one list of known processes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessKind {
    /// Variance preserving, β from 0.1 to 20.
    #[default]
    Vp,
    /// Sub-variance preserving, β from 0.1 to 20.
    #[value(alias = "subvp")]
    #[serde(alias = "subvp")]
    SubVp,
    /// Linear interpolation (rectified flow).
    Linear,
}

impl ProcessKind {
    /// Every process, in display order.
    pub const ALL: [ProcessKind; 3] = [Self::Vp, Self::SubVp, Self::Linear];

    /// The process with the paper's parameters.
    pub fn process(self) -> NoiseProcess {
        match self {
            Self::Vp => NoiseProcess::vp(),
            Self::SubVp => NoiseProcess::sub_vp(),
            Self::Linear => NoiseProcess::Linear,
        }
    }

    /// CLI name (`vp`, `sub-vp`, `linear`).
    pub fn name(self) -> &'static str {
        self.process().name()
    }
}

impl std::fmt::Display for ProcessKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A forward noising process `x_t = α(t)·x_0 + σ(t)·ε`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NoiseProcess {
    /// Variance preserving: `σ = sqrt(1 − α²)`, `β(t) = β_min + t (β_max − β_min)`.
    Vp {
        /// `β(0)`; 0.1 by default.
        beta_min: f64,
        /// `β(1)`; 20 by default.
        beta_max: f64,
    },
    /// Sub-variance preserving: the same `α`, `σ = 1 − α²`.
    SubVp {
        /// `β(0)`; 0.1 by default.
        beta_min: f64,
        /// `β(1)`; 20 by default.
        beta_max: f64,
    },
    /// Linear interpolation (rectified flow): `α = 1 − t`, `σ = t`.
    Linear,
}

impl Default for NoiseProcess {
    fn default() -> Self {
        Self::vp()
    }
}

impl NoiseProcess {
    /// VP with the paper's `β_min = 0.1`, `β_max = 20`.
    pub fn vp() -> Self {
        Self::Vp {
            beta_min: 0.1,
            beta_max: 20.0,
        }
    }

    /// Sub-VP with the paper's `β_min = 0.1`, `β_max = 20`.
    pub fn sub_vp() -> Self {
        Self::SubVp {
            beta_min: 0.1,
            beta_max: 20.0,
        }
    }

    /// Parses `vp`, `sub-vp` or `linear` (the names of [`ProcessKind`]).
    pub fn from_name(name: &str) -> Option<Self> {
        <ProcessKind as clap::ValueEnum>::from_str(name, false)
            .ok()
            .map(ProcessKind::process)
    }

    /// Which of the named processes this is (its parameters aside).
    pub fn kind(&self) -> ProcessKind {
        match self {
            Self::Vp { .. } => ProcessKind::Vp,
            Self::SubVp { .. } => ProcessKind::SubVp,
            Self::Linear => ProcessKind::Linear,
        }
    }

    /// Short name (`vp`, `sub-vp`, `linear`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Vp { .. } => "vp",
            Self::SubVp { .. } => "sub-vp",
            Self::Linear => "linear",
        }
    }

    /// Largest time a sampler starts from: 1, or `1 − 1e-3` for the linear process.
    pub fn t_max(&self) -> f64 {
        match self {
            Self::Linear => LINEAR_T_MAX,
            _ => 1.0,
        }
    }

    /// Smallest training time (`t_min`): 1e-5 for VP/sub-VP, 1e-3 for linear.
    pub fn t_min(&self) -> f64 {
        match self {
            Self::Linear => T_END,
            _ => T_MIN,
        }
    }

    /// `β(t)` of VP/sub-VP; `None` for the linear process.
    pub fn beta(&self, t: f64) -> Option<f64> {
        match *self {
            Self::Vp { beta_min, beta_max } | Self::SubVp { beta_min, beta_max } => {
                Some(beta_min + t * (beta_max - beta_min))
            }
            Self::Linear => None,
        }
    }

    /// `ln α(t)`.
    pub fn log_alpha(&self, t: f64) -> f64 {
        match *self {
            Self::Vp { beta_min, beta_max } | Self::SubVp { beta_min, beta_max } => {
                -0.5 * (beta_min * t + 0.5 * t * t * (beta_max - beta_min))
            }
            Self::Linear => (1.0 - t).ln(),
        }
    }

    /// Mean coefficient `α(t)`.
    pub fn alpha(&self, t: f64) -> f64 {
        match self {
            Self::Linear => 1.0 - t,
            _ => self.log_alpha(t).exp(),
        }
    }

    /// `1 − α(t)²`, computed without cancellation near `t = 0`.
    fn one_minus_alpha_sq(&self, t: f64) -> f64 {
        -(2.0 * self.log_alpha(t)).exp_m1()
    }

    /// Noise standard deviation `σ(t)`.
    pub fn sigma(&self, t: f64) -> f64 {
        match self {
            Self::Vp { .. } => self.one_minus_alpha_sq(t).sqrt(),
            Self::SubVp { .. } => self.one_minus_alpha_sq(t),
            Self::Linear => t,
        }
    }

    /// Drift coefficient `f(t) = d ln α / dt` (closed form).
    pub fn drift(&self, t: f64) -> f64 {
        match self {
            Self::Vp { .. } | Self::SubVp { .. } => -0.5 * self.beta(t).unwrap_or(0.0),
            Self::Linear => -1.0 / (1.0 - t),
        }
    }

    /// Squared diffusion coefficient `g²(t) = dσ²/dt − 2 f σ²` (closed form).
    pub fn diffusion_sq(&self, t: f64) -> f64 {
        match self {
            Self::Vp { .. } => self.beta(t).unwrap_or(0.0),
            Self::SubVp { .. } => {
                let a2 = (2.0 * self.log_alpha(t)).exp();
                self.beta(t).unwrap_or(0.0) * (1.0 - a2 * a2)
            }
            Self::Linear => 2.0 * t / (1.0 - t),
        }
    }

    /// The factor on `ε` in the probability-flow velocity `v = f x + ½ g²/σ · ε` (`s = −ε/σ`).
    pub fn velocity_epsilon_factor(&self, t: f64) -> f64 {
        0.5 * self.diffusion_sq(t) / self.sigma(t)
    }

    /// `α'(t) = f(t) α(t)`.
    pub fn alpha_dot(&self, t: f64) -> f64 {
        self.drift(t) * self.alpha(t)
    }

    /// `σ'(t)` (closed form; `σ σ' = ½ g² + f σ²` in general).
    pub fn sigma_dot(&self, t: f64) -> f64 {
        match self {
            // σ σ' = −α α' = ½ β α².
            Self::Vp { .. } => {
                0.5 * self.beta(t).unwrap_or(0.0) * self.alpha(t).powi(2) / self.sigma(t)
            }
            // σ = 1 − α²: σ' = −2 α α' = β α².
            Self::SubVp { .. } => self.beta(t).unwrap_or(0.0) * self.alpha(t).powi(2),
            Self::Linear => 1.0,
        }
    }

    /// Log signal-to-noise ratio `λ(t) = ln(α/σ)`, strictly decreasing in `t`.
    pub fn log_snr(&self, t: f64) -> f64 {
        match self {
            Self::Vp { .. } => self.log_alpha(t) - 0.5 * self.one_minus_alpha_sq(t).ln(),
            Self::SubVp { .. } => self.log_alpha(t) - self.one_minus_alpha_sq(t).ln(),
            Self::Linear => (1.0 - t).ln() - t.ln(),
        }
    }

    /// Inverse of [`Self::log_snr`] by bisection on `[0, 1]` (to machine precision).
    pub fn log_snr_inverse(&self, lambda: f64) -> f64 {
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            // λ decreases in t: a λ(mid) above the target means the root lies later.
            if self.log_snr(mid) > lambda {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// Inverse of [`Self::log_snr`] in closed form (for per-row training times, where
    /// [`Self::log_snr_inverse`]'s bisection would cost more than the training step). Outside
    /// `[0, 1]` the result is clamped to it.
    pub fn log_snr_inverse_closed(&self, lambda: f64) -> f64 {
        // softplus(y) = ln(1 + e^y), without overflow.
        let softplus = |y: f64| if y > 30.0 { y } else { y.exp().ln_1p() };
        // −2 ln α as a function of t is β_min t + ½ Δβ t²: its root for L ≥ 0, written so that
        // small t does not cancel.
        let t_of = |beta_min: f64, beta_max: f64, l: f64| {
            let db = beta_max - beta_min;
            2.0 * l / (beta_min + (beta_min * beta_min + 2.0 * db * l).sqrt())
        };
        let t = match *self {
            // α² = sigmoid(2λ): −2 ln α = softplus(−2λ).
            Self::Vp { beta_min, beta_max } => t_of(beta_min, beta_max, softplus(-2.0 * lambda)),
            // α/(1 − α²) = e^λ: α = 2 e^λ/(1 + √(1 + 4 e^{2λ})) = 2/(e^{−λ} + √(e^{−2λ} + 4)).
            Self::SubVp { beta_min, beta_max } => {
                let e = (-lambda).exp();
                let alpha = 2.0 / (e + (e * e + 4.0).sqrt());
                t_of(beta_min, beta_max, -2.0 * alpha.ln())
            }
            // (1 − t)/t = e^λ.
            Self::Linear => 1.0 / (1.0 + lambda.exp()),
        };
        if t.is_nan() { 1.0 } else { t.clamp(0.0, 1.0) }
    }

    /// The sampler time grid `t_i = t_max − i·(t_max − t_end)/N`, `i = 0..=N` (SPEC §3).
    pub fn time_grid(&self, steps: usize) -> Vec<f64> {
        self.grid(TimeGrid::UniformT, steps)
    }

    /// The `N + 1` times of `grid` from `t_max` down to `t_end` (SPEC §3 "Time grids"): its
    /// end points exactly, strictly decreasing in between.
    pub fn grid(&self, grid: TimeGrid, steps: usize) -> Vec<f64> {
        let (t0, t1) = (self.t_max(), T_END);
        let n = steps.max(1);
        let frac = |i: usize| i as f64 / n as f64;
        let mut out: Vec<f64> = match grid {
            // The paper's grid, written as it always was (so runs reproduce to the bit).
            TimeGrid::UniformT => {
                return (0..=n)
                    .map(|i| t0 - i as f64 * (t0 - t1) / n as f64)
                    .collect();
            }
            TimeGrid::Quadratic => (0..=n)
                .map(|i| t1 + (t0 - t1) * (1.0 - frac(i)).powi(2))
                .collect(),
            TimeGrid::LogSnr => {
                let (l0, l1) = (self.log_snr(t0), self.log_snr(t1));
                (0..=n)
                    .map(|i| self.log_snr_inverse(l0 + frac(i) * (l1 - l0)))
                    .collect()
            }
            TimeGrid::Edm => {
                // s = σ/α = e^{−λ}, spaced uniformly in s^{1/ρ}.
                let rho = EDM_RHO;
                let (s0, s1) = ((-self.log_snr(t0)).exp(), (-self.log_snr(t1)).exp());
                let (a, b) = (s0.powf(1.0 / rho), s1.powf(1.0 / rho));
                (0..=n)
                    .map(|i| {
                        let s = (a + frac(i) * (b - a)).powf(rho);
                        self.log_snr_inverse(-s.ln())
                    })
                    .collect()
            }
        };
        // The ends exactly (the inverses above are good to ~1e-15, not to the bit).
        out[0] = t0;
        out[n] = t1;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [NoiseProcess; 3] {
        [
            NoiseProcess::vp(),
            NoiseProcess::sub_vp(),
            NoiseProcess::Linear,
        ]
    }

    /// f = d ln α/dt and g² = dσ²/dt − 2fσ² by central differences must match the closed forms.
    #[test]
    fn process_names_are_one_list() {
        for k in ProcessKind::ALL {
            let value = clap::ValueEnum::to_possible_value(&k).unwrap();
            assert_eq!(value.get_name(), k.name());
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
            assert_eq!(NoiseProcess::from_name(k.name()), Some(k.process()));
            assert_eq!(k.process().kind(), k);
        }
        assert_eq!(
            NoiseProcess::from_name("subvp"),
            Some(NoiseProcess::sub_vp())
        );
        assert_eq!(NoiseProcess::from_name("ve"), None);
    }

    #[test]
    fn closed_forms_match_finite_differences() {
        let h = 1e-6;
        for p in all() {
            for &t in &[0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99] {
                let dlog_alpha = (p.alpha(t + h).ln() - p.alpha(t - h).ln()) / (2.0 * h);
                let s2 = |t: f64| p.sigma(t).powi(2);
                let dsigma2 = (s2(t + h) - s2(t - h)) / (2.0 * h);
                let g2 = dsigma2 - 2.0 * p.drift(t) * s2(t);
                let tol = 1e-6 * (1.0 + p.drift(t).abs());
                assert!((dlog_alpha - p.drift(t)).abs() < tol, "{p:?} f at {t}");
                let tol = 1e-5 * (1.0 + p.diffusion_sq(t).abs());
                assert!(
                    (g2 - p.diffusion_sq(t)).abs() < tol,
                    "{p:?} g2 at {t}: {g2}"
                );
            }
        }
    }

    #[test]
    fn vp_values_by_hand() {
        let p = NoiseProcess::vp();
        // ln α(1) = −½(0.1 + ½·19.9) = −5.025
        assert!((p.log_alpha(1.0) + 5.025).abs() < 1e-12);
        assert!((p.alpha(0.0) - 1.0).abs() < 1e-15);
        assert!(p.sigma(0.0).abs() < 1e-15);
        // α² + σ² = 1 for VP, and σ ≈ sqrt(β_min t) for small t.
        for &t in &[1e-5, 0.2, 1.0] {
            assert!((p.alpha(t).powi(2) + p.sigma(t).powi(2) - 1.0).abs() < 1e-12);
        }
        let t = 1e-5;
        assert!((p.sigma(t) / (0.1 * t).sqrt() - 1.0).abs() < 1e-3);
        // sub-VP: σ = 1 − α².
        let s = NoiseProcess::sub_vp();
        assert!((s.sigma(0.5) - (1.0 - s.alpha(0.5).powi(2))).abs() < 1e-12);
    }

    #[test]
    fn log_snr_is_decreasing_and_inverts() {
        for p in all() {
            let grid = p.time_grid(50);
            for w in grid.windows(2) {
                assert!(p.log_snr(w[0]) < p.log_snr(w[1]), "{p:?}");
            }
            for &t in &[0.002, 0.05, 0.5, 0.95] {
                let back = p.log_snr_inverse(p.log_snr(t));
                assert!((back - t).abs() < 1e-12, "{p:?}: {t} -> {back}");
            }
        }
    }

    /// α' and σ' against central differences; the closed-form λ⁻¹ against the bisection.
    #[test]
    fn derivatives_and_closed_inverse() {
        let h = 1e-6;
        for p in all() {
            for &t in &[0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99] {
                let da = (p.alpha(t + h) - p.alpha(t - h)) / (2.0 * h);
                let ds = (p.sigma(t + h) - p.sigma(t - h)) / (2.0 * h);
                assert!(
                    (da - p.alpha_dot(t)).abs() < 1e-6 * (1.0 + da.abs()),
                    "{p:?} α' {t}"
                );
                assert!(
                    (ds - p.sigma_dot(t)).abs() < 1e-5 * (1.0 + ds.abs()),
                    "{p:?} σ' {t}"
                );
            }
            for &t in &[1e-5, 1e-3, 0.05, 0.5, 0.95, 0.999] {
                let lambda = p.log_snr(t);
                let closed = p.log_snr_inverse_closed(lambda);
                assert!(
                    (closed - p.log_snr_inverse(lambda)).abs() < 1e-9 * (1.0 + t),
                    "{p:?}: λ = {lambda}: {closed} vs {t}"
                );
            }
        }
    }

    /// Every grid on every process: `N + 1` times from `t_max` to `t_end` exactly, strictly
    /// decreasing; log-SNR steps equal in λ, EDM's equal in `s^{1/7}`, quadratic's by hand.
    #[test]
    fn every_grid_has_its_ends_and_decreases() {
        for p in all() {
            for &g in TimeGrid::all() {
                for n in [1, 2, 7, 100] {
                    let ts = p.grid(g, n);
                    assert_eq!(ts.len(), n + 1, "{p:?} {g}");
                    assert_eq!(ts[0], p.t_max(), "{p:?} {g}");
                    assert!((ts[n] - T_END).abs() < 1e-15, "{p:?} {g}");
                    assert!(ts.windows(2).all(|w| w[0] > w[1]), "{p:?} {g} {n}: {ts:?}");
                }
            }
            let ts = p.grid(TimeGrid::LogSnr, 10);
            let l: Vec<f64> = ts.iter().map(|&t| p.log_snr(t)).collect();
            let h = l[1] - l[0];
            assert!(
                l.windows(2)
                    .all(|w| ((w[1] - w[0]) - h).abs() < 1e-6 * h.abs())
            );
            let ts = p.grid(TimeGrid::Edm, 10);
            let r: Vec<f64> = ts
                .iter()
                .map(|&t| (-p.log_snr(t)).exp().powf(1.0 / 7.0))
                .collect();
            let h = r[1] - r[0];
            assert!(
                r.windows(2)
                    .all(|w| ((w[1] - w[0]) - h).abs() < 1e-6 * h.abs())
            );
        }
        let q = NoiseProcess::vp().grid(TimeGrid::Quadratic, 4);
        assert!((q[2] - (T_END + (1.0 - T_END) * 0.25)).abs() < 1e-15);
        assert_eq!(
            NoiseProcess::vp().grid(TimeGrid::UniformT, 100),
            NoiseProcess::vp().time_grid(100)
        );
    }

    #[test]
    fn time_grid_endpoints() {
        let g = NoiseProcess::vp().time_grid(100);
        assert_eq!(g.len(), 101);
        assert_eq!(g[0], 1.0);
        assert!((g[100] - T_END).abs() < 1e-15);
        let g = NoiseProcess::Linear.time_grid(10);
        assert!((g[0] - LINEAR_T_MAX).abs() < 1e-15);
    }
}
