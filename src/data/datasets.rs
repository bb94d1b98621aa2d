//! The synthetic datasets of SPEC §5, each a finite set drawn once from a seed.

use std::f64::consts::PI;

use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{GaussianMixture, Points};

/// Which synthetic distribution a dataset is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum DatasetSpec {
    /// 4×4 board of unit cells on `[−2, 2]²`, uniform in the 8 cells with `⌊x⌋ + ⌊y⌋` even.
    Chessboard,
    /// `θ ~ U[0, 4π]`, `r = 2θ/(4π)`, `(r cos θ, r sin θ) + N(0, 0.1²)`.
    Spiral,
    /// scikit-learn's two moons, evenly spaced angles, `+ N(0, 0.1²)`.
    Semicircles,
    /// 6 equal components, means on a circle of radius 2, std 0.2.
    RingMog,
    /// `½ N(−1_d, s² I) + ½ N(+1_d, s² I)`; `dim = 1` is the 1D MoG.
    Mog {
        /// Dimension `d`.
        dim: usize,
        /// Per-coordinate component std `s` (0.1 by default).
        std: f64,
    },
}

/// Why [`DatasetSpec::from_name`] rejected a name.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DatasetNameError {
    /// No dataset has this name; the message lists the known ones.
    #[error("unknown dataset '{name}'; known: {}", known_names())]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// A fixed-dimension dataset was asked for with another `--dim`.
    #[error("dataset '{name}' has dimension {dim}, not --dim {requested}")]
    WrongDim {
        /// The dataset.
        name: String,
        /// Its dimension.
        dim: usize,
        /// The `--dim` asked for.
        requested: usize,
    },
    /// `mog` was asked for with `--dim 0`.
    #[error("--dim must be at least 1")]
    ZeroDim,
}

/// The CLI names of [`DatasetSpec::CATALOGUE`], comma separated.
fn known_names() -> String {
    DatasetSpec::CATALOGUE.map(|(n, _)| n).join(", ")
}

/// Noise std of the spiral and semicircles datasets.
const CURVE_NOISE: f64 = 0.1;

impl DatasetSpec {
    /// All CLI names with a one-line description.
    pub const CATALOGUE: [(&'static str, &'static str); 6] = [
        (
            "chessboard",
            "2D, uniform on the 8 even cells of a 4x4 board on [-2,2]^2",
        ),
        ("spiral", "2D, theta~U[0,4pi], r=theta/(2pi), + N(0, 0.1^2)"),
        (
            "semicircles",
            "2D, two moons (sklearn layout), + N(0, 0.1^2)",
        ),
        (
            "ring-mog",
            "2D, 6 equal Gaussians on a circle of radius 2, std 0.2 (exact score)",
        ),
        (
            "mog",
            "d-D, 1/2 N(-1, s^2 I) + 1/2 N(+1, s^2 I), s=0.1; --dim D (default 10) (exact score)",
        ),
        ("mog1d", "1D, the same as mog --dim 1 (exact score)"),
    ];

    /// Parses a CLI name; `dim` applies to `mog` (and must be 1 for `mog1d` if given).
    pub fn from_name(name: &str, dim: Option<usize>) -> Result<Self, DatasetNameError> {
        let fixed = |spec: Self| match dim {
            Some(d) if d != spec.dim() => Err(DatasetNameError::WrongDim {
                name: name.to_string(),
                dim: spec.dim(),
                requested: d,
            }),
            _ => Ok(spec),
        };
        match name {
            "chessboard" => fixed(Self::Chessboard),
            "spiral" => fixed(Self::Spiral),
            "semicircles" => fixed(Self::Semicircles),
            "ring-mog" => fixed(Self::RingMog),
            "mog1d" => fixed(Self::Mog { dim: 1, std: 0.1 }),
            "mog" => match dim.unwrap_or(10) {
                0 => Err(DatasetNameError::ZeroDim),
                d => Ok(Self::Mog { dim: d, std: 0.1 }),
            },
            other => Err(DatasetNameError::Unknown {
                name: other.to_string(),
            }),
        }
    }

    /// CLI name.
    pub fn name(&self) -> String {
        match self {
            Self::Chessboard => "chessboard".into(),
            Self::Spiral => "spiral".into(),
            Self::Semicircles => "semicircles".into(),
            Self::RingMog => "ring-mog".into(),
            Self::Mog { dim: 1, .. } => "mog1d".into(),
            Self::Mog { dim, .. } => format!("mog{dim}d"),
        }
    }

    /// Data dimension.
    pub fn dim(&self) -> usize {
        match self {
            Self::Mog { dim, .. } => *dim,
            _ => 2,
        }
    }

    /// The mixture this dataset is drawn from, when it is one (then the exact score exists).
    pub fn mixture(&self) -> Option<GaussianMixture> {
        match *self {
            Self::RingMog => Some(GaussianMixture {
                weights: vec![1.0 / 6.0; 6],
                means: (0..6)
                    .map(|k| {
                        let a = 2.0 * PI * k as f64 / 6.0;
                        vec![2.0 * a.cos(), 2.0 * a.sin()]
                    })
                    .collect(),
                stds: vec![0.2; 6],
            }),
            Self::Mog { dim, std } => Some(GaussianMixture {
                weights: vec![0.5, 0.5],
                means: vec![vec![-1.0; dim], vec![1.0; dim]],
                stds: vec![std; 2],
            }),
            _ => None,
        }
    }

    /// Draws the finite dataset of `n` points from `seed`.
    pub fn generate(&self, n: usize, seed: u64) -> Points {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = self.dim();
        let mut data = vec![0.0_f32; n * d];
        let normal = |rng: &mut StdRng| -> f64 { StandardNormal.sample(rng) };
        match self {
            Self::Chessboard => {
                // The 8 cells (i, j), i, j ∈ {−2, …, 1}, with i + j even.
                let cells: Vec<(f64, f64)> = (-2..2)
                    .flat_map(|i| (-2..2).map(move |j| (i, j)))
                    .filter(|(i, j): &(i32, i32)| (i + j).rem_euclid(2) == 0)
                    .map(|(i, j)| (i as f64, j as f64))
                    .collect();
                for p in data.chunks_exact_mut(2) {
                    let (cx, cy) = cells[rng.random_range(0..cells.len())];
                    p[0] = (cx + rng.random::<f64>()) as f32;
                    p[1] = (cy + rng.random::<f64>()) as f32;
                }
            }
            Self::Spiral => {
                for p in data.chunks_exact_mut(2) {
                    let theta = rng.random::<f64>() * 4.0 * PI;
                    let r = 2.0 * theta / (4.0 * PI);
                    p[0] = (r * theta.cos() + CURVE_NOISE * normal(&mut rng)) as f32;
                    p[1] = (r * theta.sin() + CURVE_NOISE * normal(&mut rng)) as f32;
                }
            }
            Self::Semicircles => {
                let n_upper = n / 2;
                let n_lower = n - n_upper;
                let spaced = |i: usize, m: usize| {
                    if m > 1 {
                        PI * i as f64 / (m - 1) as f64
                    } else {
                        0.0
                    }
                };
                let mut rows: Vec<[f32; 2]> = Vec::with_capacity(n);
                for i in 0..n_upper {
                    let th = spaced(i, n_upper);
                    rows.push([
                        (th.cos() + CURVE_NOISE * normal(&mut rng)) as f32,
                        (th.sin() + CURVE_NOISE * normal(&mut rng)) as f32,
                    ]);
                }
                for i in 0..n_lower {
                    let th = PI + spaced(i, n_lower);
                    rows.push([
                        (1.0 + th.cos() + CURVE_NOISE * normal(&mut rng)) as f32,
                        (0.5 + th.sin() + CURVE_NOISE * normal(&mut rng)) as f32,
                    ]);
                }
                rows.shuffle(&mut rng);
                data = rows.into_iter().flatten().collect();
            }
            Self::RingMog | Self::Mog { .. } => {
                let mix = self.mixture().expect("MoG datasets have a mixture");
                for p in data.chunks_exact_mut(d) {
                    mix.sample_into(&mut rng, p);
                }
            }
        }
        Points::new(n, d, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chessboard_lies_on_even_cells_uniformly() {
        let p = DatasetSpec::Chessboard.generate(40_000, 1);
        let mut counts = [0usize; 8];
        for i in 0..p.n {
            let (x, y) = (p.row(i)[0], p.row(i)[1]);
            assert!((-2.0..=2.0).contains(&x) && (-2.0..=2.0).contains(&y));
            let (fx, fy) = (x.floor() as i32, y.floor() as i32);
            assert_eq!((fx + fy).rem_euclid(2), 0, "point {x},{y} on an odd cell");
            let idx = ((fx + 2) * 4 + (fy + 2)) as usize / 2;
            counts[idx] += 1;
        }
        // Each of the 8 cells holds 1/8 of the points: binomial std = sqrt(n p (1−p)) ≈ 66.
        for c in counts {
            assert!((c as f64 - 5000.0).abs() < 5.0 * 66.2, "{counts:?}");
        }
    }

    #[test]
    fn mog_moments_match_mixture() {
        let spec = DatasetSpec::Mog { dim: 3, std: 0.1 };
        let n = 20_000;
        let p = spec.generate(n, 7);
        let (mean, var) = spec.mixture().unwrap().moments();
        for j in 0..3 {
            // mean 0, variance 1 + 0.01; std error of the mean sqrt(1.01/n) ≈ 0.0071.
            assert!((p.mean()[j] - mean[j]).abs() < 5.0 * (var[j] / n as f64).sqrt());
            assert!((p.std()[j].powi(2) - var[j]).abs() < 0.03);
        }
    }

    #[test]
    fn spiral_and_semicircles_have_expected_shape() {
        let s = DatasetSpec::Spiral.generate(10_000, 3);
        let max_r = (0..s.n)
            .map(|i| s.row(i)[0].hypot(s.row(i)[1]))
            .fold(0.0, f32::max);
        assert!(max_r < 2.0 + 5.0 * 0.1 && max_r > 1.9);
        let m = DatasetSpec::Semicircles.generate(10_000, 3);
        // Two moons: mean (0.5, 0.25) by symmetry of evenly spaced angles.
        let mean = m.mean();
        assert!(
            (mean[0] - 0.5).abs() < 0.01 && (mean[1] - 0.25).abs() < 0.01,
            "{mean:?}"
        );
    }

    #[test]
    fn same_seed_same_points() {
        for spec in [
            DatasetSpec::Chessboard,
            DatasetSpec::Spiral,
            DatasetSpec::RingMog,
        ] {
            assert_eq!(spec.generate(100, 5), spec.generate(100, 5));
            assert_ne!(spec.generate(100, 5), spec.generate(100, 6));
        }
    }

    #[test]
    fn names_round_trip() {
        for (name, _) in DatasetSpec::CATALOGUE {
            let spec = DatasetSpec::from_name(name, None).unwrap();
            if name != "mog" {
                assert_eq!(spec.name(), name);
            }
        }
        assert!(DatasetSpec::from_name("spiral", Some(3)).is_err());
        assert!(DatasetSpec::from_name("nope", None).is_err());
    }
}
