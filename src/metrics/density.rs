//! The density evolution of a recorded trajectory (SPEC §7, paper Fig. 6): the histogram of one
//! coordinate over all particles at every recorded time.

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
    /// The coordinate histogrammed (0-based).
    pub coord: usize,
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
            coord,
            density,
        }
    }
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
}
