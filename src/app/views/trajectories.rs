//! View 2: ODE and SDE paths from the same starts, coloured by time, with a time marker.

use eframe::egui;
use std::sync::Arc;

use egui::{Color32, Pos2, Stroke, Ui};

use super::builders::{path_segments, positions_at};
use super::{
    ViewData, ViewSettings, coordinate_picker, key, panel_size, run_key, run_label, subscript,
};
use crate::app::plot::{Labels, colorbar, plot_frame};
use crate::app::state::ExplorerState;
use crate::render::points::PointLayer;
use crate::render::segments::{SegmentColoring, SegmentLayer};
use crate::render::{Colormap, DataRect, points, segments};
use crate::train::analysis::SamplerRun;
use crate::train::analysis::path_view_range;

/// View 2: ODE and SDE paths from the same starts, coloured by time, with a time marker;
/// hovering a particle highlights it in both panels.
pub fn trajectories_view(ui: &mut Ui, state: &ExplorerState, vd: &ViewData, vs: &mut ViewSettings) {
    let d = vd.data.d;
    ui.horizontal(|ui| {
        ui.add(egui::Slider::new(&mut vs.marker_t, 0.0..=1.0).text("time t"));
        if d > 2 {
            // The same coordinate as the Samples view's x axis.
            ui.label(format!("{d} dimensions: plot x"));
            coordinate_picker(ui, &mut vs.coords[0], d);
            ui.label("against t");
        }
        ui.label("Hover a particle to highlight its pair.");
    });
    let runs: Vec<&Arc<SamplerRun>> = state.samples.iter().take(2).collect();
    if runs.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
    let coord = vs.time_coord(d);
    let bounds = if d == 2 {
        vd.rect2d()
    } else {
        // The density view's range of that coordinate: the data's, holding the N(0, I) start.
        let (lo, hi) = path_view_range(vd.bounds[coord]);
        DataRect::new([0.0, 1.0], [lo as f32, hi as f32])
    };
    let y_label = format!("x{}", subscript(coord + 1));
    let size = panel_size(ui, runs.len());
    let mut hovered = None;
    ui.horizontal(|ui| {
        for (i, run) in runs.iter().enumerate() {
            let title = format!(
                "{}: {} paths  ·  iteration {}",
                run_label(&run.config),
                run.n_paths,
                run.iteration
            );
            let (resp, area) = plot_frame(
                ui,
                size,
                bounds,
                Labels {
                    title: &title,
                    x: if d == 2 { "x₁" } else { "t" },
                    y: if d == 2 { "x₂" } else { &y_label },
                },
            );
            let marks = positions_at(run, vs.marker_t as f64, coord);
            if let Some(mouse) = resp.hover_pos() {
                let nearest = marks
                    .iter()
                    .enumerate()
                    .map(|(j, p)| (j, area.to_screen(*p).distance(mouse)))
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((j, dist)) = nearest
                    && dist < 12.0
                {
                    hovered = Some(j);
                }
            }
            let view_id = key(("traj", i));
            let paths_key = key((run_key(run, "paths"), coord));
            let mut layers = vec![SegmentLayer {
                key: paths_key,
                segments: vs.cache.get(paths_key, || path_segments(run, None, coord)),
                coloring: SegmentColoring::Map {
                    colormap: Colormap::Viridis,
                    range: [0.0, 1.0],
                },
                width_px: 1.2,
                alpha: 0.55,
            }];
            if let Some(j) = vs.highlighted {
                let hl_key = key((run_key(run, "hl"), j, coord));
                layers.push(SegmentLayer {
                    key: hl_key,
                    segments: vs.cache.get(hl_key, || path_segments(run, Some(j), coord)),
                    coloring: SegmentColoring::Solid([1.0, 0.2, 0.4, 1.0]),
                    width_px: 3.0,
                    alpha: 1.0,
                });
            }
            ui.painter()
                .add(segments::callback(area.inner, view_id, bounds, layers));
            ui.painter().add(points::callback(
                area.inner,
                view_id,
                bounds,
                vec![PointLayer {
                    key: key((run_key(run, "marks"), vs.marker_t.to_bits(), coord)),
                    positions: Arc::new(marks),
                    color: [1.0, 1.0, 1.0, 0.9],
                    size_px: 4.0,
                }],
            ));
            if d != 2 {
                let x = area.to_screen([vs.marker_t, bounds.y[0]]).x;
                ui.painter().line_segment(
                    [
                        Pos2::new(x, area.inner.top()),
                        Pos2::new(x, area.inner.bottom()),
                    ],
                    Stroke::new(1.0, Color32::WHITE),
                );
            }
        }
    });
    vs.highlighted = hovered;
    colorbar(ui, Colormap::Viridis, [0.0, 1.0], "diffusion time t");
}
