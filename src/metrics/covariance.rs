//! Error covariance along trajectories (SPEC §7, paper Fig. 5b): with the velocity error
//! `e = v_θ − v*` recorded on `M` sampler trajectories at the grid times `t_k`,
//! `C_kl = Cov_m(e_m(t_k), e_m(t_l))` per coordinate (ddof 1), averaged over coordinates; the app
//! shows it as a heat map. [`error_correlation`] sums it up as one number (issue #14): the mean
//! Pearson correlation between the errors at two different times.

/// Error covariance along trajectories (paper Fig. 5b): `errors` is `[T, M, d]` (the velocity
/// error `e_m(t_k)` of trajectory `m` at time `t_k`); returns `C` `[T, T]` with
/// `C_kl = Cov_m(e_m(t_k), e_m(t_l))` (ddof 1) per coordinate, averaged over coordinates.
pub fn error_covariance(errors: &[f32], times: usize, m: usize, d: usize) -> Vec<f64> {
    assert_eq!(errors.len(), times * m * d, "error tensor shape");
    assert!(m >= 2, "covariance needs at least two trajectories");
    let at = |k: usize, j: usize, c: usize| errors[(k * m + j) * d + c] as f64;
    // Centre each (time, coordinate) over trajectories.
    let mut centred = vec![0f64; times * m * d];
    for k in 0..times {
        for c in 0..d {
            let mean = (0..m).map(|j| at(k, j, c)).sum::<f64>() / m as f64;
            for j in 0..m {
                centred[(k * d + c) * m + j] = at(k, j, c) - mean;
            }
        }
    }
    let mut cov = vec![0f64; times * times];
    for k in 0..times {
        for l in k..times {
            let mut acc = 0.0;
            for c in 0..d {
                let a = &centred[(k * d + c) * m..(k * d + c + 1) * m];
                let b = &centred[(l * d + c) * m..(l * d + c + 1) * m];
                acc += a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
            }
            let v = acc / ((m - 1) as f64 * d as f64);
            cov[k * times + l] = v;
            cov[l * times + k] = v;
        }
    }
    cov
}

/// Grid times below this are left out of [`trajectory_error_correlation`]: as t → 0 the
/// velocity error of a trained model blows up and would dominate every pair.
pub const CORRELATION_T_MIN: f64 = 0.05;

/// Particles [`trajectory_error_correlation`] uses at most: the first 2,000.
pub const CORRELATION_PARTICLES: usize = 2000;

/// The error correlation of a sampler run (issue #14): [`error_correlation`] of the velocity
/// error `v_θ − v*` along the recorded `trajectory` (`[times.len(), m, d]`, the sampler's grid
/// times), over the grid times `t_k ≥ CORRELATION_T_MIN`, on the first
/// `min(m, CORRELATION_PARTICLES)` particles. `None` as for [`error_correlation`].
pub fn trajectory_error_correlation(
    model: &dyn crate::diffusion::EpsilonModel,
    exact: &dyn crate::diffusion::EpsilonModel,
    trajectory: &[f32],
    times: &[f64],
    m: usize,
    device: &burn::tensor::Device,
) -> Option<f64> {
    let d = model.dim();
    assert_eq!(trajectory.len(), times.len() * m * d, "trajectory shape");
    let keep = m.min(CORRELATION_PARTICLES);
    let mut states = Vec::new();
    let mut kept_times = Vec::new();
    for (k, &t) in times.iter().enumerate() {
        if t >= CORRELATION_T_MIN {
            let state = &trajectory[k * m * d..(k + 1) * m * d];
            states.extend_from_slice(&state[..keep * d]);
            kept_times.push(t);
        }
    }
    let errors = crate::diffusion::diagnostics::trajectory_velocity_errors(
        model,
        exact,
        &states,
        &kept_times,
        keep,
        device,
    );
    error_correlation(&errors, kept_times.len(), keep, d)
}

/// Error propagation as a number (paper Fig. 5b, 14): the mean over ordered pairs `k ≠ l` of the
/// Pearson correlation, across the `m` trajectories, between `e(t_k)` and `e(t_l)`, averaged over
/// coordinates. `errors` is `[T, M, d]` as in [`error_covariance`]; the caller picks the times.
///
/// With `z_k` the centred, unit-norm error vector at time `k`, `Σ_{k,l} z_k · z_l = ‖Σ_k z_k‖²`
/// and the diagonal sums to `T`, so the mean over pairs is `(‖Σ_k z_k‖² − T) / (T (T − 1))`:
/// linear in `T`, no `T × T` matrix. Times at which a coordinate's error has no variance are
/// left out of that coordinate (their correlation is undefined). `None` when no coordinate has
/// two such times, or `m < 2`.
pub fn error_correlation(errors: &[f32], times: usize, m: usize, d: usize) -> Option<f64> {
    assert_eq!(errors.len(), times * m * d, "error tensor shape");
    if m < 2 {
        return None;
    }
    let (mut total, mut coords) = (0.0, 0usize);
    let mut sum = vec![0f64; m];
    let mut z = vec![0f64; m];
    for c in 0..d {
        sum.iter_mut().for_each(|s| *s = 0.0);
        let mut valid = 0usize;
        for k in 0..times {
            let at = |j: usize| errors[(k * m + j) * d + c] as f64;
            let mean = (0..m).map(at).sum::<f64>() / m as f64;
            let mut norm = 0.0;
            for (j, zj) in z.iter_mut().enumerate() {
                *zj = at(j) - mean;
                norm += *zj * *zj;
            }
            // A variance at rounding level is no variance: the correlation is noise.
            let scale = (0..m).map(|j| at(j).abs()).fold(0.0, f64::max);
            let tiny = (1e-9 * scale).powi(2) * m as f64;
            if !norm.is_finite() || norm == 0.0 || norm <= tiny {
                continue;
            }
            let inv = norm.sqrt().recip();
            for (s, zj) in sum.iter_mut().zip(&z) {
                *s += zj * inv;
            }
            valid += 1;
        }
        if valid >= 2 {
            let t = valid as f64;
            let sq: f64 = sum.iter().map(|s| s * s).sum();
            total += (sq - t) / (t * (t - 1.0));
            coords += 1;
        }
    }
    (coords > 0).then(|| total / coords as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    /// Errors `e_m(t_k) = s_k a_m`: every pair is correlated ±1. Signs + − + −: of the 12
    /// ordered pairs 4 have equal signs, so the mean is (4 − 8)/12 = −1/3; equal signs give 1.
    #[test]
    fn perfectly_correlated_errors_by_hand() {
        let a = [0.3f32, -1.0, 2.0, 0.5, -0.7];
        let signs = [1.0f32, -1.0, 1.0, -1.0];
        let alt: Vec<f32> = signs
            .iter()
            .flat_map(|&s| a.iter().map(move |&x| s * x))
            .collect();
        let r = error_correlation(&alt, 4, 5, 1).unwrap();
        assert!((r + 1.0 / 3.0).abs() < 1e-12, "{r}");
        let same: Vec<f32> = (1..=4)
            .flat_map(|k| a.iter().map(move |&x| k as f32 * x))
            .collect();
        assert!((error_correlation(&same, 4, 5, 1).unwrap() - 1.0).abs() < 1e-12);
    }

    /// An AR(1) error, `e(t_k) = ρ e(t_{k−1}) + √(1 − ρ²) ξ_k` with stationary start, has
    /// `corr(e_k, e_l) = ρ^|k−l|`, whose mean over ordered pairs is
    /// `2 Σ_{j=1}^{T−1} (T − j) ρ^j / (T (T − 1))`; independent errors (ρ = 0) give 0. Two
    /// coordinates with different ρ average.
    #[test]
    fn ar1_errors_match_the_closed_form() {
        let (times, m) = (12usize, 40_000usize);
        let rhos = [0.8f64, 0.0];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut e = vec![0f32; times * m * 2];
        for (c, &rho) in rhos.iter().enumerate() {
            for j in 0..m {
                let mut x: f64 = StandardNormal.sample(&mut rng);
                for k in 0..times {
                    if k > 0 {
                        let xi: f64 = StandardNormal.sample(&mut rng);
                        x = rho * x + (1.0 - rho * rho).sqrt() * xi;
                    }
                    e[(k * m + j) * 2 + c] = x as f32;
                }
            }
        }
        let closed = |rho: f64| {
            let t = times as f64;
            2.0 * (1..times)
                .map(|j| (t - j as f64) * rho.powi(j as i32))
                .sum::<f64>()
                / (t * (t - 1.0))
        };
        let want = (closed(0.8) + closed(0.0)) / 2.0;
        let got = error_correlation(&e, times, m, 2).unwrap();
        // Each correlation estimate has sd ≈ 1/√m = 0.005.
        assert!((got - want).abs() < 0.01, "{got} vs {want}");
    }

    /// A model that is the exact score of a Gaussian with the wrong width (s' = 0.5 for data of
    /// s = 0.3) errs linearly in x, `e = c(t) x`. The Euler ODE is then linear too, `x_k = a_k
    /// x_0` for every particle, so `e(t_k) ∝ x_0` at every time and every pair correlates
    /// exactly 1. The SDE adds fresh noise at each step, which decorrelates distant times.
    #[test]
    fn a_linear_error_propagates_perfectly_along_the_ode_and_not_the_sde() {
        use crate::data::GaussianMixture;
        use crate::diffusion::{
            ExactMixtureScore, NoiseProcess, SamplerConfig, SamplerKind, sample,
        };
        use burn::tensor::Device;
        let p = NoiseProcess::vp();
        let gaussian = |s: f64| GaussianMixture {
            weights: vec![1.0],
            means: vec![vec![0.0]],
            stds: vec![s],
        };
        let (wrong, truth) = (
            ExactMixtureScore::new(gaussian(0.5), p),
            ExactMixtureScore::new(gaussian(0.3), p),
        );
        let dev = Device::flex();
        let run = |kind| {
            let cfg = SamplerConfig::new(kind)
                .with_steps(200)
                .recording_first(1000);
            let out = sample(&wrong, &cfg, 3000, 4, &dev, &mut |_, _| {}).unwrap();
            assert_eq!(out.trajectory_particles, 1000);
            let tr = out.trajectory.unwrap();
            trajectory_error_correlation(&wrong, &truth, &tr, &out.times, 1000, &dev).unwrap()
        };
        let ode = run(SamplerKind::OdeEuler);
        let sde = run(SamplerKind::Sde);
        assert!((ode - 1.0).abs() < 1e-4, "ODE {ode}");
        assert!(sde < 0.5, "SDE {sde}");
    }

    /// Constant errors have no correlation to speak of; one particle none at all.
    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(error_correlation(&[1.0; 12], 3, 4, 1), None);
        assert_eq!(error_correlation(&[1.0, 2.0, 3.0], 3, 1, 1), None);
    }

    /// Errors e(t_k) = a_m · k with a_m of sample variance s²: C_kl = s² k l.
    #[test]
    fn covariance_closed_form() {
        let a = [1.0f32, -1.0, 2.0, 0.0];
        let (times, m) = (3, 4);
        let mean = 0.5;
        let s2 = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / 3.0;
        let errors: Vec<f32> = (0..times)
            .flat_map(|k| a.iter().map(move |&x| x * k as f32))
            .collect();
        let c = error_covariance(&errors, times, m, 1);
        for k in 0..times {
            for l in 0..times {
                assert!((c[k * times + l] - s2 * (k * l) as f64).abs() < 1e-9);
            }
        }
    }
}
