//! An image set, `[n, C, H, W]` in `[0, 1]`, and what is done to it: subsets, resizing, channel
//! conversion, flattening into points for the diffusion engine, and tiling into a PNG grid.
//! The readers for files on disk are in the `readers` submodule and re-exported here.

mod readers;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use readers::{ImageFormat, ReadOptions, Split, detect_format, read_images};

use crate::data::Points;

/// Why images could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file or directory could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file's contents are not what its format says (truncated, corrupt or unsupported).
    #[error("{path}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        message: String,
    },
    /// The path's image format could not be told from its name or contents.
    #[error("{path}: cannot tell the image format: {message}")]
    UnknownFormat {
        /// The file or directory.
        path: PathBuf,
        /// What was looked for, in words.
        message: String,
    },
    /// The path holds no images (an empty file, or no file of the requested split).
    #[error("{path}: no images: {message}")]
    NoImages {
        /// The file or directory.
        path: PathBuf,
        /// What was looked for, in words.
        message: String,
    },
    /// An image file could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong, in words.
        message: String,
    },
    /// Sizes that do not fit together (points of the wrong dimension, bad options).
    #[error("{0}")]
    Shape(String),
}

/// How pixels in `[0, 1]` map to the values a model sees (SPEC §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PixelScale {
    /// Pixels as they are, in `[0, 1]`.
    #[default]
    Unit,
    /// `2x − 1`, in `[−1, 1]` (score_sde's `centered` convention).
    Centered,
}

impl PixelScale {
    /// A pixel in `[0, 1]` as a model value.
    pub fn to_model(self, x: f32) -> f32 {
        match self {
            PixelScale::Unit => x,
            PixelScale::Centered => 2.0 * x - 1.0,
        }
    }

    /// A model value as a pixel (not clamped).
    pub fn from_model(self, y: f32) -> f32 {
        match self {
            PixelScale::Unit => y,
            PixelScale::Centered => 0.5 * (y + 1.0),
        }
    }
}

/// A finite set of images of one size, `[n, C, H, W]` with pixels in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// A short name for messages and titles (e.g. `"cifar-10 (train)"`).
    pub name: String,
    /// Channels per image: 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Pixels, `[n, C, H, W]` row-major, in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// One class label per image, if the source has them.
    pub labels: Option<Vec<u32>>,
}

impl ImageSet {
    /// Wraps `[n, C, H, W]` pixels. Panics if the lengths do not fit (a bug, not bad input).
    pub fn new(
        name: impl Into<String>,
        channels: usize,
        height: usize,
        width: usize,
        pixels: Vec<f32>,
        labels: Option<Vec<u32>>,
    ) -> Self {
        let per = channels * height * width;
        assert!(
            per > 0 && pixels.len().is_multiple_of(per),
            "ImageSet::new: {} pixels for images of [{channels}, {height}, {width}]",
            pixels.len()
        );
        if let Some(l) = &labels {
            assert_eq!(
                l.len(),
                pixels.len() / per,
                "ImageSet::new: one label per image"
            );
        }
        Self {
            name: name.into(),
            channels,
            height,
            width,
            pixels,
            labels,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.image_len()
    }

    /// True if there are no images.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// Values per image, `C·H·W` (the dimension of the flattened points).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Image `i`, `[C, H, W]` row-major.
    pub fn image(&self, i: usize) -> &[f32] {
        let k = self.image_len();
        &self.pixels[i * k..(i + 1) * k]
    }

    /// The label of image `i`, if the set has labels.
    pub fn label(&self, i: usize) -> Option<u32> {
        self.labels.as_ref().map(|l| l[i])
    }

    /// The images at `indices`, in that order (repeats allowed). Panics on an index out of range.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        let labels = self
            .labels
            .as_ref()
            .map(|l| indices.iter().map(|&i| l[i]).collect());
        ImageSet {
            pixels,
            labels,
            ..self.empty_like()
        }
    }

    /// A random subset of `m` distinct images, kept in their original order (all images if
    /// `m >= len`). The same `(len, m, seed)` always picks the same images, as
    /// [`Points::subset`] does.
    pub fn subset(&self, m: usize, seed: u64) -> ImageSet {
        if m >= self.len() {
            return self.clone();
        }
        self.select(&subset_indices(self.len(), m, seed))
    }

    /// The images as points `[n, C·H·W]` (what the diffusion engine consumes), each pixel mapped
    /// by `scale`.
    pub fn to_points(&self, scale: PixelScale) -> Points {
        let data = self.pixels.iter().map(|&x| scale.to_model(x)).collect();
        Points::new(self.len(), self.image_len(), data)
    }

    /// Images from points `[n, C·H·W]` (e.g. samples), mapped back by `scale` and clamped to
    /// `[0, 1]`.
    pub fn from_points(
        name: impl Into<String>,
        points: &Points,
        channels: usize,
        height: usize,
        width: usize,
        scale: PixelScale,
    ) -> Result<ImageSet, ImageError> {
        let per = channels * height * width;
        if per == 0 || points.d != per {
            return Err(ImageError::Shape(format!(
                "points of dimension {} are not images of [{channels}, {height}, {width}] \
                 ({per} values)",
                points.d
            )));
        }
        let pixels = points
            .data
            .iter()
            .map(|&y| {
                let x = scale.from_model(y);
                if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
            })
            .collect();
        Ok(ImageSet::new(name, channels, height, width, pixels, None))
    }

    /// The same images with `channels` channels: 1 → 3 repeats the gray value, 3 → 1 takes
    /// the luma `0.299 R + 0.587 G + 0.114 B` (ITU-R 601, as PIL's `convert("L")`).
    /// Panics unless `channels` is 1 or 3 (validate user input first).
    pub fn to_channels(&self, channels: usize) -> ImageSet {
        assert!(
            channels == 1 || channels == 3,
            "to_channels: 1 or 3 channels, not {channels}"
        );
        if channels == self.channels {
            return self.clone();
        }
        let hw = self.height * self.width;
        let mut pixels = Vec::with_capacity(self.len() * channels * hw);
        for i in 0..self.len() {
            let img = self.image(i);
            match (self.channels, channels) {
                (1, 3) => (0..3).for_each(|_| pixels.extend_from_slice(img)),
                (3, 1) => pixels.extend(
                    (0..hw).map(|p| 0.299 * img[p] + 0.587 * img[hw + p] + 0.114 * img[2 * hw + p]),
                ),
                (from, to) => unreachable!("ImageSet holds 1 or 3 channels, not {from} → {to}"),
            }
        }
        ImageSet {
            channels,
            pixels,
            ..self.empty_like()
        }
    }

    /// The same images resized to `height × width`. Each axis is treated on its own (the filter
    /// is separable): shrinking averages the input area each output pixel covers (a box filter
    /// for integer factors such as 32 → 16, fractional weights at the edges otherwise, as PIL's
    /// `BOX`); enlarging interpolates bilinearly between pixel centres (as torch's `bilinear`
    /// with `align_corners=False`). Panics if a size is 0.
    pub fn resize(&self, height: usize, width: usize) -> ImageSet {
        assert!(height > 0 && width > 0, "resize: an empty size");
        if (height, width) == (self.height, self.width) {
            return self.clone();
        }
        let wy = axis_weights(self.height, height);
        let wx = axis_weights(self.width, width);
        let n_planes = self.len() * self.channels;
        let (h0, w0) = (self.height, self.width);
        let mut pixels = vec![0.0f32; n_planes * height * width];
        let mut tmp = vec![0.0f32; h0 * width]; // [h0, width]: rows resized, columns not yet
        for (plane, out) in self
            .pixels
            .chunks_exact(h0 * w0)
            .zip(pixels.chunks_exact_mut(height * width))
        {
            for (src_row, tmp_row) in plane.chunks_exact(w0).zip(tmp.chunks_exact_mut(width)) {
                for (t, taps) in tmp_row.iter_mut().zip(&wx) {
                    *t = taps.iter().map(|&(k, w)| w * src_row[k]).sum();
                }
            }
            for (out_row, taps) in out.chunks_exact_mut(width).zip(&wy) {
                out_row.fill(0.0);
                for &(k, w) in taps {
                    for (o, t) in out_row.iter_mut().zip(&tmp[k * width..(k + 1) * width]) {
                        *o += w * t;
                    }
                }
            }
        }
        ImageSet {
            height,
            width,
            pixels,
            ..self.empty_like()
        }
    }

    /// Smallest and largest pixel value (`(0, 0)` for an empty set).
    pub fn pixel_range(&self) -> (f32, f32) {
        if self.pixels.is_empty() {
            return (0.0, 0.0);
        }
        self.pixels
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            })
    }

    /// The images at `indices` tiled row by row into `cols` columns, each pixel drawn as a
    /// `scale × scale` block (nearest neighbour), with `gap` white pixels between and around
    /// the tiles. Grayscale images are drawn gray. Panics on an index out of range.
    pub fn grid(&self, indices: &[usize], cols: usize, scale: usize, gap: usize) -> Rgb8Image {
        let cols = cols.max(1);
        let scale = scale.max(1);
        let rows = indices.len().div_ceil(cols).max(1);
        let (tw, th) = (self.width * scale, self.height * scale);
        let width = cols * tw + (cols + 1) * gap;
        let height = rows * th + (rows + 1) * gap;
        let mut data = vec![255u8; width * height * 3];
        let hw = self.height * self.width;
        for (slot, &i) in indices.iter().enumerate() {
            let img = self.image(i);
            let x0 = gap + (slot % cols) * (tw + gap);
            let y0 = gap + (slot / cols) * (th + gap);
            for y in 0..th {
                for x in 0..tw {
                    let p = (y / scale) * self.width + x / scale;
                    let o = ((y0 + y) * width + x0 + x) * 3;
                    for c in 0..3 {
                        let v = img[c.min(self.channels - 1) * hw + p];
                        data[o + c] = to_u8(v);
                    }
                }
            }
        }
        Rgb8Image {
            width,
            height,
            data,
        }
    }

    /// Writes the images at `indices` as one PNG grid of `cols` columns, each pixel drawn as a
    /// `scale × scale` block, one white pixel between tiles (see [`ImageSet::grid`]).
    pub fn write_grid_png(
        &self,
        path: &Path,
        indices: &[usize],
        cols: usize,
        scale: usize,
    ) -> Result<(), ImageError> {
        self.grid(indices, cols, scale, 1).write_png(path)
    }

    /// A set with no images but this one's size, name and label presence.
    fn empty_like(&self) -> ImageSet {
        ImageSet {
            name: self.name.clone(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels: Vec::new(),
            labels: None,
        }
    }
}

/// An 8-bit RGB picture, row-major `[height, width, 3]` (a grid ready to save or show).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb8Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixels, `[height, width, 3]` row-major.
    pub data: Vec<u8>,
}

impl Rgb8Image {
    /// Writes the picture as an 8-bit RGB PNG, creating missing parent directories.
    pub fn write_png(&self, path: &Path) -> Result<(), ImageError> {
        let fail = |message: String| ImageError::Write {
            path: path.to_owned(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let file = std::fs::File::create(path).map_err(|e| fail(e.to_string()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| fail(e.to_string()))?;
        w.write_image_data(&self.data)
            .map_err(|e| fail(e.to_string()))?;
        w.finish().map_err(|e| fail(e.to_string()))?;
        out.flush().map_err(|e| fail(e.to_string()))
    }
}

/// A pixel in `[0, 1]` as a byte (clamped, rounded).
fn to_u8(x: f32) -> u8 {
    (x.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// `m` distinct indices of `0..n`, sorted, drawn from `seed` (the same draw as
/// [`Points::subset`]).
pub(crate) fn subset_indices(n: usize, m: usize, seed: u64) -> Vec<usize> {
    use rand::SeedableRng;
    use rand::seq::index::sample;
    if m >= n {
        return (0..n).collect();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut idx = sample(&mut rng, n, m).into_vec();
    idx.sort_unstable();
    idx
}

/// For each output pixel along one axis, the input pixels and weights that make it (weights sum
/// to 1): area averaging when shrinking, bilinear between pixel centres when enlarging.
fn axis_weights(src: usize, dst: usize) -> Vec<Vec<(usize, f32)>> {
    if dst <= src {
        let ratio = src as f64 / dst as f64;
        (0..dst)
            .map(|j| {
                let (lo, hi) = (j as f64 * ratio, (j + 1) as f64 * ratio);
                let first = lo.floor() as usize;
                let last = (hi.ceil() as usize).min(src);
                (first..last)
                    .filter_map(|k| {
                        let overlap = hi.min(k as f64 + 1.0) - lo.max(k as f64);
                        (overlap > 1e-9).then_some((k, (overlap / ratio) as f32))
                    })
                    .collect()
            })
            .collect()
    } else {
        let ratio = src as f64 / dst as f64;
        (0..dst)
            .map(|j| {
                let x = ((j as f64 + 0.5) * ratio - 0.5).clamp(0.0, (src - 1) as f64);
                let k = x.floor() as usize;
                let f = x - k as f64;
                if f < 1e-9 || k + 1 >= src {
                    vec![(k, 1.0)]
                } else {
                    vec![(k, (1.0 - f) as f32), (k + 1, f as f32)]
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(c: usize, h: usize, w: usize, pixels: Vec<f32>) -> ImageSet {
        ImageSet::new("t", c, h, w, pixels, None)
    }

    #[test]
    fn box_filter_halves_4x4_by_block_means() {
        #[rustfmt::skip]
        let img = set(1, 4, 4, vec![
            0.0, 0.2, 0.4, 0.4,
            0.2, 0.2, 0.8, 0.0,
            1.0, 1.0, 0.0, 0.1,
            1.0, 0.6, 0.3, 0.2,
        ]);
        let r = img.resize(2, 2);
        let want = [0.15, 0.4, 0.9, 0.15];
        for (a, b) in r.pixels.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{:?}", r.pixels);
        }
    }

    #[test]
    fn area_and_bilinear_weights_by_hand() {
        // 3 → 2: each output covers 1.5 input pixels.
        let w = axis_weights(3, 2);
        assert_eq!(w[0].len(), 2);
        assert!((w[0][0].1 - 2.0 / 3.0).abs() < 1e-6 && (w[0][1].1 - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!((w[1][0].0, w[1][1].0), (1, 2));
        // 2 → 4 bilinear, half-pixel centres at −0.25, 0.25, 0.75, 1.25 (clamped).
        let img = set(1, 1, 2, vec![0.0, 1.0]).resize(1, 4);
        let want = [0.0, 0.25, 0.75, 1.0];
        for (a, b) in img.pixels.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{:?}", img.pixels);
        }
        // Both axes, several images and channels: a constant stays constant.
        let c = set(3, 5, 7, vec![0.3; 2 * 3 * 5 * 7]).resize(3, 9);
        assert_eq!((c.len(), c.height, c.width), (2, 3, 9));
        assert!(c.pixels.iter().all(|x| (x - 0.3).abs() < 1e-6));
    }

    #[test]
    fn channels_subset_and_points() {
        let img = ImageSet::new(
            "t",
            3,
            1,
            2,
            vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
            Some(vec![7, 9]),
        );
        let g = img.to_channels(1);
        assert_eq!(g.channels, 1);
        let want = [0.299, 0.587, 0.5, 0.5];
        for (a, b) in g.pixels.iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(g.to_channels(3).image(1), &[0.5; 6]);
        let s = img.subset(1, 3);
        assert_eq!(s.len(), 1);
        assert_eq!(s, img.subset(1, 3));
        assert_eq!(img.select(&[1, 0]).labels, Some(vec![9, 7]));
        let p = img.to_points(PixelScale::Centered);
        assert_eq!((p.n, p.d), (2, 6));
        assert_eq!(p.row(0)[..2], [1.0, -1.0]);
        let back = ImageSet::from_points("b", &p, 3, 1, 2, PixelScale::Centered).unwrap();
        assert_eq!(back.pixels, img.pixels);
        assert!(ImageSet::from_points("b", &p, 1, 2, 2, PixelScale::Unit).is_err());
    }

    #[test]
    fn grid_png_round_trip() {
        let img = set(1, 2, 2, vec![0.0, 1.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5]);
        let g = img.grid(&[1, 0, 1], 2, 3, 1);
        assert_eq!((g.width, g.height), (2 * 6 + 3, 2 * 6 + 3));
        // Tile 0 is image 1 (all 0.5 → 128), tile 1 is image 0: top-left pixel black.
        assert_eq!(g.data[(g.width + 1) * 3], 128);
        assert_eq!(g.data[(g.width + 8) * 3..(g.width + 8) * 3 + 3], [0, 0, 0]);
        assert_eq!(g.data[(g.width + 11) * 3], 255);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/grid.png");
        img.write_grid_png(&path, &[0, 1], 2, 4).unwrap();
        let back = read_images(&path, &ReadOptions::default()).unwrap();
        assert_eq!((back.width, back.height), (2 * 8 + 3, 8 + 2));
    }
}
