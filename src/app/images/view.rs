//! The Images mode's central view: both sample grids (densest first or paired by initial
//! noise, clickable), the neighbour grid of the selected sample and the TID curves.

use eframe::egui;
use egui::{Color32, RichText, Ui};

use super::{COLS, DEMO_CHECKPOINT, GridOrder, ImagesMode, SHOWN, texture};
use crate::app::views::{TidMarks, sampler_color, terms_toggle, tid_plot, tid_table};
use crate::diffusion::SamplerKind;
use crate::images::study::StudyResult;
use crate::metrics::TidEstimate;
use crate::sync::lock;

/// The side of each of the two sample grids side by side in the space left in `ui`.
fn grid_side(ui: &Ui) -> f32 {
    let avail = ui.available_size();
    ((avail.x - 24.0) / 2.0)
        .min(avail.y * 0.5 - 30.0)
        .max(120.0)
}

impl ImagesMode {
    /// The central view: grids, the neighbour grid of the clicked sample, TID curves.
    pub(super) fn view(&mut self, ui: &mut Ui) {
        let Some(r) = self.result.clone() else {
            if let Some(job) = &self.job {
                // Sets already drawn, while the rest of the study runs.
                let partial = lock(&job.shared).partial.clone();
                for set in partial.iter().skip(self.partial_shown.len()) {
                    let (kind, steps, images) = (set.kind, set.steps, &set.images);
                    let shown: Vec<usize> = (0..images.len().min(SHOWN)).collect();
                    let tex = texture(
                        ui.ctx(),
                        format!("images-partial-{}", self.partial_shown.len()),
                        &images.grid(&shown, COLS, 1, 1),
                    );
                    let caption = format!(
                        "{}, {steps} steps: {} samples (the first {})",
                        kind.label(),
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
                                set.kind.label(),
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

    fn nn_panel(&self, ui: &mut Ui, r: &StudyResult) {
        let Some(nn) = &self.nn else {
            ui.label("Click a sample to see its nearest neighbours.");
            return;
        };
        let (qs, qi) = nn.query;
        ui.label(
            RichText::new(format!(
                "Query: {} sample {qi} (first column); its {} nearest neighbours (L2 on [0, 1] \
                 pixels) in each set",
                r.sets[qs].kind.label(),
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

    pub(super) fn tid_panel(&mut self, ui: &mut Ui, r: &StudyResult) {
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
        ui.horizontal(|ui| {
            ui.add(
                egui::Slider::new(&mut self.eps_marked, lo..=hi)
                    .logarithmic(true)
                    .text("ε of interest"),
            );
            terms_toggle(ui, &mut self.tid_terms);
        });
        let h = (ui.available_height() - 90.0).max(120.0);
        let curves: Vec<(SamplerKind, &[TidEstimate])> =
            r.sets.iter().map(|s| (s.kind, s.tid.as_slice())).collect();
        tid_plot(
            ui,
            "images-tid",
            "ε (L2 on [0, 1] pixels)",
            h,
            TidMarks {
                eps: self.eps_marked,
                terms: self.tid_terms,
            },
            &curves,
        );
        tid_table(ui, "images-tid-table", self.eps_marked, &curves);
    }
}
