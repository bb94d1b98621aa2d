//! The score_sde DDPM U-Net's building blocks: `NIN`, `ResnetBlockDDPM`, `AttnBlock`, the
//! sinusoidal timestep embedding and nearest-neighbour upsampling.

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, GroupNorm, Linear};
use burn::tensor::{Tensor, TensorData, activation};
use serde::{Deserialize, Serialize};

use super::MAX_POSITIONS;

/// score_sde's `NIN`: a per-pixel linear map over channels (`W` `[in, out]`, `b` `[out]`).
#[derive(Module, Debug)]
pub struct Nin {
    /// `W`, `[in, out]`.
    pub weight: Param<Tensor<2>>,
    /// `b`, `[out]`.
    pub bias: Param<Tensor<1>>,
}

impl Nin {
    /// Applies the map to channel-last rows.
    ///
    /// # Shapes
    /// - `x`: `[n, in]` → `[n, out]`
    pub fn forward_rows(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, out] = self.weight.dims();
        x.matmul(self.weight.val())
            .add(self.bias.val().reshape([1, out]))
    }

    /// Applies the map to every pixel of a feature map.
    ///
    /// # Shapes
    /// - `x`: `[b, in, h, w]` → `[b, out, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let [_, out] = self.weight.dims();
        let rows = x
            .reshape([b, c, h * w])
            .swap_dims(1, 2)
            .reshape([b * h * w, c]); // [b·hw, c]
        self.forward_rows(rows)
            .reshape([b, h * w, out])
            .swap_dims(1, 2)
            .reshape([b, out, h, w])
    }
}

/// score_sde's `ResnetBlockDDPM` (no `conv_shortcut`): two GroupNorm–swish–conv stages with the
/// time embedding added in between, and a `NIN` shortcut when the width changes.
#[derive(Module, Debug)]
pub struct ResnetBlock {
    /// `GroupNorm_0`.
    pub norm_0: GroupNorm,
    /// `Conv_0` (3×3).
    pub conv_0: Conv2d,
    /// `Dense_0`: time embedding (`4·nf`) to a per-channel bias.
    pub dense_0: Linear,
    /// `GroupNorm_1`.
    pub norm_1: GroupNorm,
    /// `Dropout_0`.
    pub dropout: Dropout,
    /// `Conv_1` (3×3, zero-initialised in score_sde).
    pub conv_1: Conv2d,
    /// `NIN_0`, present when the block changes the channel count.
    pub nin_0: Option<Nin>,
}

impl ResnetBlock {
    /// `x + Conv_1(drop(swish(GN_1(Conv_0(swish(GN_0(x))) + Dense_0(swish(temb))))))`.
    ///
    /// # Shapes
    /// - `x`: `[b, in, h, w]`; `temb`: `[b, 4·nf]`
    /// - output: `[b, out, h, w]`
    pub fn forward(&self, x: Tensor<4>, temb: Option<&Tensor<2>>) -> Tensor<4> {
        let h = activation::silu(self.norm_0.forward(x.clone()));
        let mut h = self.conv_0.forward(h);
        if let Some(temb) = temb {
            let bias = self.dense_0.forward(activation::silu(temb.clone())); // [b, out]
            let [b, c] = bias.dims();
            h = h.add(bias.reshape([b, c, 1, 1]));
        }
        let h = activation::silu(self.norm_1.forward(h));
        let h = self.conv_1.forward(self.dropout.forward(h));
        let x = match &self.nin_0 {
            Some(nin) => nin.forward(x),
            None => x,
        };
        x.add(h)
    }
}

/// Self-attention over the `H·W` pixels with a residual connection: score_sde's `AttnBlock`
/// (one head) and diffusers' `Attention` of its U-Net blocks (`heads` of `C / heads` channels each,
/// head `h` taking channels `h·C/heads ..`, as diffusers' `head_to_batch_dim` splits them).
#[derive(Module, Debug)]
pub struct AttnBlock {
    /// `GroupNorm_0`.
    pub norm: GroupNorm,
    /// `NIN_0`: queries.
    pub q: Nin,
    /// `NIN_1`: keys.
    pub k: Nin,
    /// `NIN_2`: values.
    pub v: Nin,
    /// `NIN_3`: output projection (zero-initialised in score_sde).
    pub out: Nin,
    /// Attention heads (1 in score_sde).
    #[module(skip)]
    pub heads: usize,
}

impl AttnBlock {
    /// `x + NIN_3(softmax(q kᵀ / √d) v)` per head, `d = C / heads`.
    ///
    /// # Shapes
    /// `x`: `[b, c, h, w]` → `[b, c, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, hh, ww] = x.dims();
        let n = hh * ww;
        let rows = self
            .norm
            .forward(x.clone())
            .reshape([b, c, n])
            .swap_dims(1, 2)
            .reshape([b * n, c]); // [b·n, c]
        let q = self.q.forward_rows(rows.clone()).reshape([b, n, c]);
        let k = self.k.forward_rows(rows.clone()).reshape([b, n, c]);
        let v = self.v.forward_rows(rows).reshape([b, n, c]);
        let h = if self.heads <= 1 {
            let w = q
                .matmul(k.swap_dims(1, 2))
                .mul_scalar((c as f64).powf(-0.5)); // [b, n, n]
            let w = activation::softmax(w, 2);
            w.matmul(v).reshape([b * n, c]) // [b·n, c]
        } else {
            let (heads, d) = (self.heads, c / self.heads);
            let split = |t: Tensor<3>| t.reshape([b, n, heads, d]).swap_dims(1, 2); // [b, heads, n, d]
            let w = split(q)
                .matmul(split(k).swap_dims(2, 3))
                .mul_scalar((d as f64).powf(-0.5)); // [b, heads, n, n]
            let w = activation::softmax(w, 3);
            w.matmul(split(v)).swap_dims(1, 2).reshape([b * n, c])
        };
        let h = self
            .out
            .forward_rows(h)
            .reshape([b, n, c])
            .swap_dims(1, 2)
            .reshape([b, c, hh, ww]);
        x.add(h)
    }
}

/// How a sinusoidal timestep embedding spaces its frequencies and orders its halves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "convention")]
pub enum Frequencies {
    /// score_sde's `get_timestep_embedding`: `f_i = exp(−i · ln(10000) / (dim/2 − 1))`, sines
    /// then cosines.
    ScoreSde,
    /// diffusers' `get_timestep_embedding`: `f_i = exp(−ln(10000) · i / (dim/2 − freq_shift))`,
    /// sines then cosines, or cosines first when `flip_sin_to_cos`.
    Diffusers {
        /// `flip_sin_to_cos`.
        flip_sin_to_cos: bool,
        /// `freq_shift` (`downscale_freq_shift`).
        freq_shift: f64,
    },
}

impl Frequencies {
    /// The `half` frequencies, rounded as PyTorch evaluates them in each code base.
    pub fn values(&self, half: usize) -> Vec<f32> {
        match *self {
            // An f32 arange times the f32-rounded step, then exp in f32.
            Self::ScoreSde => {
                let step = -(MAX_POSITIONS.ln() / (half as f64 - 1.0)) as f32;
                (0..half).map(|i| (i as f32 * step).exp()).collect()
            }
            // `-ln(10000) * arange` in f32, divided by `half − shift` in f32, then exp.
            Self::Diffusers { freq_shift, .. } => {
                let ln = -(MAX_POSITIONS.ln() as f32);
                let div = (half as f64 - freq_shift) as f32;
                (0..half).map(|i| (ln * i as f32 / div).exp()).collect()
            }
        }
    }
}

/// The sinusoidal timestep embedding `[sin(l·f_i), cos(l·f_i)]` (halves swapped for diffusers'
/// `flip_sin_to_cos`), zero-padded to an odd `dim`; `f_i` from [`Frequencies::values`].
///
/// # Shapes
/// - `labels`: `[b]` → `[b, dim]`
pub fn timestep_embedding(labels: Tensor<1>, dim: usize, frequencies: Frequencies) -> Tensor<2> {
    let device = labels.device();
    let [b] = labels.dims();
    let half = dim / 2;
    let freqs = frequencies.values(half);
    let freqs = Tensor::<2>::from_data(TensorData::new(freqs, [1, half]), &device);
    let args = labels.reshape([b, 1]).mul(freqs); // [b, half]
    let mut parts = match frequencies {
        Frequencies::Diffusers {
            flip_sin_to_cos: true,
            ..
        } => vec![args.clone().cos(), args.sin()],
        _ => vec![args.clone().sin(), args.cos()],
    };
    if dim % 2 == 1 {
        parts.push(Tensor::zeros([b, 1], &device));
    }
    Tensor::cat(parts, 1)
}

/// Nearest-neighbour upsampling by 2 (`F.interpolate(x, (2H, 2W), mode='nearest')`).
///
/// # Shapes
/// `x`: `[b, c, h, w]` → `[b, c, 2h, 2w]`
pub fn upsample_nearest_2x(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([b, c, 2 * h, 2 * w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn timestep_embedding_is_sin_then_cos() {
        let dev = Device::flex();
        let e = timestep_embedding(
            Tensor::from_data([0.0f32, 10.0], &dev),
            8,
            Frequencies::ScoreSde,
        );
        let e: Vec<f32> = e
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(&e[..8], &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        // f_1 = exp(−ln(10000)/3) = 10000^(−1/3).
        let f1 = 10000f64.powf(-1.0 / 3.0);
        assert!((e[9] as f64 - (10.0 * f1).sin()).abs() < 1e-5);
        assert!((e[13] as f64 - (10.0 * f1).cos()).abs() < 1e-5);
    }

    /// diffusers with `freq_shift = 0`: `f_i = 10000^(−i/4)` for dim 8, so `f_1 = 0.1`;
    /// `flip_sin_to_cos` puts the cosines first.
    #[test]
    fn diffusers_embedding_shifts_and_flips() {
        let dev = Device::flex();
        let frequencies = Frequencies::Diffusers {
            flip_sin_to_cos: true,
            freq_shift: 0.0,
        };
        let e = timestep_embedding(Tensor::from_data([10.0f32], &dev), 8, frequencies);
        let e: Vec<f32> = e
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        assert!((e[0] - 10f32.cos()).abs() < 1e-5, "{e:?}");
        assert!((e[1] as f64 - 1f64.cos()).abs() < 1e-5, "{e:?}");
        assert!((e[5] as f64 - 1f64.sin()).abs() < 1e-5, "{e:?}");
        // With freq_shift = 1 the spacing is score_sde's: the two conventions agree up to the
        // f32 rounding of their different evaluation orders (|exponent| ≤ ln 10⁴ ≈ 9.2).
        let shifted = Frequencies::Diffusers {
            flip_sin_to_cos: false,
            freq_shift: 1.0,
        };
        let (a, b) = (shifted.values(64), Frequencies::ScoreSde.values(64));
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| (x - y).abs() <= 1e-5 * y.abs())
        );
    }

    #[test]
    fn upsample_repeats_pixels() {
        let dev = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
            &dev,
        );
        let y: Vec<f32> = upsample_nearest_2x(x)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(
            y,
            vec![
                1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0
            ]
        );
    }
}
