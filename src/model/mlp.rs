//! The paper's MLP score network (SPEC §2): input `[x, t]`, `depth` hidden layers of `width`
//! units, linear output of size `d`; PyTorch-default initialisation.
//!
//! The weights have one canonical host form, [`MlpWeights`] (row-major `[fan_in, fan_out]`
//! matrices and biases), from which both the burn module ([`Mlp`]) and the fused CPU trainer
//! (`model::fast`) are built; checkpoints store that form.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// Hidden-layer non-linearity.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// `tanh` (the paper's choice).
    #[default]
    Tanh,
    /// `max(0, x)`.
    Relu,
    /// `x·sigmoid(x)`.
    Silu,
}

impl Activation {
    /// Applies the activation to a tensor.
    pub fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Tanh => activation::tanh(x),
            Self::Relu => activation::relu(x),
            Self::Silu => activation::silu(x),
        }
    }
}

/// Shape of an MLP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Data dimension `d` (input is `d + 1` with the time feature; output is `d`).
    pub dim: usize,
    /// Hidden units per layer (2D preset 100, MoG preset 1000).
    pub width: usize,
    /// Number of hidden layers (2D preset 3, MoG preset 2).
    pub depth: usize,
    /// Hidden activation (Tanh by default).
    pub activation: Activation,
    /// Output features when they differ from `dim` (the skip model's scalar coefficient nets,
    /// see [`MlpConfig::scalar_of_t`]); `None` means `dim`.
    #[serde(default)]
    pub out_dim: Option<usize>,
}

impl MlpConfig {
    /// A score MLP for `d`-dimensional data.
    pub fn new(dim: usize, width: usize, depth: usize, activation: Activation) -> Self {
        Self {
            dim,
            width,
            depth,
            activation,
            out_dim: None,
        }
    }

    /// The paper's 2D preset: 3 × 100, Tanh.
    pub fn preset_2d(dim: usize) -> Self {
        Self::new(dim, 100, 3, Activation::Tanh)
    }

    /// The paper's MoG preset: 2 × 1000, Tanh.
    pub fn preset_mog(dim: usize) -> Self {
        Self::new(dim, 1000, 2, Activation::Tanh)
    }

    /// A scalar function of `t` alone (input 1, output 1): the learned skip coefficients.
    pub fn scalar_of_t(width: usize, depth: usize) -> Self {
        Self {
            dim: 0,
            width,
            depth,
            activation: Activation::Tanh,
            out_dim: Some(1),
        }
    }

    /// Input features: `d` coordinates and `t`.
    pub fn input_dim(&self) -> usize {
        self.dim + 1
    }

    /// Output features.
    pub fn output_dim(&self) -> usize {
        self.out_dim.unwrap_or(self.dim)
    }

    /// `(fan_in, fan_out)` of every layer, hidden layers first.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let mut shapes = Vec::with_capacity(self.depth + 1);
        let mut fan_in = self.input_dim();
        for _ in 0..self.depth {
            shapes.push((fan_in, self.width));
            fan_in = self.width;
        }
        shapes.push((fan_in, self.output_dim()));
        shapes
    }

    /// Number of parameters, in closed form and in `u128`, without building the layer list:
    /// safe to call on sizes read from a file, however large.
    pub fn num_params_wide(&self) -> u128 {
        let (i, w) = (self.dim as u128 + 1, self.width as u128);
        let o = self.out_dim.unwrap_or(self.dim) as u128;
        let layer =
            |fan_in: u128, fan_out: u128| fan_in.saturating_mul(fan_out).saturating_add(fan_out);
        match self.depth as u128 {
            0 => layer(i, o),
            d => layer(i, w)
                .saturating_add((d - 1).saturating_mul(layer(w, w)))
                .saturating_add(layer(w, o)),
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.layer_shapes().iter().map(|(i, o)| i * o + o).sum()
    }

    /// Multiply-adds per sample of one forward pass.
    pub fn macs_per_sample(&self) -> usize {
        self.layer_shapes().iter().map(|(i, o)| i * o).sum()
    }
}

/// One layer's weights on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerWeights {
    /// Inputs.
    pub fan_in: usize,
    /// Outputs.
    pub fan_out: usize,
    /// `[fan_in, fan_out]` row-major.
    pub weight: Vec<f32>,
    /// `[fan_out]`.
    pub bias: Vec<f32>,
}

/// The canonical host form of an MLP's weights.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpWeights {
    /// The shape.
    pub config: MlpConfig,
    /// Hidden layers, then the output layer.
    pub layers: Vec<LayerWeights>,
}

impl MlpWeights {
    /// PyTorch's `nn.Linear` default: weights and biases `U(−1/√fan_in, 1/√fan_in)`, from `seed`.
    pub fn init(config: &MlpConfig, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = config
            .layer_shapes()
            .into_iter()
            .map(|(fan_in, fan_out)| {
                let bound = 1.0 / (fan_in as f64).sqrt();
                let mut u = |len: usize| -> Vec<f32> {
                    (0..len)
                        .map(|_| (rng.random_range(-bound..bound)) as f32)
                        .collect()
                };
                let weight = u(fan_in * fan_out);
                let bias = u(fan_out);
                LayerWeights {
                    fan_in,
                    fan_out,
                    weight,
                    bias,
                }
            })
            .collect();
        Self {
            config: config.clone(),
            layers,
        }
    }

    /// All parameters, layer by layer (weight then bias).
    pub fn flatten(&self) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.config.num_params());
        for l in &self.layers {
            v.extend_from_slice(&l.weight);
            v.extend_from_slice(&l.bias);
        }
        v
    }

    /// The inverse of [`Self::flatten`].
    pub fn from_flat(config: &MlpConfig, flat: &[f32]) -> Self {
        assert_eq!(
            flat.len(),
            config.num_params(),
            "MlpWeights::from_flat: wrong length"
        );
        let mut off = 0;
        let layers = config
            .layer_shapes()
            .into_iter()
            .map(|(fan_in, fan_out)| {
                let weight = flat[off..off + fan_in * fan_out].to_vec();
                off += fan_in * fan_out;
                let bias = flat[off..off + fan_out].to_vec();
                off += fan_out;
                LayerWeights {
                    fan_in,
                    fan_out,
                    weight,
                    bias,
                }
            })
            .collect();
        Self {
            config: config.clone(),
            layers,
        }
    }

    /// True if every parameter is finite.
    pub fn all_finite(&self) -> bool {
        self.layers
            .iter()
            .all(|l| l.weight.iter().chain(&l.bias).all(|v| v.is_finite()))
    }
}

/// The MLP as a burn module.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers, then the output layer.
    pub layers: Vec<Linear>,
    /// Hidden activation.
    #[module(skip)]
    pub activation: Activation,
}

impl Mlp {
    /// Builds the module from host weights on `device`.
    pub fn from_weights(w: &MlpWeights, device: &Device) -> Self {
        let layers = w
            .layers
            .iter()
            .map(|l| Linear {
                weight: Param::from_tensor(Tensor::from_data(
                    TensorData::new(l.weight.clone(), [l.fan_in, l.fan_out]),
                    device,
                )),
                bias: Some(Param::from_tensor(Tensor::from_data(
                    TensorData::new(l.bias.clone(), [l.fan_out]),
                    device,
                ))),
            })
            .collect();
        Self {
            layers,
            activation: w.config.activation,
        }
    }

    /// Reads the weights back to the host.
    pub fn to_weights(&self, config: &MlpConfig) -> MlpWeights {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let [fan_in, fan_out] = l.weight.val().dims();
                let read = |t: TensorData| {
                    t.convert::<f32>()
                        .try_into_vec::<f32>()
                        .expect("f32 weights")
                };
                LayerWeights {
                    fan_in,
                    fan_out,
                    weight: read(l.weight.val().into_data()),
                    bias: l
                        .bias
                        .as_ref()
                        .map_or(vec![0.0; fan_out], |b| read(b.val().into_data())),
                }
            })
            .collect();
        MlpWeights {
            config: config.clone(),
            layers,
        }
    }

    /// `MLP([x, t])`.
    ///
    /// # Shapes
    /// - `x`: `[n, d]` (may be `[n, 0]`-less: pass `None` for a function of `t` alone)
    /// - `t`: `[n, 1]`
    /// - output: `[n, out]`
    pub fn forward(&self, x: Option<Tensor<2>>, t: Tensor<2>) -> Tensor<2> {
        let mut h = match x {
            Some(x) => Tensor::cat(vec![x, t], 1),
            None => t,
        };
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = self.activation.apply(h);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_init_bounds() {
        let c = MlpConfig::preset_2d(2);
        assert_eq!(
            c.layer_shapes(),
            vec![(3, 100), (100, 100), (100, 100), (100, 2)]
        );
        assert_eq!(
            c.num_params(),
            3 * 100 + 100 + 2 * (100 * 100 + 100) + 100 * 2 + 2
        );
        let w = MlpWeights::init(&c, 0);
        let b = 1.0 / 3f32.sqrt();
        assert!(w.layers[0].weight.iter().all(|v| v.abs() <= b));
        // Uniform(−b, b) has variance b²/3: check the 30,000-entry hidden layers' variance.
        let l = &w.layers[1].weight;
        let var = l.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / l.len() as f64;
        let want = 0.01 / 3.0;
        assert!(
            (var - want).abs() < 5.0 * want * (0.8f64 / l.len() as f64).sqrt(),
            "{var}"
        );
        assert_eq!(MlpWeights::from_flat(&c, &w.flatten()), w);
    }

    /// The burn module computes tanh(x W + b) layer by layer: a 1-hidden-unit net by hand.
    #[test]
    fn forward_by_hand() {
        let c = MlpConfig::new(1, 1, 1, Activation::Tanh);
        let w = MlpWeights {
            config: c.clone(),
            layers: vec![
                LayerWeights {
                    fan_in: 2,
                    fan_out: 1,
                    weight: vec![0.5, -1.0],
                    bias: vec![0.25],
                },
                LayerWeights {
                    fan_in: 1,
                    fan_out: 1,
                    weight: vec![2.0],
                    bias: vec![-0.5],
                },
            ],
        };
        let dev = Device::flex();
        let m = Mlp::from_weights(&w, &dev);
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0], [2, 1]), &dev);
        let t = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, 0.1], [2, 1]), &dev);
        let y = crate::diffusion::model::to_host(m.forward(Some(x), t));
        for (i, (x, t)) in [(1.0f64, 0.5f64), (-2.0, 0.1)].into_iter().enumerate() {
            let want = 2.0 * (0.5 * x - t + 0.25).tanh() - 0.5;
            assert!((y[i] as f64 - want).abs() < 1e-6);
        }
        assert_eq!(m.to_weights(&c), w);
    }
}
