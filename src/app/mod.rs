//! The eframe app: configuration on the left, training status at the bottom, the views in the
//! centre. It owns the trainer and analysis threads and only ever drains their events.

use eframe::egui;
pub mod config;
pub mod images;
pub mod plot;
pub mod state;
pub mod views;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use egui::{Color32, RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints};

use self::config::{DATASETS, EXPERIMENTS, ExplorerConfig};
use self::state::ExplorerState;
pub use self::views::Tab;
use self::views::{ViewData, ViewSettings, sampler_label};
use crate::data::{DatasetSpec, GaussianMixture, Points};
use crate::device::DeviceChoice;
use crate::model::checkpoint::FORMAT_VERSION;
use crate::model::{Activation, Architecture, Checkpoint, CheckpointMeta, DataSource, MlpWeights};
use crate::train::{
    AnalysisCommand, AnalysisContext, AnalysisHandle, PublishSettings, TrainCommand, TrainConfig,
    TrainerHandle,
};

/// How the app is started (from the command line).
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Dataset to train first (default chessboard).
    pub dataset: Option<String>,
    /// Light theme instead of dark.
    pub light: bool,
    /// Smoke test: once samples are drawn, render this many more frames, check that the window
    /// is not blank, and exit (status 0 when it rendered, 1 otherwise).
    pub frames: Option<u64>,
    /// With `frames`: save the final frame as a PNG here.
    pub screenshot: Option<PathBuf>,
    /// With `frames`: give up (status 1) after this many seconds without samples.
    pub timeout: Duration,
    /// The tab to open.
    pub tab: Tab,
    /// Particles per sampler in the analysis (default: the config's).
    pub samples: Option<usize>,
    /// Start with training paused (the first snapshot is still analysed).
    pub paused: bool,
    /// Open this checkpoint directory (written by `train` or the app) instead of a fresh run.
    pub checkpoint: Option<PathBuf>,
    /// Threads for training (default: half the cores).
    pub train_threads: Option<usize>,
    /// Images view: the U-Net to open (default: the demo checkpoint). With the Images tab, the
    /// study starts at once and 2D training waits.
    pub unet: Option<PathBuf>,
    /// Images view: images per sampler.
    pub image_n: Option<usize>,
    /// Images view: steps of both samplers.
    pub image_steps: Option<usize>,
}

/// Opens the window and runs until it is closed. Returns the smoke test's verdict when
/// `frames` was given.
pub fn run(opts: AppOptions) -> Result<()> {
    let verdict = Arc::new(AtomicI32::new(-1));
    let v = verdict.clone();
    let native = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: egui::ViewportBuilder::default()
            .with_title("Collapse Explorer")
            .with_inner_size([1600.0, 1000.0]),
        ..Default::default()
    };
    let smoke = opts.frames.is_some();
    eframe::run_native(
        "Collapse Explorer",
        native,
        Box::new(move |cc| Ok(Box::new(ExplorerApp::new(cc, opts, v)?))),
    )
    .map_err(|e| anyhow::anyhow!("the window failed: {e}"))?;
    if smoke {
        match verdict.load(Ordering::SeqCst) {
            0 => Ok(()),
            1 => anyhow::bail!("smoke test: the window rendered nothing (blank frame)"),
            _ => anyhow::bail!("smoke test: no samples were drawn before the timeout"),
        }
    } else {
        Ok(())
    }
}

/// The smoke test's progress.
struct Smoke {
    frames: u64,
    after_samples: u64,
    last_frame: Option<Instant>,
    /// When the first samples were drawn, with the update count and iteration then.
    first_samples: Option<(Instant, u64, u64, u64)>,
    /// Milliseconds between frames once samples are shown.
    intervals: Vec<f64>,
    start: Instant,
    timeout: Duration,
    screenshot: Option<PathBuf>,
    requested: bool,
    result: Arc<Mutex<Option<bool>>>,
    verdict: Arc<AtomicI32>,
}

/// Where a PNG export's outcome arrives (file name or error) from the screenshot callback.
type ExportSlot = Arc<Mutex<Option<Result<String, String>>>>;

/// What a native file dialog was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialogPurpose {
    OpenCheckpoint,
    SaveCheckpoint,
    ExportPng,
    OpenUNet,
    ExportNnGrid,
}

/// A file dialog running on its own thread (so the UI keeps drawing while it is open) and the
/// slot its choice arrives in: `Some(None)` when it was closed without a choice.
struct PendingDialog {
    purpose: DialogPurpose,
    choice: Arc<Mutex<Option<Option<PathBuf>>>>,
}

/// The app.
pub struct ExplorerApp {
    config: ExplorerConfig,
    /// The configuration the running run was built from (to show what "Apply" would change).
    applied: ExplorerConfig,
    state: ExplorerState,
    views: ViewSettings,
    view_data: ViewData,
    trainer: TrainerHandle,
    analysis: AnalysisHandle,
    generation: u64,
    dark: bool,
    checkpoint_path: String,
    notice: Option<(String, Instant)>,
    smoke: Option<Smoke>,
    export: Option<ExportSlot>,
    dialog: Option<PendingDialog>,
    central_rect: egui::Rect,
    images: images::ImagesView,
}

/// Repaints at once (new view data from the analysis thread).
fn wake(ctx: &egui::Context) -> Box<dyn Fn() + Send + Sync> {
    let ctx = ctx.clone();
    Box::new(move || ctx.request_repaint())
}

/// How often status-only changes (iteration, loss, progress) repaint. A frame on software
/// Vulkan costs ~160 ms of CPU; repainting for every training event would keep one of two
/// cores drawing status text instead of computing the views.
const STATUS_FRAME: Duration = Duration::from_millis(250);

/// Repaints within [`STATUS_FRAME`] (training progress). Calls inside one window are
/// dropped: every `request_repaint_after` sets its own deadline, so a stream of them from the
/// trainer (every 50 ms) would keep frames back to back.
fn wake_soon(ctx: &egui::Context) -> Box<dyn Fn() + Send + Sync> {
    let ctx = ctx.clone();
    let last = Mutex::new(None::<Instant>);
    Box::new(move || {
        let mut last = last.lock().expect("wake_soon");
        if last.is_none_or(|t| t.elapsed() >= STATUS_FRAME) {
            *last = Some(Instant::now());
            ctx.request_repaint_after(STATUS_FRAME);
        }
    })
}

impl ExplorerApp {
    fn new(
        cc: &eframe::CreationContext<'_>,
        opts: AppOptions,
        verdict: Arc<AtomicI32>,
    ) -> Result<Self> {
        let rs = cc
            .wgpu_render_state
            .as_ref()
            .context("the wgpu renderer is not available")?;
        crate::render::install(rs);
        let dark = !opts.light;
        cc.egui_ctx.set_visuals(if dark {
            egui::Visuals::dark()
        } else {
            egui::Visuals::light()
        });
        let mut config = ExplorerConfig::default();
        if let Some(d) = &opts.dataset {
            config.select_dataset(d);
        }
        if let Some(n) = opts.samples {
            config.n_samples = n;
        }
        let data = Arc::new(config.training_set().map_err(anyhow::Error::msg)?);
        let train = config.train_config(&data).map_err(anyhow::Error::msg)?;
        let spec = config.dataset_spec().map_err(anyhow::Error::msg)?;
        let ctx = AnalysisContext::new(0, data.clone(), spec.mixture());
        let view_data = ViewData::new(data.clone(), ctx.bounds.clone(), 0);
        // Training gets half the cores; analysis and the (software) renderer keep the rest, so
        // views refresh while the model trains.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Snapshots by time (every 150 ms) rather than every 50 iterations: at the ~90 it/s that
        // training reaches beside the GUI, 50 iterations would be more than half a second.
        let publish = PublishSettings {
            train_threads: Some(opts.train_threads.unwrap_or((cores / 2).max(1))),
            snapshot_every: 1,
            ..PublishSettings::default()
        };
        let trainer = TrainerHandle::spawn(train, data, publish, wake_soon(&cc.egui_ctx));
        let analysis = AnalysisHandle::spawn(
            trainer.snapshots.clone(),
            ctx,
            config.analysis_settings(),
            wake(&cc.egui_ctx),
        );
        // Start training at once: the user sees collapse appear (unless the Images view opens,
        // whose sampling wants every core).
        let images_first = opts.tab == Tab::Images;
        let start = !opts.paused && opts.checkpoint.is_none() && !images_first;
        if start {
            trainer.send(TrainCommand::Start);
        }
        let state = ExplorerState {
            running: start,
            ..ExplorerState::default()
        };
        let smoke = opts.frames.map(|frames| Smoke {
            frames,
            after_samples: 0,
            last_frame: None,
            first_samples: None,
            intervals: Vec::new(),
            start: Instant::now(),
            timeout: opts.timeout,
            screenshot: opts.screenshot.clone(),
            requested: false,
            result: Arc::new(Mutex::new(None)),
            verdict,
        });
        let checkpoint = opts.checkpoint.clone();
        let mut app = Self {
            applied: config.clone(),
            config,
            state,
            views: ViewSettings {
                tab: opts.tab,
                ..ViewSettings::default()
            },
            view_data,
            trainer,
            analysis,
            generation: 0,
            dark,
            checkpoint_path: "checkpoints/run".into(),
            notice: None,
            smoke,
            export: None,
            dialog: None,
            central_rect: egui::Rect::NOTHING,
            images: images::ImagesView::default(),
        };
        if let Some(unet) = &opts.unet {
            app.images.settings.checkpoint = unet.display().to_string();
        }
        if let Some(n) = opts.image_n {
            app.images.settings.n = n;
        }
        if let Some(steps) = opts.image_steps {
            app.images.settings.ode_steps = steps;
            app.images.settings.sde_steps = steps;
        }
        if images_first {
            app.images.start(&cc.egui_ctx);
        }
        if let Some(path) = checkpoint {
            app.checkpoint_path = path.display().to_string();
            app.load_checkpoint();
        }
        Ok(app)
    }

    /// Restarts training and analysis with the panel's configuration.
    fn apply(&mut self) {
        let built = (|| -> Result<_, String> {
            let data = Arc::new(self.config.training_set()?);
            let train = self.config.train_config(&data)?;
            let spec = self.config.dataset_spec()?;
            Ok((data, train, spec.mixture()))
        })();
        match built {
            Ok((data, train, exact)) => self.restart(data, train, exact, None, true),
            Err(e) => self.state.message = Some(e),
        }
    }

    /// Starts a new run generation: trainer (optionally from weights at an iteration) and
    /// analysis; training starts at once when `start`.
    fn restart(
        &mut self,
        data: Arc<Points>,
        train: TrainConfig,
        exact: Option<GaussianMixture>,
        from: Option<(Vec<MlpWeights>, u64)>,
        start: bool,
    ) {
        self.generation += 1;
        let ctx = AnalysisContext::new(self.generation, data.clone(), exact);
        self.view_data = ViewData::new(data.clone(), ctx.bounds.clone(), self.generation);
        self.state.reset(self.generation);
        if let Some((_, iteration)) = &from {
            self.state.iteration = *iteration;
        }
        let train = Box::new(train);
        self.trainer.send(match from {
            Some((weights, iteration)) => TrainCommand::ResetFrom(train, data, weights, iteration),
            None => TrainCommand::Reset(train, data),
        });
        self.analysis.send(AnalysisCommand::Context(Box::new(ctx)));
        self.analysis.send(AnalysisCommand::Settings(Box::new(
            self.config.analysis_settings(),
        )));
        if start {
            self.trainer.send(TrainCommand::Start);
        }
        self.state.running = start;
        self.applied = self.config.clone();
    }

    /// Loads the checkpoint at the typed path: its data, architecture and weights; the panel
    /// shows its settings and training continues from its iteration.
    fn load_checkpoint(&mut self) {
        let path = PathBuf::from(&self.checkpoint_path);
        let loaded = (|| -> Result<_> {
            let ckpt = Checkpoint::load(&path)?;
            let data = match &ckpt.meta.data {
                DataSource::Synthetic { dataset, n, seed } => dataset.generate(*n, *seed),
                DataSource::File { path } => crate::data::read_points(path)
                    .with_context(|| format!("the checkpoint's data {}", path.display()))?,
            };
            Ok((ckpt, data))
        })();
        let (ckpt, data) = match loaded {
            Ok(x) => x,
            Err(e) => return self.notify(&format!("load failed: {e:#}")),
        };
        let meta = &ckpt.meta;
        let net = meta.net.clone();
        let c = &mut self.config;
        let mut exact = None;
        if let DataSource::Synthetic { dataset, n, seed } = &meta.data {
            match dataset {
                DatasetSpec::Mog { dim, .. } if *dim > 1 => {
                    c.dataset = "mog".into();
                    c.mog_dim = *dim;
                }
                other => c.dataset = other.name(),
            }
            (c.n_points, c.data_seed) = (*n, *seed);
            exact = dataset.mixture();
        }
        (c.arch, c.width, c.depth, c.activation) =
            (net.arch, net.mlp.width, net.mlp.depth, net.mlp.activation);
        c.process = net.process.name().to_string();
        c.t_split = net.t_split;
        c.seed = meta.seed;
        // Room to continue training past the checkpoint when the user presses Train.
        c.iterations = c.iterations.max(meta.iteration + 10_000);
        let data = Arc::new(data);
        let mut train = match self.config.train_config(&data) {
            Ok(t) => t,
            Err(e) => return self.notify(&format!("load failed: {e}")),
        };
        train.net = net;
        let iteration = meta.iteration;
        self.restart(data, train, exact, Some((ckpt.weights, iteration)), false);
        self.notify(&format!(
            "loaded {} (iteration {iteration}), paused: press Train to continue",
            path.display()
        ));
    }

    fn drain_events(&mut self) {
        let budget = Instant::now() + Duration::from_millis(4);
        for e in self.trainer.drain(256) {
            self.state.apply_train(e);
        }
        while Instant::now() < budget {
            let batch = self.analysis.drain(8);
            if batch.is_empty() {
                break;
            }
            for e in batch {
                self.state.apply_analysis(e);
            }
        }
    }

    fn save_checkpoint(&mut self) {
        let Some(snap) = self.trainer.snapshots.peek() else {
            self.notify("no weights yet");
            return;
        };
        let spec = match self.applied.dataset_spec() {
            Ok(s) => s,
            Err(e) => return self.notify(&e),
        };
        let ckpt = Checkpoint {
            meta: CheckpointMeta {
                format_version: FORMAT_VERSION,
                net: snap.net.clone(),
                data: DataSource::Synthetic {
                    dataset: spec,
                    n: self.applied.n_points,
                    seed: self.applied.data_seed,
                },
                iteration: snap.iteration,
                seed: self.applied.seed,
                loss: self.state.losses.last().map(|l| l.loss),
                training: serde_json::json!({
                    "lr": self.applied.lr,
                    "batch": self.applied.batch,
                    "device": self.state.device,
                }),
            },
            weights: snap.weights.clone(),
        };
        let path = PathBuf::from(&self.checkpoint_path);
        match ckpt.save(&path) {
            Ok(()) => self.notify(&format!(
                "saved iteration {} to {}",
                snap.iteration,
                path.display()
            )),
            Err(e) => self.notify(&format!("save failed: {e}")),
        }
    }

    fn notify(&mut self, msg: &str) {
        self.notice = Some((msg.to_string(), Instant::now()));
    }

    /// The notice, while it is recent (6 s).
    fn recent_notice(&self) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, at)| at.elapsed() < Duration::from_secs(6))
            .map(|(msg, _)| msg.as_str())
    }

    /// Says how a PNG export went (the file's name or the error).
    fn notify_export(&mut self, outcome: Result<String, String>) {
        match outcome {
            Ok(name) => self.notify(&format!("exported {name}")),
            Err(e) => self.notify(&format!("export failed: {e}")),
        }
    }

    fn config_panel(&mut self, ui: &mut Ui) {
        ui.heading("Collapse Explorer");
        ui.label(
            RichText::new("ODE samplers collapse where SDE samplers do not.")
                .small()
                .weak(),
        );
        ui.separator();
        let mut picked = None;
        egui::ComboBox::from_id_salt("experiment")
            .selected_text("Paper experiment…")
            .width(230.0)
            .show_ui(ui, |ui| {
                for (i, e) in EXPERIMENTS.iter().enumerate() {
                    if ui
                        .selectable_label(false, format!("{}: {}", e.figure, e.label))
                        .clicked()
                    {
                        picked = Some(i);
                    }
                }
            });
        if let Some(i) = picked {
            let e = EXPERIMENTS[i];
            let mut config = ExplorerConfig::default();
            (e.apply)(&mut config);
            self.config = config;
            self.views.tab = e.tab;
            self.apply();
            self.notify(&format!("{}: {}", e.figure, e.label));
        }
        let c = &mut self.config;
        egui::CollapsingHeader::new("Data")
            .default_open(true)
            .show(ui, |ui| {
                let mut chosen = c.dataset.clone();
                egui::ComboBox::from_label("dataset")
                    .selected_text(&chosen)
                    .show_ui(ui, |ui| {
                        for d in DATASETS {
                            ui.selectable_value(&mut chosen, d.to_string(), d);
                        }
                    });
                if chosen != c.dataset {
                    c.select_dataset(&chosen);
                }
                if c.dataset == "mog" {
                    ui.add(egui::Slider::new(&mut c.mog_dim, 2..=64).text("dimension d"));
                }
                ui.add(
                    egui::Slider::new(&mut c.n_points, 1000..=500_000)
                        .logarithmic(true)
                        .text("points"),
                );
                ui.add(egui::DragValue::new(&mut c.data_seed).prefix("data seed "));
                egui::ComboBox::from_label("process")
                    .selected_text(&c.process)
                    .show_ui(ui, |ui| {
                        for p in ["vp", "sub-vp", "linear"] {
                            ui.selectable_value(&mut c.process, p.to_string(), p);
                        }
                    });
            });
        egui::CollapsingHeader::new("Model")
            .default_open(true)
            .show(ui, |ui| {
                egui::ComboBox::from_label("architecture")
                    .selected_text(c.arch.name())
                    .show_ui(ui, |ui| {
                        for a in [
                            Architecture::Mlp,
                            Architecture::Skip,
                            Architecture::SkipFixed,
                            Architecture::TwoModel,
                            Architecture::HighNoiseOnly,
                        ] {
                            ui.selectable_value(&mut c.arch, a, a.name());
                        }
                    });
                ui.horizontal(|ui| {
                    if ui.button("2D preset").clicked() {
                        (c.width, c.depth, c.activation) = (100, 3, Activation::Tanh);
                    }
                    if ui.button("MoG preset").clicked() {
                        (c.width, c.depth, c.activation) = (1000, 2, Activation::Tanh);
                    }
                });
                ui.add(
                    egui::Slider::new(&mut c.width, 8..=2000)
                        .logarithmic(true)
                        .text("width"),
                );
                ui.add(egui::Slider::new(&mut c.depth, 1..=6).text("depth"));
                egui::ComboBox::from_label("activation")
                    .selected_text(format!("{:?}", c.activation))
                    .show_ui(ui, |ui| {
                        for a in [Activation::Tanh, Activation::Relu, Activation::Silu] {
                            ui.selectable_value(&mut c.activation, a, format!("{a:?}"));
                        }
                    });
                if matches!(c.arch, Architecture::TwoModel | Architecture::HighNoiseOnly) {
                    ui.add(egui::Slider::new(&mut c.t_split, 0.05..=0.95).text("t_split"));
                }
            });
        egui::CollapsingHeader::new("Training")
            .default_open(true)
            .show(ui, |ui| {
                let lr_before = c.lr;
                ui.add(
                    egui::Slider::new(&mut c.lr, 1e-5..=5e-2)
                        .logarithmic(true)
                        .text("learning rate"),
                );
                if c.lr != lr_before {
                    // The learning rate changes live, without a restart.
                    self.trainer.send(TrainCommand::SetLr(c.lr));
                    self.applied.lr = c.lr;
                }
                ui.add(
                    egui::Slider::new(&mut c.batch, 64..=8192)
                        .logarithmic(true)
                        .text("batch"),
                );
                ui.add(
                    egui::Slider::new(&mut c.iterations, 100..=100_000)
                        .logarithmic(true)
                        .text("iterations"),
                );
                ui.add(egui::DragValue::new(&mut c.seed).prefix("seed "));
                egui::ComboBox::from_label("device")
                    .selected_text(format!("{:?}", c.device))
                    .show_ui(ui, |ui| {
                        for d in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Gpu] {
                            ui.selectable_value(&mut c.device, d, format!("{d:?}"));
                        }
                    });
            });
        egui::CollapsingHeader::new("Samplers and analysis")
            .default_open(true)
            .show(ui, |ui| {
                for s in &mut c.samplers {
                    ui.horizontal(|ui| {
                        ui.checkbox(&mut s.enabled, "");
                        ui.colored_label(views::sampler_color(s.kind), sampler_label(s.kind));
                        ui.add(
                            egui::DragValue::new(&mut s.steps)
                                .range(2..=2000)
                                .suffix(" steps"),
                        );
                    });
                }
                ui.add(
                    egui::Slider::new(&mut c.n_samples, 500..=200_000)
                        .logarithmic(true)
                        .text("samples"),
                );
                ui.add(egui::Slider::new(&mut c.n_paths, 10..=1000).text("paths"));
                ui.horizontal(|ui| {
                    ui.label("ε from");
                    ui.add(
                        egui::DragValue::new(&mut c.eps_min)
                            .range(0.001..=1.0)
                            .speed(0.005),
                    );
                    ui.label("to");
                    ui.add(
                        egui::DragValue::new(&mut c.eps_max)
                            .range(0.01..=5.0)
                            .speed(0.01),
                    );
                });
                ui.add(egui::DragValue::new(&mut c.sample_seed).prefix("noise seed "));
            });
        // Analysis settings apply live; the rest needs a restart.
        let analysis_now = self.config.analysis_settings();
        if analysis_now != self.applied.analysis_settings() {
            self.analysis
                .send(AnalysisCommand::Settings(Box::new(analysis_now)));
            self.state.keep_samplers(&self.config.enabled_samplers());
            self.applied.samplers = self.config.samplers.clone();
            self.applied.n_samples = self.config.n_samples;
            self.applied.n_paths = self.config.n_paths;
            self.applied.eps_min = self.config.eps_min;
            self.applied.eps_max = self.config.eps_max;
            self.applied.sample_seed = self.config.sample_seed;
        }
        ui.separator();
        let dirty = self.config != self.applied;
        ui.horizontal(|ui| {
            let label = if dirty {
                "Apply and restart"
            } else {
                "Restart"
            };
            if ui.button(label).clicked() {
                self.apply();
            }
            if self.state.running {
                if ui.button("Pause").clicked() {
                    self.trainer.send(TrainCommand::Pause);
                    self.state.running = false;
                }
            } else if ui.button("Train").clicked() {
                self.trainer.send(TrainCommand::Start);
                self.state.running = true;
            }
            if ui
                .add_enabled(!self.state.running, egui::Button::new("Step"))
                .clicked()
            {
                self.trainer.send(TrainCommand::StepOnce);
            }
        });
        if dirty {
            ui.label(RichText::new("Settings changed: apply to restart training.").small());
        }
        ui.separator();
        ui.label("Checkpoint directory");
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.checkpoint_path).desired_width(150.0));
            if ui.button("Save").clicked() {
                self.save_checkpoint();
            }
            if ui.button("Load").clicked() {
                self.load_checkpoint();
            }
        });
        ui.horizontal(|ui| {
            let idle = self.dialog.is_none();
            if ui
                .add_enabled(idle, egui::Button::new("Open…"))
                .on_hover_text("Choose a checkpoint directory and load it")
                .clicked()
            {
                self.open_dialog(DialogPurpose::OpenCheckpoint, ui.ctx());
            }
            if ui
                .add_enabled(idle, egui::Button::new("Save as…"))
                .on_hover_text("Choose where to save the current weights")
                .clicked()
            {
                self.open_dialog(DialogPurpose::SaveCheckpoint, ui.ctx());
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Export view as PNG")
                .on_hover_text("Writes collapse-<view>-it<N>.png in the working directory")
                .clicked()
            {
                self.request_export(ui.ctx(), None);
            }
            if ui
                .add_enabled(self.dialog.is_none(), egui::Button::new("…"))
                .on_hover_text("Export the view as a PNG file you choose")
                .clicked()
            {
                self.open_dialog(DialogPurpose::ExportPng, ui.ctx());
            }
        });
        ui.horizontal(|ui| {
            let theme = if self.dark {
                "Light theme"
            } else {
                "Dark theme"
            };
            if ui.button(theme).clicked() {
                self.dark = !self.dark;
                ui.ctx().set_visuals(if self.dark {
                    egui::Visuals::dark()
                } else {
                    egui::Visuals::light()
                });
            }
        });
    }

    /// The left panel in Images mode, and what its buttons ask of the app.
    fn images_panel(&mut self, ui: &mut Ui) {
        let mut actions = Vec::new();
        self.images.panel(ui, &mut actions);
        // The status panel (with the notices) is hidden in Images mode.
        if let Some(msg) = self.recent_notice() {
            ui.label(RichText::new(msg).weak());
        }
        for a in actions {
            match a {
                images::ImagesAction::PickCheckpoint => {
                    self.open_dialog(DialogPurpose::OpenUNet, ui.ctx())
                }
                images::ImagesAction::ExportGrid(true) => {
                    self.open_dialog(DialogPurpose::ExportNnGrid, ui.ctx())
                }
                images::ImagesAction::ExportGrid(false) => {
                    let path = PathBuf::from(self.images.export_name());
                    self.notify_export(self.images.export_grid(&path));
                }
                images::ImagesAction::Started => {
                    if self.state.running {
                        self.trainer.send(TrainCommand::Pause);
                        self.state.running = false;
                        self.notify("2D training paused while the images are sampled");
                    }
                }
            }
        }
    }

    /// Opens a native file dialog (rfd) on its own thread; its choice is applied in
    /// [`Self::poll_dialog`]. Where no dialog service exists (no xdg-desktop-portal, as under
    /// a bare Xvfb) it returns no choice and the typed path still works.
    fn open_dialog(&mut self, purpose: DialogPurpose, ctx: &egui::Context) {
        let choice = Arc::new(Mutex::new(None));
        let out = choice.clone();
        let repaint = ctx.clone();
        let current = PathBuf::from(&self.checkpoint_path);
        let start_dir = current
            .parent()
            .filter(|p| p.is_dir())
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok());
        let png_name = self.export_name();
        let nn_name = self.images.export_name();
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let mut d = rfd::FileDialog::new();
                if let Some(dir) = start_dir {
                    d = d.set_directory(dir);
                }
                let picked = match purpose {
                    DialogPurpose::OpenCheckpoint => {
                        d.set_title("Open a checkpoint directory").pick_folder()
                    }
                    DialogPurpose::SaveCheckpoint => d
                        .set_title("Save the checkpoint as (a directory)")
                        .set_file_name("run")
                        .save_file(),
                    DialogPurpose::ExportPng => d
                        .set_title("Export the view as PNG")
                        .add_filter("PNG image", &["png"])
                        .set_file_name(png_name)
                        .save_file(),
                    DialogPurpose::OpenUNet => d
                        .set_title("Open a U-Net (a train-unet file, or a score_sde .pth)")
                        .add_filter("U-Net weights", &["safetensors", "pth", "pt", "ckpt"])
                        .pick_file(),
                    DialogPurpose::ExportNnGrid => d
                        .set_title("Export the neighbour grid as PNG")
                        .add_filter("PNG image", &["png"])
                        .set_file_name(nn_name)
                        .save_file(),
                };
                *out.lock().expect("dialog slot") = Some(picked);
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => self.dialog = Some(PendingDialog { purpose, choice }),
            Err(e) => self.notify(&format!("could not open a file dialog: {e}")),
        }
    }

    /// Applies a file dialog's choice once it arrives.
    fn poll_dialog(&mut self, ctx: &egui::Context) {
        let Some(pending) = &self.dialog else {
            return;
        };
        let Some(choice) = pending.choice.lock().expect("dialog slot").take() else {
            return;
        };
        let purpose = pending.purpose;
        self.dialog = None;
        let Some(path) = choice else {
            self.notify(
                "no file chosen (if no dialog appeared, no xdg-desktop-portal is running: \
                 type the path instead)",
            );
            return;
        };
        match purpose {
            DialogPurpose::OpenCheckpoint => {
                self.checkpoint_path = path.display().to_string();
                self.load_checkpoint();
            }
            DialogPurpose::SaveCheckpoint => {
                self.checkpoint_path = path.display().to_string();
                self.save_checkpoint();
            }
            DialogPurpose::ExportPng => self.request_export(ctx, Some(path)),
            DialogPurpose::OpenUNet => {
                self.images.settings.checkpoint = path.display().to_string();
                self.notify("U-Net chosen: press “Sample ODE and SDE”");
            }
            DialogPurpose::ExportNnGrid => self.notify_export(self.images.export_grid(&path)),
        }
    }

    /// The default export file name: `collapse-<view>-it<N>.png`.
    fn export_name(&self) -> String {
        let tab = self.views.tab;
        format!(
            "collapse-{}-it{}.png",
            Tab::ALL
                .iter()
                .find(|(t, _)| *t == tab)
                .map_or("view", |(_, l)| l)
                .to_lowercase()
                .replace(' ', "-"),
            self.state.iteration
        )
    }

    /// Exports the central view as PNG at `path` (default: [`Self::export_name`] in the
    /// working directory).
    fn request_export(&mut self, ctx: &egui::Context, path: Option<PathBuf>) {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let rect = self.central_rect;
        let ppp = ctx.pixels_per_point();
        let path = path.unwrap_or_else(|| PathBuf::from(self.export_name()));
        let name = path.display().to_string();
        let repaint = ctx.clone();
        ctx.request_screenshot(move |image| {
            let region = image.region(&rect, Some(ppp));
            let r = write_png(&path, &region)
                .map(|()| name.clone())
                .map_err(|e| e.to_string());
            *out.lock().expect("export slot") = Some(r);
            repaint.request_repaint();
        });
        self.export = Some(slot);
    }

    fn status_panel(&mut self, ui: &mut Ui) {
        let s = &self.state;
        ui.horizontal(|ui| {
            let status = if s.running {
                RichText::new("training").color(Color32::from_rgb(0x00, 0x9E, 0x73))
            } else if s.finished {
                RichText::new("finished")
            } else {
                RichText::new("paused")
            };
            ui.label(status);
            ui.label(format!(
                "iteration {} / {}",
                s.iteration, self.applied.iterations
            ));
            ui.label(format!("{:.0} it/s", s.iters_per_sec));
            if let Some(l) = s.losses.last() {
                ui.label(format!("loss {:.4}", l.loss));
            }
            ui.label(
                RichText::new(format!(
                    "{}{}",
                    s.device,
                    if s.fast_path { ", fused MLP path" } else { "" }
                ))
                .weak(),
            );
            ui.separator();
            match (&s.analysis_progress, s.staleness()) {
                (Some((stage, f)), _) => {
                    ui.add(
                        egui::ProgressBar::new(*f)
                            .desired_width(160.0)
                            .text(stage.as_str()),
                    );
                }
                (None, _) => {
                    if let Some(secs) = s.last_pass_seconds {
                        ui.label(RichText::new(format!("analysis pass {secs:.2} s")).weak());
                    }
                }
            }
            if let (Some(lag), Some(shown)) =
                (s.staleness(), s.samples.iter().map(|r| r.iteration).min())
            {
                let text = format!("views from iteration {shown}");
                if lag > 0 && s.running {
                    ui.label(RichText::new(format!("{text} ({lag} behind)")).weak());
                } else {
                    ui.label(RichText::new(text).weak());
                }
            }
        });
        if let Some(msg) = self.state.message.clone() {
            ui.horizontal(|ui| {
                ui.colored_label(Color32::from_rgb(0xD5, 0x5E, 0x00), msg.as_str());
                if ui.small_button("dismiss").clicked() {
                    self.state.message = None;
                }
            });
        }
        if let Some(msg) = self.recent_notice() {
            ui.label(msg);
        }
        let losses: Vec<[f64; 2]> = self
            .state
            .losses
            .iter()
            .map(|l| [l.iteration as f64, l.loss.max(1e-12).log10()])
            .collect();
        Plot::new("loss")
            .height(ui.available_height().max(60.0))
            .x_axis_label("iteration")
            .y_axis_label("log₁₀ loss")
            .allow_scroll(false)
            .show(ui, |p| {
                p.line(
                    Line::new("training loss", PlotPoints::from(losses))
                        .color(Color32::from_gray(190)),
                );
            });
    }

    fn smoke_step(&mut self, ctx: &egui::Context) {
        let Some(sm) = self.smoke.as_mut() else {
            return;
        };
        ctx.request_repaint();
        let now = Instant::now();
        let ready = if self.views.tab == Tab::Images {
            self.images.result.is_some()
        } else {
            !self.state.samples.is_empty()
        };
        if ready {
            if sm.after_samples == 0 {
                sm.first_samples = Some((
                    now,
                    self.state.sample_updates,
                    self.state.field_updates,
                    self.state.iteration,
                ));
            }
            sm.after_samples += 1;
            if let Some(prev) = sm.last_frame {
                sm.intervals.push((now - prev).as_secs_f64() * 1e3);
            }
            sm.last_frame = Some(now);
        }
        let done = *sm.result.lock().expect("smoke result");
        if let Some(ok) = done
            && sm.verdict.swap(if ok { 0 } else { 1 }, Ordering::SeqCst) < 0
        {
            let points: usize = self.state.samples.iter().map(|r| r.samples.n).sum();
            if let Some((median, p95)) = median_p95(&mut sm.intervals) {
                eprintln!(
                    "frame times ({} frames after the first samples, {} tab, {points} points \
                     drawn): median {median:.1} ms, p95 {p95:.1} ms",
                    sm.intervals.len(),
                    Tab::ALL
                        .iter()
                        .find(|(t, _)| *t == self.views.tab)
                        .map_or("?", |(_, l)| l),
                );
            }
            if let Some((t0, updates0, fields0, it0)) = sm.first_samples {
                let secs = t0.elapsed().as_secs_f64().max(1e-9);
                let updates = self.state.sample_updates - updates0;
                let fields = self.state.field_updates - fields0;
                let samplers = self.state.samples.len().max(1) as f64;
                eprintln!(
                    "refresh over {secs:.1} s: {updates} sample-set updates ({:.2} per sampler \
                     per second), {fields} field/metrics updates ({:.2} per second), {:.0} \
                     training it/s, last full analysis pass {}",
                    updates as f64 / samplers / secs,
                    fields as f64 / secs,
                    (self.state.iteration - it0) as f64 / secs,
                    self.state
                        .last_pass_seconds
                        .map_or("-".into(), |s| format!("{s:.2} s")),
                );
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if sm.start.elapsed() > sm.timeout {
            if let Some(m) = self.images.message() {
                eprintln!("images view: {m}");
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if sm.after_samples >= sm.frames && !sm.requested {
            sm.requested = true;
            let result = sm.result.clone();
            let path = sm.screenshot.clone();
            let repaint = ctx.clone();
            ctx.request_screenshot(move |image| {
                let ok = !is_blank(&image);
                if let Some(p) = path
                    && let Err(e) = write_png(&p, &image)
                {
                    eprintln!("smoke test: could not write {}: {e}", p.display());
                }
                *result.lock().expect("smoke result") = Some(ok);
                repaint.request_repaint();
            });
        }
    }
}

/// Median and 95th percentile of `v` (sorted in place); `None` when empty.
fn median_p95(v: &mut [f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Some((at(0.5), at(0.95)))
}

/// True when an image is (nearly) one colour: nothing was drawn.
pub fn is_blank(image: &egui::ColorImage) -> bool {
    let mut seen = std::collections::HashSet::new();
    for p in image.pixels.iter().step_by(7) {
        seen.insert(p.to_array());
        if seen.len() > 64 {
            return false;
        }
    }
    true
}

/// Writes an egui image as an RGBA PNG.
pub fn write_png(path: &std::path::Path, image: &egui::ColorImage) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(
        std::io::BufWriter::new(file),
        image.size[0] as u32,
        image.size[1] as u32,
    );
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    let bytes: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|c| c.to_srgba_unmultiplied())
        .collect();
    w.write_image_data(&bytes)?;
    Ok(())
}

impl eframe::App for ExplorerApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain_events();
        let exported = self
            .export
            .as_ref()
            .and_then(|slot| slot.lock().expect("export slot").take());
        if let Some(r) = exported {
            self.export = None;
            self.notify_export(r);
        }
        self.poll_dialog(ctx);
        self.images.poll();
        // The field and see-saw views follow training at ~6 refreshes/s when shown; otherwise
        // the analysis spends its time on the samplers.
        let live_field = matches!(self.views.tab, Tab::Velocity | Tab::SeeSaw);
        self.analysis.set_quick_interval(if live_field {
            Duration::from_millis(150)
        } else {
            crate::train::analysis::DEFAULT_QUICK_INTERVAL
        });
        self.smoke_step(ctx);
        if self.state.running || self.state.analysis_progress.is_some() {
            // Keep the status line moving even between events.
            ctx.request_repaint_after(STATUS_FRAME);
        }
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        egui::Panel::left("config")
            .default_size(300.0)
            .resizable(true)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if self.views.tab == Tab::Images {
                        self.images_panel(ui);
                    } else {
                        self.config_panel(ui);
                    }
                });
            });
        if self.views.tab != Tab::Images {
            egui::Panel::bottom("status")
                .default_size(170.0)
                .resizable(true)
                .show(ui, |ui| self.status_panel(ui));
        }
        egui::CentralPanel::default_margins().show(ui, |ui| {
            ui.horizontal(|ui| {
                for (tab, label) in Tab::ALL {
                    ui.selectable_value(&mut self.views.tab, tab, label);
                }
            });
            ui.separator();
            self.central_rect = ui.available_rect_before_wrap();
            self.views.eps_marked = self.views.eps_marked.max(1e-3);
            if self.views.tab == Tab::Images {
                self.images.view(ui);
                return;
            }
            let (st, vd, vs) = (&self.state, &self.view_data, &mut self.views);
            match vs.tab {
                Tab::Samples => views::samples_view(ui, st, vd, vs),
                Tab::Trajectories => views::trajectories_view(ui, st, vd, vs),
                Tab::Velocity => views::velocity_view(ui, st, vd, vs),
                Tab::Density => views::density_view(ui, st, vs),
                Tab::Tid => views::tid_view(ui, st, vs),
                Tab::SeeSaw => views::seesaw_view(ui, st),
                Tab::Images => {}
            }
            vs.cache.end_frame();
        });
    }
}
