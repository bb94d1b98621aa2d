//! PNG and JPEG files: one file, a folder of them (sorted by name, no labels), or a folder of
//! class folders (`root/<class>/*.png`; labels are the class folders' sorted positions).
//! Alpha is dropped; 16-bit PNGs are reduced to 8 bits.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{ImageError, ImageSet, ReadOptions, malformed, read_file};

/// One decoded picture: `(channels, height, width, [C, H, W] pixels in [0, 1])`, C = 1 or 3.
type Picture = (usize, usize, usize, Vec<f32>);

/// Decodes one PNG or JPEG file, told apart by its magic bytes (`data::picture::decode`).
fn decode_picture(path: &Path) -> Result<Picture, ImageError> {
    let bytes = read_file(path)?;
    let d = crate::data::picture::decode(&bytes).map_err(|e| malformed(path, e.to_string()))?;
    Ok(planes(&d.data, d.channels, d.height, d.width))
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

/// Decodes PNG/JPEG `files` (in parallel) into one set with `options`' channels and size; without
/// a size they must all have the first one's.
pub(super) fn read_pictures(
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
    use super::super::fixtures::*;
    use super::super::{ImageFormat, ReadOptions, detect_format, read_images};

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
}
