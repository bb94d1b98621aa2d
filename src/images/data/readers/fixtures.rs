//! Test fixtures shared by the readers' tests: small files of every format, built in memory,
//! and helpers to write and read them.

use std::io::Write as _;
use std::path::Path;

use super::{ImageError, ImageSet, ReadOptions, read_images};

/// Writes `bytes` to `path`, creating its directory.
pub(super) fn write(path: &Path, bytes: &[u8]) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// Reads `path` with the default options.
pub(super) fn read(path: &Path) -> Result<ImageSet, ImageError> {
    read_images(path, &ReadOptions::default())
}

/// Checks that `r` is a [`ImageError::Malformed`] whose message contains `needle`.
pub(super) fn assert_malformed(r: Result<ImageSet, ImageError>, needle: &str) {
    match r {
        Err(e @ ImageError::Malformed { .. }) => {
            let m = e.to_string();
            assert!(m.contains(needle), "'{m}' lacks '{needle}'");
        }
        other => panic!("expected a Malformed error with '{needle}', got {other:?}"),
    }
}

/// A CIFAR record: labels, then pixel `k` of plane `c` = `(seed + 7c + k) mod 256`.
pub(super) fn cifar_record(labels: &[u8], seed: u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    for c in 0..3usize {
        r.extend((0..1024usize).map(|k| (seed as usize + 7 * c + k) as u8));
    }
    r
}

/// An IDX file of unsigned bytes with sizes `dims`.
pub(super) fn idx(dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(body);
    b
}

/// `bytes` gzipped.
pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An `.npy` file of raw little-endian data.
pub(super) fn npy(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
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

/// Little-endian bytes of `v`.
pub(super) fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// An `.npz` archive of `(name, .npy bytes)` entries, deflated or stored.
pub(super) fn npz(entries: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
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

/// A PNG of `w × h` pixels of `data` in `color` and `depth`.
pub(super) fn png(
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Vec<u8> {
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
pub(super) fn flat_jpeg(blocks: &[Vec<u8>]) -> Vec<u8> {
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
