//! Diagnostics on recorded trajectories (SPEC §7): density evolution and error covariance.

use serde::Serialize;

/// The `(t × x)` density image of one coordinate of a trajectory (paper Fig. 6).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DensityEvolution {
    /// Times of the rows.
    pub times: Vec<f64>,
    /// Left edge of the first bin.
    pub x_min: f64,
    /// Right edge of the last bin.
    pub x_max: f64,
    /// Number of bins per row.
    pub bins: usize,
    /// Densities, `[times.len(), bins]` row-major; each row integrates to the fraction of
    /// particles inside `[x_min, x_max]`.
    pub density: Vec<f32>,
}

impl DensityEvolution {
    /// Histograms coordinate `coord` of a trajectory `[steps + 1, n, d]` at every recorded time.
    pub fn from_trajectory(
        trajectory: &[f32],
        times: &[f64],
        n: usize,
        d: usize,
        coord: usize,
        (x_min, x_max): (f64, f64),
        bins: usize,
    ) -> Self {
        assert!(
            coord < d && bins > 0 && x_max > x_min,
            "bad density-evolution arguments"
        );
        assert_eq!(trajectory.len(), times.len() * n * d, "trajectory shape");
        let width = (x_max - x_min) / bins as f64;
        let mut density = vec![0f32; times.len() * bins];
        for (row, state) in density
            .chunks_exact_mut(bins)
            .zip(trajectory.chunks_exact(n * d))
        {
            for p in state.chunks_exact(d) {
                let b = ((p[coord] as f64 - x_min) / width).floor();
                if b >= 0.0 && (b as usize) < bins {
                    row[b as usize] += 1.0;
                }
            }
            let norm = 1.0 / (n as f64 * width);
            row.iter_mut().for_each(|v| *v = (*v as f64 * norm) as f32);
        }
        Self {
            times: times.to_vec(),
            x_min,
            x_max,
            bins,
            density,
        }
    }
}

/// Error covariance along trajectories (paper Fig. 5b): `errors` is `[T, M, d]` (the velocity
/// error `e_m(t_k)` of trajectory `m` at time `t_k`); returns `C` `[T, T]` with
/// `C_kl = Cov_m(e_m(t_k), e_m(t_l))` (ddof 1) per coordinate, averaged over coordinates.
pub fn error_covariance(errors: &[f32], times: usize, m: usize, d: usize) -> Vec<f64> {
    assert_eq!(errors.len(), times * m * d, "error tensor shape");
    assert!(m >= 2, "covariance needs at least two trajectories");
    let at = |k: usize, j: usize, c: usize| errors[(k * m + j) * d + c] as f64;
    // Centre each (time, coordinate) over trajectories.
    let mut centred = vec![0f64; times * m * d];
    for k in 0..times {
        for c in 0..d {
            let mean = (0..m).map(|j| at(k, j, c)).sum::<f64>() / m as f64;
            for j in 0..m {
                centred[(k * d + c) * m + j] = at(k, j, c) - mean;
            }
        }
    }
    let mut cov = vec![0f64; times * times];
    for k in 0..times {
        for l in k..times {
            let mut acc = 0.0;
            for c in 0..d {
                let a = &centred[(k * d + c) * m..(k * d + c + 1) * m];
                let b = &centred[(l * d + c) * m..(l * d + c + 1) * m];
                acc += a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
            }
            let v = acc / ((m - 1) as f64 * d as f64);
            cov[k * times + l] = v;
            cov[l * times + k] = v;
        }
    }
    cov
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_rows_integrate_to_one() {
        // 2 times, 4 particles in 1D.
        let tr = [0.1, 0.2, 0.6, 0.9, -5.0, 0.5, 0.5, 0.5];
        let de = DensityEvolution::from_trajectory(&tr, &[1.0, 0.0], 4, 1, 0, (0.0, 1.0), 2);
        assert_eq!(de.density, vec![1.0, 1.0, 0.0, 1.5]);
        let integral: f64 = de.density[..2].iter().map(|&v| v as f64 * 0.5).sum();
        assert!((integral - 1.0).abs() < 1e-6);
    }

    /// Errors e(t_k) = a_m · k with a_m of sample variance s²: C_kl = s² k l.
    #[test]
    fn covariance_closed_form() {
        let a = [1.0f32, -1.0, 2.0, 0.0];
        let (times, m) = (3, 4);
        let mean = 0.5;
        let s2 = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / 3.0;
        let errors: Vec<f32> = (0..times)
            .flat_map(|k| a.iter().map(move |&x| x * k as f32))
            .collect();
        let c = error_covariance(&errors, times, m, 1);
        for k in 0..times {
            for l in 0..times {
                assert!((c[k * times + l] - s2 * (k * l) as f64).abs() < 1e-9);
            }
        }
    }
}
