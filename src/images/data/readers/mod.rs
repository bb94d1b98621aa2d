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
//!
//! This module tells the format from the path and holds what the readers share; each format's
//! parser is in its own submodule (`cifar`, `idx`, `npy`, `pictures`).

mod cifar;
#[cfg(test)]
mod fixtures;
mod idx;
mod npy;
mod pictures;

use std::path::{Path, PathBuf};

use super::{ImageError, ImageSet, subset_indices};
use cifar::read_cifar_files;
use idx::read_idx;
use npy::{read_npy_file, read_npz};
use pictures::read_pictures;

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

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

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
