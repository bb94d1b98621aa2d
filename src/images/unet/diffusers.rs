//! diffusers' `UNet2DModel` in its DDPM layout (`google/ddpm-cifar10-32` and the like), built from
//! its `config.json` out of the same blocks as score_sde's DDPM.
//!
//! | diffusers (`UNet2DModel`) | here |
//! |---|---|
//! | `time_proj` (`Timesteps`: `flip_sin_to_cos`, `freq_shift`), `time_embedding.linear_1/2` | [`TimeInput`], [`UNet::temb_dense`] |
//! | `conv_in` | [`UNet::conv_in`] |
//! | `down_blocks.i`: `DownBlock2D` / `AttnDownBlock2D` (`resnets.j`, `attentions.j` after each, `downsamplers.0.conv` unless last) | residual and attention blocks in forward order, [`UNet::down_convs`] |
//! | `ResnetBlock2D` (`norm1`, `conv1`, `time_emb_proj`, `norm2`, `conv2`, `conv_shortcut` 1×1 when the width changes) | [`ResnetBlock`] (the shortcut as a [`Nin`]) |
//! | `Attention` (`group_norm`, `to_q`, `to_k`, `to_v`, `to_out.0`; before diffusers 0.14 `query`, `key`, `value`, `proj_attn`) | [`AttnBlock`] with `heads = C / attention_head_dim` |
//! | `mid_block` (`UNetMidBlock2D`: resnet, attention, resnet, each output divided by `mid_block_scale_factor`) | the middle, [`Wiring::mid_scale`] |
//! | `up_blocks.i`: `UpBlock2D` / `AttnUpBlock2D` (`layers_per_block + 1` resnets, an attention after **every** resnet, `upsamplers.0.conv` unless last) | [`Wiring::up_attn_every_block`] |
//! | `conv_norm_out`, SiLU, `conv_out` | [`UNet::norm_out`], [`UNet::conv_out`] |
//!
//! `downsample_padding = 0` pads `(0, 1, 0, 1)` before the stride-2 convolution, as score_sde
//! does; otherwise the convolution pads symmetrically. The scheduler's training timesteps `N` set
//! the time input (`t · (N − 1)`), and its linear betas the VP process (`β_min = N·beta_start`,
//! `β_max = N·beta_end`: diffusers' DDPM default, 1e-4 to 0.02 over 1,000 steps, is the VP SDE
//! with β from 0.1 to 20).

use burn::nn::PaddingConfig2d;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::init::{Builder, DIFFUSERS_RES, ParamSource};
pub use super::scheduler::{Prediction, Scheduler};
use super::{Arch, AttnBlock, Frequencies, Nin, TimeInput, UNet, Wiring};

/// The `sample_size` of a `config.json`: one side, or `[height, width]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SampleSize {
    /// Square images of this side.
    Side(usize),
    /// `[height, width]`.
    Pair(Vec<usize>),
}

/// The fields of a diffusers `UNet2DModel` `config.json`; absent fields take `UNet2DModel`'s
/// defaults (diffusers 0.25).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffusersConfig {
    /// `_class_name`: must be `UNet2DModel` when present.
    #[serde(rename = "_class_name")]
    pub class_name: Option<String>,
    /// Image side, or `[height, width]`.
    pub sample_size: Option<SampleSize>,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (must equal the input's: the network predicts noise).
    pub out_channels: usize,
    /// Map inputs `2x − 1` first.
    pub center_input_sample: bool,
    /// Only `positional` is supported.
    pub time_embedding_type: String,
    /// `downscale_freq_shift` of the timestep embedding.
    pub freq_shift: f64,
    /// Cosines before sines in the timestep embedding.
    pub flip_sin_to_cos: bool,
    /// `DownBlock2D` or `AttnDownBlock2D` per level.
    pub down_block_types: Vec<String>,
    /// `UpBlock2D` or `AttnUpBlock2D` per level, coarsest first.
    pub up_block_types: Vec<String>,
    /// Channels per level.
    pub block_out_channels: Vec<usize>,
    /// Residual blocks per down level.
    pub layers_per_block: usize,
    /// Divisor of the middle blocks' outputs.
    pub mid_block_scale_factor: f64,
    /// Padding of the downsampling convolution (0: pad bottom and right by one).
    pub downsample_padding: usize,
    /// Only `conv`.
    pub downsample_type: String,
    /// Only `conv`.
    pub upsample_type: String,
    /// Dropout inside the residual blocks (training only).
    pub dropout: f64,
    /// `silu` (or its alias `swish`).
    pub act_fn: String,
    /// Channels per attention head (`null`: one head).
    pub attention_head_dim: Option<usize>,
    /// GroupNorm groups.
    pub norm_num_groups: Option<usize>,
    /// GroupNorm groups of the middle attention (default: `norm_num_groups`).
    pub attn_norm_num_groups: Option<usize>,
    /// GroupNorm epsilon.
    pub norm_eps: f64,
    /// Only `default`.
    pub resnet_time_scale_shift: String,
    /// Attention in the middle.
    pub add_attention: bool,
    /// Class conditioning (unsupported).
    pub class_embed_type: Option<String>,
    /// Class conditioning (unsupported).
    pub num_class_embeds: Option<usize>,
    /// Training timesteps (`learned` embeddings only; the scheduler's count is used).
    pub num_train_timesteps: Option<usize>,
}

impl Default for DiffusersConfig {
    /// `UNet2DModel.__init__`'s defaults.
    fn default() -> Self {
        Self {
            class_name: None,
            sample_size: None,
            in_channels: 3,
            out_channels: 3,
            center_input_sample: false,
            time_embedding_type: "positional".into(),
            freq_shift: 0.0,
            flip_sin_to_cos: true,
            down_block_types: [
                "DownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
            ]
            .map(String::from)
            .to_vec(),
            up_block_types: [
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "UpBlock2D",
            ]
            .map(String::from)
            .to_vec(),
            block_out_channels: vec![224, 448, 672, 896],
            layers_per_block: 2,
            mid_block_scale_factor: 1.0,
            downsample_padding: 1,
            downsample_type: "conv".into(),
            upsample_type: "conv".into(),
            dropout: 0.0,
            act_fn: "silu".into(),
            attention_head_dim: Some(8),
            norm_num_groups: Some(32),
            attn_norm_num_groups: None,
            norm_eps: 1e-5,
            resnet_time_scale_shift: "default".into(),
            add_attention: true,
            class_embed_type: None,
            num_class_embeds: None,
            num_train_timesteps: None,
        }
    }
}

/// A diffusers U-Net's own description: its `config.json` and its scheduler.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffusersUNet {
    /// `config.json`.
    pub config: DiffusersConfig,
    /// `scheduler_config.json` (its defaults when the directory has none).
    pub scheduler: Scheduler,
}

/// Why a diffusers config cannot be built here.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DiffusersConfigError {
    /// Another diffusers model class.
    #[error(
        "_class_name is {0}: only UNet2DModel (unconditional DDPM U-Nets) is supported, not \
         conditional or latent models"
    )]
    Class(String),
    /// A field with a value this build does not implement.
    #[error("{field} = {value} is not supported (supported: {supported})")]
    Unsupported {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is supported.
        supported: &'static str,
    },
    /// Values that do not make a network.
    #[error("{0}")]
    Invalid(String),
}

pub(super) fn unsupported(
    field: &'static str,
    value: &str,
    supported: &'static str,
) -> DiffusersConfigError {
    DiffusersConfigError::Unsupported {
        field,
        value: value.to_string(),
        supported,
    }
}

const DOWN_BLOCKS: &str = "DownBlock2D, AttnDownBlock2D";
const UP_BLOCKS: &str = "UpBlock2D, AttnUpBlock2D";

/// The checked shape of a diffusers config.
struct Layout {
    size: usize,
    widths: Vec<usize>,
    down_attn: Vec<bool>,
    up_attn: Vec<bool>,
    groups: usize,
    mid_groups: usize,
}

impl DiffusersConfig {
    /// Checks that the network is one this build implements, naming the first field that is not.
    pub fn validate(&self) -> Result<(), DiffusersConfigError> {
        self.layout().map(|_| ())
    }

    fn layout(&self) -> Result<Layout, DiffusersConfigError> {
        use DiffusersConfigError::Invalid;
        if let Some(name) = self.class_name.as_deref().filter(|n| *n != "UNet2DModel") {
            return Err(DiffusersConfigError::Class(name.to_string()));
        }
        if self.time_embedding_type != "positional" {
            return Err(unsupported(
                "time_embedding_type",
                &self.time_embedding_type,
                "positional",
            ));
        }
        if let Some(kind) = &self.class_embed_type {
            return Err(unsupported(
                "class_embed_type",
                kind,
                "null (unconditional)",
            ));
        }
        if let Some(n) = self.num_class_embeds {
            return Err(unsupported(
                "num_class_embeds",
                &n.to_string(),
                "null (unconditional)",
            ));
        }
        if !matches!(self.act_fn.as_str(), "silu" | "swish") {
            return Err(unsupported("act_fn", &self.act_fn, "silu"));
        }
        if self.resnet_time_scale_shift != "default" {
            return Err(unsupported(
                "resnet_time_scale_shift",
                &self.resnet_time_scale_shift,
                "default",
            ));
        }
        if self.downsample_type != "conv" {
            return Err(unsupported(
                "downsample_type",
                &self.downsample_type,
                "conv",
            ));
        }
        if self.upsample_type != "conv" {
            return Err(unsupported("upsample_type", &self.upsample_type, "conv"));
        }
        let levels = self.block_out_channels.len();
        use super::{MAX_BLOCKS, MAX_CHANNELS, MAX_IMAGE_SIZE};
        if self.block_out_channels.iter().any(|&c| c > MAX_CHANNELS)
            || self.in_channels > MAX_CHANNELS
            || self.layers_per_block > MAX_BLOCKS
            || matches!(&self.sample_size, Some(SampleSize::Side(s)) if *s > MAX_IMAGE_SIZE)
            || matches!(&self.sample_size, Some(SampleSize::Pair(p)) if p.iter().any(|s| *s > MAX_IMAGE_SIZE))
        {
            return Err(Invalid(format!(
                "sizes beyond any memory: at most {MAX_CHANNELS} channels, {MAX_BLOCKS} layers \
                 per block and {MAX_IMAGE_SIZE}-pixel sides"
            )));
        }
        if levels == 0 || self.block_out_channels.contains(&0) {
            return Err(Invalid(format!(
                "block_out_channels {:?} must be non-empty and positive",
                self.block_out_channels
            )));
        }
        if self.down_block_types.len() != levels || self.up_block_types.len() != levels {
            return Err(Invalid(format!(
                "{} down_block_types and {} up_block_types for {levels} block_out_channels: \
                 need one of each per level",
                self.down_block_types.len(),
                self.up_block_types.len()
            )));
        }
        let mut down_attn = Vec::with_capacity(levels);
        for name in &self.down_block_types {
            down_attn.push(match name.as_str() {
                "DownBlock2D" => false,
                "AttnDownBlock2D" => true,
                _ => return Err(unsupported("down_block_types", name, DOWN_BLOCKS)),
            });
        }
        // up_block_types run coarsest first; up_attn is indexed by level, finest first.
        let mut up_attn = vec![false; levels];
        for (i, name) in self.up_block_types.iter().enumerate() {
            up_attn[levels - 1 - i] = match name.as_str() {
                "UpBlock2D" => false,
                "AttnUpBlock2D" => true,
                _ => return Err(unsupported("up_block_types", name, UP_BLOCKS)),
            };
        }
        let size = match &self.sample_size {
            Some(SampleSize::Side(s)) => *s,
            Some(SampleSize::Pair(p)) if p.len() == 2 && p[0] == p[1] => p[0],
            Some(SampleSize::Pair(p)) => {
                return Err(Invalid(format!(
                    "sample_size {p:?}: only square images are supported"
                )));
            }
            None => {
                return Err(Invalid(
                    "config.json has no sample_size: the image size is unknown".into(),
                ));
            }
        };
        if levels > 16 {
            return Err(Invalid(format!(
                "{levels} levels: at most 16 (each halves the image)"
            )));
        }
        let div = 1usize << (levels - 1);
        if size == 0 || !size.is_multiple_of(div) {
            return Err(Invalid(format!(
                "sample_size {size} must be a positive multiple of {div} for {levels} levels"
            )));
        }
        if self.in_channels == 0 || self.out_channels != self.in_channels {
            return Err(Invalid(format!(
                "in_channels = {}, out_channels = {}: a noise-predicting U-Net has as many \
                 output channels as input channels",
                self.in_channels, self.out_channels
            )));
        }
        if self.layers_per_block == 0 {
            return Err(Invalid("layers_per_block must be positive".into()));
        }
        let Some(groups) = self.norm_num_groups.filter(|&g| g > 0) else {
            return Err(unsupported(
                "norm_num_groups",
                "null or 0",
                "a positive count",
            ));
        };
        if let Some(&c) = self
            .block_out_channels
            .iter()
            .find(|&&c| !c.is_multiple_of(groups))
        {
            return Err(Invalid(format!(
                "{c} channels are not a multiple of norm_num_groups = {groups}"
            )));
        }
        let last = self.block_out_channels[levels - 1];
        let mid_groups = self.attn_norm_num_groups.unwrap_or(groups);
        if mid_groups == 0 || !last.is_multiple_of(mid_groups) {
            return Err(Invalid(format!(
                "{last} channels are not a multiple of attn_norm_num_groups = {mid_groups}"
            )));
        }
        if let Some(d) = self.attention_head_dim {
            let attended = self
                .block_out_channels
                .iter()
                .zip(down_attn.iter().zip(&up_attn))
                .filter(|(_, (d, u))| **d || **u)
                .map(|(c, _)| *c)
                .chain(self.add_attention.then_some(last));
            for c in attended {
                if d == 0 || !c.is_multiple_of(d) {
                    return Err(Invalid(format!(
                        "attention_head_dim = {d} does not divide the {c} channels of an \
                         attention block"
                    )));
                }
            }
        }
        let finite = |v: f64| v.is_finite() && v > 0.0;
        if !finite(self.norm_eps) || !finite(self.mid_block_scale_factor) {
            return Err(Invalid(format!(
                "norm_eps = {} and mid_block_scale_factor = {} must be positive",
                self.norm_eps, self.mid_block_scale_factor
            )));
        }
        if !self.freq_shift.is_finite()
            || self.freq_shift >= (self.block_out_channels[0] / 2) as f64
        {
            return Err(Invalid(format!(
                "freq_shift = {} must be below half the first level's {} channels",
                self.freq_shift, self.block_out_channels[0]
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Invalid(format!(
                "dropout = {} must be in [0, 1)",
                self.dropout
            )));
        }
        Ok(Layout {
            size,
            widths: self.block_out_channels.clone(),
            down_attn,
            up_attn,
            groups,
            mid_groups,
        })
    }

    /// Attention heads of a block of `channels` (one when `attention_head_dim` is null).
    fn heads(&self, channels: usize) -> usize {
        self.attention_head_dim.map_or(1, |d| channels / d)
    }
}

impl<S: ParamSource> Builder<'_, S> {
    /// diffusers' `Attention` at `prefix` (today's names; a source may map the old ones).
    fn diffusers_attention(
        &mut self,
        prefix: &str,
        c: usize,
        heads: usize,
    ) -> Result<AttnBlock, S::Error> {
        let linear = |b: &mut Self, name: &str| -> Result<Nin, S::Error> {
            b.nin_transposed(&format!("{prefix}.{name}"), c, c, &[c, c])
        };
        Ok(AttnBlock {
            norm: self.group_norm(&format!("{prefix}.group_norm"), c)?,
            q: linear(self, "to_q")?,
            k: linear(self, "to_k")?,
            v: linear(self, "to_v")?,
            out: linear(self, "to_out.0")?,
            heads,
        })
    }
}

/// The attention weight names diffusers used before 0.14, for today's name `key` (or `None`).
pub fn legacy_attention_name(key: &str) -> Option<String> {
    if !key.contains(".attentions.") {
        return None;
    }
    [
        (".to_q.", ".query."),
        (".to_k.", ".key."),
        (".to_v.", ".value."),
        (".to_out.0.", ".proj_attn."),
    ]
    .iter()
    .find(|(new, _)| key.contains(new))
    .map(|(new, old)| key.replacen(new, old, 1))
}

impl UNet {
    /// Builds diffusers' `UNet2DModel` described by `model`, taking every parameter from
    /// `source` under its diffusers name (`down_blocks.0.resnets.0.conv1.weight`, …) and
    /// PyTorch shape.
    pub fn build_diffusers<S: ParamSource>(
        model: &DiffusersUNet,
        source: &mut S,
        device: &Device,
    ) -> Result<Self, DiffusersBuildError<S::Error>> {
        let c = &model.config;
        let layout = c.layout().map_err(DiffusersBuildError::Config)?;
        let process = model
            .scheduler
            .process()
            .map_err(DiffusersBuildError::Config)?;
        let weights = |e| DiffusersBuildError::Weights(e);
        let mut b = Builder {
            source,
            device,
            names: Vec::new(),
            groups: layout.groups,
            eps: c.norm_eps,
        };
        let widths = &layout.widths;
        let levels = widths.len();
        let c0 = widths[0];
        let temb_dim = 4 * c0;
        let temb_dense = vec![
            b.linear("time_embedding.linear_1", c0, temb_dim)
                .map_err(weights)?,
            b.linear("time_embedding.linear_2", temb_dim, temb_dim)
                .map_err(weights)?,
        ];
        let same = PaddingConfig2d::Explicit(1, 1, 1, 1);
        let conv_in = b
            .conv3x3("conv_in", [c.in_channels, c0], 1, same.clone(), 1.0)
            .map_err(weights)?;
        let (mut res_blocks, mut attn_blocks) = (Vec::new(), Vec::new());
        let (mut down_convs, mut up_convs) = (Vec::new(), Vec::new());
        let mut hs_c = vec![c0];
        let mut in_ch = c0;
        for (level, &out) in widths.iter().enumerate() {
            for j in 0..c.layers_per_block {
                let p = format!("down_blocks.{level}.resnets.{j}");
                res_blocks.push(
                    b.res_block_named(&p, &DIFFUSERS_RES, [in_ch, out], temb_dim, c.dropout)
                        .map_err(weights)?,
                );
                in_ch = out;
                if layout.down_attn[level] {
                    let p = format!("down_blocks.{level}.attentions.{j}");
                    attn_blocks.push(
                        b.diffusers_attention(&p, out, c.heads(out))
                            .map_err(weights)?,
                    );
                }
                hs_c.push(out);
            }
            if level != levels - 1 {
                let pad = match c.downsample_padding {
                    // F.pad(x, (0, 1, 0, 1)): nothing on top/left, one row/column bottom/right.
                    0 => PaddingConfig2d::Explicit(0, 0, 1, 1),
                    p => PaddingConfig2d::Explicit(p, p, p, p),
                };
                let p = format!("down_blocks.{level}.downsamplers.0.conv");
                down_convs.push(b.conv3x3(&p, [out, out], 2, pad, 1.0).map_err(weights)?);
                hs_c.push(out);
            }
        }
        let last = widths[levels - 1];
        let (mid_0, mid_1) = ("mid_block.resnets.0", "mid_block.resnets.1");
        res_blocks.push(
            b.res_block_named(mid_0, &DIFFUSERS_RES, [last, last], temb_dim, c.dropout)
                .map_err(weights)?,
        );
        if c.add_attention {
            b.groups = layout.mid_groups;
            let heads = c.heads(last);
            attn_blocks.push(
                b.diffusers_attention("mid_block.attentions.0", last, heads)
                    .map_err(weights)?,
            );
            b.groups = layout.groups;
        }
        res_blocks.push(
            b.res_block_named(mid_1, &DIFFUSERS_RES, [last, last], temb_dim, c.dropout)
                .map_err(weights)?,
        );
        for (i, level) in (0..levels).rev().enumerate() {
            let out = widths[level];
            for j in 0..=c.layers_per_block {
                let skip = hs_c.pop().expect("one skip per block");
                let p = format!("up_blocks.{i}.resnets.{j}");
                res_blocks.push(
                    b.res_block_named(&p, &DIFFUSERS_RES, [in_ch + skip, out], temb_dim, c.dropout)
                        .map_err(weights)?,
                );
                in_ch = out;
                if layout.up_attn[level] {
                    let p = format!("up_blocks.{i}.attentions.{j}");
                    attn_blocks.push(
                        b.diffusers_attention(&p, out, c.heads(out))
                            .map_err(weights)?,
                    );
                }
            }
            if level != 0 {
                let p = format!("up_blocks.{i}.upsamplers.0.conv");
                up_convs.push(
                    b.conv3x3(&p, [out, out], 1, same.clone(), 1.0)
                        .map_err(weights)?,
                );
            }
        }
        debug_assert!(hs_c.is_empty());
        let norm_out = b.group_norm("conv_norm_out", c0).map_err(weights)?;
        let conv_out = b
            .conv3x3("conv_out", [c0, c.out_channels], 1, same, 1.0)
            .map_err(weights)?;
        Ok(Self {
            temb_dense,
            conv_in,
            res_blocks,
            attn_blocks,
            down_convs,
            up_convs,
            norm_out,
            conv_out,
            wiring: Wiring {
                channels: c.in_channels,
                image_size: layout.size,
                map_input: c.center_input_sample,
                blocks: c.layers_per_block,
                down_attn: layout.down_attn,
                up_attn: layout.up_attn,
                up_attn_every_block: true,
                mid_attn: c.add_attention,
                mid_scale: c.mid_block_scale_factor,
                time: Some(TimeInput {
                    dim: c0,
                    label_scale: model.scheduler.label_scale(),
                    frequencies: Frequencies::Diffusers {
                        flip_sin_to_cos: c.flip_sin_to_cos,
                        freq_shift: c.freq_shift,
                    },
                }),
            },
            arch: Arch::Diffusers(Box::new(model.clone())),
            process,
        })
    }
}

/// Why [`UNet::build_diffusers`] failed: the config, or a weight from the source.
#[derive(Debug)]
pub enum DiffusersBuildError<E> {
    /// The config or scheduler is not one this build implements.
    Config(DiffusersConfigError),
    /// The source could not give a parameter.
    Weights(E),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::NoiseProcess;
    use crate::images::unet::ZeroInit;

    fn ddpm_cifar10() -> DiffusersConfig {
        // The layout of google/ddpm-cifar10-32 (the original DDPM's CIFAR-10 model: attention at
        // 16×16 on both paths; up_block_types run coarsest first).
        serde_json::from_str(
            r#"{"_class_name": "UNet2DModel", "act_fn": "silu", "attention_head_dim": null,
            "block_out_channels": [128, 256, 256, 256], "center_input_sample": false,
            "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
            "downsample_padding": 0, "flip_sin_to_cos": false, "freq_shift": 1, "in_channels": 3,
            "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-06,
            "norm_num_groups": 32, "out_channels": 3, "sample_size": 32,
            "time_embedding_type": "positional",
            "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"]}"#,
        )
        .unwrap()
    }

    /// google/ddpm-cifar10-32's config builds a network of 35,746,307 parameters, the count of
    /// diffusers 0.25's own `UNet2DModel(**config)`; the wiring puts the attention at 16×16 on
    /// both paths, three of them on the way up.
    #[test]
    fn ddpm_cifar10_shape() {
        let model = DiffusersUNet {
            config: ddpm_cifar10(),
            scheduler: Scheduler::default(),
        };
        let net = UNet::build_diffusers(&model, &mut ZeroInit, &Device::flex())
            .unwrap_or_else(|_| panic!("builds"));
        assert_eq!(net.parameter_count(), 35_746_307);
        assert_eq!(net.wiring.down_attn, [false, true, false, false]);
        assert_eq!(net.wiring.up_attn, [false, true, false, false]);
        assert_eq!(net.attn_blocks.len(), 2 + 1 + 3);
        assert_eq!(net.res_blocks.len(), 4 * 2 + 2 + 4 * 3);
        assert_eq!(net.wiring.time.unwrap().label_scale, 999.0);
        let NoiseProcess::Vp { beta_min, beta_max } = net.process else {
            panic!("VP")
        };
        assert!((beta_min - 0.1).abs() < 1e-12 && (beta_max - 20.0).abs() < 1e-9);
    }

    #[test]
    fn unsupported_fields_are_named() {
        type Edit = fn(&mut DiffusersConfig);
        let cases: [(&str, Edit); 5] = [
            ("CrossAttnDownBlock2D", |c| {
                c.down_block_types[1] = "CrossAttnDownBlock2D".into()
            }),
            ("fourier", |c| c.time_embedding_type = "fourier".into()),
            ("UNet2DConditionModel", |c| {
                c.class_name = Some("UNet2DConditionModel".into())
            }),
            ("scale_shift", |c| {
                c.resnet_time_scale_shift = "scale_shift".into()
            }),
            ("num_class_embeds", |c| c.num_class_embeds = Some(10)),
        ];
        for (name, edit) in cases {
            let mut c = ddpm_cifar10();
            edit(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
        for (field, value) in [
            ("prediction_type", "flow"),
            ("beta_schedule", "squaredcos_cap_v2"),
        ] {
            let mut s = Scheduler::default();
            match field {
                "prediction_type" => s.prediction_type = value.into(),
                _ => s.beta_schedule = value.into(),
            }
            let e = s.process().unwrap_err().to_string();
            assert!(e.contains(field) && e.contains(value), "{e}");
        }
    }

    #[test]
    fn legacy_names() {
        assert_eq!(
            legacy_attention_name("mid_block.attentions.0.to_out.0.weight").as_deref(),
            Some("mid_block.attentions.0.proj_attn.weight")
        );
        assert_eq!(
            legacy_attention_name("up_blocks.1.attentions.2.to_k.bias").as_deref(),
            Some("up_blocks.1.attentions.2.key.bias")
        );
        assert_eq!(
            legacy_attention_name("up_blocks.1.resnets.2.conv1.bias"),
            None
        );
    }
}
