//! Image models: score_sde's DDPM U-Net and its checkpoints.

pub mod unet;
pub mod unet_checkpoint;

pub use unet::{UNet, UNetConfig};
pub use unet_checkpoint::{UNetError, WeightSet, import_score_sde};
