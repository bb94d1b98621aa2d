//! Denoising score matching (SPEC §2): noised batches and the ε-prediction loss.

use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::NoiseProcess;
use super::model::{EpsilonModel, Times, to_tensor};
use super::objective::TimeSampling;
use crate::data::Points;

/// Training stopped because the DSM loss (or a gradient) became NaN or infinite: the error of
/// every trainer here (the 2D score models and the U-Net), which keep the weights from before
/// that step.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error(
    "training diverged at iteration {iteration} (loss {loss}); kept the last finite weights (iteration {last_good})"
)]
pub struct Diverged {
    /// The iteration whose loss was not finite.
    pub iteration: u64,
    /// The loss value.
    pub loss: f64,
    /// The iteration the kept weights come from.
    pub last_good: u64,
}

/// A time band `[lo, hi]` of the diffusion.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Band {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

impl Band {
    /// The low-noise band `[t_min, 0.1]` (SPEC §2 default).
    pub fn low(p: &NoiseProcess) -> Self {
        Self {
            lo: p.t_min(),
            hi: 0.1,
        }
    }
    /// The high-noise band `[0.9, 1]` (clipped to the process' `t_max`).
    pub fn high(p: &NoiseProcess) -> Self {
        Self {
            lo: 0.9,
            hi: p.t_max(),
        }
    }
    /// The whole training range `[t_min, t_max]`.
    pub fn full(p: &NoiseProcess) -> Self {
        Self {
            lo: p.t_min(),
            hi: p.t_max(),
        }
    }
}

/// `x_t = α x_0 + σ ε` for a batch, with its `t` and `ε` (host data, `[n, d]`).
#[derive(Clone, Debug)]
pub struct NoisedBatch {
    /// Clean points `x_0`, drawn from the dataset with replacement.
    pub x0: Vec<f32>,
    /// Noised points `x_t`.
    pub xt: Vec<f32>,
    /// The noise `ε`.
    pub eps: Vec<f32>,
    /// Per-row times.
    pub t: Vec<f64>,
    /// Rows.
    pub n: usize,
    /// Dimension.
    pub d: usize,
}

impl NoisedBatch {
    /// Draws `n` rows: `x_0` from `data` with replacement, `t ~ U[band]`, `ε ~ N(0, I)`.
    pub fn draw(data: &Points, p: &NoiseProcess, band: Band, n: usize, rng: &mut StdRng) -> Self {
        Self::draw_with_times(data, p, band, TimeSampling::Uniform, n, rng)
    }

    /// The same with times drawn by `times` (restricted to `band`).
    pub fn draw_with_times(
        data: &Points,
        p: &NoiseProcess,
        band: Band,
        times: TimeSampling,
        n: usize,
        rng: &mut StdRng,
    ) -> Self {
        let d = data.d;
        // Two passes. The first makes every random draw, in the order a row-by-row loop makes
        // them (row index, time, noise), touching no data; the second gathers the rows and
        // noises them. A row-by-row loop waits on each random row of a large dataset in turn
        // (a cache miss behind every row's random numbers); the gather keeps many misses in
        // flight, and it runs on the thread pool. The numbers are the same either way.
        let mut rows = Vec::with_capacity(n);
        let mut noise = Vec::with_capacity(n * d);
        let mut t = Vec::with_capacity(n);
        for _ in 0..n {
            rows.push(rng.random_range(0..data.n));
            t.push(times.draw(p, band, rng));
            noise.extend((0..d).map(|_| -> f64 { StandardNormal.sample(rng) }));
        }
        let (mut x0, mut xt, mut eps) = (
            vec![0.0f32; n * d],
            vec![0.0f32; n * d],
            vec![0.0f32; n * d],
        );
        if d > 0 {
            const CHUNK: usize = 256;
            x0.par_chunks_mut(CHUNK * d)
                .zip(xt.par_chunks_mut(CHUNK * d))
                .zip(eps.par_chunks_mut(CHUNK * d))
                .zip(noise.par_chunks(CHUNK * d))
                .zip(rows.par_chunks(CHUNK).zip(t.par_chunks(CHUNK)))
                .for_each(|((((x0, xt), eps), noise), (rows, t))| {
                    // The chunk's rows first, in a loop of loads alone, so that their cache
                    // misses overlap; then the arithmetic.
                    for (x0, &row) in x0.chunks_exact_mut(d).zip(rows) {
                        x0.copy_from_slice(data.row(row));
                    }
                    let points = x0.chunks_exact(d).zip(xt.chunks_exact_mut(d));
                    let draws = eps.chunks_exact_mut(d).zip(noise.chunks_exact(d));
                    for (((x0, xt), (eps, noise)), &ti) in points.zip(draws).zip(t) {
                        let (a, s) = (p.alpha(ti), p.sigma(ti));
                        for (((xt, e), &x), &z) in xt.iter_mut().zip(eps).zip(x0).zip(noise) {
                            *e = z as f32;
                            *xt = (a * x as f64 + s * z) as f32;
                        }
                    }
                });
        }
        Self {
            x0,
            xt,
            eps,
            t,
            n,
            d,
        }
    }
}

/// `‖ε_θ(x_t, t) − ε‖² / d`, averaged over the batch: a scalar tensor `[1]`.
pub fn dsm_loss_tensor(
    model: &dyn EpsilonModel,
    batch: &NoisedBatch,
    device: &Device,
) -> Tensor<1> {
    let xt = to_tensor(&batch.xt, batch.n, batch.d, device);
    let eps = to_tensor(&batch.eps, batch.n, batch.d, device);
    let pred = model.epsilon(xt, &Times::PerRow(batch.t.clone()));
    pred.sub(eps).square().mean()
}

/// The DSM loss of `model` on `data` with `t` restricted to `band` (a regime loss, SPEC §2),
/// estimated from `n` draws with `seed`, evaluated in chunks of 10,000 rows.
pub fn regime_loss(
    model: &dyn EpsilonModel,
    data: &Points,
    band: Band,
    n: usize,
    seed: u64,
    device: &Device,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let p = model.process();
    let mut total = 0.0;
    let mut done = 0;
    while done < n {
        let m = (n - done).min(10_000);
        let batch = NoisedBatch::draw(data, &p, band, m, &mut rng);
        total += dsm_loss_tensor(model, &batch, device).into_scalar::<f32>() as f64 * m as f64;
        done += m;
    }
    total / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::GaussianMixture;
    use crate::diffusion::ExactMixtureScore;

    /// The two-pass draw makes the same random draws in the same order as a row-by-row loop
    /// (row index, time, then the row's noise), so a seed gives the batches it always gave.
    #[test]
    fn batches_are_those_of_a_row_by_row_draw() {
        let d = 3;
        let data = Points::new(5000, d, (0..5000 * d).map(|i| (i as f32).sin()).collect());
        let p = NoiseProcess::vp();
        let band = Band::full(&p);
        let times = TimeSampling::Uniform;
        let n = 1000;
        let batch =
            NoisedBatch::draw_with_times(&data, &p, band, times, n, &mut StdRng::seed_from_u64(7));
        let rng = &mut StdRng::seed_from_u64(7);
        for i in 0..n {
            let row = data.row(rng.random_range(0..data.n));
            let t = times.draw(&p, band, rng);
            assert_eq!(batch.t[i], t);
            for (j, &x) in row.iter().enumerate() {
                let e: f64 = StandardNormal.sample(rng);
                let k = i * d + j;
                assert_eq!(batch.x0[k], x);
                assert_eq!(batch.eps[k], e as f32);
                assert_eq!(batch.xt[k], (p.alpha(t) * x as f64 + p.sigma(t) * e) as f32);
            }
        }
    }

    /// For Gaussian data N(0, s²) in 1D the exact ε gives the irreducible loss
    /// E[1 − σ²/(α²s² + σ²)] = E[α²s²/(α²s² + σ²)]; check at a single time (band of width 0).
    #[test]
    fn exact_model_attains_the_irreducible_loss() {
        let s = 0.5;
        let mix = GaussianMixture {
            weights: vec![1.0],
            means: vec![vec![0.0]],
            stds: vec![s],
        };
        let p = NoiseProcess::vp();
        let model = ExactMixtureScore::new(mix.clone(), p);
        // A large Gaussian dataset drawn from the mixture itself.
        let mut rng = StdRng::seed_from_u64(1);
        let mut pts = vec![0f32; 200_000];
        for v in pts.chunks_exact_mut(1) {
            mix.sample_into(&mut rng, v);
        }
        let data = Points::new(200_000, 1, pts);
        let t = 0.3;
        let (a, sg) = (p.alpha(t), p.sigma(t));
        let want = a * a * s * s / (a * a * s * s + sg * sg);
        let got = regime_loss(
            &model,
            &data,
            Band { lo: t, hi: t },
            200_000,
            2,
            &Device::flex(),
        );
        // The loss is a mean of 200,000 squared Gaussians of variance `want`: std ≈ want·sqrt(2/n).
        assert!(
            (got - want).abs() < 5.0 * want * (2.0f64 / 200_000.0).sqrt(),
            "{got} vs {want}"
        );
    }
}
