//! Isotropic Gaussian mixtures: the parameters of the MoG datasets and of their exact scores.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// `p_0 = Σ_k w_k N(μ_k, s_k² I)` (SPEC §4).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    /// Component weights `w_k` (sum to 1).
    pub weights: Vec<f64>,
    /// Component means `μ_k`, each of length `d`.
    pub means: Vec<Vec<f64>>,
    /// Per-coordinate component standard deviations `s_k`.
    pub stds: Vec<f64>,
}

impl GaussianMixture {
    /// Data dimension `d`.
    pub fn dim(&self) -> usize {
        self.means.first().map_or(0, Vec::len)
    }

    /// Number of components `K`.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// True if the mixture has no component.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Draws one point into `out` (length `d`); returns the component index.
    pub fn sample_into<R: Rng>(&self, rng: &mut R, out: &mut [f32]) -> usize {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut k = self.len() - 1;
        for (j, w) in self.weights.iter().enumerate() {
            acc += w;
            if u < acc {
                k = j;
                break;
            }
        }
        for (o, m) in out.iter_mut().zip(&self.means[k]) {
            let z: f64 = StandardNormal.sample(rng);
            *o = (m + self.stds[k] * z) as f32;
        }
        k
    }

    /// Variance of component `k` at time `t`: `α² s_k² + σ²`.
    pub fn noised_variance(&self, k: usize, alpha: f64, sigma: f64) -> f64 {
        alpha * alpha * self.stds[k] * self.stds[k] + sigma * sigma
    }

    /// `ln p_t(x)` of the noised mixture `Σ_k w_k N(α μ_k, (α² s_k² + σ²) I)`, in `f64`.
    pub fn log_density(&self, x: &[f64], alpha: f64, sigma: f64) -> f64 {
        let d = x.len() as f64;
        let logs: Vec<f64> = (0..self.len())
            .map(|k| {
                let v = self.noised_variance(k, alpha, sigma);
                let sq: f64 = x
                    .iter()
                    .zip(&self.means[k])
                    .map(|(xi, m)| (xi - alpha * m).powi(2))
                    .sum();
                self.weights[k].ln()
                    - 0.5 * sq / v
                    - 0.5 * d * (2.0 * std::f64::consts::PI * v).ln()
            })
            .collect();
        log_sum_exp(&logs)
    }

    /// Exact score `∇ ln p_t(x) = Σ_k r_k(x) (α μ_k − x) / (α² s_k² + σ²)`, in `f64`
    /// (the host reference; the samplers use the tensor version in `diffusion::exact`).
    pub fn score(&self, x: &[f64], alpha: f64, sigma: f64) -> Vec<f64> {
        let d = x.len() as f64;
        let vars: Vec<f64> = (0..self.len())
            .map(|k| self.noised_variance(k, alpha, sigma))
            .collect();
        let logits: Vec<f64> = (0..self.len())
            .map(|k| {
                let sq: f64 = x
                    .iter()
                    .zip(&self.means[k])
                    .map(|(xi, m)| (xi - alpha * m).powi(2))
                    .sum();
                self.weights[k].ln() - 0.5 * sq / vars[k] - 0.5 * d * vars[k].ln()
            })
            .collect();
        let lse = log_sum_exp(&logits);
        let mut s = vec![0.0; x.len()];
        for k in 0..self.len() {
            let r = (logits[k] - lse).exp();
            for ((si, xi), m) in s.iter_mut().zip(x).zip(&self.means[k]) {
                *si += r * (alpha * m - xi) / vars[k];
            }
        }
        s
    }

    /// Mean and per-coordinate variance of the mixture at `t = 0` (for moment tests).
    pub fn moments(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim();
        let mut mean = vec![0.0; d];
        for (w, m) in self.weights.iter().zip(&self.means) {
            for (a, b) in mean.iter_mut().zip(m) {
                *a += w * b;
            }
        }
        let mut var = vec![0.0; d];
        for k in 0..self.len() {
            for j in 0..d {
                var[j] +=
                    self.weights[k] * (self.stds[k].powi(2) + (self.means[k][j] - mean[j]).powi(2));
            }
        }
        (mean, var)
    }
}

/// `ln Σ exp(v)` without overflow.
pub(crate) fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_comp() -> GaussianMixture {
        GaussianMixture {
            weights: vec![0.3, 0.7],
            means: vec![vec![-1.0, 0.5], vec![1.0, 2.0]],
            stds: vec![0.2, 0.5],
        }
    }

    /// The score is the gradient of the log-density (central differences).
    #[test]
    fn score_is_gradient_of_log_density() {
        let g = two_comp();
        let (alpha, sigma) = (0.8, 0.6);
        for x in [[0.1, 0.2], [-1.0, 0.4], [2.0, 2.5]] {
            let s = g.score(&x, alpha, sigma);
            for j in 0..2 {
                let h = 1e-5;
                let mut xp = x;
                let mut xm = x;
                xp[j] += h;
                xm[j] -= h;
                let fd = (g.log_density(&xp, alpha, sigma) - g.log_density(&xm, alpha, sigma))
                    / (2.0 * h);
                assert!(
                    (fd - s[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                    "{fd} vs {}",
                    s[j]
                );
            }
        }
    }

    /// A one-component mixture has the Gaussian score (αμ − x)/(α²s² + σ²).
    #[test]
    fn single_gaussian_closed_form() {
        let g = GaussianMixture {
            weights: vec![1.0],
            means: vec![vec![2.0]],
            stds: vec![0.5],
        };
        let (a, s) = (0.6, 0.8);
        let x = [0.3];
        let expect = (a * 2.0 - 0.3) / (a * a * 0.25 + s * s);
        assert!((g.score(&x, a, s)[0] - expect).abs() < 1e-14);
    }

    /// Far from every mean and with σ → 0 the responsibilities must not overflow.
    #[test]
    fn score_is_finite_in_extremes() {
        let g = two_comp();
        let s = g.score(&[1e3, -1e3], 1.0, 1e-6);
        assert!(s.iter().all(|v| v.is_finite()));
    }
}
