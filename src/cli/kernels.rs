//! `speed --kernels`: what the fused CPU path's kernels do on this CPU. The core's FMA peak,
//! the rate of each GEMM kernel on every product of the paper's configs A and B (gemm's
//! AVX-512 and AVX2 microkernels, the packed kernel of `model::sgemm` and the narrow-side
//! kernels of `model::narrow`), which one the fused path uses, and the split of one training
//! step (forward, backward, Adam).

use std::time::Instant;

use crate::model::fast::{self, AdamSettings, FastMlp};
use crate::model::narrow;
use crate::model::sgemm::{self, MatRef, SgemmBuffers};
use crate::model::{MlpConfig, MlpWeights};

/// One product: its name, `m × n × k`, and whether `A` / `B` are read transposed (as the
/// backward pass reads them).
struct Shape {
    name: &'static str,
    m: usize,
    n: usize,
    k: usize,
    a_t: bool,
    b_t: bool,
}

const fn shape(name: &'static str, m: usize, n: usize, k: usize, a_t: bool, b_t: bool) -> Shape {
    Shape {
        name,
        m,
        n,
        k,
        a_t,
        b_t,
    }
}

/// Every product of one shard (1,000 rows) of configs A and B, and an ODE step's hidden layer.
const SHAPES: [Shape; 16] = [
    shape("A forward, input layer", 1000, 100, 3, false, false),
    shape("A forward, hidden layer", 1000, 100, 100, false, false),
    shape("A forward, output layer", 1000, 2, 100, false, false),
    shape("A backward, output dW", 100, 2, 1000, true, false),
    shape("A backward, hidden dW", 100, 100, 1000, true, false),
    shape("A backward, hidden dh", 1000, 100, 100, false, true),
    shape("A backward, output dh", 1000, 100, 2, false, true),
    shape("A backward, input dW", 3, 100, 1000, true, false),
    shape("B forward, input layer", 1000, 1000, 11, false, false),
    shape("B forward, hidden layer", 1000, 1000, 1000, false, false),
    shape("B forward, output layer", 1000, 10, 1000, false, false),
    shape("B backward, hidden dW", 1000, 1000, 1000, true, false),
    shape("B backward, hidden dh", 1000, 1000, 1000, false, true),
    shape("B backward, output dh", 1000, 1000, 10, false, true),
    shape("B backward, input dW", 11, 1000, 1000, true, false),
    shape("ODE step, 20,000 rows", 20000, 100, 100, false, false),
];

/// Runs `speed --kernels`.
pub fn kernels_report() {
    println!("CPU: {}", cpu_name());
    if !x86_64_has("avx2") {
        println!("(no AVX2: the GEMM rows need x86-64 with AVX2 and FMA)");
    } else {
        let peak = |avx512: bool| fma_peak(avx512) / 1e9;
        print!("FMA peak of one core: AVX2 {:.1} GFLOP/s", peak(false));
        if crate::model::simd::avx512() {
            print!(", AVX-512 {:.1} GFLOP/s", peak(true));
        }
        println!();
        println!(
            "{:<28} {:>18} {:>10} {:>10} {:>10} {:>10} {:>10}  fused path uses",
            "product (one shard)", "m x n x k", "gemm v4", "gemm v3", "packed", "narrow", "fused"
        );
        for s in &SHAPES {
            let rate = |k: Kernel| rate(s, k).map_or("-".into(), |r| format!("{:.1}", r / 1e9));
            println!(
                "{:<28} {:>18} {:>10} {:>10} {:>10} {:>10} {:>10}  {}",
                s.name,
                format!("{} x {} x {}", s.m, s.n, s.k),
                rate(Kernel::GemmV4),
                rate(Kernel::GemmV3),
                rate(Kernel::Packed),
                rate(Kernel::Narrow),
                rate(Kernel::Fused),
                crate::model::fast::kernel_for(s.m, s.n, s.k, s.a_t, s.b_t)
            );
        }
        println!("(GFLOP/s, single-threaded, best of 3; each shard runs on its own core)");
        sampling_kernels();
    }
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "fused step", "forward", "backward", "Adam"
    );
    for (name, config) in [
        ("config A (3 x 100)", MlpConfig::preset_2d(2)),
        ("config B (2 x 1000)", MlpConfig::preset_mog(10)),
    ] {
        let [f, b, a] = step_split(&config);
        println!(
            "{name:<28} {:>7.3} ms {:>7.3} ms {:>7.3} ms",
            1e3 * f,
            1e3 * b,
            1e3 * a
        );
    }
}

/// The packed inference kernels of sampling (`model::packed`), each on config A's network at
/// 20,000 rows (one ODE step's evaluation), on every thread, and which one sampling uses (the
/// one measured faster at start-up where both run; `COLLAPSE_EXPLORER_PACKED` overrides it).
fn sampling_kernels() {
    let pick = crate::model::packed::Kernel::pick();
    let chosen = pick.kernel;
    for (kernel, rate) in sampling_kernel_rates() {
        println!(
            "sampling kernel {:<30} {:>8.2} M rows/s, config A{}",
            kernel.describe(),
            rate / 1e6,
            if chosen == Some(kernel) {
                "  (sampling uses)"
            } else {
                ""
            }
        );
    }
    if let Some(why) = pick_in_words(pick) {
        println!("sampling kernel pick: {why}");
    }
}

/// Why sampling uses its tile, in words (`None` where this CPU runs no tile).
fn pick_in_words(pick: &crate::model::packed::Pick) -> Option<String> {
    let name = |k: crate::model::packed::Kernel| k.short();
    let kernel = pick.kernel?;
    Some(if pick.forced {
        format!("{} (set by COLLAPSE_EXPLORER_PACKED)", name(kernel))
    } else if pick.measured.is_empty() {
        format!("{} (the only tile this CPU runs)", name(kernel))
    } else {
        let times: Vec<String> = pick
            .measured
            .iter()
            .map(|(k, t)| format!("{} {:.3} ms", name(*k), t * 1e3))
            .collect();
        format!(
            "{}, measured faster at start-up (one thread, 1,024 rows of config A: {})",
            name(kernel),
            times.join(", ")
        )
    })
}

/// Rows per second of each packed kernel this CPU runs, on config A's network at 20,000 rows
/// (best of 5, after one untimed pass).
fn sampling_kernel_rates() -> Vec<(crate::model::packed::Kernel, f64)> {
    use crate::model::packed::{Kernel as Packed, PackedMlp};
    let rows = 20_000;
    let (w, input) = crate::model::packed::config_a_probe(rows);
    Packed::ALL
        .into_iter()
        .filter_map(|kernel| {
            let net = PackedMlp::with_kernel(&w, kernel)?;
            net.forward(&input, rows);
            let best = (0..5)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(net.forward(&input, rows));
                    start.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            Some((kernel, rows as f64 / best))
        })
        .collect()
}

/// The kernels `speed --kernels` compares.
#[derive(Clone, Copy)]
enum Kernel {
    GemmV4,
    GemmV3,
    Packed,
    Narrow,
    /// What the fused path runs (`fast::matmul`).
    Fused,
}

/// One product into a given `C`.
type Product<'a> = dyn FnMut(&mut [f32]) + 'a;

/// FLOP/s of `kernel` on `s` (best of 3 timings), or `None` where this CPU lacks it.
fn rate(s: &Shape, kernel: Kernel) -> Option<f64> {
    let (m, n, k) = (s.m, s.n, s.k);
    let a: Vec<f32> = (0..m * k).map(|i| ((i % 13) as f32 - 6.0) / 7.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i % 11) as f32 - 5.0) / 9.0).collect();
    let mut c = vec![0.0f32; m * n];
    let (a, b) = (MatRef::view(&a, s.a_t, m, k), MatRef::view(&b, s.b_t, k, n));
    let mut buf = SgemmBuffers::default();
    let mut run: Box<Product<'_>> = match kernel {
        Kernel::Packed if sgemm::available() => {
            Box::new(move |c| sgemm::sgemm(m, n, k, c, n, a, b, true, &mut buf))
        }
        Kernel::GemmV4 if crate::model::simd::avx512() => {
            Box::new(move |c| gemm_x86(true, m, n, k, c, a, b))
        }
        Kernel::GemmV3 if x86_64_has("fma") => Box::new(move |c| gemm_x86(false, m, n, k, c, a, b)),
        Kernel::Narrow if narrow::kind(m, n, a, b).is_some() => Box::new(move |c| {
            narrow::product(m, n, k, c, n, a, b, true);
        }),
        Kernel::Fused => Box::new(move |c| fast::matmul(m, n, k, c, n, a, b, true)),
        _ => return None,
    };
    let flops = 2.0 * (m * n * k) as f64;
    let reps = ((1e9 / flops) as usize).max(3);
    run(&mut c);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..reps {
            run(&mut c);
        }
        best = best.min(start.elapsed().as_secs_f64() / reps as f64);
    }
    Some(flops / best)
}

/// `C += A · B` (row-major `C`) on gemm's AVX-512 (`v4`) or AVX2 (`v3`) microkernels:
/// `gemm::gemm` itself for the ones it picks on this CPU (what the fused path runs), else gemm's
/// driver on the other ([`fast::gemm_kernel`]; the same numbers, and the same speed on these
/// operands; on a 2-deep product with both operands row-major the driver once ran 3× slower
/// than `gemm::gemm`, for a reason not found). `rate` checked the CPU runs the kernel.
fn gemm_x86(v4: bool, m: usize, n: usize, k: usize, c: &mut [f32], a: MatRef, b: MatRef) {
    // SAFETY: the operands hold m × k, k × n and m × n elements at these strides (built so
    // by `rate`), and `rate` checked the SIMD level.
    unsafe {
        fast::gemm_kernel(
            v4,
            m,
            n,
            k,
            c.as_mut_ptr(),
            n,
            true,
            (a.data.as_ptr(), a.rs, a.cs),
            (b.data.as_ptr(), b.rs, b.cs),
            gemm::Parallelism::None,
        )
    }
}

/// Seconds of one fused training step of `config` at batch 2,000 (median of its repetitions):
/// the forward pass, the backward pass (loss and gradient less a forward), and Adam.
fn step_split(config: &MlpConfig) -> [f64; 3] {
    let mut net = FastMlp::new(&MlpWeights::init(config, 0));
    let b = 2000;
    let x: Vec<f32> = (0..b * config.input_dim())
        .map(|i| ((i % 13) as f32 - 6.0) / 7.0)
        .collect();
    let y: Vec<f32> = (0..b * config.output_dim())
        .map(|i| ((i % 11) as f32 - 5.0) / 9.0)
        .collect();
    let reps = if config.width >= 500 { 15 } else { 300 };
    let mut times: Vec<[f64; 3]> = Vec::with_capacity(reps);
    for rep in 0..reps + 2 {
        let t0 = Instant::now();
        net.forward(&x, b);
        let t1 = Instant::now();
        net.loss_and_grad(&x, &y, b);
        let t2 = Instant::now();
        net.adam_step(1e-5, AdamSettings::default());
        let t3 = Instant::now();
        if rep >= 2 {
            let f = (t1 - t0).as_secs_f64();
            times.push([f, (t2 - t1).as_secs_f64() - f, (t3 - t2).as_secs_f64()]);
        }
    }
    std::array::from_fn(|i| {
        let mut v: Vec<f64> = times.iter().map(|t| t[i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    })
}

/// FLOP/s of a loop of independent FMAs on one core (12 accumulators, enough to cover the
/// FMA latency on current x86 cores).
fn fma_peak(avx512: bool) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        let iters = 20_000_000;
        let start = Instant::now();
        // SAFETY: `kernels_report` checked AVX2 and FMA, and AVX-512F before asking for it.
        let lanes = unsafe {
            if avx512 {
                std::hint::black_box(fma_loop_avx512(iters));
                16
            } else {
                std::hint::black_box(fma_loop_avx2(iters));
                8
            }
        };
        (iters * 12 * lanes * 2) as f64 / start.elapsed().as_secs_f64()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = avx512;
        0.0
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_loop_avx512(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); 12];
    let (a, b) = (_mm512_set1_ps(0.999_999_9), _mm512_set1_ps(1e-7));
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_loop_avx2(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let (a, b) = (_mm256_set1_ps(0.999_999_9), _mm256_set1_ps(1e-7));
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut lanes = [0.0f32; 8];
    acc.iter()
        .map(|&x| {
            // SAFETY: `lanes` holds 8 floats.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), x) };
            lanes.iter().sum::<f32>()
        })
        .sum()
}

/// Whether this is x86-64 with `feature` (only "avx2" and "fma" are asked).
fn x86_64_has(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match feature {
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        false
    }
}

/// The CPU's model name, the instruction set the kernels use and the threads.
pub fn cpu_name() -> String {
    format!(
        "{} ({}, {} threads)",
        crate::model::simd::cpu_model(),
        crate::model::simd::describe(),
        rayon::current_num_threads()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `speed --kernels` times every packed sampling kernel this CPU runs, and the one sampling
    /// picks is among them (on x86-64 with AVX2 and FMA; elsewhere neither runs).
    #[test]
    fn the_sampling_kernel_in_use_is_one_of_those_timed() {
        let rates = sampling_kernel_rates();
        assert!(
            rates.iter().all(|(_, r)| r.is_finite() && *r > 0.0),
            "{rates:?}"
        );
        match crate::model::packed::Kernel::detect() {
            Some(k) => assert!(rates.iter().any(|(t, _)| *t == k), "{k:?} not timed"),
            None => assert!(rates.is_empty()),
        }
        // The pick is said in words, naming the tile it chose.
        let pick = crate::model::packed::Kernel::pick();
        match (pick_in_words(pick), pick.kernel) {
            (Some(words), Some(k)) => assert!(words.starts_with(k.short()), "{words}"),
            (words, k) => assert!(words.is_none() && k.is_none()),
        }
        if x86_64_has("avx2") && x86_64_has("fma") {
            assert!(!rates.is_empty());
        }
    }
}
