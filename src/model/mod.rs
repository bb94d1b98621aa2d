//! Score networks (burn modules), the fused CPU MLP path, and checkpoint I/O.

pub mod checkpoint;
pub mod fast;
pub mod infer;
pub mod mlp;
pub mod narrow;
pub mod net;
pub mod packed;
pub mod sgemm;
pub mod simd;

pub use checkpoint::{
    Checkpoint, CheckpointError, CheckpointMeta, DataSource, LossPoint, StrictLoadError,
};
pub use infer::{FastScoreNet, inference_model};
pub use mlp::{Activation, Mlp, MlpConfig, MlpWeights};
pub use net::{Architecture, NetSpec, ScoreNet};
