//! Which vector instructions the CPU kernels may use: the CPU's own, less AVX-512 where
//! `COLLAPSE_EXPLORER_SIMD=avx2` asks every kernel (training's products and tanh, sampling's
//! tiles) to run as on a CPU without it. An AVX-512 machine then computes what an AVX2-only CPU
//! would, with the same instructions: a way to time and test that code path on the machine at
//! hand (its speed is this core's, not an AVX2-only core's).

use std::sync::OnceLock;

/// Whether `COLLAPSE_EXPLORER_SIMD=avx2` is set.
pub fn avx2_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| {
        std::env::var("COLLAPSE_EXPLORER_SIMD").is_ok_and(|v| v.eq_ignore_ascii_case("avx2"))
    })
}

/// Whether the CPU itself has AVX-512F, forced off or not (what `gemm::gemm` goes by).
pub fn cpu_has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the kernels may use AVX-512F: the CPU has it and it is not forced off.
pub fn avx512() -> bool {
    cpu_has_avx512f() && !avx2_forced()
}

/// Whether the kernels may use AVX-512VL (8-lane registers with AVX-512's instructions).
pub fn avx512vl() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx512() && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU has AVX2 and FMA (every x86-64 kernel here needs both).
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The instruction set in words, and whether it was forced: `speed --kernels`' CPU line.
pub fn describe() -> String {
    if avx512() {
        "AVX-512".into()
    } else if avx2_fma() && cpu_has_avx512f() {
        "AVX2 on an AVX-512 CPU, set by COLLAPSE_EXPLORER_SIMD=avx2".into()
    } else if avx2_fma() {
        "AVX2".into()
    } else {
        "no AVX2".into()
    }
}

/// The CPU's model name (from /proc/cpuinfo on Linux, read once; else the architecture).
pub fn cpu_model() -> String {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("model name"))
                        .and_then(|l| l.split(':').nth(1))
                        .map(|m| m.trim().to_string())
                })
                .unwrap_or_else(|| std::env::consts::ARCH.to_string())
        })
        .clone()
}

/// The CPU and the instruction set its kernels use, e.g. "AMD EPYC 9R14 (AVX-512)": what a
/// result computed on the CPU records, since a seed gives the same numbers only on one such
/// path (AVX-512 and AVX2-only CPUs round some sums and the tanh differently).
pub fn cpu_line() -> String {
    format!("{} ({})", cpu_model(), describe())
}

/// The instruction set a [`cpu_line`] names, in one word: "AVX-512", "AVX2" (forced or not:
/// the same code) or "no".
pub fn isa_of(cpu_line: &str) -> &str {
    let set = cpu_line.rsplit_once(" (").map_or(cpu_line, |(_, s)| s);
    set.split([' ', ',', ')']).next().unwrap_or(set)
}
