//! View 3 (Fig. 5): the velocity field — `|v|` with arrows in 2D, the (t, x) map otherwise —
//! or its error `v_θ − v*` when the exact score exists, next to the error covariance.

use eframe::egui;
use std::sync::Arc;

use egui::{Ui, Vec2};

use super::builders::{field_arrows, path_segments, speed_image, velocity_map_image};
use super::covariance::{CovarianceView, error_covariance_view};
use super::{
    HeatmapPanel, LayerCache, ViewData, ViewSettings, heat_layer, heatmap_panel, key, panel_size,
    run_key,
};
use crate::app::plot::Labels;
use crate::app::state::ExplorerState;
use crate::diffusion::SamplerKind;
use crate::render::segments::{SegmentColoring, SegmentLayer};
use crate::render::{Colormap, DataRect, segments};
use crate::train::analysis::VelocityField;

/// View 3: the velocity field (2D) or the (t, x) velocity map (other d), the error field when
/// the exact score exists, and the error covariance along trajectories.
pub fn velocity_view(ui: &mut Ui, state: &ExplorerState, vd: &ViewData, vs: &mut ViewSettings) {
    let Some(field) = state.field.clone() else {
        ui.label("Waiting for the first analysis pass…");
        return;
    };
    let has_error = field.error.is_some();
    ui.horizontal(|ui| {
        if field.ny > 1 {
            let last = field.times.len() - 1;
            vs.field_time = vs.field_time.min(last);
            let label = format!("t = {:.3}", field.times[vs.field_time]);
            ui.add(egui::Slider::new(&mut vs.field_time, 0..=last).text(label));
        }
        ui.add_enabled(
            has_error,
            egui::Checkbox::new(&mut vs.show_error, "error v_θ − v*"),
        )
        .on_disabled_hover_text("needs the exact score: a Gaussian-mixture dataset");
        ui.label(format!("iteration {}", field.iteration));
    });
    let show_error = vs.show_error && has_error;
    let values = if show_error {
        field.error.as_ref().expect("checked")
    } else {
        &field.velocity
    };
    if field.ny > 1 {
        velocity_field_2d(
            ui,
            vd,
            &field,
            values,
            vs.field_time,
            show_error,
            &mut vs.cache,
        );
    } else {
        let cov = &mut vs.covariance;
        velocity_map_1d(ui, state, &field, values, show_error, cov, &mut vs.cache);
    }
}

/// The key of what is derived from `field`: changes whenever the field does.
fn field_key(field: &Arc<VelocityField>, parts: impl std::hash::Hash) -> u64 {
    key((
        Arc::as_ptr(field) as usize,
        field.generation,
        field.iteration,
        parts,
    ))
}

/// 2D: `|v|` at time index `k` as a heat map, arrows of `−v` on a coarser grid.
fn velocity_field_2d(
    ui: &mut Ui,
    vd: &ViewData,
    field: &Arc<VelocityField>,
    values: &[f32],
    k: usize,
    show_error: bool,
    cache: &mut LayerCache,
) {
    let (nx, ny, c) = (field.nx, field.ny, field.components);
    let slice = &values[k * nx * ny * c..(k + 1) * nx * ny * c];
    let fkey = field_key(field, (k, show_error));
    let image = cache.get(fkey, || speed_image(slice, nx, ny));
    let max = image.scale;
    let arrows_key = key(("arrows", fkey));
    let arrows = cache.get(arrows_key, || {
        field_arrows(slice, nx, ny, field.x_range, field.y_range, max)
    });
    let bounds = vd.rect2d();
    let size = panel_size(ui, 1);
    let what = if show_error {
        "|v_θ − v*|"
    } else {
        "|v_θ|"
    };
    let title = format!("{what} at t = {:.3}", field.times[k]);
    let cmap = if show_error {
        Colormap::Magma
    } else {
        Colormap::Viridis
    };
    let extent = DataRect::new(
        [field.x_range[0] as f32, field.x_range[1] as f32],
        [field.y_range[0] as f32, field.y_range[1] as f32],
    );
    let area = heatmap_panel(
        ui,
        HeatmapPanel {
            view_id: key("field"),
            size: Vec2::new(size.y + 60.0, size.y - 30.0),
            bounds,
            labels: Labels {
                title: &title,
                x: "x₁",
                y: "x₂",
            },
            layer: heat_layer(fkey, &image, extent, cmap, [0.0, max], false),
            colorbar: Some(([0.0, max], what)),
            title_rows: 1,
        },
    );
    ui.painter().add(segments::callback(
        area.inner,
        key("field"),
        bounds,
        vec![SegmentLayer {
            key: arrows_key,
            segments: arrows,
            coloring: SegmentColoring::Solid([1.0, 1.0, 1.0, 1.0]),
            width_px: 1.3,
            alpha: 0.85,
        }],
    ));
    ui.label("Arrows: −v, the direction particles move as t decreases.");
}

/// Other d: the velocity on the (t, x) plane with the ODE paths over it, and the error
/// covariance beside it when the runs have one.
fn velocity_map_1d(
    ui: &mut Ui,
    state: &ExplorerState,
    field: &Arc<VelocityField>,
    values: &[f32],
    show_error: bool,
    cov: &mut CovarianceView,
    cache: &mut LayerCache,
) {
    let (nt, nx) = (field.times.len(), field.nx);
    let fkey = field_key(field, show_error);
    let image = cache.get(fkey, || velocity_map_image(values, nt, nx));
    let lim = image.scale;
    let t_range = [field.times[0] as f32, field.times[nt - 1] as f32];
    let bounds = DataRect::new(
        [0.0, 1.0],
        [field.x_range[0] as f32, field.x_range[1] as f32],
    );
    let what = if show_error { "v_θ − v*" } else { "v_θ" };
    let title = format!("{what} on the (t, x) plane, with ODE paths");
    let avail = ui.available_size();
    let has_cov = state.samples.iter().any(|r| r.error_covariance.is_some());
    let w = if has_cov { avail.x * 0.5 } else { avail.x };
    let y_label = if field.components == 1 && state.samples.first().is_some_and(|r| r.samples.d > 1)
    {
        "x (on the diagonal x·1, mean over coordinates)"
    } else {
        "x"
    };
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            let area = heatmap_panel(
                ui,
                HeatmapPanel {
                    view_id: key("vmap"),
                    size: Vec2::new(w - 10.0, avail.y - 70.0),
                    bounds,
                    labels: Labels {
                        title: &title,
                        x: "t",
                        y: y_label,
                    },
                    layer: heat_layer(
                        fkey,
                        &image,
                        DataRect::new(t_range, bounds.y),
                        Colormap::Diverging,
                        [0.0, 1.0],
                        false,
                    ),
                    colorbar: Some(([-lim, lim], what)),
                    title_rows: 1,
                },
            );
            if let Some(ode) = state
                .run_of(SamplerKind::OdeEuler)
                .or(state.samples.first())
            {
                let paths_key = run_key(ode, "paths-1d");
                ui.painter().add(segments::callback(
                    area.inner,
                    key("vmap"),
                    bounds,
                    vec![SegmentLayer {
                        key: paths_key,
                        segments: cache.get(paths_key, || path_segments(ode, None, 0)),
                        coloring: SegmentColoring::Solid([0.1, 0.1, 0.1, 1.0]),
                        width_px: 0.8,
                        alpha: 0.5,
                    }],
                ));
            }
        });
        if has_cov {
            ui.vertical(|ui| {
                error_covariance_view(ui, state, w - 20.0, avail.y - 70.0, cov, cache)
            });
        }
    });
}
