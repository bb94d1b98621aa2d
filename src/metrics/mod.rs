//! TID and the diagnostics that work on plain data (SPEC §6, §7):
//! - [`tid`]: the Tail Index Difference and its curves (§6, paper §5.1);
//! - [`protocol`]: TID as the paper measures it, on equal-size random subsets, repeated;
//! - [`neighbours`]: the exact ε-neighbour counts TID is computed from (§6);
//! - [`reference`]: precision, recall, density, coverage and the energy distance beside TID;
//! - [`covariance`]: the error covariance along trajectories (§7, paper Fig. 5b);
//! - [`density`]: the density evolution of one coordinate of a trajectory (§7, paper Fig. 6).

pub mod covariance;
pub mod density;
pub mod neighbours;
pub mod protocol;
pub mod reference;
pub mod tid;

pub use covariance::{
    CORRELATION_PARTICLES, CORRELATION_T_MIN, error_correlation, error_covariance,
    trajectory_error_correlation,
};
pub use density::DensityEvolution;
pub use protocol::{HillK, TidDriver, TidEstimate, TidProtocol, TidReference, TidSplit};
pub use reference::{
    KnnBalls, PRDC_K, ReferenceMetrics, reference_metrics, reference_metrics_with,
};
pub use tid::{HillTerms, TidError, TidPoint, hill_estimator, hill_terms, tid_curve};
