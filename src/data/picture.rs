//! Pictures as data: PNG and JPEG decoding (shared with the image datasets) and tracing a picture
//! into a 2D point set, drawn in proportion to its ink, so that a logo or a letter becomes a
//! training distribution.
//!
//! Ink is the alpha channel when the picture has one that is not everywhere opaque (a logo on a
//! transparent background), else darkness, `1 − luminance` (dark strokes on light paper), with
//! Rec. 601 luma weights. A pixel's points are spread uniformly over its square. The picture's
//! longer side spans `[−2, 2]` (the scale of the built-in 2D datasets), centred, with y up.

use std::path::Path;

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Points;
use super::io::ReadError;

/// Largest picture traced or decoded, in pixels (a 8192 × 8192 photo).
pub const MAX_PIXELS: u64 = 1 << 26;

/// Half the span of the traced set's longer side.
pub const HALF_SPAN: f64 = 2.0;

/// A decoded picture: interleaved 8-bit samples `[H, W, C]`, `C` = 1 (grey), 2 (grey + alpha),
/// 3 (RGB) or 4 (RGBA).
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// Samples per pixel.
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `height · width · channels` samples.
    pub data: Vec<u8>,
}

/// Why a PNG or JPEG could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The PNG decoder's error.
    #[error("invalid PNG: {0}")]
    Png(#[from] png::DecodingError),
    /// The JPEG decoder's error.
    #[error("invalid JPEG: {0}")]
    Jpeg(#[from] zune_jpeg::errors::DecodeErrors),
    /// Neither magic number.
    #[error("neither a PNG nor a JPEG file (bad magic bytes)")]
    NotPicture,
    /// The decoded frame would be larger than [`MAX_PIXELS`].
    #[error("the image is too large ({width} × {height} pixels; at most {MAX_PIXELS} are read)")]
    TooLarge {
        /// Columns.
        width: u64,
        /// Rows.
        height: u64,
    },
    /// A palette PNG came out of the decoder unexpanded.
    #[error("invalid PNG: palette not expanded")]
    Palette,
    /// The decoder gave fewer bytes than the image's size needs.
    #[error("the decoder gave a short frame")]
    ShortFrame,
    /// The JPEG decoder gave no image size.
    #[error("invalid JPEG: no image information")]
    NoInfo,
}

fn check_size(width: u64, height: u64) -> Result<(), DecodeError> {
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(DecodeError::TooLarge { width, height });
    }
    Ok(())
}

/// Decodes a PNG (expanded to 8 bits per sample, alpha kept) or a JPEG (grey or RGB), told
/// apart by their magic bytes.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if bytes.starts_with(b"\x89PNG") {
        decode_png(bytes)
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        decode_jpeg(bytes)
    } else {
        Err(DecodeError::NotPicture)
    }
}

fn decode_png(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info()?;
    let (w, h) = reader.info().size();
    check_size(w.into(), h.into())?;
    let size = reader.output_buffer_size().ok_or(DecodeError::TooLarge {
        width: w.into(),
        height: h.into(),
    })?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf)?;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(DecodeError::Palette),
    };
    let (height, width) = (info.height as usize, info.width as usize);
    let len = height * width * channels;
    if buf.len() < len {
        return Err(DecodeError::ShortFrame);
    }
    buf.truncate(len);
    Ok(Decoded {
        channels,
        height,
        width,
        data: buf,
    })
}

fn decode_jpeg(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    let mut dec = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(bytes));
    dec.decode_headers()?;
    if let Some((w, h)) = dec.dimensions() {
        check_size(w as u64, h as u64)?;
    }
    let grey = matches!(dec.input_colorspace(), Some(ColorSpace::Luma));
    let (cs, channels) = if grey {
        (ColorSpace::Luma, 1)
    } else {
        (ColorSpace::RGB, 3)
    };
    dec.set_options(dec.options().jpeg_set_out_colorspace(cs));
    let mut data = dec.decode()?;
    let info = dec.info().ok_or(DecodeError::NoInfo)?;
    let (height, width) = (info.height as usize, info.width as usize);
    let len = height * width * channels;
    if data.len() < len {
        return Err(DecodeError::ShortFrame);
    }
    data.truncate(len);
    Ok(Decoded {
        channels,
        height,
        width,
        data,
    })
}

impl Decoded {
    /// Each pixel's ink in `[0, 1]`: alpha when some pixel is not opaque, else darkness.
    pub fn ink(&self) -> Vec<f64> {
        let c = self.channels;
        let px = self.data.chunks_exact(c);
        let has_alpha = c == 2 || c == 4;
        if has_alpha && px.clone().any(|p| p[c - 1] < 255) {
            return px.map(|p| p[c - 1] as f64 / 255.0).collect();
        }
        px.map(|p| {
            let luma = if c >= 3 {
                0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64
            } else {
                p[0] as f64
            };
            1.0 - luma / 255.0
        })
        .collect()
    }
}

/// Whether `path` names a picture that [`trace`] reads (by extension).
pub fn is_picture(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// `n` points drawn from the picture at `path` in proportion to its ink (module docs), seeded.
pub fn trace(path: &Path, n: usize, seed: u64) -> Result<Points, ReadError> {
    let malformed = |message: String| ReadError::Malformed {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let picture = decode(&bytes).map_err(|e| malformed(e.to_string()))?;
    trace_decoded(&picture, n, seed).map_err(|e| malformed(e.to_string()))
}

/// Why a decoded picture gives no points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// `n` was 0.
    #[error("asked for 0 points")]
    NoPoints,
    /// No pixel has ink.
    #[error("the picture is blank: no pixel has ink (darkness, or alpha where it is transparent)")]
    Blank,
}

/// [`trace`] on a decoded picture.
pub fn trace_decoded(picture: &Decoded, n: usize, seed: u64) -> Result<Points, TraceError> {
    let (h, w) = (picture.height, picture.width);
    if n == 0 {
        return Err(TraceError::NoPoints);
    }
    let ink = picture.ink();
    let mut cumulative = Vec::with_capacity(ink.len());
    let mut total = 0.0;
    for v in &ink {
        total += v;
        cumulative.push(total);
    }
    if total <= 0.0 || h == 0 || w == 0 {
        return Err(TraceError::Blank);
    }
    let scale = 2.0 * HALF_SPAN / h.max(w) as f64;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let u = rng.random::<f64>() * total;
        let i = cumulative.partition_point(|&c| c <= u).min(ink.len() - 1);
        let (row, col) = (i / w, i % w);
        let x = (col as f64 + rng.random::<f64>() - w as f64 / 2.0) * scale;
        let y = (h as f64 / 2.0 - row as f64 - rng.random::<f64>()) * scale;
        data.push(x as f32);
        data.push(y as f32);
    }
    Ok(Points::new(n, 2, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(height: usize, width: usize, data: Vec<u8>) -> Decoded {
        Decoded {
            channels: 1,
            height,
            width,
            data,
        }
    }

    /// Two pixels, black and mid-grey (darkness 1 and 128/255): the black one gets
    /// 255 / (255 + 128) = 66.6% of the points, within 4 standard errors; each lands in its own
    /// square, the longer side spanning [−2, 2].
    #[test]
    fn points_follow_darkness() {
        let n = 40_000;
        let p = trace_decoded(&grey(1, 2, vec![0, 127]), n, 3).unwrap();
        let left = p.data.chunks(2).filter(|xy| xy[0] < 0.0).count() as f64 / n as f64;
        let want = 255.0 / (255.0 + 128.0);
        let se = (want * (1.0 - want) / n as f64).sqrt();
        assert!((left - want).abs() < 4.0 * se, "{left} vs {want}");
        for xy in p.data.chunks(2) {
            assert!(
                (-2.0..=2.0).contains(&xy[0]) && (-1.0..=1.0).contains(&xy[1]),
                "{xy:?}"
            );
        }
        // Seeded: the same seed gives the same points.
        assert_eq!(p, trace_decoded(&grey(1, 2, vec![0, 127]), n, 3).unwrap());
    }

    /// Alpha wins when the picture has transparency: only the opaque pixel (top left of 2 × 2)
    /// gets points, whatever the colours; y is up.
    #[test]
    fn alpha_is_the_ink_of_a_transparent_picture() {
        let mut data = vec![255u8; 16];
        for (i, px) in data.chunks_mut(4).enumerate() {
            px[3] = if i == 0 { 255 } else { 0 };
        }
        let picture = Decoded {
            channels: 4,
            height: 2,
            width: 2,
            data,
        };
        let p = trace_decoded(&picture, 1000, 0).unwrap();
        assert!(p.data.chunks(2).all(|xy| xy[0] <= 0.0 && xy[1] >= 0.0));
        // An opaque white picture has no ink.
        let blank = grey(2, 2, vec![255; 4]);
        assert_eq!(trace_decoded(&blank, 10, 0), Err(TraceError::Blank));
        assert_eq!(
            trace_decoded(&grey(1, 2, vec![0, 127]), 0, 0),
            Err(TraceError::NoPoints)
        );
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert!(matches!(decode(b"GIF89a"), Err(DecodeError::NotPicture)));
        assert!(decode(b"\x89PNG\r\n\x1a\n garbage").is_err());
        assert!(decode(&[0xff, 0xd8, 0xff]).is_err());
    }
}
