//! The TID protocol (paper App. A.1, K; issue #14): TID is computed on equal-size random
//! subsets of the training set and the generated set (2,000 points each by default), repeated
//! `R` times with fresh subsets (5 by default), and reported as mean ± standard deviation.
//!
//! Neighbour counts grow with a set's size, so Hill estimates of sets of different sizes are
//! not comparable: 10,000 generated points against 1,000 training points read as "collapsed"
//! even when both come from one distribution (see the tests). The training subsets are drawn
//! once per run ([`TidReference`]) and shared by every sampler measured against it.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::neighbours::neighbour_counts;
use super::reference::{
    KnnBalls, PRDC_K, ReferenceMetrics, mean_metrics, reference_metrics, reference_metrics_with,
};
use super::tid::{TidError, TidPoint};
use crate::data::Points;

/// The Hill estimator's `k` (SPEC §6): a fraction of the subset size, or a count.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HillK {
    /// `max(1, ⌊f m⌋)` for subsets of `m` points (the default, f = 0.1).
    Fraction(f64),
    /// `k` itself.
    Count(usize),
}

impl Default for HillK {
    fn default() -> Self {
        Self::Fraction(0.1)
    }
}

impl HillK {
    /// `k` for subsets of `m` points, checked: `1 ≤ k < m`.
    pub fn for_points(self, m: usize) -> Result<usize, TidError> {
        let k = match self {
            Self::Fraction(f) if !(f > 0.0 && f < 1.0) => return Err(TidError::BadKFraction(f)),
            Self::Fraction(f) => ((f * m as f64).floor() as usize).max(1),
            Self::Count(k) => k,
        };
        if k == 0 || k >= m {
            return Err(TidError::BadK { k, m });
        }
        Ok(k)
    }
}

/// How TID is measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TidProtocol {
    /// Points in each subset (paper: 2,000). Both subsets have `min(points, n_train,
    /// n_generated)` points.
    pub points: usize,
    /// Repeats with fresh subsets.
    pub repeats: usize,
    /// Seed of the subsets.
    pub seed: u64,
    /// The Hill estimator's `k`.
    #[serde(default)]
    pub k: HillK,
}

impl Default for TidProtocol {
    fn default() -> Self {
        Self {
            points: 2000,
            repeats: 5,
            seed: 0,
            k: HillK::default(),
        }
    }
}

/// TID at one radius under the protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TidEstimate {
    /// Radius ε.
    pub eps: f64,
    /// Mean over repeats of `H_k(generated) − H_k(train)`.
    pub mean: f64,
    /// Standard deviation over repeats (ddof 1; 0 for one repeat).
    pub std: f64,
    /// Mean `H_k` of the training subsets.
    pub hill_train: f64,
    /// Mean `H_k` of the generated subsets.
    pub hill_generated: f64,
    /// The training subsets' Hill threshold `X_(k+1)` ([`HillTerms`](super::tid::HillTerms)),
    /// as the geometric mean over repeats (so that `hill_train + ln threshold_train` is the
    /// mean top term). Absent in results from before it was recorded.
    #[serde(default)]
    pub threshold_train: Option<f64>,
    /// The generated subsets' `X_(k+1)`, likewise.
    #[serde(default)]
    pub threshold_generated: Option<f64>,
    /// Mean fraction of training points with no neighbour within ε.
    pub zero_fraction_train: f64,
    /// Mean fraction of generated points with no neighbour within ε.
    pub zero_fraction_generated: f64,
    /// Repeats in which ε was degenerate: a zero fraction above `1 − k/m` (SPEC §6).
    pub degenerate: usize,
    /// Repeats.
    pub repeats: usize,
    /// Points in each subset.
    pub points: usize,
    /// The Hill `k` used (absent in results from before it was recorded).
    #[serde(default)]
    pub k: Option<usize>,
}

impl TidEstimate {
    /// A one-repeat estimate of `mean` at `eps` with no spread (fixtures of the sweep tests).
    #[cfg(test)]
    pub(crate) fn fixture(eps: f64, mean: f64) -> Self {
        Self {
            eps,
            mean,
            std: 0.0,
            hill_train: 0.0,
            hill_generated: mean,
            threshold_train: Some(1.0),
            threshold_generated: Some(1.0),
            zero_fraction_train: 0.0,
            zero_fraction_generated: 0.0,
            degenerate: 0,
            repeats: 1,
            points: 2000,
            k: Some(200),
        }
    }

    /// True when ε was degenerate in any repeat: the value is not to be read.
    pub fn is_degenerate(&self) -> bool {
        self.degenerate > 0
    }

    /// TID as the sum of what the Hill estimator's two terms moved ([`TidSplit`]); `None` for
    /// results from before the thresholds were recorded.
    pub fn split(&self) -> Option<TidSplit> {
        let threshold = self.threshold_train?.ln() - self.threshold_generated?.ln();
        Some(TidSplit {
            top: self.mean - threshold,
            threshold,
        })
    }

    /// Which term carries TID where it reads as a result: above the repeats' spread
    /// (mean > std) and not degenerate; `None` otherwise, or without recorded thresholds.
    pub fn driver(&self) -> Option<TidDriver> {
        if self.is_degenerate() || self.mean <= self.std {
            return None;
        }
        self.split()?.driver()
    }
}

/// TID = `H_k(gen) − H_k(train)` split by the terms of `H_k = top − ln X_(k+1)` (means over
/// repeats; the thresholds' geometric means make the split exact): `top` is what the generated
/// set's k most crowded points gained over the training set's (denser clumps), `threshold` is
/// `ln X_(k+1)(train) − ln X_(k+1)(gen)`, what its thinner middle added (more points with few
/// neighbours). `top + threshold` is TID.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TidSplit {
    /// `top(gen) − top(train)`.
    pub top: f64,
    /// `ln X_(k+1)(train) − ln X_(k+1)(gen)`.
    pub threshold: f64,
}

/// Which term carries a positive TID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TidDriver {
    /// The top term carries more of it: the most crowded samples are more crowded than the
    /// training set's (the paper's collapse).
    Clumps,
    /// The threshold term carries more of it: more samples with few neighbours, while the
    /// most crowded are no more crowded than that.
    Isolation,
}

impl TidSplit {
    /// The term carrying more of a positive TID; `None` when TID ≤ 0 (no excess tail).
    pub fn driver(self) -> Option<TidDriver> {
        if self.top + self.threshold <= 0.0 {
            None
        } else if self.top >= self.threshold {
            Some(TidDriver::Clumps)
        } else {
            Some(TidDriver::Isolation)
        }
    }
}

impl TidDriver {
    /// One word for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Clumps => "clumps",
            Self::Isolation => "isolation",
        }
    }
}

/// The training side of the protocol: `R` random subsets of the training set and their
/// neighbour counts at every radius, drawn once and shared by every generated set measured.
#[derive(Clone, Debug)]
pub struct TidReference {
    protocol: TidProtocol,
    eps: Vec<f64>,
    subsets: Vec<Points>,
    /// `[repeat][radius][point]`.
    counts: Vec<Vec<Vec<u32>>>,
    /// Each subset's k-NN balls for the reference metrics, computed by the first
    /// [`Self::reference_metrics`] that uses them and shared by every later one.
    balls: OnceLock<Vec<KnnBalls>>,
}

/// A 64-bit mix of the protocol seed, a stream and a repeat (splitmix64's finaliser), so the
/// training and generated subsets of every repeat are independent draws.
fn subset_seed(seed: u64, stream: u64, repeat: usize) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (repeat as u64) << 32;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const TRAIN: u64 = 0x7D1D;
const GENERATED: u64 = 0x7D1E;
const SMALLER: u64 = 0x7D1F;

impl TidReference {
    /// Draws the training subsets of `protocol` from `train` and counts their neighbours at
    /// every radius in `eps`.
    pub fn new(train: &Points, eps: &[f64], protocol: TidProtocol) -> Result<Self, TidError> {
        if let Some(&e) = eps.iter().find(|e| !e.is_finite() || **e < 0.0) {
            return Err(TidError::BadRadius(e));
        }
        if protocol.repeats == 0 {
            return Err(TidError::NoRepeats);
        }
        let m = protocol.points.min(train.n);
        if m < 2 {
            return Err(TidError::TooFewPoints {
                what: "the training set",
                n: m,
                k: 1,
            });
        }
        protocol.k.for_points(m)?;
        let subsets: Vec<Points> = (0..protocol.repeats)
            .map(|r| train.subset(m, subset_seed(protocol.seed, TRAIN, r)))
            .collect();
        let counts = subsets.iter().map(|s| neighbour_counts(s, eps)).collect();
        Ok(Self {
            protocol,
            eps: eps.to_vec(),
            subsets,
            counts,
            balls: OnceLock::new(),
        })
    }

    /// Points in each training subset (`min(points, n_train)`).
    pub fn points(&self) -> usize {
        self.subsets[0].n
    }

    /// The protocol in use.
    pub fn protocol(&self) -> TidProtocol {
        self.protocol
    }

    /// The radii.
    pub fn eps(&self) -> &[f64] {
        &self.eps
    }

    /// TID of `generated` at every radius: per repeat, a fresh random subset of
    /// `m = min(points, n_train, n_generated)` generated points against the repeat's training
    /// subset (itself cut to `m` points at random when the generated set is smaller).
    pub fn measure(&self, generated: &Points) -> Result<Vec<TidEstimate>, TidError> {
        let m = self.subset_size(generated, 1)?;
        let k = self.protocol.k.for_points(m)?;
        let per_repeat: Vec<Vec<TidPoint>> = (0..self.protocol.repeats)
            .map(|r| {
                let g = generated.subset(m, subset_seed(self.protocol.seed, GENERATED, r));
                let counts_g = neighbour_counts(&g, &self.eps);
                let smaller;
                let counts_t = if m == self.points() {
                    &self.counts[r]
                } else {
                    let t = self.subsets[r].subset(m, subset_seed(self.protocol.seed, SMALLER, r));
                    smaller = neighbour_counts(&t, &self.eps);
                    &smaller
                };
                self.eps
                    .iter()
                    .enumerate()
                    .map(|(e, &eps)| {
                        TidPoint::from_counts(eps, (&counts_t[e], k), (&counts_g[e], k))
                    })
                    .collect()
            })
            .collect();
        Ok((0..self.eps.len())
            .map(|e| {
                let at: Vec<&TidPoint> = per_repeat.iter().map(|c| &c[e]).collect();
                let mean_of = |f: fn(&TidPoint) -> f64| {
                    at.iter().map(|p| f(p)).sum::<f64>() / at.len() as f64
                };
                let tids: Vec<f64> = at.iter().map(|p| p.tid).collect();
                let (mean, std) = mean_std(&tids);
                TidEstimate {
                    eps: self.eps[e],
                    mean,
                    std,
                    hill_train: mean_of(|p| p.hill_train),
                    hill_generated: mean_of(|p| p.hill_generated),
                    threshold_train: Some(mean_of(|p| (p.threshold_train as f64).ln()).exp()),
                    threshold_generated: Some(
                        mean_of(|p| (p.threshold_generated as f64).ln()).exp(),
                    ),
                    zero_fraction_train: mean_of(|p| p.zero_fraction_train),
                    zero_fraction_generated: mean_of(|p| p.zero_fraction_generated),
                    degenerate: at.iter().filter(|p| p.unreliable).count(),
                    repeats: at.len(),
                    points: m,
                    k: Some(k),
                }
            })
            .collect())
    }
}

impl TidReference {
    /// The size `m = min(points, n_generated)` of both subsets of every repeat, checked: the
    /// generated set lives in the training set's space and `m > k`.
    fn subset_size(&self, generated: &Points, k: usize) -> Result<usize, TidError> {
        let d = self.subsets[0].d;
        if generated.d != d {
            return Err(TidError::DimensionMismatch {
                train: d,
                generated: generated.d,
            });
        }
        let m = self.points().min(generated.n);
        if m <= k {
            return Err(TidError::TooFewPoints {
                what: "the generated set",
                n: generated.n,
                k,
            });
        }
        Ok(m)
    }

    /// Precision, recall, density, coverage (k-NN balls of [`PRDC_K`]) and the energy distance
    /// of `generated` on the same subsets TID compares, averaged over the repeats.
    pub fn reference_metrics(&self, generated: &Points) -> Result<ReferenceMetrics, TidError> {
        let m = self.subset_size(generated, PRDC_K)?;
        let per_repeat: Vec<ReferenceMetrics> = (0..self.protocol.repeats)
            .map(|r| {
                let g = generated.subset(m, subset_seed(self.protocol.seed, GENERATED, r));
                if m == self.points() {
                    let balls = self.balls.get_or_init(|| {
                        self.subsets
                            .iter()
                            .map(|t| KnnBalls::new(t, PRDC_K))
                            .collect()
                    });
                    reference_metrics_with(&self.subsets[r], &balls[r], &g)
                } else {
                    let t = self.subsets[r].subset(m, subset_seed(self.protocol.seed, SMALLER, r));
                    reference_metrics(&t, &g, PRDC_K)
                }
            })
            .collect();
        Ok(mean_metrics(&per_repeat))
    }
}

/// Mean and standard deviation (ddof 1; 0 for a single value) of a non-empty slice.
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests;
