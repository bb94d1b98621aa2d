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

/// Noise std of the spiral and semicircles datasets.
const CURVE_NOISE: f64 = 0.1;

/// A dataset by name, as the CLI, sweep files and the app's panel give it; [`DatasetKind::spec`]
/// adds the dimension of `mog`. Its variants are the one list of known datasets.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// 2D, uniform on the 8 even cells of a 4x4 board on [-2,2]^2.
    #[default]
    Chessboard,
    /// 2D, theta~U[0,4pi], r=theta/(2pi), + N(0, 0.1^2).
    Spiral,
    /// 2D, two moons (sklearn layout), + N(0, 0.1^2).
    Semicircles,
    /// 2D, 6 equal Gaussians on a circle of radius 2, std 0.2 (exact score).
    RingMog,
    /// d-D, 1/2 N(-1, s^2 I) + 1/2 N(+1, s^2 I), s=0.1; --dim D (default 10) (exact score).
    Mog,
    /// 1D, the same as mog --dim 1 (exact score).
    Mog1d,
}

/// A dataset name that does not fit its dimension.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DatasetError {
    /// A fixed-dimension dataset was given another `--dim`.
    #[error("dataset '{name}' has dimension {dim}, not --dim {asked}")]
    WrongDim {
        /// The dataset's name.
        name: &'static str,
        /// Its dimension.
        dim: usize,
        /// The dimension asked for.
        asked: usize,
    },
    /// `mog` with `--dim 0`.
    #[error("--dim must be at least 1")]
    ZeroDim,
    /// A name that is not a dataset.
    #[error("unknown dataset '{name}'; known: {known}")]
    Unknown {
        /// What was given.
        name: String,
        /// The known names.
        known: String,
    },
}

impl DatasetKind {
    /// Every dataset, in display order.
    pub const ALL: [DatasetKind; 6] = [
        Self::Chessboard,
        Self::Spiral,
        Self::Semicircles,
        Self::RingMog,
        Self::Mog,
        Self::Mog1d,
    ];

    /// CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Chessboard => "chessboard",
            Self::Spiral => "spiral",
            Self::Semicircles => "semicircles",
            Self::RingMog => "ring-mog",
            Self::Mog => "mog",
            Self::Mog1d => "mog1d",
        }
    }

    /// One line on what it is (the `datasets` command).
    pub fn description(self) -> &'static str {
        match self {
            Self::Chessboard => "2D, uniform on the 8 even cells of a 4x4 board on [-2,2]^2",
            Self::Spiral => "2D, theta~U[0,4pi], r=theta/(2pi), + N(0, 0.1^2)",
            Self::Semicircles => "2D, two moons (sklearn layout), + N(0, 0.1^2)",
            Self::RingMog => "2D, 6 equal Gaussians on a circle of radius 2, std 0.2 (exact score)",
            Self::Mog => {
                "d-D, 1/2 N(-1, s^2 I) + 1/2 N(+1, s^2 I), s=0.1; --dim D (default 10) (exact score)"
            }
            Self::Mog1d => "1D, the same as mog --dim 1 (exact score)",
        }
    }

    /// The known names, comma separated (for messages).
    pub fn known() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// The dataset; `dim` applies to `mog` (default 10) and must match the others' if given.
    pub fn spec(self, dim: Option<usize>) -> Result<DatasetSpec, DatasetError> {
        let spec = match self {
            Self::Chessboard => DatasetSpec::Chessboard,
            Self::Spiral => DatasetSpec::Spiral,
            Self::Semicircles => DatasetSpec::Semicircles,
            Self::RingMog => DatasetSpec::RingMog,
            Self::Mog1d => DatasetSpec::Mog { dim: 1, std: 0.1 },
            Self::Mog => {
                return match dim.unwrap_or(10) {
                    0 => Err(DatasetError::ZeroDim),
                    d => Ok(DatasetSpec::Mog { dim: d, std: 0.1 }),
                };
            }
        };
        match dim {
            Some(asked) if asked != spec.dim() => Err(DatasetError::WrongDim {
                name: self.name(),
                dim: spec.dim(),
                asked,
            }),
            _ => Ok(spec),
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = DatasetError;
    fn from_str(name: &str) -> Result<Self, DatasetError> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| DatasetError::Unknown {
                name: name.to_string(),
                known: Self::known(),
            })
    }
}

impl DatasetSpec {
    /// Parses a CLI name; `dim` applies to `mog` (and must be 1 for `mog1d` if given).
    pub fn from_name(name: &str, dim: Option<usize>) -> Result<Self, DatasetError> {
        name.parse::<DatasetKind>()?.spec(dim)
    }

    /// The name this dataset is chosen by, with the dimension that `mog` needs.
    pub fn kind(&self) -> (DatasetKind, Option<usize>) {
        match self {
            Self::Chessboard => (DatasetKind::Chessboard, None),
            Self::Spiral => (DatasetKind::Spiral, None),
            Self::Semicircles => (DatasetKind::Semicircles, None),
            Self::RingMog => (DatasetKind::RingMog, None),
            Self::Mog { dim: 1, .. } => (DatasetKind::Mog1d, None),
            Self::Mog { dim, .. } => (DatasetKind::Mog, Some(*dim)),
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
        for name in DatasetKind::ALL.map(DatasetKind::name) {
            let spec = DatasetSpec::from_name(name, None).unwrap();
            if name != "mog" {
                assert_eq!(spec.name(), name);
            }
        }
        assert!(DatasetSpec::from_name("spiral", Some(3)).is_err());
        assert!(DatasetSpec::from_name("nope", None).is_err());
        // The CLI, the sweep files and the messages spell every name the same way.
        for k in DatasetKind::ALL {
            let clap_name = clap::ValueEnum::to_possible_value(&k).unwrap();
            assert_eq!(clap_name.get_name(), k.name());
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
            assert_eq!(k.name().parse::<DatasetKind>().unwrap(), k);
            let spec = k.spec(None).unwrap();
            assert_eq!(spec.kind().0, k);
        }
        assert_eq!(
            DatasetSpec::from_name("mog", Some(5)).unwrap().kind(),
            (DatasetKind::Mog, Some(5))
        );
    }
}
