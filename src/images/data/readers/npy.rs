//! numpy `.npy` arrays and `.npz` archives of them, as image sets (see [`read_images`] for how
//! a layout, the value range and, in an archive, the image and label arrays are decided).
//!
//! [`read_images`]: super::read_images

use std::io::Read as _;
use std::path::Path;

use super::{ImageError, ImageSet, Split, concat, io_err, malformed, read_file};
use crate::data::io::{NpyArray, parse_npy_array as parse_npy};

/// Why an array is not an image set.
#[derive(Debug, thiserror::Error)]
enum ArrayError {
    /// A 2-D array whose rows are not square images.
    #[error(
        "shape {shape:?}: a flattened image must be square (reshape it to [n, H, W] or \
         [n, H, W, C])"
    )]
    NotSquare {
        /// The array's shape.
        shape: Vec<usize>,
    },
    /// A 4-D array with no axis that could be channels.
    #[error("shape {shape:?} has no channel axis of size 1, 3 or 4 (second or last)")]
    NoChannelAxis {
        /// The array's shape.
        shape: Vec<usize>,
    },
    /// An array of another number of dimensions.
    #[error("shape {shape:?} is not an image array ([n, H, W], [n, H, W, C] or [n, C, H, W])")]
    NotImages {
        /// The array's shape.
        shape: Vec<usize>,
    },
    /// No images, or images of no pixels.
    #[error("shape {shape:?} holds no images")]
    Empty {
        /// The array's shape.
        shape: Vec<usize>,
    },
    /// A NaN or an infinity.
    #[error("non-finite value {value} at flat index {index}")]
    NonFinite {
        /// The value.
        value: f32,
        /// Its position in the flat array.
        index: usize,
    },
    /// Values in none of the pixel ranges.
    #[error("values in [{lo}, {hi}] are not pixels (expected [0, 1], [-1, 1] or [0, 255])")]
    NotPixels {
        /// The smallest value.
        lo: f32,
        /// The largest value.
        hi: f32,
    },
}

/// How an array's axes map onto images: `(n, channels, height, width, channels_last)`.
fn image_layout(shape: &[usize]) -> Result<(usize, usize, usize, usize, bool), ArrayError> {
    let is_c = |c: usize| matches!(c, 1 | 3 | 4);
    match *shape {
        [n, h, w] => Ok((n, 1, h, w, false)),
        [n, d] => {
            let s = (d as f64).sqrt().round() as usize;
            if s * s == d && d > 0 {
                Ok((n, 1, s, s, false))
            } else {
                Err(ArrayError::NotSquare {
                    shape: shape.to_vec(),
                })
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
                    return Err(ArrayError::NoChannelAxis {
                        shape: shape.to_vec(),
                    });
                }
            };
            Ok(if channels_last {
                (n, c, a, b, true)
            } else {
                (n, a, b, c, false)
            })
        }
        _ => Err(ArrayError::NotImages {
            shape: shape.to_vec(),
        }),
    }
}

/// An array as an image set in `[0, 1]` (see [`read_images`] for the rules).
///
/// [`read_images`]: super::read_images
fn array_to_images(a: NpyArray) -> Result<ImageSet, ArrayError> {
    let (n, c, h, w, channels_last) = image_layout(&a.shape)?;
    if n == 0 || h == 0 || w == 0 {
        return Err(ArrayError::Empty { shape: a.shape });
    }
    let (lo, hi) = a
        .values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    if let Some(i) = a.values.iter().position(|x| !x.is_finite()) {
        return Err(ArrayError::NonFinite {
            value: a.values[i],
            index: i,
        });
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
        return Err(ArrayError::NotPixels { lo, hi });
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

/// Reads a `.npy` array as an image set.
pub(super) fn read_npy_file(path: &Path) -> Result<ImageSet, ImageError> {
    let bytes = read_file(path)?;
    let array = parse_npy(&bytes).map_err(|m| malformed(path, m.to_string()))?;
    array_to_images(array).map_err(|e| malformed(path, e.to_string()))
}

/// Reads the image array(s) of `split` from an `.npz` archive, with their labels.
pub(super) fn read_npz(path: &Path, split: Split) -> Result<ImageSet, ImageError> {
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
            array_to_images(array).map_err(|e| malformed(path, format!("'{key}': {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{ReadOptions, read_images};
    use super::*;

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
}
