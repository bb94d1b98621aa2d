//! The fused path's products: `gemm`, or [`sgemm`] for the shallow ones (on AVX-512 or AVX2
//! CPUs), and when a shard's product may split across threads.

use gemm::Parallelism;

use super::SHARDS;
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

/// The kernel the fused path runs an `m × n × k` product on, in words (`speed --kernels`).
pub fn kernel_for(m: usize, n: usize, k: usize) -> &'static str {
    if uses_sgemm(n, k) {
        "packed"
    } else if splits(m, n, k) {
        "gemm (threads)"
    } else {
        "gemm"
    }
}

thread_local! {
    static SGEMM_BUFFERS: std::cell::RefCell<SgemmBuffers> = Default::default();
}

/// `dst[m, n] (+)= A[m, k] · B[k, n]` with row/column strides, through `gemm`, or [`sgemm`]
/// for shallow products.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    accumulate: bool,
) {
    debug_assert!(dst.len() >= (m - 1) * dst_rs + n);
    debug_assert!(a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
    debug_assert!(b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    if uses_sgemm(n, k) {
        // Shallow products (a layer fed by the input `[x, t]`, or the backward pass of the
        // output layer): gemm runs these at 6-15 GFLOP/s on Zen 4, the packed AVX-512 kernel
        // at 36-90 (`speed --kernels`).
        SGEMM_BUFFERS.with_borrow_mut(|buf| {
            let a = MatRef {
                data: a,
                rs: a_rs,
                cs: a_cs,
            };
            let b = MatRef {
                data: b,
                rs: b_rs,
                cs: b_cs,
            };
            sgemm::sgemm(m, n, k, dst, dst_rs, a, b, accumulate, buf);
        });
        return;
    }
    // Shards already use every core; only very large products on idle cores split further.
    let par = if splits(m, n, k) {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // SAFETY: the debug-asserted extents keep every access inside the three slices; the CPU
    // runs AVX2 and FMA where the forced path is taken.
    unsafe {
        if simd::avx2_forced() && simd::avx2_fma() {
            // What gemm runs on a CPU without AVX-512 (`COLLAPSE_EXPLORER_SIMD=avx2`).
            return gemm_on(
                false,
                m,
                n,
                k,
                dst.as_mut_ptr(),
                dst_rs,
                accumulate,
                (a.as_ptr(), a_rs, a_cs),
                (b.as_ptr(), b_rs, b_cs),
                par,
            );
        }
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
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
/// either. Only on x86-64.
///
/// # Safety
/// The operands hold `m × k`, `k × n` and `m × n` elements at these strides, and the CPU runs
/// the kernel's instructions (AVX-512F for `v4`, AVX2 and FMA for `v3`).
#[allow(clippy::too_many_arguments, unused_variables)]
pub unsafe fn gemm_on(
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
