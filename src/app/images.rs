//! The Images view (issue #5; paper Fig. 1 and 10): open a U-Net checkpoint and its training
//! images, sample N images with ODE and SDE samplers from shared noise on a background thread
//! (progress, cancel), and show the sample grids, TID(ε) curves on pixels and, for a clicked
//! sample, its nearest neighbours among the ODE samples, the SDE samples and the training set.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use eframe::egui;
use egui::{Color32, RichText, Ui};

use super::views::{sampler_color, sampler_label, tid_plot, tid_table};
use crate::device::DeviceChoice;
use crate::diffusion::{SamplerConfig, SamplerKind};
use crate::images::analysis::{
    Neighbour, NnRow, neighbour_counts_at, nn_grid, pixel_tid, radii_around, reference_radius,
    sample_images, tid_subset_size,
};
use crate::images::open::{image_source, load_unet, training_source};
use crate::images::{ImageSet, Rgb8Image, WeightSet, check_images_fit, image_shape};
use crate::metrics::TidPoint;

/// Where the demo U-Net lives in the repository (trained by `train-unet` on the procedural set).
pub const DEMO_CHECKPOINT: &str = "checkpoints/demo-shapes16";

/// What to sample and measure.
#[derive(Clone, Debug, PartialEq)]
pub struct ImagesSettings {
    /// A `train-unet` directory, a U-Net `.safetensors` or a score_sde `.pth`.
    pub checkpoint: String,
    /// TOML file of U-Net config fields, for a `.pth`.
    pub config: String,
    /// EMA or raw weights.
    pub weights: WeightSet,
    /// Training images: empty for what the checkpoint recorded, `procedural`, or a path.
    pub data: String,
    /// Training images to load from a file (a random subset); empty for all.
    pub data_n: Option<usize>,
    /// Images per sampler.
    pub n: usize,
    /// The deterministic sampler (default: Euler on the probability-flow ODE).
    pub ode_kind: SamplerKind,
    /// Its steps.
    pub ode_steps: usize,
    /// The stochastic sampler (default: Euler–Maruyama on the reverse SDE).
    pub sde_kind: SamplerKind,
    /// Its steps.
    pub sde_steps: usize,
    /// Seed of the shared initial noise.
    pub seed: u64,
    /// Images of each set in the TID (paper: 2,000).
    pub tid_n: usize,
    /// Neighbours per row of the grid (paper: 7).
    pub k: usize,
}

impl Default for ImagesSettings {
    fn default() -> Self {
        Self {
            checkpoint: DEMO_CHECKPOINT.into(),
            config: String::new(),
            weights: WeightSet::Ema,
            data: String::new(),
            data_n: None,
            n: 128,
            ode_kind: SamplerKind::OdeEuler,
            ode_steps: 100,
            sde_kind: SamplerKind::Sde,
            sde_steps: 100,
            seed: 1,
            tid_n: 2000,
            k: 7,
        }
    }
}

/// One sampler's images.
pub struct SampledSet {
    /// The sampler.
    pub kind: SamplerKind,
    /// Its steps.
    pub steps: usize,
    /// The samples, pixels in `[0, 1]`.
    pub images: ImageSet,
    /// Wall time of the sampling.
    pub seconds: f64,
    /// Neighbours within the reference radius of each sample (for the "densest" order).
    pub counts: Vec<u32>,
    /// TID(ε) against the training set.
    pub tid: Vec<TidPoint>,
}

/// A finished study.
pub struct ImagesResult {
    /// The model in a few words.
    pub model: String,
    /// The training images in a few words.
    pub data: String,
    /// The device that sampled.
    pub device: String,
    /// The training images.
    pub train: ImageSet,
    /// ODE first, then SDE.
    pub sets: Vec<SampledSet>,
    /// Median nearest-neighbour distance within the training set: the reference radius.
    pub eps_ref: f64,
    /// Images of each set in the TID.
    pub tid_n: usize,
}

/// What a background study reports.
#[derive(Default)]
struct Shared {
    stage: String,
    fraction: f32,
    /// Sample sets finished so far (shown before the study ends).
    partial: Vec<(SamplerKind, usize, Arc<ImageSet>)>,
    outcome: Option<Result<ImagesResult, String>>,
}

/// A running study.
struct Job {
    shared: Arc<Mutex<Shared>>,
    cancel: Arc<AtomicBool>,
    started: Instant,
}

impl Drop for Job {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// How the sample grids are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridOrder {
    /// Samples 0..64 of both sets: the same initial noise in the same tile.
    Paired,
    /// Each set's samples with the most neighbours within the reference radius first.
    Densest,
}

/// What the user asked for that the app (which owns the dialogs and the trainer) carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagesAction {
    /// Pick the checkpoint with a file dialog.
    PickCheckpoint,
    /// A study starts: training of the 2D model should pause (both want every core).
    Started,
    /// Save the nearest-neighbour grid as PNG: in the working directory under
    /// [`ImagesView::export_name`], or (`true`) where a file dialog says.
    ExportGrid(bool),
}

/// Textures and picks derived from a result.
struct Shown {
    order: GridOrder,
    /// Per set: the texture and the image indices in its tiles.
    grids: Vec<(egui::TextureHandle, Vec<usize>)>,
}

/// The nearest-neighbour grid of the selected sample.
pub struct NnShown {
    /// (set index, image index) of the query.
    pub query: (usize, usize),
    /// The picture (what the export writes).
    pub image: Rgb8Image,
    texture: egui::TextureHandle,
    /// Row names and their neighbours.
    pub rows: Vec<(String, Vec<Neighbour>)>,
    /// Neighbours asked for per row.
    pub k: usize,
}

/// Tiles per grid row, and tiles shown per set.
const COLS: usize = 8;
const SHOWN: usize = 64;

/// The Images view's state.
pub struct ImagesView {
    /// The panel's settings.
    pub settings: ImagesSettings,
    job: Option<Job>,
    /// The last finished study.
    pub result: Option<Arc<ImagesResult>>,
    shown: Option<Shown>,
    /// The nearest-neighbour grid of the clicked sample.
    pub nn: Option<NnShown>,
    order: GridOrder,
    eps_marked: f64,
    message: Option<String>,
    /// Textures of the running study's finished sample sets.
    partial_shown: Vec<(String, egui::TextureHandle)>,
}

impl Default for ImagesView {
    fn default() -> Self {
        Self {
            settings: ImagesSettings::default(),
            job: None,
            result: None,
            shown: None,
            nn: None,
            order: GridOrder::Densest,
            eps_marked: 0.0,
            message: None,
            partial_shown: Vec::new(),
        }
    }
}

/// Runs a study: load, sample ODE then SDE from shared noise, TID, neighbour counts.
///
/// `report(stage, fraction)` follows the progress; `publish` receives each sampler's images as
/// soon as they are drawn.
fn run_study(
    s: &ImagesSettings,
    report: &dyn Fn(&str, f32),
    publish: &dyn Fn(SamplerKind, usize, &ImageSet),
    cancel: &AtomicBool,
) -> Result<ImagesResult, String> {
    let err = |e: anyhow::Error| format!("{e:#}");
    report("loading the U-Net", 0.0);
    let dev = DeviceChoice::Auto.resolve();
    let config = (!s.config.trim().is_empty()).then(|| PathBuf::from(s.config.trim()));
    let loaded = load_unet(
        Path::new(s.checkpoint.trim()),
        config.as_deref(),
        s.weights,
        &dev.device,
    )
    .map_err(err)?;
    let net = loaded.net;
    report("loading the training images", 0.0);
    let data = (!s.data.trim().is_empty()).then(|| {
        let c = &net.config;
        image_source(
            s.data.trim(),
            s.data_n,
            Some(c.image_size),
            Some(c.channels),
            0,
        )
    });
    let source = training_source(data, loaded.dir.as_deref()).map_err(err)?;
    let train = source
        .load()
        .map_err(|e| format!("loading the training images ({}): {e}", source.describe()))?;
    check_images_fit(&net, &train).map_err(|e| e.to_string())?;
    let c = net.config.clone();
    let shape = image_shape(&net);
    let plan = [
        (s.ode_kind, s.ode_steps.max(1)),
        (s.sde_kind, s.sde_steps.max(1)),
    ];
    let total: usize = plan.iter().map(|(_, st)| st * s.n).sum();
    let mut done_before = 0usize;
    let mut sampled = Vec::new();
    for (kind, steps) in plan {
        let cfg = SamplerConfig::new(kind).with_steps(steps);
        let start = Instant::now();
        let stage = format!("sampling {} images, {}", s.n, sampler_label(kind));
        report(&stage, done_before as f32 / total as f32);
        let images = sample_images(
            &net,
            &cfg,
            s.n,
            s.seed,
            32,
            shape,
            &dev.device,
            &mut |done, _| report(&stage, (done_before + done) as f32 / total as f32),
            cancel,
        )
        .map_err(|e| e.to_string())?;
        done_before += steps * s.n;
        publish(kind, steps, &images);
        sampled.push((kind, steps, images, start.elapsed().as_secs_f64()));
    }
    report("measuring TID", 1.0);
    // The reference radius on training subsets of the size TID compares (neighbour distances
    // shrink as sets grow).
    let tid_n = tid_subset_size(&train, &sampled[0].2, s.tid_n);
    let eps_ref = reference_radius(&train, tid_n);
    // Radii from a third to three times the training set's median neighbour distance: below,
    // most images have no neighbour (TID is degenerate); above, everything is a neighbour.
    let eps = radii_around(eps_ref, 25);
    let mut sets = Vec::new();
    for (kind, steps, images, seconds) in sampled {
        if cancel.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        let tid = pixel_tid(&train, &images, &eps, s.tid_n, s.seed.wrapping_add(7))
            .map_err(|e| e.to_string())?;
        let counts = neighbour_counts_at(&images, eps_ref);
        sets.push(SampledSet {
            kind,
            steps,
            images,
            seconds,
            counts,
            tid,
        });
    }
    Ok(ImagesResult {
        model: format!(
            "{} ({:?} weights; nf {}, ch_mult {:?}, {}×{}×{})",
            loaded.file.display(),
            s.weights,
            c.nf,
            c.ch_mult,
            c.channels,
            c.image_size,
            c.image_size
        ),
        data: format!("{} ({} images)", source.describe(), train.len()),
        device: dev.description,
        train,
        sets,
        eps_ref,
        tid_n,
    })
}

/// An [`Rgb8Image`] as a texture drawn with crisp (nearest-neighbour) pixels.
fn texture(ctx: &egui::Context, name: impl Into<String>, img: &Rgb8Image) -> egui::TextureHandle {
    ctx.load_texture(
        name,
        egui::ColorImage::from_rgb([img.width, img.height], &img.data),
        egui::TextureOptions::NEAREST,
    )
}

/// The side of each of the two sample grids side by side in the space left in `ui`.
fn grid_side(ui: &Ui) -> f32 {
    let avail = ui.available_size();
    ((avail.x - 24.0) / 2.0)
        .min(avail.y * 0.5 - 30.0)
        .max(120.0)
}

impl ImagesView {
    /// The last error, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// True while a study runs.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Starts a study in the background with the current settings (cancelling a running one).
    pub fn start(&mut self, ctx: &egui::Context) {
        let shared = Arc::new(Mutex::new(Shared {
            stage: "starting".into(),
            ..Shared::default()
        }));
        let cancel = Arc::new(AtomicBool::new(false));
        let (out, stop, repaint) = (shared.clone(), cancel.clone(), ctx.clone());
        let settings = self.settings.clone();
        let spawned = std::thread::Builder::new()
            .name("images-study".into())
            .spawn(move || {
                let last = Mutex::new(Instant::now());
                let report = |stage: &str, f: f32| {
                    let mut sh = out.lock().expect("images job");
                    if sh.stage != stage {
                        sh.stage = stage.to_string();
                    }
                    sh.fraction = f;
                    drop(sh);
                    let mut last = last.lock().expect("images job");
                    if last.elapsed().as_millis() > 250 {
                        *last = Instant::now();
                        repaint.request_repaint();
                    }
                };
                let publish = |kind: SamplerKind, steps: usize, images: &ImageSet| {
                    out.lock().expect("images job").partial.push((
                        kind,
                        steps,
                        Arc::new(images.clone()),
                    ));
                    repaint.request_repaint();
                };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_study(&settings, &report, &publish, &stop)
                }))
                .unwrap_or_else(|_| Err("the study panicked (a bug); see the terminal".into()));
                out.lock().expect("images job").outcome = Some(r);
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.message = None;
                self.result = None;
                self.shown = None;
                self.nn = None;
                self.partial_shown = Vec::new();
                self.job = Some(Job {
                    shared,
                    cancel,
                    started: Instant::now(),
                })
            }
            Err(e) => self.message = Some(format!("could not start a thread: {e}")),
        }
    }

    /// Takes a finished study's outcome; call every frame.
    pub fn poll(&mut self) {
        let Some(job) = &self.job else {
            return;
        };
        let Some(outcome) = job.shared.lock().expect("images job").outcome.take() else {
            return;
        };
        self.job = None;
        match outcome {
            Ok(r) => {
                self.eps_marked = r.eps_ref;
                self.result = Some(Arc::new(r));
                self.shown = None;
                self.nn = None;
            }
            Err(e) => self.message = Some(e),
        }
    }

    /// The settings, the run button and the export (the left panel in Images mode).
    pub fn panel(&mut self, ui: &mut Ui, actions: &mut Vec<ImagesAction>) {
        ui.heading("Images");
        ui.label(
            RichText::new(
                "A U-Net and its training images: do ODE samples pile up where SDE samples do \
                 not? (paper Fig. 1, 10)",
            )
            .small()
            .weak(),
        );
        ui.separator();
        let s = &mut self.settings;
        egui::CollapsingHeader::new("Checkpoint")
            .default_open(true)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut s.checkpoint).desired_width(190.0))
                        .on_hover_text(
                            "a train-unet directory, a U-Net .safetensors or a score_sde .pth",
                        );
                    if ui.button("Open…").clicked() {
                        actions.push(ImagesAction::PickCheckpoint);
                    }
                });
                ui.horizontal(|ui| {
                    ui.label("weights");
                    ui.selectable_value(&mut s.weights, WeightSet::Ema, "EMA");
                    ui.selectable_value(&mut s.weights, WeightSet::Model, "raw");
                });
                ui.horizontal(|ui| {
                    ui.label(".pth config");
                    ui.add(
                        egui::TextEdit::singleline(&mut s.config)
                            .hint_text("TOML (only for .pth)")
                            .desired_width(160.0),
                    );
                });
                ui.horizontal(|ui| {
                    ui.label("training images");
                    ui.add(
                        egui::TextEdit::singleline(&mut s.data)
                            .hint_text("as recorded")
                            .desired_width(130.0),
                    )
                    .on_hover_text(
                        "empty: what the train-unet directory recorded; `procedural`; or a \
                         CIFAR/MNIST/PNG folder/.npy path (resized to the model)",
                    );
                });
            });
        egui::CollapsingHeader::new("Sampling")
            .default_open(true)
            .show(ui, |ui| {
                ui.add(
                    egui::Slider::new(&mut s.n, 16..=4000)
                        .logarithmic(true)
                        .text("images per sampler"),
                );
                for (id, kind, steps, deterministic) in [
                    ("ode-kind", &mut s.ode_kind, &mut s.ode_steps, true),
                    ("sde-kind", &mut s.sde_kind, &mut s.sde_steps, false),
                ] {
                    ui.horizontal(|ui| {
                        egui::ComboBox::from_id_salt(id)
                            .selected_text(
                                RichText::new(sampler_label(*kind)).color(sampler_color(*kind)),
                            )
                            .width(150.0)
                            .show_ui(ui, |ui| {
                                for k in SamplerKind::ALL
                                    .into_iter()
                                    .filter(|k| k.is_deterministic() == deterministic)
                                {
                                    ui.selectable_value(kind, k, sampler_label(k));
                                }
                            });
                        ui.add(egui::DragValue::new(steps).range(2..=2000).suffix(" steps"));
                    });
                }
                ui.add(egui::DragValue::new(&mut s.seed).prefix("noise seed "));
                ui.add(
                    egui::Slider::new(&mut s.tid_n, 100..=4000)
                        .logarithmic(true)
                        .text("TID images per set"),
                );
                ui.add(egui::Slider::new(&mut s.k, 1..=12).text("neighbours per row"));
                ui.label(
                    RichText::new(format!(
                        "{} image-steps; both samplers start from the same noise (Heun and \
                         DPM-Solver-2 evaluate the model twice a step)",
                        s.n * (s.ode_steps + s.sde_steps)
                    ))
                    .small()
                    .weak(),
                );
            });
        ui.separator();
        ui.horizontal(|ui| {
            if self.job.is_some() {
                if ui.button("Cancel").clicked() {
                    self.job = None;
                    self.message = Some("cancelled".into());
                }
            } else if ui
                .button(RichText::new("Sample ODE and SDE").strong())
                .clicked()
            {
                actions.push(ImagesAction::Started);
                self.start(ui.ctx());
            }
        });
        if let Some(job) = &self.job {
            let sh = job.shared.lock().expect("images job");
            let elapsed = job.started.elapsed().as_secs_f64();
            // Sampling is nearly all of a study's time and runs at a steady rate.
            let eta = (sh.fraction > 0.02 && sh.fraction < 1.0)
                .then(|| elapsed * (1.0 - sh.fraction as f64) / sh.fraction as f64)
                .map_or(String::new(), |s| format!(" · about {s:.0} s left"));
            ui.label(RichText::new(sh.stage.as_str()).small());
            ui.add(
                egui::ProgressBar::new(sh.fraction)
                    .text(format!("{:.0}% · {elapsed:.0} s{eta}", 100.0 * sh.fraction)),
            );
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(250));
        }
        if let Some(m) = &self.message {
            ui.colored_label(Color32::from_rgb(0xD5, 0x5E, 0x00), m.as_str());
        }
        if let Some(r) = &self.result {
            ui.separator();
            ui.label(RichText::new("Last study").strong());
            ui.label(RichText::new(&r.model).small());
            ui.label(RichText::new(format!("training set: {}", r.data)).small());
            for set in &r.sets {
                ui.label(
                    RichText::new(format!(
                        "{}: {} steps, {:.1} s ({:.1} images/s)",
                        sampler_label(set.kind),
                        set.steps,
                        set.seconds,
                        set.images.len() as f64 / set.seconds.max(1e-9)
                    ))
                    .small(),
                );
            }
            ui.label(RichText::new(&r.device).small().weak());
            ui.add_enabled_ui(self.nn.is_some(), |ui| {
                ui.horizontal(|ui| {
                    if ui
                        .button("Export neighbour grid as PNG")
                        .on_hover_text(format!("writes {} here", self.export_name()))
                        .clicked()
                    {
                        actions.push(ImagesAction::ExportGrid(false));
                    }
                    if ui.button("…").on_hover_text("choose where").clicked() {
                        actions.push(ImagesAction::ExportGrid(true));
                    }
                });
            });
        }
    }

    /// Builds the grid textures when the result or the order changed.
    fn ensure_shown(&mut self, ctx: &egui::Context) {
        if self.result.is_none() {
            self.shown = None;
            return;
        }
        // The neighbour slider moved: rebuild the grid of the current query.
        if let Some(query) = self
            .nn
            .as_ref()
            .filter(|nn| nn.k != self.settings.k)
            .map(|nn| nn.query)
        {
            self.select(ctx, query);
        }
        let Some(r) = &self.result else {
            return;
        };
        if self.shown.as_ref().is_some_and(|s| s.order == self.order) {
            return;
        }
        let n = r.sets[0].images.len();
        let grids = r
            .sets
            .iter()
            .enumerate()
            .map(|(j, set)| {
                let indices: Vec<usize> = match self.order {
                    GridOrder::Paired => (0..n.min(SHOWN)).collect(),
                    GridOrder::Densest => {
                        let mut order: Vec<usize> = (0..set.images.len()).collect();
                        order.sort_by(|&a, &b| set.counts[b].cmp(&set.counts[a]).then(a.cmp(&b)));
                        order.truncate(SHOWN);
                        order
                    }
                };
                let img = set.images.grid(&indices, COLS, 1, 1);
                (texture(ctx, format!("images-grid-{j}"), &img), indices)
            })
            .collect();
        self.shown = Some(Shown {
            order: self.order,
            grids,
        });
        if self.nn.is_none() {
            // Start with the ODE sample that has the most neighbours: where collapse shows.
            let first = &r.sets[0];
            if let Some(best) = (0..first.counts.len())
                .max_by(|&a, &b| first.counts[a].cmp(&first.counts[b]).then(b.cmp(&a)))
            {
                self.select(ctx, (0, best));
            }
        }
    }

    /// Selects a query sample and builds its neighbour grid.
    pub fn select(&mut self, ctx: &egui::Context, query: (usize, usize)) {
        let Some(r) = &self.result else {
            return;
        };
        let (qs, qi) = query;
        let mut rows: Vec<NnRow> = r
            .sets
            .iter()
            .enumerate()
            .map(|(j, s)| NnRow {
                set: &s.images,
                exclude: (j == qs).then_some(qi),
            })
            .collect();
        rows.push(NnRow {
            set: &r.train,
            exclude: None,
        });
        let query_pixels = r.sets[qs].images.image(qi);
        let scale = (48 / r.train.height.max(1)).max(1);
        let (image, neighbours) = nn_grid(query_pixels, &rows, self.settings.k, scale);
        let names = r
            .sets
            .iter()
            .map(|s| sampler_label(s.kind).to_string())
            .chain(["training set".to_string()]);
        self.nn = Some(NnShown {
            query,
            texture: texture(ctx, "images-nn", &image),
            image,
            rows: names.zip(neighbours).collect(),
            k: self.settings.k,
        });
    }

    /// Writes the neighbour grid as PNG.
    pub fn export_grid(&self, path: &Path) -> Result<String, String> {
        let nn = self.nn.as_ref().ok_or("no sample selected")?;
        nn.image
            .write_png(path)
            .map(|()| path.display().to_string())
            .map_err(|e| e.to_string())
    }

    /// The default export file name.
    pub fn export_name(&self) -> String {
        match &self.nn {
            Some(nn) => format!("collapse-nn-set{}-sample{}.png", nn.query.0, nn.query.1),
            None => "collapse-nn.png".into(),
        }
    }

    /// The central view: grids, the neighbour grid of the clicked sample, TID curves.
    pub fn view(&mut self, ui: &mut Ui) {
        let Some(r) = self.result.clone() else {
            if let Some(job) = &self.job {
                // Sets already drawn, while the rest of the study runs.
                let partial = job.shared.lock().expect("images job").partial.clone();
                for (kind, steps, images) in partial.iter().skip(self.partial_shown.len()) {
                    let shown: Vec<usize> = (0..images.len().min(SHOWN)).collect();
                    let tex = texture(
                        ui.ctx(),
                        format!("images-partial-{}", self.partial_shown.len()),
                        &images.grid(&shown, COLS, 1, 1),
                    );
                    let caption = format!(
                        "{}, {steps} steps: {} samples (the first {})",
                        sampler_label(*kind),
                        images.len(),
                        shown.len()
                    );
                    self.partial_shown.push((caption, tex));
                }
                if !self.partial_shown.is_empty() {
                    let side = grid_side(ui);
                    ui.horizontal_top(|ui| {
                        for (caption, tex) in &self.partial_shown {
                            ui.vertical(|ui| {
                                ui.label(caption.as_str());
                                let size = tex.size_vec2();
                                let scale = side / size.x.max(size.y);
                                ui.add(egui::Image::new(tex).fit_to_exact_size(size * scale));
                            });
                            ui.add_space(12.0);
                        }
                    });
                    ui.label(
                        RichText::new(
                            "TID and nearest neighbours follow once every sampler is done.",
                        )
                        .weak(),
                    );
                    return;
                }
            }
            ui.add_space(40.0);
            ui.vertical_centered(|ui| {
                if self.job.is_some() {
                    ui.label(RichText::new("Sampling… (progress on the left)").size(18.0));
                } else {
                    ui.label(RichText::new("No images sampled yet").size(18.0));
                    ui.label(format!(
                        "Choose a checkpoint on the left (the demo U-Net is {DEMO_CHECKPOINT}) and \
                         press “Sample ODE and SDE”. Or train your own: collapse-explorer \
                         train-unet --data procedural --out DIR"
                    ));
                }
            });
            return;
        };
        ui.horizontal(|ui| {
            ui.label("Grid order:");
            ui.selectable_value(&mut self.order, GridOrder::Densest, "densest first")
                .on_hover_text(format!(
                    "each set's samples with the most neighbours within ε = {:.2} (the training \
                     set's median neighbour distance) first",
                    r.eps_ref
                ));
            ui.selectable_value(&mut self.order, GridOrder::Paired, "paired")
                .on_hover_text(
                    "samples 0–63: the same tile of both grids started from the same noise",
                );
            ui.separator();
            ui.label(
                RichText::new("Click a sample to see its nearest neighbours in every set.").weak(),
            );
        });
        self.ensure_shown(ui.ctx());
        let grid_side = grid_side(ui);
        let mut clicked = None;
        if let Some(shown) = &self.shown {
            ui.horizontal_top(|ui| {
                for (j, (tex, indices)) in shown.grids.iter().enumerate() {
                    let set = &r.sets[j];
                    ui.vertical(|ui| {
                        let mean_count = set.counts.iter().map(|&c| c as f64).sum::<f64>()
                            / set.counts.len().max(1) as f64;
                        ui.label(
                            RichText::new(format!(
                                "{}, {} steps: {} samples (mean {:.1} neighbours within ε = {:.2})",
                                sampler_label(set.kind),
                                set.steps,
                                set.images.len(),
                                mean_count,
                                r.eps_ref
                            ))
                            .color(sampler_color(set.kind)),
                        );
                        let size = tex.size_vec2();
                        let scale = grid_side / size.x.max(size.y);
                        let resp = ui.add(
                            egui::Image::new(tex)
                                .fit_to_exact_size(size * scale)
                                .sense(egui::Sense::click()),
                        );
                        // Tiles are `h` pixels with a 1-pixel gap, starting after a gap.
                        let h = set.images.height as f32;
                        let tile_at = |p: egui::Pos2| {
                            let local = (p - resp.rect.min) / scale;
                            let col = ((local.x - 1.0) / (h + 1.0)).floor();
                            let row = ((local.y - 1.0) / (h + 1.0)).floor();
                            (col >= 0.0 && row >= 0.0 && (col as usize) < COLS)
                                .then(|| row as usize * COLS + col as usize)
                                .and_then(|slot| indices.get(slot).copied())
                        };
                        if let Some(p) = resp.hover_pos()
                            && let Some(i) = tile_at(p)
                        {
                            resp.clone().on_hover_text(format!(
                                "sample {i}: {} neighbours within ε = {:.2}",
                                set.counts[i], r.eps_ref
                            ));
                        }
                        if resp.clicked()
                            && let Some(p) = resp.interact_pointer_pos()
                            && let Some(i) = tile_at(p)
                        {
                            clicked = Some((j, i));
                        }
                        // Mark the selected query.
                        if let Some(nn) = &self.nn
                            && nn.query.0 == j
                            && let Some(slot) = indices.iter().position(|&i| i == nn.query.1)
                        {
                            let (col, row) = ((slot % COLS) as f32, (slot / COLS) as f32);
                            let min = resp.rect.min
                                + egui::vec2(col * (h + 1.0) + 0.5, row * (h + 1.0) + 0.5) * scale;
                            let rect = egui::Rect::from_min_size(
                                min,
                                egui::vec2(h + 1.0, h + 1.0) * scale,
                            );
                            ui.painter().rect_stroke(
                                rect,
                                0.0,
                                egui::Stroke::new(2.5, Color32::from_rgb(0xD5, 0x5E, 0x00)),
                                egui::StrokeKind::Outside,
                            );
                        }
                    });
                    ui.add_space(12.0);
                }
            });
        }
        if let Some(q) = clicked {
            self.select(ui.ctx(), q);
        }
        ui.separator();
        ui.horizontal_top(|ui| {
            let half = (ui.available_width() - 16.0) / 2.0;
            ui.vertical(|ui| {
                ui.set_width(half);
                self.nn_panel(ui, &r);
            });
            ui.vertical(|ui| {
                ui.set_width(half);
                self.tid_panel(ui, &r);
            });
        });
    }

    fn nn_panel(&self, ui: &mut Ui, r: &ImagesResult) {
        let Some(nn) = &self.nn else {
            ui.label("Click a sample to see its nearest neighbours.");
            return;
        };
        let (qs, qi) = nn.query;
        ui.label(
            RichText::new(format!(
                "Query: {} sample {qi} (first column); its {} nearest neighbours (L2 on [0, 1] \
                 pixels) in each set",
                sampler_label(r.sets[qs].kind),
                self.settings.k
            ))
            .strong(),
        );
        let size = nn.texture.size_vec2();
        let avail_h = ui.available_height() - 24.0 * nn.rows.len() as f32 - 10.0;
        let scale = (ui.available_width() - 150.0) / size.x;
        let scale = scale.min(avail_h / size.y).max(0.25);
        ui.horizontal_top(|ui| {
            // Row names beside the rows.
            let row_h = size.y * scale / nn.rows.len() as f32;
            ui.vertical(|ui| {
                ui.set_width(140.0);
                for (name, nb) in &nn.rows {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(140.0, row_h), egui::Sense::hover());
                    let text = format!(
                        "{name}\nnearest {}",
                        nb.first()
                            .map_or("-".to_string(), |n| format!("{:.2}", n.distance))
                    );
                    ui.painter().text(
                        rect.right_center() - egui::vec2(6.0, 0.0),
                        egui::Align2::RIGHT_CENTER,
                        text,
                        egui::FontId::proportional(13.0),
                        ui.visuals().text_color(),
                    );
                }
            });
            ui.add(egui::Image::new(&nn.texture).fit_to_exact_size(size * scale));
        });
        let line = nn
            .rows
            .iter()
            .map(|(name, nb)| {
                let within = nb.iter().filter(|n| n.distance <= r.eps_ref).count();
                format!(
                    "{name}: {within} of {} within ε = {:.2}",
                    nb.len(),
                    r.eps_ref
                )
            })
            .collect::<Vec<_>>()
            .join(" · ");
        ui.label(RichText::new(line).small().weak());
    }

    fn tid_panel(&mut self, ui: &mut Ui, r: &ImagesResult) {
        ui.label(
            RichText::new(format!(
                "TID(ε) on pixels, {} images of each set. Positive: the samples are more \
                 concentrated than the training set. Hollow: degenerate ε.",
                r.tid_n
            ))
            .strong(),
        );
        let lo = r.sets[0].tid.first().map_or(0.01, |p| p.eps);
        let hi = r.sets[0].tid.last().map_or(10.0, |p| p.eps);
        ui.add(
            egui::Slider::new(&mut self.eps_marked, lo..=hi)
                .logarithmic(true)
                .text("ε of interest"),
        );
        let h = (ui.available_height() - 90.0).max(120.0);
        let curves: Vec<(SamplerKind, &[TidPoint])> =
            r.sets.iter().map(|s| (s.kind, s.tid.as_slice())).collect();
        tid_plot(
            ui,
            "images-tid",
            "ε (L2 on [0, 1] pixels)",
            h,
            self.eps_marked,
            &curves,
        );
        tid_table(ui, "images-tid-table", self.eps_marked, &curves);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::analysis::ImageSource;
    use crate::images::{TrainingRecord, UNet, UNetConfig, UNetTrainConfig};

    /// A study on a checkpoint that does not exist ends with the loader's error, not a panic.
    #[test]
    fn a_missing_checkpoint_is_reported() {
        let s = ImagesSettings {
            checkpoint: "/nonexistent/unet".into(),
            ..ImagesSettings::default()
        };
        let err = run_study(&s, &|_, _| {}, &|_, _, _| {}, &AtomicBool::new(false))
            .err()
            .expect("no checkpoint");
        assert!(err.contains("does not exist"), "{err}");
    }

    /// An untrained tiny U-Net (8×8) in a `train-unet` directory that records 300 procedural
    /// training images, and settings that study it with 40 images of each sampler.
    fn tiny_study(dir: &Path) -> ImagesSettings {
        std::fs::create_dir_all(dir).unwrap();
        let dev = burn::tensor::Device::flex();
        let config = UNetConfig {
            dropout: 0.0,
            ..UNetConfig::tiny()
        };
        UNet::init(&config, 3, &dev)
            .save(&dir.join("ema.safetensors"))
            .unwrap();
        TrainingRecord {
            data: ImageSource::Procedural {
                n: 300,
                size: 8,
                seed: 0,
            },
            train: UNetTrainConfig::default(),
            iteration: 0,
            loss: None,
            ms_per_iter: None,
        }
        .save(dir)
        .unwrap();
        ImagesSettings {
            checkpoint: dir.display().to_string(),
            n: 40,
            ode_steps: 3,
            sde_steps: 4,
            tid_n: 40,
            ..ImagesSettings::default()
        }
    }

    /// End to end on an untrained tiny U-Net in a `train-unet` directory: the data is found
    /// from its record, both samplers give n images from the same noise, progress reaches the
    /// end, TID curves cover ε around the reference radius, and a cancelled study stops.
    #[test]
    fn a_study_runs_end_to_end_and_cancels() {
        let dir = std::env::temp_dir().join(format!("ce-images-study-{}", std::process::id()));
        let s = tiny_study(&dir);
        let last = Mutex::new(0.0f32);
        let published = Mutex::new(Vec::new());
        let r = run_study(
            &s,
            &|_, f| *last.lock().unwrap() = f,
            &|kind, steps, images| {
                published
                    .lock()
                    .unwrap()
                    .push((kind, steps, images.clone()))
            },
            &AtomicBool::new(false),
        )
        .expect("study");
        // Each sampler's images were published as drawn, and are the result's.
        let published = published.into_inner().unwrap();
        assert_eq!(published.len(), 2);
        for ((kind, steps, images), set) in published.iter().zip(&r.sets) {
            assert_eq!((*kind, *steps), (set.kind, set.steps));
            assert_eq!(images.pixels, set.images.pixels);
        }
        assert_eq!(*last.lock().unwrap(), 1.0);
        assert_eq!(r.train.len(), 300);
        assert_eq!(r.tid_n, 40);
        assert_eq!(r.sets.len(), 2);
        for set in &r.sets {
            assert_eq!(set.images.len(), 40);
            assert_eq!(set.counts.len(), 40);
            assert_eq!(set.tid.len(), 25);
            let (lo, hi) = (set.tid[0].eps, set.tid[24].eps);
            assert!((lo * 3.0 - r.eps_ref).abs() < 1e-9 && (hi / 3.0 - r.eps_ref).abs() < 1e-9);
            assert!(set.images.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
        }
        assert_eq!(
            (r.sets[0].kind, r.sets[0].steps),
            (SamplerKind::OdeEuler, 3)
        );
        assert_eq!((r.sets[1].kind, r.sets[1].steps), (SamplerKind::Sde, 4));
        // Other samplers of each family.
        let other = ImagesSettings {
            ode_kind: SamplerKind::Ddim,
            sde_kind: SamplerKind::PredictorCorrector,
            ..s.clone()
        };
        let r2 = run_study(&other, &|_, _| {}, &|_, _, _| {}, &AtomicBool::new(false))
            .expect("study with DDIM and PC");
        assert_eq!(r2.sets[0].kind, SamplerKind::Ddim);
        assert_eq!(r2.sets[1].kind, SamplerKind::PredictorCorrector);
        assert!(r2.sets.iter().all(|set| set.images.len() == 40));
        let err = run_study(&s, &|_, _| {}, &|_, _, _| {}, &AtomicBool::new(true))
            .err()
            .expect("cancelled");
        assert!(err.contains("cancelled"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The view opens on the ODE sample with the most neighbours; its grid has a row per set
    /// (ODE, SDE, training) of the query and k neighbours, and exports as that PNG.
    #[test]
    fn the_neighbour_grid_follows_the_selection_and_exports() {
        let dir = std::env::temp_dir().join(format!("ce-images-view-{}", std::process::id()));
        let s = tiny_study(&dir);
        let r = run_study(&s, &|_, _| {}, &|_, _, _| {}, &AtomicBool::new(false)).expect("study");
        let ode_counts = r.sets[0].counts.clone();
        let ctx = egui::Context::default();
        let mut view = ImagesView {
            settings: s,
            result: Some(Arc::new(r)),
            ..ImagesView::default()
        };
        view.ensure_shown(&ctx);
        let nn = view.nn.as_ref().expect("a first query");
        let max = *ode_counts.iter().max().unwrap();
        assert_eq!(nn.query.0, 0);
        assert_eq!(ode_counts[nn.query.1], max);
        assert_eq!(ode_counts.iter().position(|&c| c == max), Some(nn.query.1));
        let names: Vec<&str> = nn.rows.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["ODE (Euler)", "SDE (Euler–Maruyama)", "training set"]
        );
        assert!(nn.rows.iter().all(|(_, nb)| nb.len() == 7));
        // The query is not its own neighbour in the ODE row.
        assert!(nn.rows[0].1.iter().all(|n| n.index != nn.query.1));
        view.settings.k = 3;
        view.ensure_shown(&ctx);
        assert!(
            view.nn
                .as_ref()
                .unwrap()
                .rows
                .iter()
                .all(|(_, nb)| nb.len() == 3)
        );
        view.settings.k = 7;
        view.select(&ctx, (1, 5));
        let nn = view.nn.as_ref().unwrap();
        assert_eq!(nn.query, (1, 5));
        assert!(nn.rows[1].1.iter().all(|n| n.index != 5));
        // 8 columns of 8×8 tiles at scale 6 with 1-pixel gaps, plus the query column's wider gap.
        let png = dir.join("nn.png");
        view.export_grid(&png).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (8 * 49 + 1 + 7, 3 * 49 + 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The committed demo U-Net loads, finds its training images from its record, and has
    /// learned them: on fresh procedural images noised to t ∈ {0.1, 0.5, 0.9} its ε-prediction
    /// error (the DSM loss at that t) is a small fraction of the error of predicting nothing (1
    /// per value).
    #[test]
    fn the_demo_unet_denoises_shapes() {
        use crate::diffusion::loss::{Band, regime_loss};
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_CHECKPOINT);
        let dev = burn::tensor::Device::flex();
        let loaded = load_unet(&path, None, WeightSet::Ema, &dev).expect("demo checkpoint");
        let source = training_source(None, loaded.dir.as_deref()).unwrap();
        assert_eq!(
            source,
            ImageSource::Procedural {
                n: 20_000,
                size: 16,
                seed: 0
            }
        );
        let net = loaded.net;
        let fresh = ImageSource::Procedural {
            n: 16,
            size: 16,
            seed: 77,
        }
        .load()
        .unwrap()
        .to_points(crate::images::pixel_scale(&net));
        for (j, t) in [0.1, 0.5, 0.9].into_iter().enumerate() {
            let mse = regime_loss(&net, &fresh, Band { lo: t, hi: t }, 16, 9 + j as u64, &dev);
            // Measured: about 0.017, 0.008, 0.0005.
            assert!(mse < 0.05, "t = {t}: ε-prediction MSE {mse}");
        }
    }
}
