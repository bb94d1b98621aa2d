//! View 5 (Fig. 3b): TID(ε) curves of every sampler against the training set; the curve plot
//! and the table are shared with the Images view.

use eframe::egui;

use egui::{Color32, Ui};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints, VLine};

use super::{ViewSettings, sampler_color};
use crate::app::plot::y_axis;
use crate::app::state::ExplorerState;
use crate::diffusion::SamplerKind;
use crate::metrics::{TidEstimate, TidSplit};

/// View 5: TID(ε) of every sampler against the training set.
pub fn tid_view(ui: &mut Ui, state: &ExplorerState, vs: &mut ViewSettings) {
    let Some(tid) = state.tid.clone() else {
        ui.label("Waiting for the first TID computation…");
        return;
    };
    // A plain label wraps at the panel's width (inside a horizontal row it would not).
    ui.label(format!(
        "TID(ε) = H_k(generated) − H_k(training), iteration {}{}. Positive: the samples are \
         concentrated (collapsed). Bars: ± 1 std over repeats. Hollow markers: degenerate ε \
         (too many points with no neighbour).",
        tid.iteration,
        tid.curves
            .iter()
            .find_map(|(_, c)| c.first())
            .map_or(String::new(), |e| format!(
                ", on {} random points of each set, {} repeats, Hill k = {}",
                e.points,
                e.repeats,
                e.k.map_or("?".into(), |k| k.to_string())
            ))
    ));
    ui.horizontal(|ui| {
        ui.add(
            egui::Slider::new(&mut vs.eps_marked, 0.01..=1.0)
                .logarithmic(true)
                .text("ε of interest"),
        );
        terms_toggle(ui, &mut vs.tid_terms);
    });
    // Room below the plot for the TID table and the reference metrics' table (a header and a
    // row per sampler each).
    let rows = tid.curves.len() as f32 + 1.0;
    let tables = if tid.reference.is_empty() { 1.0 } else { 2.0 };
    let h = ui.available_height() - tables * (rows * 21.0 + 12.0) - 8.0;
    let curves: Vec<(SamplerKind, &[TidEstimate])> =
        tid.curves.iter().map(|(k, c)| (*k, c.as_slice())).collect();
    let marks = TidMarks {
        eps: vs.eps_marked,
        terms: vs.tid_terms,
    };
    tid_plot(ui, "tid", "ε", h.max(150.0), marks, &curves);
    tid_table(ui, "tid_table", vs.eps_marked, &curves);
    reference_table(ui, &tid.reference);
}

/// Precision, recall, density, coverage and the energy distance of every sampler, beside
/// TID: do they see what TID sees?
fn reference_table(ui: &mut Ui, rows: &[(SamplerKind, crate::metrics::ReferenceMetrics)]) {
    if rows.is_empty() {
        return;
    }
    ui.add_space(4.0);
    egui::Grid::new("reference_table")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("sampler");
            for h in [
                "precision",
                "recall",
                "density",
                "coverage",
                "energy distance",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for (kind, m) in rows {
                ui.colored_label(sampler_color(*kind), kind.label());
                for v in [m.precision, m.recall, m.density, m.coverage] {
                    ui.label(format!("{v:.3}"));
                }
                ui.label(format!("{:.4}", m.energy_distance));
                ui.end_row();
            }
        })
        .response
        .on_hover_text(format!(
            "Naeem et al. 2020 (k-NN balls of {}) and the energy distance, on TID's subsets: \
             precision and density (fidelity), recall and coverage (diversity); energy 0 for \
             equal laws",
            crate::metrics::PRDC_K
        ));
}

/// The switch that adds TID's two terms to [`tid_plot`].
pub fn terms_toggle(ui: &mut Ui, on: &mut bool) {
    ui.checkbox(on, "its two terms").on_hover_text(
        "TID = Δtop + Δthreshold, per sampler: dashed, Δtop (the most crowded samples more \
         crowded than the training set's: clumps); dotted, Δthreshold = ln X(k+1)(train) − \
         ln X(k+1)(gen) (more samples with few neighbours: isolation). Δtop well above 0 \
         with TID near 0: crowding spread over more than k samples, which lifts X(k+1) alike \
         and which TID, a ratio, does not see (the spiral's streaks, docs/REPRODUCTION.md §1).",
    );
}

/// What [`tid_plot`] marks beside the curves.
#[derive(Clone, Copy, Debug)]
pub struct TidMarks {
    /// The radius of interest (a vertical line).
    pub eps: f64,
    /// Draw each curve's two terms ([`TidEstimate::split`]): top dashed, threshold dotted.
    pub terms: bool,
}

/// TID(ε) curves of several samplers: the mean over repeats (filled markers; hollow where the
/// radius was degenerate in a repeat) with ± 1 std bars, the zero line, a marked ε and, when
/// asked, the two terms that add up to each curve.
pub fn tid_plot(
    ui: &mut Ui,
    id: &str,
    x_label: &str,
    height: f32,
    marks: TidMarks,
    curves: &[(SamplerKind, &[TidEstimate])],
) {
    Plot::new(id)
        .legend(Legend::default().follow_insertion_order(true))
        .height(height)
        .x_axis_label(x_label)
        .custom_y_axes(y_axis("TID"))
        .show(ui, |p| {
            p.hline(egui_plot::HLine::new("", 0.0).color(Color32::GRAY));
            for (kind, curve) in curves {
                let (name, color) = (kind.label(), sampler_color(*kind));
                let pts: Vec<[f64; 2]> = curve.iter().map(|c| [c.eps, c.mean]).collect();
                p.line(
                    Line::new(name, PlotPoints::from(pts))
                        .color(color)
                        .width(2.0),
                );
                for c in curve.iter().filter(|c| c.std > 0.0) {
                    let bar = vec![[c.eps, c.mean - c.std], [c.eps, c.mean + c.std]];
                    // The curve's own colour: egui_plot greys a legend entry whose items
                    // differ in colour, and the bars share the curve's name so that the
                    // legend hides them with it.
                    p.line(
                        Line::new(name, PlotPoints::from(bar))
                            .color(color)
                            .width(1.0),
                    );
                }
                for degenerate in [false, true] {
                    let pts: Vec<[f64; 2]> = curve
                        .iter()
                        .filter(|c| c.is_degenerate() == degenerate)
                        .map(|c| [c.eps, c.mean])
                        .collect();
                    p.points(
                        egui_plot::Points::new(name, PlotPoints::from(pts))
                            .color(color)
                            .radius(3.5)
                            .filled(!degenerate),
                    );
                }
            }
            if marks.terms {
                for (kind, curve) in curves {
                    let color = sampler_color(*kind);
                    let term = |f: fn(TidSplit) -> f64| -> Vec<[f64; 2]> {
                        curve
                            .iter()
                            .filter_map(|c| c.split().map(|s| [c.eps, f(s)]))
                            .collect()
                    };
                    for (what, pts, style) in [
                        ("Δtop", term(|s| s.top), LineStyle::dashed_loose()),
                        (
                            "Δthreshold",
                            term(|s| s.threshold),
                            LineStyle::dotted_dense(),
                        ),
                    ] {
                        p.line(
                            Line::new(format!("{} {what}", kind.label()), PlotPoints::from(pts))
                                .color(color)
                                .width(1.5)
                                .style(style),
                        );
                    }
                }
            }
            // Last, so that the legend lists the samplers first, in the panel's order.
            p.vline(VLine::new("ε of interest", marks.eps).color(Color32::LIGHT_GRAY));
        });
}

/// One row per sampler: its TID nearest `eps_marked` (mean ± std over repeats), both Hill
/// estimates, their thresholds `X_(k+1)`, TID's two terms ([`TidEstimate::split`]) with the one
/// carrying it, and the fractions of points without a neighbour (means over repeats).
pub fn tid_table(ui: &mut Ui, id: &str, eps_marked: f64, curves: &[(SamplerKind, &[TidEstimate])]) {
    // Scrolls sideways where its column is narrower than the table (the Images view's), rather
    // than cutting off its last column at the window's edge.
    let degenerate = egui::ScrollArea::horizontal()
        .id_salt(id)
        .show(ui, |ui| tid_grid(ui, id, eps_marked, curves))
        .inner;
    if !degenerate.is_empty() {
        ui.label(
            egui::RichText::new(format!(
                "† {} (too many points without a neighbour within ε: not a result).",
                degenerate.join("; ")
            ))
            .small()
            .weak(),
        );
    }
}

/// The table's grid; returns a line for each degenerate row.
fn tid_grid(
    ui: &mut Ui,
    id: &str,
    eps_marked: f64,
    curves: &[(SamplerKind, &[TidEstimate])],
) -> Vec<String> {
    // Degenerate radii are marked † in the table and named below it (a note in the cell made
    // the table too wide for the Images view's column).
    let mut degenerate: Vec<String> = Vec::new();
    egui::Grid::new(id).striped(true).show(ui, |ui| {
        ui.strong("sampler");
        ui.strong("ε");
        ui.strong("TID");
        ui.strong("H_k gen");
        ui.strong("H_k train");
        ui.strong("X(k+1) gen / train").on_hover_text(
            "The Hill estimate's threshold: H_k = mean ln X of the k largest − ln X(k+1), \
             X = neighbours + 1 (geometric mean over repeats). TID rises when the generated \
             set's top counts rise (clumps) or when its X(k+1) falls (more isolated points).",
        );
        ui.strong("TID from top / X(k+1)").on_hover_text(
            "TID = Δtop + Δthreshold. Δtop = top(gen) − top(train): the most crowded samples \
             are more crowded than the training set's (clumps, the paper's collapse). \
             Δthreshold = ln X(k+1)(train) − ln X(k+1)(gen): more samples with few neighbours \
             (isolation). The word names the larger where TID is above its spread over repeats.",
        );
        ui.strong("no-neighbour gen / train");
        ui.end_row();
        for (kind, curve) in curves {
            if let Some(c) = curve.iter().min_by(|a, b| {
                (a.eps - eps_marked)
                    .abs()
                    .total_cmp(&(b.eps - eps_marked).abs())
            }) {
                ui.colored_label(sampler_color(*kind), kind.label());
                ui.label(format!("{:.3}", c.eps));
                let mark = if c.is_degenerate() {
                    degenerate.push(format!(
                        "{}: degenerate in {} of {} repeats",
                        kind.label(),
                        c.degenerate,
                        c.repeats
                    ));
                    " †"
                } else {
                    ""
                };
                ui.label(format!("{:+.3} ± {:.3}{mark}", c.mean, c.std));
                ui.label(format!("{:.3}", c.hill_generated));
                ui.label(format!("{:.3}", c.hill_train));
                let x = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format!("{v:.1}"));
                ui.label(format!(
                    "{} / {}",
                    x(c.threshold_generated),
                    x(c.threshold_train)
                ));
                match c.split() {
                    Some(split) => ui.label(format!(
                        "{:+.2} / {:+.2}{}",
                        split.top,
                        split.threshold,
                        c.driver()
                            .map_or(String::new(), |d| format!(" {}", d.label()))
                    )),
                    None => ui.label("–"),
                };
                ui.label(format!(
                    "{:.0}% / {:.0}%",
                    100.0 * c.zero_fraction_generated,
                    100.0 * c.zero_fraction_train
                ));
                ui.end_row();
            }
        }
    });
    degenerate
}
