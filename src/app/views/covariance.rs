//! The error covariance `Cov(e(t), e(t'))` along trajectories (Fig. 5, right), one panel per
//! sampler on a common colour scale.

use std::sync::Arc;

use eframe::egui;
use egui::{Ui, Vec2};

use super::builders::{HeatImage, covariance_image, covariance_scale};
use super::{HeatmapPanel, LayerCache, heat_layer, heatmap_panel, key, run_key, sampler_label};
use crate::app::plot::{Labels, colorbar};
use crate::app::state::ExplorerState;
use crate::render::{Colormap, DataRect};
use crate::train::analysis::SamplerRun;

/// The covariance images of up to two runs with an error covariance, side by side in `w × h`,
/// and one colour bar for both.
pub(super) fn error_covariance_view(
    ui: &mut Ui,
    state: &ExplorerState,
    w: f32,
    h: f32,
    cache: &mut LayerCache,
) {
    let runs: Vec<&Arc<SamplerRun>> = state
        .samples
        .iter()
        .filter(|r| r.error_covariance.is_some())
        .take(2)
        .collect();
    let cov_key = key(runs.iter().map(|r| run_key(r, "cov")).collect::<Vec<_>>());
    let images = cache.get(cov_key, || covariance_images(&runs));
    let max = images.first().map_or(1e-12, |im| im.scale);
    let side = (w / runs.len() as f32 - 8.0).min(h - 40.0);
    ui.horizontal(|ui| {
        for (i, (run, image)) in runs.iter().zip(images.iter()).enumerate() {
            let t_lo = run.path_times[run.path_times.len() - 1] as f32;
            let t_hi = run.path_times[0] as f32;
            let bounds = DataRect::new([t_lo, t_hi], [t_lo, t_hi]);
            let title = format!("error covariance, {}", sampler_label(run.config.kind));
            heatmap_panel(
                ui,
                HeatmapPanel {
                    view_id: key(("cov", i)),
                    size: Vec2::new(side, side),
                    bounds,
                    labels: Labels {
                        title: &title,
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
                },
            );
        }
    });
    colorbar(
        ui,
        Colormap::Diverging,
        [-max, max],
        "Cov(e(t), e(t')), saturates at the 98th percentile",
    );
}

/// The images of the runs' error covariances, all scaled by the 98th percentile of `|C|` over
/// every run so that the panels compare.
fn covariance_images(runs: &[&Arc<SamplerRun>]) -> Vec<HeatImage> {
    let covs: Vec<&[f64]> = runs
        .iter()
        .filter_map(|r| r.error_covariance.as_deref())
        .collect();
    let max = covariance_scale(covs.iter().copied());
    runs.iter()
        .zip(&covs)
        .map(|(run, cov)| covariance_image(cov, run.path_times.len(), max))
        .collect()
}
