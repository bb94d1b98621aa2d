//! Tail Index Difference (SPEC §6, paper §5.1).

use serde::Serialize;

use super::neighbours::neighbour_counts;
use crate::data::Points;

/// Why a TID could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TidError {
    /// The two sets live in different spaces.
    #[error(
        "dimension mismatch: training points have d = {train}, generated points d = {generated}"
    )]
    DimensionMismatch {
        /// `d` of the training set.
        train: usize,
        /// `d` of the generated set.
        generated: usize,
    },
    /// The Hill estimator needs `k + 1 ≤ n`.
    #[error("{what} has {n} points: the Hill estimator with k = {k} needs at least {}", k + 1)]
    TooFewPoints {
        /// Which set.
        what: &'static str,
        /// Its size.
        n: usize,
        /// The `k` in use.
        k: usize,
    },
    /// A radius that is negative or not finite.
    #[error("every ε must be finite and ≥ 0, got {0}")]
    BadRadius(f64),
    /// A protocol with zero repeats.
    #[error("the TID protocol needs at least one repeat (--tid-repeats ≥ 1)")]
    NoRepeats,
    /// A Hill `k` outside `1 ≤ k < m` for subsets of `m` points, or a fraction outside (0, 1).
    #[error("Hill k = {k} for subsets of {m} points: k must be at least 1 and below {m}")]
    BadK {
        /// The `k` asked for (or a fraction's `⌊f m⌋`).
        k: usize,
        /// The subset size.
        m: usize,
    },
    /// A Hill k-fraction outside (0, 1).
    #[error("Hill k-fraction = {0}: it must lie in (0, 1)")]
    BadKFraction(f64),
}

/// Default Hill `k`: `max(1, ⌊0.1 n⌋)`.
pub fn default_k(n: usize) -> usize {
    (n / 10).max(1)
}

/// Hill estimator `H_k = (1/k) Σ_{i≤k} ln X_(i) − ln X_(k+1)` of `X_i = N_i + 1`, sorted
/// descending. Panics unless `1 ≤ k < counts.len()` (callers check).
pub fn hill_estimator(counts: &[u32], k: usize) -> f64 {
    hill_terms(counts, k).hill()
}

/// The two terms of the Hill estimator: `H_k = top − ln threshold`. TID rises when the
/// generated set's top counts rise (denser clumps) or when its threshold falls (a thinner middle:
/// more points with few neighbours); which one it was is in these terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HillTerms {
    /// `(1/k) Σ_{i ≤ k} ln X_(i)`: the mean log of the k largest `X = count + 1`.
    pub top: f64,
    /// `X_(k+1)`: the (k+1)-th largest `X`.
    pub threshold: u32,
}

impl HillTerms {
    /// `H_k = top − ln X_(k+1)`.
    pub fn hill(self) -> f64 {
        self.top - (self.threshold as f64).ln()
    }
}

/// [`hill_estimator`]'s two terms (same panics).
pub fn hill_terms(counts: &[u32], k: usize) -> HillTerms {
    assert!(
        k >= 1 && k < counts.len(),
        "hill_estimator: k = {k} for n = {}",
        counts.len()
    );
    let mut x: Vec<u32> = counts.iter().map(|c| c + 1).collect();
    // Only the k + 1 largest matter: partial selection, then sort those.
    x.select_nth_unstable_by(k, |a, b| b.cmp(a));
    let top = &x[..k];
    let sum: f64 = top.iter().map(|&v| (v as f64).ln()).sum();
    HillTerms {
        top: sum / k as f64,
        threshold: x[k],
    }
}

/// One point of a TID curve, with everything needed to judge it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TidPoint {
    /// Radius ε.
    pub eps: f64,
    /// `H_k(generated) − H_k(train)`; positive means the generated set is concentrated.
    pub tid: f64,
    /// `H_k` of the training set.
    pub hill_train: f64,
    /// `H_k` of the generated set.
    pub hill_generated: f64,
    /// `X_(k+1)` of the training set (the Hill estimator's threshold, [`HillTerms`]).
    pub threshold_train: u32,
    /// `X_(k+1)` of the generated set.
    pub threshold_generated: u32,
    /// Fraction of training points with no neighbour within ε.
    pub zero_fraction_train: f64,
    /// Fraction of generated points with no neighbour within ε.
    pub zero_fraction_generated: f64,
    /// True when a zero fraction exceeds `1 − k/n`: the estimate is degenerate at this ε.
    pub unreliable: bool,
}

/// TID over a list of radii. `k` defaults to `max(1, ⌊0.1 n⌋)` per set.
pub fn tid_curve(
    train: &Points,
    generated: &Points,
    eps: &[f64],
    k: Option<usize>,
) -> Result<Vec<TidPoint>, TidError> {
    if train.d != generated.d {
        return Err(TidError::DimensionMismatch {
            train: train.d,
            generated: generated.d,
        });
    }
    if let Some(&e) = eps.iter().find(|e| !e.is_finite() || **e < 0.0) {
        return Err(TidError::BadRadius(e));
    }
    let k_train = k.unwrap_or_else(|| default_k(train.n));
    let k_gen = k.unwrap_or_else(|| default_k(generated.n));
    for (what, n, k) in [
        ("the training set", train.n, k_train),
        ("the generated set", generated.n, k_gen),
    ] {
        if k == 0 || k + 1 > n {
            return Err(TidError::TooFewPoints { what, n, k });
        }
    }
    let counts_train = neighbour_counts(train, eps);
    let counts_gen = neighbour_counts(generated, eps);
    Ok(eps
        .iter()
        .enumerate()
        .map(|(m, &e)| {
            TidPoint::from_counts(e, (&counts_train[m], k_train), (&counts_gen[m], k_gen))
        })
        .collect())
}

impl TidPoint {
    /// TID at radius `eps` from the neighbour counts of both sets, each with its Hill `k`
    /// (`1 ≤ k < counts.len()`, checked by the callers): the Hill terms, the fractions of points
    /// without a neighbour, and whether either exceeds `1 − k/n`.
    pub(crate) fn from_counts(
        eps: f64,
        train: (&[u32], usize),
        generated: (&[u32], usize),
    ) -> Self {
        let zero = |c: &[u32]| c.iter().filter(|&&v| v == 0).count() as f64 / c.len() as f64;
        let limit = |(c, k): (&[u32], usize)| 1.0 - k as f64 / c.len() as f64;
        let (terms_train, terms_gen) = (
            hill_terms(train.0, train.1),
            hill_terms(generated.0, generated.1),
        );
        let (hill_train, hill_generated) = (terms_train.hill(), terms_gen.hill());
        let (zero_fraction_train, zero_fraction_generated) = (zero(train.0), zero(generated.0));
        TidPoint {
            eps,
            tid: hill_generated - hill_train,
            hill_train,
            hill_generated,
            threshold_train: terms_train.threshold,
            threshold_generated: terms_gen.threshold,
            zero_fraction_train,
            zero_fraction_generated,
            unreliable: zero_fraction_train > limit(train)
                || zero_fraction_generated > limit(generated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;

    /// By hand: counts 3,1,0,0,7 → X = 8,4,2,1,1; k = 2: (ln 8 + ln 4)/2 − ln 2 = 1.5 ln 2.
    #[test]
    fn hill_by_hand() {
        let h = hill_estimator(&[1, 0, 7, 0, 3], 2);
        assert!((h - 1.5 * 2f64.ln()).abs() < 1e-12);
        // All equal counts: zero tail.
        assert_eq!(hill_estimator(&[4; 10], 3), 0.0);
        // Its terms: top (ln 8 + ln 4)/2 = 2.5 ln 2 and threshold X_(3) = 2.
        let t = hill_terms(&[1, 0, 7, 0, 3], 2);
        assert_eq!(t.threshold, 2);
        assert!((t.top - 2.5 * 2f64.ln()).abs() < 1e-12);
        assert_eq!(t.hill(), h);
    }

    /// Which term moves TID. Training counts 9 (5 points), 4 (5), 0 (10); k = 5: top ln 10,
    /// threshold 5, H = ln 2. A generated set with the same clumps but its middle emptied
    /// (the 4s become 0s: isolated points) has threshold 1 and H = ln 10: TID = ln 5 with the top
    /// unchanged. A set with denser clumps (9s become 39s) and the same middle: top ln 40,
    /// threshold 5, TID = ln 4 with the threshold unchanged.
    #[test]
    fn tid_rises_by_either_term() {
        let counts =
            |a: u32, b: u32| -> Vec<u32> { [vec![a; 5], vec![b; 5], vec![0; 10]].concat() };
        let train = hill_terms(&counts(9, 4), 5);
        assert_eq!(train.threshold, 5);
        assert!((train.hill() - 2f64.ln()).abs() < 1e-12);
        let isolated = hill_terms(&counts(9, 0), 5);
        assert_eq!(isolated.threshold, 1);
        assert!((isolated.top - train.top).abs() < 1e-12);
        assert!((isolated.hill() - train.hill() - 5f64.ln()).abs() < 1e-12);
        let clumped = hill_terms(&counts(39, 4), 5);
        assert_eq!(clumped.threshold, train.threshold);
        assert!((clumped.hill() - train.hill() - 4f64.ln()).abs() < 1e-12);
    }

    /// Two independent draws of the same distribution: TID ≈ 0. Over 20 seed pairs at n = 4,000
    /// the null spread measured here is sd ≈ 0.01–0.02 at ε = 0.1, 0.2 (chessboard, ring MoG);
    /// 0.1 is ≥ 4.5 sd.
    #[test]
    fn identical_distributions_give_tid_near_zero() {
        for spec in [DatasetSpec::Chessboard, DatasetSpec::RingMog] {
            let mut sum = 0.0;
            for seed in 0..6 {
                let a = spec.generate(4000, 100 + seed);
                let b = spec.generate(4000, 200 + seed);
                for p in tid_curve(&a, &b, &[0.1, 0.2], None).unwrap() {
                    assert!(p.tid.abs() < 0.1, "{spec:?} seed {seed}: {p:?}");
                    assert!(!p.unreliable);
                    sum += p.tid;
                }
            }
            assert!(
                (sum / 12.0).abs() < 0.03,
                "{spec:?}: mean TID {}",
                sum / 12.0
            );
        }
    }

    /// Snapping 30% of the points onto 20 centres (Zipf-sized clumps, as collapse makes them) is
    /// a concentrated set: TID ≈ 0.41 at ε ≤ 0.1, over ten null standard deviations. (At
    /// ε = 0.2 the ring's own neighbourhoods hold ~250 points and the clumps stand out less.)
    #[test]
    fn clumped_set_gives_positive_tid() {
        let train = DatasetSpec::RingMog.generate(4000, 1);
        let mut clumped = DatasetSpec::RingMog.generate(4000, 2);
        let centres: Vec<[f32; 2]> = (0..20)
            .map(|c| [clumped.row(c)[0], clumped.row(c)[1]])
            .collect();
        // Centre c takes a share ∝ 1/(c+1) of the 1,200 snapped points.
        let harmonic: f64 = (1..=20).map(|c| 1.0 / c as f64).sum();
        let mut i = 0;
        for (c, centre) in centres.iter().enumerate() {
            let size = (1200.0 / harmonic / (c + 1) as f64).round() as usize;
            for _ in 0..size {
                clumped.data[2 * i] = centre[0];
                clumped.data[2 * i + 1] = centre[1];
                i += 1;
            }
        }
        assert!(i >= 1190, "{i} snapped");
        for p in tid_curve(&train, &clumped, &[0.02, 0.05, 0.1], None).unwrap() {
            assert!(p.tid > 0.3, "{p:?}");
        }
    }

    #[test]
    fn errors_are_clear() {
        let a = Points::new(3, 2, vec![0.0; 6]);
        let b = Points::new(3, 1, vec![0.0; 3]);
        assert_eq!(
            tid_curve(&a, &b, &[0.1], None),
            Err(TidError::DimensionMismatch {
                train: 2,
                generated: 1
            })
        );
        assert!(matches!(
            tid_curve(&a, &a, &[-1.0], None),
            Err(TidError::BadRadius(_))
        ));
        let e = tid_curve(&a, &a, &[0.1], Some(5)).unwrap_err().to_string();
        assert!(e.contains("needs at least 6"), "{e}");
    }

    /// At a radius so small that nobody has a neighbour, the curve says it is unreliable.
    #[test]
    fn degenerate_radius_is_flagged() {
        let a = DatasetSpec::Chessboard.generate(1000, 1);
        let b = DatasetSpec::Chessboard.generate(1000, 2);
        let p = &tid_curve(&a, &b, &[1e-7], None).unwrap()[0];
        assert!(p.unreliable && p.zero_fraction_train > 0.99);
    }
}
