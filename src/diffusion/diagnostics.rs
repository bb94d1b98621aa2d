//! Model diagnostics against the exact score (SPEC §7): velocity errors per band, on an
//! `(x, t)` grid, and along sampler trajectories.

use burn::tensor::Device;
use rand::{SeedableRng, rngs::StdRng};

use super::loss::{Band, NoisedBatch};
use super::model::{EpsilonModel, Times, to_host, to_tensor};
use crate::data::Points;

/// Mean absolute velocity error `E|v_θ(x_t, t) − v*(x_t, t)|` over `t ~ U[band]`,
/// `x_t = α x_0 + σ ε` with `x_0` from `data` (`n` draws, averaged over coordinates).
pub fn velocity_mae(
    model: &dyn EpsilonModel,
    exact: &dyn EpsilonModel,
    data: &Points,
    band: Band,
    n: usize,
    seed: u64,
    device: &Device,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let p = model.process();
    let batch = NoisedBatch::draw(data, &p, band, n, &mut rng);
    let times = Times::PerRow(batch.t.clone());
    let x = to_tensor(&batch.xt, n, data.d, device);
    let e = model
        .velocity(x.clone(), &times)
        .sub(exact.velocity(x, &times));
    e.abs().mean().into_scalar::<f32>() as f64
}

/// Signed velocity error on an `(x, t)` grid, `[ts.len(), xs.len()]` row-major (paper Fig. 5a).
/// In `d > 1` the grid point is `x·1_d` (the diagonal through both means of the d-D MoG) and the
/// error is averaged over coordinates.
pub fn velocity_error_grid(
    model: &dyn EpsilonModel,
    exact: &dyn EpsilonModel,
    xs: &[f64],
    ts: &[f64],
    device: &Device,
) -> Vec<f32> {
    let d = model.dim();
    let rows: Vec<f32> = xs
        .iter()
        .flat_map(|&x| std::iter::repeat_n(x as f32, d))
        .collect();
    let mut out = Vec::with_capacity(xs.len() * ts.len());
    for &t in ts {
        let x = to_tensor(&rows, xs.len(), d, device);
        let times = Times::Shared(t);
        let e = model
            .velocity(x.clone(), &times)
            .sub(exact.velocity(x, &times))
            .mean_dim(1);
        out.extend(to_host(e));
    }
    out
}

/// Velocity errors `e_m(t_k)` along a recorded trajectory `[T, n, d]` at its times: `[T, n, d]`.
pub fn trajectory_velocity_errors(
    model: &dyn EpsilonModel,
    exact: &dyn EpsilonModel,
    trajectory: &[f32],
    times: &[f64],
    n: usize,
    device: &Device,
) -> Vec<f32> {
    let d = model.dim();
    assert_eq!(trajectory.len(), times.len() * n * d, "trajectory shape");
    let mut out = Vec::with_capacity(trajectory.len());
    for (state, &t) in trajectory.chunks_exact(n * d).zip(times) {
        let x = to_tensor(state, n, d, device);
        let tt = Times::Shared(t);
        out.extend(to_host(
            model.velocity(x.clone(), &tt).sub(exact.velocity(x, &tt)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DatasetSpec, GaussianMixture};
    use crate::diffusion::{ExactMixtureScore, NoiseProcess};

    /// The exact score of a *wrong* mixture (means shifted by δ) has a known velocity error for
    /// Gaussian data: v − v* = ½ g²/σ · (ε_wrong − ε*) = −½ g² α δ / (α² s² + σ²).
    #[test]
    fn shifted_gaussian_has_closed_form_error() {
        let s = 0.3;
        let p = NoiseProcess::vp();
        let truth = GaussianMixture {
            weights: vec![1.0],
            means: vec![vec![0.0]],
            stds: vec![s],
        };
        let delta = 0.2;
        let wrong = GaussianMixture {
            means: vec![vec![delta]],
            ..truth.clone()
        };
        let (m, e) = (
            ExactMixtureScore::new(wrong, p),
            ExactMixtureScore::new(truth, p),
        );
        let ts = [0.1, 0.5, 0.9];
        let grid = velocity_error_grid(&m, &e, &[-1.0, 0.0, 2.0], &ts, &Device::flex());
        for (k, &t) in ts.iter().enumerate() {
            let (a, sg) = (p.alpha(t), p.sigma(t));
            let want = -0.5 * p.diffusion_sq(t) * a * delta / (a * a * s * s + sg * sg);
            for j in 0..3 {
                let got = grid[k * 3 + j] as f64;
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "t={t}: {got} vs {want}"
                );
            }
        }
        // The MAE over a band is then the band average of |want| (Monte Carlo over t).
        let data = DatasetSpec::Mog { dim: 1, std: 0.1 }.generate(100, 0);
        let mae = velocity_mae(
            &m,
            &e,
            &data,
            Band { lo: 0.5, hi: 0.5 },
            100,
            0,
            &Device::flex(),
        );
        let (a, sg) = (p.alpha(0.5), p.sigma(0.5));
        let want = 0.5 * p.diffusion_sq(0.5) * a * delta / (a * a * s * s + sg * sg);
        assert!((mae - want).abs() < 1e-4 * want.max(1.0));
    }
}
