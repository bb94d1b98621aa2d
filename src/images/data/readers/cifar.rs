//! CIFAR binary batches: CIFAR-10 (`data_batch_*.bin`, `test_batch.bin`: records of 1 label
//! byte and 3,072 pixel bytes, R then G then B planes of 32×32) and CIFAR-100 (`train.bin`,
//! `test.bin`: a coarse and a fine label byte, then the pixels; the fine label is kept).

use std::path::{Path, PathBuf};

use super::{ImageError, ImageSet, concat, malformed, read_file};

/// Pixel bytes of one CIFAR image (3 planes of 32×32).
const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// Reads CIFAR batch files with `label_bytes` label bytes per record (1: CIFAR-10, 2: CIFAR-100),
/// concatenated in order.
pub(super) fn read_cifar_files(
    files: &[PathBuf],
    label_bytes: usize,
) -> Result<ImageSet, ImageError> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{ImageFormat, ReadOptions, Split, detect_format, read_images};
    use super::*;

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
}
