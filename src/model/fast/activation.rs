//! The fused path's activations: the bias and the activation in one pass after a layer's
//! product, their derivatives for the backward pass, and Eigen's rational `tanh`.

use crate::model::mlp::Activation;

/// `z[r, :] = act(z[r, :] + bias)` for each row of `z` (rows `bias.len()` wide; `None`: the bias
/// alone), in one pass over `z` for Tanh. SiLU's pre-activations are kept in `pre` for the
/// backward pass.
pub(super) fn add_bias_and_activate(
    act: Option<Activation>,
    z: &mut [f32],
    bias: &[f32],
    pre: Option<&mut Vec<f32>>,
) {
    if act == Some(Activation::Tanh) {
        return tanh_rows_with_bias(z, bias);
    }
    for row in z.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
    match act {
        Some(Activation::Relu) => z.iter_mut().for_each(|v| *v = v.max(0.0)),
        Some(Activation::Silu) => {
            pre.expect("SiLU keeps its pre-activations")
                .copy_from_slice(z);
            z.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp());
        }
        Some(Activation::Tanh) | None => {}
    }
}

/// `g ⊙ act'(·)` in place, from the activation output `h` (and pre-activation for SiLU).
pub(super) fn derivative(act: Activation, g: &mut [f32], h: &[f32], pre: Option<&[f32]>) {
    match act {
        Activation::Tanh => g.iter_mut().zip(h).for_each(|(g, h)| *g *= 1.0 - h * h),
        Activation::Relu => g
            .iter_mut()
            .zip(h)
            .for_each(|(g, h)| *g = if *h > 0.0 { *g } else { 0.0 }),
        Activation::Silu => {
            let z = pre.expect("SiLU keeps its pre-activations");
            g.iter_mut().zip(z).for_each(|(g, z)| {
                let s = 1.0 / (1.0 + (-z).exp());
                *g *= s * (1.0 + z * (1.0 - s));
            });
        }
    }
}

/// `z[r, :] = tanh(z[r, :] + bias)` for each row of `z` (rows `bias.len()` wide), through the
/// packed sampling tiles' tanh (the same function bit for bit): 16 lanes with AVX-512F (`FMA`s
/// and a refined reciprocal), 8 with AVX2 and FMA (`FMA`s and a division); else Eigen's
/// rational `tanh` as [`tanh_approx`] writes it.
pub fn tanh_rows_with_bias(z: &mut [f32], bias: &[f32]) {
    debug_assert!(z.len().is_multiple_of(bias.len()));
    #[cfg(target_arch = "x86_64")]
    {
        use crate::model::{packed, simd};
        if simd::avx512() {
            // SAFETY: AVX-512F is present, as just checked.
            unsafe { packed::tanh_rows_with_bias_avx512(z, bias) };
            return;
        }
        if simd::avx2_fma() {
            // SAFETY: AVX2 and FMA are present, as just checked.
            unsafe { packed::tanh_rows_with_bias_avx2(z, bias) };
            return;
        }
    }
    tanh_rows_with_bias_scalar(z, bias);
}

/// [`tanh_rows_with_bias`] element by element through [`tanh_approx`].
pub(super) fn tanh_rows_with_bias_scalar(z: &mut [f32], bias: &[f32]) {
    for row in z.chunks_exact_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v = tanh_approx(*v + b);
        }
    }
}

/// Eigen's rational `tanh`: inputs are clamped to ±this, where it is ±1 in `f32`.
pub(crate) const TANH_CLAMP: f32 = 7.905_311;
/// Its numerator's coefficients in `x²`, highest first (times `x`).
pub(crate) const TANH_P: [f32; 7] = [
    -2.760_768_5e-16,
    2.000_188e-13,
    -8.604_672e-11,
    5.122_297e-8,
    1.485_722_4e-5,
    6.372_619_3e-4,
    4.893_524_6e-3,
];
/// Its denominator's coefficients in `x²`, highest first.
pub(crate) const TANH_Q: [f32; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_7e-3, 4.893_525e-3];

/// Eigen's `ptanh_float`: odd rational function of degree 13/6, clamped at ±7.9053 (the
/// coefficients above, by Horner's rule, each step a product then a sum).
#[inline(always)]
pub fn tanh_approx(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let p = TANH_P[1..].iter().fold(TANH_P[0], |p, &c| p * x2 + c) * x;
    let q = TANH_Q[1..].iter().fold(TANH_Q[0], |q, &c| q * x2 + c);
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_approximation_is_accurate() {
        let mut worst = 0.0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3;
            let e = (tanh_approx(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(e);
        }
        assert!(worst < 5e-7, "max |error| {worst}"); // a few ulp of 1
        let mut v = vec![0.5f32, -3.0, 100.0, f32::MIN_POSITIVE];
        tanh_rows_with_bias(&mut v, &[0.0]);
        assert!((v[0] - 0.5f32.tanh()).abs() < 1e-7 && (v[1] + 3f32.tanh()).abs() < 1e-7);
        assert!((v[2] - 1.0).abs() < 1e-6 && v[3] > 0.0);
    }

    /// The forward pass's bias-and-tanh pass equals f64's `tanh(z + b)` (of the `f32` sum) to
    /// 3 ulp of 1 on every path this CPU runs (16 lanes, 8 lanes, scalar), for row widths that
    /// leave the vector paths full registers, tails, or both.
    #[test]
    fn tanh_with_bias_is_tanh_of_the_sum() {
        type Path = fn(&mut [f32], &[f32]);
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut paths: Vec<(&str, Path)> = vec![
            ("dispatched", tanh_rows_with_bias),
            ("scalar", tanh_rows_with_bias_scalar),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            use crate::model::{packed, simd};
            if simd::avx512() {
                // SAFETY: AVX-512F is present, as just checked.
                paths.push(("AVX-512", |z, b| unsafe {
                    packed::tanh_rows_with_bias_avx512(z, b)
                }));
            }
            if simd::avx2_fma() {
                // SAFETY: AVX2 and FMA are present, as just checked.
                paths.push(("AVX2", |z, b| unsafe {
                    packed::tanh_rows_with_bias_avx2(z, b)
                }));
            }
        }
        for (name, path) in paths {
            for width in [1, 7, 8, 9, 16, 23, 100] {
                let bias: Vec<f32> = (0..width).map(|j| j as f32 * 0.37 - 2.0).collect();
                let rows = 301;
                let z0: Vec<f32> = (0..rows * width)
                    .map(|i| ((i * 7919 % 2003) as f32 / 2003.0 - 0.5) * 24.0)
                    .collect();
                let mut z = z0.clone();
                path(&mut z, &bias);
                let mut worst = 0f64;
                for (i, (&got, &x)) in z.iter().zip(&z0).enumerate() {
                    let sum = x + bias[i % width];
                    worst = worst.max((f64::from(got) - f64::from(sum).tanh()).abs());
                }
                assert!(
                    worst < 3.0 * f64::from(f32::EPSILON),
                    "{name}, width {width}: {worst:e}"
                );
            }
        }
    }
}
