//! Datasets and readers (SPEC §5): plain Rust point sets, no tensors.

mod datasets;
pub mod io;
mod mixture;
pub mod picture;

pub use datasets::{DatasetError, DatasetKind, DatasetSpec};
pub use io::{ParseError, ReadError, read_points, write_npy};
pub use mixture::GaussianMixture;

/// A finite set of `n` points in `d` dimensions, row-major (`[n, d]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    /// Number of points.
    pub n: usize,
    /// Dimension of each point.
    pub d: usize,
    /// Coordinates, row-major: point `i` is `data[i*d..(i+1)*d]`.
    pub data: Vec<f32>,
}

impl Points {
    /// Wraps row-major data. Panics if `data.len() != n * d` (a bug, not bad input).
    pub fn new(n: usize, d: usize, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            n * d,
            "Points::new: {} values for [{n}, {d}]",
            data.len()
        );
        Self { n, d, data }
    }

    /// Point `i` as a slice of length `d`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// Per-coordinate mean.
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.d];
        for i in 0..self.n {
            for (mk, &x) in m.iter_mut().zip(self.row(i)) {
                *mk += x as f64;
            }
        }
        m.iter_mut().for_each(|v| *v /= self.n.max(1) as f64);
        m
    }

    /// Per-coordinate standard deviation (ddof 0).
    pub fn std(&self) -> Vec<f64> {
        let m = self.mean();
        let mut v = vec![0.0; self.d];
        for i in 0..self.n {
            for ((vk, &x), mk) in v.iter_mut().zip(self.row(i)).zip(&m) {
                *vk += (x as f64 - mk).powi(2);
            }
        }
        v.iter()
            .map(|s| (s / self.n.max(1) as f64).sqrt())
            .collect()
    }

    /// A random subset of `m` distinct points (all points, in order, if `m >= n`).
    pub fn subset(&self, m: usize, seed: u64) -> Points {
        use rand::SeedableRng;
        use rand::seq::index::sample;
        if m >= self.n {
            return self.clone();
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut idx = sample(&mut rng, self.n, m).into_vec();
        idx.sort_unstable();
        let mut data = Vec::with_capacity(m * self.d);
        for i in idx {
            data.extend_from_slice(self.row(i));
        }
        Points::new(m, self.d, data)
    }

    /// True if every coordinate is finite.
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }
}
