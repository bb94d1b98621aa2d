//! Readers for image sets on disk, chosen from the path by [`read_images`]:
//!
//! - CIFAR-10 binary batches (`data_batch_*.bin`, `test_batch.bin`: records of 1 label byte and
//!   3,072 pixel bytes, R then G then B planes of 32×32) and CIFAR-100 (`train.bin`, `test.bin`:
//!   a coarse and a fine label byte, then the pixels; the fine label is kept). A batch file, a
//!   directory of batches, or a directory holding `cifar-10-batches-bin/` or `cifar-100-binary/`.
//! - MNIST and Fashion-MNIST IDX files (`*-images-idx3-ubyte`, optionally gzipped); labels from the
//!   matching `*-labels-idx1-ubyte` next to it when there is one. A file or a directory.
//! - PNG and JPEG files: one file, a folder of them (sorted by name, no labels), or a folder of
//!   class folders (`root/<class>/*.png`; labels are the class folders' sorted positions).
//!   Alpha is dropped; 16-bit PNGs are reduced to 8 bits.
//! - `.npy` arrays and `.npz` archives of them (see [`read_images`] for how a layout is decided).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{ImageError, ImageSet, subset_indices};
use crate::data::io::{NpyArray, parse_npy_array as parse_npy};

/// Which part of a dataset to read when a directory or archive holds a training and a test part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Split {
    /// The training images (`data_batch_*`, `train*`, `x_train`).
    #[default]
    Train,
    /// The test images (`test_batch`, `t10k*`, `test*`, `x_test`).
    Test,
    /// Training images, then test images.
    All,
}

/// What [`read_images`] does besides reading: which split, and the subset, channels and size of
/// the result. The default reads the training split as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Which split to read where there are several (ignored for a single file).
    pub split: Split,
    /// Keep a random subset of this many images (paper App. A.1: 20,000), drawn from `seed`.
    pub subset: Option<usize>,
    /// The seed of the subset.
    pub seed: u64,
    /// Convert to this many channels (1 or 3); by default grayscale stays grayscale.
    pub channels: Option<usize>,
    /// Resize to `(height, width)` (see [`ImageSet::resize`]); by default the size on disk.
    pub size: Option<(usize, usize)>,
}

impl ReadOptions {
    /// Reads `split`.
    pub fn split(mut self, split: Split) -> Self {
        self.split = split;
        self
    }

    /// Keeps a random subset of `n` images drawn from `seed`.
    pub fn subset(mut self, n: usize, seed: u64) -> Self {
        self.subset = Some(n);
        self.seed = seed;
        self
    }

    /// Converts to `channels` channels (1 or 3).
    pub fn channels(mut self, channels: usize) -> Self {
        self.channels = Some(channels);
        self
    }

    /// Resizes to `height × width`.
    pub fn size(mut self, height: usize, width: usize) -> Self {
        self.size = Some((height, width));
        self
    }
}

/// The image formats that [`read_images`] knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// CIFAR-10 binary batches.
    Cifar10,
    /// CIFAR-100 binary files.
    Cifar100,
    /// MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST).
    Idx,
    /// A numpy `.npy` array.
    Npy,
    /// A numpy `.npz` archive.
    Npz,
    /// PNG or JPEG files (one, a folder, or a folder of class folders).
    Pictures,
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageFormat::Cifar10 => "CIFAR-10 binary",
            ImageFormat::Cifar100 => "CIFAR-100 binary",
            ImageFormat::Idx => "IDX (MNIST)",
            ImageFormat::Npy => ".npy",
            ImageFormat::Npz => ".npz",
            ImageFormat::Pictures => "PNG/JPEG",
        })
    }
}

/// Where the images are, once the path has been looked at.
enum Source {
    Cifar {
        files: Vec<PathBuf>,
        label_bytes: usize,
    },
    Idx {
        images: Vec<PathBuf>,
    },
    Npy(PathBuf),
    Npz(PathBuf),
    Pictures {
        files: Vec<PathBuf>,
        labels: Option<Vec<u32>>,
    },
}

impl Source {
    fn format(&self) -> ImageFormat {
        match self {
            Source::Cifar { label_bytes: 1, .. } => ImageFormat::Cifar10,
            Source::Cifar { .. } => ImageFormat::Cifar100,
            Source::Idx { .. } => ImageFormat::Idx,
            Source::Npy(_) => ImageFormat::Npy,
            Source::Npz(_) => ImageFormat::Npz,
            Source::Pictures { .. } => ImageFormat::Pictures,
        }
    }
}

/// The format [`read_images`] would read `path` as (all splits considered).
pub fn detect_format(path: &Path) -> Result<ImageFormat, ImageError> {
    resolve(path, Split::All).map(|s| s.format())
}

/// Reads an image set from a file or directory, telling the format from the path (see the
/// module docs for the formats), then keeps a subset, converts channels and resizes as
/// `options` say, in that order.
///
/// Pixels come out in `[0, 1]`. For `.npy`/`.npz` arrays:
/// - Layout: `[n, H, W]` is grayscale. For 4-D arrays, a channel axis is a size of 1, 3 or 4:
///   `[n, H, W, C]` (numpy/TensorFlow) if only the last axis could be one, `[n, C, H, W]`
///   (PyTorch) if only the second could; if both could, the reading that leaves a square image
///   wins, and `[n, H, W, C]` if that does not decide. `[n, D]` with `D` a square is a flattened
///   grayscale `√D × √D` image. A fourth (alpha) channel is dropped.
/// - Values: `uint8` is divided by 255. Other types are taken as they are if within `[0, 1]`,
///   mapped by `(x + 1) / 2` if within `[−1, 1]` with a negative value, divided by 255 if within
///   `[0, 255]`, and rejected otherwise (as are NaN and infinities).
/// - In an `.npz`, the image array is the one whose name contains `train`/`test` for the split
///   (both, concatenated, for [`Split::All`]), or the only array of an image shape. Labels come
///   from the 1-D integer array of the same length named like it (`x_train` → `y_train`,
///   `images` → `labels`) or `labels`/`y`.
pub fn read_images(path: &Path, options: &ReadOptions) -> Result<ImageSet, ImageError> {
    if let Some(c) = options.channels.filter(|c| *c != 1 && *c != 3) {
        return Err(ImageError::Shape(format!(
            "images have 1 or 3 channels, not {c}"
        )));
    }
    if options.subset == Some(0) {
        return Err(ImageError::Shape("a subset of 0 images".into()));
    }
    if let Some((h, w)) = options.size.filter(|(h, w)| *h == 0 || *w == 0) {
        return Err(ImageError::Shape(format!("cannot resize to {h}×{w}")));
    }
    let source = resolve(path, options.split)?;
    let mut set = match source {
        Source::Cifar { files, label_bytes } => read_cifar_files(&files, label_bytes)?,
        Source::Idx { images } => {
            let mut sets = Vec::new();
            for f in &images {
                sets.push(read_idx(f)?);
            }
            concat(sets)
        }
        Source::Npy(f) => read_npy_file(&f)?,
        Source::Npz(f) => read_npz(&f, options.split)?,
        Source::Pictures { files, labels } => {
            // Decode only the chosen subset: a folder of pictures is slow to read whole.
            let keep = match options.subset {
                Some(m) if m < files.len() => subset_indices(files.len(), m, options.seed),
                _ => (0..files.len()).collect(),
            };
            let files: Vec<PathBuf> = keep.iter().map(|&i| files[i].clone()).collect();
            let labels = labels.map(|l| keep.iter().map(|&i| l[i]).collect());
            read_pictures(&files, labels, options)?
        }
    };
    set.name = name_for(path, options.split);
    if let Some(m) = options.subset.filter(|&m| m < set.len()) {
        set = set.subset(m, options.seed);
    }
    if let Some(c) = options.channels.filter(|&c| c != set.channels) {
        set = set.to_channels(c);
    }
    if let Some((h, w)) = options.size.filter(|&s| s != (set.height, set.width)) {
        set = set.resize(h, w);
    }
    Ok(set)
}

fn name_for(path: &Path, split: Split) -> String {
    let base = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match split {
        Split::Train => base,
        Split::Test => format!("{base} (test)"),
        Split::All => format!("{base} (all)"),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_owned(),
        source,
    }
}

fn malformed(path: &Path, message: impl Into<String>) -> ImageError {
    ImageError::Malformed {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn lower_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn is_picture(path: &Path) -> bool {
    has_ext(path, &["png", "jpg", "jpeg"])
}

fn is_idx_images(name: &str) -> bool {
    name.contains("idx3")
}

/// The sorted entries of a directory (hidden ones skipped), split into files and directories.
fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), ImageError> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        if lower_name(&path).starts_with('.') {
            continue;
        }
        if path.is_dir() {
            dirs.push(path);
        } else {
            files.push(path);
        }
    }
    files.sort();
    dirs.sort();
    Ok((files, dirs))
}

fn resolve(path: &Path, split: Split) -> Result<Source, ImageError> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if meta.is_dir() {
        resolve_dir(path, split)
    } else {
        resolve_file(path, meta.len())
    }
}

fn resolve_file(path: &Path, len: u64) -> Result<Source, ImageError> {
    let name = lower_name(path);
    let plain = name.strip_suffix(".gz").unwrap_or(&name);
    if has_ext(path, &["npy"]) {
        Ok(Source::Npy(path.into()))
    } else if has_ext(path, &["npz"]) {
        Ok(Source::Npz(path.into()))
    } else if is_picture(path) {
        Ok(Source::Pictures {
            files: vec![path.into()],
            labels: None,
        })
    } else if is_idx_images(plain) {
        Ok(Source::Idx {
            images: vec![path.into()],
        })
    } else if plain.contains("idx1") {
        Err(ImageError::UnknownFormat {
            path: path.into(),
            message: "this is an IDX labels file; give the images file (*-images-idx3-ubyte)"
                .into(),
        })
    } else if name.ends_with(".bin") {
        let label_bytes = if name.starts_with("data_batch") || name.starts_with("test_batch") {
            1
        } else if name == "train.bin" || name == "test.bin" {
            2
        } else {
            match (len.is_multiple_of(3073), len.is_multiple_of(3074)) {
                (true, false) => 1,
                (false, true) => 2,
                _ => {
                    return Err(ImageError::UnknownFormat {
                        path: path.into(),
                        message: format!(
                            "a .bin file of {len} bytes is neither CIFAR-10 (3,073-byte records) \
                             nor CIFAR-100 (3,074-byte records); name it data_batch_*.bin or \
                             train.bin"
                        ),
                    });
                }
            }
        };
        Ok(Source::Cifar {
            files: vec![path.into()],
            label_bytes,
        })
    } else {
        Err(ImageError::UnknownFormat {
            path: path.into(),
            message: "expected .npy, .npz, .png, .jpg, a CIFAR .bin batch or an IDX \
                      *-images-idx3-ubyte[.gz] file"
                .into(),
        })
    }
}

fn resolve_dir(dir: &Path, split: Split) -> Result<Source, ImageError> {
    let (files, dirs) = list_dir(dir)?;
    for sub in ["cifar-10-batches-bin", "cifar-100-binary"] {
        if let Some(d) = dirs.iter().find(|d| lower_name(d) == sub) {
            return resolve_dir(d, split);
        }
    }
    let names: Vec<String> = files.iter().map(|f| lower_name(f)).collect();
    let pick = |train: &dyn Fn(&str) -> bool, test: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
        let mut train_files = Vec::new();
        let mut test_files = Vec::new();
        for (f, n) in files.iter().zip(&names) {
            if train(n) {
                train_files.push(f.clone());
            } else if test(n) {
                test_files.push(f.clone());
            }
        }
        match split {
            Split::Train => train_files,
            Split::Test => test_files,
            Split::All => train_files.into_iter().chain(test_files).collect(),
        }
    };
    let none_of_split = |what: &str| ImageError::NoImages {
        path: dir.into(),
        message: format!("no {what} files of the {split:?} split"),
    };
    // CIFAR-10.
    let cifar10_train = |n: &str| n.starts_with("data_batch") && n.ends_with(".bin");
    let cifar10_test = |n: &str| n == "test_batch.bin";
    if names.iter().any(|n| cifar10_train(n) || cifar10_test(n)) {
        let files = pick(&cifar10_train, &cifar10_test);
        if files.is_empty() {
            return Err(none_of_split("CIFAR-10"));
        }
        return Ok(Source::Cifar {
            files,
            label_bytes: 1,
        });
    }
    // CIFAR-100.
    let cifar100_train = |n: &str| n == "train.bin";
    let cifar100_test = |n: &str| n == "test.bin";
    if names.iter().any(|n| cifar100_train(n) || cifar100_test(n)) {
        let files = pick(&cifar100_train, &cifar100_test);
        if files.is_empty() {
            return Err(none_of_split("CIFAR-100"));
        }
        return Ok(Source::Cifar {
            files,
            label_bytes: 2,
        });
    }
    // IDX.
    if names.iter().any(|n| is_idx_images(n)) {
        let idx_train = |n: &str| is_idx_images(n) && n.starts_with("train");
        let idx_test =
            |n: &str| is_idx_images(n) && (n.starts_with("t10k") || n.starts_with("test"));
        let mut images = pick(&idx_train, &idx_test);
        if images.is_empty() {
            // Names without train/test: take them all.
            images = files
                .iter()
                .zip(&names)
                .filter(|(_, n)| is_idx_images(n))
                .map(|(f, _)| f.clone())
                .collect();
            if images.is_empty() {
                return Err(none_of_split("IDX"));
            }
        }
        return Ok(Source::Idx { images });
    }
    // A folder of pictures.
    let pictures: Vec<PathBuf> = files.iter().filter(|f| is_picture(f)).cloned().collect();
    if !pictures.is_empty() {
        return Ok(Source::Pictures {
            files: pictures,
            labels: None,
        });
    }
    // A folder of class folders.
    let mut class_files = Vec::new();
    let mut labels = Vec::new();
    let mut class = 0u32;
    for d in &dirs {
        let (sub_files, _) = list_dir(d)?;
        let pics: Vec<PathBuf> = sub_files.into_iter().filter(|f| is_picture(f)).collect();
        if pics.is_empty() {
            continue;
        }
        labels.extend(std::iter::repeat_n(class, pics.len()));
        class_files.extend(pics);
        class += 1;
    }
    if !class_files.is_empty() {
        return Ok(Source::Pictures {
            files: class_files,
            labels: Some(labels),
        });
    }
    Err(ImageError::UnknownFormat {
        path: dir.into(),
        message: "the directory holds no CIFAR batches (data_batch_*.bin, test_batch.bin, \
                  train.bin, test.bin), IDX files (*-images-idx3-ubyte[.gz]), PNG/JPEG files or \
                  class folders of them"
            .into(),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, ImageError> {
    std::fs::read(path).map_err(io_err(path))
}

/// Concatenates sets of one image size (checked by the callers). Panics on an empty list.
fn concat(sets: Vec<ImageSet>) -> ImageSet {
    let mut it = sets.into_iter();
    let mut out = it.next().expect("concat: at least one set");
    for s in it {
        out.pixels.extend_from_slice(&s.pixels);
        out.labels = match (out.labels.take(), s.labels) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            _ => None,
        };
    }
    out
}

// ---------------------------------------------------------------------------------------------
// CIFAR

const CIFAR_PIXELS: usize = 3 * 32 * 32;

fn read_cifar_files(files: &[PathBuf], label_bytes: usize) -> Result<ImageSet, ImageError> {
    let mut sets = Vec::new();
    for f in files {
        sets.push(parse_cifar(f, &read_file(f)?, label_bytes)?);
    }
    Ok(concat(sets))
}

/// Parses one CIFAR batch: records of `label_bytes` label bytes and 3,072 pixel bytes.
fn parse_cifar(path: &Path, bytes: &[u8], label_bytes: usize) -> Result<ImageSet, ImageError> {
    let (record, classes, kind) = if label_bytes == 1 {
        (1 + CIFAR_PIXELS, 10, "CIFAR-10")
    } else {
        (2 + CIFAR_PIXELS, 100, "CIFAR-100")
    };
    if bytes.is_empty() {
        return Err(ImageError::NoImages {
            path: path.into(),
            message: "the file is empty".into(),
        });
    }
    if !bytes.len().is_multiple_of(record) {
        return Err(malformed(
            path,
            format!(
                "truncated or not a {kind} batch: {} bytes is not a whole number of \
                 {record}-byte records",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / record;
    let mut pixels = Vec::with_capacity(n * CIFAR_PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        if label_bytes == 2 && r[0] >= 20 {
            return Err(malformed(
                path,
                format!(
                    "record {i}: coarse label {} is not below 20 (corrupt, or not {kind})",
                    r[0]
                ),
            ));
        }
        let label = r[label_bytes - 1];
        if label as usize >= classes {
            return Err(malformed(
                path,
                format!(
                    "record {i}: label {label} is not below {classes} (corrupt, or not {kind})"
                ),
            ));
        }
        labels.push(label as u32);
        pixels.extend(r[label_bytes..].iter().map(|&b| b as f32 / 255.0));
    }
    Ok(ImageSet::new(kind, 3, 32, 32, pixels, Some(labels)))
}

// ---------------------------------------------------------------------------------------------
// IDX

/// The file's bytes, gunzipped if they start with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, ImageError> {
    let bytes = read_file(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| malformed(path, format!("corrupt gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Parses an IDX header of unsigned bytes with `dims` dimensions; returns the sizes and the data.
fn parse_idx_header<'a>(
    path: &Path,
    bytes: &'a [u8],
    dims: usize,
) -> Result<(Vec<usize>, &'a [u8]), ImageError> {
    let head = 4 + 4 * dims;
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(malformed(path, "not an IDX file (bad magic number)"));
    }
    if bytes[2] != 0x08 {
        return Err(malformed(
            path,
            format!(
                "IDX element type 0x{:02x} is not supported (expected 0x08, unsigned bytes)",
                bytes[2]
            ),
        ));
    }
    if bytes[3] as usize != dims {
        return Err(malformed(
            path,
            format!("IDX file has {} dimensions, expected {dims}", bytes[3]),
        ));
    }
    if bytes.len() < head {
        return Err(malformed(path, "truncated IDX header"));
    }
    let sizes: Vec<usize> = bytes[4..head]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let need = sizes
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or_else(|| malformed(path, "IDX sizes overflow"))?;
    let body = &bytes[head..];
    if body.len() != need {
        return Err(malformed(
            path,
            format!(
                "{} data: the header's sizes {sizes:?} need {need} bytes, the file has {}",
                if body.len() < need {
                    "truncated"
                } else {
                    "trailing"
                },
                body.len()
            ),
        ));
    }
    Ok((sizes, body))
}

/// The labels file that goes with an IDX images file, if there is one.
fn idx_labels_path(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_string_lossy().into_owned();
    let base = name.replace("images", "labels").replace("idx3", "idx1");
    if base == name {
        return None;
    }
    let plain = base.strip_suffix(".gz").unwrap_or(&base).to_owned();
    [base.clone(), plain.clone(), format!("{plain}.gz")]
        .into_iter()
        .map(|n| images.with_file_name(n))
        .find(|p| p.is_file())
}

fn read_idx(path: &Path) -> Result<ImageSet, ImageError> {
    let bytes = read_maybe_gz(path)?;
    let (sizes, body) = parse_idx_header(path, &bytes, 3)?;
    let (n, h, w) = (sizes[0], sizes[1], sizes[2]);
    if n == 0 || h == 0 || w == 0 {
        return Err(ImageError::NoImages {
            path: path.into(),
            message: format!("the IDX header says [{n}, {h}, {w}]"),
        });
    }
    let pixels = body.iter().map(|&b| b as f32 / 255.0).collect();
    let labels = match idx_labels_path(path) {
        Some(lp) => {
            let lbytes = read_maybe_gz(&lp)?;
            let (lsizes, lbody) = parse_idx_header(&lp, &lbytes, 1)?;
            if lsizes[0] != n {
                return Err(malformed(
                    &lp,
                    format!("{} labels for {n} images in {}", lsizes[0], path.display()),
                ));
            }
            Some(lbody.iter().map(|&b| b as u32).collect())
        }
        None => None,
    };
    Ok(ImageSet::new("idx", 1, h, w, pixels, labels))
}

// ---------------------------------------------------------------------------------------------
// .npy / .npz

/// How an array's axes map onto images: `(n, channels, height, width, channels_last)`.
fn image_layout(shape: &[usize]) -> Result<(usize, usize, usize, usize, bool), String> {
    let is_c = |c: usize| matches!(c, 1 | 3 | 4);
    match *shape {
        [n, h, w] => Ok((n, 1, h, w, false)),
        [n, d] => {
            let s = (d as f64).sqrt().round() as usize;
            if s * s == d && d > 0 {
                Ok((n, 1, s, s, false))
            } else {
                Err(format!(
                    "shape {shape:?}: a flattened image must be square (reshape it to \
                     [n, H, W] or [n, H, W, C])"
                ))
            }
        }
        [n, a, b, c] => {
            let last = is_c(c);
            let first = is_c(a);
            let channels_last = match (first, last) {
                (false, true) => true,
                (true, false) => false,
                (true, true) => a == b || b != c, // [n, H, W, C] unless only NCHW is square
                (false, false) => {
                    return Err(format!(
                        "shape {shape:?} has no channel axis of size 1, 3 or 4 (second or last)"
                    ));
                }
            };
            Ok(if channels_last {
                (n, c, a, b, true)
            } else {
                (n, a, b, c, false)
            })
        }
        _ => Err(format!(
            "shape {shape:?} is not an image array ([n, H, W], [n, H, W, C] or [n, C, H, W])"
        )),
    }
}

/// An array as an image set in `[0, 1]` (see [`read_images`] for the rules).
fn array_to_images(a: NpyArray) -> Result<ImageSet, String> {
    let (n, c, h, w, channels_last) = image_layout(&a.shape)?;
    if n == 0 || h == 0 || w == 0 {
        return Err(format!("shape {:?} holds no images", a.shape));
    }
    let (lo, hi) = a
        .values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    if let Some(i) = a.values.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "non-finite value {} at flat index {i}",
            a.values[i]
        ));
    }
    let map: Box<dyn Fn(f32) -> f32> = if a.kind == 'u' && a.size == 1 {
        Box::new(|x| x / 255.0)
    } else if lo >= 0.0 && hi <= 1.0 {
        Box::new(|x| x)
    } else if lo >= -1.0 && hi <= 1.0 {
        Box::new(|x| 0.5 * (x + 1.0))
    } else if lo >= 0.0 && hi <= 255.0 {
        Box::new(|x| x / 255.0)
    } else {
        return Err(format!(
            "values in [{lo}, {hi}] are not pixels (expected [0, 1], [-1, 1] or [0, 255])"
        ));
    };
    let keep = if c == 4 { 3 } else { c };
    let hw = h * w;
    let mut pixels = Vec::with_capacity(n * keep * hw);
    for img in a.values.chunks_exact(c * hw) {
        if channels_last {
            for ch in 0..keep {
                pixels.extend((0..hw).map(|p| map(img[p * c + ch])));
            }
        } else {
            pixels.extend(img[..keep * hw].iter().map(|&x| map(x)));
        }
    }
    Ok(ImageSet::new("npy", keep, h, w, pixels, None))
}

fn read_npy_file(path: &Path) -> Result<ImageSet, ImageError> {
    let bytes = read_file(path)?;
    let array = parse_npy(&bytes).map_err(|m| malformed(path, m.to_string()))?;
    array_to_images(array).map_err(|m| malformed(path, m))
}

fn read_npz(path: &Path, split: Split) -> Result<ImageSet, ImageError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| malformed(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let mut arrays: Vec<(String, NpyArray)> = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| malformed(path, format!("corrupt .npz entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| malformed(path, format!("corrupt .npz entry {i}: {e}")))?
            .into_owned();
        let Some(key) = name.strip_suffix(".npy").map(str::to_owned) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| malformed(path, format!("corrupt .npz entry '{name}': {e}")))?;
        let array = parse_npy(&bytes).map_err(|m| malformed(path, format!("'{name}': {m}")))?;
        arrays.push((key, array));
    }
    if arrays.is_empty() {
        return Err(ImageError::NoImages {
            path: path.into(),
            message: "the archive holds no .npy arrays".into(),
        });
    }
    let is_image = |a: &NpyArray| image_layout(&a.shape).is_ok() && a.shape.len() >= 3;
    let candidates: Vec<usize> = (0..arrays.len())
        .filter(|&i| is_image(&arrays[i].1))
        .collect();
    let named = |word: &str| -> Vec<usize> {
        candidates
            .iter()
            .copied()
            .filter(|&i| arrays[i].0.to_lowercase().contains(word))
            .collect()
    };
    let (train, test) = (named("train"), named("test"));
    let chosen: Vec<usize> = match (split, candidates.len()) {
        (_, 0) => {
            let names: Vec<&str> = arrays.iter().map(|(k, _)| k.as_str()).collect();
            return Err(ImageError::NoImages {
                path: path.into(),
                message: format!("no array of an image shape among {names:?}"),
            });
        }
        (_, 1) => candidates.clone(),
        (Split::Train, _) => train,
        (Split::Test, _) => test,
        (Split::All, _) => train.into_iter().chain(test).collect(),
    };
    if chosen.len() != 1 && !(split == Split::All && chosen.len() == 2) {
        let names: Vec<&str> = candidates.iter().map(|&i| arrays[i].0.as_str()).collect();
        return Err(ImageError::UnknownFormat {
            path: path.into(),
            message: format!(
                "cannot tell which of the image arrays {names:?} is the {split:?} split"
            ),
        });
    }
    let mut sets = Vec::new();
    for &i in &chosen {
        let key = arrays[i].0.clone();
        let n = arrays[i].1.shape[0];
        let array = std::mem::replace(
            &mut arrays[i].1,
            NpyArray {
                shape: vec![],
                kind: 'f',
                size: 4,
                values: vec![],
            },
        );
        let mut set =
            array_to_images(array).map_err(|m| malformed(path, format!("'{key}': {m}")))?;
        set.labels = npz_labels(&arrays, &key, n);
        sets.push(set);
    }
    if sets.len() == 2 {
        let (a, b) = (&sets[0], &sets[1]);
        if (a.channels, a.height, a.width) != (b.channels, b.height, b.width) {
            return Err(malformed(
                path,
                "the train and test arrays hold images of different sizes",
            ));
        }
    }
    Ok(concat(sets))
}

/// The labels that go with the image array `key` of `n` images, if the archive has them.
fn npz_labels(arrays: &[(String, NpyArray)], key: &str, n: usize) -> Option<Vec<u32>> {
    let mut names = Vec::new();
    if let Some(rest) = key.strip_prefix('x') {
        names.push(format!("y{rest}"));
    }
    if let Some(rest) = key.strip_prefix('X') {
        names.push(format!("y{rest}"));
        names.push(format!("Y{rest}"));
    }
    names.push(key.replace("images", "labels"));
    names.push(key.replace("image", "label"));
    names.extend(["labels", "label", "y"].map(String::from));
    names.iter().find_map(|name| {
        let (_, a) = arrays.iter().find(|(k, _)| k == name && k != key)?;
        let whole = a
            .values
            .iter()
            .all(|&v| v >= 0.0 && v.fract() == 0.0 && v < u32::MAX as f32);
        (a.shape.len() == 1 && a.shape[0] == n && whole)
            .then(|| a.values.iter().map(|&v| v as u32).collect())
    })
}

// ---------------------------------------------------------------------------------------------
// PNG / JPEG

/// One decoded picture: `(channels, height, width, [C, H, W] pixels in [0, 1])`, C = 1 or 3.
type Picture = (usize, usize, usize, Vec<f32>);

fn decode_picture(path: &Path) -> Result<Picture, ImageError> {
    let bytes = read_file(path)?;
    if bytes.starts_with(b"\x89PNG") {
        decode_png(&bytes).map_err(|m| malformed(path, format!("invalid PNG: {m}")))
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        decode_jpeg(&bytes).map_err(|m| malformed(path, format!("invalid JPEG: {m}")))
    } else {
        Err(malformed(
            path,
            "neither a PNG nor a JPEG file (bad magic bytes)",
        ))
    }
}

/// Interleaved 8-bit pixels `[H, W, C]` with `c` channels into planes, alpha dropped.
fn planes(data: &[u8], c: usize, h: usize, w: usize) -> Picture {
    let keep = if c >= 3 { 3 } else { 1 };
    let mut out = Vec::with_capacity(keep * h * w);
    for ch in 0..keep {
        out.extend(data.chunks_exact(c).map(|px| px[ch] as f32 / 255.0));
    }
    (keep, h, w, out)
}

fn decode_png(bytes: &[u8]) -> Result<Picture, String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().map_err(|e| e.to_string())?;
    let size = reader
        .output_buffer_size()
        .ok_or("the image is too large")?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let c = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("palette not expanded".into()),
    };
    let (h, w) = (info.height as usize, info.width as usize);
    let data = buf.get(..h * w * c).ok_or("short frame")?;
    Ok(planes(data, c, h, w))
}

fn decode_jpeg(bytes: &[u8]) -> Result<Picture, String> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    let mut dec = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(bytes));
    dec.decode_headers().map_err(|e| e.to_string())?;
    let gray = matches!(dec.input_colorspace(), Some(ColorSpace::Luma));
    let (cs, c) = if gray {
        (ColorSpace::Luma, 1)
    } else {
        (ColorSpace::RGB, 3)
    };
    dec.set_options(dec.options().jpeg_set_out_colorspace(cs));
    let data = dec.decode().map_err(|e| e.to_string())?;
    let info = dec.info().ok_or("no image information")?;
    let (h, w) = (info.height as usize, info.width as usize);
    let data = data.get(..h * w * c).ok_or("short frame")?;
    Ok(planes(data, c, h, w))
}

fn read_pictures(
    files: &[PathBuf],
    labels: Option<Vec<u32>>,
    options: &ReadOptions,
) -> Result<ImageSet, ImageError> {
    let pictures: Vec<Picture> = files
        .par_iter()
        .map(|f| decode_picture(f))
        .collect::<Result<_, _>>()?;
    let channels = options
        .channels
        .unwrap_or(if pictures.iter().any(|p| p.0 == 3) {
            3
        } else {
            1
        });
    let (height, width) = match options.size {
        Some(s) => s,
        None => (pictures[0].1, pictures[0].2),
    };
    let mut pixels = Vec::with_capacity(files.len() * channels * height * width);
    for (f, (c, h, w, px)) in files.iter().zip(pictures) {
        let mut one = ImageSet::new("", c, h, w, px, None).to_channels(channels);
        if (h, w) != (height, width) {
            if options.size.is_none() {
                return Err(malformed(
                    f,
                    format!(
                        "the image is {w}×{h}, but {} is {width}×{height}; give a size to \
                         resize them to",
                        files[0].display()
                    ),
                ));
            }
            one = one.resize(height, width);
        }
        pixels.extend(one.pixels);
    }
    Ok(ImageSet::new(
        "pictures", channels, height, width, pixels, labels,
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn write(path: &Path, bytes: &[u8]) {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }

    fn read(path: &Path) -> Result<ImageSet, ImageError> {
        read_images(path, &ReadOptions::default())
    }

    fn assert_malformed(r: Result<ImageSet, ImageError>, needle: &str) {
        match r {
            Err(e @ ImageError::Malformed { .. }) => {
                let m = e.to_string();
                assert!(m.contains(needle), "'{m}' lacks '{needle}'");
            }
            other => panic!("expected a Malformed error with '{needle}', got {other:?}"),
        }
    }

    /// A CIFAR record: labels, then pixel `k` of plane `c` = `(seed + 7c + k) mod 256`.
    fn cifar_record(labels: &[u8], seed: u8) -> Vec<u8> {
        let mut r = labels.to_vec();
        for c in 0..3usize {
            r.extend((0..1024usize).map(|k| (seed as usize + 7 * c + k) as u8));
        }
        r
    }

    #[test]
    fn cifar10_directory_file_and_splits() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cifar-10-batches-bin");
        let b1 = [cifar_record(&[3], 0), cifar_record(&[9], 50)].concat();
        write(&root.join("data_batch_1.bin"), &b1);
        write(&root.join("data_batch_2.bin"), &cifar_record(&[0], 100));
        write(&root.join("test_batch.bin"), &cifar_record(&[5], 200));
        write(&root.join("batches.meta.txt"), b"airplane\n");

        let train = read(dir.path()).unwrap();
        assert_eq!(
            (train.len(), train.channels, train.height, train.width),
            (3, 3, 32, 32)
        );
        assert_eq!(train.labels, Some(vec![3, 9, 0]));
        // Image 1, channel 2 (blue), row 1, column 3: byte 50 + 14 + 35.
        assert_eq!(train.image(1)[2 * 1024 + 32 + 3], 99.0 / 255.0);
        assert_eq!(train.image(2)[0], 100.0 / 255.0);
        let test = read_images(dir.path(), &ReadOptions::default().split(Split::Test)).unwrap();
        assert_eq!(test.labels, Some(vec![5]));
        let all = read_images(&root, &ReadOptions::default().split(Split::All)).unwrap();
        assert_eq!(all.labels, Some(vec![3, 9, 0, 5]));
        assert_eq!(detect_format(dir.path()).unwrap(), ImageFormat::Cifar10);
        let one = read(&root.join("data_batch_1.bin")).unwrap();
        assert_eq!(one.pixels, train.pixels[..2 * 3072]);

        let bad = dir.path().join("bad");
        write(&bad.join("data_batch_1.bin"), &b1[..b1.len() - 1]);
        assert_malformed(read(&bad), "truncated");
        write(&bad.join("data_batch_1.bin"), &cifar_record(&[10], 0));
        assert_malformed(read(&bad), "label 10");
        write(&bad.join("data_batch_1.bin"), b"");
        assert!(matches!(read(&bad), Err(ImageError::NoImages { .. })));
        let only_train = dir.path().join("only_train");
        write(&only_train.join("data_batch_1.bin"), &b1);
        let r = read_images(&only_train, &ReadOptions::default().split(Split::Test));
        assert!(matches!(r, Err(ImageError::NoImages { .. })), "{r:?}");
    }

    #[test]
    fn cifar100_keeps_the_fine_label() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cifar-100-binary");
        let bytes = [cifar_record(&[4, 77], 1), cifar_record(&[19, 99], 2)].concat();
        write(&root.join("train.bin"), &bytes);
        write(&root.join("test.bin"), &cifar_record(&[0, 1], 3));
        let s = read(dir.path()).unwrap();
        assert_eq!(s.labels, Some(vec![77, 99]));
        assert_eq!(s.image(1)[1024], 9.0 / 255.0);
        assert_eq!(
            detect_format(&root.join("test.bin")).unwrap(),
            ImageFormat::Cifar100
        );
        // A renamed batch is told apart by its record size.
        let renamed = dir.path().join("mine.bin");
        write(&renamed, &bytes);
        assert_eq!(detect_format(&renamed).unwrap(), ImageFormat::Cifar100);
        write(&root.join("train.bin"), &cifar_record(&[20, 1], 0));
        assert_malformed(read(dir.path()), "coarse label 20");
        write(&renamed, &[0; 100]);
        assert!(matches!(
            read(&renamed),
            Err(ImageError::UnknownFormat { .. })
        ));
    }

    fn idx(dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(body);
        b
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn idx_gzipped_with_labels_and_plain_without() {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..2 * 3 * 2).map(|k| k as u8 * 20).collect();
        write(
            &dir.path().join("train-images-idx3-ubyte.gz"),
            &gzip(&idx(&[2, 3, 2], &body)),
        );
        write(
            &dir.path().join("train-labels-idx1-ubyte"),
            &idx(&[2], &[7, 1]),
        );
        write(
            &dir.path().join("t10k-images-idx3-ubyte"),
            &idx(&[1, 3, 2], &body[..6]),
        );

        let s = read(dir.path()).unwrap();
        assert_eq!((s.len(), s.channels, s.height, s.width), (2, 1, 3, 2));
        assert_eq!(s.labels, Some(vec![7, 1]));
        let want: Vec<f32> = body.iter().map(|&b| b as f32 / 255.0).collect();
        assert_eq!(s.pixels, want);
        let t = read_images(dir.path(), &ReadOptions::default().split(Split::Test)).unwrap();
        assert_eq!((t.len(), t.labels.clone()), (1, None));
        assert_eq!(detect_format(dir.path()).unwrap(), ImageFormat::Idx);

        let f = dir.path().join("t10k-images-idx3-ubyte");
        write(&f, &idx(&[1, 3, 2], &body[..5]));
        assert_malformed(read(&f), "truncated");
        write(&f, &[0, 0, 0x08, 3, 0, 0]);
        assert_malformed(read(&f), "truncated IDX header");
        write(&f, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_malformed(read(&f), "magic");
        write(&f, &idx(&[1, 6], &body[..6]));
        assert_malformed(read(&f), "2 dimensions");
        write(
            &dir.path().join("t10k-labels-idx1-ubyte"),
            &idx(&[3], &[1, 2, 3]),
        );
        write(&f, &idx(&[1, 3, 2], &body[..6]));
        assert_malformed(read(&f), "3 labels for 1 images");
        let gz = dir.path().join("train-images-idx3-ubyte.gz");
        let mut corrupt = gzip(&idx(&[2, 3, 2], &body));
        corrupt.truncate(corrupt.len() / 2);
        write(&gz, &corrupt);
        assert_malformed(read(&gz), "gzip");
    }

    /// An `.npy` file of raw little-endian data.
    fn npy(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
        let dims = if shape.len() == 1 {
            format!("{},", dims[0])
        } else {
            dims.join(", ")
        };
        let order = if fortran { "True" } else { "False" };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({dims}), }}");
        header.push_str(&" ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        header.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn npy_layouts_and_value_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        // uint8 [2, 3, 4]: grayscale, divided by 255.
        let bytes: Vec<u8> = (0..24).map(|k| k * 10).collect();
        write(&p, &npy("|u1", &[2, 3, 4], false, &bytes));
        let s = read(&p).unwrap();
        assert_eq!((s.len(), s.channels, s.height, s.width), (2, 1, 3, 4));
        assert_eq!(s.image(1)[5], 170.0 / 255.0);

        // The same RGB image [H=2, W=2] as NHWC, NCHW and Fortran-ordered NHWC.
        let chw: Vec<f32> = (0..12).map(|k| k as f32 / 11.0).collect();
        let hwc: Vec<f32> = (0..12).map(|k| chw[(k % 3) * 4 + k / 3]).collect();
        write(&p, &npy("<f4", &[1, 2, 2, 3], false, &f32s(&hwc)));
        let nhwc = read(&p).unwrap();
        assert_eq!((nhwc.channels, nhwc.height, nhwc.width), (3, 2, 2));
        assert_eq!(nhwc.pixels, chw);
        write(&p, &npy("<f4", &[1, 3, 2, 2], false, &f32s(&chw)));
        assert_eq!(read(&p).unwrap().pixels, chw);
        // Fortran order of [1, 2, 2, 3]: element (0, y, x, c) at y + 2x + 4c.
        let fort: Vec<f32> = (0..12)
            .map(|k| chw[(k / 4) * 4 + (k % 2) * 2 + (k / 2) % 2])
            .collect();
        write(&p, &npy("<f4", &[1, 2, 2, 3], true, &f32s(&fort)));
        assert_eq!(read(&p).unwrap().pixels, chw);

        // float64 in [-1, 1] and in [0, 255]; RGBA drops alpha; a flattened square image.
        let v: Vec<u8> = [-1.0f64, 0.0, 0.5, 1.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        write(&p, &npy("<f8", &[1, 2, 2], false, &v));
        assert_eq!(read(&p).unwrap().pixels, vec![0.0, 0.5, 0.75, 1.0]);
        write(
            &p,
            &npy("<f4", &[1, 4], false, &f32s(&[0.0, 51.0, 102.0, 255.0])),
        );
        let flat = read(&p).unwrap();
        assert_eq!((flat.height, flat.width), (2, 2));
        assert_eq!(flat.pixels, vec![0.0, 0.2, 0.4, 1.0]);
        write(
            &p,
            &npy("|u1", &[1, 1, 2, 4], false, &[255, 0, 0, 9, 0, 255, 0, 9]),
        );
        let rgba = read(&p).unwrap();
        assert_eq!((rgba.channels, rgba.height, rgba.width), (3, 1, 2));
        assert_eq!(rgba.pixels, vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

        write(
            &p,
            &npy("<f4", &[1, 2, 2], false, &f32s(&[0.0, 300.0, 1.0, 2.0])),
        );
        assert_malformed(read(&p), "are not pixels");
        write(
            &p,
            &npy("<f4", &[1, 2, 2], false, &f32s(&[0.0, f32::NAN, 1.0, 2.0])),
        );
        assert_malformed(read(&p), "non-finite");
        write(&p, &npy("<f4", &[1, 5, 5, 5], false, &f32s(&[0.0; 125])));
        assert_malformed(read(&p), "no channel axis");
        write(&p, &npy("<f4", &[1, 1, 1, 1, 1], false, &f32s(&[0.0])));
        assert_malformed(read(&p), "not an image array");
        write(&p, &npy("<f4", &[1, 3], false, &f32s(&[0.0; 3])));
        assert_malformed(read(&p), "square");
        write(&p, &npy("<c8", &[1, 2, 2], false, &[0; 32]));
        assert_malformed(read(&p), "unsupported dtype");
        let good = npy("<f4", &[2, 2, 2], false, &f32s(&[0.5; 8]));
        write(&p, &good[..good.len() - 1]);
        assert_malformed(read(&p), "truncated data");
        write(&p, b"\x93NUMPY\x01\x00\xff\x00{'descr'");
        assert_malformed(read(&p), "truncated .npy header");
        write(&p, b"PK\x03\x04 not numpy");
        assert_malformed(read(&p), "magic");
    }

    fn npz(entries: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let method = if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, bytes) in entries {
            z.start_file(format!("{name}.npy"), opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn npz_picks_the_split_and_its_labels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mnist.npz");
        let x_train = npy("|u1", &[2, 2, 2], false, &[0, 51, 102, 153, 204, 255, 0, 0]);
        let y_train = npy(
            "<i8",
            &[2],
            false,
            &[3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0],
        );
        let x_test = npy("|u1", &[1, 2, 2], false, &[255; 4]);
        let y_test = npy("|u1", &[1], false, &[9]);
        for deflate in [false, true] {
            let entries = [
                ("x_train", x_train.clone()),
                ("y_train", y_train.clone()),
                ("x_test", x_test.clone()),
                ("y_test", y_test.clone()),
            ];
            write(&p, &npz(&entries, deflate));
            let s = read(&p).unwrap();
            assert_eq!(s.pixels, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 0.0, 0.0]);
            assert_eq!(s.labels, Some(vec![3, 4]));
            let t = read_images(&p, &ReadOptions::default().split(Split::Test)).unwrap();
            assert_eq!(
                (t.pixels.clone(), t.labels.clone()),
                (vec![1.0; 4], Some(vec![9]))
            );
            let all = read_images(&p, &ReadOptions::default().split(Split::All)).unwrap();
            assert_eq!(all.labels, Some(vec![3, 4, 9]));
        }
        // One unnamed array is the images; `labels` of the right length are its labels.
        write(
            &p,
            &npz(
                &[("arr_0", x_test.clone()), ("labels", y_test.clone())],
                true,
            ),
        );
        assert_eq!(read(&p).unwrap().labels, Some(vec![9]));
        // Two arrays and no split names: ambiguous.
        write(
            &p,
            &npz(&[("a", x_test.clone()), ("b", x_test.clone())], false),
        );
        assert!(matches!(read(&p), Err(ImageError::UnknownFormat { .. })));
        write(&p, &npz(&[("y", y_test.clone())], false));
        assert!(matches!(read(&p), Err(ImageError::NoImages { .. })));
        let good = npz(&[("x_train", x_train.clone())], true);
        write(&p, &good[..good.len() - 10]);
        assert_malformed(read(&p), "zip");
        write(&p, b"not a zip at all");
        assert_malformed(read(&p), "zip");
        write(
            &p,
            &npz(&[("x_train", x_train[..x_train.len() - 2].to_vec())], true),
        );
        assert_malformed(read(&p), "'x_train.npy': truncated data");
    }

    fn png(w: u32, h: u32, color: png::ColorType, depth: png::BitDepth, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, w, h);
        e.set_color(color);
        e.set_depth(depth);
        let mut wr = e.write_header().unwrap();
        wr.write_image_data(data).unwrap();
        wr.finish().unwrap();
        out
    }

    /// A baseline JPEG of `blocks` 8×8 blocks side by side, each one flat colour given per
    /// component (Y, or Y Cb Cr), DC coefficients only, quantiser 1: decoders reproduce it
    /// exactly up to the colour conversion.
    fn flat_jpeg(blocks: &[Vec<u8>]) -> Vec<u8> {
        let nc = blocks[0].len();
        let mut b = vec![0xff, 0xd8];
        b.extend([0xff, 0xdb, 0, 67, 0]);
        b.extend([1u8; 64]);
        let sof_len = 8 + 3 * nc as u16;
        b.extend([0xff, 0xc0]);
        b.extend(sof_len.to_be_bytes());
        b.extend([8, 0, 8]);
        b.extend((8 * blocks.len() as u16).to_be_bytes());
        b.push(nc as u8);
        for c in 0..nc {
            b.extend([c as u8 + 1, 0x11, 0]);
        }
        // DC table 0: categories 0..=11 with 4-bit codes; AC table 0: EOB with code "0".
        let mut counts = [0u8; 16];
        counts[3] = 12;
        b.extend([0xff, 0xc4, 0, 3 + 16 + 12, 0x00]);
        b.extend(counts);
        b.extend(0..12u8);
        let mut ac = [0u8; 16];
        ac[0] = 1;
        b.extend([0xff, 0xc4, 0, 3 + 16 + 1, 0x10]);
        b.extend(ac);
        b.push(0);
        b.extend([0xff, 0xda]);
        b.extend((6 + 2 * nc as u16).to_be_bytes());
        b.push(nc as u8);
        for c in 0..nc {
            b.extend([c as u8 + 1, 0x00]);
        }
        b.extend([0, 63, 0]);
        let mut bits: Vec<bool> = Vec::new();
        let push = |v: u32, n: u32, bits: &mut Vec<bool>| {
            for i in (0..n).rev() {
                bits.push((v >> i) & 1 == 1);
            }
        };
        let mut pred = vec![0i32; nc];
        for block in blocks {
            for c in 0..nc {
                let dc = 8 * (block[c] as i32 - 128);
                let diff = dc - pred[c];
                pred[c] = dc;
                let cat = 32 - diff.unsigned_abs().leading_zeros();
                push(cat, 4, &mut bits);
                let v = if diff < 0 { diff - 1 } else { diff };
                push(v as u32 & ((1u32 << cat) - 1), cat, &mut bits);
                push(0, 1, &mut bits); // EOB
            }
        }
        while !bits.len().is_multiple_of(8) {
            bits.push(true);
        }
        for byte in bits.chunks(8) {
            let v = byte.iter().fold(0u8, |a, &x| (a << 1) | x as u8);
            b.push(v);
            if v == 0xff {
                b.push(0);
            }
        }
        b.extend([0xff, 0xd9]);
        b
    }

    #[test]
    fn png_and_jpeg_folders() {
        use png::{BitDepth, ColorType};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("flat");
        // 3×2 images: gray, RGB, RGBA and 16-bit gray, sorted by name.
        write(
            &d.join("a.png"),
            &png(
                3,
                2,
                ColorType::Grayscale,
                BitDepth::Eight,
                &[0, 51, 102, 153, 204, 255],
            ),
        );
        let rgb: Vec<u8> = (0..18).map(|k| k * 10).collect();
        write(
            &d.join("b.png"),
            &png(3, 2, ColorType::Rgb, BitDepth::Eight, &rgb),
        );
        let rgba: Vec<u8> = (0..24).map(|k| if k % 4 == 3 { 7 } else { 255 }).collect();
        write(
            &d.join("c.PNG"),
            &png(3, 2, ColorType::Rgba, BitDepth::Eight, &rgba),
        );
        let g16: Vec<u8> = (0..6).flat_map(|k| [k * 40, 0x11]).collect();
        write(
            &d.join("d.png"),
            &png(3, 2, ColorType::Grayscale, BitDepth::Sixteen, &g16),
        );
        write(&d.join("notes.txt"), b"ignored");
        let s = read(&d).unwrap();
        assert_eq!(
            (s.len(), s.channels, s.height, s.width, s.labels.clone()),
            (4, 3, 2, 3, None)
        );
        // Gray is repeated in all three planes.
        assert_eq!(s.image(0)[..6], s.image(0)[12..]);
        assert_eq!(s.image(0)[1], 0.2);
        // RGB: plane c, pixel p is byte 3p + c.
        assert_eq!(s.image(1)[6 + 4], 130.0 / 255.0);
        assert_eq!(s.image(2), &[1.0; 18]);
        assert_eq!(s.image(3)[2], 80.0 / 255.0);
        assert_eq!(detect_format(&d).unwrap(), ImageFormat::Pictures);
        let gray = read_images(&d, &ReadOptions::default().channels(1)).unwrap();
        assert_eq!((gray.channels, gray.image(0)[1]), (1, 0.2));

        // Class folders, JPEG among them.
        let c = dir.path().join("classes");
        write(
            &c.join("cat/1.png"),
            &png(8, 8, ColorType::Grayscale, BitDepth::Eight, &[100; 64]),
        );
        write(&c.join("dog/1.jpg"), &flat_jpeg(&[vec![100]]));
        write(&c.join("dog/2.jpeg"), &flat_jpeg(&[vec![30], vec![220]]));
        let r = read(&c);
        assert_malformed(r, "is 16×8, but");
        let s = read_images(&c, &ReadOptions::default().size(8, 8)).unwrap();
        assert_eq!((s.len(), s.channels), (3, 1));
        assert_eq!(s.labels, Some(vec![0, 1, 1]));
        assert_eq!(s.image(1), &[100.0 / 255.0; 64]);
        // 16×8 → 8×8 averages column pairs: the left block gives columns 0..4.
        assert_eq!(s.image(2)[3], 30.0 / 255.0);
        assert_eq!(s.image(2)[4], 220.0 / 255.0);

        // A colour JPEG: Y 150, Cb 128, Cr 200 → R = 150 + 1.402·72, G = 150 − 0.714·72.
        let j = dir.path().join("red.jpg");
        write(&j, &flat_jpeg(&[vec![150, 128, 200]]));
        let s = read(&j).unwrap();
        assert_eq!((s.channels, s.height, s.width), (3, 8, 8));
        for (ch, want) in [250.9f32, 98.6, 150.0].iter().enumerate() {
            let got = s.image(0)[ch * 64 + 9] * 255.0;
            assert!((got - want).abs() <= 2.0, "channel {ch}: {got} vs {want}");
        }

        // Corrupt and mislabelled files.
        let bad = dir.path().join("bad.png");
        let good = png(3, 2, ColorType::Rgb, BitDepth::Eight, &rgb);
        write(&bad, &good[..good.len() - 20]);
        assert_malformed(read(&bad), "invalid PNG");
        write(&bad, b"GIF89a....");
        assert_malformed(read(&bad), "neither a PNG nor a JPEG");
        let badj = dir.path().join("bad.jpg");
        let gj = flat_jpeg(&[vec![150, 128, 200]]);
        write(&badj, &gj[..40]);
        assert_malformed(read(&badj), "invalid JPEG");
    }

    #[test]
    fn options_unknown_paths_and_no_panics_on_any_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let data: Vec<u8> = (0..10 * 4 * 4).map(|k| k as u8).collect();
        write(&p, &npy("|u1", &[10, 4, 4], false, &data));
        let opts = ReadOptions::default().subset(3, 9).channels(3).size(2, 2);
        let s = read_images(&p, &opts).unwrap();
        assert_eq!((s.len(), s.channels, s.height, s.width), (3, 3, 2, 2));
        let full = read(&p).unwrap();
        let mut want = full.subset(3, 9).to_channels(3).resize(2, 2);
        want.name = s.name.clone();
        assert_eq!(s, want);
        assert!(matches!(
            read_images(&p, &ReadOptions::default().channels(2)),
            Err(ImageError::Shape(_))
        ));

        assert!(matches!(
            read(&dir.path().join("missing.npy")),
            Err(ImageError::Io { .. })
        ));
        let other = dir.path().join("x.csv");
        write(&other, b"1,2");
        assert!(matches!(
            read(&other),
            Err(ImageError::UnknownFormat { .. })
        ));
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(matches!(
            read(&empty),
            Err(ImageError::UnknownFormat { .. })
        ));

        // Every prefix of a valid file of each format reads or fails, never panics.
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("a.npy", npy("<f4", &[1, 2, 2], false, &f32s(&[0.5; 4]))),
            (
                "b.npz",
                npz(&[("x_train", npy("|u1", &[1, 2, 2], false, &[1; 4]))], true),
            ),
            (
                "train-images-idx3-ubyte.gz",
                gzip(&idx(&[1, 2, 2], &[1; 4])),
            ),
            ("data_batch_1.bin", cifar_record(&[1], 0)),
            (
                "c.png",
                png(2, 2, png::ColorType::Rgb, png::BitDepth::Eight, &[9; 12]),
            ),
            ("d.jpg", flat_jpeg(&[vec![10, 20, 30], vec![40, 50, 60]])),
        ];
        for (name, bytes) in files {
            let f = dir.path().join("prefix").join(name);
            let step = (bytes.len() / 60).max(1);
            for cut in (0..bytes.len()).step_by(step) {
                write(&f, &bytes[..cut]);
                let r = read(&f);
                // A JPEG decoder may fill in missing scan data, and a PNG whose image data is
                // whole reads without its 12-byte end chunk; anything else must be refused.
                let whole_png = name.ends_with(".png") && cut >= bytes.len() - 12;
                if !name.ends_with(".jpg") && !whole_png {
                    assert!(r.is_err(), "{name} cut at {cut} of {} read", bytes.len());
                }
            }
            write(&f, &bytes);
            read(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
