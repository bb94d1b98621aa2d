//! The exact ε of a Gaussian-mixture dataset (SPEC §4), as an [`EpsilonModel`] on tensors.

use burn::tensor::{Device, Tensor, TensorData, activation::softmax};

use super::NoiseProcess;
use super::model::{Coefficient, EpsilonModel, Times};
use crate::data::GaussianMixture;

/// `ε*(x, t) = −σ ∇ ln p_t(x)` of a Gaussian mixture under a noise process.
///
/// Squared distances are formed directly from `x − α μ_k` (not through a Gram matrix) and the
/// responsibilities by a softmax of log-weights, so the result stays accurate for `σ → 0`,
/// far from the data, and for `d` up to thousands.
#[derive(Clone, Debug)]
pub struct ExactMixtureScore {
    mixture: GaussianMixture,
    process: NoiseProcess,
}

impl ExactMixtureScore {
    /// The exact model of `mixture` under `process`.
    pub fn new(mixture: GaussianMixture, process: NoiseProcess) -> Self {
        Self { mixture, process }
    }

    /// The mixture.
    pub fn mixture(&self) -> &GaussianMixture {
        &self.mixture
    }

    fn mean_row(&self, k: usize, device: &Device) -> Tensor<2> {
        let m: Vec<f32> = self.mixture.means[k].iter().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(m, [1, self.mixture.dim()]), device)
    }
}

fn add(c: &Coefficient, x: Tensor<2>) -> Tensor<2> {
    match c {
        Coefficient::Scalar(v) => x.add_scalar(*v),
        Coefficient::Column(col) => x.add((**col).clone()),
    }
}

impl EpsilonModel for ExactMixtureScore {
    fn dim(&self) -> usize {
        self.mixture.dim()
    }

    fn process(&self) -> NoiseProcess {
        self.process
    }

    /// # Shapes
    /// `x`: `[n, d]` → `[n, d]`
    fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
        let device = x.device();
        let [n, d] = x.dims();
        let p = self.process;
        let mix = &self.mixture;
        let alpha = t.coefficient(&device, |t| p.alpha(t));
        let mut diffs = Vec::with_capacity(mix.len());
        let mut logits = Vec::with_capacity(mix.len());
        let mut inv_vars = Vec::with_capacity(mix.len());
        for k in 0..mix.len() {
            let var = |t: f64| mix.noised_variance(k, p.alpha(t), p.sigma(t));
            let inv_var = t.coefficient(&device, |t| 1.0 / var(t));
            let bias = t.coefficient(&device, |t| {
                mix.weights[k].ln() - 0.5 * d as f64 * var(t).ln()
            });
            // x − α μ_k: [n, d]
            let shifted_mean = match &alpha {
                Coefficient::Scalar(a) => self.mean_row(k, &device).mul_scalar(*a),
                Coefficient::Column(a) => (**a).clone().mul(self.mean_row(k, &device)),
            };
            let diff = x.clone().sub(shifted_mean);
            // ln w_k − ½‖x − αμ_k‖²/v_k − (d/2) ln v_k: [n, 1]
            let sq = diff.clone().square().sum_dim(1);
            logits.push(add(&bias, inv_var.mul(sq).mul_scalar(-0.5)));
            diffs.push(diff);
            inv_vars.push(inv_var);
        }
        // Responsibilities r_k(x): [n, K]
        let resp = softmax(Tensor::cat(logits, 1), 1);
        let mut sum: Tensor<2> = Tensor::zeros([n, d], &device);
        for (k, (diff, inv_var)) in diffs.into_iter().zip(&inv_vars).enumerate() {
            let r_k = resp.clone().slice([0..n, k..k + 1]);
            sum = sum.add(inv_var.mul(diff.mul(r_k)));
        }
        // ε = σ Σ_k r_k (x − αμ_k)/v_k
        t.coefficient(&device, |t| p.sigma(t)).mul(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;
    use crate::diffusion::model::{to_host, to_tensor};

    fn device() -> Device {
        Device::flex()
    }

    /// The tensor ε matches the f64 reference score (−σ·∇ln p_t) of the mixture.
    #[test]
    fn matches_host_reference_for_ring_and_mog() {
        for spec in [DatasetSpec::RingMog, DatasetSpec::Mog { dim: 5, std: 0.1 }] {
            let mix = spec.mixture().unwrap();
            let p = NoiseProcess::vp();
            let model = ExactMixtureScore::new(mix.clone(), p);
            let pts = spec.generate(64, 11);
            for &t in &[1e-3, 0.05, 0.3, 0.9, 1.0] {
                let eps = to_host(model.epsilon(
                    to_tensor(&pts.data, pts.n, pts.d, &device()),
                    &Times::Shared(t),
                ));
                let (a, s) = (p.alpha(t), p.sigma(t));
                for i in 0..pts.n {
                    let x: Vec<f64> = pts.row(i).iter().map(|&v| v as f64).collect();
                    let score = mix.score(&x, a, s);
                    for j in 0..pts.d {
                        let want = -s * score[j];
                        let got = eps[i * pts.d + j] as f64;
                        assert!(
                            (got - want).abs() < 2e-4 * (1.0 + want.abs()),
                            "t={t}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// One Gaussian N(μ, s²): ε* = σ (x − αμ)/(α²s² + σ²), per-row times included.
    #[test]
    fn single_gaussian_closed_form_with_per_row_times() {
        let mix = GaussianMixture {
            weights: vec![1.0],
            means: vec![vec![0.5, -1.0]],
            stds: vec![0.3],
        };
        let p = NoiseProcess::sub_vp();
        let model = ExactMixtureScore::new(mix, p);
        let ts = vec![0.01, 0.5, 0.99];
        let x = [0.2f32, 0.1, -2.0, 3.0, 0.0, 0.0];
        let eps =
            to_host(model.epsilon(to_tensor(&x, 3, 2, &device()), &Times::PerRow(ts.clone())));
        for (i, &t) in ts.iter().enumerate() {
            let (a, s) = (p.alpha(t), p.sigma(t));
            let v = a * a * 0.09 + s * s;
            for (j, mu) in [0.5, -1.0].iter().enumerate() {
                let want = s * (x[2 * i + j] as f64 - a * mu) / v;
                assert!((eps[2 * i + j] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()));
            }
        }
    }

    /// At d = 3,072 and σ → 0 the responsibilities stay finite and pick the right component.
    #[test]
    fn stable_in_high_dimension_and_small_sigma() {
        let d = 3072;
        let mix = DatasetSpec::Mog { dim: d, std: 0.1 }.mixture().unwrap();
        let p = NoiseProcess::vp();
        let model = ExactMixtureScore::new(mix, p);
        // x = +1 + 0.05: nearest to the + component; ε* = σ(x − α)/(α² 0.01 + σ²).
        let x = vec![1.05f32; 2 * d];
        let t = 1e-3;
        let eps = to_host(model.epsilon(to_tensor(&x, 2, d, &device()), &Times::Shared(t)));
        let (a, s) = (p.alpha(t), p.sigma(t));
        let want = s * (1.05 - a) / (a * a * 0.01 + s * s);
        assert!(
            eps.iter()
                .all(|e| (*e as f64 - want).abs() < 1e-3 * (1.0 + want.abs())),
            "{} vs {want}",
            eps[0]
        );
    }
}
