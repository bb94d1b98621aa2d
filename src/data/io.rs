//! Reading a user's point set from `.npy` (numpy's format) or CSV, and writing `.npy`.
//!
//! Only what point sets need: little- or big-endian `f4`/`f8` (and integer) arrays of shape
//! `[n]` or `[n, d]`, C or Fortran order; `.npy` versions 1–3. Everything else is a clear error.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Points;

/// Why a point set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file's contents are not a valid point set.
    #[error("{path}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        message: String,
    },
    /// The file's contents could not be parsed as CSV or `.npy`.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong (not a `source`: the message already holds it).
        reason: ParseError,
    },
}

/// Why CSV text or `.npy` bytes could not be parsed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// A CSV line has another number of columns than the lines before it.
    #[error("line {line}: {found} columns, but earlier lines have {expected}")]
    Columns {
        /// 1-based line number.
        line: usize,
        /// Columns on this line.
        found: usize,
        /// Columns on the earlier lines.
        expected: usize,
    },
    /// A CSV field (after the header) is not a number.
    #[error("line {line}: '{field}' is not a number ({reason})")]
    NotANumber {
        /// 1-based line number.
        line: usize,
        /// The field.
        field: String,
        /// The parser's complaint (not a `source`: the message already holds it).
        reason: std::num::ParseFloatError,
    },
    /// The CSV text has no numeric rows.
    #[error("no numeric rows")]
    NoNumericRows,
    /// The `.npy` array is not `[n]` or `[n, d]`.
    #[error("expected shape [n] or [n, d], found {0:?}")]
    Shape(Vec<usize>),
    /// The bytes do not start with the `.npy` magic.
    #[error("not a .npy file (missing \\x93NUMPY magic)")]
    NotNpy,
    /// The `.npy` header is cut short.
    #[error("truncated .npy header")]
    TruncatedHeader,
    /// The `.npy` format version is not 1–3.
    #[error("unsupported .npy version {0}")]
    Version(u8),
    /// The `.npy` header is not UTF-8 text.
    #[error("the .npy header is not text")]
    HeaderNotText,
    /// The `.npy` header lacks a key.
    #[error("the .npy header has no '{0}'")]
    MissingKey(&'static str),
    /// The `.npy` header's `fortran_order` is missing or neither `True` nor `False`.
    #[error("the .npy header has no valid 'fortran_order'")]
    FortranOrder,
    /// The `descr` is not a quoted string (a structured dtype).
    #[error("bad 'descr' (structured dtypes are not supported)")]
    StructuredDtype,
    /// The `descr` string is malformed.
    #[error("bad 'descr'")]
    BadDescr,
    /// A `shape` entry is not a count.
    #[error("bad shape entry '{0}'")]
    ShapeEntry(String),
    /// The element count overflows.
    #[error("shape too large")]
    ShapeTooLarge,
    /// The data is shorter than the shape needs.
    #[error("truncated data: shape {shape:?} of {descr} needs {need} bytes, the file has {have}")]
    TruncatedData {
        /// The header's shape.
        shape: Vec<usize>,
        /// The header's dtype.
        descr: String,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The dtype string is empty.
    #[error("empty dtype")]
    EmptyDtype,
    /// The dtype's size is not a number.
    #[error("unsupported dtype '{0}'")]
    DtypeSize(String),
    /// The dtype is not a supported integer or float.
    #[error("unsupported dtype '{0}' (expected uint8, other integers, float32 or float64)")]
    UnsupportedDtype(String),
}

fn malformed(path: &Path, message: impl Into<String>) -> ReadError {
    ReadError::Malformed {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn parse_failed(path: &Path) -> impl Fn(ParseError) -> ReadError + '_ {
    move |reason| ReadError::Parse {
        path: path.to_owned(),
        reason,
    }
}

/// Reads a point set, choosing the format by extension (`.npy`, else CSV/whitespace text).
/// Rejects empty sets and non-finite values.
pub fn read_points(path: &Path) -> Result<Points, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.into(),
        source,
    })?;
    let points = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        parse_npy(&bytes).map_err(parse_failed(path))?
    } else {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| malformed(path, "not UTF-8 text (expected CSV, or a .npy file)"))?;
        parse_csv(text).map_err(parse_failed(path))?
    };
    if points.n == 0 {
        return Err(malformed(path, "no points"));
    }
    if let Some(i) = points.data.iter().position(|x| !x.is_finite()) {
        return Err(malformed(
            path,
            format!(
                "non-finite value {} at row {}, column {}",
                points.data[i],
                i / points.d,
                i % points.d
            ),
        ));
    }
    Ok(points)
}

/// Parses CSV (or whitespace/semicolon separated) text: one point per line, the same number of
/// columns on every line; a first line that is not numeric is taken as a header; `#` comments.
pub fn parse_csv(text: &str) -> Result<Points, ParseError> {
    let mut data = Vec::new();
    let mut d = None;
    let mut n = 0;
    for (lineno, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        let parsed: Result<Vec<f32>, _> = fields.iter().map(|f| f.parse::<f32>()).collect();
        match parsed {
            Ok(row) => {
                match d {
                    None => d = Some(row.len()),
                    Some(d) if d != row.len() => {
                        return Err(ParseError::Columns {
                            line: lineno + 1,
                            found: row.len(),
                            expected: d,
                        });
                    }
                    _ => {}
                }
                data.extend(row);
                n += 1;
            }
            Err(_) if n == 0 && d.is_none() => {} // header
            Err(e) => {
                let bad = fields
                    .iter()
                    .find(|f| f.parse::<f32>().is_err())
                    .unwrap_or(&"");
                return Err(ParseError::NotANumber {
                    line: lineno + 1,
                    field: bad.to_string(),
                    reason: e,
                });
            }
        }
    }
    let d = d.unwrap_or(0);
    if d == 0 {
        return Err(ParseError::NoNumericRows);
    }
    Ok(Points::new(n, d, data))
}

/// Parses the bytes of a `.npy` file into points (`[n]` becomes `[n, 1]`).
pub fn parse_npy(bytes: &[u8]) -> Result<Points, ParseError> {
    let a = parse_npy_array(bytes)?;
    let (n, d) = match a.shape.as_slice() {
        [n] => (*n, 1),
        [n, d] => (*n, *d),
        other => return Err(ParseError::Shape(other.to_vec())),
    };
    Ok(Points::new(n, d, a.values))
}

/// A decoded `.npy` array: its shape, its dtype kind and size, and its values as `f32`
/// (C order).
pub(crate) struct NpyArray {
    pub(crate) shape: Vec<usize>,
    pub(crate) kind: char,
    pub(crate) size: usize,
    pub(crate) values: Vec<f32>,
}

/// Parses the bytes of a `.npy` file of any shape (C or Fortran order; floats, integers, bools).
pub(crate) fn parse_npy_array(bytes: &[u8]) -> Result<NpyArray, ParseError> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(ParseError::NotNpy);
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        2 | 3 => return Err(ParseError::TruncatedHeader),
        v => return Err(ParseError::Version(v)),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or(ParseError::TruncatedHeader)?;
    let header = std::str::from_utf8(header).map_err(|_| ParseError::HeaderNotText)?;
    let descr = dict_value(header, "descr").ok_or(ParseError::MissingKey("descr"))?;
    let quote = descr
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or(ParseError::StructuredDtype)?;
    let descr = descr[1..].split(quote).next().ok_or(ParseError::BadDescr)?;
    let fortran = match dict_value(header, "fortran_order") {
        Some(v) if v.starts_with("True") => true,
        Some(v) if v.starts_with("False") => false,
        _ => return Err(ParseError::FortranOrder),
    };
    let shape_text = dict_value(header, "shape").ok_or(ParseError::MissingKey("shape"))?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| ParseError::ShapeEntry(s.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let (little, kind, size) = parse_descr(descr)?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or(ParseError::ShapeTooLarge)?;
    let need = count.checked_mul(size).ok_or(ParseError::ShapeTooLarge)?;
    let body = &bytes[start + header_len..];
    if body.len() < need {
        return Err(ParseError::TruncatedData {
            shape,
            descr: descr.to_string(),
            need,
            have: body.len(),
        });
    }
    let mut values: Vec<f32> = body[..need]
        .chunks_exact(size)
        .map(|c| decode(c, kind, little))
        .collect();
    if fortran && shape.len() > 1 {
        values = fortran_to_c(&values, &shape);
    }
    Ok(NpyArray {
        shape,
        kind,
        size,
        values,
    })
}

/// Reorders a Fortran-order (first axis fastest) array into C order (last axis fastest).
fn fortran_to_c(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let mut f_strides = vec![1usize; shape.len()];
    for a in 1..shape.len() {
        f_strides[a] = f_strides[a - 1] * shape[a - 1];
    }
    let mut out = Vec::with_capacity(values.len());
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..values.len() {
        out.push(
            values[idx
                .iter()
                .zip(&f_strides)
                .map(|(i, s)| i * s)
                .sum::<usize>()],
        );
        for a in (0..shape.len()).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// `(little-endian, kind, size)` of a numpy dtype string such as `<f4` or `|u1`.
fn parse_descr(descr: &str) -> Result<(bool, char, usize), ParseError> {
    let (endian, rest) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '=' | '|')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let kind = rest.chars().next().ok_or(ParseError::EmptyDtype)?;
    let size: usize = rest[kind.len_utf8()..]
        .parse()
        .map_err(|_| ParseError::DtypeSize(descr.to_string()))?;
    match (kind, size) {
        ('f', 4 | 8) | ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1) => {
            Ok((endian != '>', if kind == 'b' { 'u' } else { kind }, size))
        }
        _ => Err(ParseError::UnsupportedDtype(descr.to_string())),
    }
}

fn decode(c: &[u8], kind: char, little: bool) -> f32 {
    macro_rules! num {
        ($t:ty) => {{
            let a = c.try_into().expect("chunk size matches dtype");
            if little {
                <$t>::from_le_bytes(a)
            } else {
                <$t>::from_be_bytes(a)
            }
        }};
    }
    match (kind, c.len()) {
        ('f', 4) => num!(f32),
        ('f', 8) => num!(f64) as f32,
        ('i', 1) => c[0] as i8 as f32,
        ('i', 2) => num!(i16) as f32,
        ('i', 4) => num!(i32) as f32,
        ('i', 8) => num!(i64) as f32,
        ('u', 1) => c[0] as f32,
        ('u', 2) => num!(u16) as f32,
        ('u', 4) => num!(u32) as f32,
        ('u', 8) => num!(u64) as f32,
        _ => unreachable!("parse_descr admits only these"),
    }
}

/// The text after `'key':` in a numpy header dict, up to the end of the header.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    for quote in ['\'', '"'] {
        let pat = format!("{quote}{key}{quote}");
        if let Some(i) = header.find(&pat) {
            let rest = header[i + pat.len()..].trim_start();
            return Some(rest.strip_prefix(':')?.trim_start());
        }
    }
    None
}

/// Serialises a float32 array of any shape as `.npy` (version 1.0, C order).
pub fn npy_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let mut dims = String::new();
    for s in shape {
        let _ = write!(dims, "{s}, ");
    }
    if shape.len() > 1 {
        dims.truncate(dims.len() - 2);
    } else {
        dims.truncate(dims.len().saturating_sub(1));
    }
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // Pad with spaces so that magic + len + header + '\n' is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes a float32 `.npy` atomically (to a temporary file, then renamed).
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    debug_assert_eq!(shape.iter().product::<usize>(), data.len());
    let tmp = path.with_extension("npy.tmp");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(&npy_bytes(shape, data))?;
        f.flush()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip() {
        let p = Points::new(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.5, -6.0]);
        let bytes = npy_bytes(&[3, 2], &p.data);
        assert_eq!(
            (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
            0
        );
        assert_eq!(parse_npy(&bytes).unwrap(), p);
        let one = parse_npy(&npy_bytes(&[4], &[1.0, 2.0, 3.0, 4.0])).unwrap();
        assert_eq!((one.n, one.d), (4, 1));
    }

    /// A header exactly as numpy 1.26 writes `np.save(f, np.array([[1.,2.],[3.,4.]]))` (float64).
    #[test]
    fn reads_numpy_float64() {
        let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }".to_string();
        header.push_str(&" ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        header.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        for v in [1.0f64, 2.0, 3.0, 4.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(parse_npy(&b).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
        // Fortran order transposes.
        let mut bf = b.clone();
        let pos = bf.windows(5).position(|w| w == b"False").unwrap();
        bf.splice(pos..pos + 5, b"True ".iter().cloned());
        assert_eq!(parse_npy(&bf).unwrap().data, vec![1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    fn malformed_npy_is_a_clear_error() {
        let good = npy_bytes(&[3, 2], &[0.0; 6]);
        let truncated = &good[..good.len() - 3];
        let err = |bytes: &[u8]| parse_npy(bytes).unwrap_err().to_string();
        assert!(err(truncated).contains("truncated data"));
        assert!(err(b"hello world").contains("magic"));
        assert!(err(&good[..20]).contains("truncated"));
        let mut complex = good.clone();
        let pos = complex.windows(3).position(|w| w == b"<f4").unwrap();
        complex[pos + 1] = b'c';
        assert!(err(&complex).contains("unsupported dtype '<c4'"));
        let three_d = npy_bytes(&[1, 2, 3], &[0.0; 6]);
        assert!(err(&three_d).contains("shape"));
    }

    #[test]
    fn csv_with_header_and_errors() {
        let p = parse_csv("x,y\n1,2\n3, 4\n\n# c\n5 6\n").unwrap();
        assert_eq!((p.n, p.d), (3, 2));
        assert_eq!(p.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let err = |text: &str| parse_csv(text).unwrap_err().to_string();
        assert!(err("1,2\n3\n").contains("line 2"));
        assert!(err("1,2\n3,abc\n").contains("'abc'"));
        assert!(parse_csv("").is_err());
    }

    #[test]
    fn read_points_rejects_nan_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.csv");
        std::fs::write(&f, "1,2\nnan,3\n").unwrap();
        let e = read_points(&f).unwrap_err().to_string();
        assert!(e.contains("non-finite") && e.contains("row 1"), "{e}");
        assert!(matches!(
            read_points(&dir.path().join("none.npy")),
            Err(ReadError::Io { .. })
        ));
        let g = dir.path().join("b.npy");
        write_npy(&g, &[2, 3], &[1., 2., 3., 4., 5., 6.]).unwrap();
        assert_eq!(read_points(&g).unwrap().d, 3);
    }
}
