//! The x86-64 register tiles of [`super::PackedMlp`] and their vector activations: the
//! rows-in-lanes tile at 16 lanes (AVX-512) and at 8 (AVX2), the 6 × 16 AVX2 tile, and Eigen's
//! rational tanh. The rows-in-lanes tiles and the tanh are written once, over [`Lanes`]: the same
//! operations in the same order at every width, which is why every tile gives the same numbers
//! (an AVX2 tile on an AVX-512 CPU divides through AVX-512VL's refined reciprocal, as the
//! AVX-512 one does; on an AVX2-only CPU both AVX2 tiles divide).

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use crate::model::fast::{TANH_CLAMP, TANH_P, TANH_Q};

use super::{
    AVX2_ONLY_FEATURES, AVX2_ONLY_ROWS_TILE, AVX2_ROWS_TILE, Activation, MR, NR, PackedLayer,
    ROWS_TILE, row_tiles,
};

/// One register of `f32` lanes and the operations the tiles need, each inlined into the
/// `target_feature` function that calls it.
trait Lanes: Copy {
    /// Lanes per register.
    const N: usize;
    unsafe fn splat(x: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    unsafe fn add(self, b: Self) -> Self;
    /// `self · b + c`, rounded once.
    unsafe fn fma(self, b: Self, c: Self) -> Self;
    /// `c − self · b`, rounded once.
    unsafe fn fnma(self, b: Self, c: Self) -> Self;
    unsafe fn mul(self, b: Self) -> Self;
    unsafe fn min(self, b: Self) -> Self;
    unsafe fn max(self, b: Self) -> Self;
    /// `self / q` as the tanh divides: a true division here, refined in [`Refined`].
    unsafe fn div(self, q: Self) -> Self;
    /// AVX-512's 14-bit reciprocal (AVX-512F; AVX-512VL at 8 lanes).
    unsafe fn recip14(self) -> Self;
}

/// 16 lanes (AVX-512F).
#[derive(Clone, Copy)]
struct L16(__m512);
/// 8 lanes (AVX2, FMA).
#[derive(Clone, Copy)]
struct L8(__m256);

/// `Lanes` methods that apply a function to the registers inside: each `unary` one to `self`,
/// each `binary` one to `self` and `b`, each `ternary` one to `self`, `b` and `c`.
macro_rules! register_ops {
    (unary: [$($u:ident => $uf:path),*],
     binary: [$($b:ident => $bf:path),*],
     ternary: [$($t:ident => $tf:path),*]) => {
        $(
            #[inline(always)]
            unsafe fn $u(self) -> Self {
                // SAFETY: a register operation; the caller enables this width's features.
                Self(unsafe { $uf(self.0) })
            }
        )*
        $(
            #[inline(always)]
            unsafe fn $b(self, b: Self) -> Self {
                // SAFETY: a register operation; the caller enables this width's features.
                Self(unsafe { $bf(self.0, b.0) })
            }
        )*
        $(
            #[inline(always)]
            unsafe fn $t(self, b: Self, c: Self) -> Self {
                // SAFETY: a register operation; the caller enables this width's features.
                Self(unsafe { $tf(self.0, b.0, c.0) })
            }
        )*
    };
}

macro_rules! lanes {
    ($t:ident, $n:expr, $set1:ident, $load:ident, $store:ident, $($ops:tt)*) => {
        impl Lanes for $t {
            const N: usize = $n;
            #[inline(always)]
            unsafe fn splat(x: f32) -> Self {
                // SAFETY: a register operation; the caller enables this width's features.
                Self(unsafe { $set1(x) })
            }
            #[inline(always)]
            unsafe fn load(p: *const f32) -> Self {
                // SAFETY: the caller's: `p` holds `N` floats.
                Self(unsafe { $load(p) })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut f32) {
                // SAFETY: the caller's: `p` holds `N` floats.
                unsafe { $store(p, self.0) }
            }
            register_ops!($($ops)*);
        }
    };
}

lanes!(
    L16, 16, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps,
    unary: [recip14 => _mm512_rcp14_ps],
    binary: [add => _mm512_add_ps, mul => _mm512_mul_ps, min => _mm512_min_ps,
             max => _mm512_max_ps, div => _mm512_div_ps],
    ternary: [fma => _mm512_fmadd_ps, fnma => _mm512_fnmadd_ps]
);
lanes!(
    L8, 8, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps,
    unary: [recip14 => _mm256_rcp14_ps],
    binary: [add => _mm256_add_ps, mul => _mm256_mul_ps, min => _mm256_min_ps,
             max => _mm256_max_ps, div => _mm256_div_ps],
    ternary: [fma => _mm256_fmadd_ps, fnma => _mm256_fnmadd_ps]
);

/// `L`, dividing as `p · r` with `r` a 14-bit reciprocal of `q` refined by one Newton step
/// (relative error ~2⁻²⁸, under float32's rounding): on Intel cores a 16-lane divide issues
/// once per ~8 cycles and held up every layer's epilogue. Every other operation is `L`'s.
#[derive(Clone, Copy)]
struct Refined<L>(L);

impl<L: Lanes> Lanes for Refined<L> {
    const N: usize = L::N;
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: `L`'s operation under the caller's conditions.
        Self(unsafe { L::splat(x) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: `L`'s operation under the caller's conditions.
        Self(unsafe { L::load(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: `L`'s operation under the caller's conditions.
        unsafe { self.0.store(p) }
    }
    register_ops!(
        unary: [recip14 => L::recip14],
        binary: [add => L::add, mul => L::mul, min => L::min, max => L::max],
        ternary: [fma => L::fma, fnma => L::fnma]
    );
    #[inline(always)]
    unsafe fn div(self, q: Self) -> Self {
        // SAFETY: register operations; the caller enables AVX-512 (and VL at 8 lanes).
        unsafe {
            let (p, q) = (self.0, q.0);
            let r = q.recip14();
            let r = r.fma(q.fnma(r, L::splat(1.0)), r);
            Self(p.mul(r))
        }
    }
}

/// Registers that load and store their first `n < N` lanes alone (the rest read as zero).
trait Partial: Lanes {
    unsafe fn load_first(p: *const f32, n: usize) -> Self;
    unsafe fn store_first(self, p: *mut f32, n: usize);
}

impl Partial for L16 {
    #[inline(always)]
    unsafe fn load_first(p: *const f32, n: usize) -> Self {
        // SAFETY: the caller's: `p` holds `n` floats; AVX-512F is enabled.
        Self(unsafe { _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p) })
    }
    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, n: usize) {
        // SAFETY: as for `load_first`.
        unsafe { _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, self.0) }
    }
}

impl L8 {
    /// The lanes below `n`, as AVX's masked loads and stores take them.
    #[inline(always)]
    unsafe fn mask(n: usize) -> __m256i {
        // SAFETY: register operations; the caller enables AVX2.
        unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(n as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }
}

impl Partial for L8 {
    #[inline(always)]
    unsafe fn load_first(p: *const f32, n: usize) -> Self {
        // SAFETY: the caller's: `p` holds `n` floats; AVX2 is enabled.
        Self(unsafe { _mm256_maskload_ps(p, Self::mask(n)) })
    }
    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, n: usize) {
        // SAFETY: as for `load_first`.
        unsafe { _mm256_maskstore_ps(p, Self::mask(n), self.0) }
    }
}

impl<L: Partial> Partial for Refined<L> {
    #[inline(always)]
    unsafe fn load_first(p: *const f32, n: usize) -> Self {
        // SAFETY: `L`'s operation under the caller's conditions.
        Self(unsafe { L::load_first(p, n) })
    }
    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, n: usize) {
        // SAFETY: as for `load_first`.
        unsafe { self.0.store_first(p, n) }
    }
}

/// Eigen's rational `tanh` (the same approximation as [`crate::model::fast::tanh_approx`]).
#[inline(always)]
unsafe fn tanh<L: Lanes>(x: L) -> L {
    // SAFETY: register operations only; the caller enables `L`'s CPU features.
    unsafe {
        let x = x.max(L::splat(-TANH_CLAMP)).min(L::splat(TANH_CLAMP));
        let x2 = x.mul(x);
        let mut p = L::splat(TANH_P[0]);
        for &c in &TANH_P[1..] {
            p = p.fma(x2, L::splat(c));
        }
        let p = p.mul(x);
        let mut q = L::splat(TANH_Q[0]);
        for &c in &TANH_Q[1..] {
            q = q.fma(x2, L::splat(c));
        }
        p.div(q)
    }
}

/// `act` on a register: Tanh and ReLU in registers, SiLU lane by lane through the scalar `exp`
/// (SiLU is not a preset's activation); `None` leaves it as it is.
#[inline(always)]
unsafe fn activate<L: Lanes>(x: L, act: Option<Activation>) -> L {
    // SAFETY: register operations, and `t` holds the 16 lanes at most that a register has.
    unsafe {
        match act {
            None => x,
            Some(Activation::Tanh) => tanh(x),
            Some(Activation::Relu) => x.max(L::splat(0.0)),
            Some(Activation::Silu) => {
                let mut t = [0f32; 16];
                x.store(t.as_mut_ptr());
                for e in &mut t[..L::N] {
                    *e /= 1.0 + (-*e).exp();
                }
                L::load(t.as_ptr())
            }
        }
    }
}

/// `c[o, r] = act(Σ_k W[k, o] a[k, r] + bias[o])` on feature-major buffers of `ld` rows (a
/// multiple of `V · L::N`): tiles of `FW` output features (2 or 1 at the end) × `V` registers
/// of rows.
#[inline(always)]
unsafe fn layer_rows<L: Lanes, const FW: usize, const V: usize>(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    act: Option<Activation>,
) {
    let rows = V * L::N;
    debug_assert!(ld.is_multiple_of(rows));
    debug_assert!(a.len() >= layer.fan_in * ld && c.len() >= layer.fan_out * ld);
    for r0 in (0..ld).step_by(rows) {
        for (o, f) in row_tiles(layer.fan_out, FW) {
            // SAFETY: features `o .. o + f` ≤ fan_out and rows `r0 .. r0 + V · N` ≤ ld.
            unsafe {
                if f == FW {
                    rows_tile::<L, FW, V>(a, c, ld, layer, o, r0, act)
                } else if f == 2 {
                    rows_tile::<L, 2, V>(a, c, ld, layer, o, r0, act)
                } else {
                    rows_tile::<L, 1, V>(a, c, ld, layer, o, r0, act)
                }
            }
        }
    }
}

/// Output features `o .. o + F`, rows `r0 .. r0 + V · N`: `F · V` accumulators, each the bias,
/// then one FMA per input feature in turn.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_tile<L: Lanes, const F: usize, const V: usize>(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    o: usize,
    r0: usize,
    act: Option<Activation>,
) {
    let k = layer.fan_in;
    // SAFETY (all pointer reads and writes below): `a` holds `k` features and `c` at least
    // `o + F` features of `ld ≥ r0 + V · N` rows; `tiled` holds this tile's `[k][F]` weights
    // from `o · k`.
    unsafe {
        let mut acc = [[L::splat(0.0); V]; F];
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = [L::splat(layer.bias[o + j]); V];
        }
        let ap = a.as_ptr().add(r0);
        let wp = layer.tiled.as_ptr().add(o * k);
        for kk in 0..k {
            let mut xv = [L::splat(0.0); V];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = L::load(ap.add(kk * ld + L::N * v));
            }
            for (j, acc) in acc.iter_mut().enumerate() {
                let w = L::splat(*wp.add(kk * F + j));
                for (acc, xv) in acc.iter_mut().zip(&xv) {
                    *acc = w.fma(*xv, *acc);
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                activate(*acc, act).store(c.as_mut_ptr().add((o + j) * ld + r0 + L::N * v));
            }
        }
    }
}

/// A rows-in-lanes entry point: [`layer_rows`] on `$lanes`, `$fw` features × `$v` registers of
/// rows, compiled with the CPU features `$features` (which the caller checked).
macro_rules! rows_entry {
    ($(#[$doc:meta])* $name:ident, $features:literal, $lanes:ty, $fw:expr, $v:expr) => {
        $(#[$doc])*
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $name(
            a: &[f32],
            c: &mut [f32],
            ld: usize,
            layer: &PackedLayer,
            act: Option<Activation>,
        ) {
            // SAFETY: as the caller's; the tile's CPU features are enabled here.
            unsafe { layer_rows::<$lanes, $fw, $v>(a, c, ld, layer, act) }
        }
    };
}

rows_entry!(
    /// The rows-in-lanes tile at 16 lanes: 5 output features (2 or 1 at the end) × 64 rows.
    /// Measured on a 2-core Xeon (3 × 100 Tanh, ODE sampling, M particle-steps/s): 4 features
    /// 4.7, 5 features 4.7–4.95, 6 features (24 accumulators, which spill) 2.9; a 6 × 32 tile
    /// with the features in the lanes (the AVX2 layout at 16 lanes, since removed) 4.5.
    layer_rows_avx512, "avx512f", Refined<L16>, 5, { ROWS_TILE / 16 }
);
rows_entry!(
    /// The rows-in-lanes tile at 8 lanes on an AVX2-only CPU: 6 output features × 16 rows (12
    /// accumulators, 15 of the 16 registers), tanh dividing.
    layer_rows_avx2, "avx2,fma", L8, AVX2_ONLY_FEATURES, { AVX2_ONLY_ROWS_TILE / 8 }
);
rows_entry!(
    /// The rows-in-lanes tile at 8 lanes with AVX-512VL (32 registers): 4 output features × 24
    /// rows, tanh dividing as the AVX-512 tile does.
    layer_rows_avx2_refined, "avx2,fma,avx512f,avx512vl", Refined<L8>, 4, { AVX2_ROWS_TILE / 8 }
);

/// `c[r, :] = act(a[r, :fan_in] · W + bias)` for `rows` (a multiple of [`MR`]) rows, on the
/// 6 × 16 tile: two 8-lane registers of output features per row, each the bias, then one FMA
/// per input feature in turn.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn layer_6x16<L: Lanes>(
    a: &[f32],
    lda: usize,
    rows: usize,
    layer: &PackedLayer,
    c: &mut [f32],
    ldc: usize,
    act: Option<Activation>,
) {
    debug_assert!(L::N * 2 == NR);
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
            let bias0 = L::load(layer.bias.as_ptr().add(p * NR));
            let bias1 = L::load(layer.bias.as_ptr().add(p * NR + 8));
            for r0 in (0..rows).step_by(MR) {
                let mut acc = [[bias0, bias1]; MR];
                let ap = a.as_ptr().add(r0 * lda);
                for kk in 0..k {
                    let b0 = L::load(w.add(kk * NR));
                    let b1 = L::load(w.add(kk * NR + 8));
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let av = L::splat(*ap.add(i * lda + kk));
                        acc[0] = av.fma(b0, acc[0]);
                        acc[1] = av.fma(b1, acc[1]);
                    }
                }
                for (i, acc) in acc.iter().enumerate() {
                    let cp = c.as_mut_ptr().add((r0 + i) * ldc + p * NR);
                    activate(acc[0], act).store(cp);
                    activate(acc[1], act).store(cp.add(8));
                }
            }
        }
    }
}

/// A 6 × 16 entry point: [`layer_6x16`] on `$lanes`, compiled with the CPU features `$features`
/// (which the caller checked).
macro_rules! panels_entry {
    ($(#[$doc:meta])* $name:ident, $features:literal, $lanes:ty) => {
        $(#[$doc])*
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $name(
            a: &[f32],
            lda: usize,
            rows: usize,
            layer: &PackedLayer,
            c: &mut [f32],
            ldc: usize,
            act: Option<Activation>,
        ) {
            // SAFETY: as the caller's; the tile's CPU features are enabled here.
            unsafe { layer_6x16::<$lanes>(a, lda, rows, layer, c, ldc, act) }
        }
    };
}

panels_entry!(
    /// The 6 × 16 tile, tanh dividing as an AVX2-only CPU does.
    layer_avx2, "avx2,fma", L8
);
panels_entry!(
    /// The 6 × 16 tile dividing as the AVX-512 tile does (through AVX-512VL).
    layer_avx2_refined, "avx2,fma,avx512f,avx512vl", Refined<L8>
);

/// `z[r, :] = tanh(z[r, :] + bias)` for each row (rows `bias.len()` wide), a register at a time
/// through the tiles' tanh, a row's last `len % L::N` in a masked register (so every element
/// goes through the same operations): the training path's bias and activation in one pass.
#[inline(always)]
unsafe fn tanh_rows_with_bias<L: Partial>(z: &mut [f32], bias: &[f32]) {
    let n = bias.len();
    let (full, tail) = (n - n % L::N, n % L::N);
    for row in z.chunks_exact_mut(n) {
        let (rp, bp) = (row.as_mut_ptr(), bias.as_ptr());
        // SAFETY: `row` and `bias` hold `n` floats: whole registers are read and written below
        // `full`, the masked one only lanes below `n`.
        unsafe {
            let mut j = 0;
            while j < full {
                let v = L::load(rp.add(j)).add(L::load(bp.add(j)));
                tanh(v).store(rp.add(j));
                j += L::N;
            }
            if tail > 0 {
                let v = L::load_first(rp.add(full), tail).add(L::load_first(bp.add(full), tail));
                tanh(v).store_first(rp.add(full), tail);
            }
        }
    }
}

/// [`tanh_rows_with_bias`] on AVX-512F (16 lanes, the refined division of the AVX-512 tile).
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tanh_rows_with_bias_avx512(z: &mut [f32], bias: &[f32]) {
    // SAFETY: as the caller's; AVX-512F is enabled here.
    unsafe { tanh_rows_with_bias::<Refined<L16>>(z, bias) }
}

/// [`tanh_rows_with_bias`] on AVX2 and FMA (8 lanes, dividing as an AVX2-only CPU's tiles do).
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn tanh_rows_with_bias_avx2(z: &mut [f32], bias: &[f32]) {
    // SAFETY: as the caller's; AVX2 and FMA are enabled here.
    unsafe { tanh_rows_with_bias::<L8>(z, bias) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::packed::{Kernel, avx2_tanh_refined};

    /// `tanh` of every element of `xs` on `L`'s registers, under the CPU features its caller
    /// enables.
    #[inline(always)]
    unsafe fn tanh_all<L: Lanes>(xs: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; xs.len()];
        for (x, o) in xs.chunks(L::N).zip(out.chunks_mut(L::N)) {
            let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
            a[..x.len()].copy_from_slice(x);
            // SAFETY: `a` and `b` hold 16 floats, a register at most.
            unsafe { tanh(L::load(a.as_ptr())).store(b.as_mut_ptr()) };
            o.copy_from_slice(&b[..x.len()]);
        }
        out
    }

    #[target_feature(enable = "avx512f")]
    fn tanh_16(xs: &[f32]) -> Vec<f32> {
        // SAFETY: AVX-512F is enabled here.
        unsafe { tanh_all::<Refined<L16>>(xs) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn tanh_8(xs: &[f32]) -> Vec<f32> {
        // SAFETY: AVX2 and FMA are enabled here.
        unsafe { tanh_all::<L8>(xs) }
    }

    #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
    fn tanh_8_refined(xs: &[f32]) -> Vec<f32> {
        // SAFETY: AVX2, FMA, AVX-512F and VL are enabled here.
        unsafe { tanh_all::<Refined<L8>>(xs) }
    }

    /// The tiles' tanh (Eigen's rational approximation; AVX-512's divides through a refined
    /// reciprocal) against f64's, across and beyond the clamp, at every width this CPU runs:
    /// within 3 float32 ulps of 1; the refined 8 lanes equal the 16 bit for bit.
    #[test]
    fn vector_tanh_is_within_float32_rounding() {
        let xs: Vec<f32> = (-20_000..=20_000).map(|i| i as f32 * 6e-4).collect();
        // SAFETY (each call): the CPU runs the features the function enables, as checked.
        let avx512 = Kernel::Avx512Rows
            .supported()
            .then(|| unsafe { tanh_16(&xs) });
        let avx2 = Kernel::Avx2.supported().then(|| unsafe { tanh_8(&xs) });
        let refined = (Kernel::Avx2.supported() && avx2_tanh_refined())
            .then(|| unsafe { tanh_8_refined(&xs) });
        for (name, got) in [
            ("AVX-512", &avx512),
            ("AVX2", &avx2),
            ("refined AVX2", &refined),
        ] {
            let Some(got) = got else { continue };
            let worst = got
                .iter()
                .zip(&xs)
                .map(|(g, &x)| (f64::from(*g) - f64::from(x).tanh()).abs())
                .fold(0f64, f64::max);
            eprintln!("{name} tanh worst {worst:e}");
            assert!(
                worst < 3.0 * f64::from(f32::EPSILON),
                "{name} tanh: {worst:e}"
            );
        }
        if let (Some(a), Some(b)) = (&refined, &avx512) {
            assert!(
                a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()),
                "8- and 16-lane refined tanh differ"
            );
        }
    }
}
