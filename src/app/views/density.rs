//! View 4 (Fig. 6): the (t × x) density image of one coordinate for each sampler, and the same
//! densities as ridges seen by an orbit camera.

use eframe::egui;
use std::sync::Arc;

use egui::{Ui, Vec2};

use super::builders::density_image;
use super::{
    HeatmapPanel, ViewSettings, coordinate_picker, heat_layer, heatmap_panel, key, run_key,
    run_label, subscript,
};
use crate::app::plot::Labels;
use crate::app::state::ExplorerState;
use crate::render::mesh::{MeshLayer, MeshVertex};
use crate::render::segments::{Segment, SegmentColoring, SegmentLayer};
use crate::render::{Colormap, DataRect, mesh, segments};
use crate::train::analysis::SamplerRun;

/// View 4: the (t × x) density image of one coordinate for each sampler, and a 3D ridge view.
pub fn density_view(ui: &mut Ui, state: &ExplorerState, vs: &mut ViewSettings) {
    let runs: Vec<&Arc<SamplerRun>> = state.samples.iter().take(2).collect();
    if runs.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
    let d = runs[0].samples.d;
    if d > 2 {
        // The analysis histograms this coordinate (the Samples view's x): a change redraws.
        ui.horizontal(|ui| {
            ui.label(format!("{d} dimensions: density of x"));
            coordinate_picker(ui, &mut vs.coords[0], d);
            if runs[0].density.coord != vs.time_coord(d) {
                ui.label("(redrawing…)");
            }
        });
    }
    let avail = ui.available_size();
    let w = avail.x / runs.len() as f32 - 8.0;
    let h = (avail.y - 60.0) * 0.45;
    ui.horizontal(|ui| {
        for (i, run) in runs.iter().enumerate() {
            let de = &run.density;
            let image_key = run_key(run, "density");
            let image = vs.cache.get(image_key, || density_image(de));
            let t_lo = *de.times.last().unwrap_or(&0.0) as f32;
            let t_hi = *de.times.first().unwrap_or(&1.0) as f32;
            let bounds = DataRect::new([t_lo, t_hi], [de.x_min as f32, de.x_max as f32]);
            let x_name = format!("x{}", subscript(de.coord + 1));
            let title = format!("density of {x_name} over time, {}", run_label(&run.config));
            heatmap_panel(
                ui,
                HeatmapPanel {
                    view_id: key(("density", i)),
                    size: Vec2::new(w, h),
                    bounds,
                    labels: Labels {
                        title: &title,
                        x: "t",
                        y: &x_name,
                    },
                    layer: heat_layer(
                        image_key,
                        &image,
                        bounds,
                        Colormap::Magma,
                        [0.0, (1.0 + image.scale).ln()],
                        true,
                    ),
                    colorbar: None,
                    title_rows: 1,
                },
            );
        }
    });
    ui.label("Ridge view (drag to orbit): one ridge per time, t = 1 at the back.");
    ui.horizontal(|ui| {
        for (i, run) in runs.iter().enumerate() {
            let (rect, resp) =
                ui.allocate_exact_size(Vec2::new(w, avail.y - h - 90.0), egui::Sense::drag());
            if resp.dragged() {
                let d = resp.drag_delta();
                vs.ridge_angles[0] += d.x * 0.01;
                vs.ridge_angles[1] = (vs.ridge_angles[1] + d.y * 0.01).clamp(0.05, 1.4);
            }
            ui.painter()
                .rect_filled(rect, 0.0, ui.visuals().extreme_bg_color);
            let bounds = DataRect::new([-1.1, 1.1], [-1.1, 1.1]);
            let mkey = key((
                run_key(run, "ridge"),
                vs.ridge_angles[0].to_bits(),
                vs.ridge_angles[1].to_bits(),
            ));
            let angles = vs.ridge_angles;
            let ridges = vs.cache.get(mkey, || ridge_mesh(run, angles));
            ui.painter().add(mesh::callback(
                rect,
                key(("ridge", i)),
                bounds,
                vec![MeshLayer {
                    key: mkey,
                    vertices: ridges.vertices.clone(),
                    indices: ridges.indices.clone(),
                }],
            ));
            ui.painter().add(segments::callback(
                rect,
                key(("ridge", i)),
                bounds,
                vec![SegmentLayer {
                    key: key(("outline", mkey)),
                    segments: ridges.outline.clone(),
                    coloring: SegmentColoring::Map {
                        colormap: Colormap::Viridis,
                        range: [0.0, 1.0],
                    },
                    width_px: 1.2,
                    alpha: 1.0,
                }],
            ));
            ui.painter().text(
                rect.left_top() + Vec2::new(6.0, 4.0),
                egui::Align2::LEFT_TOP,
                run_label(&run.config),
                egui::FontId::proportional(12.0),
                ui.visuals().text_color(),
            );
        }
    });
}

/// The ridge view's geometry: filled ridge polygons and their outlines.
struct RidgeMesh {
    /// Two vertices per bin and ridge: the top (density) and the foot (zero).
    vertices: Arc<Vec<MeshVertex>>,
    /// Two triangles per bin step, ridges back to front.
    indices: Arc<Vec<u32>>,
    /// The top edge of every ridge, valued by its time.
    outline: Arc<Vec<Segment>>,
}

/// Ridges of the density evolution projected by an orbit camera: filled polygons (drawn back
/// to front so nearer ridges hide farther ones) and their outlines coloured by time.
fn ridge_mesh(run: &SamplerRun, [yaw, pitch]: [f32; 2]) -> RidgeMesh {
    let de = &run.density;
    let (nt, bins) = (de.times.len(), de.bins);
    let ridges = 40.min(nt);
    let max = de.density.iter().copied().fold(1e-6f32, f32::max);
    let (cy, sy, cp, sp) = (yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin());
    // World: u = x across [-1, 1], w = t depth across [-1, 1], height = density in [0, 0.8].
    let project = |u: f32, w: f32, hgt: f32| -> ([f32; 2], f32) {
        let (x1, z1) = (u * cy - w * sy, u * sy + w * cy);
        let (y2, z2) = (hgt * cp - z1 * sp, hgt * sp + z1 * cp);
        ([x1 * 0.8, y2 * 0.8], z2)
    };
    let mut slices: Vec<(f32, usize)> = (0..ridges)
        .map(|r| {
            let k = r * (nt - 1) / (ridges - 1).max(1);
            let w = 1.0 - 2.0 * de.times[k] as f32;
            (project(0.0, w, 0.0).1, k)
        })
        .collect();
    // Farthest first (largest depth = farthest from the viewer in this convention).
    slices.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut verts, mut idx, mut outline) = (Vec::new(), Vec::new(), Vec::new());
    for (_, k) in slices {
        let t = de.times[k] as f32;
        let w = 1.0 - 2.0 * t;
        let col = Colormap::Viridis.eval(t);
        let row = &de.density[k * bins..(k + 1) * bins];
        let base = verts.len() as u32;
        for (b, &v) in row.iter().enumerate() {
            let u = -1.0 + 2.0 * (b as f32 + 0.5) / bins as f32;
            let hgt = 0.8 * v / max;
            let (top, _) = project(u, w, hgt);
            let (bot, _) = project(u, w, 0.0);
            verts.push(MeshVertex {
                pos: top,
                color: [col[0] * 0.35, col[1] * 0.35, col[2] * 0.35, 1.0],
            });
            verts.push(MeshVertex {
                pos: bot,
                color: [0.05, 0.05, 0.07, 1.0],
            });
            if b > 0 {
                let i = base + 2 * b as u32;
                idx.extend_from_slice(&[i - 2, i - 1, i, i - 1, i + 1, i]);
                outline.push(Segment {
                    a: verts[(i - 2) as usize].pos,
                    b: top,
                    value_a: t,
                    value_b: t,
                });
            }
        }
    }
    RidgeMesh {
        vertices: Arc::new(verts),
        indices: Arc::new(idx),
        outline: Arc::new(outline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Points;
    use crate::diffusion::{SamplerConfig, SamplerKind};
    use crate::metrics::density::DensityEvolution;

    #[test]
    fn ridge_mesh_has_one_filled_strip_and_outline_per_time() {
        // Three times, four bins: three ridges of 4 · 2 vertices, 3 steps · 2 triangles each.
        let density = vec![
            0.0, 1.0, 1.0, 0.0, //
            0.0, 2.0, 0.0, 0.0, //
            4.0, 0.0, 0.0, 0.0,
        ];
        let run = SamplerRun {
            generation: 0,
            iteration: 0,
            config: SamplerConfig::new(SamplerKind::OdeEuler),
            samples: Points::new(1, 1, vec![0.0]),
            path_times: vec![1.0, 0.0],
            paths: vec![0.0, 0.0],
            n_paths: 1,
            density: DensityEvolution {
                times: vec![1.0, 0.5, 0.0],
                x_min: -1.0,
                x_max: 1.0,
                bins: 4,
                coord: 0,
                density,
            },
            histogram: None,
            error_covariance: None,
            error_correlation: None,
            seconds: 0.0,
        };
        // Yaw 0, pitch 0: the camera looks straight along the t axis, so a vertex lands at
        // (0.8 u, 0.8 · height) with height = 0.8 · density / max.
        let m = ridge_mesh(&run, [0.0, 0.0]);
        assert_eq!(m.vertices.len(), 3 * 4 * 2);
        assert_eq!(m.indices.len(), 3 * 3 * 6);
        assert_eq!(m.outline.len(), 3 * 3);
        // Ridges are drawn by decreasing depth; at yaw and pitch 0 the depth is w = 1 − 2t, so
        // t = 0 comes first and t = 1 last.
        assert_eq!(m.outline[0].value_a, 0.0);
        assert_eq!(m.outline[m.outline.len() - 1].value_a, 1.0);
        // The peak of t = 0 (density 4 = max, bin 0 at u = −0.75) is the first top vertex.
        let top = m.vertices[0].pos;
        assert!((top[0] - 0.8 * -0.75).abs() < 1e-6 && (top[1] - 0.8 * 0.8).abs() < 1e-6);
        assert!(
            m.vertices.iter().all(|v| v.pos[1] >= -1e-6),
            "no vertex below the floor"
        );
    }
}
