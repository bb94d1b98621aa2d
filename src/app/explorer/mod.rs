//! The 2D explorer mode: a score model trains live on a 2D/1D dataset (trainer thread) while
//! the analysis thread samples it and the views show collapse. Its left panel sets the run
//! ([`panel`]), its bottom panel shows training ([`status`]), the centre one of the views.

mod panel;
mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use eframe::egui;
use egui::Ui;

use super::config::{EXPERIMENTS, Experiment, ExplorerConfig};
use super::shell::{FilePurpose, Shell};
use super::smoke::{self, SmokeProbe};
use super::state::ExplorerState;
use super::views::{self, Tab, ViewData, ViewSettings};
use super::{AppOptions, Mode};
use crate::data::{GaussianMixture, Points};
use crate::model::{Checkpoint, MlpWeights};
use crate::train::{
    AnalysisCommand, AnalysisContext, AnalysisHandle, AnalysisSettings, Generation, LossHistory,
    PublishSettings, TrainCommand, TrainConfig, TrainerHandle, training_set,
};

/// How often status-only changes (iteration, loss, progress) repaint. A frame on software
/// Vulkan costs ~160 ms of CPU; repainting for every training event would keep one of two
/// cores drawing status text instead of computing the views.
pub const STATUS_FRAME: Duration = Duration::from_millis(250);

/// Repaints at once (new view data from the analysis thread).
fn wake(ctx: &egui::Context) -> Box<dyn Fn() + Send + Sync> {
    let ctx = ctx.clone();
    Box::new(move || ctx.request_repaint())
}

/// Repaints within [`STATUS_FRAME`] (training progress). Calls inside one window are
/// dropped: every `request_repaint_after` sets its own deadline, so a stream of them from the
/// trainer (every 50 ms) would keep frames back to back.
fn wake_soon(ctx: &egui::Context) -> Box<dyn Fn() + Send + Sync> {
    let ctx = ctx.clone();
    let last = std::sync::Mutex::new(None::<Instant>);
    Box::new(move || {
        let mut last = crate::sync::lock(&last);
        if last.is_none_or(|t| t.elapsed() >= STATUS_FRAME) {
            *last = Some(Instant::now());
            ctx.request_repaint_after(STATUS_FRAME);
        }
    })
}

/// The 2D explorer's state: the panel's configuration, the running threads and what they
/// reported.
pub struct ExplorerMode {
    config: ExplorerConfig,
    /// The configuration the running run was built from (to show what "Apply" would change).
    applied: ExplorerConfig,
    /// The analysis settings last sent to the analysis thread.
    sent: AnalysisSettings,
    state: ExplorerState,
    views: ViewSettings,
    view_data: ViewData,
    trainer: TrainerHandle,
    analysis: AnalysisHandle,
    generation: u64,
    checkpoint_path: String,
    /// The point file typed in the Data section.
    data_path: String,
    /// The Draw view's drawing.
    pub draw: crate::app::draw::DrawTool,
    /// With the smoke test: the headless training rate on the app's trainer threads.
    pub headless_rate: Option<f64>,
    /// The paper experiment last picked, with the settings it made (its guide line is shown
    /// while they stand).
    experiment: Option<(Experiment, ExplorerConfig)>,
}

impl ExplorerMode {
    /// Starts the trainer and analysis threads on the options' dataset (training at once unless
    /// `start` is false) and opens the options' checkpoint, if any.
    pub fn new(
        ctx: &egui::Context,
        opts: &AppOptions,
        start: bool,
        shell: &mut Shell,
    ) -> Result<Self> {
        let mut config = ExplorerConfig::default();
        if let Some(d) = opts.dataset {
            config.select_dataset(d);
        }
        let experiment = opts.experiment.and_then(|i| EXPERIMENTS.get(i));
        if let Some(e) = experiment {
            config = ExplorerConfig::default();
            (e.apply)(&mut config);
        }
        if let Some(n) = opts.samples {
            config.n_samples = n;
        }
        let recipe = config.recipe()?;
        let data = Arc::new(recipe.training_set()?);
        let train = recipe.train_config(&data);
        let exact = config.dataset_spec()?.mixture();
        let actx = AnalysisContext::new(0, data.clone(), exact);
        let view_data = ViewData::new(data.clone(), actx.bounds.clone(), 0);
        // Training gets half the cores; analysis and the (software) renderer keep the rest, so
        // views refresh while the model trains.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = opts.train_threads.unwrap_or((cores / 2).max(1));
        // The smoke test compares the app's training rate with this run's alone, measured
        // before any thread of the app starts.
        let headless_rate = (opts.frames.is_some() && start && opts.checkpoint.is_none())
            .then(|| smoke::headless_rate(&train, &data, threads, 2.5))
            .flatten();
        // Snapshots by time (every 150 ms) rather than every 50 iterations: at the ~90 it/s that
        // training reaches beside the GUI, 50 iterations would be more than half a second.
        let publish = PublishSettings {
            train_threads: Some(threads),
            snapshot_every: 1,
            ..PublishSettings::default()
        };
        let trainer = TrainerHandle::spawn(train, data, publish, wake_soon(ctx));
        let sent = config.analysis_settings();
        let analysis =
            AnalysisHandle::spawn(trainer.snapshots.clone(), actx, sent.clone(), wake(ctx));
        let start = start && opts.checkpoint.is_none();
        if start {
            trainer.send(TrainCommand::Start);
        }
        let mut views = ViewSettings {
            tab: match opts.tab {
                Tab::Images => Tab::default(),
                tab => tab,
            },
            ..ViewSettings::default()
        };
        if let Some(e) = experiment {
            views.show_experiment(e);
        }
        let mut mode = Self {
            experiment: experiment.map(|e| (*e, config.clone())),
            applied: config.clone(),
            sent,
            config,
            state: ExplorerState {
                running: start,
                ..ExplorerState::default()
            },
            views,
            view_data,
            trainer,
            analysis,
            generation: 0,
            checkpoint_path: "checkpoints/run".into(),
            data_path: String::new(),
            draw: crate::app::draw::DrawTool::default(),
            headless_rate,
        };
        if let Some(path) = &opts.checkpoint {
            mode.checkpoint_path = path.display().to_string();
            mode.load_checkpoint(shell);
        } else if let Some(path) = &opts.data {
            mode.data_path = path.display().to_string();
            match mode.open_data_file(path) {
                Ok(said) => shell.notify(&said),
                Err(e) => shell.notify(&e),
            }
        }
        Ok(mode)
    }

    /// The view shown.
    pub fn tab(&self) -> Tab {
        self.views.tab
    }

    /// Shows `tab` (one of the explorer's views).
    pub fn show_tab(&mut self, tab: Tab) {
        self.views.tab = tab;
    }

    /// What the analysis thread computes: the panel's settings, with the coordinate the views
    /// plot (the density evolution's, for data of more than two dimensions).
    fn analysis_settings(&self) -> AnalysisSettings {
        AnalysisSettings {
            density_coord: self.views.time_coord(self.view_data.data.d),
            ..self.config.analysis_settings()
        }
    }

    /// Restarts training and analysis with the panel's configuration.
    fn apply(&mut self) {
        let built = (|| -> Result<_> {
            let recipe = self.config.recipe()?;
            let data = Arc::new(recipe.training_set()?);
            let train = recipe.train_config(&data);
            // An objective the process or architecture cannot carry: said here, and the
            // current run goes on.
            train
                .net
                .check()
                .map_err(|e| anyhow::anyhow!("{e}; the current run goes on"))?;
            Ok((data, train, self.config.exact_mixture()?))
        })();
        match built {
            Ok((data, train, exact)) => self.restart(data, train, exact, None, true),
            Err(e) => self.state.message = Some(format!("{e:#}")),
        }
    }

    /// Trains on the point file at `path` (`.npy` or CSV, any dimension) or on a picture (PNG
    /// or JPEG, traced into the panel's number of points from its data seed), from scratch and
    /// seeded as the panel says. A file that cannot be read leaves the current run as it is;
    /// the error, as the CLI words it, comes back.
    pub fn open_data_file(&mut self, path: &std::path::Path) -> Result<String, String> {
        let source = crate::model::DataSource::user_file(
            path.to_path_buf(),
            self.config.n_points,
            self.config.data_seed,
        );
        let points = crate::train::training_set(&source)
            .map_err(|e| format!("could not open the data: {e}; the current run goes on"))?;
        if points.n < 2 {
            return Err(format!(
                "{} holds {} point(s): a training set needs at least 2; the current run goes on",
                path.display(),
                points.n
            ));
        }
        let mut config = self.config.clone();
        config.select_data_file(path.to_path_buf(), points.d);
        let recipe = config.recipe().map_err(|e| e.to_string())?;
        let data = Arc::new(points);
        let train = recipe.train_config(&data);
        self.config = config;
        let said = format!(
            "training on {}: {} points{} in {} dimension{}",
            path.display(),
            data.n,
            if crate::data::picture::is_picture(path) {
                " traced from the picture"
            } else {
                ""
            },
            data.d,
            if data.d == 1 { "" } else { "s" }
        );
        self.restart(data, train, None, None, true);
        Ok(said)
    }

    /// Saves the drawing (where the Draw view says, else the next free
    /// `drawings/drawing-NNN.npy`) and trains on that file.
    pub fn train_on_drawing(&mut self) -> Result<String, String> {
        if self.draw.points.len() < 2 {
            return Err("draw at least 2 points first".into());
        }
        let path = self.draw.target_path(std::path::Path::new("."));
        self.draw
            .save(&path)
            .map_err(|e| format!("could not save the drawing to {}: {e}", path.display()))?;
        self.data_path = path.display().to_string();
        self.open_data_file(&path)
    }

    /// Restarts training, at once, on the synthetic dataset `d` (with its paper settings).
    pub fn train_dataset(&mut self, d: crate::data::DatasetKind) {
        self.config.data_file = None;
        self.config.select_dataset(d);
        self.apply();
    }

    /// Goes back from a point file to the panel's synthetic dataset.
    pub fn close_data_file(&mut self) {
        self.config.data_file = None;
        self.config.select_dataset(self.config.dataset);
        self.apply();
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
        let generation = self.generation + 1;
        let resumed = from.as_ref().map(|(_, iteration)| *iteration);
        let train = Box::new(train);
        let reset = match from {
            Some((weights, iteration)) => TrainCommand::ResetFrom(
                train,
                data.clone(),
                weights,
                iteration,
                Generation(generation),
            ),
            None => TrainCommand::Reset(train, data.clone(), Generation(generation)),
        };
        // A trainer whose command queue is full (a burst of restarts while it sets one up)
        // keeps its run, and the views keep theirs: the two never disagree on the generation.
        if !self.trainer.send(reset) {
            self.state.message =
                Some("the trainer is still setting up the last restart; try again".into());
            return;
        }
        self.generation = generation;
        let ctx = AnalysisContext::new(self.generation, data.clone(), exact);
        self.view_data = ViewData::new(data, ctx.bounds.clone(), self.generation);
        self.state.reset(self.generation);
        if let Some(iteration) = resumed {
            self.state.iteration = iteration;
        }
        self.analysis.send(AnalysisCommand::Context(Box::new(ctx)));
        self.sent = self.analysis_settings();
        self.analysis
            .send(AnalysisCommand::Settings(Box::new(self.sent.clone())));
        self.state.running = start && self.trainer.send(TrainCommand::Start);
        self.applied = self.config.clone();
    }

    /// Loads the checkpoint at the typed path: its data, architecture, weights and loss
    /// history; the panel shows its settings and training continues from its iteration.
    fn load_checkpoint(&mut self, shell: &mut Shell) {
        let path = PathBuf::from(&self.checkpoint_path);
        let loaded = (|| -> Result<_> {
            let ckpt = Checkpoint::load(&path)?;
            let data = training_set(&ckpt.meta.data).context("the checkpoint's data")?;
            Ok((ckpt, data))
        })();
        let (ckpt, data) = match loaded {
            Ok(x) => x,
            Err(e) => return shell.notify(&format!("load failed: {e:#}")),
        };
        let meta = &ckpt.meta;
        self.config.show_checkpoint(meta);
        let exact = match &meta.data {
            crate::model::DataSource::Synthetic { dataset, .. } => dataset.mixture(),
            crate::model::DataSource::File { .. } | crate::model::DataSource::Picture { .. } => {
                None
            }
        };
        let data = Arc::new(data);
        let mut train = match self.config.recipe() {
            Ok(r) => r.train_config(&data),
            Err(e) => return shell.notify(&format!("load failed: {e}")),
        };
        train.net = meta.net.clone();
        let iteration = meta.iteration;
        let losses = meta.losses.clone();
        self.restart(data, train, exact, Some((ckpt.weights, iteration)), false);
        self.state.losses = LossHistory::from_points(losses);
        shell.notify(&format!(
            "loaded {} (iteration {iteration}), paused: press Train to continue",
            path.display()
        ));
    }

    /// Saves the newest weights, with the loss history, to the typed path.
    fn save_checkpoint(&mut self, shell: &mut Shell) {
        let Some(snap) = self.trainer.snapshots.peek() else {
            return shell.notify("no weights yet");
        };
        let recipe = match self.applied.recipe() {
            Ok(r) => r,
            Err(e) => return shell.notify(&e.to_string()),
        };
        let ckpt = recipe.checkpoint(
            snap.net.clone(),
            snap.weights.clone(),
            snap.iteration,
            &self.state.losses,
            serde_json::json!({
                "device": self.state.device,
                "cpu": crate::model::simd::cpu_line(),
            }),
        );
        let path = PathBuf::from(&self.checkpoint_path);
        match ckpt.save(&path) {
            Ok(()) => shell.notify(&format!(
                "saved iteration {} to {}",
                snap.iteration,
                path.display()
            )),
            Err(e) => shell.notify(&format!("save failed: {e}")),
        }
    }

    /// Pauses training (an image study wants every core).
    pub fn pause_for_images(&mut self, shell: &mut Shell) {
        if self.state.running && self.trainer.send(TrainCommand::Pause) {
            self.state.running = false;
            shell.notify("2D training paused while the images are sampled");
        }
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

    /// The view's label.
    fn tab_label(&self) -> &'static str {
        Tab::ALL
            .iter()
            .find(|(t, _)| *t == self.views.tab)
            .map_or("view", |(_, l)| l)
    }
}

impl Mode for ExplorerMode {
    fn logic(&mut self, ctx: &egui::Context, shown: bool) {
        self.drain_events();
        // The field and see-saw views follow training at ~6 refreshes/s when shown; otherwise
        // the analysis spends its time on the samplers.
        let live_field = shown && matches!(self.views.tab, Tab::Velocity | Tab::SeeSaw);
        self.analysis.set_quick_interval(if live_field {
            Duration::from_millis(150)
        } else {
            crate::train::analysis::DEFAULT_QUICK_INTERVAL
        });
        if shown && (self.state.running || self.state.analysis_progress.is_some()) {
            // Keep the status line moving even between events.
            ctx.request_repaint_after(STATUS_FRAME);
        }
    }

    fn side_panel(&mut self, ui: &mut Ui, shell: &mut Shell) {
        self.config_panel(ui, shell);
    }

    fn has_bottom_panel(&self) -> bool {
        true
    }

    fn bottom_panel(&mut self, ui: &mut Ui, shell: &mut Shell) {
        self.status_panel(ui, shell);
    }

    fn central(&mut self, ui: &mut Ui, shell: &mut Shell) {
        self.views.eps_marked = self.views.eps_marked.max(1e-3);
        // An experiment's own guide while its settings stand and its view is shown.
        let guide = match &self.experiment {
            Some((e, set)) if *set == self.config && e.tab == self.views.tab => {
                (e.figure, e.look_for)
            }
            _ => self.views.tab.guide(),
        };
        views::guide_line(ui, guide);
        if self.views.tab == Tab::Draw {
            match views::draw_view(ui, &mut self.draw) {
                views::DrawAction::Train => match self.train_on_drawing() {
                    Ok(said) => shell.notify(&said),
                    Err(e) => shell.notify(&e),
                },
                views::DrawAction::EditTrainingSet => {
                    let data = self.view_data.data.clone();
                    self.draw.load(&data);
                }
                views::DrawAction::None => {}
            }
            // Painting asks for the next frame at once: strokes stay smooth.
            if self.draw.in_stroke() {
                ui.ctx().request_repaint();
            }
            self.views.cache.end_frame();
            return;
        }
        let (st, vd, vs) = (&self.state, &self.view_data, &mut self.views);
        match vs.tab {
            Tab::Samples => views::samples_view(ui, st, vd, vs),
            Tab::Trajectories => views::trajectories_view(ui, st, vd, vs),
            Tab::Velocity => views::velocity_view(ui, st, vd, vs),
            Tab::Density => views::density_view(ui, st, vs),
            Tab::Tid => views::tid_view(ui, st, vs),
            Tab::SeeSaw => views::seesaw_view(ui, st, &mut vs.seesaw_log),
            Tab::Draw => {}
            // The Images tab is the other mode; the app never shows it here.
            Tab::Images => {}
        }
        vs.cache.end_frame();
    }

    fn on_file(
        &mut self,
        purpose: FilePurpose,
        path: PathBuf,
        shell: &mut Shell,
        ctx: &egui::Context,
    ) {
        match purpose {
            FilePurpose::OpenCheckpoint => {
                self.checkpoint_path = path.display().to_string();
                self.load_checkpoint(shell);
            }
            FilePurpose::SaveCheckpoint => {
                self.checkpoint_path = path.display().to_string();
                self.save_checkpoint(shell);
            }
            FilePurpose::OpenData => {
                self.data_path = path.display().to_string();
                match self.open_data_file(&path) {
                    Ok(said) => shell.notify(&said),
                    Err(e) => shell.notify(&e),
                }
            }
            FilePurpose::ExportPng => shell.request_export(ctx, path),
            FilePurpose::OpenUNet | FilePurpose::OpenUNetFolder | FilePurpose::ExportNnGrid => {}
        }
    }

    fn export_name(&self) -> String {
        format!(
            "collapse-{}-it{}.png",
            self.tab_label().to_lowercase().replace(' ', "-"),
            self.state.iteration
        )
    }

    fn smoke_probe(&self) -> SmokeProbe {
        let s = &self.state;
        SmokeProbe {
            ready: !s.samples.is_empty(),
            view: self.tab_label().into(),
            points: s.samples.iter().map(|r| r.samples.n).sum(),
            samplers: s.samples.len(),
            sample_updates: s.sample_updates,
            field_updates: s.field_updates,
            iteration: s.iteration,
            last_pass: s.last_pass_seconds,
            error: s.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests;

/// What the UI tests read and set behind the widgets.
#[cfg(test)]
impl ExplorerMode {
    /// What the views and the status line show.
    pub(crate) fn state(&self) -> &ExplorerState {
        &self.state
    }

    /// The current run generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// What the trainer thread is doing, as it says.
    pub(crate) fn trainer_status(&self) -> &crate::train::TrainerStatus {
        &self.trainer.status
    }

    /// The left panel's settings.
    pub(crate) fn config(&self) -> &ExplorerConfig {
        &self.config
    }

    /// The left panel's settings, to change.
    pub(crate) fn config_mut(&mut self) -> &mut ExplorerConfig {
        &mut self.config
    }

    /// The views' settings (tab, toggles).
    pub(crate) fn views(&self) -> &ViewSettings {
        &self.views
    }
}
