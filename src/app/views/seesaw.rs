//! View 6 (Fig. 7a, 8): the see-saw — regime losses and velocity MAE over training.

use eframe::egui;
use egui::{Color32, Ui};
use egui_plot::{HoverPosition, Legend, Line, Plot, PlotPoints};

use crate::app::plot::{log10_marks, log10_tick_label, y_axis};
use crate::app::state::ExplorerState;
use crate::train::analysis::RegimeMetrics;

/// View 6: regime losses and velocity MAE (high and low noise) over training iterations, on
/// log axes by default: the first iterations' errors are 10-30 times the late ones, and on a
/// linear axis they flatten the late rise of the high-noise error that the see-saw is about.
pub fn seesaw_view(ui: &mut Ui, state: &ExplorerState, log: &mut bool) {
    if state.metrics.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
    ui.checkbox(log, "log scale")
        .on_hover_text("y axes on a log scale (the late changes show beside the first errors)");
    let log = *log;
    let has_mae = state.metrics.iter().any(|m| m.mae_low.is_some());
    let h = if has_mae {
        ui.available_height() * 0.5 - 20.0
    } else {
        ui.available_height() - 30.0
    };
    let series = |f: &dyn Fn(&RegimeMetrics) -> Option<f64>| -> Vec<[f64; 2]> {
        state
            .metrics
            .iter()
            .filter_map(|m| f(m).map(|v| [m.iteration as f64, v]))
            .filter_map(|[i, v]| match log {
                true => (v > 0.0).then(|| [i, v.log10()]),
                false => Some([i, v]),
            })
            .collect()
    };
    let plot = |id: &str, y_label: &str| {
        let plot = Plot::new(id)
            .legend(Legend::default().follow_insertion_order(true))
            .height(h)
            .x_axis_label("iteration")
            .custom_y_axes(y_axis(y_label.to_string()));
        if log {
            plot.y_grid_spacer(log10_marks)
                .y_axis_formatter(|mark, _| log10_tick_label(mark.value))
                .label_formatter(move |hover| {
                    let (name, p) = match hover {
                        HoverPosition::NearDataPoint {
                            plot_name,
                            position,
                            ..
                        } => (*plot_name, position),
                        HoverPosition::Elsewhere { position } => ("", position),
                    };
                    Some(format!(
                        "{name}\niteration {:.0}\n{:.4}",
                        p.x,
                        10f64.powf(p.y)
                    ))
                })
        } else {
            plot
        }
    };
    let low = Color32::from_rgb(0x00, 0x9E, 0x73);
    let high = Color32::from_rgb(0xD5, 0x5E, 0x00);
    ui.label(
        "DSM loss per noise band (low: t from t_min to 0.1, high: t from 0.9 to 1), fixed draws.",
    );
    plot("seesaw_loss", "loss").show(ui, |p| {
        p.line(
            Line::new(
                "low-noise loss",
                PlotPoints::from(series(&|m| Some(m.loss_low))),
            )
            .color(low)
            .width(2.0),
        );
        p.line(
            Line::new(
                "high-noise loss",
                PlotPoints::from(series(&|m| Some(m.loss_high))),
            )
            .color(high)
            .width(2.0),
        );
    });
    if has_mae {
        ui.label("Velocity MAE against the exact velocity, per band.");
        plot("seesaw_mae", "MAE").show(ui, |p| {
            p.line(
                Line::new("low-noise MAE", PlotPoints::from(series(&|m| m.mae_low)))
                    .color(low)
                    .width(2.0),
            );
            p.line(
                Line::new("high-noise MAE", PlotPoints::from(series(&|m| m.mae_high)))
                    .color(high)
                    .width(2.0),
            );
        });
    }
}
