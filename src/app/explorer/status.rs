//! The explorer's bottom panel: training status, analysis progress, how far the views lag,
//! the last error, notices and the loss curve.

use eframe::egui;
use egui::{Color32, RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints};

use super::ExplorerMode;
use crate::app::plot::y_axis;
use crate::app::shell::Shell;

impl ExplorerMode {
    /// The whole bottom panel.
    pub(super) fn status_panel(&mut self, ui: &mut Ui, shell: &mut Shell) {
        let s = &self.state;
        // Wrapped: in a narrow window the lag note goes to a second line, not off the edge.
        ui.horizontal_wrapped(|ui| {
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
                s.iteration, self.applied.training.iters
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
            match &s.analysis_progress {
                Some((stage, f)) => {
                    ui.add(
                        egui::ProgressBar::new(*f)
                            .desired_width(160.0)
                            .text(stage.as_str()),
                    );
                }
                None => {
                    if let Some(secs) = s.last_pass_seconds {
                        ui.label(RichText::new(format!("analysis pass {secs:.2} s")).weak());
                    }
                }
            }
            if let (Some(lag), Some(shown)) =
                (s.staleness(), s.samples.iter().map(|r| r.iteration).min())
            {
                // The sampled views come from the last full pass; the velocity field and the
                // see-saw are refreshed between passes.
                let text = format!("samples from iteration {shown}");
                let text = if lag > 0 && s.running {
                    format!("{text} ({lag} behind)")
                } else {
                    text
                };
                ui.label(RichText::new(text).weak()).on_hover_text(
                    "Samples, trajectories, density and TID come from the last full analysis \
                     pass; the velocity field (its title names its iteration) and the see-saw \
                     follow training between passes.",
                );
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
        if let Some(msg) = shell.recent_notice() {
            ui.label(msg);
        }
        let losses: Vec<[f64; 2]> = self
            .state
            .losses
            .points()
            .iter()
            .map(|l| [l.iteration as f64, l.loss.max(1e-12).log10()])
            .collect();
        Plot::new("loss")
            .height(ui.available_height().max(60.0))
            .x_axis_label("iteration")
            .custom_y_axes(y_axis("log₁₀ loss"))
            .allow_scroll(false)
            .show(ui, |p| {
                p.line(
                    Line::new("training loss", PlotPoints::from(losses))
                        .color(Color32::from_gray(190)),
                );
            });
    }
}
