//! The fused path's products: `gemm`, or [`sgemm`] for the shallow ones (on AVX-512 or AVX2
//! CPUs), and when a shard's product may split across threads.

use gemm::Parallelism;

use super::SHARDS;
use crate::model::sgemm::{self, MatRef, SgemmBuffers};

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
    // SAFETY: the debug-asserted extents keep every access inside the three slices.
    unsafe {
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
