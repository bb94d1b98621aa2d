//! The explorer's left panel, one function per section: the paper-experiment menu, data,
//! model, training, samplers and analysis, the run controls, checkpoints and export.

use std::path::PathBuf;

use eframe::egui;
use egui::{RichText, Ui};

use super::ExplorerMode;
use crate::app::Mode;
use crate::app::config::{EXPERIMENTS, ExplorerConfig};
use crate::app::shell::{FilePurpose, Shell};
use crate::app::views::sampler_color;
use crate::data::DatasetKind;
use crate::device::DeviceChoice;
use crate::diffusion::{Objective, ProcessKind, SamplerKind, TimeGrid};
use crate::model::{Activation, Architecture};
use crate::train::{AnalysisCommand, Preset, TrainCommand};

/// Every value of an enum, from its one list (the CLI's).
fn all<T: clap::ValueEnum + Copy + 'static>() -> impl Iterator<Item = T> {
    T::value_variants().iter().copied()
}

/// A combo box over `options`, each shown by `label`.
fn choice<T: Copy + PartialEq>(
    ui: &mut Ui,
    name: &str,
    value: &mut T,
    options: impl IntoIterator<Item = T>,
    label: impl Fn(T) -> String,
) {
    egui::ComboBox::from_label(name)
        .selected_text(label(*value))
        .show_ui(ui, |ui| {
            for o in options {
                ui.selectable_value(value, o, label(o));
            }
        });
}

impl ExplorerMode {
    /// The whole left panel.
    pub(super) fn config_panel(&mut self, ui: &mut Ui, shell: &mut Shell) {
        ui.heading("Collapse Explorer");
        ui.label(
            RichText::new("ODE samplers collapse where SDE samplers do not.")
                .small()
                .weak(),
        );
        ui.separator();
        self.experiment_menu(ui, shell);
        self.data_section(ui, shell);
        model_section(ui, &mut self.config);
        self.training_section(ui);
        samplers_section(ui, &mut self.config);
        self.apply_live_analysis_settings();
        ui.separator();
        self.run_controls(ui);
        ui.separator();
        self.checkpoint_section(ui, shell);
        self.export_section(ui, shell);
        ui.horizontal(|ui| shell.theme_button(ui));
    }

    /// "Paper experiment…": one click configures and restarts one of the paper's figures.
    fn experiment_menu(&mut self, ui: &mut Ui, shell: &mut Shell) {
        let mut picked = None;
        let menu = egui::ComboBox::from_id_salt("experiment")
            .selected_text("Paper experiment…")
            .width(230.0)
            // Every entry in view at once, not a scrolled list of a third of them.
            .height(f32::INFINITY)
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
        // Its name for screen readers and the UI tests (the selected text is not one).
        menu.response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::ComboBox, true, "Paper experiment…")
        });
        if let Some(i) = picked {
            let e = EXPERIMENTS[i];
            let mut config = ExplorerConfig::default();
            (e.apply)(&mut config);
            self.experiment = Some((e, config.clone()));
            self.config = config;
            self.views.show_experiment(&e);
            self.apply();
            shell.notify(&format!("{}: {}", e.figure, e.label));
        }
    }

    /// Learning rate (live), batch, iterations, seed and device.
    fn training_section(&mut self, ui: &mut Ui) {
        let c = &mut self.config;
        egui::CollapsingHeader::new("Training")
            .default_open(true)
            .show(ui, |ui| {
                let lr_before = c.training.lr;
                ui.add(
                    egui::Slider::new(&mut c.training.lr, 1e-5..=5e-2)
                        .logarithmic(true)
                        .text("learning rate"),
                );
                if c.training.lr != lr_before {
                    // The learning rate changes live, without a restart.
                    self.trainer.send(TrainCommand::SetLr(c.training.lr));
                    self.applied.training.lr = c.training.lr;
                }
                ui.add(
                    egui::Slider::new(&mut c.training.batch, 64..=8192)
                        .logarithmic(true)
                        .text("batch"),
                );
                ui.add(
                    egui::Slider::new(&mut c.training.iters, 100..=100_000)
                        .logarithmic(true)
                        .text("iterations"),
                );
                ui.add(egui::DragValue::new(&mut c.seed).prefix("seed "));
                choice(ui, "device", &mut c.device, all::<DeviceChoice>(), |d| {
                    format!("{d:?}")
                });
            });
    }

    /// Analysis settings apply live; the rest needs a restart.
    fn apply_live_analysis_settings(&mut self) {
        let now = self.analysis_settings();
        if now != self.sent {
            self.sent = now.clone();
            self.analysis.send(AnalysisCommand::Settings(Box::new(now)));
            self.state.keep_samplers(&self.config.enabled_samplers());
            let (c, a) = (&self.config, &mut self.applied);
            a.samplers = c.samplers.clone();
            (a.n_samples, a.n_paths, a.sample_seed) = (c.n_samples, c.n_paths, c.sample_seed);
            (a.eps_min, a.eps_max) = (c.eps_min, c.eps_max);
        }
    }

    /// Restart (applying changed settings), pause or train, single steps.
    fn run_controls(&mut self, ui: &mut Ui) {
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
                // Shown at once; the trainer's Paused or Started, in the order it acts on
                // them, has the last word.
                if ui.button("Pause").clicked() && self.trainer.send(TrainCommand::Pause) {
                    self.state.running = false;
                }
            } else if ui.button("Train").clicked() && self.trainer.send(TrainCommand::Start) {
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
    }

    /// Dataset (with its paper preset), size and seed, or your own point file; the noise
    /// process.
    fn data_section(&mut self, ui: &mut Ui, shell: &mut Shell) {
        egui::CollapsingHeader::new("Data")
            .default_open(true)
            .show(ui, |ui| {
                let synthetic = self.config.data_file.is_none();
                // A traced picture takes the number of points and the seed from here too.
                let drawn = synthetic
                    || self
                        .config
                        .data_file
                        .as_deref()
                        .is_some_and(crate::data::picture::is_picture);
                ui.add_enabled_ui(synthetic, |ui| {
                    let c = &mut self.config;
                    let mut chosen = c.dataset;
                    choice(ui, "dataset", &mut chosen, DatasetKind::ALL, |d| {
                        d.name().into()
                    });
                    if chosen != c.dataset {
                        c.select_dataset(chosen);
                    }
                    if c.dataset == DatasetKind::Mog {
                        ui.add(egui::Slider::new(&mut c.mog_dim, 2..=64).text("dimension d"));
                    }
                });
                ui.add_enabled_ui(drawn, |ui| {
                    let c = &mut self.config;
                    ui.add(
                        egui::Slider::new(&mut c.n_points, 1000..=500_000)
                            .logarithmic(true)
                            .text("points"),
                    );
                    ui.add(egui::DragValue::new(&mut c.data_seed).prefix("data seed "));
                });
                self.own_data(ui, shell);
                let c = &mut self.config;
                choice(ui, "process", &mut c.model.process, ProcessKind::ALL, |p| {
                    p.name().into()
                });
            });
    }

    /// Your own points: a `.npy` or CSV file, typed or through the dialog; training restarts on
    /// it at once, and a file that cannot be read leaves the run as it is.
    fn own_data(&mut self, ui: &mut Ui, shell: &mut Shell) {
        let label = ui.label("or your own points (.npy, CSV) or picture (PNG, JPEG)");
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.data_path)
                    .hint_text("path to points")
                    .desired_width(150.0),
            )
            .labelled_by(label.id);
            if ui
                .add_enabled(
                    !self.data_path.trim().is_empty(),
                    egui::Button::new("Train on it"),
                )
                .clicked()
            {
                let path = PathBuf::from(self.data_path.trim());
                match self.open_data_file(&path) {
                    Ok(said) => shell.notify(&said),
                    Err(e) => shell.notify(&e),
                }
            }
            let near = PathBuf::from(self.data_path.trim());
            if ui
                .add_enabled(shell.dialog_idle(), egui::Button::new("Open…"))
                .on_hover_text("Choose a point file and train on it")
                .clicked()
            {
                shell.open_dialog(FilePurpose::OpenData, ui.ctx(), &near, String::new());
            }
        });
        if let Some(path) = self.applied.data_file.clone() {
            ui.horizontal(|ui| {
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                ui.label(RichText::new(format!("training on {name}")).strong())
                    .on_hover_text(path.display().to_string());
                if ui.small_button("back to datasets").clicked() {
                    self.close_data_file();
                }
            });
        }
    }

    /// The checkpoint directory: typed, or through the system file dialog.
    fn checkpoint_section(&mut self, ui: &mut Ui, shell: &mut Shell) {
        let label = ui.label("Checkpoint directory");
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.checkpoint_path).desired_width(150.0))
                .labelled_by(label.id);
            if ui.button("Save").clicked() {
                self.save_checkpoint(shell);
            }
            if ui.button("Load").clicked() {
                self.load_checkpoint(shell);
            }
        });
        ui.horizontal(|ui| {
            let idle = shell.dialog_idle();
            let near = PathBuf::from(&self.checkpoint_path);
            if ui
                .add_enabled(idle, egui::Button::new("Open…"))
                .on_hover_text("Choose a checkpoint directory and load it")
                .clicked()
            {
                shell.open_dialog(FilePurpose::OpenCheckpoint, ui.ctx(), &near, String::new());
            }
            if ui
                .add_enabled(idle, egui::Button::new("Save as…"))
                .on_hover_text("Choose where to save the current weights")
                .clicked()
            {
                shell.open_dialog(FilePurpose::SaveCheckpoint, ui.ctx(), &near, "run".into());
            }
        });
    }

    /// "Export view as PNG", here or where a dialog says.
    fn export_section(&mut self, ui: &mut Ui, shell: &mut Shell) {
        ui.horizontal(|ui| {
            if ui
                .button("Export view as PNG")
                .on_hover_text("Writes collapse-<view>-it<N>.png in the working directory")
                .clicked()
            {
                shell.request_export(ui.ctx(), PathBuf::from(self.export_name()));
            }
            if ui
                .add_enabled(shell.dialog_idle(), egui::Button::new("…"))
                .on_hover_text("Export the view as a PNG file you choose")
                .clicked()
            {
                let near = PathBuf::from(&self.checkpoint_path);
                shell.open_dialog(FilePurpose::ExportPng, ui.ctx(), &near, self.export_name());
            }
        });
    }
}

/// Architecture, presets, width, depth, activation and split time.
fn model_section(ui: &mut Ui, c: &mut ExplorerConfig) {
    egui::CollapsingHeader::new("Model")
        .default_open(true)
        .show(ui, |ui| {
            choice(
                ui,
                "architecture",
                &mut c.model.arch,
                all::<Architecture>(),
                |a| a.name().into(),
            );
            choice(
                ui,
                "objective",
                &mut c.model.objective,
                all::<Objective>(),
                |o| o.name().into(),
            );
            ui.label(RichText::new(c.model.objective.guide()).small().weak());
            ui.horizontal(|ui| {
                for (label, preset) in [("2D preset", Preset::TwoD), ("MoG preset", Preset::Mog)] {
                    if ui.button(label).clicked() {
                        let m = preset.mlp(1);
                        (c.model.width, c.model.depth, c.model.activation) =
                            (Some(m.width), Some(m.depth), m.activation);
                    }
                }
            });
            ui.add(
                egui::Slider::new(c.model.width.get_or_insert(100), 8..=2000)
                    .logarithmic(true)
                    .text("width"),
            );
            ui.add(egui::Slider::new(c.model.depth.get_or_insert(3), 1..=6).text("depth"));
            choice(
                ui,
                "activation",
                &mut c.model.activation,
                all::<Activation>(),
                |a| format!("{a:?}"),
            );
            if matches!(
                c.model.arch,
                Architecture::TwoModel | Architecture::HighNoiseOnly
            ) {
                ui.add(egui::Slider::new(&mut c.model.t_split, 0.05..=0.95).text("t_split"));
            }
        });
}

/// Each sampler (on/off, steps), particles, paths, TID radii and the noise seed.
fn samplers_section(ui: &mut Ui, c: &mut ExplorerConfig) {
    egui::CollapsingHeader::new("Samplers and analysis")
        .default_open(true)
        .show(ui, |ui| {
            for s in &mut c.samplers {
                ui.horizontal(|ui| {
                    let on = ui.checkbox(&mut s.enabled, "");
                    let name = ui.colored_label(sampler_color(s.kind), s.kind.label());
                    on.labelled_by(name.id);
                    ui.add(
                        egui::DragValue::new(&mut s.steps)
                            .range(2..=2000)
                            .suffix(" steps"),
                    );
                    if s.kind == SamplerKind::Ddim {
                        // How much noise is enough: 0 is the deterministic DDIM, 1 the
                        // DDPM-like ancestral sampler; a change redraws DDIM's samples.
                        ui.add(
                            egui::Slider::new(&mut s.eta, 0.0..=1.0)
                                .text("η")
                                .fixed_decimals(2),
                        )
                        .on_hover_text(
                            "DDIM's stochasticity: 0 deterministic, 1 ancestral (DDPM-like), from the same initial noise",
                        );
                    }
                    if s.kind == SamplerKind::Sde {
                        // The SDE's noise dial: 0 is the ODE, 1 the reverse SDE, the same
                        // marginals at every γ.
                        ui.add(
                            egui::Slider::new(&mut s.noise_scale, 0.0..=3.0)
                                .text("γ")
                                .fixed_decimals(2),
                        )
                        .on_hover_text(
                            "The SDE's noise scale γ: dx = [f x − ½(1 + γ²) g² s] dt + γ g dw; 0 is the ODE, 1 the reverse SDE; every γ has the same marginals",
                        );
                    }
                });
            }
            choice(ui, "time grid", &mut c.grid, all::<TimeGrid>(), |g| {
                g.name().into()
            });
            ui.horizontal(|ui| {
                let mut equal = c.budget.is_some();
                ui.checkbox(&mut equal, "equal budget").on_hover_text(
                    "Every sampler gets the same number of network evaluations (NFE): Heun and \
                     DPM-Solver-2 take half the steps, predictor-corrector 1 / (1 + M)",
                );
                c.budget = match (equal, c.budget) {
                    (false, _) => None,
                    (true, Some(n)) => Some(n),
                    (true, None) => Some(100),
                };
                if let Some(n) = c.budget.as_mut() {
                    ui.add(egui::DragValue::new(n).range(2..=4000).suffix(" NFE"));
                }
            });
            ui.add(
                egui::Slider::new(&mut c.n_samples, 500..=200_000)
                    .logarithmic(true)
                    .text("samples"),
            );
            ui.add(egui::Slider::new(&mut c.n_paths, 10..=1000).text("paths"));
            ui.horizontal(|ui| {
                let from = ui.label("ε from");
                ui.add(
                    egui::DragValue::new(&mut c.eps_min)
                        .range(0.001..=1.0)
                        .speed(0.005),
                )
                .labelled_by(from.id);
                let to = ui.label("to");
                ui.add(
                    egui::DragValue::new(&mut c.eps_max)
                        .range(0.01..=5.0)
                        .speed(0.01),
                )
                .labelled_by(to.id);
            });
            ui.add(
                egui::Slider::new(&mut c.k_fraction, 0.005..=0.5)
                    .logarithmic(true)
                    .text("Hill k / points"),
            )
            .on_hover_text(
                "TID's Hill estimator reads the k largest neighbour counts: k = this fraction of \
                 the TID subset (0.1 by default, the paper's)",
            );
            ui.add(egui::DragValue::new(&mut c.sample_seed).prefix("noise seed "));
        });
}
