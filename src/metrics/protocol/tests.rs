//! Tests of the TID protocol.

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

/// TID's blind spot, in closed form: a 2D standard normal contracted by s = 0.7 is
/// over-concentrated everywhere alike, the contracted density being `p(x/s)/s²`, so every
/// count, the top k's and `X_(k+1)` alike, is about 1/s² = 2.04 times the data's: the terms
/// move by ±ln 2.04 and TID, the Hill estimates being scale-free, stays at 0. In numbers:
/// the densest points sit near the centre, where a ball of radius ε holds the mass
/// `1 − exp(−ε²/2σ²)` of `N(0, σ² I)` exactly, so the top term moves by
/// `ln((1 + λ_s)/(1 + λ_1))` with `λ_σ = (m − 1)(1 − exp(−ε²/2σ²))`: 0.706 at ε = 0.1 and
/// 0.702 at 0.2 for subsets of m = 20,000 (the +1 of X = count + 1 and the ball's width pull
/// it from 0.713). Measured: 0.682 and 0.696 (the counts' Poisson noise lifts the top k of
/// the data, with fewer neighbours, a little more), the threshold term −0.677 and −0.688,
/// TID +0.005 and +0.008.
#[test]
fn a_contracted_gaussian_moves_both_terms_and_not_tid() {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let normal = |n: usize, scale: f32, seed: u64| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let data = (0..2 * n)
            .map(|_| {
                let z: f32 = StandardNormal.sample(&mut rng);
                scale * z
            })
            .collect::<Vec<f32>>();
        Points::new(n, 2, data)
    };
    let train = normal(50_000, 1.0, 1);
    let contracted = normal(50_000, 0.7, 2);
    let protocol = TidProtocol {
        points: 20_000,
        repeats: 2,
        ..TidProtocol::default()
    };
    let reference = TidReference::new(&train, &[0.1, 0.2], protocol).unwrap();
    for e in reference.measure(&contracted).unwrap() {
        let lambda = |sigma: f64| 19_999.0 * (1.0 - (-e.eps * e.eps / (2.0 * sigma * sigma)).exp());
        let want = ((1.0 + lambda(0.7)) / (1.0 + lambda(1.0))).ln();
        let split = e.split().unwrap();
        assert!((split.top - want).abs() < 0.04, "{split:?}, want {want}");
        assert!(
            (split.threshold + want).abs() < 0.04,
            "{split:?}, want {want}"
        );
        assert!(e.mean.abs() < 0.03, "{e:?}");
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
