//! Collapse Explorer: see the collapse errors of deterministic diffusion samplers.
//!
//! Layers point one way: [`data`] (plain point sets) → [`diffusion`] (processes, samplers,
//! exact scores on burn tensors) → [`metrics`] (TID and diagnostics on plain data) → [`model`]
//! (burn modules, fused CPU MLP, checkpoints) → [`train`] (the 2D recipe, the trainer and
//! analysis threads) → [`sweep`] → [`app`] and [`cli`]. [`images`] is a feature slice for image
//! models beside `train`: it uses the layers below it and is used by [`app`] and [`cli`] only.
//! [`render`] (wgpu pipelines, plain data in, pixels out) is used by [`app`] only; [`sync`]
//! holds the one lock-poisoning policy, [`priority`] the app's thread priorities.

pub mod app;
pub mod cli;
pub mod data;
pub mod diffusion;
#[doc(hidden)]
pub mod fuzzing;
pub mod images;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod priority;
pub mod render;
pub mod sweep;
pub mod sync;
pub mod train;

/// The compute device for tensors: `cpu` (burn's `flex`) or a real `gpu` (burn's `wgpu`).
pub mod device;
