//! The stages of a pass that turn a snapshot's model into plain data for the views — the
//! velocity field on a grid, each sampler's samples, paths and densities, the sample histogram —
//! and the payloads they publish.

use std::time::Instant;

use burn::tensor::Device;

use super::{AnalysisContext, AnalysisSettings};
use crate::data::Points;
use crate::diffusion::diagnostics::trajectory_velocity_errors;
use crate::diffusion::model::{to_host, to_tensor};
use crate::diffusion::{EpsilonModel, SamplerConfig, SamplerKind, Times};
use crate::metrics::{
    DensityEvolution, TidEstimate, error_covariance, trajectory_error_correlation,
};

/// Regime losses and velocity errors of one snapshot (the see-saw view).
#[derive(Clone, Debug, PartialEq)]
pub struct RegimeMetrics {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the weights.
    pub iteration: u64,
    /// DSM loss on the low-noise band `[t_min, 0.1]`.
    pub loss_low: f64,
    /// DSM loss on the high-noise band `[0.9, 1]`.
    pub loss_high: f64,
    /// Velocity MAE against the exact velocity on the low band (MoG data only).
    pub mae_low: Option<f64>,
    /// The same on the high band.
    pub mae_high: Option<f64>,
}

/// The probability-flow velocity on a grid at several times.
///
/// In 2D the grid covers the view's `x × y` box (`ny` rows of `nx`, row 0 at the lowest `y`);
/// in any other dimension it is a line: `ny = 1` and grid point `x` is `x·1_d` (the diagonal,
/// through both means of the d-D MoG), with the velocity averaged over coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct VelocityField {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the weights.
    pub iteration: u64,
    /// The times (ascending).
    pub times: Vec<f64>,
    /// Columns.
    pub nx: usize,
    /// Rows (1 for a line).
    pub ny: usize,
    /// Components per grid point (2 in 2D, 1 otherwise).
    pub components: usize,
    /// `x` range of the grid.
    pub x_range: [f64; 2],
    /// `y` range (2D only; `[0, 0]` otherwise).
    pub y_range: [f64; 2],
    /// `v_θ`, `[times, ny, nx, components]`.
    pub velocity: Vec<f32>,
    /// `v_θ − v*` in the same layout, when the exact score exists.
    pub error: Option<Vec<f32>>,
}

/// One sampler's result on one snapshot.
#[derive(Clone, Debug)]
pub struct SamplerRun {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the weights.
    pub iteration: u64,
    /// The sampler.
    pub config: SamplerConfig,
    /// Final samples.
    pub samples: Points,
    /// Recorded times of the kept paths (subsampled grid, descending from 1).
    pub path_times: Vec<f64>,
    /// Paths of the first `n_paths` particles, `[path_times, n_paths, d]`.
    pub paths: Vec<f32>,
    /// Number of kept paths.
    pub n_paths: usize,
    /// Density evolution of the chosen coordinate over all particles and all grid times.
    pub density: DensityEvolution,
    /// 2D histogram of the samples over the view box, `[bins, bins]`, row 0 at the lowest `y`,
    /// normalised to a density (2D data only).
    pub histogram: Option<Vec<f32>>,
    /// Error covariance along the kept paths at `path_times`, `[T, T]` (exact score only).
    pub error_covariance: Option<Vec<f64>>,
    /// Mean correlation of the velocity error between the sampler's grid times t ≥ 0.05, on
    /// its first 2,000 particles (exact score only; `metrics::trajectory_error_correlation`).
    pub error_correlation: Option<f64>,
    /// Seconds the sampler took.
    pub seconds: f64,
}

/// TID curves of every sampler against the training set.
#[derive(Clone, Debug)]
pub struct TidCurves {
    /// Run generation.
    pub generation: u64,
    /// Training iteration of the weights.
    pub iteration: u64,
    /// One curve per sampler (mean ± std over the protocol's repeats).
    pub curves: Vec<(SamplerKind, Vec<TidEstimate>)>,
    /// Precision, recall, density, coverage and the energy distance of each sampler, on the
    /// same subsets (means over repeats).
    pub reference: Vec<(SamplerKind, crate::metrics::ReferenceMetrics)>,
}

/// Evenly spaced values from `lo` to `hi`, `n ≥ 2` of them, at cell centres when `centres`.
fn linspace(lo: f64, hi: f64, n: usize, centres: bool) -> Vec<f64> {
    let n = n.max(2);
    if centres {
        let w = (hi - lo) / n as f64;
        (0..n).map(|i| lo + (i as f64 + 0.5) * w).collect()
    } else {
        (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect()
    }
}

/// The probability-flow velocity (and its error against `exact`) on the view's grid.
pub(super) fn velocity_field(
    model: &dyn EpsilonModel,
    exact: Option<&dyn EpsilonModel>,
    ctx: &AnalysisContext,
    s: &AnalysisSettings,
    generation: u64,
    iteration: u64,
    device: &Device,
) -> VelocityField {
    let d = model.dim();
    let p = model.process();
    // The (t, x) map of 1D/d-D data is an image in t: it needs a finer time grid than the
    // slider of the 2D field (and is a line, so it stays cheap).
    let (n_times, res) = if d == 2 {
        (s.field_times, s.field_resolution.max(2))
    } else {
        (s.field_times.max(101), s.field_resolution.max(128))
    };
    let times = linspace(crate::diffusion::T_END, p.t_max(), n_times, false);
    let (ny, components, x_range, y_range) = if d == 2 {
        (res, 2, ctx.bounds[0], ctx.bounds[1])
    } else {
        // The line x·1_d spans every coordinate's range.
        let lo = ctx
            .bounds
            .iter()
            .map(|b| b[0])
            .fold(f64::INFINITY, f64::min);
        let hi = ctx
            .bounds
            .iter()
            .map(|b| b[1])
            .fold(f64::NEG_INFINITY, f64::max);
        (1, 1, [lo, hi], [0.0, 0.0])
    };
    let xs = linspace(x_range[0], x_range[1], res, true);
    let ys = if d == 2 {
        linspace(y_range[0], y_range[1], ny, true)
    } else {
        vec![0.0]
    };
    let mut rows = Vec::with_capacity(res * ny * d);
    for &y in &ys {
        for &x in &xs {
            if d == 2 {
                rows.extend_from_slice(&[x as f32, y as f32]);
            } else {
                rows.extend(std::iter::repeat_n(x as f32, d));
            }
        }
    }
    let m = res * ny;
    let reduce = |v: Vec<f32>| -> Vec<f32> {
        if d == 2 {
            v
        } else {
            v.chunks_exact(d)
                .map(|r| r.iter().sum::<f32>() / d as f32)
                .collect()
        }
    };
    let mut velocity = Vec::with_capacity(times.len() * m * components);
    let mut error = exact.map(|_| Vec::with_capacity(times.len() * m * components));
    for &t in &times {
        let x = to_tensor(&rows, m, d, device);
        let tt = Times::Shared(t);
        let v = model.velocity(x.clone(), &tt);
        if let (Some(e), Some(err)) = (exact, error.as_mut()) {
            let diff = v.clone().sub(e.velocity(x, &tt));
            err.extend(reduce(to_host(diff)));
        }
        velocity.extend(reduce(to_host(v)));
    }
    VelocityField {
        generation,
        iteration,
        times,
        nx: res,
        ny,
        components,
        x_range,
        y_range,
        velocity,
        error,
    }
}

/// One sampler's output `out` turned into the published run: kept paths, density evolution,
/// histogram and error covariance.
#[expect(clippy::too_many_arguments)] // one call site; the pieces are unrelated
pub(super) fn sampler_run(
    model: &dyn EpsilonModel,
    exact: Option<&dyn EpsilonModel>,
    cfg: &SamplerConfig,
    out: crate::diffusion::SampleOutput,
    ctx: &AnalysisContext,
    s: &AnalysisSettings,
    (generation, iteration): (u64, u64),
    t0: Instant,
    device: &Device,
) -> SamplerRun {
    let (n, d) = (out.samples.n, out.samples.d);
    let traj = out.trajectory.as_deref().unwrap_or(&[]);
    let coord = s.density_coord.min(d - 1);
    let range = path_view_range(ctx.bounds[coord]);
    let density = DensityEvolution::from_trajectory(
        traj,
        &out.times,
        n,
        d,
        coord,
        range,
        s.density_bins.max(1),
    );
    // Kept paths: the first `m` particles at evenly subsampled times.
    let m = s.n_paths.min(n);
    let t_all = out.times.len();
    let keep: Vec<usize> = if t_all <= s.path_times.max(2) {
        (0..t_all).collect()
    } else {
        let k = s.path_times.max(2);
        let mut v: Vec<usize> = (0..k)
            .map(|i| ((i as f64 * (t_all - 1) as f64) / (k - 1) as f64).round() as usize)
            .collect();
        v.dedup();
        v
    };
    let mut paths = Vec::with_capacity(keep.len() * m * d);
    for &k in &keep {
        let state = &traj[k * n * d..(k + 1) * n * d];
        paths.extend_from_slice(&state[..m * d]);
    }
    let path_times: Vec<f64> = keep.iter().map(|&k| out.times[k]).collect();
    let error_covariance = exact.filter(|_| m >= 2).map(|e| {
        let errs = trajectory_velocity_errors(model, e, &paths, &path_times, m, device);
        error_covariance(&errs, path_times.len(), m, d)
    });
    let error_correlation = exact
        .filter(|_| !traj.is_empty())
        .and_then(|e| trajectory_error_correlation(model, e, traj, &out.times, n, device));
    let histogram = (d == 2).then(|| {
        histogram_2d(
            &out.samples,
            ctx.bounds[0],
            ctx.bounds[1],
            s.histogram_bins.max(1),
        )
    });
    SamplerRun {
        generation,
        iteration,
        config: cfg.clone(),
        samples: out.samples,
        path_times,
        paths,
        n_paths: m,
        density,
        histogram,
        error_covariance,
        error_correlation,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// Density histogram of 2D points over `x_range × y_range`, `[bins, bins]` row-major, row 0 at
/// the lowest `y`; it integrates to the fraction of points inside the box.
pub fn histogram_2d(p: &Points, x_range: [f64; 2], y_range: [f64; 2], bins: usize) -> Vec<f32> {
    assert_eq!(p.d, 2, "histogram_2d needs 2D points");
    let (wx, wy) = (
        (x_range[1] - x_range[0]) / bins as f64,
        (y_range[1] - y_range[0]) / bins as f64,
    );
    let mut h = vec![0f32; bins * bins];
    for r in p.data.chunks_exact(2) {
        let i = ((r[0] as f64 - x_range[0]) / wx).floor();
        let j = ((r[1] as f64 - y_range[0]) / wy).floor();
        if i >= 0.0 && j >= 0.0 && (i as usize) < bins && (j as usize) < bins {
            h[j as usize * bins + i as usize] += 1.0;
        }
    }
    let norm = 1.0 / (p.n.max(1) as f64 * wx * wy);
    h.iter_mut().for_each(|v| *v = (*v as f64 * norm) as f32);
    h
}

/// The range of one coordinate that a view of paths over time needs: the data's range
/// `bounds`, widened to hold ±3.5, since particles start as N(0, I).
pub fn path_view_range(bounds: [f64; 2]) -> (f64, f64) {
    (bounds[0].min(-3.5), bounds[1].max(3.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram of points uniform on the box integrates to 1 and is flat (≈ 1/area per bin,
    /// within Poisson error).
    #[test]
    fn histogram_of_uniform_points_is_flat() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let n = 200_000;
        let data: Vec<f32> = (0..2 * n).map(|_| rng.random_range(0.0..2.0)).collect();
        let h = histogram_2d(&Points::new(n, 2, data), [0.0, 2.0], [0.0, 2.0], 10);
        let cell = 0.2 * 0.2;
        let total: f64 = h.iter().map(|&v| v as f64 * cell).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // Each bin holds ~2,000 points: relative error ~ 1/sqrt(2000) ≈ 2.2%; allow 5 sigma.
        for &v in &h {
            assert!((v as f64 * 4.0 - 1.0).abs() < 0.12, "{v}");
        }
    }
}
