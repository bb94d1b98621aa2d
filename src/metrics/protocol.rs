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
use super::tid::{TidError, TidPoint, hill_terms};
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
                    .map(|(e, &eps)| tid_point(eps, &counts_t[e], &counts_g[e], k))
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

/// TID at one radius from the neighbour counts of two sets of equal size, Hill `k` for both.
fn tid_point(eps: f64, train: &[u32], generated: &[u32], k: usize) -> TidPoint {
    let zero = |c: &[u32]| c.iter().filter(|&&v| v == 0).count() as f64 / c.len() as f64;
    let (zt, zg) = (zero(train), zero(generated));
    let limit = 1.0 - k as f64 / train.len() as f64;
    let (terms_train, terms_generated) = (hill_terms(train, k), hill_terms(generated, k));
    let (hill_train, hill_generated) = (terms_train.hill(), terms_generated.hill());
    TidPoint {
        eps,
        tid: hill_generated - hill_train,
        hill_train,
        hill_generated,
        threshold_train: terms_train.threshold,
        threshold_generated: terms_generated.threshold,
        zero_fraction_train: zt,
        zero_fraction_generated: zg,
        unreliable: zt > limit || zg > limit,
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
mod tests {
    use super::*;
    use crate::data::DatasetSpec;
    use crate::metrics::tid_curve;

    #[test]
    fn mean_and_std_by_hand() {
        // 1, 2, 3, 6: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, / 3.
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 6.0]);
        assert_eq!(m, 3.0);
        assert!((s - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[2.5]), (2.5, 0.0));
    }

    /// Neighbour counts grow with the set's size, and so does the tail the Hill estimator
    /// reads: one distribution (the ring MoG) at 20,000 generated points against 2,000
    /// training points gives a TID of −0.10 to −0.19 at ε = 0.02 with whole sets (five seeds
    /// measured), and within ±0.05 under the protocol, which compares 2,000 points of each.
    #[test]
    fn unequal_sets_are_biased_and_the_protocol_is_not() {
        for seed in 0..3 {
            let train = DatasetSpec::RingMog
                .generate(50_000, 10 + seed)
                .subset(2000, 5);
            let generated = DatasetSpec::RingMog.generate(20_000, 20 + seed);
            let eps = [0.02];
            let whole = &tid_curve(&train, &generated, &eps, None).unwrap()[0];
            let reference = TidReference::new(&train, &eps, TidProtocol::default()).unwrap();
            let fair = &reference.measure(&generated).unwrap()[0];
            assert!(whole.tid < -0.09, "seed {seed}, whole sets: {whole:?}");
            assert_eq!(fair.points, 2000);
            assert!(fair.mean.abs() < 0.08, "seed {seed}, protocol: {fair:?}");
            assert!(!fair.is_degenerate());
        }
    }

    /// With one repeat and subsets as large as both sets, the protocol is TID of the whole sets.
    #[test]
    fn one_repeat_of_whole_sets_is_the_plain_curve() {
        let a = DatasetSpec::Chessboard.generate(1500, 3);
        let b = DatasetSpec::Chessboard.generate(1500, 4);
        let eps = [0.02, 0.1, 0.3];
        let protocol = TidProtocol {
            points: 5000,
            repeats: 1,
            seed: 9,
            k: HillK::default(),
        };
        let got = TidReference::new(&a, &eps, protocol)
            .unwrap()
            .measure(&b)
            .unwrap();
        let want = tid_curve(&a, &b, &eps, None).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g.mean - w.tid).abs() < 1e-12, "{g:?} vs {w:?}");
            // One repeat: the geometric mean of one threshold is that threshold.
            let t = (g.threshold_train.unwrap(), g.threshold_generated.unwrap());
            assert!(
                (t.0 - w.threshold_train as f64).abs() < 1e-9,
                "{t:?} vs {w:?}"
            );
            assert!(
                (t.1 - w.threshold_generated as f64).abs() < 1e-9,
                "{t:?} vs {w:?}"
            );
            // The split's top term is the difference of the brute-force tops, H + ln X_(k+1).
            let top = |h: f64, x: u32| h + (x as f64).ln();
            let split = g.split().unwrap();
            assert!(
                (split.top
                    - (top(w.hill_generated, w.threshold_generated)
                        - top(w.hill_train, w.threshold_train)))
                .abs()
                    < 1e-9,
                "{split:?} vs {w:?}"
            );
            assert_eq!((g.std, g.repeats, g.points), (0.0, 1, 1500));
            assert_eq!(g.is_degenerate(), w.unreliable);
        }
    }

    /// Null and alternative at the paper's 2,000 points: two draws of one distribution stay
    /// near 0 (the spread over repeats here was 0.02–0.09); a set with 30% of its points
    /// snapped onto 20 clumps (as in the test of `tid_curve`) is positive, 0.38 ± 0.08 at
    /// ε = 0.05 here: over three standard deviations of its repeats. The subsets are
    /// fresh per repeat, so the spread is not zero.
    #[test]
    fn null_is_near_zero_and_clumps_are_positive() {
        // Parents of 50,000 points: with smaller ones, which parent was drawn shows in TID
        // (the repeats only resample subsets of one parent).
        let train = DatasetSpec::RingMog.generate(50_000, 5);
        let null = DatasetSpec::RingMog.generate(50_000, 6);
        let mut clumped = DatasetSpec::RingMog.generate(50_000, 7);
        // Centre c takes a share ∝ 1/(c + 1) of 15,000 points: Zipf-sized clumps, a heavy
        // tail of neighbour counts (clumps of one size would only shift the counts).
        let harmonic: f64 = (1..=20).map(|c| 1.0 / c as f64).sum();
        let mut i = 100;
        for c in 0..20 {
            let (x, y) = (clumped.row(c)[0], clumped.row(c)[1]);
            for _ in 0..(15_000.0 / harmonic / (c + 1) as f64) as usize {
                clumped.data[2 * i] = x;
                clumped.data[2 * i + 1] = y;
                i += 1;
            }
        }
        let eps = [0.05, 0.1];
        let reference = TidReference::new(&train, &eps, TidProtocol::default()).unwrap();
        for e in reference.measure(&null).unwrap() {
            assert!(e.std > 0.0 && e.std < 0.1, "{e:?}");
            // Each term near 0 too (−0.017 and −0.006 for the top term here).
            let split = e.split().unwrap();
            assert!(
                split.top.abs() < 0.1 && split.threshold.abs() < 0.1,
                "{split:?}"
            );
            assert!(e.mean.abs() < 0.1, "{e:?}");
        }
        for e in reference.measure(&clumped).unwrap() {
            assert!(e.mean > 0.3 && e.mean > 3.0 * e.std, "{e:?}");
            let split = e.split().unwrap();
            assert!(split.top > 0.3, "{split:?}");
            assert_eq!(split.driver(), Some(TidDriver::Clumps), "{split:?}");
        }
        // The other way up: half of the points scattered over a box 20 times the ring's size,
        // each alone. Every ring point has half the neighbours, so the top term falls by about
        // ln 2; X_(k+1) falls further (the top 10% are now the ring's top 20%). TID is positive
        // though nothing is clumped: +0.16 ± 0.07 and +0.08 ± 0.02 here, top −0.62 and −0.68.
        let mut isolated = DatasetSpec::RingMog.generate(50_000, 8);
        let spread = DatasetSpec::RingMog.generate(25_000, 9);
        for i in 0..25_000 {
            for j in 0..2 {
                isolated.data[2 * i + j] = 20.0 * spread.row(i)[j] + 100.0;
            }
        }
        for e in reference.measure(&isolated).unwrap() {
            let split = e.split().unwrap();
            assert!(e.mean > 2.0 * e.std && split.top < -0.5, "{e:?} {split:?}");
            assert_eq!(split.driver(), Some(TidDriver::Isolation), "{split:?}");
        }
    }

    /// The split by hand, with the numbers of `docs/REPRODUCTION.md`: the MNIST ODE (TID
    /// +0.412, X_(k+1) 5 against the training subsets' 12) is isolation: ln(12/5) = 0.875 from the
    /// threshold, −0.463 from the top; the chessboard ODE at ε = 0.05 (+0.23, 8.6 against 5.0)
    /// is clumps: ln(5/8.6) = −0.542 from the threshold, +0.772 from the top.
    #[test]
    fn split_by_hand() {
        let at = |mean: f64, train: f64, generated: f64| TidEstimate {
            threshold_train: Some(train),
            threshold_generated: Some(generated),
            ..TidEstimate::fixture(0.1, mean)
        };
        let mnist = at(0.412, 12.0, 5.0).split().unwrap();
        assert!((mnist.threshold - 0.875_468_737).abs() < 1e-9, "{mnist:?}");
        assert!(
            (mnist.top - (0.412 - 0.875_468_737)).abs() < 1e-9,
            "{mnist:?}"
        );
        assert_eq!(mnist.driver(), Some(TidDriver::Isolation));
        let chess = at(0.23, 5.0, 8.6).split().unwrap();
        assert!((chess.threshold + 0.542_324_291).abs() < 1e-9, "{chess:?}");
        assert!((chess.top - 0.772_324_291).abs() < 1e-9, "{chess:?}");
        assert_eq!(chess.driver(), Some(TidDriver::Clumps));
        assert_eq!(at(0.23, 5.0, 8.6).driver(), Some(TidDriver::Clumps));
        // No excess tail, no driver; within the repeats' spread or degenerate, none read.
        assert_eq!(at(-0.05, 5.0, 8.6).split().unwrap().driver(), None);
        let spread = TidEstimate {
            std: 0.3,
            ..at(0.23, 5.0, 8.6)
        };
        assert_eq!(spread.split().unwrap().driver(), Some(TidDriver::Clumps));
        assert_eq!(spread.driver(), None);
        let degenerate = TidEstimate {
            degenerate: 1,
            ..at(0.23, 5.0, 8.6)
        };
        assert_eq!(degenerate.driver(), None);
        // No thresholds recorded, no split.
        let old = TidEstimate {
            threshold_train: None,
            ..TidEstimate::fixture(0.1, 0.3)
        };
        assert_eq!(old.split(), None);
    }

    /// TID at any Hill k, against an independent brute-force reading of SPEC §6: all pairs'
    /// distances in f64, counts `N_ε(x_i) = #{j ≠ i : ‖x_i − x_j‖ ≤ ε}`, `X = N + 1` sorted
    /// descending, `H_k = mean(ln X_(1..k)) − ln X_(k+1)`. With subsets of the whole sets
    /// (points = n) the protocol's TID is that difference exactly, at every k; a k outside
    /// `1 ≤ k < m`, or a fraction outside (0, 1), is refused with the numbers.
    #[test]
    fn tid_at_any_k_matches_a_brute_force_reading() {
        let train = DatasetSpec::RingMog.generate(300, 1);
        let fresh = DatasetSpec::RingMog.generate(300, 2);
        // Clumped: every generated point pulled halfway to its nearest training mean.
        let mix = DatasetSpec::RingMog.mixture().unwrap();
        let mut clumped = fresh.clone();
        for row in clumped.data.chunks_exact_mut(2) {
            let near = mix
                .means
                .iter()
                .min_by(|a, b| {
                    let da = (row[0] as f64 - a[0]).powi(2) + (row[1] as f64 - a[1]).powi(2);
                    let db = (row[0] as f64 - b[0]).powi(2) + (row[1] as f64 - b[1]).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap();
            row[0] = (0.5 * (row[0] as f64 + near[0])) as f32;
            row[1] = (0.5 * (row[1] as f64 + near[1])) as f32;
        }
        let hill = |p: &Points, eps: f64, k: usize| {
            let mut x: Vec<f64> = (0..p.n)
                .map(|i| {
                    let a = p.row(i);
                    let near = (0..p.n)
                        .filter(|&j| j != i)
                        .filter(|&j| {
                            let b = p.row(j);
                            let d2: f64 = a
                                .iter()
                                .zip(b)
                                .map(|(u, v)| (*u as f64 - *v as f64).powi(2))
                                .sum();
                            d2.sqrt() <= eps
                        })
                        .count();
                    (near + 1) as f64
                })
                .collect();
            x.sort_by(|a, b| b.total_cmp(a));
            x[..k].iter().map(|v| v.ln()).sum::<f64>() / k as f64 - x[k].ln()
        };
        let eps = [0.1, 0.3];
        for (k, want_k) in [
            (HillK::Count(1), 1),
            (HillK::Count(7), 7),
            (HillK::Count(150), 150),
            (HillK::Count(299), 299),
            (HillK::Fraction(0.05), 15),
            (HillK::default(), 30),
        ] {
            let protocol = TidProtocol {
                points: 300,
                repeats: 1,
                seed: 4,
                k,
            };
            let reference = TidReference::new(&train, &eps, protocol).unwrap();
            for generated in [&fresh, &clumped] {
                for est in reference.measure(generated).unwrap() {
                    assert_eq!(est.k, Some(want_k));
                    let want = hill(generated, est.eps, want_k) - hill(&train, est.eps, want_k);
                    assert!(
                        (est.mean - want).abs() < 1e-9,
                        "k = {want_k}, ε = {}: {} vs {want}",
                        est.eps,
                        est.mean
                    );
                }
            }
        }
        let bad = |k| {
            TidReference::new(
                &train,
                &eps,
                TidProtocol {
                    points: 300,
                    k,
                    ..TidProtocol::default()
                },
            )
        };
        assert_eq!(
            bad(HillK::Count(300)).unwrap_err(),
            TidError::BadK { k: 300, m: 300 }
        );
        assert_eq!(
            bad(HillK::Count(0)).unwrap_err(),
            TidError::BadK { k: 0, m: 300 }
        );
        assert_eq!(
            bad(HillK::Fraction(1.5)).unwrap_err(),
            TidError::BadKFraction(1.5)
        );
        assert!(
            bad(HillK::Count(300))
                .unwrap_err()
                .to_string()
                .contains("below 300")
        );
    }

    /// The same protocol seed gives the same numbers; another seed other subsets.
    #[test]
    fn seeded_and_reproducible() {
        let a = DatasetSpec::RingMog.generate(5000, 1);
        let b = DatasetSpec::RingMog.generate(5000, 2);
        let run = |seed| {
            let p = TidProtocol {
                seed,
                ..TidProtocol::default()
            };
            TidReference::new(&a, &[0.1], p)
                .unwrap()
                .measure(&b)
                .unwrap()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3)[0].mean, run(4)[0].mean);
    }

    /// The reference metrics of the protocol are those of its subsets, repeat by repeat: each
    /// training subset's k-NN balls, computed once and kept, give what computing them afresh
    /// gives, for every generated set measured (in any order) and for a generated set smaller
    /// than the subsets (whose training side is cut to its size, without the kept balls).
    #[test]
    fn reference_metrics_are_the_subsets_own() {
        let train = DatasetSpec::Chessboard.generate(3000, 1);
        let p = TidProtocol {
            points: 600,
            repeats: 3,
            seed: 7,
            ..TidProtocol::default()
        };
        let by_hand = |g: &Points| {
            let m = g.n.min(600);
            let per: Vec<ReferenceMetrics> = (0..3)
                .map(|r| {
                    let t = train.subset(600, subset_seed(7, TRAIN, r));
                    let t = t.subset(m, subset_seed(7, SMALLER, r));
                    let g = g.subset(m, subset_seed(7, GENERATED, r));
                    reference_metrics(&t, &g, PRDC_K)
                })
                .collect();
            mean_metrics(&per)
        };
        let reference = TidReference::new(&train, &[0.1], p).unwrap();
        let g1 = DatasetSpec::Chessboard.generate(2000, 2);
        let g2 = DatasetSpec::Spiral.generate(2000, 3);
        let small = DatasetSpec::Chessboard.generate(400, 4);
        let first = reference.reference_metrics(&g1).unwrap();
        assert_eq!(first, by_hand(&g1));
        assert_eq!(reference.reference_metrics(&g2).unwrap(), by_hand(&g2));
        assert_eq!(reference.reference_metrics(&g1).unwrap(), first);
        assert_eq!(
            reference.reference_metrics(&small).unwrap(),
            by_hand(&small)
        );
        // The same law scores near 1 and the wrong one does not.
        assert!(first.precision > 0.9 && first.recall > 0.9, "{first:?}");
        let wrong = by_hand(&g2);
        assert!(
            wrong.coverage < 0.6 && wrong.energy_distance > 10.0 * first.energy_distance,
            "{wrong:?}"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let a = Points::new(3, 2, vec![0.0; 6]);
        let p = TidProtocol::default();
        assert_eq!(
            TidReference::new(&a, &[0.1], p)
                .unwrap()
                .measure(&Points::new(3, 1, vec![0.0; 3]))
                .unwrap_err(),
            TidError::DimensionMismatch {
                train: 2,
                generated: 1
            }
        );
        let none = TidProtocol { repeats: 0, ..p };
        assert_eq!(
            TidReference::new(&a, &[0.1], none).unwrap_err(),
            TidError::NoRepeats
        );
        assert!(matches!(
            TidReference::new(&a, &[f64::NAN], p),
            Err(TidError::BadRadius(_))
        ));
        let one = Points::new(1, 2, vec![0.0; 2]);
        assert!(TidReference::new(&one, &[0.1], p).is_err());
    }
}
