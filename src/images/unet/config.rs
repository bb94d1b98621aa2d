//! The U-Net's shape: score_sde's DDPM config ([`UNetConfig`]) with its checks, score_sde's
//! released configs by name, and the constants both U-Net layouts share.

use serde::{Deserialize, Serialize};

use crate::diffusion::NoiseProcess;

/// GroupNorm groups in every score_sde DDPM normalisation (the default of
/// [`UNetConfig::groups`]).
pub const GROUPS: usize = 32;
/// GroupNorm epsilon in every score_sde DDPM normalisation.
pub const GROUP_NORM_EPS: f64 = 1e-6;
/// Most channels of any level (sizes beyond it are refused, whatever the file says).
pub const MAX_CHANNELS: usize = 1 << 20;
/// Largest image side.
pub const MAX_IMAGE_SIZE: usize = 1 << 16;
/// Most residual blocks per level.
pub const MAX_BLOCKS: usize = 1 << 10;
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
    pub fn validate(&self) -> Result<(), UNetConfigError> {
        if self.ch_mult.is_empty() || self.ch_mult.contains(&0) {
            return Err(UNetConfigError::ChMult {
                ch_mult: self.ch_mult.clone(),
            });
        }
        if self.nf < 4 || !self.nf.is_multiple_of(2) {
            return Err(UNetConfigError::Nf { nf: self.nf });
        }
        // Widths beyond 2^20 channels fit no memory; refusing them keeps all size arithmetic
        // far from overflow.
        if self
            .ch_mult
            .iter()
            .any(|&m| self.nf.checked_mul(m).is_none_or(|c| c > MAX_CHANNELS))
            || self.channels > MAX_CHANNELS
            || self.image_size > MAX_IMAGE_SIZE
            || self.num_res_blocks > MAX_BLOCKS
        {
            return Err(UNetConfigError::TooLarge);
        }
        if self.groups == 0 {
            return Err(UNetConfigError::NoGroups);
        }
        if let Some(&mult) = self
            .ch_mult
            .iter()
            .find(|&&m| !self.nf.saturating_mul(m).is_multiple_of(self.groups))
        {
            return Err(UNetConfigError::Groups {
                nf: self.nf,
                mult,
                groups: self.groups,
            });
        }
        if self.channels == 0 {
            return Err(UNetConfigError::NoChannels);
        }
        // More levels than that halve any image to nothing (and would overflow the shift).
        if self.num_resolutions() > 16 {
            return Err(UNetConfigError::ImageSize {
                image_size: self.image_size,
                div: usize::MAX,
                levels: self.num_resolutions(),
            });
        }
        let div = 1usize << (self.num_resolutions() - 1);
        if self.image_size == 0 || !self.image_size.is_multiple_of(div) {
            return Err(UNetConfigError::ImageSize {
                image_size: self.image_size,
                div,
                levels: self.num_resolutions(),
            });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(UNetConfigError::Dropout {
                dropout: self.dropout,
            });
        }
        Ok(())
    }
}

/// One of score_sde_pytorch's released DDPM configs: its name here, its file there, the process
/// it was trained with and its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedConfig {
    /// The name `--config` takes (empty for a TOML file).
    pub name: &'static str,
    /// Its file in score_sde_pytorch's `configs/` (empty for a TOML file).
    pub file: &'static str,
    /// The SDE it was trained with.
    pub process: NoiseProcess,
    /// The shape.
    pub config: UNetConfig,
}

/// score_sde_pytorch's released DDPM configs (`model.name = 'ddpm'`, VP and sub-VP; the VE one
/// feeds σ instead of a time label and is not among them). Each has `data.centered = True`,
/// `nf = 128`, two residual blocks per level and attention at 16×16; every one feeds the label
/// `t · 999` (`num_scales = 1000`).
pub fn score_sde_configs() -> Vec<NamedConfig> {
    // The paper's model with a fourth level (nf 128, attention at 16, dropout 0.1, centred).
    let cifar = UNetConfig {
        ch_mult: vec![1, 2, 2, 2],
        ..UNetConfig::default()
    };
    // default_lsun_configs: dropout 0; image_size 256 (CelebA-HQ sets it too).
    let large = UNetConfig {
        ch_mult: vec![1, 1, 2, 2, 4, 4],
        dropout: 0.0,
        image_size: 256,
        ..cifar.clone()
    };
    let vp = NoiseProcess::vp();
    let named = |name, file, process, config| NamedConfig {
        name,
        file,
        process,
        config,
    };
    vec![
        named("ddpm-cifar10", "vp/ddpm/cifar10.py", vp, cifar.clone()),
        named(
            "ddpm-cifar10-continuous",
            "vp/ddpm/cifar10_continuous.py",
            vp,
            cifar.clone(),
        ),
        named(
            "ddpm-cifar10-subvp",
            "subvp/cifar10_ddpm_continuous.py",
            NoiseProcess::sub_vp(),
            cifar,
        ),
        named("ddpm-celebahq", "vp/ddpm/celebahq.py", vp, large.clone()),
        named("ddpm-church", "vp/ddpm/church.py", vp, large.clone()),
        named("ddpm-bedroom", "ddpm/bedroom.py", vp, large),
    ]
}

/// The released config called `name` ([`score_sde_configs`]).
pub fn score_sde_named(name: &str) -> Option<NamedConfig> {
    score_sde_configs().into_iter().find(|c| c.name == name)
}

/// The names of [`score_sde_configs`], comma-separated.
pub fn score_sde_names() -> String {
    score_sde_configs()
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a [`UNetConfig`] cannot be built as score_sde's DDPM ([`UNetConfig::validate`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum UNetConfigError {
    /// No levels, or a level of width 0.
    #[error("ch_mult {ch_mult:?} must be non-empty and positive")]
    ChMult {
        /// The channel multipliers.
        ch_mult: Vec<usize>,
    },
    /// A base width that is odd or below 4.
    #[error("nf = {nf} must be even and at least 4")]
    Nf {
        /// The base channel count.
        nf: usize,
    },
    /// Zero GroupNorm groups.
    #[error("groups must be positive")]
    NoGroups,
    /// Sizes no machine holds.
    #[error(
        "sizes beyond any memory: at most {MAX_CHANNELS} channels per level and as image \
         channels, image_size ≤ {MAX_IMAGE_SIZE}, num_res_blocks ≤ {MAX_BLOCKS}"
    )]
    TooLarge,
    /// A level whose width the GroupNorm groups do not divide.
    #[error("nf · ch_mult = {nf} · {mult} is not a multiple of the {groups} GroupNorm groups")]
    Groups {
        /// The base channel count.
        nf: usize,
        /// The level's multiplier.
        mult: usize,
        /// The GroupNorm groups.
        groups: usize,
    },
    /// Zero image channels.
    #[error("channels must be positive")]
    NoChannels,
    /// An image side that the levels cannot halve down to a whole number.
    #[error("image_size = {image_size} must be a positive multiple of {div} for {levels} levels")]
    ImageSize {
        /// The side length.
        image_size: usize,
        /// What it must be a multiple of (`2^(levels − 1)`).
        div: usize,
        /// The number of resolution levels.
        levels: usize,
    },
    /// A dropout probability outside `[0, 1)`.
    #[error("dropout = {dropout} must be in [0, 1)")]
    Dropout {
        /// The probability.
        dropout: f64,
    },
}
