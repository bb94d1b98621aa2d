//! The sweep's error: reading and checking sweep files, planning, running and storing runs,
//! drawing figures.

use std::path::PathBuf;

/// Why a sweep could not be read, planned, run or summarised.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file is unreadable.
    #[error("reading the sweep file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Something in a sweep file is wrong.
    #[error("in the sweep file {}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What.
        error: Box<SweepError>,
    },
    /// The text is not TOML of a sweep.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// The sweep asks for something it cannot have.
    #[error("{0}")]
    Spec(String),
    /// One grid point is not a valid run.
    #[error("grid point {point}: {error}")]
    GridPoint {
        /// The grid values, `k=v, k=v`.
        point: String,
        /// What is wrong.
        error: Box<SweepError>,
    },
    /// A run configuration is not valid.
    #[error("{0}")]
    Config(String),
    /// A stored `result.json` is not a run result.
    #[error(
        "{} is not a run result of this version ({error}); results written before the TID \
         protocol (mean ± std over repeats) cannot be resumed: use a fresh --out",
        path.display()
    )]
    NotAResult {
        /// The file.
        path: PathBuf,
        /// Why.
        error: serde_json::Error,
    },
    /// A result directory belongs to another sweep.
    #[error("{0}")]
    Conflict(String),
    /// JSON (de)serialisation.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// File system.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The dataset of a run.
    #[error(transparent)]
    Dataset(#[from] crate::data::DatasetError),
    /// Setting a run up.
    #[error(transparent)]
    Recipe(#[from] crate::train::RecipeError),
    /// Training.
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// Measuring TID.
    #[error(transparent)]
    Tid(#[from] crate::metrics::TidError),
    /// Sampling and measuring a run's samples.
    #[error(transparent)]
    Evaluation(#[from] crate::train::evaluation::EvaluationError),
    /// Saving a run's checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] crate::model::CheckpointError),
    /// Drawing a figure.
    #[error("plotting: {0}")]
    Plot(String),
}

/// A sweep result.
pub type Result<T, E = SweepError> = std::result::Result<T, E>;
