//! The central views (SPEC §7, paper figures): samples, trajectories, velocity field, density
//! evolution, TID curves and the see-saw. Data layers are drawn by the render layer's WGSL
//! pipelines; egui draws axes, labels and controls; egui_plot draws the small line charts.
//!
//! One file per view; `builders` holds the pure geometry and image builders they share, and
//! every large derived layer goes through the [`LayerCache`], keyed on the run it came from.

mod builders;
mod covariance;
mod density;
mod draw;
mod samples;
mod seesaw;
mod tid;
mod trajectories;
mod velocity;

use eframe::egui;
use std::any::Any;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use egui::{Color32, Rgba, Ui, Vec2};

use super::plot::{Labels, PlotArea, colorbar, plot_frame_in_row};
use crate::data::Points;
use crate::diffusion::{SamplerConfig, SamplerKind};
use crate::render::heatmap::HeatmapLayer;
use crate::render::{Colormap, DataRect, heatmap};
use crate::train::analysis::SamplerRun;

pub use builders::histogram_1d;
pub use density::density_view;
pub use draw::{DrawAction, draw_view};
pub use samples::samples_view;
pub use seesaw::seesaw_view;
pub use tid::{TidMarks, terms_toggle, tid_plot, tid_table, tid_view};
pub use trajectories::trajectories_view;
pub use velocity::velocity_view;

use builders::HeatImage;

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
    /// Paint your own 2D distribution and train on it.
    Draw,
    /// A U-Net's ODE and SDE image samples, TID on pixels, nearest-neighbour grids (Fig. 1, 10).
    Images,
}

impl Tab {
    /// The paper figure the view reproduces and, in one line, what to look for in it (shown
    /// above the view, for a class or a first-time user).
    pub fn guide(self) -> (&'static str, &'static str) {
        match self {
            Tab::Samples => (
                "Fig. 2, 11",
                "the ODE's samples pile into sharp clumps and streaks that the SDE's, drawn from \
                 the same noise, do not; TID > 0 measures it",
            ),
            Tab::Trajectories => (
                "Fig. 5a",
                "paths from the same starting noise: the ODE's converge into narrow bundles, the \
                 SDE's jitter and stay spread",
            ),
            Tab::Velocity => (
                "Fig. 5",
                "errors of v_θ that stay in place across t, the ODE paths riding them into \
                 clumps, and errors correlated along the ODE's paths but not the SDE's",
            ),
            Tab::Density => (
                "Fig. 6",
                "sharp peaks forming early in the ODE's sampling and carried along t as ridges; \
                 the SDE's density stays smooth",
            ),
            Tab::Tid => (
                "Fig. 3b",
                "radii ε where the ODE's TID sits above 0 and above the SDE's; hollow markers are \
                 degenerate radii, not results",
            ),
            Tab::SeeSaw => (
                "Fig. 7a, 8",
                "as the model grows, the low-noise error keeps falling while the high-noise error \
                 stalls or rises: the see-saw behind the collapse",
            ),
            Tab::Draw => (
                "your data",
                "paint a distribution (drag; right-drag erases), then train on it and see in \
                 Samples where the ODE clumps your shape and the SDE does not",
            ),
            Tab::Images => (
                "Fig. 1, 10",
                "ODE samples with near-duplicates among themselves (densest first), while an SDE \
                 sample's neighbours look as varied as the training set's",
            ),
        }
    }

    /// Every tab with its label.
    pub const ALL: [(Tab, &'static str); 8] = [
        (Tab::Samples, "Samples"),
        (Tab::Trajectories, "Trajectories"),
        (Tab::Velocity, "Velocity field"),
        (Tab::Density, "Density evolution"),
        (Tab::Tid, "TID curves"),
        (Tab::SeeSaw, "See-saw"),
        (Tab::Draw, "Draw"),
        (Tab::Images, "Images"),
    ];
}

/// Large layer data derived from analysis results (sample positions, path segments, heat-map
/// images, meshes), kept while it is drawn so that a frame does not rebuild it; entries are
/// keyed by layer key and dropped when a frame no longer uses them.
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
    /// The two coordinates the Samples view plots for data of more than 2 dimensions.
    pub coords: [usize; 2],
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
    /// The TID view also draws TID's two terms.
    pub tid_terms: bool,
    /// What the error covariance panels show.
    pub covariance: covariance::CovarianceView,
    /// The see-saw's y axes on a log scale.
    pub seesaw_log: bool,
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
            coords: [0, 1],
            marker_t: 0.5,
            field_time: 0,
            show_error: false,
            ridge_angles: [0.6, 0.5],
            highlighted: None,
            eps_marked: 0.1,
            tid_terms: false,
            covariance: covariance::CovarianceView::default(),
            seesaw_log: true,
            cache: LayerCache::default(),
        }
    }
}

impl ViewSettings {
    /// Opens `e`'s view: its tab, its radius of interest (or the default: like the settings,
    /// the marked radius starts afresh) and whether the TID plot draws TID's two terms.
    pub fn show_experiment(&mut self, e: &crate::app::config::Experiment) {
        self.tab = e.tab;
        self.eps_marked = e.eps_marked.unwrap_or(Self::default().eps_marked);
        self.tid_terms = e.tid_terms;
    }

    /// The coordinate that the views of one coordinate over time (trajectories, density
    /// evolution) plot for `d`-dimensional data: the Samples view's x, clamped to the
    /// dimension; the first in 1D and 2D.
    pub fn time_coord(&self, d: usize) -> usize {
        if d > 2 { self.coords[0].min(d - 1) } else { 0 }
    }
}

/// One line above a view: the paper figure it reproduces and what to look for (a view's own,
/// [`Tab::guide`], or an experiment's).
pub fn guide_line(ui: &mut egui::Ui, (figure, look_for): (&str, &str)) {
    ui.horizontal_wrapped(|ui| {
        ui.label(egui::RichText::new(figure).strong());
        ui.label(egui::RichText::new(format!("Look for: {look_for}.")).weak());
    });
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

/// A sampler run's name for titles and legends: [`SamplerKind::label`], with η for a stochastic
/// DDIM.
pub fn run_label(config: &SamplerConfig) -> String {
    if config.kind == SamplerKind::Ddim && config.eta > 0.0 {
        format!("DDIM (η = {:.2})", config.eta)
    } else if config.kind == SamplerKind::Sde && config.noise_scale != 1.0 {
        format!("SDE (γ = {:.2})", config.noise_scale)
    } else {
        config.kind.label().to_string()
    }
}

/// A 0-based coordinate of `d`-dimensional data, shown and typed 1-based (`x₁ … x_d`).
pub fn coordinate_picker(ui: &mut Ui, coord: &mut usize, d: usize) -> egui::Response {
    ui.add(
        egui::DragValue::new(coord)
            .range(0..=d - 1)
            .custom_formatter(|v, _| format!("{}", v as usize + 1))
            .custom_parser(|s| s.parse::<f64>().ok().map(|v| v - 1.0)),
    )
}

/// `n` in subscript digits (`12` → `₁₂`), for axis labels such as `x₁₂`.
pub fn subscript(n: usize) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect()
}

/// A colour as straight RGBA in 0..1 with opacity `alpha`.
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

/// The key of layer `what` of a sampler run: changes whenever the run does.
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

    /// The data rectangle of the first two coordinates.
    fn rect2d(&self) -> DataRect {
        self.rect_of([0, 1])
    }

    /// The data rectangle of coordinates `i` (across) and `j` (up).
    fn rect_of(&self, [i, j]: [usize; 2]) -> DataRect {
        DataRect::new(
            [self.bounds[i][0] as f32, self.bounds[i][1] as f32],
            [self.bounds[j][0] as f32, self.bounds[j][1] as f32],
        )
    }
}

/// Side length of square panels that fit `count` across `avail`.
fn panel_size(ui: &Ui, count: usize) -> Vec2 {
    let avail = ui.available_size();
    let count = count.max(1) as f32;
    let w = ((avail.x - 8.0 * (count - 1.0)) / count).max(120.0);
    let side = w.min(avail.y - 40.0).max(120.0);
    Vec2::new(w.min(side + 60.0), side)
}

/// An opaque heat-map layer showing `image` over `extent`, `range` mapped onto `colormap`
/// (after `ln(1 + v)` when `log_scale`); `key` identifies the image's contents.
fn heat_layer(
    key: u64,
    image: &HeatImage,
    extent: DataRect,
    colormap: Colormap,
    range: [f32; 2],
    log_scale: bool,
) -> HeatmapLayer {
    HeatmapLayer {
        key,
        width: image.width as u32,
        height: image.height as u32,
        values: image.values.clone(),
        extent,
        range,
        colormap,
        log_scale,
        alpha: 1.0,
    }
}

/// One framed heat map: the axes of [`plot_frame`], one heat-map layer inside them and, when
/// asked, a colour bar under them.
struct HeatmapPanel<'a> {
    /// The panel's GPU view (the slot its layers are uploaded to).
    view_id: u64,
    /// Size of the frame, axes included.
    size: Vec2,
    /// The data rectangle shown.
    bounds: DataRect,
    /// Title and axis labels.
    labels: Labels<'a>,
    /// The heat map.
    layer: HeatmapLayer,
    /// A colour bar in the layer's colour map: the values at its ends and its label.
    colorbar: Option<([f32; 2], &'a str)>,
    /// Title lines of the row of panels it stands in (1 alone): [`plot_frame_in_row`].
    title_rows: usize,
}

/// Draws a [`HeatmapPanel`] and returns its data area, for overlays (arrows, paths) drawn on top.
fn heatmap_panel(ui: &mut Ui, panel: HeatmapPanel) -> PlotArea {
    let (_, area) = plot_frame_in_row(ui, panel.size, panel.bounds, panel.labels, panel.title_rows);
    let colormap = panel.layer.colormap;
    ui.painter().add(heatmap::callback(
        area.inner,
        panel.view_id,
        panel.bounds,
        vec![panel.layer],
    ));
    if let Some((range, label)) = panel.colorbar {
        colorbar(ui, colormap, range, label);
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every view names its paper figure and says what to look for, each in its own words.
    #[test]
    fn every_view_has_a_figure_and_a_guide() {
        let guides: Vec<(&str, &str)> = Tab::ALL.iter().map(|(t, _)| t.guide()).collect();
        for (tab, (figure, text)) in Tab::ALL.iter().zip(&guides) {
            // The Draw view makes data for the others rather than reproducing a figure.
            assert!(
                figure.starts_with("Fig. ") || tab.0 == Tab::Draw,
                "{tab:?}: {figure}"
            );
            assert!(text.len() > 40 && !text.ends_with('.'), "{tab:?}: {text}");
        }
        for (i, (_, a)) in guides.iter().enumerate() {
            assert!(
                guides[i + 1..].iter().all(|(_, b)| a != b),
                "two views share a guide"
            );
        }
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
}
