//! TID and the diagnostics that work on plain data (SPEC §6, §7).

pub mod density;
pub mod neighbours;
pub mod tid;

pub use density::{DensityEvolution, error_covariance};
pub use tid::{TidError, TidPoint, hill_estimator, tid_curve};
