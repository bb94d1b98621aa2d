//! The Images mode (paper Fig. 1 and 10): open a U-Net checkpoint and its training images,
//! run the image study ([`crate::images::study`]: ODE and SDE samples from shared noise, pixel
//! TID, neighbour counts) on a background thread with progress and cancel, and show the sample
//! grids, TID(ε) curves and, for a clicked sample, its nearest neighbours among the ODE
//! samples, the SDE samples and the training set. Its left panel is [`panel`], the centre
//! [`view`].

mod panel;
mod view;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use eframe::egui;
use egui::Ui;

use super::Mode;
use super::shell::{FilePurpose, Shell};
use super::smoke::SmokeProbe;
use crate::device::DeviceChoice;
use crate::diffusion::SamplerKind;
use crate::images::analysis::Neighbour;
use crate::images::study::{
    Radii, SampledImages, Stage, StudyData, StudyResult, StudySettings, run_study,
};
use crate::images::{Rgb8Image, WeightSet};
use crate::sync::lock;

/// Where the demo U-Net lives in the repository (trained by `train-unet` on the procedural set).
pub const DEMO_CHECKPOINT: &str = "checkpoints/demo-shapes16";

/// What the panel sets (text fields as typed), turned into a study by [`Self::study`].
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

/// Radii of the Images view's TID curve (from a third to three times the reference radius).
const CURVE_RADII: usize = 25;

impl ImagesSettings {
    /// The study these settings describe: the ODE-like sampler first, then the SDE-like one;
    /// training images from a file are resized and converted to the model's shape.
    pub fn study(&self) -> StudySettings {
        let trimmed = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(PathBuf::from);
        StudySettings {
            checkpoint: PathBuf::from(self.checkpoint.trim()),
            config: trimmed(&self.config),
            weights: self.weights,
            data: (!self.data.trim().is_empty()).then(|| StudyData {
                name: self.data.trim().to_string(),
                n: self.data_n,
                size: None,
                channels: None,
                seed: 0,
            }),
            samplers: vec![
                (self.ode_kind, self.ode_steps.max(1)),
                (self.sde_kind, self.sde_steps.max(1)),
            ],
            n: self.n,
            seed: self.seed,
            tid_n: self.tid_n,
            tid_repeats: 5,
            k: crate::metrics::HillK::default(),
            radii: Radii::Around(CURVE_RADII),
            chunk: 32,
            device: DeviceChoice::Auto,
        }
    }
}

/// The stage of a study in words.
fn describe(stage: Stage) -> String {
    match stage {
        Stage::LoadingModel => "loading the U-Net".into(),
        Stage::LoadingData => "loading the training images".into(),
        Stage::Estimated { .. } => {
            format!(
                "sampling: {}",
                stage.cost().map(|c| c.1).unwrap_or_default()
            )
        }
        Stage::Sampling { kind, n, .. } => format!("sampling {n} images, {}", kind.label()),
        Stage::Measuring => "measuring TID".into(),
    }
}

/// What a background study reports.
#[derive(Default)]
struct Shared {
    stage: String,
    fraction: f32,
    /// Seconds the sampling should take, once measured.
    estimate: Option<(f64, String)>,
    /// Sample sets finished so far (shown before the study ends).
    partial: Vec<Arc<SampledImages>>,
    outcome: Option<Result<StudyResult, String>>,
}

/// A running study; dropping it cancels the study.
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

/// The Images mode's state.
pub struct ImagesMode {
    /// The panel's settings.
    pub settings: ImagesSettings,
    job: Option<Job>,
    /// The last finished study.
    pub result: Option<Arc<StudyResult>>,
    shown: Option<Shown>,
    /// The nearest-neighbour grid of the clicked sample.
    pub nn: Option<NnShown>,
    order: GridOrder,
    eps_marked: f64,
    /// The TID plot also draws TID's two terms.
    tid_terms: bool,
    message: Option<String>,
    /// Textures of the running study's finished sample sets.
    partial_shown: Vec<(String, egui::TextureHandle)>,
}

impl Default for ImagesMode {
    fn default() -> Self {
        Self {
            settings: ImagesSettings::default(),
            job: None,
            result: None,
            shown: None,
            nn: None,
            order: GridOrder::Densest,
            eps_marked: 0.0,
            tid_terms: false,
            message: None,
            partial_shown: Vec::new(),
        }
    }
}

/// An [`Rgb8Image`] as a texture drawn with crisp (nearest-neighbour) pixels.
fn texture(ctx: &egui::Context, name: impl Into<String>, img: &Rgb8Image) -> egui::TextureHandle {
    ctx.load_texture(
        name,
        egui::ColorImage::from_rgb([img.width, img.height], &img.data),
        egui::TextureOptions::NEAREST,
    )
}

impl ImagesMode {
    /// Starts a study in the background with the current settings (cancelling a running one).
    pub fn start(&mut self, ctx: &egui::Context) {
        let shared = Arc::new(Mutex::new(Shared {
            stage: "starting".into(),
            ..Shared::default()
        }));
        let cancel = Arc::new(AtomicBool::new(false));
        let (out, stop, repaint) = (shared.clone(), cancel.clone(), ctx.clone());
        let settings = self.settings.study();
        // The study is the work this mode waits for: it keeps the normal priority, like training.
        let spawned = crate::priority::spawn_foreground(
            std::thread::Builder::new().name("images-study".into()),
            move || {
                let last = Mutex::new(Instant::now());
                let progress = |stage: Stage, f: f32| {
                    let text = describe(stage);
                    let mut sh = lock(&out);
                    if let Some((seconds, mut text, long)) = stage.cost() {
                        if long {
                            text.push_str(
                                ". That is long on a CPU: a machine with a GPU runs it there \
                                 (the Images view picks one itself), or sample fewer images",
                            );
                        }
                        sh.estimate = Some((seconds, text));
                    }
                    if sh.stage != text {
                        sh.stage = text;
                    }
                    sh.fraction = f;
                    drop(sh);
                    let mut last = lock(&last);
                    if last.elapsed().as_millis() > 250 {
                        *last = Instant::now();
                        repaint.request_repaint();
                    }
                };
                let publish = |set: &SampledImages| {
                    lock(&out).partial.push(Arc::new(set.clone()));
                    repaint.request_repaint();
                };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_study(&settings, &progress, &publish, &stop).map_err(|e| e.to_string())
                }))
                .unwrap_or_else(|_| Err("the study panicked (a bug); see the terminal".into()));
                lock(&out).outcome = Some(r);
                repaint.request_repaint();
            },
        );
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
        let Some(outcome) = lock(&job.shared).outcome.take() else {
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
                    GridOrder::Densest => r.densest(j).into_iter().take(SHOWN).collect(),
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
            if let Some(&best) = r.densest(0).first() {
                self.select(ctx, (0, best));
            }
        }
    }

    /// Selects a query sample and builds its neighbour grid.
    pub fn select(&mut self, ctx: &egui::Context, query: (usize, usize)) {
        let Some(r) = &self.result else {
            return;
        };
        let scale = (48 / r.train.height.max(1)).max(1);
        let grid = r.neighbour_grid(query, self.settings.k, scale);
        let names = r
            .sets
            .iter()
            .map(|s| s.kind.label().to_string())
            .chain(["training set".to_string()]);
        self.nn = Some(NnShown {
            query,
            texture: texture(ctx, "images-nn", &grid.image),
            image: grid.image,
            rows: names.zip(grid.neighbours).collect(),
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
}

impl Mode for ImagesMode {
    fn logic(&mut self, _ctx: &egui::Context, _shown: bool) {
        self.poll();
    }

    fn side_panel(&mut self, ui: &mut Ui, shell: &mut Shell) {
        self.panel(ui, shell);
        // The explorer's status panel (with the notices) is hidden in this mode.
        if let Some(msg) = shell.recent_notice() {
            ui.label(egui::RichText::new(msg).weak());
        }
    }

    fn central(&mut self, ui: &mut Ui, _shell: &mut Shell) {
        crate::app::views::guide_line(ui, crate::app::views::Tab::Images.guide());
        self.view(ui);
    }

    fn on_file(
        &mut self,
        purpose: FilePurpose,
        path: PathBuf,
        shell: &mut Shell,
        _ctx: &egui::Context,
    ) {
        match purpose {
            FilePurpose::OpenUNet | FilePurpose::OpenUNetFolder => {
                self.settings.checkpoint = path.display().to_string();
                shell.notify("U-Net chosen: press “Sample ODE and SDE”");
            }
            FilePurpose::ExportNnGrid => shell.notify_export(self.export_grid(&path)),
            _ => {}
        }
    }

    /// The default export file name of the neighbour grid.
    fn export_name(&self) -> String {
        match &self.nn {
            Some(nn) => format!("collapse-nn-set{}-sample{}.png", nn.query.0, nn.query.1),
            None => "collapse-nn.png".into(),
        }
    }

    fn smoke_probe(&self) -> SmokeProbe {
        SmokeProbe {
            ready: self.result.is_some(),
            view: "Images".into(),
            points: self
                .result
                .as_ref()
                .map_or(0, |r| r.sets.iter().map(|s| s.images.len()).sum()),
            samplers: self.result.as_ref().map_or(0, |r| r.sets.len()),
            error: self.message.clone(),
            ..SmokeProbe::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::analysis::ImageSource;
    use crate::images::open::{load_unet, training_source};
    use crate::images::study::testing::tiny_study;

    /// The view opens on the ODE sample with the most neighbours; its grid has a row per set
    /// (ODE, SDE, training) of the query and k neighbours, and exports as that PNG.
    #[test]
    fn the_neighbour_grid_follows_the_selection_and_exports() {
        let dir = std::env::temp_dir().join(format!("ce-images-view-{}", std::process::id()));
        let s = tiny_study(&dir);
        let r = run_study(&s, &|_, _| {}, &|_| {}, &AtomicBool::new(false)).expect("study");
        let ode_counts = r.sets[0].counts.clone();
        let ctx = egui::Context::default();
        let mut view = ImagesMode {
            result: Some(Arc::new(r)),
            ..ImagesMode::default()
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

    /// The study's TID panel: its table splits TID into its two terms, and its switch draws
    /// them in the plot.
    #[test]
    fn the_tid_panel_splits_tid_and_draws_its_terms() {
        use egui_kittest::kittest::Queryable;
        let dir = std::env::temp_dir().join(format!("ce-images-tid-{}", std::process::id()));
        let s = tiny_study(&dir);
        let r = run_study(&s, &|_, _| {}, &|_| {}, &AtomicBool::new(false)).expect("study");
        assert!(
            r.sets
                .iter()
                .all(|s| s.tid.iter().all(|t| t.split().is_some()))
        );
        let view = ImagesMode {
            result: Some(Arc::new(r)),
            ..ImagesMode::default()
        };
        let mut h = egui_kittest::Harness::new_ui_state(
            |ui, view: &mut ImagesMode| {
                let r = view.result.clone().unwrap();
                view.tid_panel(ui, &r);
            },
            view,
        );
        h.run();
        assert!(h.query_by_label("TID from top / X(k+1)").is_some());
        assert!(!h.state().tid_terms);
        h.get_by_label("its two terms").click();
        h.run();
        assert!(h.state().tid_terms);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A diffusers directory chosen with "Open folder…" runs a study in the view: the model line
    /// names the architecture, and the ODE and SDE sets have the images asked for.
    #[test]
    fn a_diffusers_folder_opens_and_samples() {
        let ctx = egui::Context::default();
        let mut shell = Shell::new(&ctx, true);
        let mut view = ImagesMode::default();
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusers/ddpm");
        view.on_file(FilePurpose::OpenUNetFolder, dir.clone(), &mut shell, &ctx);
        assert_eq!(view.settings.checkpoint, dir.display().to_string());
        view.settings.data = "procedural".into();
        view.settings.data_n = Some(40);
        view.settings.n = 10;
        view.settings.tid_n = 10;
        (view.settings.ode_steps, view.settings.sde_steps) = (2, 2);
        view.start(&ctx);
        let started = Instant::now();
        while view.job.is_some() && started.elapsed().as_secs() < 120 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            view.poll();
        }
        assert_eq!(view.message, None);
        let r = view.result.as_ref().expect("a study result");
        assert!(r.model.contains("diffusers UNet2DModel"), "{}", r.model);
        assert_eq!(r.sets.len(), 2);
        assert!(r.sets.iter().all(|s| s.images.len() == 10));
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
