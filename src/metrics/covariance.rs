//! Error covariance along trajectories (SPEC §7, paper Fig. 5b): with the velocity error
//! `e = v_θ − v*` recorded on `M` sampler trajectories at the grid times `t_k`,
//! `C_kl = Cov_m(e_m(t_k), e_m(t_l))` per coordinate (ddof 1), averaged over coordinates; the app
//! shows it as a heat map.

/// Error covariance along trajectories (paper Fig. 5b): `errors` is `[T, M, d]` (the velocity
/// error `e_m(t_k)` of trajectory `m` at time `t_k`); returns `C` `[T, T]` with
/// `C_kl = Cov_m(e_m(t_k), e_m(t_l))` (ddof 1) per coordinate, averaged over coordinates.
pub fn error_covariance(errors: &[f32], times: usize, m: usize, d: usize) -> Vec<f64> {
    assert_eq!(errors.len(), times * m * d, "error tensor shape");
    assert!(m >= 2, "covariance needs at least two trajectories");
    let at = |k: usize, j: usize, c: usize| errors[(k * m + j) * d + c] as f64;
    // Centre each (time, coordinate) over trajectories.
    let mut centred = vec![0f64; times * m * d];
    for k in 0..times {
        for c in 0..d {
            let mean = (0..m).map(|j| at(k, j, c)).sum::<f64>() / m as f64;
            for j in 0..m {
                centred[(k * d + c) * m + j] = at(k, j, c) - mean;
            }
        }
    }
    let mut cov = vec![0f64; times * times];
    for k in 0..times {
        for l in k..times {
            let mut acc = 0.0;
            for c in 0..d {
                let a = &centred[(k * d + c) * m..(k * d + c + 1) * m];
                let b = &centred[(l * d + c) * m..(l * d + c + 1) * m];
                acc += a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
            }
            let v = acc / ((m - 1) as f64 * d as f64);
            cov[k * times + l] = v;
            cov[l * times + k] = v;
        }
    }
    cov
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors e(t_k) = a_m · k with a_m of sample variance s²: C_kl = s² k l.
    #[test]
    fn covariance_closed_form() {
        let a = [1.0f32, -1.0, 2.0, 0.0];
        let (times, m) = (3, 4);
        let mean = 0.5;
        let s2 = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / 3.0;
        let errors: Vec<f32> = (0..times)
            .flat_map(|k| a.iter().map(move |&x| x * k as f32))
            .collect();
        let c = error_covariance(&errors, times, m, 1);
        for k in 0..times {
            for l in 0..times {
                assert!((c[k * times + l] - s2 * (k * l) as f64).abs() < 1e-9);
            }
        }
    }
}
