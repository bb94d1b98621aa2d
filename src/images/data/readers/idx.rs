//! MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST): `*-images-idx3-ubyte` of unsigned
//! bytes, optionally gzipped, with labels from the matching `*-labels-idx1-ubyte` next to it
//! when there is one.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::{ImageError, ImageSet, malformed, read_file};

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

/// Reads an IDX images file (gzipped or not) and its labels file when there is one.
pub(super) fn read_idx(path: &Path) -> Result<ImageSet, ImageError> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{ImageFormat, ReadOptions, Split, detect_format, read_images};

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
}
