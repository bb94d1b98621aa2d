//! The Images mode's left panel: checkpoint and training images, sampling settings, the run
//! button with its progress, the last study's summary and the neighbour-grid export.

use std::path::PathBuf;

use eframe::egui;
use egui::{Color32, RichText, Ui};

use super::ImagesMode;
use crate::app::Mode;
use crate::app::shell::{FilePurpose, Request, Shell};
use crate::app::views::sampler_color;
use crate::diffusion::SamplerKind;
use crate::images::WeightSet;
use crate::sync::lock;

impl ImagesMode {
    /// The settings, the run button and the export.
    pub(super) fn panel(&mut self, ui: &mut Ui, shell: &mut Shell) {
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
                    let label = ui.label("U-Net");
                    ui.add(egui::TextEdit::singleline(&mut s.checkpoint).desired_width(150.0))
                        .labelled_by(label.id)
                        .on_hover_text(
                            "a diffusers model or pipeline directory (config.json + \
                             diffusion_pytorch_model.safetensors or .bin), a train-unet \
                             directory, a U-Net .safetensors or a score_sde .pth",
                        );
                });
                ui.horizontal(|ui| {
                    let near = PathBuf::from(s.checkpoint.trim());
                    if ui
                        .add_enabled(shell.dialog_idle(), egui::Button::new("Open file…"))
                        .on_hover_text("a .safetensors, a .pth or a diffusers config.json")
                        .clicked()
                    {
                        shell.open_dialog(FilePurpose::OpenUNet, ui.ctx(), &near, String::new());
                    }
                    if ui
                        .add_enabled(shell.dialog_idle(), egui::Button::new("Open folder…"))
                        .on_hover_text(
                            "a diffusers model or pipeline directory, or train-unet output",
                        )
                        .clicked()
                    {
                        let purpose = FilePurpose::OpenUNetFolder;
                        shell.open_dialog(purpose, ui.ctx(), &near, String::new());
                    }
                });
                ui.horizontal(|ui| {
                    ui.label("weights");
                    ui.selectable_value(&mut s.weights, WeightSet::Ema, "EMA");
                    ui.selectable_value(&mut s.weights, WeightSet::Model, "raw");
                });
                ui.horizontal(|ui| {
                    let label = ui.label(".pth config");
                    ui.add(
                        egui::TextEdit::singleline(&mut s.config)
                            .hint_text("ddpm-cifar10 or a TOML")
                            .desired_width(160.0),
                    )
                    .labelled_by(label.id);
                });
                ui.horizontal(|ui| {
                    let label = ui.label("training images");
                    ui.add(
                        egui::TextEdit::singleline(&mut s.data)
                            .hint_text("as recorded")
                            .desired_width(130.0),
                    )
                    .labelled_by(label.id)
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
                            .selected_text(RichText::new(kind.label()).color(sampler_color(*kind)))
                            .width(150.0)
                            .show_ui(ui, |ui| {
                                for k in SamplerKind::ALL
                                    .into_iter()
                                    .filter(|k| k.is_deterministic() == deterministic)
                                {
                                    ui.selectable_value(kind, k, k.label());
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
                shell.request(Request::PauseTraining);
                self.start(ui.ctx());
            }
        });
        if let Some(job) = &self.job {
            let sh = lock(&job.shared);
            let elapsed = job.started.elapsed().as_secs_f64();
            // Sampling is nearly all of a study's time and runs at a steady rate.
            let eta = (sh.fraction > 0.02 && sh.fraction < 1.0)
                .then(|| elapsed * (1.0 - sh.fraction as f64) / sh.fraction as f64)
                .map_or(String::new(), |s| format!(" · about {s:.0} s left"));
            ui.label(RichText::new(sh.stage.as_str()).small());
            // The first guess (one chunk timed while the window starts, so often pessimistic),
            // until the measured rate below takes over.
            // A long study keeps its warning in view.
            if let Some((_, text)) = sh.estimate.as_ref().filter(|(secs, _)| {
                sh.fraction <= 0.02 || *secs > crate::images::study::LONG_ON_CPU_SECONDS
            }) {
                ui.label(
                    RichText::new(format!("first estimate: {text}"))
                        .small()
                        .weak(),
                );
            }
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
                        set.kind.label(),
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
                        let path = PathBuf::from(self.export_name());
                        shell.notify_export(self.export_grid(&path));
                    }
                    if ui
                        .add_enabled(shell.dialog_idle(), egui::Button::new("…"))
                        .on_hover_text("choose where")
                        .clicked()
                    {
                        let near = PathBuf::from(self.export_name());
                        let name = self.export_name();
                        shell.open_dialog(FilePurpose::ExportNnGrid, ui.ctx(), &near, name);
                    }
                });
            });
        }
    }
}
