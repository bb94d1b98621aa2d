//! Reference metrics beside TID (issue #24): precision, recall, density and coverage (Naeem
//! et al. 2020, "Reliable fidelity and diversity metrics for generative models", k-NN balls
//! as their reference implementation `prdc` computes them) and the energy distance (Székely
//! and Rizzo), from the same canonical distances TID's neighbour counts use.
//!
//! With real points `r_i`, fake points `f_j`, and `ρ_i` (`φ_j`) the distance from `r_i` (`f_j`)
//! to its k-th nearest other real (fake) point:
//! - precision `= mean_j [∃ i: ‖r_i − f_j‖ < ρ_i]` (fake points inside the real manifold);
//! - recall `= mean_i [∃ j: ‖r_i − f_j‖ < φ_j]` (real points inside the fake manifold);
//! - density `= (1/k) mean_j Σ_i [‖r_i − f_j‖ < ρ_i]` (1 for matching distributions, above 1
//!   where fakes crowd into dense real regions);
//! - coverage `= mean_i [min_j ‖r_i − f_j‖ < ρ_i]`;
//! - energy distance `= 2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖` (≥ 0, 0 only for equal laws), the
//!   within-set means over distinct pairs.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::neighbours::squared_distance;
use crate::data::Points;

/// The k of the k-NN balls (Naeem et al.'s default).
pub const PRDC_K: usize = 5;

/// Precision, recall, density, coverage and the energy distance of a generated set against a
/// real one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceMetrics {
    /// Fraction of generated points inside some real point's k-NN ball.
    pub precision: f64,
    /// Fraction of real points inside some generated point's k-NN ball.
    pub recall: f64,
    /// Mean number of real k-NN balls holding a generated point, over k.
    pub density: f64,
    /// Fraction of real points whose k-NN ball holds a generated point.
    pub coverage: f64,
    /// The energy distance.
    pub energy_distance: f64,
}

/// The k-NN balls of a set: the distance from every point to its k-th nearest other point of
/// the set, and the mean distance over distinct pairs (the energy distance's within-set term).
/// A reference set's balls serve every generated set measured against it
/// ([`reference_metrics_with`]).
#[derive(Clone, Debug)]
pub struct KnnBalls {
    k: usize,
    radii: Vec<f64>,
    mean_distance: f64,
}

impl KnnBalls {
    /// The balls of `p` (more than `k ≥ 1` points). Row by row, in parallel, with one reused
    /// buffer per thread: no `n × n` matrix is held (at 2,000 points that was 32 MB per set and
    /// most of the time).
    ///
    /// # Panics
    /// When `p` has `k` points or fewer, or `k` is 0.
    pub fn new(p: &Points, k: usize) -> Self {
        assert!(k >= 1 && p.n > k, "KnnBalls: k = {k} for {} points", p.n);
        let rows: Vec<(f64, f64)> = (0..p.n)
            .into_par_iter()
            .map_init(
                || Vec::with_capacity(p.n),
                |others: &mut Vec<f64>, i| {
                    let x = p.row(i);
                    others.clear();
                    others.extend(
                        (0..p.n)
                            .filter(|&j| j != i)
                            .map(|j| squared_distance(x, p.row(j)).sqrt()),
                    );
                    let sum = others.iter().sum::<f64>();
                    others.select_nth_unstable_by(k - 1, f64::total_cmp);
                    (others[k - 1], sum)
                },
            )
            .collect();
        let n = p.n as f64;
        let mean_distance = rows.iter().map(|r| r.1).sum::<f64>() / (n * (n - 1.0));
        Self {
            k,
            radii: rows.into_iter().map(|r| r.0).collect(),
            mean_distance,
        }
    }
}

/// What one real point contributes: the fakes inside its ball, whether it lies in some fake's
/// ball, and its distances to every fake, summed.
struct RealRow {
    inside: usize,
    recalled: bool,
    sum: f64,
}

/// The metrics of `fake` against `real` with k-NN balls of `k` (both sets need more than `k`
/// points and the same dimension; callers check).
///
/// # Panics
/// When a set has `k` points or fewer, or the dimensions differ.
pub fn reference_metrics(real: &Points, fake: &Points, k: usize) -> ReferenceMetrics {
    // The checks are `KnnBalls::new`'s (k, the real set) and `reference_metrics_with`'s.
    reference_metrics_with(real, &KnnBalls::new(real, k), fake)
}

/// [`reference_metrics`] with the real set's balls already computed (`real_balls` from
/// `KnnBalls::new(real, k)`), at their `k`.
///
/// # Panics
/// When the balls are not `real`'s (their number), `fake` has `k` points or fewer, or the
/// dimensions differ.
pub fn reference_metrics_with(
    real: &Points,
    real_balls: &KnnBalls,
    fake: &Points,
) -> ReferenceMetrics {
    let k = real_balls.k;
    assert!(
        real_balls.radii.len() == real.n && fake.n > k && real.d == fake.d,
        "reference_metrics: k = {k} for sets of {} and {} points ({} balls)",
        real.n,
        fake.n,
        real_balls.radii.len()
    );
    let fake_balls = KnnBalls::new(fake, k);
    let (rho, within_real) = (&real_balls.radii, real_balls.mean_distance);
    let (phi, within_fake) = (&fake_balls.radii, fake_balls.mean_distance);
    let (n_r, n_f) = (real.n as f64, fake.n as f64);
    let rows: Vec<RealRow> = (0..real.n)
        .into_par_iter()
        .map(|i| {
            let r = real.row(i);
            let mut row = RealRow {
                inside: 0,
                recalled: false,
                sum: 0.0,
            };
            for (j, &phi_j) in phi.iter().enumerate() {
                let v = squared_distance(r, fake.row(j)).sqrt();
                row.sum += v;
                row.inside += usize::from(v < rho[i]);
                row.recalled |= v < phi_j;
            }
            row
        })
        .collect();
    // A fake is precise when some real ball holds it; most are, after the first few reals.
    let precise = (0..fake.n)
        .into_par_iter()
        .filter(|&j| {
            let f = fake.row(j);
            (0..real.n).any(|i| squared_distance(real.row(i), f).sqrt() < rho[i])
        })
        .count();
    let recall = rows.iter().filter(|r| r.recalled).count() as f64 / n_r;
    let inside: usize = rows.iter().map(|r| r.inside).sum();
    let coverage = rows.iter().filter(|r| r.inside > 0).count() as f64 / n_r;
    let between = rows.iter().map(|r| r.sum).sum::<f64>() / (n_r * n_f);
    ReferenceMetrics {
        precision: precise as f64 / n_f,
        recall,
        density: inside as f64 / (k as f64 * n_f),
        coverage,
        energy_distance: 2.0 * between - within_real - within_fake,
    }
}

/// The mean of each metric over `sets` (one per protocol repeat).
pub fn mean_metrics(sets: &[ReferenceMetrics]) -> ReferenceMetrics {
    let n = sets.len().max(1) as f64;
    let mean = |f: fn(&ReferenceMetrics) -> f64| sets.iter().map(f).sum::<f64>() / n;
    ReferenceMetrics {
        precision: mean(|m| m.precision),
        recall: mean(|m| m.recall),
        density: mean(|m| m.density),
        coverage: mean(|m| m.coverage),
        energy_distance: mean(|m| m.energy_distance),
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    /// By hand, k = 1: reals at 0, 1, …, n − 1 (every ρ = 1) and fakes halfway between, at
    /// 0.5 … n − 0.5 (every φ = 1). Every fake lies 0.5 from a real: precision, recall and
    /// coverage 1; every fake but the last lies within 1 of two reals: density (2(n − 1) + 1)/n.
    /// Energy distance of the two lattices: by direct sums in f64.
    #[test]
    fn lattices_by_hand() {
        let n = 50;
        let real = Points::new(n, 1, (0..n).map(|i| i as f32).collect());
        let fake = Points::new(n, 1, (0..n).map(|i| i as f32 + 0.5).collect());
        let m = reference_metrics(&real, &fake, 1);
        assert_eq!((m.precision, m.recall, m.coverage), (1.0, 1.0, 1.0));
        let want = (2.0 * (n as f64 - 1.0) + 1.0) / n as f64;
        assert!((m.density - want).abs() < 1e-12, "{}", m.density);
        let mut between = 0.0;
        let mut within = 0.0;
        for i in 0..n {
            for j in 0..n {
                between += (i as f64 - j as f64 - 0.5).abs();
                if i != j {
                    within += (i as f64 - j as f64).abs();
                }
            }
        }
        let nn = n as f64;
        let want = 2.0 * between / (nn * nn) - 2.0 * within / (nn * (nn - 1.0));
        assert!(
            (m.energy_distance - want).abs() < 1e-9,
            "{} vs {want}",
            m.energy_distance
        );
    }

    /// Far-apart sets: nothing of one lies in the other's balls; the energy distance is about
    /// twice the gap.
    #[test]
    fn disjoint_sets_score_zero() {
        let real = Points::new(20, 1, (0..20).map(|i| i as f32 * 0.01).collect());
        let fake = Points::new(20, 1, (0..20).map(|i| 100.0 + i as f32 * 0.01).collect());
        let m = reference_metrics(&real, &fake, 3);
        assert_eq!(
            (m.precision, m.recall, m.density, m.coverage),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert!(
            (m.energy_distance - 200.0).abs() < 0.5,
            "{}",
            m.energy_distance
        );
    }

    /// The energy distance of N(0, 1) and N(1, 1) in closed form: with `E|N(m, s²)| =
    /// s √(2/π) e^{−m²/2s²} + m (1 − 2Φ(−m/s))`, `2 E|X − Y| − 2 E|X − X'|` = 2·1.399282 −
    /// 2·1.128379 = 0.541806. From 2,000 draws each the U-statistic's spread is about 0.02.
    #[test]
    fn energy_distance_of_two_gaussians() {
        let mut rng = StdRng::seed_from_u64(8);
        let mut draw = |shift: f64| {
            let v: Vec<f32> = (0..2000)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    (z + shift) as f32
                })
                .collect();
            Points::new(2000, 1, v)
        };
        let (a, b, c) = (draw(0.0), draw(1.0), draw(0.0));
        let m = reference_metrics(&a, &b, PRDC_K);
        assert!(
            (m.energy_distance - 0.541806).abs() < 0.08,
            "{}",
            m.energy_distance
        );
        // The same law: near 0; precision, recall and coverage near 1, density near 1.
        let same = reference_metrics(&a, &c, PRDC_K);
        assert!(
            same.energy_distance.abs() < 0.02,
            "{}",
            same.energy_distance
        );
        for v in [same.precision, same.recall, same.coverage] {
            assert!(v > 0.9, "{same:?}");
        }
        assert!((same.density - 1.0).abs() < 0.15, "{same:?}");
    }
}
