//! Where the U-Net's parameters come from: score_sde's initialisation ([`Init`]), fresh draws
//! ([`RandomInit`]) or zeros ([`ZeroInit`]) behind [`ParamSource`], and the builder that asks a
//! source for every parameter under its score_sde name while the network is put together.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{DropoutConfig, GroupNorm, Linear, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::blocks::{AttnBlock, Nin, ResnetBlock};

/// How `ddpm.py` draws a parameter's initial value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// score_sde's `default_init(scale)`: uniform with variance `scale / fan_avg`
    /// (`scale = 0` means `1e-10`); fans from the PyTorch shape (`in_axis = 1`, `out_axis = 0`).
    Default {
        /// `init_scale`.
        scale: f64,
    },
    /// All zeros (biases).
    Zeros,
    /// All ones (GroupNorm scales).
    Ones,
}

impl Init {
    /// Draws `shape.iter().product()` values.
    pub fn sample(&self, shape: &[usize], rng: &mut impl Rng) -> Vec<f32> {
        let n: usize = shape.iter().product();
        match *self {
            Self::Zeros => vec![0.0; n],
            Self::Ones => vec![1.0; n],
            Self::Default { scale } => {
                let scale = if scale == 0.0 { 1e-10 } else { scale };
                let receptive: usize = shape.iter().skip(2).product();
                let fan_in = (shape[1] * receptive) as f64;
                let fan_out = (shape[0] * receptive) as f64;
                let bound = (3.0 * scale / ((fan_in + fan_out) / 2.0)).sqrt();
                (0..n)
                    .map(|_| rng.random_range(-bound..=bound) as f32)
                    .collect()
            }
        }
    }
}

/// Where the U-Net's parameters come from while it is built: fresh draws or a checkpoint.
///
/// [`UNet::build`] calls [`ParamSource::take`] once per parameter, in PyTorch's
/// `model.parameters()` order, with the score_sde name (`all_modules.N.Sub.param`) and shape.
pub trait ParamSource {
    /// Error of a failed look-up.
    type Error;

    /// The values of one parameter, row-major in its PyTorch `shape`.
    fn take(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>, Self::Error>;
}

/// Fresh parameters drawn as `ddpm.py` initialises them.
#[derive(Debug)]
pub struct RandomInit(pub StdRng);

impl RandomInit {
    /// Draws from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(StdRng::seed_from_u64(seed))
    }
}

impl ParamSource for RandomInit {
    type Error = std::convert::Infallible;

    fn take(&mut self, _name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>, Self::Error> {
        Ok(init.sample(shape, &mut self.0))
    }
}

/// The names of a residual block's parts in one code base.
pub(super) struct ResNames {
    pub(super) norm_0: &'static str,
    pub(super) conv_0: &'static str,
    pub(super) dense: &'static str,
    pub(super) norm_1: &'static str,
    pub(super) conv_1: &'static str,
    pub(super) shortcut: &'static str,
    /// The width-changing shortcut is a 1×1 convolution `[out, in, 1, 1]` (diffusers), not a
    /// NIN `[in, out]` (score_sde).
    pub(super) shortcut_conv: bool,
    /// `init_scale` of the second convolution (score_sde draws it near zero).
    pub(super) conv_1_scale: f64,
}

/// score_sde's `ResnetBlockDDPM`.
pub(super) const SCORE_SDE_RES: ResNames = ResNames {
    norm_0: "GroupNorm_0",
    conv_0: "Conv_0",
    dense: "Dense_0",
    norm_1: "GroupNorm_1",
    conv_1: "Conv_1",
    shortcut: "NIN_0",
    shortcut_conv: false,
    conv_1_scale: 0.0,
};

/// diffusers' `ResnetBlock2D`.
pub(super) const DIFFUSERS_RES: ResNames = ResNames {
    norm_0: "norm1",
    conv_0: "conv1",
    dense: "time_emb_proj",
    norm_1: "norm2",
    conv_1: "conv2",
    shortcut: "conv_shortcut",
    shortcut_conv: true,
    conv_1_scale: 1.0,
};

/// All-zero parameters (a placeholder overwritten by a load).
#[derive(Debug, Default)]
pub struct ZeroInit;

impl ParamSource for ZeroInit {
    type Error = std::convert::Infallible;

    fn take(&mut self, _name: &str, shape: &[usize], _init: Init) -> Result<Vec<f32>, Self::Error> {
        Ok(vec![0.0; shape.iter().product()])
    }
}

/// Builds modules from a [`ParamSource`], naming each parameter as score_sde does.
pub(super) struct Builder<'a, S: ParamSource> {
    /// Where the values come from.
    pub(super) source: &'a mut S,
    /// Where the tensors are made.
    pub(super) device: &'a Device,
    /// Parameter names in request order (= PyTorch's `model.parameters()` order).
    pub(super) names: Vec<String>,
    /// GroupNorm groups.
    pub(super) groups: usize,
    /// GroupNorm epsilon.
    pub(super) eps: f64,
}

impl<S: ParamSource> Builder<'_, S> {
    pub(super) fn take(
        &mut self,
        name: String,
        shape: &[usize],
        init: Init,
    ) -> Result<Vec<f32>, S::Error> {
        let values = self.source.take(&name, shape, init)?;
        self.names.push(name);
        Ok(values)
    }

    fn tensor<const D: usize>(
        &mut self,
        name: String,
        shape: [usize; D],
        init: Init,
    ) -> Result<Param<Tensor<D>>, S::Error> {
        let values = self.take(name, &shape, init)?;
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        )))
    }

    /// `nn.Conv2d(cin, cout, 3)` with `ddpm_conv3x3` init; `padding` is (top, left, bottom, right).
    pub(super) fn conv3x3(
        &mut self,
        prefix: &str,
        [cin, cout]: [usize; 2],
        stride: usize,
        padding: PaddingConfig2d,
        init_scale: f64,
    ) -> Result<Conv2d, S::Error> {
        let weight = self.tensor(
            format!("{prefix}.weight"),
            [cout, cin, 3, 3],
            Init::Default { scale: init_scale },
        )?;
        let bias = self.tensor(format!("{prefix}.bias"), [cout], Init::Zeros)?;
        Ok(Conv2d {
            weight,
            bias: Some(bias),
            stride: [stride, stride],
            kernel_size: [3, 3],
            dilation: [1, 1],
            groups: 1,
            padding,
        })
    }

    /// `nn.Linear(fan_in, fan_out)` with `default_init`; PyTorch's `[out, in]` is transposed.
    pub(super) fn linear(
        &mut self,
        prefix: &str,
        fan_in: usize,
        fan_out: usize,
    ) -> Result<Linear, S::Error> {
        let w = self.take(
            format!("{prefix}.weight"),
            &[fan_out, fan_in],
            Init::Default { scale: 1.0 },
        )?;
        let mut wt = vec![0.0f32; w.len()];
        for o in 0..fan_out {
            for i in 0..fan_in {
                wt[i * fan_out + o] = w[o * fan_in + i];
            }
        }
        let weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(wt, [fan_in, fan_out]),
            self.device,
        ));
        let bias = self.tensor(format!("{prefix}.bias"), [fan_out], Init::Zeros)?;
        Ok(Linear {
            weight,
            bias: Some(bias),
        })
    }

    pub(super) fn group_norm(
        &mut self,
        prefix: &str,
        channels: usize,
    ) -> Result<GroupNorm, S::Error> {
        let gamma = self.tensor(format!("{prefix}.weight"), [channels], Init::Ones)?;
        let beta = self.tensor(format!("{prefix}.bias"), [channels], Init::Zeros)?;
        Ok(GroupNorm {
            gamma: Some(gamma),
            beta: Some(beta),
            num_groups: self.groups,
            num_channels: channels,
            epsilon: self.eps,
            affine: true,
        })
    }

    fn nin(&mut self, prefix: &str, cin: usize, cout: usize, scale: f64) -> Result<Nin, S::Error> {
        Ok(Nin {
            weight: self.tensor(format!("{prefix}.W"), [cin, cout], Init::Default { scale })?,
            bias: self.tensor(format!("{prefix}.b"), [cout], Init::Zeros)?,
        })
    }

    /// score_sde's `ResnetBlockDDPM` at `prefix`.
    pub(super) fn res_block(
        &mut self,
        prefix: &str,
        cin: usize,
        cout: usize,
        temb_dim: usize,
        dropout: f64,
    ) -> Result<ResnetBlock, S::Error> {
        self.res_block_named(prefix, &SCORE_SDE_RES, [cin, cout], temb_dim, dropout)
    }

    /// A residual block at `prefix` whose parts are called as `names` says.
    pub(super) fn res_block_named(
        &mut self,
        prefix: &str,
        names: &ResNames,
        [cin, cout]: [usize; 2],
        temb_dim: usize,
        dropout: f64,
    ) -> Result<ResnetBlock, S::Error> {
        let same = PaddingConfig2d::Explicit(1, 1, 1, 1);
        let name = |part: &str| format!("{prefix}.{part}");
        Ok(ResnetBlock {
            norm_0: self.group_norm(&name(names.norm_0), cin)?,
            conv_0: self.conv3x3(&name(names.conv_0), [cin, cout], 1, same.clone(), 1.0)?,
            dense_0: self.linear(&name(names.dense), temb_dim, cout)?,
            norm_1: self.group_norm(&name(names.norm_1), cout)?,
            dropout: DropoutConfig::new(dropout).init(),
            conv_1: self.conv3x3(
                &name(names.conv_1),
                [cout, cout],
                1,
                same,
                names.conv_1_scale,
            )?,
            nin_0: match (cin != cout, names.shortcut_conv) {
                (false, _) => None,
                (true, false) => Some(self.nin(&name(names.shortcut), cin, cout, 0.1)?),
                (true, true) => {
                    let shape = [cout, cin, 1, 1];
                    Some(self.nin_transposed(&name(names.shortcut), cin, cout, &shape)?)
                }
            },
        })
    }

    pub(super) fn attn_block(&mut self, prefix: &str, c: usize) -> Result<AttnBlock, S::Error> {
        Ok(AttnBlock {
            norm: self.group_norm(&format!("{prefix}.GroupNorm_0"), c)?,
            q: self.nin(&format!("{prefix}.NIN_0"), c, c, 0.1)?,
            k: self.nin(&format!("{prefix}.NIN_1"), c, c, 0.1)?,
            v: self.nin(&format!("{prefix}.NIN_2"), c, c, 0.1)?,
            out: self.nin(&format!("{prefix}.NIN_3"), c, c, 0.0)?,
            heads: 1,
        })
    }

    /// A [`Nin`] from a PyTorch `nn.Linear(cin, cout)` (`shape = [cout, cin]`) or 1×1
    /// `nn.Conv2d` (`shape = [cout, cin, 1, 1]`): the weight is transposed to `[cin, cout]`.
    pub(super) fn nin_transposed(
        &mut self,
        prefix: &str,
        cin: usize,
        cout: usize,
        shape: &[usize],
    ) -> Result<Nin, S::Error> {
        debug_assert_eq!(shape.iter().product::<usize>(), cin * cout);
        let w = self.take(
            format!("{prefix}.weight"),
            shape,
            Init::Default { scale: 1.0 },
        )?;
        let mut wt = vec![0.0f32; w.len()];
        for o in 0..cout {
            for i in 0..cin {
                wt[i * cout + o] = w[o * cin + i];
            }
        }
        Ok(Nin {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(wt, [cin, cout]),
                self.device,
            )),
            bias: self.tensor(format!("{prefix}.bias"), [cout], Init::Zeros)?,
        })
    }
}
