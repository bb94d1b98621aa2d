//! The central views (SPEC §7, paper figures): samples, trajectories, velocity field, density
//! evolution, TID curves and the see-saw. Data layers are drawn by the render layer's WGSL
//! pipelines; egui draws axes, labels and controls; egui_plot draws the small line charts.

use eframe::egui;
use std::any::Any;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use egui::{Color32, Pos2, Rgba, Stroke, Ui, Vec2};
use egui_plot::{Legend, Line, Plot, PlotPoints, VLine};

use super::plot::{Labels, colorbar, plot_frame};
use super::state::ExplorerState;
use crate::data::Points;
use crate::diffusion::SamplerKind;
use crate::metrics::TidPoint;
use crate::render::heatmap::HeatmapLayer;
use crate::render::mesh::{MeshLayer, MeshVertex};
use crate::render::points::PointLayer;
use crate::render::segments::{Segment, SegmentColoring, SegmentLayer};
use crate::render::{Colormap, DataRect, heatmap, mesh, points, segments};
use crate::train::analysis::SamplerRun;

/// The central tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Tab {
    /// ODE vs SDE samples (Fig. 2).
    #[default]
    Samples,
    /// Paired trajectories.
    Trajectories,
    /// Velocity field / (t, x) map and error covariance (Fig. 5).
    Velocity,
    /// Density evolution and its ridge view (Fig. 6).
    Density,
    /// TID curves (Fig. 3b).
    Tid,
    /// Regime losses and velocity MAE over training (Fig. 7a, 8).
    SeeSaw,
    /// A U-Net's ODE and SDE image samples, TID on pixels, nearest-neighbour grids (Fig. 1, 10).
    Images,
}

impl Tab {
    /// Every tab with its label.
    pub const ALL: [(Tab, &'static str); 7] = [
        (Tab::Samples, "Samples"),
        (Tab::Trajectories, "Trajectories"),
        (Tab::Velocity, "Velocity field"),
        (Tab::Density, "Density evolution"),
        (Tab::Tid, "TID curves"),
        (Tab::SeeSaw, "See-saw"),
        (Tab::Images, "Images"),
    ];
}

/// Large layer data derived from analysis results (sample positions, path segments), kept
/// while it is drawn so that a frame does not rebuild it; entries are keyed by layer key and
/// dropped when a frame no longer uses them.
#[derive(Clone, Default)]
pub struct LayerCache {
    frame: u64,
    entries: HashMap<u64, (u64, Arc<dyn Any + Send + Sync>)>,
}

impl LayerCache {
    /// The data of layer `key`, built by `build` when not cached.
    pub fn get<T: Send + Sync + 'static>(&mut self, key: u64, build: impl FnOnce() -> T) -> Arc<T> {
        let frame = self.frame;
        if let Some((used, data)) = self.entries.get_mut(&key)
            && let Ok(data) = data.clone().downcast::<T>()
        {
            *used = frame;
            return data;
        }
        let data = Arc::new(build());
        self.entries.insert(key, (frame, data.clone()));
        data
    }

    /// Drops what this frame did not use; call once per frame after the views.
    pub fn end_frame(&mut self) {
        let frame = self.frame;
        self.entries.retain(|_, (used, _)| *used == frame);
        self.frame += 1;
    }
}

impl std::fmt::Debug for LayerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LayerCache({} entries)", self.entries.len())
    }
}

/// UI-only view settings.
#[derive(Clone, Debug)]
pub struct ViewSettings {
    /// Selected tab.
    pub tab: Tab,
    /// Draw the training set under the samples.
    pub show_training: bool,
    /// Samples as 2D density histograms instead of points.
    pub density_mode: bool,
    /// Point size in pixels.
    pub point_size: f32,
    /// Time of the trajectory marker, `t ∈ [0, 1]`.
    pub marker_t: f32,
    /// Index into the velocity field's times.
    pub field_time: usize,
    /// Show `v_θ − v*` instead of `v_θ`.
    pub show_error: bool,
    /// Ridge view camera yaw and pitch (radians).
    pub ridge_angles: [f32; 2],
    /// Particle highlighted in the trajectory view.
    pub highlighted: Option<usize>,
    /// The radius marked on the TID view.
    pub eps_marked: f64,
    /// Derived layer data of the views.
    pub cache: LayerCache,
}

impl Default for ViewSettings {
    fn default() -> Self {
        Self {
            tab: Tab::Samples,
            show_training: false,
            density_mode: false,
            point_size: 2.0,
            marker_t: 0.5,
            field_time: 0,
            show_error: false,
            ridge_angles: [0.6, 0.5],
            highlighted: None,
            eps_marked: 0.1,
            cache: LayerCache::default(),
        }
    }
}

/// Okabe–Ito colours (colour-blind safe): ODE orange, SDE sky blue (readable on dark and light
/// backgrounds), and the rest distinct.
pub fn sampler_color(kind: SamplerKind) -> Color32 {
    match kind {
        SamplerKind::OdeEuler => Color32::from_rgb(0xE6, 0x9F, 0x00),
        SamplerKind::Sde => Color32::from_rgb(0x56, 0xB4, 0xE9),
        SamplerKind::PredictorCorrector => Color32::from_rgb(0x00, 0x9E, 0x73),
        SamplerKind::Ddim => Color32::from_rgb(0xD5, 0x5E, 0x00),
        SamplerKind::DpmSolver2 => Color32::from_rgb(0xCC, 0x79, 0xA7),
        SamplerKind::OdeHeun => Color32::from_rgb(0xF0, 0xE4, 0x42),
        SamplerKind::AnnealedLangevin => Color32::from_rgb(0x00, 0x72, 0xB2),
    }
}

/// A sampler's display name.
pub fn sampler_label(kind: SamplerKind) -> &'static str {
    match kind {
        SamplerKind::OdeEuler => "ODE (Euler)",
        SamplerKind::OdeHeun => "ODE (Heun)",
        SamplerKind::Ddim => "DDIM",
        SamplerKind::DpmSolver2 => "DPM-Solver-2",
        SamplerKind::Sde => "SDE (Euler–Maruyama)",
        SamplerKind::PredictorCorrector => "Predictor–corrector",
        SamplerKind::AnnealedLangevin => "Annealed Langevin",
    }
}

fn rgba(c: Color32, alpha: f32) -> [f32; 4] {
    let r = Rgba::from(c);
    [r.r(), r.g(), r.b(), alpha]
}

/// A stable cache key for a layer built from `parts`.
fn key(parts: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn run_key(run: &Arc<SamplerRun>, what: &str) -> u64 {
    key((
        Arc::as_ptr(run) as usize,
        run.generation,
        run.iteration,
        run.samples.n,
        run.config.steps,
        what,
    ))
}

/// Data shared by the views: the training set (2D subset for the overlay) and its bounds.
pub struct ViewData {
    /// Per-coordinate bounds.
    pub bounds: Vec<[f64; 2]>,
    /// Up to 20,000 training points in 2D, for the overlay.
    pub overlay: Option<Arc<Vec<[f32; 2]>>>,
    /// Key of the overlay.
    pub overlay_key: u64,
    /// Histogram of coordinate 0 of the training set (for 1D views).
    pub train_hist: Vec<[f64; 2]>,
    /// The whole training set.
    pub data: Arc<Points>,
}

impl ViewData {
    /// Prepares the shared view data of a training set.
    pub fn new(data: Arc<Points>, bounds: Vec<[f64; 2]>, generation: u64) -> Self {
        let overlay = (data.d == 2).then(|| {
            let sub = data.subset(20_000, 5);
            Arc::new(sub.data.chunks_exact(2).map(|r| [r[0], r[1]]).collect())
        });
        let train_hist = histogram_1d(&data, 0, bounds[0], 120);
        Self {
            bounds,
            overlay,
            overlay_key: key(("overlay", generation, data.n)),
            train_hist,
            data,
        }
    }

    fn rect2d(&self) -> DataRect {
        DataRect::new(
            [self.bounds[0][0] as f32, self.bounds[0][1] as f32],
            [self.bounds[1][0] as f32, self.bounds[1][1] as f32],
        )
    }
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

/// Side length of square panels that fit `count` across `avail`.
fn panel_size(ui: &Ui, count: usize) -> Vec2 {
    let avail = ui.available_size();
    let count = count.max(1) as f32;
    let w = ((avail.x - 8.0 * (count - 1.0)) / count).max(120.0);
    let side = w.min(avail.y - 40.0).max(120.0);
    Vec2::new(w.min(side + 60.0), side)
}

fn title_of(run: &SamplerRun, state: &ExplorerState, eps: f64) -> String {
    let tid = state.tid.as_ref().and_then(|t| {
        t.curves
            .iter()
            .find(|(k, _)| *k == run.config.kind)
            .and_then(|(_, c)| {
                c.iter()
                    .min_by(|a, b| (a.eps - eps).abs().total_cmp(&(b.eps - eps).abs()))
            })
            .map(|p| format!("  ·  TID(ε={:.2}) = {:+.3}", p.eps, p.tid))
    });
    format!(
        "{}, {} steps  ·  iteration {}{}",
        sampler_label(run.config.kind),
        run.config.steps,
        run.iteration,
        tid.unwrap_or_default()
    )
}

/// View 1: samples of every sampler side by side, as points or density histograms.
pub fn samples_view(ui: &mut Ui, state: &ExplorerState, vd: &ViewData, vs: &mut ViewSettings) {
    ui.horizontal(|ui| {
        ui.checkbox(&mut vs.show_training, "training data overlay");
        ui.checkbox(&mut vs.density_mode, "density histogram");
        ui.add(egui::Slider::new(&mut vs.point_size, 1.0..=6.0).text("point size"));
    });
    if state.samples.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
    let d = vd.data.d;
    if d != 2 {
        samples_1d(ui, state, vd);
        return;
    }
    let size = panel_size(ui, state.samples.len());
    let bounds = vd.rect2d();
    ui.horizontal(|ui| {
        for (i, run) in state.samples.iter().enumerate() {
            let title = title_of(run, state, vs.eps_marked);
            let (_, area) = plot_frame(
                ui,
                size,
                bounds,
                Labels {
                    title: &title,
                    x: "x₁",
                    y: "x₂",
                },
            );
            let view_id = key(("samples", i));
            if vs.density_mode {
                if let Some(h) = &run.histogram {
                    let bins = (h.len() as f64).sqrt() as u32;
                    let max = h.iter().copied().fold(0f32, f32::max);
                    ui.painter().add(heatmap::callback(
                        area.inner,
                        view_id,
                        bounds,
                        vec![HeatmapLayer {
                            key: run_key(run, "hist"),
                            width: bins,
                            height: bins,
                            values: Arc::new(h.clone()),
                            extent: bounds,
                            range: [0.0, (1.0 + max).ln()],
                            colormap: Colormap::Magma,
                            log_scale: true,
                            alpha: 1.0,
                        }],
                    ));
                }
            } else {
                let mut layers = Vec::with_capacity(2);
                if vs.show_training
                    && let Some(o) = &vd.overlay
                {
                    layers.push(PointLayer {
                        key: vd.overlay_key,
                        positions: o.clone(),
                        color: [0.6, 0.6, 0.6, 0.25],
                        size_px: vs.point_size,
                    });
                }
                let points_key = run_key(run, "points");
                layers.push(PointLayer {
                    key: points_key,
                    positions: vs.cache.get(points_key, || {
                        run.samples
                            .data
                            .chunks_exact(2)
                            .map(|r| [r[0], r[1]])
                            .collect()
                    }),
                    color: rgba(sampler_color(run.config.kind), 0.55),
                    size_px: vs.point_size,
                });
                ui.painter()
                    .add(points::callback(area.inner, view_id, bounds, layers));
            }
        }
    });
    if vs.density_mode {
        colorbar(
            ui,
            Colormap::Magma,
            [0.0, 1.0],
            "log(1 + density), normalised per panel",
        );
    }
}

fn samples_1d(ui: &mut Ui, state: &ExplorerState, vd: &ViewData) {
    ui.label(format!(
        "Coordinate 1 of {}-dimensional samples: histograms against the training set.",
        vd.data.d
    ));
    Plot::new("samples_1d")
        .legend(Legend::default())
        .x_axis_label("x₁")
        .y_axis_label("density")
        .show(ui, |p| {
            p.line(
                Line::new("training set", PlotPoints::from(vd.train_hist.clone()))
                    .color(Color32::GRAY)
                    .width(2.0),
            );
            for run in &state.samples {
                let h = histogram_1d(&run.samples, 0, vd.bounds[0], 120);
                p.line(
                    Line::new(sampler_label(run.config.kind), PlotPoints::from(h))
                        .color(sampler_color(run.config.kind))
                        .width(1.5),
                );
            }
        });
}

/// Path segments of a run, coloured by time: in 2D `(x₁, x₂)`, otherwise `(t, x₁)`.
fn path_segments(run: &SamplerRun, only: Option<usize>) -> Vec<Segment> {
    let (m, d) = (run.n_paths, run.samples.d);
    let t_count = run.path_times.len();
    let at = |k: usize, j: usize| -> [f32; 2] {
        let base = (k * m + j) * d;
        if d == 2 {
            [run.paths[base], run.paths[base + 1]]
        } else {
            [run.path_times[k] as f32, run.paths[base]]
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

/// Positions of the kept particles at time `t` (linear interpolation between recorded times).
fn positions_at(run: &SamplerRun, t: f64) -> Vec<[f32; 2]> {
    let (m, d) = (run.n_paths, run.samples.d);
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
                [t as f32, lerp(0)]
            }
        })
        .collect()
}

/// View 2: ODE and SDE paths from the same starts, coloured by time, with a time marker;
/// hovering a particle highlights it in both panels.
pub fn trajectories_view(ui: &mut Ui, state: &ExplorerState, vd: &ViewData, vs: &mut ViewSettings) {
    ui.horizontal(|ui| {
        ui.add(egui::Slider::new(&mut vs.marker_t, 0.0..=1.0).text("time t"));
        ui.label("Hover a particle to highlight its pair.");
    });
    let runs: Vec<&Arc<SamplerRun>> = state.samples.iter().take(2).collect();
    if runs.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
    let d = vd.data.d;
    let bounds = if d == 2 {
        vd.rect2d()
    } else {
        let b = runs[0].density.x_min as f32;
        let e = runs[0].density.x_max as f32;
        DataRect::new([0.0, 1.0], [b, e])
    };
    let size = panel_size(ui, runs.len());
    let mut hovered = None;
    ui.horizontal(|ui| {
        for (i, run) in runs.iter().enumerate() {
            let title = format!(
                "{}: {} paths  ·  iteration {}",
                sampler_label(run.config.kind),
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
                    y: if d == 2 { "x₂" } else { "x₁" },
                },
            );
            let marks = positions_at(run, vs.marker_t as f64);
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
            let paths_key = run_key(run, "paths");
            let mut layers = vec![SegmentLayer {
                key: paths_key,
                segments: vs.cache.get(paths_key, || path_segments(run, None)),
                coloring: SegmentColoring::Map {
                    colormap: Colormap::Viridis,
                    range: [0.0, 1.0],
                },
                width_px: 1.2,
                alpha: 0.55,
            }];
            if let Some(j) = vs.highlighted {
                layers.push(SegmentLayer {
                    key: key((run_key(run, "hl"), j)),
                    segments: Arc::new(path_segments(run, Some(j))),
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
                    key: key((run_key(run, "marks"), vs.marker_t.to_bits())),
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
    let (nx, ny, c) = (field.nx, field.ny, field.components);
    if ny > 1 {
        // 2D: |v| as a heatmap, arrows on a coarser grid.
        let k = vs.field_time;
        let slice = &values[k * nx * ny * c..(k + 1) * nx * ny * c];
        let mags: Vec<f32> = slice.chunks_exact(2).map(|v| v[0].hypot(v[1])).collect();
        let max = mags.iter().copied().fold(1e-6f32, f32::max);
        let bounds = vd.rect2d();
        let size = panel_size(ui, 1);
        let what = if show_error {
            "|v_θ − v*|"
        } else {
            "|v_θ|"
        };
        let title = format!("{what} at t = {:.3}", field.times[k]);
        let (_, area) = plot_frame(
            ui,
            Vec2::new(size.y + 60.0, size.y - 30.0),
            bounds,
            Labels {
                title: &title,
                x: "x₁",
                y: "x₂",
            },
        );
        let cmap = if show_error {
            Colormap::Magma
        } else {
            Colormap::Viridis
        };
        let fkey = key((Arc::as_ptr(&field) as usize, field.iteration, k, show_error));
        ui.painter().add(heatmap::callback(
            area.inner,
            key("field"),
            bounds,
            vec![HeatmapLayer {
                key: fkey,
                width: nx as u32,
                height: ny as u32,
                values: Arc::new(mags),
                extent: DataRect::new(
                    [field.x_range[0] as f32, field.x_range[1] as f32],
                    [field.y_range[0] as f32, field.y_range[1] as f32],
                ),
                range: [0.0, max],
                colormap: cmap,
                log_scale: false,
                alpha: 1.0,
            }],
        ));
        let cell = ((field.x_range[1] - field.x_range[0]) / nx as f64) as f32;
        let mut arrows = Vec::new();
        for j in (0..ny).step_by(2) {
            for i in (0..nx).step_by(2) {
                let v = &slice[(j * nx + i) * 2..(j * nx + i) * 2 + 2];
                let p = [
                    field.x_range[0] as f32 + (i as f32 + 0.5) * cell,
                    field.y_range[0] as f32
                        + (j as f32 + 0.5)
                            * ((field.y_range[1] - field.y_range[0]) / ny as f64) as f32,
                ];
                // Arrows show −v: the direction particles move as t decreases (sampling).
                let s = 1.7 * cell / max;
                let tip = [p[0] - v[0] * s, p[1] - v[1] * s];
                let (dx, dy) = (tip[0] - p[0], tip[1] - p[1]);
                let len = dx.hypot(dy);
                arrows.push(Segment {
                    a: p,
                    b: tip,
                    value_a: 0.0,
                    value_b: 0.0,
                });
                if len > 1e-6 {
                    let (ux, uy) = (dx / len, dy / len);
                    let h = 0.35 * len;
                    for sgn in [-1.0f32, 1.0] {
                        arrows.push(Segment {
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
        }
        ui.painter().add(segments::callback(
            area.inner,
            key("field"),
            bounds,
            vec![SegmentLayer {
                key: key(("arrows", fkey)),
                segments: Arc::new(arrows),
                coloring: SegmentColoring::Solid([1.0, 1.0, 1.0, 1.0]),
                width_px: 1.3,
                alpha: 0.85,
            }],
        ));
        colorbar(ui, cmap, [0.0, max], what);
        ui.label("Arrows: −v, the direction particles move as t decreases.");
    } else {
        velocity_map_1d(ui, state, &field, values, show_error, &mut vs.cache);
    }
}

fn velocity_map_1d(
    ui: &mut Ui,
    state: &ExplorerState,
    field: &Arc<crate::train::analysis::VelocityField>,
    values: &[f32],
    show_error: bool,
    cache: &mut LayerCache,
) {
    // Transpose [T, nx] into rows of x (bottom = lowest x), columns of t (ascending).
    let (nt, nx) = (field.times.len(), field.nx);
    let mut img = vec![0f32; nt * nx];
    for (k, row) in values.chunks_exact(nx).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            img[i * nt + k] = v;
        }
    }
    let mut sorted: Vec<f32> = img.iter().map(|v| v.abs()).collect();
    sorted.sort_by(f32::total_cmp);
    let lim = sorted[(sorted.len() * 98 / 100).min(sorted.len() - 1)].max(1e-6);
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
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            let (_, area) = plot_frame(
                ui,
                Vec2::new(w - 10.0, avail.y - 70.0),
                bounds,
                Labels {
                    title: &title,
                    x: "t",
                    y: if field.components == 1
                        && state.samples.first().is_some_and(|r| r.samples.d > 1)
                    {
                        "x (on the diagonal x·1, mean over coordinates)"
                    } else {
                        "x"
                    },
                },
            );
            let fkey = key((Arc::as_ptr(field) as usize, field.iteration, show_error));
            ui.painter().add(heatmap::callback(
                area.inner,
                key("vmap"),
                bounds,
                vec![HeatmapLayer {
                    key: fkey,
                    width: nt as u32,
                    height: nx as u32,
                    values: Arc::new(img.iter().map(|v| 0.5 + 0.5 * v / lim).collect()),
                    extent: DataRect::new(t_range, bounds.y),
                    range: [0.0, 1.0],
                    colormap: Colormap::Diverging,
                    log_scale: false,
                    alpha: 1.0,
                }],
            ));
            if let Some(ode) = state
                .run_of(SamplerKind::OdeEuler)
                .or(state.samples.first())
            {
                ui.painter().add(segments::callback(
                    area.inner,
                    key("vmap"),
                    bounds,
                    vec![SegmentLayer {
                        key: run_key(ode, "paths-1d"),
                        segments: cache.get(run_key(ode, "paths-1d"), || path_segments(ode, None)),
                        coloring: SegmentColoring::Solid([0.1, 0.1, 0.1, 1.0]),
                        width_px: 0.8,
                        alpha: 0.5,
                    }],
                ));
            }
            colorbar(ui, Colormap::Diverging, [-lim, lim], what);
        });
        if has_cov {
            ui.vertical(|ui| error_covariance_view(ui, state, w - 20.0, avail.y - 70.0));
        }
    });
}

fn error_covariance_view(ui: &mut Ui, state: &ExplorerState, w: f32, h: f32) {
    let runs: Vec<&Arc<SamplerRun>> = state
        .samples
        .iter()
        .filter(|r| r.error_covariance.is_some())
        .take(2)
        .collect();
    // The error blows up as t → 0 (σ → 0): scale to the 98th percentile of |C| so the rest of
    // the map stays readable (larger values saturate).
    let mut mags: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.error_covariance.as_ref().expect("filtered").iter())
        .map(|v| v.abs())
        .collect();
    mags.sort_by(f64::total_cmp);
    let max = mags
        .get(mags.len() * 98 / 100)
        .copied()
        .unwrap_or(0.0)
        .max(1e-12) as f32;
    let side = (w / runs.len() as f32 - 8.0).min(h - 40.0);
    ui.horizontal(|ui| {
        for (i, run) in runs.iter().enumerate() {
            let cov = run.error_covariance.as_ref().expect("filtered");
            let t = run.path_times.len();
            // Rows are times descending (t = 1 first); flip so that row 0 is the lowest t.
            let mut img = vec![0f32; t * t];
            for k in 0..t {
                for l in 0..t {
                    img[(t - 1 - k) * t + (t - 1 - l)] = 0.5 + 0.5 * cov[k * t + l] as f32 / max;
                }
            }
            let t_lo = run.path_times[t - 1] as f32;
            let t_hi = run.path_times[0] as f32;
            let bounds = DataRect::new([t_lo, t_hi], [t_lo, t_hi]);
            let title = format!("error covariance, {}", sampler_label(run.config.kind));
            let (_, area) = plot_frame(
                ui,
                Vec2::new(side, side),
                bounds,
                Labels {
                    title: &title,
                    x: "t",
                    y: "t'",
                },
            );
            ui.painter().add(heatmap::callback(
                area.inner,
                key(("cov", i)),
                bounds,
                vec![HeatmapLayer {
                    key: run_key(run, "cov"),
                    width: t as u32,
                    height: t as u32,
                    values: Arc::new(img),
                    extent: bounds,
                    range: [0.0, 1.0],
                    colormap: Colormap::Diverging,
                    log_scale: false,
                    alpha: 1.0,
                }],
            ));
        }
    });
    colorbar(
        ui,
        Colormap::Diverging,
        [-max, max],
        "Cov(e(t), e(t')), saturates at the 98th percentile",
    );
}

/// View 4: the (t × x) density image of one coordinate for each sampler, and a 3D ridge view.
pub fn density_view(ui: &mut Ui, state: &ExplorerState, vs: &mut ViewSettings) {
    let runs: Vec<&Arc<SamplerRun>> = state.samples.iter().take(2).collect();
    if runs.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
    let avail = ui.available_size();
    let w = avail.x / runs.len() as f32 - 8.0;
    let h = (avail.y - 60.0) * 0.45;
    ui.horizontal(|ui| {
        for (i, run) in runs.iter().enumerate() {
            let de = &run.density;
            let (nt, bins) = (de.times.len(), de.bins);
            // Columns ascending in t (the recorded times descend), rows ascending in x.
            let mut img = vec![0f32; nt * bins];
            for (k, row) in de.density.chunks_exact(bins).enumerate() {
                for (b, &v) in row.iter().enumerate() {
                    img[b * nt + (nt - 1 - k)] = v;
                }
            }
            let max = img.iter().copied().fold(1e-6f32, f32::max);
            let t_lo = *de.times.last().unwrap_or(&0.0) as f32;
            let t_hi = *de.times.first().unwrap_or(&1.0) as f32;
            let bounds = DataRect::new([t_lo, t_hi], [de.x_min as f32, de.x_max as f32]);
            let title = format!(
                "density of x₁ over time, {}",
                sampler_label(run.config.kind)
            );
            let (_, area) = plot_frame(
                ui,
                Vec2::new(w, h),
                bounds,
                Labels {
                    title: &title,
                    x: "t",
                    y: "x₁",
                },
            );
            ui.painter().add(heatmap::callback(
                area.inner,
                key(("density", i)),
                bounds,
                vec![HeatmapLayer {
                    key: run_key(run, "density"),
                    width: nt as u32,
                    height: bins as u32,
                    values: Arc::new(img),
                    extent: bounds,
                    range: [0.0, (1.0 + max).ln()],
                    colormap: Colormap::Magma,
                    log_scale: true,
                    alpha: 1.0,
                }],
            ));
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
            let (verts, idx, outline) = ridge_mesh(run, vs.ridge_angles);
            let bounds = DataRect::new([-1.1, 1.1], [-1.1, 1.1]);
            let mkey = key((
                run_key(run, "ridge"),
                vs.ridge_angles[0].to_bits(),
                vs.ridge_angles[1].to_bits(),
            ));
            ui.painter().add(mesh::callback(
                rect,
                key(("ridge", i)),
                bounds,
                vec![MeshLayer {
                    key: mkey,
                    vertices: Arc::new(verts),
                    indices: Arc::new(idx),
                }],
            ));
            ui.painter().add(segments::callback(
                rect,
                key(("ridge", i)),
                bounds,
                vec![SegmentLayer {
                    key: key(("outline", mkey)),
                    segments: Arc::new(outline),
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
                sampler_label(run.config.kind),
                egui::FontId::proportional(12.0),
                ui.visuals().text_color(),
            );
        }
    });
}

/// Ridges of the density evolution projected by an orbit camera: filled polygons (drawn back
/// to front so nearer ridges hide farther ones) and their outlines coloured by time.
fn ridge_mesh(
    run: &SamplerRun,
    [yaw, pitch]: [f32; 2],
) -> (Vec<MeshVertex>, Vec<u32>, Vec<Segment>) {
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
    (verts, idx, outline)
}

/// View 5: TID(ε) of every sampler against the training set.
pub fn tid_view(ui: &mut Ui, state: &ExplorerState, vs: &mut ViewSettings) {
    let Some(tid) = state.tid.clone() else {
        ui.label("Waiting for the first TID computation…");
        return;
    };
    ui.horizontal(|ui| {
        ui.label(format!(
            "TID(ε) = H_k(generated) − H_k(training), iteration {}. Positive: the samples are \
             concentrated (collapsed). Hollow markers: degenerate ε (too many points with no neighbour).",
            tid.iteration
        ));
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::Slider::new(&mut vs.eps_marked, 0.01..=1.0)
                .logarithmic(true)
                .text("ε of interest"),
        );
    });
    let h = ui.available_height() - 120.0;
    let curves: Vec<(SamplerKind, &[TidPoint])> =
        tid.curves.iter().map(|(k, c)| (*k, c.as_slice())).collect();
    tid_plot(ui, "tid", "ε", h.max(150.0), vs.eps_marked, &curves);
    tid_table(ui, "tid_table", vs.eps_marked, &curves);
}

/// TID(ε) curves of several samplers (filled markers; hollow where the estimate is degenerate),
/// the zero line and a marked ε.
pub fn tid_plot(
    ui: &mut Ui,
    id: &str,
    x_label: &str,
    height: f32,
    eps_marked: f64,
    curves: &[(SamplerKind, &[TidPoint])],
) {
    Plot::new(id)
        .legend(Legend::default())
        .height(height)
        .x_axis_label(x_label)
        .y_axis_label("TID")
        .show(ui, |p| {
            p.hline(egui_plot::HLine::new("", 0.0).color(Color32::GRAY));
            p.vline(VLine::new("ε of interest", eps_marked).color(Color32::LIGHT_GRAY));
            for (kind, curve) in curves {
                let (name, color) = (sampler_label(*kind), sampler_color(*kind));
                let pts: Vec<[f64; 2]> = curve.iter().map(|c| [c.eps, c.tid]).collect();
                p.line(
                    Line::new(name, PlotPoints::from(pts))
                        .color(color)
                        .width(2.0),
                );
                for degenerate in [false, true] {
                    let pts: Vec<[f64; 2]> = curve
                        .iter()
                        .filter(|c| c.unreliable == degenerate)
                        .map(|c| [c.eps, c.tid])
                        .collect();
                    p.points(
                        egui_plot::Points::new(name, PlotPoints::from(pts))
                            .color(color)
                            .radius(3.5)
                            .filled(!degenerate),
                    );
                }
            }
        });
}

/// One row per sampler: its TID point nearest `eps_marked`, both Hill estimates and the
/// fractions of points without a neighbour.
pub fn tid_table(ui: &mut Ui, id: &str, eps_marked: f64, curves: &[(SamplerKind, &[TidPoint])]) {
    egui::Grid::new(id).striped(true).show(ui, |ui| {
        ui.strong("sampler");
        ui.strong("ε");
        ui.strong("TID");
        ui.strong("H_k gen");
        ui.strong("H_k train");
        ui.strong("no-neighbour gen / train");
        ui.end_row();
        for (kind, curve) in curves {
            if let Some(c) = curve.iter().min_by(|a, b| {
                (a.eps - eps_marked)
                    .abs()
                    .total_cmp(&(b.eps - eps_marked).abs())
            }) {
                ui.colored_label(sampler_color(*kind), sampler_label(*kind));
                ui.label(format!("{:.3}", c.eps));
                ui.label(format!(
                    "{:+.3}{}",
                    c.tid,
                    if c.unreliable { " (degenerate)" } else { "" }
                ));
                ui.label(format!("{:.3}", c.hill_generated));
                ui.label(format!("{:.3}", c.hill_train));
                ui.label(format!(
                    "{:.0}% / {:.0}%",
                    100.0 * c.zero_fraction_generated,
                    100.0 * c.zero_fraction_train
                ));
                ui.end_row();
            }
        }
    });
}

/// View 6: regime losses and velocity MAE (high and low noise) over training iterations.
pub fn seesaw_view(ui: &mut Ui, state: &ExplorerState) {
    if state.metrics.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
    let has_mae = state.metrics.iter().any(|m| m.mae_low.is_some());
    let h = if has_mae {
        ui.available_height() * 0.5 - 20.0
    } else {
        ui.available_height() - 30.0
    };
    let series =
        |f: &dyn Fn(&crate::train::analysis::RegimeMetrics) -> Option<f64>| -> Vec<[f64; 2]> {
            state
                .metrics
                .iter()
                .filter_map(|m| f(m).map(|v| [m.iteration as f64, v]))
                .collect()
        };
    let low = Color32::from_rgb(0x00, 0x9E, 0x73);
    let high = Color32::from_rgb(0xD5, 0x5E, 0x00);
    ui.label("DSM loss per noise band (low: t ∈ [t_min, 0.1], high: t ∈ [0.9, 1]), fixed draws.");
    Plot::new("seesaw_loss")
        .legend(Legend::default())
        .height(h)
        .x_axis_label("iteration")
        .y_axis_label("loss")
        .show(ui, |p| {
            p.line(
                Line::new(
                    "low-noise loss",
                    PlotPoints::from(series(&|m| Some(m.loss_low))),
                )
                .color(low)
                .width(2.0),
            );
            p.line(
                Line::new(
                    "high-noise loss",
                    PlotPoints::from(series(&|m| Some(m.loss_high))),
                )
                .color(high)
                .width(2.0),
            );
        });
    if has_mae {
        ui.label("Velocity MAE against the exact velocity, per band.");
        Plot::new("seesaw_mae")
            .legend(Legend::default())
            .height(h)
            .x_axis_label("iteration")
            .y_axis_label("MAE")
            .show(ui, |p| {
                p.line(
                    Line::new("low-noise MAE", PlotPoints::from(series(&|m| m.mae_low)))
                        .color(low)
                        .width(2.0),
                );
                p.line(
                    Line::new("high-noise MAE", PlotPoints::from(series(&|m| m.mae_high)))
                        .color(high)
                        .width(2.0),
                );
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::SamplerConfig;
    use crate::metrics::density::DensityEvolution;

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
            seconds: 0.0,
        }
    }

    #[test]
    fn marker_positions_interpolate_between_recorded_times() {
        let r = run_with_paths();
        let p = positions_at(&r, 0.75);
        assert_eq!(p[0], [0.5, 0.0]);
        assert_eq!(p[1], [5.0, 5.0]);
        assert_eq!(positions_at(&r, 0.0)[0], [2.0, 0.0]);
    }

    #[test]
    fn path_segments_follow_each_particle_with_times() {
        let r = run_with_paths();
        let all = path_segments(&r, None);
        assert_eq!(all.len(), 4, "2 particles × 2 steps");
        let one = path_segments(&r, Some(0));
        assert_eq!(one.len(), 2);
        assert_eq!((one[0].a, one[0].b), ([0.0, 0.0], [1.0, 0.0]));
        assert_eq!((one[1].value_a, one[1].value_b), (0.5, 0.0));
    }

    #[test]
    fn layer_cache_builds_once_and_forgets_unused_entries() {
        let mut c = LayerCache::default();
        let mut builds = 0;
        for _ in 0..3 {
            let v = c.get(7, || {
                builds += 1;
                vec![1u32, 2]
            });
            assert_eq!(*v, vec![1, 2]);
            c.end_frame();
        }
        assert_eq!(builds, 1, "reused while drawn");
        c.end_frame(); // a frame that did not use key 7
        c.get(7, || {
            builds += 1;
            vec![3u32]
        });
        assert_eq!(builds, 2, "rebuilt after being dropped");
    }

    #[test]
    fn histogram_1d_integrates_to_one() {
        let p = Points::new(4, 1, vec![0.1, 0.2, 0.6, 0.9]);
        let h = histogram_1d(&p, 0, [0.0, 1.0], 2);
        assert_eq!(h, vec![[0.25, 1.0], [0.75, 1.0]]);
    }
}
