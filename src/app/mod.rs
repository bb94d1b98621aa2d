//! The eframe app: a shell ([`shell`]: notices, file dialogs, export, theme) around two modes,
//! each with its own panels, as egui's demo app has one struct per demo: the 2D explorer
//! ([`explorer`]: configuration on the left, training status at the bottom, the views in the
//! centre) and Images ([`images`]). The views are [`views`], one file each; the smoke-test
//! driver is [`smoke`]. The app owns the worker threads and only ever drains their events.

pub mod config;
pub mod draw;
pub mod explorer;
pub mod images;
pub mod plot;
pub mod shell;
pub mod smoke;
pub mod state;
#[cfg(test)]
mod ui_tests;
pub mod views;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use eframe::egui;
use egui::Ui;

use self::explorer::ExplorerMode;
use self::images::ImagesMode;
use self::shell::{FilePurpose, Request, Shell};
pub use self::shell::{is_blank, write_png};
use self::smoke::{Smoke, SmokeProbe};
pub use self::views::Tab;
use crate::data::DatasetKind;

/// How the app is started (from the command line).
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Dataset to train first (default chessboard).
    pub dataset: Option<DatasetKind>,
    /// Light theme instead of dark.
    pub light: bool,
    /// Start in presentation mode.
    pub present: bool,
    /// Smoke test: once samples are drawn, render this many more frames, check that the window
    /// is not blank, and exit (status 0 when it rendered, 1 otherwise).
    pub frames: Option<u64>,
    /// With `frames`: save the final frame as a PNG here.
    pub screenshot: Option<PathBuf>,
    /// With `frames`: give up (status 1) after this many seconds without samples.
    pub timeout: Duration,
    /// The tab to open.
    pub tab: Tab,
    /// Open the menu's experiment with this index (0-based into
    /// [`config::EXPERIMENTS`]): its settings, and its view instead of `tab`.
    pub experiment: Option<usize>,
    /// Particles per sampler in the analysis (default: the config's).
    pub samples: Option<usize>,
    /// Start with training paused (the first snapshot is still analysed).
    pub paused: bool,
    /// Open this checkpoint directory (written by `train` or the app) instead of a fresh run.
    pub checkpoint: Option<PathBuf>,
    /// Train on this point file (`.npy` or CSV) instead of `dataset`.
    pub data: Option<PathBuf>,
    /// Threads for training (default: half the cores).
    pub train_threads: Option<usize>,
    /// Images view: the U-Net to open (default: the demo checkpoint). With the Images tab, the
    /// study starts at once and 2D training waits.
    pub unet: Option<PathBuf>,
    /// Images view: images per sampler.
    pub image_n: Option<usize>,
    /// Images view: steps of both samplers.
    pub image_steps: Option<usize>,
    /// Tour: the next view every this long, and training restarted on the next dataset after
    /// each round of the views.
    pub tour: Option<Duration>,
}

/// The tour (`app --tour SECONDS`): the explorer's views in turn, and after each round a
/// fresh run on the next 2D dataset, for a screen left running in a lecture hall (and for
/// the soak test, which watches memory and threads while it goes on).
struct Tour {
    every: Duration,
    last: std::time::Instant,
    /// Views shown so far.
    shown: usize,
}

impl Tour {
    /// The explorer's views the tour shows (the Draw canvas waits for a hand).
    const VIEWS: [Tab; 6] = [
        Tab::Samples,
        Tab::Trajectories,
        Tab::Velocity,
        Tab::Density,
        Tab::Tid,
        Tab::SeeSaw,
    ];
    /// The datasets it trains on, in turn.
    const DATASETS: [DatasetKind; 4] = [
        DatasetKind::Chessboard,
        DatasetKind::Spiral,
        DatasetKind::Semicircles,
        DatasetKind::RingMog,
    ];

    /// When it is time: the view to show and, at the start of a round, the dataset to train.
    fn next(&mut self) -> Option<(Tab, Option<DatasetKind>)> {
        if self.last.elapsed() < self.every {
            return None;
        }
        self.last = std::time::Instant::now();
        self.shown += 1;
        let views = Self::VIEWS.len();
        let view = Self::VIEWS[self.shown % views];
        let round = self.shown / views;
        let dataset = self
            .shown
            .is_multiple_of(views)
            .then(|| Self::DATASETS[round % Self::DATASETS.len()]);
        Some((view, dataset))
    }
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
    // The window, its renderer and the live analysis run below training (see
    // `crate::priority`): on two cores with software Vulkan they took 45% of training's core.
    if let Err(e) = crate::priority::enter_background() {
        eprintln!(
            "note: could not lower the views' thread priority ({e}); training shares the CPU with them"
        );
    }
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

/// A mode of the app: its panels, and what it does between frames.
pub trait Mode {
    /// Drains the mode's background work; called every frame, `shown` or not.
    fn logic(&mut self, ctx: &egui::Context, shown: bool);
    /// The left panel.
    fn side_panel(&mut self, ui: &mut Ui, shell: &mut Shell);
    /// Whether the mode has a bottom panel.
    fn has_bottom_panel(&self) -> bool {
        false
    }
    /// The bottom panel.
    fn bottom_panel(&mut self, _ui: &mut Ui, _shell: &mut Shell) {}
    /// The central panel, below the tab row.
    fn central(&mut self, ui: &mut Ui, shell: &mut Shell);
    /// A file chosen in a dialog this mode opened.
    fn on_file(
        &mut self,
        purpose: FilePurpose,
        path: PathBuf,
        shell: &mut Shell,
        ctx: &egui::Context,
    );
    /// The file name an export of this mode suggests.
    fn export_name(&self) -> String;
    /// What the smoke test reads.
    fn smoke_probe(&self) -> SmokeProbe;
}

/// The app: the shell, both modes, and which one is shown.
pub struct ExplorerApp {
    shell: Shell,
    explorer: ExplorerMode,
    images: ImagesMode,
    /// Whether the Images mode is shown (else the explorer's view).
    images_shown: bool,
    smoke: Option<Smoke>,
    tour: Option<Tour>,
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
        let mut shell = Shell::new(&cc.egui_ctx, !opts.light);
        if opts.present {
            shell.update_presentation(&cc.egui_ctx, true);
        }
        // Training starts at once, so the user sees collapse appear, unless the Images mode
        // opens: its sampling wants every core.
        let images_shown = opts.tab == Tab::Images;
        let start = !opts.paused && !images_shown;
        let explorer = ExplorerMode::new(&cc.egui_ctx, &opts, start, &mut shell)?;
        let mut images = ImagesMode::default();
        if let Some(unet) = &opts.unet {
            images.settings.checkpoint = unet.display().to_string();
        }
        if let Some(n) = opts.image_n {
            images.settings.n = n;
        }
        if let Some(steps) = opts.image_steps {
            images.settings.ode_steps = steps;
            images.settings.sde_steps = steps;
        }
        if images_shown {
            images.start(&cc.egui_ctx);
        }
        let smoke = opts.frames.map(|frames| {
            Smoke::new(frames, opts.timeout, opts.screenshot.clone(), verdict)
                .with_headless_rate(explorer.headless_rate)
        });
        let tour = opts.tour.map(|every| Tour {
            every,
            last: std::time::Instant::now(),
            shown: 0,
        });
        Ok(Self {
            shell,
            explorer,
            images,
            images_shown,
            smoke,
            tour,
        })
    }
}

/// The tabs: the explorer's views, then the Images mode. Returns the tab clicked.
fn tab_row(ui: &mut Ui, images_shown: bool, explorer_tab: Tab) -> Option<Tab> {
    let mut clicked = None;
    ui.horizontal(|ui| {
        for (tab, label) in Tab::ALL {
            let selected = if images_shown {
                tab == Tab::Images
            } else {
                tab == explorer_tab
            };
            if ui.selectable_label(selected, label).clicked() {
                clicked = Some(tab);
            }
        }
    });
    clicked
}

impl eframe::App for ExplorerApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.shell.poll_export();
        self.shell.update_presentation(ctx, false);
        if let Some((purpose, path)) = self.shell.poll_dialog() {
            let mode: &mut dyn Mode = match purpose {
                FilePurpose::OpenUNet | FilePurpose::OpenUNetFolder | FilePurpose::ExportNnGrid => {
                    &mut self.images
                }
                _ => &mut self.explorer,
            };
            mode.on_file(purpose, path, &mut self.shell, ctx);
        }
        if let Some((view, dataset)) = self.tour.as_mut().and_then(Tour::next) {
            self.images_shown = false;
            self.explorer.show_tab(view);
            if let Some(d) = dataset {
                self.explorer.train_dataset(d);
            }
        }
        if let Some(t) = &self.tour {
            ctx.request_repaint_after(t.every);
        }
        let images_shown = self.images_shown;
        self.explorer.logic(ctx, !images_shown);
        self.images.logic(ctx, images_shown);
        if let Some(smoke) = self.smoke.as_mut() {
            let probe = if images_shown {
                self.images.smoke_probe()
            } else {
                self.explorer.smoke_probe()
            };
            smoke.step(ctx, probe);
        }
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let explorer_tab = self.explorer.tab();
        let Self {
            shell,
            explorer,
            images,
            images_shown,
            ..
        } = self;
        let mode: &mut dyn Mode = if *images_shown { images } else { explorer };
        // Presenting: the views alone, larger (the panels fold; F5 brings them back).
        let presenting = shell.presenting;
        if !presenting {
            egui::Panel::left("config")
                .default_size(300.0)
                .resizable(true)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| mode.side_panel(ui, shell));
                });
        }
        if mode.has_bottom_panel() && !presenting {
            egui::Panel::bottom("status")
                .default_size(170.0)
                .resizable(true)
                .show(ui, |ui| mode.bottom_panel(ui, shell));
        }
        let mut clicked = None;
        let mut present_clicked = false;
        egui::CentralPanel::default_margins().show(ui, |ui| {
            ui.horizontal(|ui| {
                clicked = tab_row(ui, *images_shown, explorer_tab);
                let label = if presenting {
                    "Leave (F5)"
                } else {
                    "Present (F5)"
                };
                present_clicked = ui
                    .button(label)
                    .on_hover_text("presentation mode: larger text, panels folded")
                    .clicked();
            });
            ui.separator();
            shell.central_rect = ui.available_rect_before_wrap();
            mode.central(ui, shell);
        });
        if present_clicked {
            self.shell.update_presentation(ui.ctx(), true);
        }
        if let Some(tab) = clicked {
            self.images_shown = tab == Tab::Images;
            if !self.images_shown {
                self.explorer.show_tab(tab);
            }
            ui.ctx().request_repaint();
        }
        for r in self.shell.take_requests() {
            match r {
                Request::PauseTraining => self.explorer.pause_for_images(&mut self.shell),
            }
        }
    }
}
