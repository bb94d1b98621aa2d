//! Processes, the ε-prediction interface, exact scores, samplers and model diagnostics
//! (SPEC §1–§4, §7), on burn tensors; no UI.

pub mod diagnostics;
mod exact;
pub mod loss;
pub mod model;
pub mod objective;
mod process;
pub mod sampler;

pub use exact::ExactMixtureScore;
pub use model::{EpsilonModel, HostStep, HostUpdate, Times};
pub use objective::{Objective, ObjectiveError, TimeSampling};
pub use process::{LINEAR_T_MAX, NoiseProcess, ProcessKind, T_END, T_MIN, TimeGrid};
pub use sampler::{
    BudgetError, NonFiniteSamples, SampleOutput, SamplerConfig, SamplerError, SamplerKind,
    initial_noise, sample, sample_from,
};
