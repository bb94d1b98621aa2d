//! Image-model analysis as plain functions (paper Fig. 1, 10 and App. A.1), for the CLI's
//! `images` command and the app: sampling any [`EpsilonModel`] into an [`ImageSet`] from shared
//! noise (chunked, with progress and cancellation), TID on pixels, exact L2 nearest neighbours,
//! and the paper's nearest-neighbour grid (rows ODE, SDE, training set; the query first).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::data::{ImageError, ImageSet, PixelScale, ReadOptions, Rgb8Image, read_images};
use super::procedural::{ShapesConfig, generate_shapes};
use crate::data::Points;
use crate::diffusion::{EpsilonModel, SamplerConfig, initial_noise, sample_from};
use crate::metrics::neighbours::{neighbour_counts, squared_distance};
use crate::metrics::{TidError, TidProtocol, TidReference};

/// Where a training image set comes from, recorded next to a trained U-Net so that its data can
/// be found again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ImageSource {
    /// [`generate_shapes`] with the default [`ShapesConfig`] at `size`.
    Procedural {
        /// Number of images.
        n: usize,
        /// Side length.
        size: usize,
        /// Seed.
        seed: u64,
    },
    /// Images read by [`read_images`] (training split).
    File {
        /// File or directory.
        path: PathBuf,
        /// Random subset of this many images, if any.
        n: Option<usize>,
        /// Seed of the subset.
        seed: u64,
        /// Resize to `size × size`, if given.
        size: Option<usize>,
        /// Convert to this many channels, if given.
        channels: Option<usize>,
    },
}

impl ImageSource {
    /// Reads or draws the images.
    pub fn load(&self) -> Result<ImageSet, ImageError> {
        match self {
            ImageSource::Procedural { n, size, seed } => {
                if *n == 0 || *size == 0 {
                    return Err(ImageError::Shape(format!(
                        "procedural set of {n} images of {size}×{size}"
                    )));
                }
                let config = ShapesConfig {
                    size: *size,
                    ..Default::default()
                };
                Ok(generate_shapes(*n, *seed, &config).0)
            }
            ImageSource::File {
                path,
                n,
                seed,
                size,
                channels,
            } => read_images(
                path,
                &ReadOptions {
                    subset: *n,
                    seed: *seed,
                    channels: *channels,
                    size: size.map(|s| (s, s)),
                    ..Default::default()
                },
            ),
        }
    }

    /// The source in a few words.
    pub fn describe(&self) -> String {
        match self {
            ImageSource::Procedural { n, size, seed } => {
                format!("procedural shapes ({n} images, {size}×{size}, seed {seed})")
            }
            ImageSource::File { path, n, .. } => match n {
                Some(n) => format!("{} ({n} images)", path.display()),
                None => path.display().to_string(),
            },
        }
    }
}

/// Sampling stopped because the cancel flag was raised.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("sampling cancelled after {done} of {total} images")]
pub struct Cancelled {
    /// Images finished before the flag was seen.
    pub done: usize,
    /// Images asked for.
    pub total: usize,
}

/// Why [`sample_images`] returned no images.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SamplingStopped {
    /// The cancel flag was raised.
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    /// A chunk's state stopped being finite.
    #[error(transparent)]
    NonFinite(#[from] crate::diffusion::NonFiniteSamples),
}

/// Geometry of the images a model works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// How model values map to pixels.
    pub scale: PixelScale,
}

impl ImageShape {
    /// `C·H·W`.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// Samples `n` images with `sampler` from the shared noise of `seed` (the same `x(t_0)` for
/// every sampler given the same `n` and `seed`, as SPEC §3 asks), in chunks of `chunk` images.
///
/// Chunk `j` draws its per-step noise from `seed + j`. `progress(done, total)` counts
/// image-steps (`total = n · steps`) and is called after every step. `cancel` is read between
/// steps' progress reports and chunks: a raised flag stops at the end of the current chunk.
/// Model values are mapped to pixels by `shape.scale` and clamped to `[0, 1]`. A chunk whose
/// state stops being finite ends the sampling with [`SamplingStopped::NonFinite`].
///
/// # Panics
/// If `shape.dim()` differs from the model's dimension (a bug; check sizes first).
#[allow(clippy::too_many_arguments)]
pub fn sample_images(
    model: &dyn EpsilonModel,
    sampler: &SamplerConfig,
    n: usize,
    seed: u64,
    chunk: usize,
    shape: ImageShape,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<ImageSet, SamplingStopped> {
    let d = shape.dim();
    assert_eq!(
        d,
        model.dim(),
        "sample_images: image shape vs model dimension"
    );
    let noise = initial_noise(n, d, seed);
    let chunk = chunk.max(1);
    let steps = model.process().grid(sampler.grid, sampler.steps).len() - 1;
    let total = n * steps;
    let mut data = Vec::with_capacity(n * d);
    let mut sampler = sampler.clone();
    sampler.record_trajectory = false;
    for (j, start) in noise.chunks(chunk * d).enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled {
                done: data.len() / d,
                total: n,
            }
            .into());
        }
        let m = start.len() / d;
        let done_before = (data.len() / d) * steps;
        let out = sample_from(
            model,
            &sampler,
            Points::new(m, d, start.to_vec()),
            seed.wrapping_add(j as u64),
            device,
            &mut |i, _| progress(done_before + i.min(steps) * m, total),
        )?;
        data.extend_from_slice(&out.samples.data);
    }
    let points = Points::new(n, d, data);
    let name = sampler.kind.name();
    Ok(ImageSet::from_points(
        format!("{name} samples"),
        &points,
        shape.channels,
        shape.height,
        shape.width,
        shape.scale,
    )
    .expect("shape checked against the model"))
}

/// The images as points `[n, C·H·W]` with pixels in `[0, 1]` (what TID is measured on).
pub fn pixel_points(images: &ImageSet) -> Points {
    images.to_points(PixelScale::Unit)
}

/// The training side of TID on pixels in `[0, 1]` (paper App. A.1) under `protocol`: its
/// training subsets are drawn from a random pool of `points × repeats` training images (all of
/// them when there are fewer), so a large image set is never turned into points whole. Measure
/// each generated set with `.measure(&pixel_points(set))`: equal-size subsets of both sets.
pub fn pixel_tid_reference(
    train: &ImageSet,
    eps: &[f64],
    protocol: TidProtocol,
) -> Result<TidReference, TidError> {
    let pool = train.subset(
        protocol.points.saturating_mul(protocol.repeats.max(1)),
        protocol.seed ^ 0x9001,
    );
    TidReference::new(&pixel_points(&pool), eps, protocol)
}

/// The number of images of each set that [`pixel_tid`] compares: `subset`, or the smaller set's
/// size when that is less.
pub fn tid_subset_size(train: &ImageSet, generated: &ImageSet, subset: usize) -> usize {
    subset.min(train.len()).min(generated.len())
}

/// The median distance from an image to its nearest other image, over `probes` images of a
/// random subset of `subset` images of `set` (drawn from `seed`): the scale at which a TID radius
/// means something for this data (at radii well below it most images have no neighbour and TID
/// is degenerate). `None` for sets of fewer than two images.
pub fn median_nn_distance(set: &ImageSet, subset: usize, probes: usize, seed: u64) -> Option<f64> {
    let pool = set.subset(subset, seed);
    if pool.len() < 2 {
        return None;
    }
    let step = (pool.len() / probes.max(1)).max(1);
    let mut d: Vec<f64> = (0..pool.len())
        .step_by(step)
        .filter_map(|i| {
            nearest_neighbours(pool.image(i), &pool, 1, Some(i))
                .first()
                .map(|n| n.distance)
        })
        .collect();
    d.sort_by(f64::total_cmp);
    Some(d[d.len() / 2])
}

/// The reference radius of a pixel TID that compares `m` images of each set: the median
/// nearest-neighbour distance among `m` training images ([`median_nn_distance`], 200 probes),
/// or 1 where that is undefined or zero (fewer than two distinct images).
pub fn reference_radius(train: &ImageSet, m: usize) -> f64 {
    median_nn_distance(train, m, 200, 11)
        .filter(|e| *e > 0.0)
        .unwrap_or(1.0)
}

/// `count` radii spaced evenly in log from `eps_ref / 3` to `3 · eps_ref` (a TID curve around a
/// reference radius such as [`median_nn_distance`]: below it most images have no neighbour, above
/// it nearly all are neighbours).
pub fn radii_around(eps_ref: f64, count: usize) -> Vec<f64> {
    let last = count.saturating_sub(1).max(1) as f64;
    (0..count)
        .map(|i| eps_ref / 3.0 * 9f64.powf(i as f64 / last))
        .collect()
}

/// Number of other images within `eps` (L2 on `[0, 1]` pixels) of each image, exactly
/// (SPEC §6's `N_ε`).
pub fn neighbour_counts_at(images: &ImageSet, eps: f64) -> Vec<u32> {
    neighbour_counts(&pixel_points(images), &[eps])
        .pop()
        .unwrap_or_default()
}

/// One neighbour: its index in the set and its L2 distance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Neighbour {
    /// Index in the searched set.
    pub index: usize,
    /// L2 distance on `[0, 1]` pixels.
    pub distance: f64,
}

/// The `k` images of `set` nearest to `query` (`[C, H, W]` pixels in `[0, 1]`) in L2, closest
/// first, ties by index; `exclude` leaves one index out (the query itself when it belongs to
/// `set`). Exact: every distance is computed (canonically, in `f64`), rows in parallel; 20,000
/// images of 768 values take a few milliseconds.
///
/// # Panics
/// If the query's length differs from the set's image length.
pub fn nearest_neighbours(
    query: &[f32],
    set: &ImageSet,
    k: usize,
    exclude: Option<usize>,
) -> Vec<Neighbour> {
    assert_eq!(
        query.len(),
        set.image_len(),
        "nearest_neighbours: query of {} values for images of {}",
        query.len(),
        set.image_len()
    );
    let mut all: Vec<(f64, usize)> = (0..set.len())
        .into_par_iter()
        .filter(|&i| Some(i) != exclude)
        .map(|i| (squared_distance(query, set.image(i)), i))
        .collect();
    let k = k.min(all.len());
    let cmp = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if k < all.len() && k > 0 {
        all.select_nth_unstable_by(k - 1, cmp);
    }
    all.truncate(k);
    all.sort_by(cmp);
    all.into_iter()
        .map(|(d2, index)| Neighbour {
            index,
            distance: d2.sqrt(),
        })
        .collect()
}

/// One row of a nearest-neighbour grid: the set searched and an index to leave out.
#[derive(Clone, Copy, Debug)]
pub struct NnRow<'a> {
    /// The set searched.
    pub set: &'a ImageSet,
    /// An index not to show (the query itself when it comes from this set).
    pub exclude: Option<usize>,
}

/// A nearest-neighbour grid laid out as the paper's Fig. 1 and 10: one row per entry of `rows`
/// (the paper: ODE samples, SDE samples, training set), the query in the first column, then its
/// `k` nearest neighbours in that row's set, closest first. Tiles are `scale × scale` blocks per
/// pixel with a 1-pixel white gap; a wider gap (`2 + scale`) separates the query column.
/// Returns the picture and the neighbours of every row.
///
/// # Panics
/// If the sets' image shapes differ from each other or from the query's length.
pub fn nn_grid(
    query: &[f32],
    rows: &[NnRow<'_>],
    k: usize,
    scale: usize,
) -> (Rgb8Image, Vec<Vec<Neighbour>>) {
    let first = rows.first().expect("nn_grid: at least one row").set;
    let (c, h, w) = (first.channels, first.height, first.width);
    for r in rows {
        assert!(
            (r.set.channels, r.set.height, r.set.width) == (c, h, w),
            "nn_grid: every row's images must have one shape"
        );
    }
    let neighbours: Vec<Vec<Neighbour>> = rows
        .iter()
        .map(|r| nearest_neighbours(query, r.set, k, r.exclude))
        .collect();
    // One image set holding every tile in grid order: each row is the query, then k neighbours
    // (missing neighbours, in sets smaller than k, stay blank).
    let per = c * h * w;
    let cols = k + 1;
    let mut pixels = Vec::with_capacity(rows.len() * cols * per);
    let mut filled = Vec::new();
    for (r, nb) in rows.iter().zip(&neighbours) {
        pixels.extend_from_slice(query);
        filled.push(true);
        for j in 0..k {
            match nb.get(j) {
                Some(n) => {
                    pixels.extend_from_slice(r.set.image(n.index));
                    filled.push(true);
                }
                None => {
                    pixels.extend(std::iter::repeat_n(1.0, per));
                    filled.push(false);
                }
            }
        }
    }
    let tiles = ImageSet::new("nn grid", c, h, w, pixels, None);
    let indices: Vec<usize> = (0..tiles.len()).collect();
    let plain = tiles.grid(&indices, cols, scale, 1);
    // Widen the gap after the query column.
    let scale = scale.max(1);
    let extra = 1 + scale;
    let split = 1 + w * scale + 1; // x where the second column's tile starts (gap 1)
    let width = plain.width + extra;
    let mut data = vec![255u8; width * plain.height * 3];
    for y in 0..plain.height {
        let src = &plain.data[y * plain.width * 3..(y + 1) * plain.width * 3];
        let dst = &mut data[y * width * 3..(y + 1) * width * 3];
        dst[..split * 3].copy_from_slice(&src[..split * 3]);
        dst[(split + extra) * 3..].copy_from_slice(&src[split * 3..]);
    }
    (
        Rgb8Image {
            width,
            height: plain.height,
            data,
        },
        neighbours,
    )
}

/// The paper's grid for query `query` of the ODE set: rows ODE (without the query itself), SDE
/// and training set, `k` neighbours each (paper: 7).
pub fn paper_nn_grid(
    query: usize,
    ode: &ImageSet,
    sde: &ImageSet,
    train: &ImageSet,
    k: usize,
    scale: usize,
) -> (Rgb8Image, Vec<Vec<Neighbour>>) {
    let rows = [
        NnRow {
            set: ode,
            exclude: Some(query),
        },
        NnRow {
            set: sde,
            exclude: None,
        },
        NnRow {
            set: train,
            exclude: None,
        },
    ];
    nn_grid(ode.image(query), &rows, k, scale)
}

/// Indices of `m` query images for nearest-neighbour grids: the images with the most neighbours
/// within `eps` (where a collapsed sampler piles its samples up), most first, ties by index.
pub fn densest_images(images: &ImageSet, eps: f64, m: usize) -> Vec<(usize, u32)> {
    let counts = neighbour_counts_at(images, eps);
    let mut order: Vec<(usize, u32)> = counts.into_iter().enumerate().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    order.truncate(m);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::{SamplerKind, sample};
    use crate::images::{UNet, UNetConfig};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn random_set(n: usize, c: usize, s: usize, seed: u64) -> ImageSet {
        let mut rng = StdRng::seed_from_u64(seed);
        let pixels = (0..n * c * s * s).map(|_| rng.random::<f32>()).collect();
        ImageSet::new("random", c, s, s, pixels, None)
    }

    /// Flat images on a lattice of gray levels: image i has every pixel at `i·δ`, so its nearest
    /// neighbour is `δ·√D` away (D pixel values) whatever subset is probed, except that gaps left
    /// by the subset can only widen it; with the whole set it is exactly `δ√D`.
    #[test]
    fn median_nn_distance_on_a_gray_lattice() {
        let (n, c, s, delta) = (40usize, 3usize, 4usize, 0.02f32);
        let d = (c * s * s) as f64;
        let pixels = (0..n)
            .flat_map(|i| std::iter::repeat_n(i as f32 * delta, c * s * s))
            .collect();
        let set = ImageSet::new("lattice", c, s, s, pixels, None);
        let m = median_nn_distance(&set, n, 10, 0).unwrap();
        assert!((m - delta as f64 * d.sqrt()).abs() < 1e-5, "{m}");
        // Every other image: gaps of 2δ.
        let half = set.select(&(0..n).step_by(2).collect::<Vec<_>>());
        let m2 = median_nn_distance(&half, n, 10, 0).unwrap();
        assert!((m2 - 2.0 * delta as f64 * d.sqrt()).abs() < 1e-5, "{m2}");
        assert_eq!(median_nn_distance(&set.select(&[3]), 10, 10, 0), None);
    }

    /// A geometric ladder from ε/3 to 3ε whose middle rung is ε.
    #[test]
    fn radii_around_a_reference() {
        let r = radii_around(1.5, 5);
        let want = [0.5, 0.5 * 3f64.sqrt(), 1.5, 1.5 * 3f64.sqrt(), 4.5];
        for (a, b) in r.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{r:?}");
        }
    }

    /// TID compares subsets of one size: the smaller set's.
    #[test]
    fn tid_subsets_have_equal_sizes() {
        let a = random_set(300, 1, 4, 1);
        let b = random_set(120, 1, 4, 2);
        assert_eq!(tid_subset_size(&a, &b, 2000), 120);
        assert_eq!(tid_subset_size(&a, &b, 100), 100);
    }

    /// Against a plain sort of every distance, with exclusion and k beyond the set size.
    #[test]
    fn nearest_neighbours_match_brute_force() {
        let set = random_set(500, 3, 16, 1);
        let query = random_set(1, 3, 16, 2).pixels;
        for (k, exclude) in [(7, None), (7, Some(3)), (1, None), (600, Some(0))] {
            let got = nearest_neighbours(&query, &set, k, exclude);
            let mut all: Vec<(f64, usize)> = (0..set.len())
                .filter(|&i| Some(i) != exclude)
                .map(|i| {
                    let d: f64 = query
                        .iter()
                        .zip(set.image(i))
                        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
                        .sum();
                    (d.sqrt(), i)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert_eq!(got.len(), k.min(all.len()));
            for (g, want) in got.iter().zip(&all) {
                assert_eq!(g.index, want.1);
                assert!((g.distance - want.0).abs() < 1e-9);
            }
        }
        // A member of the set is its own nearest neighbour at distance 0.
        let got = nearest_neighbours(set.image(42), &set, 2, None);
        assert_eq!((got[0].index, got[0].distance), (42, 0.0));
    }

    /// 3 rows × (1 + k) tiles of 4× scaled 8×8 images, a wider gap after the query column; the
    /// query tile and a neighbour tile hold their images' pixels.
    #[test]
    fn nn_grid_layout_and_pixels() {
        let (s, scale, k) = (8, 4, 7);
        let ode = random_set(20, 3, s, 1);
        let sde = random_set(15, 3, s, 2);
        let train = random_set(30, 3, s, 3);
        let (img, nb) = paper_nn_grid(5, &ode, &sde, &train, k, scale);
        let tile = s * scale;
        assert_eq!(img.width, (k + 1) * tile + (k + 2) + 1 + scale);
        assert_eq!(img.height, 3 * tile + 4);
        assert_eq!(nb.len(), 3);
        assert!(nb[0].iter().all(|n| n.index != 5));
        let px = |x: usize, y: usize| {
            let o = (y * img.width + x) * 3;
            [img.data[o], img.data[o + 1], img.data[o + 2]]
        };
        let expect = |set: &ImageSet, i: usize, c: usize, py: usize, pxl: usize| {
            (set.image(i)[c * s * s + py * s + pxl] * 255.0).round() as u8
        };
        // Query tile, row 2 (training row), pixel (y 3, x 6).
        let (x, y) = (1 + 6 * scale + 1, 1 + 2 * (tile + 1) + 3 * scale + 2);
        assert_eq!(px(x, y)[1], expect(&ode, 5, 1, 3, 6));
        // First neighbour of the SDE row, pixel (y 0, x 0), after the wide gap.
        let x0 = 1 + tile + 1 + 1 + scale;
        let y0 = 1 + tile + 1;
        assert_eq!(px(x0, y0)[0], expect(&sde, nb[1][0].index, 0, 0, 0));
        // The wide gap is white.
        assert_eq!(px(1 + tile + 1, y0), [255, 255, 255]);
    }

    /// Sampling in chunks from shared noise equals one `sample` call for a deterministic
    /// sampler; progress reaches n · steps; a raised flag cancels.
    #[test]
    fn chunked_sampling_matches_one_call_and_cancels() {
        let dev = Device::flex();
        let mut c = UNetConfig::tiny();
        c.dropout = 0.0;
        let net = UNet::init(&c, 2, &dev);
        let shape = ImageShape {
            channels: 3,
            height: 8,
            width: 8,
            scale: PixelScale::Unit,
        };
        let cfg = SamplerConfig::new(SamplerKind::OdeEuler).with_steps(3);
        let mut last = (0, 0);
        let no = AtomicBool::new(false);
        let set = sample_images(
            &net,
            &cfg,
            5,
            9,
            2,
            shape,
            &dev,
            &mut |a, b| last = (a, b),
            &no,
        )
        .unwrap();
        assert_eq!(last, (15, 15));
        assert_eq!(set.len(), 5);
        let whole = sample(&net, &cfg, 5, 9, &dev, &mut |_, _| {}).unwrap();
        let want = ImageSet::from_points("x", &whole.samples, 3, 8, 8, PixelScale::Unit).unwrap();
        for (a, b) in set.pixels.iter().zip(&want.pixels) {
            assert!((a - b).abs() < 1e-5);
        }
        let yes = AtomicBool::new(true);
        let err = sample_images(&net, &cfg, 5, 9, 2, shape, &dev, &mut |_, _| {}, &yes);
        assert_eq!(
            err,
            Err(SamplingStopped::Cancelled(Cancelled { done: 0, total: 5 }))
        );
    }
}
