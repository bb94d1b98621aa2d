//! Training: one run ([`Trainer`]), the one recipe every front end builds a 2D run with
//! ([`recipe`]), and the background trainer and analysis threads ([`TrainerHandle`],
//! [`AnalysisHandle`]).

pub mod analysis;
pub mod evaluation;
pub mod recipe;
pub mod spec;
mod trainer;
pub mod worker;

pub use analysis::{
    AnalysisCommand, AnalysisContext, AnalysisEvent, AnalysisHandle, AnalysisSettings,
};
pub use recipe::{
    LossHistory, Preset, RecipeError, RunOutcome, RunRecipe, train_run, training_set,
};
pub use spec::{DataPart, EvaluationPart, ModelChoice, RunSpec, SamplingPart, TrainingPart};
pub use trainer::{TrainConfig, TrainError, Trainer};
pub use worker::{
    Generation, PublishSettings, Snapshot, SnapshotSlot, TrainCommand, TrainEvent, TrainerHandle,
    TrainerStatus,
};

/// The message of a caught panic (`String` or `&str` payloads), for error events.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}
