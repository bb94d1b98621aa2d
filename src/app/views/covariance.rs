//! The error covariance `Cov(e(t), e(t'))` along trajectories (Fig. 5, right), one panel per
//! sampler on a common colour scale, or its correlation; under each panel the sampler's error
//! correlation, the number that sums the panel up (issue #14).

use std::sync::Arc;

use eframe::egui;
use egui::{Ui, Vec2};

use super::builders::{HeatImage, covariance_image, covariance_scale, covariance_window};
use super::{HeatmapPanel, LayerCache, heat_layer, heatmap_panel, key, run_key, run_label};
use crate::app::plot::{Labels, colorbar, title_rows};
use crate::app::state::ExplorerState;
use crate::metrics::{CORRELATION_PARTICLES, CORRELATION_T_MIN};
use crate::render::{Colormap, DataRect};
use crate::train::analysis::SamplerRun;

/// What the covariance panels show: the covariance or the correlation, from which time on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CovarianceView {
    /// `C_kl / √(C_kk C_ll)` instead of `C_kl`: structure at every scale, whatever the t → 0
    /// blow-up of the error.
    pub correlation: bool,
    /// Times below this are left out (as t → 0 the error's variance dwarfs the rest).
    pub t_min: f64,
}

impl Default for CovarianceView {
    fn default() -> Self {
        Self {
            correlation: false,
            t_min: CORRELATION_T_MIN,
        }
    }
}

/// The covariance images of up to two runs with an error covariance, side by side in `w × h`,
/// and one colour bar for both.
pub(super) fn error_covariance_view(
    ui: &mut Ui,
    state: &ExplorerState,
    w: f32,
    h: f32,
    view: &mut CovarianceView,
    cache: &mut LayerCache,
) {
    ui.horizontal(|ui| {
        ui.checkbox(&mut view.correlation, "correlation")
            .on_hover_text("C(t, t') / √(C(t, t) C(t', t')) instead of C(t, t')");
        ui.add(
            egui::Slider::new(&mut view.t_min, 0.0..=0.5)
                .text("t ≥")
                .fixed_decimals(2),
        );
    });
    let runs: Vec<&Arc<SamplerRun>> = state
        .samples
        .iter()
        .filter(|r| r.error_covariance.is_some())
        .take(2)
        .collect();
    let cov_key = key((
        runs.iter().map(|r| run_key(r, "cov")).collect::<Vec<_>>(),
        view.correlation,
        view.t_min.to_bits(),
    ));
    let images = cache.get(cov_key, || covariance_images(&runs, *view));
    let max = images.first().map_or(1e-12, |(im, _)| im.scale);
    // The panel's axis labels and margins take ~60 px beside the square.
    let side = (w / runs.len().max(1) as f32 - 60.0)
        .min(h - 110.0)
        .max(60.0);
    let what = if view.correlation {
        "correlation"
    } else {
        "covariance"
    };
    // "error covariance  ·  SDE (Euler–Maruyama)": a narrow panel breaks it at the dot, and
    // both panels' plots start below the longer title's lines.
    let titles: Vec<String> = runs
        .iter()
        .map(|run| format!("error {what}  ·  {}", run_label(&run.config)))
        .collect();
    let rows = titles
        .iter()
        .map(|t| title_rows(ui, t, side))
        .max()
        .unwrap_or(1);
    ui.horizontal(|ui| {
        for (i, ((run, (image, times)), title)) in
            runs.iter().zip(images.iter()).zip(&titles).enumerate()
        {
            let Some((&t_hi, &t_lo)) = times.first().zip(times.last()) else {
                ui.label(format!("{}: no recorded time at t ≥ {:.2}", run_label(&run.config), view.t_min));
                continue;
            };
            let (t_lo, t_hi) = (t_lo as f32, t_hi as f32);
            let bounds = DataRect::new([t_lo, t_hi], [t_lo, t_hi]);
            ui.vertical(|ui| {
            ui.set_max_width(side + 50.0);
            heatmap_panel(
                ui,
                HeatmapPanel {
                    view_id: key(("cov", i)),
                    size: Vec2::new(side, side),
                    bounds,
                    labels: Labels {
                        title,
                        x: "t",
                        y: "t'",
                    },
                    layer: heat_layer(
                        key((cov_key, i)),
                        image,
                        bounds,
                        Colormap::Diverging,
                        [0.0, 1.0],
                        false,
                    ),
                    colorbar: None,
                    title_rows: rows,
                },
            );
            match run.error_correlation {
                Some(r) => {
                    ui.strong(format!("error correlation {r:.2}"));
                    ui.small(format!(
                        "mean Corr over pairs t ≠ t' of the grid, t ≥ {CORRELATION_T_MIN}, first {} particles",
                        CORRELATION_PARTICLES.min(run.samples.n)
                    ));
                }
                None => {
                    ui.label("error correlation: undefined");
                }
            }
            });
        }
    });
    if view.correlation {
        colorbar(ui, Colormap::Diverging, [-1.0, 1.0], "Corr(e(t), e(t'))");
    } else {
        colorbar(
            ui,
            Colormap::Diverging,
            [-max, max],
            "Cov(e(t), e(t')), saturates at the 98th percentile",
        );
    }
}

/// The images of the runs' error covariances (or correlations) at `t ≥ view.t_min`, with
/// their times. Covariances are all scaled by the 98th percentile of `|C|` over every run so
/// that the panels compare; correlations span [−1, 1].
fn covariance_images(
    runs: &[&Arc<SamplerRun>],
    view: CovarianceView,
) -> Vec<(HeatImage, Vec<f64>)> {
    let windows: Vec<(Vec<f64>, Vec<f64>)> = runs
        .iter()
        .filter_map(|r| {
            let cov = r.error_covariance.as_deref()?;
            Some(covariance_window(
                cov,
                &r.path_times,
                view.t_min,
                view.correlation,
            ))
        })
        .collect();
    let max = if view.correlation {
        1.0
    } else {
        covariance_scale(windows.iter().map(|(c, _)| c.as_slice()))
    };
    windows
        .into_iter()
        .map(|(c, times)| (covariance_image(&c, times.len(), max), times))
        .collect()
}
