//! The DDPM U-Net of score_sde_pytorch (`models/ddpm.py`, Song et al. 2021), in burn.
//!
//! The network is built in exactly the order of score_sde's `all_modules` `ModuleList`, and each
//! parameter is requested under its score_sde name (`all_modules.N.Sub.param`) and PyTorch shape,
//! so a score_sde checkpoint maps onto it one tensor at a time (see [`super::unet_checkpoint`]):
//!
//! | score_sde (`all_modules.N`) | here |
//! |---|---|
//! | `nn.Linear` ×2 (time embedding, `conditional`) | [`UNet::temb_dense`] (weights transposed to burn's `[in, out]`) |
//! | `ddpm_conv3x3(channels, nf)` | [`UNet::conv_in`] |
//! | `ResnetBlockDDPM` (`GroupNorm_0`, `Conv_0`, `Dense_0`, `GroupNorm_1`, `Dropout_0`, `Conv_1`, `NIN_0` when `in_ch ≠ out_ch`) | [`ResnetBlock`], in [`UNet::res_blocks`] in module order |
//! | `AttnBlock` (`GroupNorm_0`, `NIN_0..3`; softmax over `H·W` scaled by `C^−½`) | [`AttnBlock`], in [`UNet::attn_blocks`] |
//! | `Downsample` (pad `(0,1,0,1)`, 3×3 stride-2 conv; or 2×2 average pool) | [`UNet::down_convs`] |
//! | `Upsample` (nearest ×2, then a 3×3 conv when `resamp_with_conv`) | [`UNet::up_convs`] |
//! | final `nn.GroupNorm`, swish, `ddpm_conv3x3(in_ch, channels)` | [`UNet::norm_out`], [`UNet::conv_out`] |
//!
//! `NIN` (a 1×1 convolution written as a tensor contraction, params `W` `[in, out]` and `b`) is
//! [`Nin`]. All GroupNorms have 32 groups (score_sde; `UNetConfig::groups`) and `eps = 1e-6`; the activation is swish (SiLU).
//! The time embedding is score_sde's `get_timestep_embedding(t·999, nf)` (sines, then cosines,
//! `max_positions = 10000`), as its `get_score_fn` does for continuously trained VP models.
//! Inputs are mapped `h = 2x − 1` unless `centered`. Parameters are drawn as `ddpm.py` draws them
//! (`default_init`: fan-average uniform variance scaling, zero biases, `init_scale = 0` → `1e-10`).

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, DropoutConfig, GroupNorm, Linear, PaddingConfig2d};
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::diffusion::{EpsilonModel, NoiseProcess, Times};

/// GroupNorm groups in every score_sde DDPM normalisation (the default of
/// [`UNetConfig::groups`]).
pub const GROUPS: usize = 32;
/// GroupNorm epsilon in every score_sde DDPM normalisation.
pub const GROUP_NORM_EPS: f64 = 1e-6;
/// Continuous time `t ∈ [0, 1]` is fed to the network as the label `t · 999` (score_sde).
pub const TIME_LABEL_SCALE: f64 = 999.0;
/// `max_positions` of score_sde's sinusoidal timestep embedding.
pub const MAX_POSITIONS: f64 = 10_000.0;

/// Shape of a score_sde DDPM U-Net (score_sde's `config.model` / `config.data` fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UNetConfig {
    /// Base channel count `nf` (score_sde CIFAR-10: 128); every level's width must be a multiple
    /// of `groups` (32 in score_sde).
    pub nf: usize,
    /// Channel multiplier per resolution level (paper: `[1, 2, 2]`).
    pub ch_mult: Vec<usize>,
    /// Residual blocks per level on the way down (the way up has one more).
    pub num_res_blocks: usize,
    /// Resolutions (side lengths) that get a self-attention block.
    pub attn_resolutions: Vec<usize>,
    /// Dropout probability inside the residual blocks (training only).
    pub dropout: f64,
    /// Resample with 3×3 convolutions (otherwise average pooling / plain nearest upsampling).
    pub resamp_with_conv: bool,
    /// Condition on time through the sinusoidal embedding and two dense layers.
    pub conditional: bool,
    /// Inputs are already in `[−1, 1]`; otherwise they are in `[0, 1]` and mapped `2x − 1`.
    pub centered: bool,
    /// Side length of the square images.
    pub image_size: usize,
    /// Image channels (3 for RGB).
    pub channels: usize,
    /// GroupNorm groups (score_sde: always 32; no parameter depends on it). With `nf = 32`,
    /// 32 groups make every GroupNorm an InstanceNorm: the network then cannot see a channel's
    /// mean, and ε̂ misses the per-channel DC of the noise (the `small` config trained that way
    /// sampled flat saturated colours; `examples/unet_dbg.rs`).
    pub groups: usize,
}

impl Default for UNetConfig {
    /// The paper's image model: score_sde's DDPM at 32×32 with `ch_mult = [1, 2, 2]`.
    fn default() -> Self {
        Self {
            nf: 128,
            ch_mult: vec![1, 2, 2],
            num_res_blocks: 2,
            attn_resolutions: vec![16],
            dropout: 0.1,
            resamp_with_conv: true,
            conditional: true,
            centered: true,
            image_size: 32,
            channels: 3,
            groups: GROUPS,
        }
    }
}

impl UNetConfig {
    /// A tiny U-Net for tests (the PyTorch fixture's shape): `nf = 32`, two levels of one block,
    /// attention at 4×4, 8×8 RGB images in `[0, 1]`.
    pub fn tiny() -> Self {
        Self {
            nf: 32,
            ch_mult: vec![1, 1],
            num_res_blocks: 1,
            attn_resolutions: vec![4],
            dropout: 0.1,
            resamp_with_conv: true,
            conditional: true,
            centered: false,
            image_size: 8,
            channels: 3,
            groups: GROUPS,
        }
    }

    /// A small U-Net that learns the 16×16 procedural shapes in minutes on a CPU (`train-unet
    /// --config small`): `nf = 32`, `ch_mult = [1, 2]`, one block per level, attention at 8×8,
    /// 8 GroupNorm groups (4 or 8 channels each), no dropout, images in `[−1, 1]`.
    pub fn small() -> Self {
        Self {
            nf: 32,
            ch_mult: vec![1, 2],
            num_res_blocks: 1,
            attn_resolutions: vec![8],
            dropout: 0.0,
            resamp_with_conv: true,
            conditional: true,
            centered: true,
            image_size: 16,
            channels: 3,
            groups: 8,
        }
    }

    /// Number of resolution levels.
    pub fn num_resolutions(&self) -> usize {
        self.ch_mult.len()
    }

    /// Side length at each level.
    pub fn all_resolutions(&self) -> Vec<usize> {
        (0..self.num_resolutions())
            .map(|i| self.image_size >> i)
            .collect()
    }

    /// Data dimension `C·H·W` of one image.
    pub fn dim(&self) -> usize {
        self.channels * self.image_size * self.image_size
    }

    /// Checks that score_sde's DDPM can be built with this shape.
    pub fn validate(&self) -> Result<(), String> {
        if self.ch_mult.is_empty() || self.ch_mult.contains(&0) {
            return Err(format!(
                "ch_mult {:?} must be non-empty and positive",
                self.ch_mult
            ));
        }
        if self.nf < 4 || !self.nf.is_multiple_of(2) {
            return Err(format!("nf = {} must be even and at least 4", self.nf));
        }
        if self.groups == 0 {
            return Err("groups must be positive".into());
        }
        if let Some(m) = self
            .ch_mult
            .iter()
            .find(|&&m| !(self.nf * m).is_multiple_of(self.groups))
        {
            return Err(format!(
                "nf · ch_mult = {} · {m} is not a multiple of the {} GroupNorm groups",
                self.nf, self.groups
            ));
        }
        if self.channels == 0 {
            return Err("channels must be positive".into());
        }
        let div = 1usize << (self.num_resolutions() - 1);
        if self.image_size == 0 || !self.image_size.is_multiple_of(div) {
            return Err(format!(
                "image_size = {} must be a positive multiple of {div} for {} levels",
                self.image_size,
                self.num_resolutions()
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout = {} must be in [0, 1)", self.dropout));
        }
        Ok(())
    }
}

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

/// All-zero parameters (a placeholder overwritten by a load).
#[derive(Debug, Default)]
pub struct ZeroInit;

impl ParamSource for ZeroInit {
    type Error = std::convert::Infallible;

    fn take(&mut self, _name: &str, shape: &[usize], _init: Init) -> Result<Vec<f32>, Self::Error> {
        Ok(vec![0.0; shape.iter().product()])
    }
}

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

/// score_sde's `AttnBlock`: single-head self-attention over the `H·W` pixels.
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
}

impl AttnBlock {
    /// `x + NIN_3(softmax(q kᵀ / √C) v)`.
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
        let w = q
            .matmul(k.swap_dims(1, 2))
            .mul_scalar((c as f64).powf(-0.5)); // [b, n, n]
        let w = activation::softmax(w, 2);
        let h = w.matmul(v).reshape([b * n, c]); // [b·n, c]
        let h = self
            .out
            .forward_rows(h)
            .reshape([b, n, c])
            .swap_dims(1, 2)
            .reshape([b, c, hh, ww]);
        x.add(h)
    }
}

/// score_sde's DDPM U-Net, predicting the noise `ε` of an image batch.
#[derive(Module, Debug)]
pub struct UNet {
    /// The two time-embedding dense layers (`nf → 4nf → 4nf`); empty unless `conditional`.
    pub temb_dense: Vec<Linear>,
    /// Input 3×3 convolution (`channels → nf`).
    pub conv_in: Conv2d,
    /// Every residual block, in score_sde module order (down, middle, up).
    pub res_blocks: Vec<ResnetBlock>,
    /// Every attention block, in score_sde module order.
    pub attn_blocks: Vec<AttnBlock>,
    /// Stride-2 convolutions of the downsampling steps (empty unless `resamp_with_conv`).
    pub down_convs: Vec<Conv2d>,
    /// 3×3 convolutions after each nearest upsampling (empty unless `resamp_with_conv`).
    pub up_convs: Vec<Conv2d>,
    /// Final GroupNorm.
    pub norm_out: GroupNorm,
    /// Output 3×3 convolution (`nf → channels`).
    pub conv_out: Conv2d,
    /// The shape.
    #[module(skip)]
    pub config: UNetConfig,
    /// The noise process the network is used with (VP for score_sde's DDPM models).
    #[module(skip)]
    pub process: NoiseProcess,
}

/// Builds modules from a [`ParamSource`], naming each parameter as score_sde does.
struct Builder<'a, S: ParamSource> {
    source: &'a mut S,
    device: &'a Device,
    /// Parameter names in request order (= PyTorch's `model.parameters()` order).
    names: Vec<String>,
    /// GroupNorm groups.
    groups: usize,
}

impl<S: ParamSource> Builder<'_, S> {
    fn take(&mut self, name: String, shape: &[usize], init: Init) -> Result<Vec<f32>, S::Error> {
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
    fn conv3x3(
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
    fn linear(&mut self, prefix: &str, fan_in: usize, fan_out: usize) -> Result<Linear, S::Error> {
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

    fn group_norm(&mut self, prefix: &str, channels: usize) -> Result<GroupNorm, S::Error> {
        let gamma = self.tensor(format!("{prefix}.weight"), [channels], Init::Ones)?;
        let beta = self.tensor(format!("{prefix}.bias"), [channels], Init::Zeros)?;
        Ok(GroupNorm {
            gamma: Some(gamma),
            beta: Some(beta),
            num_groups: self.groups,
            num_channels: channels,
            epsilon: GROUP_NORM_EPS,
            affine: true,
        })
    }

    fn nin(&mut self, prefix: &str, cin: usize, cout: usize, scale: f64) -> Result<Nin, S::Error> {
        Ok(Nin {
            weight: self.tensor(format!("{prefix}.W"), [cin, cout], Init::Default { scale })?,
            bias: self.tensor(format!("{prefix}.b"), [cout], Init::Zeros)?,
        })
    }

    fn res_block(
        &mut self,
        prefix: &str,
        cin: usize,
        cout: usize,
        temb_dim: usize,
        dropout: f64,
    ) -> Result<ResnetBlock, S::Error> {
        let same = PaddingConfig2d::Explicit(1, 1, 1, 1);
        Ok(ResnetBlock {
            norm_0: self.group_norm(&format!("{prefix}.GroupNorm_0"), cin)?,
            conv_0: self.conv3x3(
                &format!("{prefix}.Conv_0"),
                [cin, cout],
                1,
                same.clone(),
                1.0,
            )?,
            dense_0: self.linear(&format!("{prefix}.Dense_0"), temb_dim, cout)?,
            norm_1: self.group_norm(&format!("{prefix}.GroupNorm_1"), cout)?,
            dropout: DropoutConfig::new(dropout).init(),
            conv_1: self.conv3x3(&format!("{prefix}.Conv_1"), [cout, cout], 1, same, 0.0)?,
            nin_0: if cin != cout {
                Some(self.nin(&format!("{prefix}.NIN_0"), cin, cout, 0.1)?)
            } else {
                None
            },
        })
    }

    fn attn_block(&mut self, prefix: &str, c: usize) -> Result<AttnBlock, S::Error> {
        Ok(AttnBlock {
            norm: self.group_norm(&format!("{prefix}.GroupNorm_0"), c)?,
            q: self.nin(&format!("{prefix}.NIN_0"), c, c, 0.1)?,
            k: self.nin(&format!("{prefix}.NIN_1"), c, c, 0.1)?,
            v: self.nin(&format!("{prefix}.NIN_2"), c, c, 0.1)?,
            out: self.nin(&format!("{prefix}.NIN_3"), c, c, 0.0)?,
        })
    }
}

impl UNet {
    /// A freshly initialised network (score_sde's initialisation), drawn from `seed`.
    ///
    /// # Panics
    /// If `config` is invalid ([`UNetConfig::validate`]).
    pub fn init(config: &UNetConfig, seed: u64, device: &Device) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid U-Net config: {e}");
        }
        let Ok((net, _)) = Self::build(config, &mut RandomInit::new(seed), device);
        net
    }

    /// Builds the network, taking every parameter from `source` in score_sde's
    /// `model.parameters()` order; also returns the parameter names in that order.
    ///
    /// `config` must be valid ([`UNetConfig::validate`]).
    pub fn build<S: ParamSource>(
        config: &UNetConfig,
        source: &mut S,
        device: &Device,
    ) -> Result<(Self, Vec<String>), S::Error> {
        let mut b = Builder {
            source,
            device,
            names: Vec::new(),
            groups: config.groups,
        };
        let nf = config.nf;
        let temb_dim = 4 * nf;
        let mut m = 0usize; // index into score_sde's all_modules
        let mut next = || {
            m += 1;
            format!("all_modules.{}", m - 1)
        };
        let mut temb_dense = Vec::new();
        if config.conditional {
            temb_dense.push(b.linear(&next(), nf, temb_dim)?);
            temb_dense.push(b.linear(&next(), temb_dim, temb_dim)?);
        }
        let same = PaddingConfig2d::Explicit(1, 1, 1, 1);
        let conv_in = b.conv3x3(&next(), [config.channels, nf], 1, same.clone(), 1.0)?;

        let resolutions = config.all_resolutions();
        let levels = config.num_resolutions();
        let (mut res_blocks, mut attn_blocks) = (Vec::new(), Vec::new());
        let (mut down_convs, mut up_convs) = (Vec::new(), Vec::new());
        let mut hs_c = vec![nf];
        let mut in_ch = nf;
        for (level, &mult) in config.ch_mult.iter().enumerate() {
            for _ in 0..config.num_res_blocks {
                let out_ch = nf * mult;
                res_blocks.push(b.res_block(&next(), in_ch, out_ch, temb_dim, config.dropout)?);
                in_ch = out_ch;
                if config.attn_resolutions.contains(&resolutions[level]) {
                    attn_blocks.push(b.attn_block(&next(), in_ch)?);
                }
                hs_c.push(in_ch);
            }
            if level != levels - 1 {
                let prefix = next();
                if config.resamp_with_conv {
                    // F.pad(x, (0, 1, 0, 1)): nothing on top/left, one row/column bottom/right.
                    let pad = PaddingConfig2d::Explicit(0, 0, 1, 1);
                    down_convs.push(b.conv3x3(
                        &format!("{prefix}.Conv_0"),
                        [in_ch, in_ch],
                        2,
                        pad,
                        1.0,
                    )?);
                }
                hs_c.push(in_ch);
            }
        }
        res_blocks.push(b.res_block(&next(), in_ch, in_ch, temb_dim, config.dropout)?);
        attn_blocks.push(b.attn_block(&next(), in_ch)?);
        res_blocks.push(b.res_block(&next(), in_ch, in_ch, temb_dim, config.dropout)?);
        for level in (0..levels).rev() {
            for _ in 0..=config.num_res_blocks {
                let out_ch = nf * config.ch_mult[level];
                let skip = hs_c.pop().expect("one skip per block");
                res_blocks.push(b.res_block(
                    &next(),
                    in_ch + skip,
                    out_ch,
                    temb_dim,
                    config.dropout,
                )?);
                in_ch = out_ch;
            }
            if config.attn_resolutions.contains(&resolutions[level]) {
                attn_blocks.push(b.attn_block(&next(), in_ch)?);
            }
            if level != 0 {
                let prefix = next();
                if config.resamp_with_conv {
                    up_convs.push(b.conv3x3(
                        &format!("{prefix}.Conv_0"),
                        [in_ch, in_ch],
                        1,
                        same.clone(),
                        1.0,
                    )?);
                }
            }
        }
        debug_assert!(hs_c.is_empty());
        let norm_out = b.group_norm(&next(), in_ch)?;
        let conv_out = b.conv3x3(&next(), [in_ch, config.channels], 1, same, 0.0)?;
        let net = Self {
            temb_dense,
            conv_in,
            res_blocks,
            attn_blocks,
            down_convs,
            up_convs,
            norm_out,
            conv_out,
            config: config.clone(),
            process: NoiseProcess::vp(),
        };
        Ok((net, b.names))
    }

    /// The same network used with another noise process (VP by default).
    pub fn with_process(mut self, process: NoiseProcess) -> Self {
        self.process = process;
        self
    }

    /// Predicted noise `ε_θ(x, t)` for continuous times `t ∈ [0, 1]` (labels `t · 999`).
    ///
    /// # Shapes
    /// - `x`: `[b, channels, image_size, image_size]`
    /// - `t`: `[b]`
    /// - output: `[b, channels, image_size, image_size]`
    ///
    /// # Panics
    /// If the image size differs from the config's (attention placement depends on it).
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>) -> Tensor<4> {
        let c = &self.config;
        let [_, _, hh, ww] = x.dims();
        assert!(
            hh == c.image_size && ww == c.image_size,
            "U-Net built for {0}×{0} images got {hh}×{ww}",
            c.image_size
        );
        let temb = match self.temb_dense.as_slice() {
            [d0, d1] => {
                let labels = t.mul_scalar(TIME_LABEL_SCALE);
                let emb = timestep_embedding(labels, c.nf); // [b, nf]
                Some(d1.forward(activation::silu(d0.forward(emb)))) // [b, 4nf]
            }
            _ => None,
        };
        let temb = temb.as_ref();
        let h = if c.centered {
            x
        } else {
            x.mul_scalar(2.0).sub_scalar(1.0)
        };

        let resolutions = c.all_resolutions();
        let levels = c.num_resolutions();
        let mut res = self.res_blocks.iter();
        let mut attn = self.attn_blocks.iter();
        let mut down = self.down_convs.iter();
        let mut up = self.up_convs.iter();
        let mut next_res = |h: Tensor<4>| res.next().expect("residual block").forward(h, temb);
        let mut next_attn = || attn.next().expect("attention block");

        let mut hs = vec![self.conv_in.forward(h)];
        for (level, resolution) in resolutions.iter().enumerate() {
            for _ in 0..c.num_res_blocks {
                let mut h = next_res(hs.last().expect("skip").clone());
                if c.attn_resolutions.contains(resolution) {
                    h = next_attn().forward(h);
                }
                hs.push(h);
            }
            if level != levels - 1 {
                let h = hs.last().expect("skip").clone();
                hs.push(match down.next() {
                    Some(conv) => conv.forward(h),
                    None => avg_pool2d(h, AvgPoolOptions::new([2, 2])),
                });
            }
        }
        let mut h = hs.last().expect("skip").clone();
        h = next_res(h);
        h = next_attn().forward(h);
        h = next_res(h);
        for level in (0..levels).rev() {
            for _ in 0..=c.num_res_blocks {
                let skip = hs.pop().expect("skip");
                h = next_res(Tensor::cat(vec![h, skip], 1));
            }
            if c.attn_resolutions.contains(&resolutions[level]) {
                h = next_attn().forward(h);
            }
            if level != 0 {
                h = upsample_nearest_2x(h);
                if let Some(conv) = up.next() {
                    h = conv.forward(h);
                }
            }
        }
        debug_assert!(hs.is_empty());
        let h = activation::silu(self.norm_out.forward(h));
        self.conv_out.forward(h)
    }
}

/// score_sde's `get_timestep_embedding`: `[sin(l·f_i), cos(l·f_i)]`,
/// `f_i = exp(−i · ln(10000) / (dim/2 − 1))`, zero-padded to an odd `dim`.
///
/// # Shapes
/// - `labels`: `[b]` → `[b, dim]`
pub fn timestep_embedding(labels: Tensor<1>, dim: usize) -> Tensor<2> {
    let device = labels.device();
    let [b] = labels.dims();
    let half = dim / 2;
    // As PyTorch evaluates it: an f32 arange times the f32-rounded step, then exp in f32.
    let step = -(MAX_POSITIONS.ln() / (half as f64 - 1.0)) as f32;
    let freqs: Vec<f32> = (0..half).map(|i| (i as f32 * step).exp()).collect();
    let freqs = Tensor::<2>::from_data(TensorData::new(freqs, [1, half]), &device);
    let args = labels.reshape([b, 1]).mul(freqs); // [b, half]
    let mut parts = vec![args.clone().sin(), args.cos()];
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

impl EpsilonModel for UNet {
    fn dim(&self) -> usize {
        self.config.dim()
    }

    fn process(&self) -> NoiseProcess {
        self.process
    }

    /// Rows are flattened images (`C·H·W`, channel-major as in `[C, H, W]`).
    fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
        let [n, d] = x.dims();
        let c = &self.config;
        let device = x.device();
        let x = x.reshape([n, c.channels, c.image_size, c.image_size]);
        let t = t.column(n, &device).reshape([n]);
        self.forward(x, t).reshape([n, d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::model::to_host;

    /// The tiny config's module and parameter layout is score_sde's (names in order).
    #[test]
    fn tiny_parameter_names_follow_score_sde() {
        let dev = Device::flex();
        let (net, names) = UNet::build(&UNetConfig::tiny(), &mut ZeroInit, &dev).unwrap();
        assert_eq!(names[0], "all_modules.0.weight");
        assert_eq!(names[4], "all_modules.2.weight"); // conv_in after two Linear layers
        assert!(names.contains(&"all_modules.3.Dense_0.weight".to_string()));
        assert!(names.contains(&"all_modules.4.Conv_0.weight".to_string())); // Downsample
        assert!(names.last().unwrap().ends_with(".bias"));
        // Two levels of one block down, two in the middle, two per level up.
        assert_eq!(net.res_blocks.len(), 2 + 2 + 4);
        assert_eq!(net.attn_blocks.len(), 3);
        assert_eq!(net.down_convs.len(), 1);
        assert_eq!(net.up_convs.len(), 1);
        // Up blocks concatenate skips: 32 + 32 → 32 needs a NIN shortcut.
        assert!(net.res_blocks[4].nin_0.is_some());
        assert!(net.res_blocks[0].nin_0.is_none());
    }

    /// `EpsilonModel` reshapes rows to images and back; shapes and finiteness of a fresh net.
    #[test]
    fn epsilon_rows_match_forward() {
        let dev = Device::flex();
        let c = UNetConfig::tiny();
        let net = UNet::init(&c, 3, &dev);
        let n = 2;
        let pixels: Vec<f32> = (0..n * c.dim())
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(pixels, [n, c.dim()]), &dev);
        let rows = to_host(net.epsilon(x.clone(), &Times::Shared(0.5)));
        assert_eq!(rows.len(), n * c.dim());
        let images = net.forward(
            x.reshape([n, c.channels, c.image_size, c.image_size]),
            Tensor::full([n], 0.5, &dev),
        );
        let images: Vec<f32> = images
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(rows, images);
        assert!(rows.iter().all(|v| v.is_finite()));
    }

    /// The engine's samplers run on the U-Net through `EpsilonModel` (DDIM and SDE, 3 steps).
    #[test]
    fn samplers_run_on_the_unet() {
        use crate::diffusion::{SamplerConfig, SamplerKind, sample};
        let dev = Device::flex();
        let c = UNetConfig::tiny();
        let net = UNet::init(&c, 5, &dev);
        for kind in [SamplerKind::Ddim, SamplerKind::Sde] {
            let config = SamplerConfig::new(kind).with_steps(3);
            let out = sample(&net, &config, 2, 7, &dev, &mut |_, _| {});
            assert_eq!(out.samples.data.len(), 2 * c.dim());
            assert!(out.samples.data.iter().all(|v| v.is_finite()), "{kind:?}");
        }
    }

    #[test]
    fn timestep_embedding_is_sin_then_cos() {
        let dev = Device::flex();
        let e = timestep_embedding(Tensor::from_data([0.0f32, 10.0], &dev), 8);
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

    #[test]
    fn invalid_configs_are_refused() {
        let mut c = UNetConfig::tiny();
        c.nf = 48;
        assert!(c.validate().unwrap_err().contains("32"));
        let mut c = UNetConfig::tiny();
        c.image_size = 7;
        assert!(c.validate().is_err());
        assert!(UNetConfig::default().validate().is_ok());
    }
}
