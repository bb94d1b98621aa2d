//! An inference-only MLP kernel for narrow networks (the paper's 2D preset: 3 × 100): weights
//! packed once into 16-column panels, rows processed in cache-sized blocks through every layer,
//! a register tile with the bias and the activation applied in registers. With AVX-512 the
//! lanes run over rows (feature-major activations, 5 features × 64 rows, no padded features);
//! with AVX2/FMA they run over features (6 rows × 16 features).
//!
//! Sampling calls the same network thousands of times with fixed weights, so packing them once
//! pays off, and keeping a block's activations in L2 between layers avoids the memory traffic of
//! layer-at-a-time GEMMs. It computes the same function as [`super::FastMlp::forward`] and the
//! burn module (tested to float32 tolerance); only the summation order differs. It is used only
//! where it is faster: x86-64 with AVX-512F, or with AVX2 and FMA, and layers at most
//! [`MAX_WIDTH`] wide; wider networks (the MoG preset's 1000 units) stay on the `gemm` path,
//! which blocks the reduction.

use std::cell::RefCell;

use rayon::prelude::*;

use super::mlp::{Activation, MlpWeights};

/// Panel width: two AVX vectors of `f32`.
const NR: usize = 16;
/// Rows per AVX2 register tile; every block is padded to a multiple of it.
const MR: usize = 6;
/// Rows per block of the AVX2 tile (a multiple of [`MR`]): two `[BLOCK_ROWS, 112]` activation
/// buffers and a layer's packed weights stay in a 512 KiB L2 for the 2D preset.
const BLOCK_ROWS: usize = 192;
/// The widest layer this kernel takes; wider networks use the `gemm` path.
pub const MAX_WIDTH: usize = 256;

/// One layer, packed.
#[derive(Clone, Debug)]
struct PackedLayer {
    fan_in: usize,
    fan_out: usize,
    panels: usize,
    /// `[panels][fan_in][NR]`, zero beyond `fan_out` (the AVX2 kernel's layout; empty otherwise).
    weight: Vec<f32>,
    /// `[panels · NR]`, zero beyond `fan_out`.
    bias: Vec<f32>,
    /// The rows-in-lanes kernel's layout (empty otherwise): for each tile of `F` output
    /// features starting at `o` (see [`row_tiles`]), its `[fan_in][F]` weights, contiguous from
    /// `o · fan_in`, so that a tile's weights stream in order instead of one strided element of
    /// each `fan_out`-long row (which, for a 100-wide layer, kept reloading 40 KB from L2).
    tiled: Vec<f32>,
}

/// Which register tile runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// 6 × 16, two 8-lane vectors per row (x86-64 with AVX2 and FMA).
    Avx2,
    /// Rows in the lanes (x86-64 with AVX-512F): activations stored feature-major, a tile of 5
    /// output features × 64 rows, so that no lane is spent on padding features (a 100-wide layer
    /// is 100, not 112, and the 2-wide output is 2, not 16).
    Avx512Rows,
}

impl Kernel {
    /// The fastest kernel this CPU runs, if any. `COLLAPSE_EXPLORER_PACKED=avx2` picks the AVX2
    /// tile on an AVX-512 machine (to see another CPU kind's rounding, or compare the two).
    pub fn detect() -> Option<Self> {
        let forced = std::env::var("COLLAPSE_EXPLORER_PACKED").ok();
        Self::ALL
            .into_iter()
            .filter(|k| forced.as_deref() != Some("avx2") || *k == Self::Avx2)
            .find(|k| k.supported())
    }

    /// Every kernel, fastest first on the CPUs it was tuned on.
    pub const ALL: [Self; 2] = [Self::Avx512Rows, Self::Avx2];

    /// The kernel in words (`speed --kernels`).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Avx2 => "AVX2, 6 rows x 16 features",
            Self::Avx512Rows => "AVX-512, 64 rows x 5 features",
        }
    }

    /// Whether this CPU runs `self`.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Self::Avx512Rows => std::arch::is_x86_feature_detected!("avx512f"),
                Self::Avx2 => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// An MLP packed for the inference kernel.
#[derive(Clone, Debug)]
pub struct PackedMlp {
    layers: Vec<PackedLayer>,
    activation: Activation,
    /// Row stride of the block buffers (the widest padded layer).
    stride: usize,
    kernel: Kernel,
}

thread_local! {
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

impl PackedMlp {
    /// Packs `w` for the fastest kernel of this CPU, or `None` when this machine or this
    /// network is not one the kernel is for (no AVX2/FMA, or a layer wider than [`MAX_WIDTH`]).
    pub fn new(w: &MlpWeights) -> Option<Self> {
        Self::with_kernel(w, Kernel::detect()?)
    }

    /// Packs `w` for `kernel`; `None` where this CPU does not run it or the network is too wide.
    pub fn with_kernel(w: &MlpWeights, kernel: Kernel) -> Option<Self> {
        if !kernel.supported() || w.layers.iter().any(|l| l.fan_out > MAX_WIDTH) {
            return None;
        }
        let layers: Vec<PackedLayer> = w
            .layers
            .iter()
            .map(|l| {
                let panels = l.fan_out.div_ceil(NR);
                let mut bias = vec![0f32; panels * NR];
                bias[..l.fan_out].copy_from_slice(&l.bias);
                // Each kernel keeps the one weight layout it reads.
                let (mut weight, mut tiled) = (Vec::new(), Vec::new());
                match kernel {
                    Kernel::Avx2 => {
                        weight = vec![0f32; panels * l.fan_in * NR];
                        for o in 0..l.fan_out {
                            let (p, j) = (o / NR, o % NR);
                            for k in 0..l.fan_in {
                                weight[(p * l.fan_in + k) * NR + j] = l.weight[k * l.fan_out + o];
                            }
                        }
                    }
                    Kernel::Avx512Rows => {
                        tiled = Vec::with_capacity(l.fan_in * l.fan_out);
                        for (o, f) in row_tiles(l.fan_out) {
                            for k in 0..l.fan_in {
                                let row = &l.weight[k * l.fan_out..(k + 1) * l.fan_out];
                                tiled.extend_from_slice(&row[o..o + f]);
                            }
                        }
                    }
                }
                PackedLayer {
                    fan_in: l.fan_in,
                    fan_out: l.fan_out,
                    panels,
                    weight,
                    bias,
                    tiled,
                }
            })
            .collect();
        let stride = layers
            .iter()
            .map(|l| l.panels * NR)
            .chain(std::iter::once(layers[0].fan_in))
            .max()
            .unwrap_or(NR);
        Some(Self {
            layers,
            activation: w.config.activation,
            stride,
            kernel,
        })
    }

    /// The register tile in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Input features.
    pub fn fan_in(&self) -> usize {
        self.layers[0].fan_in
    }

    /// Output features.
    pub fn fan_out(&self) -> usize {
        self.layers.last().expect("layers").fan_out
    }

    /// Forward pass on `input` `[rows, fan_in]`; returns `[rows, fan_out]`. Blocks of rows run
    /// in parallel; each row's arithmetic does not depend on the blocking or the thread count.
    pub fn forward(&self, input: &[f32], rows: usize) -> Vec<f32> {
        let (fi, fo) = (self.fan_in(), self.fan_out());
        assert_eq!(
            input.len(),
            rows * fi,
            "PackedMlp::forward: input is not [{rows}, {fi}]"
        );
        let mut out = vec![0f32; rows * fo];
        let block = self.block_rows_of_kernel();
        input
            .par_chunks(block * fi)
            .zip(out.par_chunks_mut(block * fo))
            .for_each(|(x, y)| {
                SCRATCH.with(|s| {
                    let (a, b) = &mut *s.borrow_mut();
                    self.block(x, y, a, b);
                })
            });
        out
    }

    /// Rows per block: [`BLOCK_ROWS`] for the AVX2 tile; one 64-row tile for the rows-in-lanes
    /// kernel, whose feature-major buffers (`[100][64]`, 25.6 KB each for the 2D preset) then
    /// ping-pong between layers in L1. Measured on a 2-core Xeon (3 × 100 Tanh, ODE sampling,
    /// 20,000 particles, 7 interleaved rounds): 6.39 M particle-steps/s at 64 rows against 5.82
    /// at 192 (5 rounds at 128: 5.38).
    fn block_rows_of_kernel(&self) -> usize {
        match self.kernel {
            Kernel::Avx2 => BLOCK_ROWS,
            Kernel::Avx512Rows => ROWS_TILE,
        }
    }

    /// One block of rows through every layer, ping-ponging between `a` and `b`.
    fn block(&self, x: &[f32], y: &mut [f32], a: &mut Vec<f32>, b: &mut Vec<f32>) {
        if self.kernel == Kernel::Avx512Rows {
            return self.block_rows(x, y, a, b);
        }
        let fi = self.fan_in();
        let fo = self.fan_out();
        let rows = x.len() / fi;
        let padded = rows.div_ceil(MR) * MR;
        let len = padded * self.stride;
        for buf in [&mut *a, &mut *b] {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
        // Input rows at stride `fi`; padding rows are zero (their outputs are dropped).
        a[..rows * fi].copy_from_slice(x);
        a[rows * fi..padded * fi].fill(0.0);
        let (mut src, mut dst) = (a, b);
        let mut lda = fi;
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let act = (l < last).then_some(self.activation);
            let ldc = layer.panels * NR;
            // SAFETY: the kernel's CPU features were checked in `with_kernel`; the buffers hold
            // `padded` rows at strides `lda` (≥ fan_in) and `ldc`, as the kernel reads and
            // writes them.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                match self.kernel {
                    Kernel::Avx2 => {
                        layer_avx2(&src[..], lda, padded, layer, &mut dst[..], ldc, act)
                    }
                    Kernel::Avx512Rows => unreachable!("block_rows"),
                }
            };
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!("PackedMlp is only built on x86-64");
            std::mem::swap(&mut src, &mut dst);
            lda = ldc;
        }
        for (r, row) in y.chunks_exact_mut(fo).enumerate() {
            row.copy_from_slice(&src[r * lda..r * lda + fo]);
        }
    }

    /// [`Self::block`] for [`Kernel::Avx512Rows`]: the block transposed to feature-major
    /// `[features][padded rows]`, every layer, and transposed back.
    fn block_rows(&self, x: &[f32], y: &mut [f32], a: &mut Vec<f32>, b: &mut Vec<f32>) {
        let fi = self.fan_in();
        let fo = self.fan_out();
        let rows = x.len() / fi;
        let ld = rows.div_ceil(ROWS_TILE) * ROWS_TILE;
        let widest = self
            .layers
            .iter()
            .map(|l| l.fan_out)
            .chain([fi])
            .max()
            .unwrap_or(1);
        for buf in [&mut *a, &mut *b] {
            if buf.len() < widest * ld {
                buf.resize(widest * ld, 0.0);
            }
        }
        for k in 0..fi {
            let col = &mut a[k * ld..(k + 1) * ld];
            for (r, v) in col[..rows].iter_mut().enumerate() {
                *v = x[r * fi + k];
            }
            col[rows..].fill(0.0);
        }
        let (mut src, mut dst) = (a, b);
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let act = (l < last).then_some(self.activation);
            // SAFETY: AVX-512F was checked in `with_kernel`; `src` holds `fan_in` features and
            // `dst` `fan_out` features of `ld` rows each, `ld` a multiple of ROWS_TILE.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                layer_rows_avx512(&src[..], &mut dst[..], ld, layer, act)
            };
            std::mem::swap(&mut src, &mut dst);
        }
        for (r, row) in y.chunks_exact_mut(fo).enumerate() {
            for (o, v) in row.iter_mut().enumerate() {
                *v = src[o * ld + r];
            }
        }
    }
}

/// Rows per tile of the rows-in-lanes kernel: four 16-lane vectors.
const ROWS_TILE: usize = 64;

/// `c[o, r] = act(Σ_k W[k, o] a[k, r] + bias[o])` on feature-major buffers of `ld` rows (a
/// multiple of [`ROWS_TILE`]): tiles of 5 output features (2 or 1 at the end) × 64 rows.
/// Measured on a 2-core Xeon (3 × 100 Tanh, ODE sampling, M particle-steps/s): 4 features 4.7,
/// 5 features 4.7–4.95, 6 features (24 accumulators, which spill) 2.9; a 6 × 32 tile with the
/// features in the lanes (the AVX2 layout at 16 lanes, since removed) 4.5.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn layer_rows_avx512(
    a: &[f32],
    c: &mut [f32],
    ld: usize,
    layer: &PackedLayer,
    act: Option<Activation>,
) {
    debug_assert!(ld.is_multiple_of(ROWS_TILE));
    debug_assert!(a.len() >= layer.fan_in * ld && c.len() >= layer.fan_out * ld);
    for r0 in (0..ld).step_by(ROWS_TILE) {
        for (o, f) in row_tiles(layer.fan_out) {
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

/// The rows-in-lanes kernel's tiles of a layer with `fan_out` features: `(first feature,
/// width)`, 5 wide, then 2, then 1.
fn row_tiles(fan_out: usize) -> impl Iterator<Item = (usize, usize)> {
    let fives = fan_out / 5;
    let twos = (fan_out % 5) / 2;
    let widths = std::iter::repeat_n(5, fives)
        .chain(std::iter::repeat_n(2, twos))
        .chain((fan_out % 5 % 2 == 1).then_some(1));
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

/// `c[r, :] = act(a[r, :fan_in] · W + bias)` for `rows` (a multiple of [`MR`]) rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn layer_avx2(
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
    use crate::model::fast::FastMlp;
    use crate::model::mlp::MlpConfig;

    /// From the same weights, each packed kernel this CPU runs and the `gemm` path agree to
    /// float32 tolerance for every activation, for row counts that exercise partial tiles
    /// and partial blocks, and for widths that are
    /// not multiples of the panel width.
    #[test]
    fn packed_kernel_matches_the_gemm_path() {
        for (act, width, depth, dim, kernel) in [
            (Activation::Tanh, 100, 3, 2, Kernel::Avx2),
            (Activation::Relu, 37, 2, 1, Kernel::Avx2),
            (Activation::Silu, 64, 1, 5, Kernel::Avx2),
            (Activation::Tanh, 100, 3, 2, Kernel::Avx512Rows),
            (Activation::Relu, 37, 2, 1, Kernel::Avx512Rows),
            (Activation::Silu, 64, 1, 5, Kernel::Avx512Rows),
        ] {
            let config = MlpConfig::new(dim, width, depth, act);
            let w = MlpWeights::init(&config, 7);
            let Some(packed) = PackedMlp::with_kernel(&w, kernel) else {
                eprintln!("this CPU does not run the {kernel:?} kernel");
                continue;
            };
            let mut fused = FastMlp::new(&w);
            for rows in [1, 5, 6, 12, 13, 18, 193, 1000] {
                let input: Vec<f32> = (0..rows * (dim + 1))
                    .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 2.0)
                    .collect();
                let got = packed.forward(&input, rows);
                let want = fused.forward(&input, rows);
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 2e-5 * (1.0 + w.abs()),
                        "{act:?} width {width} rows {rows}: {g} vs {w}"
                    );
                }
            }
        }
    }

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

    #[test]
    fn wide_networks_are_left_to_gemm() {
        let w = MlpWeights::init(&MlpConfig::preset_mog(10), 0);
        assert!(PackedMlp::new(&w).is_none());
    }
}
