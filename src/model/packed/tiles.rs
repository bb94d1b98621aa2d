//! The x86-64 register tiles of [`super::PackedMlp`] and their vector activations: the rows-in-lanes
//! AVX-512 tile, the 6 × 16 AVX2 tile (with an AVX2-only CPU's tanh, or AVX-512's through VL),
//! and Eigen's rational tanh on 8 and 16 lanes.

use super::{AVX2_ROWS_TILE, Activation, MR, NR, PackedLayer, ROWS_TILE};

/// `c[o, r] = act(Σ_k W[k, o] a[k, r] + bias[o])` on feature-major buffers of `ld` rows (a
/// multiple of [`ROWS_TILE`]): tiles of 5 output features (2 or 1 at the end) × 64 rows.
/// Measured on a 2-core Xeon (3 × 100 Tanh, ODE sampling, M particle-steps/s): 4 features 4.7,
/// 5 features 4.7–4.95, 6 features (24 accumulators, which spill) 2.9; a 6 × 32 tile with the
/// features in the lanes (the AVX2 layout at 16 lanes, since removed) 4.5.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn layer_rows_avx512(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    act: Option<Activation>,
) {
    debug_assert!(ld.is_multiple_of(ROWS_TILE));
    debug_assert!(a.len() >= layer.fan_in * ld && c.len() >= layer.fan_out * ld);
    for r0 in (0..ld).step_by(ROWS_TILE) {
        for (o, f) in row_tiles(layer.fan_out, 5) {
            // SAFETY: features `o .. o + f` ≤ fan_out and rows `r0 .. r0 + 64` ≤ ld.
            unsafe {
                match f {
                    5 => rows_tile::<5>(a, c, ld, layer, o, r0, act),
                    2 => rows_tile::<2>(a, c, ld, layer, o, r0, act),
                    _ => rows_tile::<1>(a, c, ld, layer, o, r0, act),
                }
            }
        }
    }
}

/// The rows-in-lanes kernels' tiles of a layer with `fan_out` features: `(first feature,
/// width)`, `widest` wide, then 2, then 1.
pub(super) fn row_tiles(fan_out: usize, widest: usize) -> impl Iterator<Item = (usize, usize)> {
    let wide = fan_out / widest;
    let twos = (fan_out % widest) / 2;
    let widths = std::iter::repeat_n(widest, wide)
        .chain(std::iter::repeat_n(2, twos))
        .chain((fan_out % widest % 2 == 1).then_some(1));
    widths.scan(0, |o, f| {
        let start = *o;
        *o += f;
        Some((start, f))
    })
}

/// Output features `o .. o + F`, rows `r0 .. r0 + 64`: `4 F` accumulators of 16 rows each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn rows_tile<const F: usize>(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    o: usize,
    r0: usize,
    act: Option<Activation>,
) {
    use std::arch::x86_64::*;
    const V: usize = ROWS_TILE / 16;
    let k = layer.fan_in;
    // SAFETY (all pointer reads and writes below): `a` holds `k` features and `c` at least
    // `o + F` features of `ld ≥ r0 + 64` rows; `tiled` holds this tile's `[k][F]` weights
    // from `o · k`.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); V]; F];
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = [_mm512_set1_ps(layer.bias[o + j]); V];
        }
        let ap = a.as_ptr().add(r0);
        let wp = layer.tiled.as_ptr().add(o * k);
        for kk in 0..k {
            let mut xv = [_mm512_setzero_ps(); V];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = _mm512_loadu_ps(ap.add(kk * ld + 16 * v));
            }
            for (j, acc) in acc.iter_mut().enumerate() {
                let w = _mm512_set1_ps(*wp.add(kk * F + j));
                for (acc, xv) in acc.iter_mut().zip(&xv) {
                    *acc = _mm512_fmadd_ps(w, *xv, *acc);
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                let value = act.map_or(*acc, |a| activate_avx512(*acc, a));
                _mm512_storeu_ps(c.as_mut_ptr().add((o + j) * ld + r0 + 16 * v), value);
            }
        }
    }
}

/// `c[r, :] = act(a[r, :fan_in] · W + bias)` for `rows` (a multiple of [`MR`]) rows, tanh
/// dividing as an AVX2-only CPU does.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn layer_avx2(
    a: &[f32],
    lda: usize,
    rows: usize,
    layer: &PackedLayer,
    c: &mut [f32],
    ldc: usize,
    act: Option<Activation>,
) {
    // SAFETY: as the caller's; AVX2 and FMA are enabled here.
    unsafe { layer_avx2_body::<false>(a, lda, rows, layer, c, ldc, act) }
}

/// [`layer_avx2`] with the AVX-512 tile's tanh (a refined 14-bit reciprocal, on 8 lanes through
/// AVX-512VL), so that both tiles give the same numbers bit for bit on a CPU that runs both.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
pub(super) unsafe fn layer_avx2_refined(
    a: &[f32],
    lda: usize,
    rows: usize,
    layer: &PackedLayer,
    c: &mut [f32],
    ldc: usize,
    act: Option<Activation>,
) {
    // SAFETY: as the caller's; AVX2, FMA, AVX-512F and VL are enabled here.
    unsafe { layer_avx2_body::<true>(a, lda, rows, layer, c, ldc, act) }
}

/// The AVX2 tile, inlined into its two entry points (which enable the CPU features it needs;
/// `REFINED` needs AVX-512VL).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn layer_avx2_body<const REFINED: bool>(
    a: &[f32],
    lda: usize,
    rows: usize,
    layer: &PackedLayer,
    c: &mut [f32],
    ldc: usize,
    act: Option<Activation>,
) {
    use std::arch::x86_64::*;
    debug_assert!(rows.is_multiple_of(MR));
    debug_assert!(a.len() >= (rows - 1) * lda + layer.fan_in);
    debug_assert!(c.len() >= rows * ldc && ldc >= layer.panels * NR);
    let k = layer.fan_in;
    for p in 0..layer.panels {
        // SAFETY (all pointer reads and writes below): panel `p` holds `k · NR` weights and
        // `NR` biases; rows `r0 .. r0 + MR` exist in `a` (stride `lda`) and `c` (stride `ldc`),
        // as debug-asserted above.
        unsafe {
            let w = layer.weight.as_ptr().add(p * k * NR);
            let bias0 = _mm256_loadu_ps(layer.bias.as_ptr().add(p * NR));
            let bias1 = _mm256_loadu_ps(layer.bias.as_ptr().add(p * NR + 8));
            for r0 in (0..rows).step_by(MR) {
                let mut acc = [[bias0, bias1]; MR];
                let ap = a.as_ptr().add(r0 * lda);
                for kk in 0..k {
                    let b0 = _mm256_loadu_ps(w.add(kk * NR));
                    let b1 = _mm256_loadu_ps(w.add(kk * NR + 8));
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let av = _mm256_broadcast_ss(&*ap.add(i * lda + kk));
                        acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                    }
                }
                for (i, acc) in acc.iter().enumerate() {
                    let cp = c.as_mut_ptr().add((r0 + i) * ldc + p * NR);
                    let (v0, v1) = match act {
                        None => (acc[0], acc[1]),
                        Some(Activation::Tanh) if REFINED => {
                            (tanh_avx2_refined(acc[0]), tanh_avx2_refined(acc[1]))
                        }
                        Some(Activation::Tanh) => (tanh_avx2(acc[0]), tanh_avx2(acc[1])),
                        Some(Activation::Relu) => {
                            let z = _mm256_setzero_ps();
                            (_mm256_max_ps(acc[0], z), _mm256_max_ps(acc[1], z))
                        }
                        Some(Activation::Silu) => (silu_avx2(acc[0]), silu_avx2(acc[1])),
                    };
                    _mm256_storeu_ps(cp, v0);
                    _mm256_storeu_ps(cp.add(8), v1);
                }
            }
        }
    }
}

/// [`layer_rows_avx512`] at 8 lanes: tiles of 4 output features (2 or 1 at the end) × 24 rows,
/// tanh dividing as an AVX2-only CPU does.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn layer_rows_avx2(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    act: Option<Activation>,
) {
    // SAFETY: as the caller's; AVX2 and FMA are enabled here.
    unsafe { layer_rows_avx2_body::<false>(a, c, ld, layer, act) }
}

/// [`layer_rows_avx2`] with the AVX-512 tile's tanh (through AVX-512VL): the same numbers as
/// every other tile on a CPU with AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
pub(super) unsafe fn layer_rows_avx2_refined(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    act: Option<Activation>,
) {
    // SAFETY: as the caller's; AVX2, FMA, AVX-512F and VL are enabled here.
    unsafe { layer_rows_avx2_body::<true>(a, c, ld, layer, act) }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn layer_rows_avx2_body<const REFINED: bool>(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    act: Option<Activation>,
) {
    debug_assert!(ld.is_multiple_of(AVX2_ROWS_TILE));
    debug_assert!(a.len() >= layer.fan_in * ld && c.len() >= layer.fan_out * ld);
    for r0 in (0..ld).step_by(AVX2_ROWS_TILE) {
        for (o, f) in row_tiles(layer.fan_out, 4) {
            // SAFETY: features `o .. o + f` ≤ fan_out and rows `r0 .. r0 + 24` ≤ ld.
            unsafe {
                match f {
                    4 => rows_tile_avx2::<4, REFINED>(a, c, ld, layer, o, r0, act),
                    2 => rows_tile_avx2::<2, REFINED>(a, c, ld, layer, o, r0, act),
                    _ => rows_tile_avx2::<1, REFINED>(a, c, ld, layer, o, r0, act),
                }
            }
        }
    }
}

/// Output features `o .. o + F`, rows `r0 .. r0 + 24`: `3 F` accumulators of 8 rows each, the
/// sum in [`rows_tile`]'s order (bias, then one FMA per input feature in turn).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rows_tile_avx2<const F: usize, const REFINED: bool>(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    o: usize,
    r0: usize,
    act: Option<Activation>,
) {
    use std::arch::x86_64::*;
    const V: usize = AVX2_ROWS_TILE / 8;
    let k = layer.fan_in;
    // SAFETY (all pointer reads and writes below): `a` holds `k` features and `c` at least
    // `o + F` features of `ld ≥ r0 + 24` rows; `tiled` holds this tile's `[k][F]` weights
    // from `o · k`.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); V]; F];
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = [_mm256_set1_ps(layer.bias[o + j]); V];
        }
        let ap = a.as_ptr().add(r0);
        let wp = layer.tiled.as_ptr().add(o * k);
        for kk in 0..k {
            let mut xv = [_mm256_setzero_ps(); V];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = _mm256_loadu_ps(ap.add(kk * ld + 8 * v));
            }
            for (j, acc) in acc.iter_mut().enumerate() {
                let w = _mm256_set1_ps(*wp.add(kk * F + j));
                for (acc, xv) in acc.iter_mut().zip(&xv) {
                    *acc = _mm256_fmadd_ps(w, *xv, *acc);
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                let value = match act {
                    None => *acc,
                    Some(Activation::Tanh) if REFINED => tanh_avx2_refined(*acc),
                    Some(Activation::Tanh) => tanh_avx2(*acc),
                    Some(Activation::Relu) => _mm256_max_ps(*acc, _mm256_setzero_ps()),
                    Some(Activation::Silu) => silu_avx2(*acc),
                };
                _mm256_storeu_ps(c.as_mut_ptr().add((o + j) * ld + r0 + 8 * v), value);
            }
        }
    }
}

/// `act` on 16 lanes: Tanh and ReLU in registers, SiLU through the scalar `exp` (SiLU is not a
/// preset's activation).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn activate_avx512(x: std::arch::x86_64::__m512, act: Activation) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    match act {
        Activation::Tanh => tanh_avx512(x),
        Activation::Relu => _mm512_max_ps(x, _mm512_setzero_ps()),
        Activation::Silu => {
            let mut t = [0f32; 16];
            // SAFETY: `t` holds 16 floats.
            unsafe { _mm512_storeu_ps(t.as_mut_ptr(), x) };
            for e in &mut t {
                *e /= 1.0 + (-*e).exp();
            }
            // SAFETY: as above.
            unsafe { _mm512_loadu_ps(t.as_ptr()) }
        }
    }
}

/// [`tanh_avx2`] on 16 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn tanh_avx512(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-TANH_CLAMP)),
        _mm512_set1_ps(TANH_CLAMP),
    );
    let x2 = _mm512_mul_ps(x, x);
    let mut p = _mm512_set1_ps(TANH_P[0]);
    for &c in &TANH_P[1..] {
        p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(c));
    }
    let p = _mm512_mul_ps(p, x);
    let mut q = _mm512_set1_ps(TANH_Q[0]);
    for &c in &TANH_Q[1..] {
        q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(c));
    }
    // p / q as p · (1 / q): a 14-bit reciprocal and one Newton step (relative error ~2⁻²⁸,
    // under float32's rounding) in place of a division, which on Intel cores issues one
    // 16-lane divide per ~8 cycles and held up every layer's epilogue.
    let r = _mm512_rcp14_ps(q);
    let r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(1.0)), r);
    _mm512_mul_ps(p, r)
}

/// `z[r, :] = tanh(z[r, :] + bias)` for each row (rows `bias.len()` wide), 16 lanes at a time
/// through [`tanh_avx512`], a row's last `len % 16` under a mask (so every element goes through
/// the same operations): the training path's bias and activation in one pass.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tanh_rows_with_bias_avx512(z: &mut [f32], bias: &[f32]) {
    use std::arch::x86_64::*;
    let n = bias.len();
    let tail = n % 16;
    let mask: __mmask16 = ((1u32 << tail) - 1) as __mmask16;
    for row in z.chunks_exact_mut(n) {
        let (rp, bp) = (row.as_mut_ptr(), bias.as_ptr());
        // SAFETY: `row` and `bias` hold `n` floats; full vectors read and write below `n - tail`,
        // the masked ones only lanes below `n`.
        unsafe {
            let mut j = 0;
            while j + 16 <= n {
                let v = _mm512_add_ps(_mm512_loadu_ps(rp.add(j)), _mm512_loadu_ps(bp.add(j)));
                _mm512_storeu_ps(rp.add(j), tanh_avx512(v));
                j += 16;
            }
            if tail > 0 {
                let v = _mm512_add_ps(
                    _mm512_maskz_loadu_ps(mask, rp.add(j)),
                    _mm512_maskz_loadu_ps(mask, bp.add(j)),
                );
                _mm512_mask_storeu_ps(rp.add(j), mask, tanh_avx512(v));
            }
        }
    }
}

/// Eigen's rational `tanh`: inputs are clamped to ±this, where it is ±1 in `f32`.
const TANH_CLAMP: f32 = 7.905_311;
/// Its numerator's coefficients in `x²`, highest first (times `x`).
const TANH_P: [f32; 7] = [
    -2.760_768_5e-16,
    2.000_188e-13,
    -8.604_672e-11,
    5.122_297e-8,
    1.485_722_4e-5,
    6.372_619_3e-4,
    4.893_524_6e-3,
];
/// Its denominator's coefficients in `x²`, highest first.
const TANH_Q: [f32; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_7e-3, 4.893_525e-3];

/// Eigen's rational `tanh` (the same approximation as [`super::fast::tanh_approx`]), 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh_avx2(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-TANH_CLAMP)),
        _mm256_set1_ps(TANH_CLAMP),
    );
    let x2 = _mm256_mul_ps(x, x);
    let mut p = _mm256_set1_ps(TANH_P[0]);
    for &c in &TANH_P[1..] {
        p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(c));
    }
    let p = _mm256_mul_ps(p, x);
    let mut q = _mm256_set1_ps(TANH_Q[0]);
    for &c in &TANH_Q[1..] {
        q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(c));
    }
    _mm256_div_ps(p, q)
}

/// [`tanh_avx512`] on 8 lanes (AVX-512VL's 14-bit reciprocal): lane for lane the same
/// operations, so the same results.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
#[inline]
fn tanh_avx2_refined(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-TANH_CLAMP)),
        _mm256_set1_ps(TANH_CLAMP),
    );
    let x2 = _mm256_mul_ps(x, x);
    let mut p = _mm256_set1_ps(TANH_P[0]);
    for &c in &TANH_P[1..] {
        p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(c));
    }
    let p = _mm256_mul_ps(p, x);
    let mut q = _mm256_set1_ps(TANH_Q[0]);
    for &c in &TANH_Q[1..] {
        q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(c));
    }
    let r = _mm256_rcp14_ps(q);
    let r = _mm256_fmadd_ps(r, _mm256_fnmadd_ps(q, r, _mm256_set1_ps(1.0)), r);
    _mm256_mul_ps(p, r)
}

/// `x · σ(x)`, lane by lane through the scalar `exp` (SiLU is not a preset's activation).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn silu_avx2(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let mut v = [0f32; 8];
    // SAFETY: `v` holds 8 floats.
    unsafe { _mm256_storeu_ps(v.as_mut_ptr(), x) };
    for e in &mut v {
        *e /= 1.0 + (-*e).exp();
    }
    // SAFETY: as above.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::packed::{Kernel, avx2_tanh_refined};

    /// The vector tanh (rational approximation; AVX-512's divides through a refined
    /// reciprocal) against f64's, across and beyond the clamp: within 3 float32 ulps of 1.
    #[test]
    fn vector_tanh_is_within_float32_rounding() {
        let xs: Vec<f32> = (-20_000..=20_000).map(|i| i as f32 * 6e-4).collect();
        let worst = |got: &[f32]| {
            got.iter()
                .zip(&xs)
                .map(|(g, &x)| (f64::from(*g) - f64::from(x).tanh()).abs())
                .fold(0f64, f64::max)
        };
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            if Kernel::Avx512Rows.supported() {
                let mut got = vec![0f32; xs.len()];
                for (x, g) in xs.chunks(16).zip(got.chunks_mut(16)) {
                    let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
                    a[..x.len()].copy_from_slice(x);
                    // SAFETY: AVX-512F is present; `a` and `b` hold 16 floats.
                    unsafe {
                        _mm512_storeu_ps(b.as_mut_ptr(), tanh_avx512(_mm512_loadu_ps(a.as_ptr())));
                    }
                    g.copy_from_slice(&b[..x.len()]);
                }
                let e = worst(&got);
                eprintln!("AVX-512 tanh worst {e:e}");
                assert!(e < 3.0 * f64::from(f32::EPSILON), "AVX-512 tanh: {e:e}");
            }
            if Kernel::Avx2.supported() && avx2_tanh_refined() {
                let (mut got8, mut got16) = (vec![0f32; xs.len()], vec![0f32; xs.len()]);
                for (i, x) in xs.chunks(8).enumerate() {
                    let (mut a, mut b, mut c) = ([0f32; 16], [0f32; 8], [0f32; 16]);
                    a[..x.len()].copy_from_slice(x);
                    // SAFETY: AVX-512F and VL are present; `a`, `c` hold 16 floats, `b` 8.
                    unsafe {
                        _mm256_storeu_ps(
                            b.as_mut_ptr(),
                            tanh_avx2_refined(_mm256_loadu_ps(a.as_ptr())),
                        );
                        _mm512_storeu_ps(c.as_mut_ptr(), tanh_avx512(_mm512_loadu_ps(a.as_ptr())));
                    }
                    got8[i * 8..i * 8 + x.len()].copy_from_slice(&b[..x.len()]);
                    got16[i * 8..i * 8 + x.len()].copy_from_slice(&c[..x.len()]);
                }
                assert!(
                    got8.iter()
                        .zip(&got16)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "8- and 16-lane refined tanh differ"
                );
                let e = worst(&got8);
                assert!(
                    e < 3.0 * f64::from(f32::EPSILON),
                    "refined AVX2 tanh: {e:e}"
                );
            }
            if Kernel::Avx2.supported() {
                let mut got = vec![0f32; xs.len()];
                for (x, g) in xs.chunks(8).zip(got.chunks_mut(8)) {
                    let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
                    a[..x.len()].copy_from_slice(x);
                    // SAFETY: AVX2 and FMA are present; `a` and `b` hold 8 floats.
                    unsafe {
                        _mm256_storeu_ps(b.as_mut_ptr(), tanh_avx2(_mm256_loadu_ps(a.as_ptr())));
                    }
                    g.copy_from_slice(&b[..x.len()]);
                }
                let e = worst(&got);
                eprintln!("AVX2 tanh worst {e:e}");
                assert!(e < 3.0 * f64::from(f32::EPSILON), "AVX2 tanh: {e:e}");
            }
        }
        let _ = worst;
    }
}
