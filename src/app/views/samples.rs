//! View 1 (Fig. 2): the samples of every sampler side by side, as points or density
//! histograms; for data of more than 2 dimensions, two chosen coordinates; in 1D, histograms.

use eframe::egui;

use egui::{Color32, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::builders::{histogram_1d, histogram_image};
use super::{
    LayerCache, ViewData, ViewSettings, coordinate_picker, heat_layer, key, panel_size, rgba,
    run_key, run_label, sampler_color,
};
use crate::app::plot::{Labels, colorbar, plot_frame_in_row, title_rows, y_axis};
use crate::app::state::ExplorerState;
use crate::render::DataRect;
use crate::render::points::PointLayer;
use crate::render::{Colormap, heatmap, points};
use crate::train::analysis::{SamplerFailure, SamplerRun};

/// A panel's title: the sampler, its steps, the iteration and its TID at the ε of interest.
/// The TID comes at the end of an analysis pass, after the samples: while a pass is under way
/// the samples can be newer than the last TID, and the title then says which iteration its
/// TID is from; another run's TID is left out.
fn title_of(run: &SamplerRun, state: &ExplorerState, eps: f64) -> String {
    let tid = state.tid.as_ref().and_then(|t| {
        // Another run's TID (the model was reset or retrained) says nothing about these samples.
        if t.generation != run.generation {
            return None;
        }
        let stale = t.iteration != run.iteration;
        t.curves
            .iter()
            .find(|(k, _)| *k == run.config.kind)
            .and_then(|(_, c)| {
                c.iter()
                    .min_by(|a, b| (a.eps - eps).abs().total_cmp(&(b.eps - eps).abs()))
            })
            .map(|p| {
                let from = if stale {
                    format!(" (iteration {})", t.iteration)
                } else {
                    String::new()
                };
                format!(
                    "  ·  TID(ε={:.2}) = {:+.3} ± {:.3}{from}",
                    p.eps, p.mean, p.std
                )
            })
    });
    format!(
        "{}, {} steps  ·  iteration {}{}",
        run_label(&run.config),
        run.config.steps,
        run.iteration,
        tid.unwrap_or_default()
    )
}

/// View 1: samples of every sampler side by side, as points or density histograms.
pub fn samples_view(ui: &mut Ui, state: &ExplorerState, vd: &ViewData, vs: &mut ViewSettings) {
    let d = vd.data.d;
    ui.horizontal(|ui| {
        ui.checkbox(&mut vs.show_training, "training data overlay");
        // The analysis bins 2D samples only.
        ui.add_enabled(
            d == 2,
            egui::Checkbox::new(&mut vs.density_mode, "density histogram"),
        );
        ui.add(egui::Slider::new(&mut vs.point_size, 1.0..=6.0).text("point size"));
        if d > 2 {
            ui.separator();
            ui.label(format!("{d} dimensions: plot x"));
            coordinate_picker(ui, &mut vs.coords[0], d);
            ui.label("against x");
            coordinate_picker(ui, &mut vs.coords[1], d);
        }
    });
    if state.samples.is_empty() && state.failures.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
    if d == 1 {
        samples_1d(ui, state, vd, &mut vs.cache);
        return;
    }
    let coords = if d == 2 {
        [0, 1]
    } else {
        vs.coords.map(|c| c.min(d - 1))
    };
    let [ci, cj] = coords;
    let names = [format!("x{}", ci + 1), format!("x{}", cj + 1)];
    let density = vs.density_mode && d == 2;
    let size = panel_size(ui, state.samples.len() + state.failures.len());
    let bounds = vd.rect_of(coords);
    // The training overlay in the chosen coordinates (built once per choice).
    let overlay = if d == 2 {
        vd.overlay.clone()
    } else {
        let data = vd.data.clone();
        Some(vs.cache.get(key((vd.overlay_key, ci, cj)), move || {
            let sub = data.subset(20_000, 5);
            sub.data
                .chunks_exact(d)
                .map(|r| [r[ci], r[cj]])
                .collect::<Vec<[f32; 2]>>()
        }))
    };
    // The panels' plots line up below the longest title's lines.
    let titles: Vec<String> = state
        .samples
        .iter()
        .map(|run| title_of(run, state, vs.eps_marked))
        .collect();
    let failed: Vec<String> = state.failures.iter().map(|f| failure_title(f)).collect();
    let rows = titles
        .iter()
        .chain(&failed)
        .map(|t| title_rows(ui, t, size.x))
        .max()
        .unwrap_or(1);
    ui.horizontal(|ui| {
        for (i, (run, title)) in state.samples.iter().zip(&titles).enumerate() {
            let (_, area) = plot_frame_in_row(
                ui,
                size,
                bounds,
                Labels {
                    title,
                    x: if d == 2 { "x₁" } else { &names[0] },
                    y: if d == 2 { "x₂" } else { &names[1] },
                },
                rows,
            );
            let view_id = key(("samples", i));
            if density {
                if let Some(h) = &run.histogram {
                    let hist_key = run_key(run, "hist");
                    let image = vs.cache.get(hist_key, || histogram_image(h));
                    ui.painter().add(heatmap::callback(
                        area.inner,
                        view_id,
                        bounds,
                        vec![heat_layer(
                            hist_key,
                            &image,
                            bounds,
                            Colormap::Magma,
                            [0.0, (1.0 + image.scale).ln()],
                            true,
                        )],
                    ));
                }
            } else {
                let mut layers = Vec::with_capacity(2);
                if vs.show_training
                    && let Some(o) = &overlay
                {
                    layers.push(PointLayer {
                        key: key((vd.overlay_key, ci, cj)),
                        positions: o.clone(),
                        color: [0.6, 0.6, 0.6, 0.25],
                        size_px: vs.point_size,
                    });
                }
                let points_key = key((run_key(run, "points"), ci, cj));
                layers.push(PointLayer {
                    key: points_key,
                    positions: vs.cache.get(points_key, || {
                        run.samples
                            .data
                            .chunks_exact(d)
                            .map(|r| [r[ci], r[cj]])
                            .collect()
                    }),
                    color: rgba(sampler_color(run.config.kind), 0.55),
                    size_px: vs.point_size,
                });
                ui.painter()
                    .add(points::callback(area.inner, view_id, bounds, layers));
            }
        }
        for failure in &state.failures {
            failure_panel(ui, failure, size, bounds, rows);
        }
    });
    if density {
        colorbar(
            ui,
            Colormap::Magma,
            [0.0, 1.0],
            "log(1 + density), normalised per panel",
        );
    }
}

/// A failed sampler's panel title.
fn failure_title(failure: &SamplerFailure) -> String {
    format!(
        "{}, {} steps  ·  iteration {}  ·  failed",
        run_label(&failure.config),
        failure.config.steps,
        failure.iteration
    )
}

/// The panel of a sampler whose run failed: its title, and in place of samples what went
/// wrong and what to change (the other samplers' panels and training go on).
pub(super) fn failure_panel(
    ui: &mut Ui,
    failure: &SamplerFailure,
    size: egui::Vec2,
    bounds: DataRect,
    title_rows: usize,
) {
    let (_, area) = plot_frame_in_row(
        ui,
        size,
        bounds,
        Labels {
            title: &failure_title(failure),
            x: "",
            y: "",
        },
        title_rows,
    );
    let text = egui::RichText::new(&failure.message).color(Color32::from_rgb(0xD5, 0x5E, 0x00));
    ui.put(area.inner.shrink(12.0), egui::Label::new(text).wrap());
}

/// Samples of other dimensions than 2: histograms of coordinate 1 against the training set.
fn samples_1d(ui: &mut Ui, state: &ExplorerState, vd: &ViewData, cache: &mut LayerCache) {
    ui.label(format!(
        "Coordinate 1 of {}-dimensional samples: histograms against the training set.",
        vd.data.d
    ));
    for f in &state.failures {
        ui.colored_label(
            Color32::from_rgb(0xD5, 0x5E, 0x00),
            format!("{} failed: {}", run_label(&f.config), f.message),
        );
    }
    let range = vd.bounds[0];
    Plot::new("samples_1d")
        .legend(Legend::default().follow_insertion_order(true))
        .x_axis_label("x₁")
        .custom_y_axes(y_axis("density"))
        .show(ui, |p| {
            p.line(
                Line::new("training set", PlotPoints::from(vd.train_hist.clone()))
                    .color(Color32::GRAY)
                    .width(2.0),
            );
            for run in &state.samples {
                let hkey = key((run_key(run, "hist-1d"), range.map(f64::to_bits)));
                let h = cache.get(hkey, || histogram_1d(&run.samples, 0, range, 120));
                p.line(
                    Line::new(run_label(&run.config), PlotPoints::from((*h).clone()))
                        .color(sampler_color(run.config.kind))
                        .width(1.5),
                );
            }
        });
}
