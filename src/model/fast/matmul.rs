//! The fused path's products: `gemm`, or [`sgemm`] for the shallow ones (on AVX-512 or AVX2
//! CPUs) and [`narrow`]'s kernels for those with a side of at most 4 (on AVX-512), and when a
//! shard's product may split across threads.

use gemm::Parallelism;

use super::SHARDS;
use crate::model::narrow;
use crate::model::sgemm::{self, MatRef, SgemmBuffers};
use crate::model::simd;

/// Products at most this deep go to [`sgemm`] (where the CPU has AVX-512F, or AVX2 and FMA)...
const SGEMM_MAX_DEPTH: usize = 16;
/// ... when they are at least this wide (one microkernel tile).
const SGEMM_MIN_COLUMNS: usize = 64;

/// Whether [`matmul`] sends an `m × n × k` product to [`sgemm`] on this CPU.
fn uses_sgemm(n: usize, k: usize) -> bool {
    k <= SGEMM_MAX_DEPTH && n >= SGEMM_MIN_COLUMNS && sgemm::available()
}

/// Whether one shard's product is split across threads: only where the pool has threads
/// that the shards leave idle. (Nested inside two shards on two cores, gemm's split of the
/// 1,000³ products only added overhead: config B's forward and backward took 75-79 ms in
/// `speed --kernels` with it and 70-72 ms without, three runs each on an AMD Zen 4.) gemm
/// splits rows and columns, never the depth, so the numbers do not depend on it.
fn splits(m: usize, n: usize, k: usize) -> bool {
    m * n * k >= 1 << 27 && rayon::current_num_threads() > SHARDS
}

/// The most elements of `A` (1 MB) for which [`matmul`] splits off a narrow tail.
const TAIL_MAX_A: usize = 1 << 18;

/// The columns past the last multiple of 16 that [`matmul`] gives the narrow kernels (see
/// there), where there are at most [`narrow::NARROW`] of them: how many, and the widths of the
/// pieces a narrow kernel takes them in (the weight gradients' kernel takes at most 3 columns,
/// so 4 go as 3 + 1); `None` where no narrow kernel takes them.
fn narrow_tail(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
) -> Option<(usize, [usize; 2])> {
    let tail = n % 16;
    // `A` is read twice (by gemm and by the narrow kernel): only where it stays in L2 (a
    // shard's products; a 20,000-row product ran 4% slower split).
    if n <= 16 || !(1..=narrow::NARROW).contains(&tail) || m * k > TAIL_MAX_A {
        return None;
    }
    let takes = |w: usize| w == 0 || narrow::kind(m, w, a, b).is_some();
    (1..=tail)
        .rev()
        .map(|first| [first, tail - first])
        .find(|&[first, rest]| takes(first) && takes(rest))
        .map(|pieces| (tail, pieces))
}

/// The kernel the fused path runs an `m × n × k` product on, `A` and `B` read transposed or
/// not (as the backward pass reads them), in words (`speed --kernels`).
pub fn kernel_for(m: usize, n: usize, k: usize, a_t: bool, b_t: bool) -> &'static str {
    let (a, b) = (MatRef::view(&[], a_t, m, k), MatRef::view(&[], b_t, k, n));
    if narrow::kind(m, n, a, b).is_some() {
        "narrow"
    } else if uses_sgemm(n, k) {
        "packed"
    } else if narrow_tail(m, n, k, a, b).is_some() {
        "gemm + narrow"
    } else if splits(m, n, k) {
        "gemm (threads)"
    } else {
        "gemm"
    }
}

thread_local! {
    static SGEMM_BUFFERS: std::cell::RefCell<SgemmBuffers> = Default::default();
}

/// `dst[m, n] (+)= A[m, k] · B[k, n]` (row stride `dst_rs`), through `gemm`, [`sgemm`] for
/// shallow products or [`narrow`]'s kernels for narrow ones (or a narrow tail).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
) {
    sgemm::assert_extents("fast::matmul", (m, n, k), dst, dst_rs, a, b);
    // Products with a side of at most 4 (config A's output layer and its weight gradients): a
    // kernel with the other side in the lanes, where the CPU has one (the narrow module's notes).
    if narrow::product(m, n, k, dst, dst_rs, a, b, accumulate) {
        return;
    }
    if uses_sgemm(n, k) {
        // Shallow products (a layer fed by the input `[x, t]`, or the backward pass of the
        // output layer): the packed kernel, ahead of gemm on the 2-deep one and level with it
        // on the others (`speed --kernels`; the sgemm module's notes).
        SGEMM_BUFFERS.with_borrow_mut(|buf| {
            sgemm::sgemm(m, n, k, dst, dst_rs, a, b, accumulate, buf);
        });
        return;
    }
    // A few columns past a multiple of 16 (config A's 100 = 96 + 4): gemm puts the columns in
    // its lanes, 64 and then 48, 32 or 16 at a time, so 100 columns ran as 64 + 48 with 12
    // lanes idle (1000 × 100 × 100: 202 µs a product on Zen 4, 169 µs for its first 96
    // columns). The last few go to the narrow kernels instead, where they take them.
    if let Some((tail, pieces)) = narrow_tail(m, n, k, a, b) {
        let main = n - tail;
        let mut at = main;
        for width in pieces.into_iter().filter(|&w| w > 0) {
            let piece = b.starting_at(0, at);
            let ran = narrow::product(m, width, k, &mut dst[at..], dst_rs, a, piece, accumulate);
            debug_assert!(ran, "narrow::kind picked a kernel for the piece");
            at += width;
        }
        return matmul(m, main, k, dst, dst_rs, a, b, accumulate);
    }
    // Shards already use every core; only very large products on idle cores split further.
    let par = if splits(m, n, k) {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserted extents keep every access inside the three slices, and the
    // kernels `simd::avx512` allows run on this CPU.
    unsafe {
        gemm_kernel(
            simd::avx512(),
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_rs,
            accumulate,
            (a.data.as_ptr(), a.rs, a.cs),
            (b.data.as_ptr(), b.rs, b.cs),
            par,
        )
    }
}

/// [`gemm_on`]'s product, through `gemm::gemm` itself where its AVX-512 (`v4`) or AVX2
/// microkernels are the ones it picks on this CPU, else through [`gemm_on`]: the fused path's
/// call (`v4` = [`simd::avx512`], so `COLLAPSE_EXPLORER_SIMD=avx2` reaches the AVX2 kernels on
/// an AVX-512 CPU), and what `speed --kernels` times.
///
/// # Safety
/// As for [`gemm_on`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_kernel(
    v4: bool,
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    a: (*const f32, usize, usize),
    b: (*const f32, usize, usize),
    par: Parallelism,
) {
    // SAFETY: the caller's.
    unsafe {
        if v4 != simd::cpu_has_avx512f() {
            return gemm_on(v4, m, n, k, dst, dst_rs, accumulate, a, b, par);
        }
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a.0,
            a.2 as isize,
            a.1 as isize,
            b.0,
            b.2 as isize,
            b.1 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// `C[m, n] (+)= A · B`, `C` row-major with row stride `dst_rs` and `A`, `B` given as (pointer,
/// row stride, column stride), through gemm's own driver on its AVX-512 (`v4`) or AVX2 (`v3`)
/// microkernels: what `gemm::gemm` runs on a CPU with (or without) AVX-512F, reachable on
/// either (the same numbers bit for bit as `gemm::gemm` on the kernel it picks, tested). Only on
/// x86-64.
///
/// # Safety
/// The operands hold `m × k`, `k × n` and `m × n` elements at these strides, and the CPU runs
/// the kernel's instructions (AVX-512F for `v4`, AVX2 and FMA for `v3`).
#[allow(clippy::too_many_arguments, unused_variables)]
unsafe fn gemm_on(
    v4: bool,
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    a: (*const f32, usize, usize),
    b: (*const f32, usize, usize),
    par: Parallelism,
) {
    #[cfg(target_arch = "x86_64")]
    {
        use gemm_common::gemm::gemm_basic_generic;
        use gemm_common::simd::{V3, V4};
        // `gemm::gemm`'s first step: a row-major destination is computed as its transpose,
        // Cᵀ = Bᵀ · Aᵀ (its microkernels write columns). As (pointer, column, row stride):
        let (m, n, dst_cs, dst_rs, lhs, rhs) = if 1 < dst_rs {
            (n, m, dst_rs, 1, (b.0, b.1, b.2), (a.0, a.1, a.2))
        } else {
            (m, n, 1, dst_rs, (a.0, a.2, a.1), (b.0, b.2, b.1))
        };
        macro_rules! run {
            ($simd:expr, $lanes:literal, $module:ident) => {{
                use gemm_f32::microkernel::$module::f32::*;
                // SAFETY: the caller's.
                unsafe {
                    gemm_basic_generic::<
                        _,
                        f32,
                        $lanes,
                        { MR_DIV_N * $lanes },
                        NR,
                        MR_DIV_N,
                        H_M,
                        H_N,
                    >(
                        $simd,
                        m,
                        n,
                        k,
                        dst,
                        dst_cs as isize,
                        dst_rs as isize,
                        accumulate,
                        lhs.0,
                        lhs.1 as isize,
                        lhs.2 as isize,
                        rhs.0,
                        rhs.1 as isize,
                        rhs.2 as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        |a, b, c| a * b + c,
                        &UKR,
                        &H_UKR,
                        false,
                        par,
                    )
                }
            }};
        }
        if v4 {
            run!(V4::try_new().expect("AVX-512F"), 16, avx512f)
        } else {
            run!(V3::try_new().expect("AVX2 and FMA"), 8, fma)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("gemm_on is x86-64 only");
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::model::sgemm::testing::{assert_product, operands, reference};

    /// [`gemm_on`] on the microkernels `gemm::gemm` picks on this CPU gives its numbers bit for
    /// bit (so on the other kernels it gives what `gemm::gemm` gives on a CPU that picks those),
    /// for row-major outputs with padded rows, accumulating or not, on products that leave
    /// partial tiles.
    #[test]
    fn gemm_on_is_gemm_on_its_kernel() {
        if !simd::avx2_fma() {
            return;
        }
        let v4 = simd::cpu_has_avx512f();
        for (m, n, k) in [
            (37, 53, 29),
            (100, 100, 100),
            (200, 10, 300),
            (5, 120, 64),
            (300, 100, 2),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 23.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 31.0)
                .collect();
            let ld = n + 3;
            for accumulate in [false, true] {
                let c0: Vec<f32> = (0..m * ld).map(|i| (i % 7) as f32 * 0.25).collect();
                let (mut want, mut got) = (c0.clone(), c0);
                // SAFETY: `a` is m × k (row stride k), `b` k × n (row stride n), `want` and `got`
                // m rows of stride `ld` ≥ n; the CPU runs the kernel (checked above).
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        want.as_mut_ptr(),
                        1,
                        ld as isize,
                        accumulate,
                        a.as_ptr(),
                        1,
                        k as isize,
                        b.as_ptr(),
                        1,
                        n as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                    gemm_on(
                        v4,
                        m,
                        n,
                        k,
                        got.as_mut_ptr(),
                        ld,
                        accumulate,
                        (a.as_ptr(), k, 1),
                        (b.as_ptr(), n, 1),
                        Parallelism::None,
                    );
                }
                let differ = want
                    .iter()
                    .zip(&got)
                    .filter(|(x, y)| x.to_bits() != y.to_bits())
                    .count();
                assert_eq!(differ, 0, "{m} x {n} x {k}, accumulate {accumulate}");
            }
        }
    }

    /// The fused path's product against a float64 reference on the shard products of config
    /// A's hidden layers and the widths around them (tails of 1–4 columns past a multiple of
    /// 16, which split off to the narrow kernels on AVX-512; 4 goes as 3 + 1 in the weight
    /// gradient), with `A` and `B` read transposed as the backward pass reads them, into a
    /// wider `C`, overwriting and accumulating.
    #[test]
    fn products_with_a_narrow_tail_match_the_reference() {
        for n in [96, 97, 98, 99, 100, 101, 104, 116] {
            for (m, k, a_t, b_t) in [
                (1000, 100, false, false),
                (100, 1000, true, false),
                (1000, 100, false, true),
            ] {
                let (a, b) = operands(m, n, k);
                let (ar, br) = (MatRef::view(&a, a_t, m, k), MatRef::view(&b, b_t, k, n));
                let want = reference(m, n, k, ar, br);
                let what = format!(
                    "{} (A{}, B{})",
                    kernel_for(m, n, k, a_t, b_t),
                    if a_t { "ᵀ" } else { "" },
                    if b_t { "ᵀ" } else { "" }
                );
                for accumulate in [false, true] {
                    let ldc = n + 3;
                    let mut c = vec![0.5f32; m * ldc];
                    matmul(m, n, k, &mut c, ldc, ar, br, accumulate);
                    assert_product(&what, &c, ldc, &want, (m, n, k), accumulate);
                }
            }
        }
        if simd::avx512() {
            assert_eq!(kernel_for(1000, 100, 100, false, false), "gemm + narrow");
            assert_eq!(kernel_for(100, 100, 1000, true, false), "gemm + narrow");
            assert_eq!(kernel_for(1000, 100, 100, false, true), "gemm + narrow");
        }
    }
}
