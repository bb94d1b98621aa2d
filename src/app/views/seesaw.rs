//! View 6 (Fig. 7a, 8): the see-saw — regime losses and velocity MAE over training.

use eframe::egui;
use egui::{Color32, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::app::state::ExplorerState;
use crate::train::analysis::RegimeMetrics;

/// View 6: regime losses and velocity MAE (high and low noise) over training iterations.
pub fn seesaw_view(ui: &mut Ui, state: &ExplorerState) {
    if state.metrics.is_empty() {
        ui.label("Waiting for the first analysis pass…");
        return;
    }
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
            .collect()
    };
    let low = Color32::from_rgb(0x00, 0x9E, 0x73);
    let high = Color32::from_rgb(0xD5, 0x5E, 0x00);
    ui.label(
        "DSM loss per noise band (low: t from t_min to 0.1, high: t from 0.9 to 1), fixed draws.",
    );
    Plot::new("seesaw_loss")
        .legend(Legend::default())
        .height(h)
        .x_axis_label("iteration")
        .y_axis_label("loss")
        .show(ui, |p| {
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
        Plot::new("seesaw_mae")
            .legend(Legend::default())
            .height(h)
            .x_axis_label("iteration")
            .y_axis_label("MAE")
            .show(ui, |p| {
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
