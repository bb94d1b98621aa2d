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
//!
//! The same blocks also make up diffusers' `UNet2DModel` in its DDPM layout ([`diffusers`]); that
//! network is wired differently (an attention after every up-path residual block, levels of any
//! width, its own embedding spacing and padding), so [`Wiring`] records how the forward pass runs
//! and [`Arch`] which published network, with which config, a [`UNet`] is.

mod blocks;
mod config;
pub mod diffusers;
mod init;
mod scheduler;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, Linear, PaddingConfig2d};
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, activation};

pub use blocks::{
    AttnBlock, Frequencies, Nin, ResnetBlock, timestep_embedding, upsample_nearest_2x,
};
pub use config::*;
pub use diffusers::{DiffusersConfig, DiffusersConfigError, DiffusersUNet, Scheduler};
use init::Builder;
pub use init::{Init, ParamSource, RandomInit, ZeroInit};

use crate::diffusion::{EpsilonModel, NoiseProcess, Times};

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
    /// How the forward pass runs through the blocks.
    #[module(skip)]
    pub wiring: Wiring,
    /// Which published network this is, with the config it was built from.
    #[module(skip)]
    pub arch: Arch,
    /// The noise process the network is used with (VP for score_sde's DDPM models).
    #[module(skip)]
    pub process: NoiseProcess,
}

/// Which published U-Net a [`UNet`] reproduces.
#[derive(Clone, Debug, PartialEq)]
pub enum Arch {
    /// score_sde_pytorch's `models/ddpm.py`.
    ScoreSde(UNetConfig),
    /// diffusers' `UNet2DModel`, with its `config.json` and scheduler.
    Diffusers(Box<DiffusersUNet>),
}

/// The time input of a [`UNet`]: how a continuous `t ∈ [0, 1]` becomes the embedded label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeInput {
    /// Width of the sinusoidal embedding (the first level's channels).
    pub dim: usize,
    /// The label is `t · label_scale` (999 in score_sde; `N − 1` train timesteps in diffusers).
    pub label_scale: f64,
    /// Frequency spacing and order of the embedding.
    pub frequencies: Frequencies,
}

/// How [`UNet::forward`] runs through the blocks (which it holds in forward order).
#[derive(Clone, Debug, PartialEq)]
pub struct Wiring {
    /// Image channels in and out.
    pub channels: usize,
    /// Side length of the square images.
    pub image_size: usize,
    /// Inputs are mapped `2x − 1` first (score_sde's `centered = false`, diffusers'
    /// `center_input_sample = true`): the network then takes pixels in `[0, 1]`.
    pub map_input: bool,
    /// Residual blocks per level on the way down (the way up has one more).
    pub blocks: usize,
    /// Whether each level (finest first) has attention on the way down.
    pub down_attn: Vec<bool>,
    /// Whether each level (finest first) has attention on the way up.
    pub up_attn: Vec<bool>,
    /// On the way up, an attention after every residual block (diffusers), or one per level after
    /// the last (score_sde).
    pub up_attn_every_block: bool,
    /// The middle has an attention between its two residual blocks.
    pub mid_attn: bool,
    /// Every block of the middle divides its output by this (diffusers' `mid_block_scale_factor`).
    pub mid_scale: f64,
    /// The time conditioning, if any.
    pub time: Option<TimeInput>,
}

impl Wiring {
    /// score_sde's DDPM wiring of `config`.
    pub fn score_sde(config: &UNetConfig) -> Self {
        let attn: Vec<bool> = config
            .all_resolutions()
            .iter()
            .map(|r| config.attn_resolutions.contains(r))
            .collect();
        Self {
            channels: config.channels,
            image_size: config.image_size,
            map_input: !config.centered,
            blocks: config.num_res_blocks,
            down_attn: attn.clone(),
            up_attn: attn,
            up_attn_every_block: false,
            mid_attn: true,
            mid_scale: 1.0,
            time: config.conditional.then_some(TimeInput {
                dim: config.nf,
                label_scale: TIME_LABEL_SCALE,
                frequencies: Frequencies::ScoreSde,
            }),
        }
    }

    /// Number of resolution levels.
    pub fn levels(&self) -> usize {
        self.down_attn.len()
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
            eps: GROUP_NORM_EPS,
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
            wiring: Wiring::score_sde(config),
            arch: Arch::ScoreSde(config.clone()),
            process: NoiseProcess::vp(),
        };
        Ok((net, b.names))
    }

    /// The score_sde config, for a score_sde network.
    pub fn score_sde_config(&self) -> Option<&UNetConfig> {
        match &self.arch {
            Arch::ScoreSde(c) => Some(c),
            Arch::Diffusers(_) => None,
        }
    }

    /// Image channels.
    pub fn channels(&self) -> usize {
        self.wiring.channels
    }

    /// Side length of the square images.
    pub fn image_size(&self) -> usize {
        self.wiring.image_size
    }

    /// Data dimension `C·H·W` of one image.
    pub fn image_dim(&self) -> usize {
        self.wiring.channels * self.wiring.image_size * self.wiring.image_size
    }

    /// Whether the network takes pixels in `[−1, 1]` (else in `[0, 1]`).
    pub fn takes_centered(&self) -> bool {
        !self.wiring.map_input
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.num_params()
    }

    /// A one-line description: the architecture and its shape.
    pub fn describe(&self) -> String {
        let w = &self.wiring;
        let blocks = match w.blocks {
            1 => "1 block".to_string(),
            n => format!("{n} blocks"),
        };
        match &self.arch {
            Arch::ScoreSde(c) => format!(
                "score_sde DDPM, nf {} × {:?}, {blocks} per level, {}×{}×{}",
                c.nf, c.ch_mult, w.channels, w.image_size, w.image_size
            ),
            Arch::Diffusers(d) => format!(
                "diffusers UNet2DModel, channels {:?}, {blocks} per level, {}×{}×{}",
                d.config.block_out_channels, w.channels, w.image_size, w.image_size
            ),
        }
    }

    /// The same network used with another noise process (VP by default).
    pub fn with_process(mut self, process: NoiseProcess) -> Self {
        self.process = process;
        self
    }

    /// Predicted noise `ε_θ(x, t)` for continuous times `t ∈ [0, 1]` (labels
    /// `t · label_scale`: 999 for score_sde, `N − 1` for diffusers).
    ///
    /// # Shapes
    /// - `x`: `[b, channels, image_size, image_size]`
    /// - `t`: `[b]`
    /// - output: `[b, channels, image_size, image_size]`
    ///
    /// # Panics
    /// If the image size differs from the config's (attention placement depends on it).
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>) -> Tensor<4> {
        let w = &self.wiring;
        let [_, _, hh, ww] = x.dims();
        assert!(
            hh == w.image_size && ww == w.image_size,
            "U-Net built for {0}×{0} images got {hh}×{ww}",
            w.image_size
        );
        let temb = match (self.temb_dense.as_slice(), &w.time) {
            ([d0, d1], Some(time)) => {
                let labels = t.mul_scalar(time.label_scale);
                let emb = timestep_embedding(labels, time.dim, time.frequencies); // [b, dim]
                Some(d1.forward(activation::silu(d0.forward(emb)))) // [b, 4·dim]
            }
            _ => None,
        };
        let temb = temb.as_ref();
        let h = if w.map_input {
            x.mul_scalar(2.0).sub_scalar(1.0)
        } else {
            x
        };

        let levels = w.levels();
        let mut res = self.res_blocks.iter();
        let mut attn = self.attn_blocks.iter();
        let mut down = self.down_convs.iter();
        let mut up = self.up_convs.iter();
        let mut next_res = |h: Tensor<4>| res.next().expect("residual block").forward(h, temb);
        let mut next_attn = |h: Tensor<4>| attn.next().expect("attention block").forward(h);
        let scaled = |h: Tensor<4>| {
            if w.mid_scale == 1.0 {
                h
            } else {
                h.div_scalar(w.mid_scale)
            }
        };

        let mut hs = vec![self.conv_in.forward(h)];
        for level in 0..levels {
            for _ in 0..w.blocks {
                let mut h = next_res(hs.last().expect("skip").clone());
                if w.down_attn[level] {
                    h = next_attn(h);
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
        h = scaled(next_res(h));
        if w.mid_attn {
            h = scaled(next_attn(h));
        }
        h = scaled(next_res(h));
        for level in (0..levels).rev() {
            for _ in 0..=w.blocks {
                let skip = hs.pop().expect("skip");
                h = next_res(Tensor::cat(vec![h, skip], 1));
                if w.up_attn[level] && w.up_attn_every_block {
                    h = next_attn(h);
                }
            }
            if w.up_attn[level] && !w.up_attn_every_block {
                h = next_attn(h);
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

impl EpsilonModel for UNet {
    fn dim(&self) -> usize {
        self.image_dim()
    }

    fn process(&self) -> NoiseProcess {
        self.process
    }

    /// Rows are flattened images (`C·H·W`, channel-major as in `[C, H, W]`).
    fn epsilon(&self, x: Tensor<2>, t: &Times) -> Tensor<2> {
        let [n, d] = x.dims();
        let (c, size) = (self.channels(), self.image_size());
        let device = x.device();
        let images = x.clone().reshape([n, c, size, size]);
        let times = t.column(n, &device).reshape([n]);
        let out = self.forward(images, times).reshape([n, d]);
        match &self.arch {
            // v- and x₀-prediction become ε̂ through the model's own schedule.
            Arch::Diffusers(m) => m.scheduler.to_epsilon(out, x, t),
            Arch::ScoreSde(_) => out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::model::to_host;
    use burn::tensor::TensorData;

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
            let out = sample(&net, &config, 2, 7, &dev, &mut |_, _| {}).unwrap();
            assert_eq!(out.samples.data.len(), 2 * c.dim());
            assert!(out.samples.data.iter().all(|v| v.is_finite()), "{kind:?}");
        }
    }

    /// The released configs build networks of the sizes score_sde's own `models/ddpm.py` gives
    /// them (`DDPM(config)` counted with the module copied into `tools/make_unet_fixture.py`):
    /// 35,218,947 parameters at 32×32 and 111,569,923 at 256×256.
    #[test]
    fn released_configs_have_score_sde_sizes() {
        let dev = Device::flex();
        let count = |name: &str| {
            let named = score_sde_named(name).unwrap();
            assert!(named.config.validate().is_ok());
            let (net, _) = UNet::build(&named.config, &mut ZeroInit, &dev).unwrap();
            net.parameter_count()
        };
        assert_eq!(count("ddpm-cifar10"), 35_218_947);
        assert_eq!(count("ddpm-church"), 111_569_923);
        assert_eq!(
            score_sde_named("ddpm-cifar10-subvp").unwrap().process,
            NoiseProcess::sub_vp()
        );
        assert!(score_sde_named("ncsnpp-cifar10").is_none());
        assert!(score_sde_names().starts_with("ddpm-cifar10, "));
    }

    #[test]
    fn invalid_configs_are_refused() {
        let mut c = UNetConfig::tiny();
        c.nf = 48;
        assert!(c.validate().unwrap_err().to_string().contains("32"));
        let mut c = UNetConfig::tiny();
        c.image_size = 7;
        assert!(c.validate().is_err());
        assert!(UNetConfig::default().validate().is_ok());
    }
}
