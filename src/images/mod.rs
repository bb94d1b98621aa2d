//! Images (issue #5): score_sde's DDPM U-Net and its checkpoints; image datasets (SPEC §5,
//! paper App. A.1): readers for what people have on disk (CIFAR binary batches, MNIST IDX,
//! PNG/JPEG folders, `.npy`/`.npz`), resizing and channel conversion, a procedural shapes set for
//! demos and tests, and image grids written as PNG.
//!
//! Images are plain Rust data, `[n, C, H, W]` in `[0, 1]`; [`ImageSet::to_points`] flattens them
//! into the `[n, C·H·W]` rows that the diffusion engine consumes.
//!
//! # Where this sits in the layers
//! This is a feature slice for image models that cuts across the crate's layers rather than
//! being one of them:
//! - data: [`data`] (the image set and the readers) and [`procedural`] (the shapes set);
//! - model: [`unet`] (the U-Net, score_sde's DDPM and diffusers' `UNet2DModel`),
//!   [`unet_checkpoint`] (score_sde import, the crate's own safetensors form) and
//!   [`diffusers_checkpoint`] (diffusers model and pipeline directories);
//! - training: [`train`] (the U-Net DSM trainer and its `training.json` record);
//! - analysis: [`analysis`] (sampling, pixel TID, nearest-neighbour grids), [`open`] (what
//!   the CLI and the app both accept as a model and its training images) and [`study`] (the
//!   one image study: open, sample from shared noise, TID, neighbour grids, with progress and
//!   cancel), which the `images` command and the app's Images mode run and only present.
//!
//! It depends on `data`, `diffusion`, `metrics` and `model`, and is used by `app` and `cli`
//! only; nothing below it (`data`, `diffusion`, `metrics`, `model`, `train`, `render`) imports
//! it.

pub mod analysis;
pub mod data;
pub mod diffusers_checkpoint;
pub mod open;
pub mod procedural;
pub mod study;
pub mod train;
pub mod unet;
pub mod unet_checkpoint;

pub use analysis::{
    Cancelled, ImageShape, ImageSource, Neighbour, NnRow, SamplingStopped, nearest_neighbours,
    nn_grid, paper_nn_grid, pixel_tid_reference, sample_images,
};
pub use data::{
    ImageError, ImageFormat, ImageSet, PixelScale, ReadOptions, Rgb8Image, Split, detect_format,
    read_images,
};
pub use procedural::{Background, Colour, Shape, ShapeAttributes, ShapesConfig, generate_shapes};
pub use train::{
    ImageFitError, TrainingRecord, TrainingRecordError, UNetTrainConfig, UNetTrainError,
    UNetTrainer, check_images_fit, image_shape, pixel_scale,
};
pub use unet::{UNet, UNetConfig, UNetConfigError};
pub use unet_checkpoint::{UNetError, WeightSet, import_score_sde};
