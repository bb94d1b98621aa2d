//! Training: one run ([`Trainer`]) and the background trainer thread ([`TrainerHandle`]).

pub mod analysis;
mod trainer;
pub mod worker;

pub use analysis::{
    AnalysisCommand, AnalysisContext, AnalysisEvent, AnalysisHandle, AnalysisSettings,
};
pub use trainer::{TrainConfig, TrainError, Trainer};
pub use worker::{
    PublishSettings, Snapshot, SnapshotSlot, TrainCommand, TrainEvent, TrainerHandle,
};
