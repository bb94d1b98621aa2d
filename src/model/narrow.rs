//! Products with a narrow side (at most [`NARROW`] columns or rows), which `gemm` runs far below
//! its rate because it puts that side in the 16 lanes of its microkernel. Config A's output
//! layer (2 features) forward, `[1000, 100] · [100, 2]`, and its weight gradient,
//! `[100, 1000] · [1000, 2]`, took 32 µs each a shard through `gemm` on an AMD Zen 4 core (12
//! GFLOP/s, 3.5% of a training step). Here the wide side is in the lanes:
//! - [`Kind::DotRows`]: each output row is a few dot products of a contiguous row of `A` with the
//!   columns of `B` (packed once per call), summed in 16 lanes and then across them;
//! - [`Kind::OuterWideRows`] and [`Kind::OuterWideCols`]: a weight gradient `Σ_r u_r ⊗ v_r` over
//!   the batch rows `r`, the wide vector `u_r` (at most [`WIDE`] long, 7 registers) in the lanes,
//!   the narrow one broadcast, every accumulator in a register for the whole sum.
//!
//! `speed --kernels` on that core: 58 GFLOP/s for the forward product, 102 for the output
//! layer's weight gradient and 103 for the input layer's (`[3, 1000] · [1000, 100]`, which gemm
//! ran at 40).
//!
//! AVX-512F only: with AVX2's 16 registers the accumulators would not fit, and those CPUs keep
//! `gemm` (as does `COLLAPSE_EXPLORER_SIMD=avx2`). Every sum runs in a fixed order, so a
//! product gives the same numbers on every run; they differ from `gemm`'s in rounding only.

// The kernels exist only on x86-64; elsewhere `kind` never picks one, and the code that would
// drive them is left unused (checked with `cargo clippy --target aarch64-unknown-linux-gnu`).
#![cfg_attr(
    not(target_arch = "x86_64"),
    allow(dead_code, unused_variables, unreachable_code)
)]

use crate::model::sgemm::{self, MatRef};
use crate::model::simd;

/// The most columns (or rows) a narrow side has.
pub const NARROW: usize = 4;
/// The longest narrow side of a weight gradient: its 3 × 7 accumulators, 3 broadcasts and a
/// load fit in 32 registers.
const OUTER_NARROW: usize = 3;
/// The longest wide side of a weight gradient: 7 registers of 16 lanes.
pub const WIDE: usize = 112;
/// Registers of the wide side.
const WIDE_REGS: usize = WIDE / 16;

/// Which kernel takes a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `n ≤ 4` columns, `A`'s rows contiguous: dot products.
    DotRows,
    /// `n ≤ 3` columns, `A`'s columns contiguous and `m ≤ 112`: `Σ_r A[:, r] ⊗ B[r, :]`.
    OuterWideRows,
    /// `m ≤ 3` rows, `B`'s rows contiguous and `n ≤ 112`: `Σ_r A[:, r] ⊗ B[r, :]`, the other way.
    OuterWideCols,
}

/// The kernel for `dst[m, n] = A[m, k] · B[k, n]` at these strides on this CPU, if any.
pub fn kind(m: usize, n: usize, a: MatRef<'_>, b: MatRef<'_>) -> Option<Kind> {
    if !simd::avx512() || m == 0 || n == 0 {
        return None;
    }
    if n <= OUTER_NARROW && a.rs == 1 && m <= WIDE {
        Some(Kind::OuterWideRows)
    } else if m <= OUTER_NARROW && b.cs == 1 && n <= WIDE {
        Some(Kind::OuterWideCols)
    } else if n <= NARROW && a.cs == 1 {
        Some(Kind::DotRows)
    } else {
        None
    }
}

/// `dst[m, n] (+)= A[m, k] · B[k, n]` (row stride `dst_rs`) by the kernel [`kind`] picks for
/// these operands; `false`, and `dst` untouched, where it picks none.
#[allow(clippy::too_many_arguments)]
pub fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
) -> bool {
    let Some(kind) = kind(m, n, a, b) else {
        return false;
    };
    sgemm::assert_extents("narrow::product", (m, n, k), dst, dst_rs, a, b);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `kind` found AVX-512F and the strides and sizes its kernel needs; the extents
    // just asserted keep every access inside the three slices.
    unsafe {
        match kind {
            Kind::DotRows => dot_rows(m, n, k, dst, dst_rs, a, b, accumulate),
            Kind::OuterWideRows => {
                let u = Side::contiguous(a.data, a.cs, m);
                let v = Side::strided(b.data, b.rs, b.cs, n);
                outer_sum(k, u, v, dst.as_mut_ptr(), dst_rs, 1, accumulate)
            }
            Kind::OuterWideCols => {
                let u = Side::contiguous(b.data, b.rs, n);
                let v = Side::strided(a.data, a.cs, a.rs, m);
                outer_sum(k, u, v, dst.as_mut_ptr(), 1, dst_rs, accumulate)
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("AVX-512F is x86-64's");
    true
}

/// One side of a weight gradient: element `(r, i)` (batch row `r`, `i < len`) at
/// `data[r * rs + i * cs]`.
#[derive(Clone, Copy)]
struct Side<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
    len: usize,
}

impl<'a> Side<'a> {
    fn contiguous(data: &'a [f32], rs: usize, len: usize) -> Self {
        Self {
            data,
            rs,
            cs: 1,
            len,
        }
    }

    fn strided(data: &'a [f32], rs: usize, cs: usize, len: usize) -> Self {
        Self { data, rs, cs, len }
    }
}

/// Lanes `0 .. lanes` of a 16-lane register.
#[cfg(target_arch = "x86_64")]
fn mask(lanes: usize) -> u16 {
    if lanes >= 16 {
        u16::MAX
    } else {
        (1u16 << lanes) - 1
    }
}

/// [`Kind::DotRows`]: `B`'s columns packed into zero-padded rows, then four rows of `A` at a
/// time against them, and the rest one at a time.
///
/// # Safety
/// AVX-512F; the operands hold their extents at these strides, `a.cs == 1`, `n ≤ NARROW`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn dot_rows(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
) {
    let kp = k.div_ceil(16) * 16;
    let mut bt = vec![0f32; NARROW * kp];
    for (j, col) in bt.chunks_exact_mut(kp).take(n).enumerate() {
        for (p, v) in col[..k].iter_mut().enumerate() {
            *v = b.at(p, j);
        }
    }
    let quads = m / 4;
    // SAFETY: as the caller's.
    unsafe {
        for q in 0..quads {
            dot_tile::<4>(4 * q, n, k, kp, dst, dst_rs, a, &bt, accumulate);
        }
        for i in 4 * quads..m {
            dot_tile::<1>(i, n, k, kp, dst, dst_rs, a, &bt, accumulate);
        }
    }
}

/// `R` rows of [`dot_rows`] from row `i0`: `R × NARROW` accumulators (the columns past `n` are
/// zeros and are not stored).
///
/// # Safety
/// As [`dot_rows`]; rows `i0 .. i0 + R` exist; `bt` holds `NARROW` rows of `kp ≥ k` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn dot_tile<const R: usize>(
    i0: usize,
    n: usize,
    k: usize,
    kp: usize,
    dst: &mut [f32],
    dst_rs: usize,
    a: MatRef<'_>,
    bt: &[f32],
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); NARROW]; R];
    let rows: [*const f32; R] = std::array::from_fn(|r| a.data[(i0 + r) * a.rs..].as_ptr());
    let btp = bt.as_ptr();
    // SAFETY (whole body): a row of A holds `k` floats from its start (the caller's extents),
    // read in 16-lane chunks with the last one masked; `bt` holds NARROW × kp floats.
    unsafe {
        for c in (0..k).step_by(16) {
            let m16 = mask(k - c);
            let w: [__m512; NARROW] = std::array::from_fn(|j| _mm512_loadu_ps(btp.add(j * kp + c)));
            for (acc, row) in acc.iter_mut().zip(&rows) {
                let x = _mm512_maskz_loadu_ps(m16, row.add(c));
                for (acc, w) in acc.iter_mut().zip(&w).take(n) {
                    *acc = _mm512_fmadd_ps(x, *w, *acc);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let out = &mut dst[(i0 + r) * dst_rs..];
        for (o, &v) in out[..n].iter_mut().zip(acc) {
            let s = _mm512_reduce_add_ps(v);
            *o = if accumulate { *o + s } else { s };
        }
    }
}

/// `dst[i · is + j · js] (+)= Σ_r u(r, i) v(r, j)` for `i < u.len ≤ WIDE`, `j < v.len ≤ 3`,
/// summed over `r` in order, one FMA per term.
///
/// # Safety
/// AVX-512F; `u` and `v` hold rows `0 .. k` of their lengths, `u.cs == 1`; `dst` holds every
/// `i · is + j · js`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn outer_sum(
    k: usize,
    u: Side<'_>,
    v: Side<'_>,
    dst: *mut f32,
    is: usize,
    js: usize,
    accumulate: bool,
) {
    // SAFETY: as the caller's.
    unsafe {
        match v.len {
            1 => outer_tile::<1>(k, u, v, dst, is, js, accumulate),
            2 => outer_tile::<2>(k, u, v, dst, is, js, accumulate),
            _ => outer_tile::<3>(k, u, v, dst, is, js, accumulate),
        }
    }
}

/// [`outer_sum`] with `Q = v.len` narrow rows: `Q × 7` accumulators.
///
/// # Safety
/// As [`outer_sum`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn outer_tile<const Q: usize>(
    k: usize,
    u: Side<'_>,
    v: Side<'_>,
    dst: *mut f32,
    is: usize,
    js: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let masks: [u16; WIDE_REGS] = std::array::from_fn(|g| mask(u.len.saturating_sub(16 * g)));
    let mut acc = [[_mm512_setzero_ps(); WIDE_REGS]; Q];
    let (up, vp) = (u.data.as_ptr(), v.data.as_ptr());
    // SAFETY (whole body): row `r` of `u` holds `u.len` floats from `up + r · u.rs`, read in
    // 16-lane groups masked to that length (a group with no lanes reads nothing, and its address
    // is only formed, with `wrapping_add`); `v`'s elements are in bounds by the caller's extents.
    unsafe {
        for r in 0..k {
            let row = up.wrapping_add(r * u.rs);
            let w: [__m512; Q] =
                std::array::from_fn(|j| _mm512_set1_ps(*vp.add(r * v.rs + j * v.cs)));
            for (g, &m16) in masks.iter().enumerate() {
                let x = _mm512_maskz_loadu_ps(m16, row.wrapping_add(16 * g));
                for (acc, w) in acc.iter_mut().zip(&w) {
                    acc[g] = _mm512_fmadd_ps(x, *w, acc[g]);
                }
            }
        }
        let mut lanes = [0f32; 16];
        for (j, acc) in acc.iter().enumerate() {
            for (g, &x) in acc.iter().enumerate() {
                _mm512_storeu_ps(lanes.as_mut_ptr(), x);
                for (l, &s) in lanes.iter().enumerate().take(u.len.saturating_sub(16 * g)) {
                    let p = dst.add((16 * g + l) * is + j * js);
                    *p = if accumulate { *p + s } else { s };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sgemm::testing::{assert_product, operands, reference};

    /// Each kernel on the shapes it takes (config A's output layer and weight gradients, the
    /// edges of its registers: one lane, a partial register, a full 112-wide side), overwriting
    /// and accumulating into a strided `C`, against float64; and the products each leaves to
    /// gemm.
    #[test]
    fn matches_a_float64_triple_loop() {
        if !simd::avx512() {
            eprintln!("skipped: no AVX-512F on this CPU (the narrow kernels are not used)");
            assert!(
                kind(
                    1000,
                    2,
                    MatRef::view(&[], false, 1000, 100),
                    MatRef::view(&[], false, 100, 2)
                )
                .is_none()
            );
            return;
        }
        let cases: &[(usize, usize, usize, bool, bool, Kind)] = &[
            // (m, n, k, A transposed, B transposed, the kernel)
            (1000, 2, 100, false, false, Kind::DotRows),
            (7, 4, 33, false, true, Kind::DotRows),
            (1, 1, 1, false, false, Kind::OuterWideRows),
            (1, 20, 3, false, false, Kind::OuterWideCols),
            (100, 2, 1000, true, false, Kind::OuterWideRows),
            (112, 3, 17, true, true, Kind::OuterWideRows),
            (17, 1, 5, true, false, Kind::OuterWideRows),
            (3, 100, 1000, true, false, Kind::OuterWideCols),
            (2, 16, 9, false, false, Kind::OuterWideCols),
        ];
        for &(m, n, k, a_t, b_t, want_kind) in cases {
            let (av, bv) = operands(m, n, k);
            let (a, b) = (MatRef::view(&av, a_t, m, k), MatRef::view(&bv, b_t, k, n));
            assert_eq!(kind(m, n, a, b), Some(want_kind), "{m}x{n}x{k}");
            let want = reference(m, n, k, a, b);
            let ldc = n + 3;
            for accumulate in [false, true] {
                let mut c = vec![0.5f32; m * ldc];
                assert!(product(m, n, k, &mut c, ldc, a, b, accumulate));
                let what = format!("{want_kind:?}");
                assert_product(&what, &c, ldc, &want, (m, n, k), accumulate);
            }
        }
        // Wide products, and narrow ones with no contiguous wide side, stay with gemm.
        let big = vec![0f32; 1000 * 1000];
        for (m, n, k, a_t, b_t) in [
            (1000, 100, 100, false, false),
            (100, 100, 1000, true, false),
            (1000, 10, 1000, false, false),
            (1000, 2, 100, true, false),
            (113, 2, 10, true, false),
        ] {
            let (a, b) = (MatRef::view(&big, a_t, m, k), MatRef::view(&big, b_t, k, n));
            assert_eq!(kind(m, n, a, b), None, "{m}x{n}x{k}");
        }
    }
}
