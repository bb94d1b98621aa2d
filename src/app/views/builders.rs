//! Pure geometry and image builders of the views: plain data in, plain data out, no `Ui`.
//! The views cache what these build (see `LayerCache`) so that a frame does not rebuild it.

use std::sync::Arc;

use crate::data::Points;
use crate::metrics::density::DensityEvolution;
use crate::render::segments::Segment;
use crate::train::analysis::SamplerRun;

/// A grid of values for one heat-map layer: `width × height`, row-major, row 0 at the bottom.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatImage {
    /// Cells per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` values.
    pub values: Arc<Vec<f32>>,
    /// What the colour scale is relative to: the largest value, or the magnitude that maps to
    /// the ends of a diverging colour map.
    pub scale: f32,
}

/// Density histogram of one coordinate as `(bin centre, density)` pairs.
pub fn histogram_1d(p: &Points, coord: usize, range: [f64; 2], bins: usize) -> Vec<[f64; 2]> {
    let w = (range[1] - range[0]) / bins as f64;
    let mut h = vec![0f64; bins];
    for r in p.data.chunks_exact(p.d) {
        let b = ((r[coord] as f64 - range[0]) / w).floor();
        if b >= 0.0 && (b as usize) < bins {
            h[b as usize] += 1.0;
        }
    }
    h.iter()
        .enumerate()
        .map(|(i, c)| [range[0] + (i as f64 + 0.5) * w, c / (p.n.max(1) as f64 * w)])
        .collect()
}

/// The image of a square 2D histogram `[bins, bins]` (row 0 at the lowest `y`); the scale is
/// its largest density.
pub fn histogram_image(h: &[f32]) -> HeatImage {
    let bins = (h.len() as f64).sqrt() as usize;
    HeatImage {
        width: bins,
        height: bins,
        values: Arc::new(h.to_vec()),
        scale: h.iter().copied().fold(0f32, f32::max),
    }
}

/// Path segments of a run, coloured by time: in 2D `(x₁, x₂)`, otherwise `(t, x_c)` for the
/// 0-based coordinate `coord` (clamped to the dimension); all kept particles, or only particle
/// `only`.
pub fn path_segments(run: &SamplerRun, only: Option<usize>, coord: usize) -> Vec<Segment> {
    let (m, d) = (run.n_paths, run.samples.d);
    let c = coord.min(d.saturating_sub(1));
    let t_count = run.path_times.len();
    let at = |k: usize, j: usize| -> [f32; 2] {
        let base = (k * m + j) * d;
        if d == 2 {
            [run.paths[base], run.paths[base + 1]]
        } else {
            [run.path_times[k] as f32, run.paths[base + c]]
        }
    };
    let particles: Vec<usize> = match only {
        Some(j) if j < m => vec![j],
        Some(_) => Vec::new(),
        None => (0..m).collect(),
    };
    let mut segs = Vec::with_capacity(particles.len() * t_count);
    for j in particles {
        for k in 0..t_count.saturating_sub(1) {
            segs.push(Segment {
                a: at(k, j),
                b: at(k + 1, j),
                value_a: run.path_times[k] as f32,
                value_b: run.path_times[k + 1] as f32,
            });
        }
    }
    segs
}

/// Positions of the kept particles at time `t` (linear interpolation between recorded times):
/// `(x₁, x₂)` in 2D, otherwise `(t, x_c)` for the coordinate `coord` (clamped).
pub fn positions_at(run: &SamplerRun, t: f64, coord: usize) -> Vec<[f32; 2]> {
    let (m, d) = (run.n_paths, run.samples.d);
    let c = coord.min(d.saturating_sub(1));
    let ts = &run.path_times;
    if ts.is_empty() {
        return Vec::new();
    }
    // Times descend from 1 to t_end.
    let k = ts
        .iter()
        .position(|&x| x <= t)
        .unwrap_or(ts.len() - 1)
        .max(1);
    let (t0, t1) = (ts[k - 1], ts[k]);
    let w = if t0 > t1 {
        ((t0 - t) / (t0 - t1)).clamp(0.0, 1.0) as f32
    } else {
        1.0
    };
    (0..m)
        .map(|j| {
            let a = (k - 1) * m + j;
            let b = k * m + j;
            let lerp = |c: usize| run.paths[a * d + c] * (1.0 - w) + run.paths[b * d + c] * w;
            if d == 2 {
                [lerp(0), lerp(1)]
            } else {
                [t as f32, lerp(c)]
            }
        })
        .collect()
}

/// The speed `|v|` at every point of one time slice `[ny, nx, 2]` of a 2D velocity field; the
/// scale is the largest speed (at least 1e-6).
pub fn speed_image(slice: &[f32], nx: usize, ny: usize) -> HeatImage {
    let mags: Vec<f32> = slice.chunks_exact(2).map(|v| v[0].hypot(v[1])).collect();
    let max = mags.iter().copied().fold(1e-6f32, f32::max);
    HeatImage {
        width: nx,
        height: ny,
        values: Arc::new(mags),
        scale: max,
    }
}

/// Pushes an arrow from `p` along `−v · scale` (the direction particles move as t decreases):
/// its shaft and, unless it has no length, two head strokes 0.35 of its length long, about
/// 30° either side of the shaft.
pub fn push_arrow(out: &mut Vec<Segment>, p: [f32; 2], v: [f32; 2], scale: f32) {
    let tip = [p[0] - v[0] * scale, p[1] - v[1] * scale];
    let (dx, dy) = (tip[0] - p[0], tip[1] - p[1]);
    let len = dx.hypot(dy);
    out.push(Segment {
        a: p,
        b: tip,
        value_a: 0.0,
        value_b: 0.0,
    });
    if len > 1e-6 {
        let (ux, uy) = (dx / len, dy / len);
        let h = 0.35 * len;
        for sgn in [-1.0f32, 1.0] {
            out.push(Segment {
                a: tip,
                b: [
                    tip[0] - h * (ux * 0.87 - sgn * uy * 0.5),
                    tip[1] - h * (uy * 0.87 + sgn * ux * 0.5),
                ],
                value_a: 0.0,
                value_b: 0.0,
            });
        }
    }
}

/// Arrows of `−v` at every second grid point (cell centres) of one time slice `[ny, nx, 2]` of
/// a 2D velocity field over `x_range × y_range`, scaled so that a speed of `max` is 1.7 cells
/// long.
pub fn field_arrows(
    slice: &[f32],
    nx: usize,
    ny: usize,
    x_range: [f64; 2],
    y_range: [f64; 2],
    max: f32,
) -> Vec<Segment> {
    let cell = ((x_range[1] - x_range[0]) / nx as f64) as f32;
    let cell_y = ((y_range[1] - y_range[0]) / ny as f64) as f32;
    let scale = 1.7 * cell / max;
    let mut arrows = Vec::new();
    for j in (0..ny).step_by(2) {
        for i in (0..nx).step_by(2) {
            let v = &slice[(j * nx + i) * 2..(j * nx + i) * 2 + 2];
            let p = [
                x_range[0] as f32 + (i as f32 + 0.5) * cell,
                y_range[0] as f32 + (j as f32 + 0.5) * cell_y,
            ];
            push_arrow(&mut arrows, p, [v[0], v[1]], scale);
        }
    }
    arrows
}

/// The 98th percentile of `|values|` (at least `floor`): a colour scale that lets the few
/// largest values saturate instead of washing out the rest.
fn percentile_98(mut mags: Vec<f64>, floor: f64) -> f64 {
    mags.sort_by(f64::total_cmp);
    mags.get(mags.len() * 98 / 100)
        .copied()
        .unwrap_or(0.0)
        .max(floor)
}

/// The (t, x) image of a 1D velocity `[nt, nx]` (times ascending): rows of x (row 0 = lowest
/// x), columns of t, mapped to `0.5 + 0.5 v / lim` for a diverging colour map; the scale `lim`
/// is the 98th percentile of `|v|` (at least 1e-6).
pub fn velocity_map_image(values: &[f32], nt: usize, nx: usize) -> HeatImage {
    let mut img = vec![0f32; nt * nx];
    for (k, row) in values.chunks_exact(nx).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            img[i * nt + k] = v;
        }
    }
    let lim = (percentile_98(img.iter().map(|v| v.abs() as f64).collect(), 0.0) as f32).max(1e-6);
    HeatImage {
        width: nt,
        height: nx,
        values: Arc::new(img.iter().map(|v| 0.5 + 0.5 * v / lim).collect()),
        scale: lim,
    }
}

/// The (t, x) image of a density evolution: columns ascending in t (the recorded times
/// descend), rows ascending in x; the scale is the largest density (at least 1e-6).
pub fn density_image(de: &DensityEvolution) -> HeatImage {
    let (nt, bins) = (de.times.len(), de.bins);
    let mut img = vec![0f32; nt * bins];
    for (k, row) in de.density.chunks_exact(bins).enumerate() {
        for (b, &v) in row.iter().enumerate() {
            img[b * nt + (nt - 1 - k)] = v;
        }
    }
    let max = img.iter().copied().fold(1e-6f32, f32::max);
    HeatImage {
        width: nt,
        height: bins,
        values: Arc::new(img),
        scale: max,
    }
}

/// The common colour scale of error covariances: the 98th percentile of `|C|` over all of them
/// (at least 1e-12). The error blows up as t → 0 (σ → 0), so the largest values saturate.
pub fn covariance_scale<'a>(covs: impl IntoIterator<Item = &'a [f64]>) -> f32 {
    let mags = covs.into_iter().flatten().map(|v| v.abs()).collect();
    percentile_98(mags, 1e-12) as f32
}

/// The part of an error covariance `cov` (`[T, T]` at the descending `times`) at times
/// `t ≥ t_min`, as a covariance or, with `correlation`, as the correlation `C_kl / √(C_kk C_ll)`
/// (0 where a variance is 0). Returns the matrix and its times.
pub fn covariance_window(
    cov: &[f64],
    times: &[f64],
    t_min: f64,
    correlation: bool,
) -> (Vec<f64>, Vec<f64>) {
    let t = times.len();
    assert_eq!(cov.len(), t * t, "covariance shape");
    let keep: Vec<usize> = (0..t).filter(|&k| times[k] >= t_min).collect();
    let mut out = Vec::with_capacity(keep.len() * keep.len());
    for &k in &keep {
        for &l in &keep {
            let c = cov[k * t + l];
            out.push(if correlation {
                let v = (cov[k * t + k] * cov[l * t + l]).sqrt();
                if v > 0.0 { c / v } else { 0.0 }
            } else {
                c
            });
        }
    }
    (out, keep.iter().map(|&k| times[k]).collect())
}

/// The image of an error covariance `[t, t]` over descending times, flipped so that row and
/// column 0 are the lowest time, mapped to `0.5 + 0.5 C / max` for a diverging colour map.
pub fn covariance_image(cov: &[f64], t: usize, max: f32) -> HeatImage {
    let mut img = vec![0f32; t * t];
    for k in 0..t {
        for l in 0..t {
            img[(t - 1 - k) * t + (t - 1 - l)] = 0.5 + 0.5 * cov[k * t + l] as f32 / max;
        }
    }
    HeatImage {
        width: t,
        height: t,
        values: Arc::new(img),
        scale: max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::{SamplerConfig, SamplerKind};

    fn run_with_paths() -> SamplerRun {
        // Two particles in 2D at times 1, 0.5, 0: particle 0 moves (0,0)→(1,0)→(2,0).
        let paths = vec![
            0.0, 0.0, 5.0, 5.0, //
            1.0, 0.0, 5.0, 5.0, //
            2.0, 0.0, 5.0, 5.0,
        ];
        SamplerRun {
            generation: 0,
            iteration: 0,
            config: SamplerConfig::new(SamplerKind::OdeEuler),
            samples: Points::new(2, 2, vec![2.0, 0.0, 5.0, 5.0]),
            path_times: vec![1.0, 0.5, 0.0],
            paths,
            n_paths: 2,
            density: DensityEvolution::from_trajectory(
                &[0.0, 0.0],
                &[1.0],
                1,
                2,
                0,
                (-1.0, 1.0),
                4,
            ),
            histogram: None,
            error_covariance: None,
            error_correlation: None,
            seconds: 0.0,
        }
    }

    fn close(a: [f32; 2], b: [f32; 2]) -> bool {
        (a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6
    }

    #[test]
    fn marker_positions_interpolate_between_recorded_times() {
        let r = run_with_paths();
        let p = positions_at(&r, 0.75, 0);
        assert_eq!(p[0], [0.5, 0.0]);
        assert_eq!(p[1], [5.0, 5.0]);
        assert_eq!(positions_at(&r, 0.0, 0)[0], [2.0, 0.0]);
    }

    #[test]
    fn path_segments_follow_each_particle_with_times() {
        let r = run_with_paths();
        let all = path_segments(&r, None, 0);
        assert_eq!(all.len(), 4, "2 particles × 2 steps");
        let one = path_segments(&r, Some(0), 0);
        assert_eq!(one.len(), 2);
        assert_eq!((one[0].a, one[0].b), ([0.0, 0.0], [1.0, 0.0]));
        assert_eq!((one[1].value_a, one[1].value_b), (0.5, 0.0));
    }

    /// In d > 2 the paths are drawn as `(t, x_c)` for the chosen coordinate.
    #[test]
    fn paths_in_more_dimensions_follow_the_chosen_coordinate() {
        // Two particles in 3D at times 1, 0.5, 0; particle 0's third coordinate goes 3 → 2 → 1.
        let paths = vec![
            0.0, 10.0, 3.0, 0.0, 0.0, -1.0, //
            0.0, 10.0, 2.0, 0.0, 0.0, -1.0, //
            0.0, 10.0, 1.0, 0.0, 0.0, -1.0,
        ];
        let r = SamplerRun {
            samples: Points::new(2, 3, vec![0.0, 10.0, 1.0, 0.0, 0.0, -1.0]),
            paths,
            ..run_with_paths()
        };
        let one = path_segments(&r, Some(0), 2);
        assert_eq!((one[0].a, one[0].b), ([1.0, 3.0], [0.5, 2.0]));
        let second = path_segments(&r, Some(0), 1);
        assert_eq!(second[1].b, [0.0, 10.0]);
        assert_eq!(positions_at(&r, 0.75, 2)[0], [0.75, 2.5]);
        // Out-of-range coordinates clamp to the last one.
        assert_eq!(path_segments(&r, Some(0), 9)[0].a, [1.0, 3.0]);
    }

    #[test]
    fn histogram_1d_integrates_to_one() {
        let p = Points::new(4, 1, vec![0.1, 0.2, 0.6, 0.9]);
        let h = histogram_1d(&p, 0, [0.0, 1.0], 2);
        assert_eq!(h, vec![[0.25, 1.0], [0.75, 1.0]]);
    }

    #[test]
    fn histogram_image_is_square_and_scaled_to_its_peak() {
        let im = histogram_image(&[0.0, 1.0, 3.0, 2.0]);
        assert_eq!((im.width, im.height, im.scale), (2, 2, 3.0));
        assert_eq!(
            *im.values,
            vec![0.0, 1.0, 3.0, 2.0],
            "row 0 stays at the bottom"
        );
    }

    #[test]
    fn arrow_points_along_minus_v_with_a_thirty_degree_head() {
        // v = (−2, 0) scaled by 0.5: the shaft goes from (1, 1) one unit to the right.
        let mut out = Vec::new();
        push_arrow(&mut out, [1.0, 1.0], [-2.0, 0.0], 0.5);
        assert_eq!(out.len(), 3, "shaft and two head strokes");
        assert_eq!((out[0].a, out[0].b), ([1.0, 1.0], [2.0, 1.0]));
        // Head strokes of length 0.35 · |(0.87, 0.5)| back from the tip, mirrored about the
        // shaft: (2 − 0.35·0.87, 1 ∓ 0.35·0.5).
        assert_eq!(out[1].a, [2.0, 1.0]);
        assert!(
            close(out[1].b, [2.0 - 0.3045, 1.0 + 0.175]),
            "{:?}",
            out[1].b
        );
        assert!(
            close(out[2].b, [2.0 - 0.3045, 1.0 - 0.175]),
            "{:?}",
            out[2].b
        );
        // A zero vector: a shaft of no length and no head.
        let mut still = Vec::new();
        push_arrow(&mut still, [0.0, 0.0], [0.0, 0.0], 1.0);
        assert_eq!(still.len(), 1);
        assert_eq!(still[0].a, still[0].b);
    }

    #[test]
    fn field_arrows_sit_on_every_second_cell_and_the_fastest_is_1_7_cells_long() {
        // A 4 × 4 grid over [0, 4]² (cells of 1) with v = (0, −1) everywhere but (3, 0) at the
        // origin cell: arrows at the centres (0.5, 0.5), (2.5, 0.5), (0.5, 2.5), (2.5, 2.5).
        let (nx, ny) = (4, 4);
        let mut slice = vec![0.0f32; nx * ny * 2];
        for v in slice.chunks_exact_mut(2) {
            v[1] = -1.0;
        }
        slice[0] = 3.0;
        slice[1] = 0.0;
        let arrows = field_arrows(&slice, nx, ny, [0.0, 4.0], [0.0, 4.0], 3.0);
        assert_eq!(arrows.len(), 4 * 3);
        let shafts: Vec<&Segment> = arrows.iter().step_by(3).collect();
        let starts: Vec<[f32; 2]> = shafts.iter().map(|s| s.a).collect();
        assert_eq!(starts, vec![[0.5, 0.5], [2.5, 0.5], [0.5, 2.5], [2.5, 2.5]]);
        // The fastest (|v| = max = 3) points along −v = (−3, 0) and is 1.7 cells long.
        assert!(close(shafts[0].b, [0.5 - 1.7, 0.5]), "{:?}", shafts[0].b);
        // |v| = 1 along −v = (0, 1): a third of that.
        assert!(
            close(shafts[1].b, [2.5, 0.5 + 1.7 / 3.0]),
            "{:?}",
            shafts[1].b
        );
    }

    #[test]
    fn speed_image_holds_the_magnitudes() {
        let im = speed_image(&[3.0, 4.0, 0.0, 0.0], 2, 1);
        assert_eq!((im.width, im.height, im.scale), (2, 1, 5.0));
        assert_eq!(*im.values, vec![5.0, 0.0]);
    }

    #[test]
    fn velocity_map_puts_t_across_and_x_up_scaled_to_the_98th_percentile() {
        // nt = 2 times, nx = 3 points: v(t_k, x_i) = k·10 + i (so |v| ≤ 12).
        let values = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0];
        let im = velocity_map_image(&values, 2, 3);
        assert_eq!((im.width, im.height), (2, 3));
        // Of 6 values the 98th percentile is index 6·98/100 = 5 of the sorted |v|, the largest.
        assert_eq!(im.scale, 12.0);
        let v = |k: f32, i: f32| 0.5 + 0.5 * (k * 10.0 + i) / 12.0;
        // Row i (x), column k (t).
        let want = vec![
            v(0., 0.),
            v(1., 0.),
            v(0., 1.),
            v(1., 1.),
            v(0., 2.),
            v(1., 2.),
        ];
        assert_eq!(*im.values, want);
    }

    #[test]
    fn density_image_has_its_peak_where_the_mass_is() {
        // Times 1, 0.5, 0 (descending) and 4 bins; all the mass at t = 1 in bin 2.
        let mut density = vec![0.0f32; 3 * 4];
        density[2] = 2.0;
        let de = DensityEvolution {
            times: vec![1.0, 0.5, 0.0],
            x_min: -1.0,
            x_max: 1.0,
            bins: 4,
            coord: 0,
            density,
        };
        let im = density_image(&de);
        assert_eq!((im.width, im.height, im.scale), (3, 4, 2.0));
        let peak = im.values.iter().position(|&v| v == 2.0).expect("peak");
        // t = 1 is the last column (ascending t), bin 2 the third row from the bottom.
        assert_eq!((peak % 3, peak / 3), (2, 2));
        assert_eq!(im.values.iter().filter(|&&v| v != 0.0).count(), 1);
    }

    #[test]
    fn covariance_window_cuts_times_and_normalises() {
        // Times 1, 0.5, 0.01; variances 4, 1, 9; Cov(1, 0.5) = 1, Cov(·, 0.01) = 3.
        let times = [1.0, 0.5, 0.01];
        let cov = [4.0, 1.0, 3.0, 1.0, 1.0, 3.0, 3.0, 3.0, 9.0];
        let (c, t) = covariance_window(&cov, &times, 0.05, false);
        assert_eq!((c, t.clone()), (vec![4.0, 1.0, 1.0, 1.0], vec![1.0, 0.5]));
        // Correlation 1 / √(4 · 1) = 0.5 off the diagonal, 1 on it.
        let (r, _) = covariance_window(&cov, &times, 0.0, true);
        // Rows: (1, ½, 3/6), (½, 1, 3/3), (3/6, 3/3, 1).
        let want = [1.0, 0.5, 0.5, 0.5, 1.0, 1.0, 0.5, 1.0, 1.0];
        assert!(
            r.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{r:?}"
        );
        // No variance: correlation 0.
        let (z, _) = covariance_window(&[0.0, 0.0, 0.0, 1.0], &[1.0, 0.5], 0.0, true);
        assert_eq!(z, vec![0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn covariance_image_of_a_diagonal_covariance_is_diagonal_and_flipped() {
        // Var e(t) = 1, 2, 3, 4 at times descending from 1: the largest at the lowest time.
        let t = 4;
        let mut cov = vec![0.0f64; t * t];
        for k in 0..t {
            cov[k * t + k] = (k + 1) as f64;
        }
        // 16 values: the 98th percentile is index 15, the largest.
        let max = covariance_scale([cov.as_slice()]);
        assert_eq!(max, 4.0);
        let im = covariance_image(&cov, t, max);
        assert_eq!((im.width, im.height, im.scale), (4, 4, 4.0));
        for r in 0..t {
            for c in 0..t {
                let want = if r == c {
                    // Row 0 is the lowest time: variance 4 there, 1 at the top.
                    0.5 + 0.5 * (t - r) as f32 / 4.0
                } else {
                    0.5
                };
                assert_eq!(im.values[r * t + c], want, "cell ({r}, {c})");
            }
        }
    }

    #[test]
    fn covariance_scale_saturates_the_largest_two_percent() {
        // 100 values 1..=100: the 98th percentile is index 98, the value 99.
        let a: Vec<f64> = (1..=50).map(f64::from).collect();
        let b: Vec<f64> = (51..=100).map(|v| -f64::from(v)).collect();
        assert_eq!(covariance_scale([a.as_slice(), b.as_slice()]), 99.0);
        assert_eq!(covariance_scale(std::iter::empty::<&[f64]>()), 1e-12);
    }
}
