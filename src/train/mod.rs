//! Training: one run ([`Trainer`]) and the background trainer thread ([`TrainerHandle`]).

mod trainer;
pub mod worker;

pub use trainer::{TrainConfig, TrainError, Trainer};
pub use worker::{
    PublishSettings, Snapshot, SnapshotSlot, TrainCommand, TrainEvent, TrainerHandle,
};
