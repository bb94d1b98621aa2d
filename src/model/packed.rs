//! An inference-only MLP kernel for narrow networks (the paper's 2D preset: 3 × 100): weights
//! packed once into 16-column panels, rows processed in cache-sized blocks through every layer,
//! a register tile with the bias and the activation applied in registers. Three tiles
//! ([`tiles`]): with AVX-512 the lanes run over rows (feature-major activations, 5 features × 64
//! rows, no padded features); with AVX2/FMA either the same layout at 8 lanes (4 features × 24
//! rows with AVX-512VL, 6 × 16 on an AVX2-only CPU) or the lanes over features (6 rows × 16
//! features, padded to 16).
//!
//! Sampling calls the same network thousands of times with fixed weights, so packing them once
//! pays off, and keeping a block's activations in L2 between layers avoids the memory traffic of
//! layer-at-a-time GEMMs. It computes the same function as [`super::FastMlp::forward`] and the
//! burn module (tested to float32 tolerance); only the summation order differs. It is used only
//! where it is faster: x86-64 with AVX-512F, or with AVX2 and FMA, and layers at most
//! [`MAX_WIDTH`] wide; wider networks (the MoG preset's 1000 units) stay on the `gemm` path,
//! which blocks the reduction. Of the tiles a CPU runs, the one measured fastest on it is used
//! ([`Kernel::detect`]); they all give the same numbers bit for bit (same products in the same
//! order, same tanh), so the pick never changes a result.

// The tiles exist only on x86-64; elsewhere no kernel is supported, `PackedMlp` is never built
// and the code that would drive the tiles is left unused (checked with `cargo check --target
// aarch64-unknown-linux-gnu`).
#![cfg_attr(
    not(target_arch = "x86_64"),
    allow(
        dead_code,
        unused_variables,
        unused_mut,
        unreachable_code,
        clippy::never_loop
    )
)]

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Instant;

use rayon::prelude::*;

use super::mlp::{Activation, MlpConfig, MlpWeights};
use super::simd;

#[cfg(target_arch = "x86_64")]
mod tiles;
#[cfg(target_arch = "x86_64")]
use tiles::{
    layer_avx2, layer_avx2_refined, layer_rows_avx2, layer_rows_avx2_refined, layer_rows_avx512,
};
#[cfg(target_arch = "x86_64")]
pub(crate) use tiles::{tanh_rows_with_bias_avx2, tanh_rows_with_bias_avx512};

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
    /// Rows in the lanes with AVX2 and FMA: the AVX-512 tile's layout at 8 lanes, 4 output
    /// features × 24 rows with AVX-512VL's 32 registers, 6 × 16 on an AVX2-only CPU's 16
    /// ([`AVX2_ONLY_ROWS_TILE`]); 12 accumulators either way.
    Avx2Rows,
}

impl Kernel {
    /// The kernel sampling uses on this CPU, if any: of those it runs, the one measured fastest
    /// here (once per process, on config A's network: [`measure_fastest`]), since which tile
    /// wins depends on how the CPU executes AVX-512, not only on whether it has it. They all give
    /// the same numbers bit for bit, so the pick changes the speed and nothing else.
    /// `COLLAPSE_EXPLORER_PACKED` overrides it: `avx512`, `avx2-rows` or `avx2` (the 6 × 16
    /// tile) picks that tile, `avx2-only` the 6 × 16 tile with the rounding of an AVX2-only CPU
    /// (its tanh divides).
    pub fn detect() -> Option<Self> {
        Self::pick().kernel
    }

    /// How [`Self::detect`] chose, measured once per process.
    pub fn pick() -> &'static Pick {
        static PICK: OnceLock<Pick> = OnceLock::new();
        PICK.get_or_init(|| {
            // Only tiles that round alike are weighed against each other, so that the pick never
            // changes a result: the AVX2 tiles with the AVX-512 one only where they divide as it
            // does (AVX-512VL; a CPU with AVX-512F alone, a Xeon Phi, keeps the AVX-512 tile).
            let same_tanh = !Self::Avx512Rows.supported() || avx2_tanh_refined();
            let supported: Vec<Self> = Self::ALL
                .into_iter()
                .filter(|k| k.supported() && (same_tanh || *k == Self::Avx512Rows))
                .collect();
            let forced = match forced_kernel().as_deref() {
                Some("avx2" | "avx2-only") => Some(Self::Avx2),
                Some("avx2-rows") => Some(Self::Avx2Rows),
                Some("avx512") => Some(Self::Avx512Rows),
                _ => None,
            };
            match forced.filter(|k| k.supported()) {
                Some(k) => Pick {
                    kernel: Some(k),
                    forced: true,
                    measured: Vec::new(),
                },
                None if supported.len() > 1 => {
                    let measured = measure_fastest(&supported);
                    Pick {
                        kernel: Some(fastest(&measured)),
                        forced: false,
                        measured,
                    }
                }
                None => Pick {
                    kernel: supported.first().copied(),
                    forced: false,
                    measured: Vec::new(),
                },
            }
        })
    }

    /// Every kernel, fastest first on the CPUs it was tuned on.
    pub const ALL: [Self; 3] = [Self::Avx512Rows, Self::Avx2Rows, Self::Avx2];

    /// The kernel in words (`speed --kernels`).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Avx2 => "AVX2, 6 rows x 16 features",
            Self::Avx512Rows => "AVX-512, 64 rows x 5 features",
            Self::Avx2Rows if avx2_tanh_refined() => "AVX2, 24 rows x 4 features",
            Self::Avx2Rows => "AVX2, 16 rows x 6 features",
        }
    }

    /// The tile in a few words (`speed --kernels`' pick line).
    pub fn short(self) -> &'static str {
        match self {
            Self::Avx2 => "AVX2 6x16",
            Self::Avx512Rows => "AVX-512 64x5",
            Self::Avx2Rows if avx2_tanh_refined() => "AVX2 24x4",
            Self::Avx2Rows => "AVX2 16x6",
        }
    }

    /// Whether this CPU runs `self`.
    pub fn supported(self) -> bool {
        match self {
            Self::Avx512Rows => simd::avx512(),
            Self::Avx2 | Self::Avx2Rows => simd::avx2_fma(),
        }
    }
}

/// The sampling tile this process uses, and why.
#[derive(Clone, Debug)]
pub struct Pick {
    /// The tile (`None`: this CPU runs none; sampling uses the `gemm` path).
    pub kernel: Option<Kernel>,
    /// Whether `COLLAPSE_EXPLORER_PACKED` chose it.
    pub forced: bool,
    /// Seconds per 1,024 rows of each tile timed at start-up ([`measure_fastest`]); empty where
    /// it was forced or only one tile runs.
    pub measured: Vec<(Kernel, f64)>,
}

/// `COLLAPSE_EXPLORER_PACKED`, where set.
fn forced_kernel() -> Option<String> {
    std::env::var("COLLAPSE_EXPLORER_PACKED").ok()
}

/// Whether the AVX2 tiles' tanh divides through AVX-512's refined 14-bit reciprocal, as the
/// AVX-512 tile's does (so that all three agree bit for bit): on CPUs with AVX-512F and VL,
/// unless `COLLAPSE_EXPLORER_PACKED=avx2-only` asks for an AVX2-only CPU's division.
/// Decided once per process: the tiles' shapes and weight layout depend on it.
fn avx2_tanh_refined() -> bool {
    static REFINED: OnceLock<bool> = OnceLock::new();
    *REFINED.get_or_init(|| simd::avx512vl() && forced_kernel().as_deref() != Some("avx2-only"))
}

/// Seconds per pass of each of `kernels` over 1,024 rows of config A's network (3 × 100 Tanh),
/// on this thread: the best of 5 passes, the kernels interleaved so that a busy moment of a
/// shared machine falls on all of them; under 10 ms in all.
pub fn measure_fastest(kernels: &[Kernel]) -> Vec<(Kernel, f64)> {
    let rows = 1024;
    let (w, input) = config_a_probe(rows);
    let nets: Vec<PackedMlp> = kernels
        .iter()
        .filter_map(|&k| PackedMlp::with_kernel(&w, k))
        .collect();
    let mut best = vec![f64::INFINITY; nets.len()];
    let mut out = vec![0f32; rows * 2];
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // One untimed pass each (buffers, caches), then five timed.
    for round in 0..6 {
        for (net, best) in nets.iter().zip(&mut best) {
            let start = Instant::now();
            let block = net.block_rows_of_kernel();
            for (x, y) in input.chunks(block * 3).zip(out.chunks_mut(block * 2)) {
                net.block(x, y, &mut a, &mut b);
            }
            std::hint::black_box(&out);
            if round > 0 {
                *best = best.min(start.elapsed().as_secs_f64());
            }
        }
    }
    nets.iter().map(|n| n.kernel).zip(best).collect()
}

/// What the tiles are timed on (`speed --kernels`, the start-up pick, the criterion bench):
/// config A's network (3 × 100 Tanh, seed 1) and `rows` input rows `[x, t]` spread over ±1.6.
pub fn config_a_probe(rows: usize) -> (MlpWeights, Vec<f32>) {
    let w = MlpWeights::init(&MlpConfig::preset_2d(2), 1);
    let input = (0..rows * 3)
        .map(|i| ((i % 17) as f32 - 8.0) / 5.0)
        .collect();
    (w, input)
}

/// The kernel of `times` (seconds per pass, in [`Kernel::ALL`]'s order) to use: a later one
/// only when it is more than 3% faster than the best before it, so that a tie measured on a
/// noisy machine keeps the first. Panics on an empty list.
pub fn fastest(times: &[(Kernel, f64)]) -> Kernel {
    let mut best = times[0];
    for &(k, t) in &times[1..] {
        if t < 0.97 * best.1 {
            best = (k, t);
        }
    }
    best.0
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
                    Kernel::Avx512Rows | Kernel::Avx2Rows => {
                        tiled = Vec::with_capacity(l.fan_in * l.fan_out);
                        for (o, f) in row_tiles(l.fan_out, kernel.rows_tile().1) {
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
        self.forward_blocks(input, rows, true)
    }

    /// [`Self::forward`] on the calling thread alone, block after block: the same numbers, for
    /// callers that are already one task of a parallel loop (the fused sampler steps,
    /// `FastScoreNet::steps_host`).
    pub fn forward_here(&self, input: &[f32], rows: usize) -> Vec<f32> {
        self.forward_blocks(input, rows, false)
    }

    /// The forward pass, its blocks in parallel or not.
    fn forward_blocks(&self, input: &[f32], rows: usize, parallel: bool) -> Vec<f32> {
        let (fi, fo) = (self.fan_in(), self.fan_out());
        assert_eq!(
            input.len(),
            rows * fi,
            "PackedMlp::forward: input is not [{rows}, {fi}]"
        );
        let mut out = vec![0f32; rows * fo];
        let block = self.block_rows_of_kernel();
        let run = |(x, y): (&[f32], &mut [f32])| {
            SCRATCH.with(|s| {
                let (a, b) = &mut *s.borrow_mut();
                self.block(x, y, a, b);
            })
        };
        if parallel {
            input
                .par_chunks(block * fi)
                .zip(out.par_chunks_mut(block * fo))
                .for_each(run);
        } else {
            input
                .chunks(block * fi)
                .zip(out.chunks_mut(block * fo))
                .for_each(run);
        }
        out
    }

    /// Rows per block: [`BLOCK_ROWS`] for the AVX2 tile; one 64-row tile for the rows-in-lanes
    /// kernel, whose feature-major buffers (`[100][64]`, 25.6 KB each for the 2D preset) then
    /// ping-pong between layers in L1. Measured on a 2-core Xeon (3 × 100 Tanh, ODE sampling,
    /// 20,000 particles, 7 interleaved rounds): 6.39 M particle-steps/s at 64 rows against 5.82
    /// at 192 (5 rounds at 128: 5.38).
    pub fn block_rows_of_kernel(&self) -> usize {
        match self.kernel {
            Kernel::Avx2 => BLOCK_ROWS,
            Kernel::Avx512Rows => ROWS_TILE,
            Kernel::Avx2Rows => AVX2_ROWS_BLOCK,
        }
    }

    /// One block of rows through every layer, ping-ponging between `a` and `b`.
    fn block(&self, x: &[f32], y: &mut [f32], a: &mut Vec<f32>, b: &mut Vec<f32>) {
        if self.kernel != Kernel::Avx2 {
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
                    Kernel::Avx2 if avx2_tanh_refined() => {
                        layer_avx2_refined(&src[..], lda, padded, layer, &mut dst[..], ldc, act)
                    }
                    Kernel::Avx2 => {
                        layer_avx2(&src[..], lda, padded, layer, &mut dst[..], ldc, act)
                    }
                    Kernel::Avx512Rows | Kernel::Avx2Rows => unreachable!("block_rows"),
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

    /// [`Self::block`] for the rows-in-lanes tiles: the block transposed to feature-major
    /// `[features][padded rows]`, every layer, and transposed back.
    fn block_rows(&self, x: &[f32], y: &mut [f32], a: &mut Vec<f32>, b: &mut Vec<f32>) {
        let fi = self.fan_in();
        let fo = self.fan_out();
        let rows = x.len() / fi;
        let tile = self.kernel.rows_tile().0;
        let ld = rows.div_ceil(tile) * tile;
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
            // SAFETY: the tile's CPU features were checked in `with_kernel`; `src` holds
            // `fan_in` features and `dst` `fan_out` features of `ld` rows each, `ld` a multiple
            // of the tile's rows.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                let (src, dst) = (&src[..], &mut dst[..]);
                match self.kernel {
                    Kernel::Avx2Rows if avx2_tanh_refined() => {
                        layer_rows_avx2_refined(src, dst, ld, layer, act)
                    }
                    Kernel::Avx2Rows => layer_rows_avx2(src, dst, ld, layer, act),
                    _ => layer_rows_avx512(src, dst, ld, layer, act),
                }
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

/// The rows-in-lanes kernels' tiles of a layer with `fan_out` features: `(first feature,
/// width)`, `widest` wide, then 2, then 1.
fn row_tiles(fan_out: usize, widest: usize) -> impl Iterator<Item = (usize, usize)> {
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

/// Rows per tile of the rows-in-lanes kernel: four 16-lane vectors.
const ROWS_TILE: usize = 64;
/// Rows per tile of the AVX2 rows-in-lanes kernel where AVX-512VL gives it 32 registers (and
/// FMAs that broadcast a weight from memory): three 8-lane vectors × 4 features.
const AVX2_ROWS_TILE: usize = 24;
/// Rows and features per tile of that kernel on an AVX2-only CPU, whose 16 registers must also
/// hold each broadcast weight: two 8-lane vectors × 6 features (12 accumulators, 2 row vectors
/// and a weight: 15 registers). There 24 × 4 needs all 16 and spills. Measured on a 2-core
/// Xeon running the AVX2-only code (`COLLAPSE_EXPLORER_SIMD=avx2`; ODE sampling, 3 × 100 Tanh,
/// 20,000 particles, 5 interleaved rounds, M particle-steps/s): 16 × 6 3.87–3.96, 16 × 5
/// 3.83–4.05, 24 × 3 3.77–3.94, 24 × 4 2.54–3.14, 32 × 2 2.63–2.69; the 6 × 16 tile 3.28–3.51.
pub(super) const AVX2_ONLY_ROWS_TILE: usize = 16;
/// See [`AVX2_ONLY_ROWS_TILE`].
pub(super) const AVX2_ONLY_FEATURES: usize = 6;
/// Rows per block of that kernel (a multiple of both its tiles' rows). On a 2-core Xeon running
/// it (config A, 20,000 rows, 3 runs each, against the 6 × 16 tile in the same run): 24 rows
/// 1.07–1.26× that tile's rate, 48 rows 1.23×, 96 rows 1.20–1.25×.
const AVX2_ROWS_BLOCK: usize = 48;

impl Kernel {
    /// A rows-in-lanes tile's rows and widest feature tile (`(0, 0)` for the AVX2 6 × 16 tile).
    fn rows_tile(self) -> (usize, usize) {
        match self {
            Kernel::Avx512Rows => (ROWS_TILE, 5),
            Kernel::Avx2Rows if avx2_tanh_refined() => (AVX2_ROWS_TILE, 4),
            Kernel::Avx2Rows => (AVX2_ONLY_ROWS_TILE, AVX2_ONLY_FEATURES),
            Kernel::Avx2 => (0, 0),
        }
    }
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
            (Activation::Tanh, 100, 3, 2, Kernel::Avx2Rows),
            (Activation::Relu, 37, 2, 1, Kernel::Avx2Rows),
            (Activation::Silu, 64, 1, 5, Kernel::Avx2Rows),
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

    /// Every tile this CPU runs gives the same numbers bit for bit (the three with AVX-512 and
    /// VL, the two AVX2 ones on an AVX2-only CPU), for every activation, partial tiles and
    /// blocks, and widths off every tile's width: which one sampling picks ([`Kernel::detect`]
    /// measures) changes its speed, never its results.
    #[test]
    fn every_tile_gives_the_same_numbers_bit_for_bit() {
        let same_tanh = !Kernel::Avx512Rows.supported() || avx2_tanh_refined();
        let tiles: Vec<Kernel> = Kernel::ALL
            .into_iter()
            .filter(|k| k.supported() && (same_tanh || *k == Kernel::Avx512Rows))
            .collect();
        if tiles.len() < 2 {
            eprintln!("this CPU runs fewer than two tiles with the same tanh: {tiles:?}");
            return;
        }
        for (act, width, depth, dim) in [
            (Activation::Tanh, 100, 3, 2),
            (Activation::Tanh, 37, 2, 1),
            (Activation::Relu, 64, 2, 5),
            (Activation::Silu, 23, 1, 3),
        ] {
            let w = MlpWeights::init(&MlpConfig::new(dim, width, depth, act), 3);
            let nets: Vec<PackedMlp> = tiles
                .iter()
                .map(|&k| PackedMlp::with_kernel(&w, k).expect("a tile this CPU runs"))
                .collect();
            for rows in [1, 7, 24, 25, 64, 65, 193, 1000] {
                let input: Vec<f32> = (0..rows * (dim + 1))
                    .map(|i| ((i * 53 % 97) as f32 / 24.0 - 2.0) * 1.5)
                    .collect();
                let first = nets[0].forward(&input, rows);
                for net in &nets[1..] {
                    let differ = net
                        .forward(&input, rows)
                        .iter()
                        .zip(&first)
                        .filter(|(x, y)| x.to_bits() != y.to_bits())
                        .count();
                    assert_eq!(
                        differ, 0,
                        "{act:?} width {width} rows {rows}: {:?} against {:?}",
                        net.kernel, nets[0].kernel
                    );
                }
            }
        }
    }

    /// The pick keeps the first tile in [`Kernel::ALL`]'s order unless a later one is more than
    /// 3% faster.
    #[test]
    fn fastest_needs_a_clear_margin_to_change_the_pick() {
        use Kernel::{Avx2, Avx2Rows, Avx512Rows};
        assert_eq!(fastest(&[(Avx512Rows, 1e-3)]), Avx512Rows);
        assert_eq!(fastest(&[(Avx512Rows, 1e-3), (Avx2, 2e-3)]), Avx512Rows);
        assert_eq!(fastest(&[(Avx512Rows, 1e-3), (Avx2, 0.98e-3)]), Avx512Rows);
        assert_eq!(fastest(&[(Avx512Rows, 1e-3), (Avx2, 0.9e-3)]), Avx2);
        assert_eq!(fastest(&[(Avx512Rows, f64::INFINITY), (Avx2, 1.0)]), Avx2);
        // Each later tile is weighed against the best before it.
        let three = [(Avx512Rows, 1e-3), (Avx2Rows, 0.9e-3), (Avx2, 0.89e-3)];
        assert_eq!(fastest(&three), Avx2Rows);
        let three = [(Avx512Rows, 1e-3), (Avx2Rows, 0.9e-3), (Avx2, 0.8e-3)];
        assert_eq!(fastest(&three), Avx2);
    }

    /// The measurement times every kernel it is given that this CPU runs, and the kernel
    /// sampling uses is one this CPU runs.
    #[test]
    fn the_measured_pick_is_a_kernel_this_cpu_runs() {
        let supported: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.supported()).collect();
        let times = measure_fastest(&Kernel::ALL);
        assert_eq!(times.iter().map(|(k, _)| *k).collect::<Vec<_>>(), supported);
        assert!(
            times.iter().all(|(_, t)| t.is_finite() && *t > 0.0),
            "{times:?}"
        );
        match Kernel::detect() {
            Some(k) => assert!(k.supported()),
            None => assert!(supported.is_empty()),
        }
    }

    #[test]
    fn wide_networks_are_left_to_gemm() {
        let w = MlpWeights::init(&MlpConfig::preset_mog(10), 0);
        assert!(PackedMlp::new(&w).is_none());
    }
}
