//! A single-threaded `f32` GEMM for the fused MLP's shallow products on AVX-512 and AVX2 CPUs.
//!
//! It was written for the MLP's shallow products (the first layer, fed `[x, t]`, with a depth of
//! 3 or 11; the backward pass of the output layer, with a depth of 2 or 10), which `speed
//! --kernels` once timed through `gemm`'s driver at 6–38 GFLOP/s on an AMD Zen 4 core. That call
//! did not transpose the row-major product first, as `gemm::gemm` does; timed the way gemm runs
//! them (Intel Xeon, 2026-12-05), gemm takes these at 6–87 GFLOP/s with AVX-512 and this
//! kernel at 28–85, ahead only on the 2-deep product (4×) (docs/SPEED.md). This one packs both
//! operands BLIS-style and runs a 6 × 64 AVX-512 microkernel (24 accumulators; per step of `k`,
//! four vector loads of the packed right operand and six broadcasts of the left). On the 1,000³
//! products it is no faster than `gemm` (both about 80% of the core's 117 GFLOP/s FMA peak on
//! Zen 4), so [`super::fast`] sends it only products at most 16 deep and 64 wide.
//! `speed --kernels` measures both on every shape of the paper's configs. Where AVX-512F is
//! absent, the same packing runs an AVX2/FMA microkernel (the 6 × 64 tile as four 6 × 16
//! passes, 12 accumulators), which sums in the same order and so gives the same numbers.
//!
//! Each output element is a sum over `k` in blocks of [`KC`], in order, with FMAs: the result
//! differs from `gemm`'s in rounding only, and is the same on every run.

use crate::model::simd;

/// Rows of the microkernel's tile.
const MR: usize = 6;
/// Columns of the microkernel's tile (four 16-lane vectors).
const NR: usize = 64;
/// Depth of a packed block: the left micro-panel (`MR × KC`, 6 KiB) stays in L1.
const KC: usize = 256;
/// Columns of a packed right block (`KC × NC`, 512 KiB, in L2).
const NC: usize = 512;

/// A read-only matrix operand: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A `rows × cols` matrix over `data`: row-major, or read transposed (`data` then holds
    /// its transpose, `cols × rows`, row-major), as the backward pass reads its operands.
    pub fn view(data: &'a [f32], transposed: bool, rows: usize, cols: usize) -> Self {
        let (rs, cs) = if transposed { (1, rows) } else { (cols, 1) };
        Self { data, rs, cs }
    }

    /// The matrix from element `(i, j)` on, at the same strides.
    pub fn starting_at(self, i: usize, j: usize) -> Self {
        Self {
            data: &self.data[i * self.rs + j * self.cs..],
            ..self
        }
    }

    #[inline(always)]
    pub(crate) fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// Packing buffers of [`sgemm`], kept between calls.
#[derive(Clone, Debug, Default)]
pub struct SgemmBuffers {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// Which microkernel [`sgemm`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// 6 × 64, four 16-lane registers a row (AVX-512F).
    Avx512,
    /// 6 × 64 as four passes of 6 × 16, two 8-lane registers a row (AVX2 and FMA).
    Avx2,
}

impl Tile {
    /// Whether this CPU runs `self`.
    pub fn supported(self) -> bool {
        match self {
            Tile::Avx512 => simd::avx512(),
            Tile::Avx2 => simd::avx2_fma(),
        }
    }
}

/// The tile [`sgemm`] runs on this CPU: AVX-512 where it has it, else AVX2, else none
/// (`COLLAPSE_EXPLORER_SGEMM=avx2` picks AVX2 on an AVX-512 CPU, to time it there).
pub fn tile() -> Option<Tile> {
    static TILE: std::sync::OnceLock<Option<Tile>> = std::sync::OnceLock::new();
    *TILE.get_or_init(|| {
        let forced = std::env::var("COLLAPSE_EXPLORER_SGEMM").ok();
        [Tile::Avx512, Tile::Avx2]
            .into_iter()
            .filter(|t| forced.as_deref() != Some("avx2") || *t == Tile::Avx2)
            .find(|t| t.supported())
    })
}

/// Whether this CPU runs [`sgemm`] (x86-64 with AVX-512F, or AVX2 and FMA).
pub fn available() -> bool {
    tile().is_some()
}

/// `C[m, n] (+)= A[m, k] · B[k, n]`, `C` row-major with row stride `ldc`; `accumulate`
/// false overwrites `C`. Panics unless [`available`].
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    buf: &mut SgemmBuffers,
) {
    let tile = tile().expect("sgemm needs AVX-512F, or AVX2 and FMA");
    sgemm_on(tile, m, n, k, c, ldc, a, b, accumulate, buf);
}

/// [`sgemm`] on a given tile, which this CPU must run.
#[allow(clippy::too_many_arguments)]
fn sgemm_on(
    tile: Tile,
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    buf: &mut SgemmBuffers,
) {
    assert!(tile.supported(), "sgemm: this CPU does not run {tile:?}");
    if m == 0 || n == 0 {
        return;
    }
    assert_extents("sgemm", (m, n, k), c, ldc, a, b);
    if k == 0 {
        if !accumulate {
            for row in c.chunks_mut(ldc).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    let m_panels = m.div_ceil(MR);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        let n_panels = nc.div_ceil(NR);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b(&mut buf.b, b, pc, kc, jc, nc);
            pack_a(&mut buf.a, a, pc, kc, m);
            let load = accumulate || pc > 0;
            for ip in 0..m_panels {
                let (i0, mr) = (ip * MR, MR.min(m - ip * MR));
                let ap = &buf.a[ip * MR * kc..(ip + 1) * MR * kc];
                for jp in 0..n_panels {
                    let (j0, nr) = (jc + jp * NR, NR.min(nc - jp * NR));
                    let bp = &buf.b[jp * NR * kc..(jp + 1) * NR * kc];
                    let off = i0 * ldc + j0;
                    // SAFETY: the tile's CPU features are present (asserted above); its `mr`
                    // rows of `nr` columns at `off` lie in `c` (asserted extents), and the
                    // packed panels hold `kc` steps of MR and NR values.
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        let (a, b, c) = (ap.as_ptr(), bp.as_ptr(), &mut c[off..]);
                        match tile {
                            Tile::Avx512 => kernel(kc, a, b, c, ldc, mr, nr, load),
                            Tile::Avx2 => kernel_avx2(kc, a, b, c, ldc, mr, nr, load),
                        }
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    let _ = (ap, bp, off, mr, nr, load);
                }
            }
        }
    }
}

/// Packs `B[pc..pc+kc, jc..jc+nc]` into panels of NR columns, each `kc` rows of NR values,
/// zero-padded to NR.
fn pack_b(buf: &mut Vec<f32>, b: MatRef<'_>, pc: usize, kc: usize, jc: usize, nc: usize) {
    let panels = nc.div_ceil(NR);
    buf.clear();
    buf.resize(panels * NR * kc, 0.0);
    for (jp, panel) in buf.chunks_exact_mut(NR * kc).enumerate() {
        let j0 = jc + jp * NR;
        let w = NR.min(jc + nc - j0);
        if b.cs == 1 {
            for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let start = (pc + p) * b.rs + j0;
                dst[..w].copy_from_slice(&b.data[start..start + w]);
            }
        } else {
            for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                for (j, d) in dst[..w].iter_mut().enumerate() {
                    *d = b.at(pc + p, j0 + j);
                }
            }
        }
    }
}

/// Packs `A[.., pc..pc+kc]` (all `m` rows) into micro-panels of MR rows, each `kc` steps of
/// MR values, zero-padded to MR.
fn pack_a(buf: &mut Vec<f32>, a: MatRef<'_>, pc: usize, kc: usize, m: usize) {
    let panels = m.div_ceil(MR);
    buf.clear();
    buf.resize(panels * MR * kc, 0.0);
    for (ip, panel) in buf.chunks_exact_mut(MR * kc).enumerate() {
        let i0 = ip * MR;
        let h = MR.min(m - i0);
        if a.rs == 1 {
            // Columns of A are contiguous (A is a transposed view): copy runs of h rows.
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                let start = i0 + (pc + p) * a.cs;
                dst[..h].copy_from_slice(&a.data[start..start + h]);
            }
        } else {
            for i in 0..h {
                let row = &a.data[(i0 + i) * a.rs..];
                for p in 0..kc {
                    panel[p * MR + i] = row[(pc + p) * a.cs];
                }
            }
        }
    }
}

/// The 6 × 64 microkernel: `C[..mr, ..nr] = (load ? C : 0) + Σ_p a[p, ..] ⊗ b[p, ..]`.
///
/// # Safety
/// AVX-512F must be present; `a` holds `kc × MR` and `b` `kc × NR` floats; `c` holds `mr`
/// rows of stride `ldc` with `nr` columns from its start.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: &mut [f32],
    ldc: usize,
    mr: usize,
    nr: usize,
    load: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 4]; MR];
    let mut a = a;
    let mut b = b;
    // SAFETY (whole body): pointer offsets stay within the packed panels (kc steps of MR and
    // NR floats); C accesses are masked to the tile's `mr × nr` extent inside `c`.
    unsafe {
        for _ in 0..kc {
            let b0 = _mm512_loadu_ps(b);
            let b1 = _mm512_loadu_ps(b.add(16));
            let b2 = _mm512_loadu_ps(b.add(32));
            let b3 = _mm512_loadu_ps(b.add(48));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*a.add(i));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
                row[2] = _mm512_fmadd_ps(ai, b2, row[2]);
                row[3] = _mm512_fmadd_ps(ai, b3, row[3]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        let masks: [u16; 4] = std::array::from_fn(|v| {
            let lanes = nr.saturating_sub(16 * v).min(16);
            if lanes == 16 {
                u16::MAX
            } else {
                (1u16 << lanes) - 1
            }
        });
        let cp = c.as_mut_ptr();
        for (i, row) in acc.iter().enumerate().take(mr) {
            for (v, &x) in row.iter().enumerate() {
                if masks[v] == 0 {
                    continue;
                }
                let p = cp.add(i * ldc + 16 * v);
                let sum = if load {
                    _mm512_add_ps(x, _mm512_maskz_loadu_ps(masks[v], p))
                } else {
                    x
                };
                _mm512_mask_storeu_ps(p, masks[v], sum);
            }
        }
    }
}

/// [`kernel`] with AVX2 and FMA: the 64 columns as four passes of 6 × 16 (12 accumulators), each
/// element summed in the same order as there (`a b` with FMAs over `p`, then `+ C`).
///
/// # Safety
/// AVX2 and FMA must be present; otherwise as [`kernel`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_avx2(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: &mut [f32],
    ldc: usize,
    mr: usize,
    nr: usize,
    load: bool,
) {
    use std::arch::x86_64::*;
    let cp = c.as_mut_ptr();
    // SAFETY (whole body): pointer offsets stay within the packed panels (kc steps of MR and
    // NR floats); C accesses stay within the tile's `mr × nr` extent inside `c`.
    unsafe {
        for v in 0..NR / 16 {
            let cols = nr.saturating_sub(16 * v).min(16);
            if cols == 0 {
                break;
            }
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            for p in 0..kc {
                let bp = b.add(p * NR + 16 * v);
                let (b0, b1) = (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = _mm256_set1_ps(*a.add(p * MR + i));
                    row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                    row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
                }
            }
            for (i, row) in acc.iter().enumerate().take(mr) {
                for (h, &x) in row.iter().enumerate() {
                    let lanes = cols.saturating_sub(8 * h).min(8);
                    let p = cp.add(i * ldc + 16 * v + 8 * h);
                    if lanes == 8 {
                        let sum = if load {
                            _mm256_add_ps(x, _mm256_loadu_ps(p))
                        } else {
                            x
                        };
                        _mm256_storeu_ps(p, sum);
                    } else if lanes > 0 {
                        let mut t = [0f32; 8];
                        _mm256_storeu_ps(t.as_mut_ptr(), x);
                        for (j, t) in t.iter().enumerate().take(lanes) {
                            *p.add(j) = if load { t + *p.add(j) } else { *t };
                        }
                    }
                }
            }
        }
    }
}

/// Panics, naming `who`, unless `C` (`m` rows of stride `ldc ≥ n`), `A` (`m × k`) and `B`
/// (`k × n`) hold every element of an `m × n × k` product (`m, n > 0`).
pub(crate) fn assert_extents(
    who: &str,
    (m, n, k): (usize, usize, usize),
    c: &[f32],
    ldc: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
) {
    assert!(
        ldc >= n && c.len() >= (m - 1) * ldc + n,
        "{who}: C too small"
    );
    if k > 0 {
        assert!(
            a.data.len() > (m - 1) * a.rs + (k - 1) * a.cs,
            "{who}: A too small"
        );
        assert!(
            b.data.len() > (k - 1) * b.rs + (n - 1) * b.cs,
            "{who}: B too small"
        );
    }
}

/// What the product kernels' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::MatRef;

    /// Test operands of `m × k` and `k × n` elements, in about ±1 (views over them, read
    /// transposed or not: `MatRef::view`).
    pub(crate) fn operands(m: usize, n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let a = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
            .collect();
        let b = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 9.0)
            .collect();
        (a, b)
    }

    /// `A · B` by a float64 triple loop, `[m, n]` row-major.
    pub(crate) fn reference(
        m: usize,
        n: usize,
        k: usize,
        a: MatRef<'_>,
        b: MatRef<'_>,
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a.at(i, p) as f64 * b.at(p, j) as f64).sum();
            }
        }
        c
    }

    /// `c` (`m` rows of stride `ldc`, filled with 0.5 before the product) holds `want` (plus the
    /// 0.5 where the product accumulated) to float32 rounding over `k` terms, and 0.5 past
    /// column `n`.
    pub(crate) fn assert_product(
        what: &str,
        c: &[f32],
        ldc: usize,
        want: &[f64],
        (m, n, k): (usize, usize, usize),
        accumulate: bool,
    ) {
        for i in 0..m {
            for j in 0..ldc {
                let got = c[i * ldc + j] as f64;
                if j >= n {
                    assert_eq!(got, 0.5, "{what}: wrote outside C at ({i}, {j})");
                    continue;
                }
                let w = want[i * n + j] + if accumulate { 0.5 } else { 0.0 };
                let tol = 1e-5 * (k as f64).sqrt() * (1.0 + w.abs());
                assert!(
                    (got - w).abs() <= tol,
                    "{what} {m}x{n}x{k} at ({i}, {j}): {got} vs {w}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_product, operands, reference};
    use super::*;

    /// Every edge case of the tiling (rows and columns that are not a multiple of the tile,
    /// depths across blocks, transposed operands, overwrite and accumulate) against float64.
    #[test]
    fn matches_a_float64_triple_loop() {
        let tiles: Vec<Tile> = [Tile::Avx512, Tile::Avx2]
            .into_iter()
            .filter(|t| t.supported())
            .collect();
        if tiles.is_empty() {
            eprintln!("skipped: neither AVX-512F nor AVX2 and FMA on this CPU");
            return;
        }
        let mut buf = SgemmBuffers::default();
        for &(m, n, k) in &[
            (1, 1, 1),
            (7, 65, 3),
            (13, 130, 257),
            (100, 100, 1000),
            (37, 600, 300),
        ] {
            let (av, bv) = operands(m, n, k);
            for (a_t, b_t) in [(false, false), (true, false), (false, true)] {
                let (a, b) = (MatRef::view(&av, a_t, m, k), MatRef::view(&bv, b_t, k, n));
                let want = reference(m, n, k, a, b);
                let ldc = n + 3;
                for (accumulate, &tile) in [false, true]
                    .into_iter()
                    .flat_map(|acc| tiles.iter().map(move |t| (acc, t)))
                {
                    let mut c = vec![0.5f32; m * ldc];
                    sgemm_on(tile, m, n, k, &mut c, ldc, a, b, accumulate, &mut buf);
                    // Every tile this CPU runs gives the same numbers bit for bit.
                    let mut first = vec![0.5f32; m * ldc];
                    sgemm_on(
                        tiles[0], m, n, k, &mut first, ldc, a, b, accumulate, &mut buf,
                    );
                    assert!(
                        c.iter()
                            .zip(&first)
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{m}x{n}x{k}: {tile:?} and {:?} differ",
                        tiles[0]
                    );
                    let what = format!("{tile:?}");
                    assert_product(&what, &c, ldc, &want, (m, n, k), accumulate);
                }
            }
        }
    }
}
