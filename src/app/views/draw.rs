//! The Draw view: paint your own 2D distribution, then train on it. The canvas maps pointer
//! events onto [`DrawTool`] calls (primary button: the brush; secondary: erase); the points are
//! drawn by the same WGSL point pipeline as the samples.

use eframe::egui;
use egui::{Color32, PointerButton, Stroke, Ui, Vec2};

use super::key;
use crate::app::draw::DrawTool;
use crate::app::plot::{Labels, plot_frame};
use crate::render::points::{self, PointLayer};

/// What the user asked of the drawing this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrawAction {
    /// Nothing beyond drawing.
    None,
    /// Save the drawing and train on it.
    Train,
    /// Replace the drawing with the current training set, to edit it.
    EditTrainingSet,
}

/// The tool row and the canvas; returns what was asked.
pub fn draw_view(ui: &mut Ui, tool: &mut DrawTool) -> DrawAction {
    let mut action = DrawAction::None;
    ui.horizontal(|ui| {
        ui.selectable_value(&mut tool.erase, false, "Paint");
        ui.selectable_value(&mut tool.erase, true, "Erase");
        ui.add(egui::Slider::new(&mut tool.brush, 0.02..=0.8).text("brush"));
        ui.add(
            egui::Slider::new(&mut tool.density, 100.0..=20_000.0)
                .logarithmic(true)
                .text("points/s"),
        );
        if ui
            .add_enabled(tool.can_undo(), egui::Button::new("Undo"))
            .clicked()
        {
            tool.undo();
        }
        if ui
            .add_enabled(!tool.points.is_empty(), egui::Button::new("Clear"))
            .clicked()
        {
            tool.clear();
        }
        if ui
            .button("Edit the training set")
            .on_hover_text("Start from the data being trained on (its first two coordinates)")
            .clicked()
        {
            action = DrawAction::EditTrainingSet;
        }
    });
    ui.horizontal(|ui| {
        ui.label(format!("{} points", tool.points.len()));
        ui.add(
            egui::TextEdit::singleline(&mut tool.save_path)
                .hint_text("drawings/drawing-NNN.npy (or .csv)")
                .desired_width(240.0),
        );
        if ui
            .add_enabled(
                tool.points.len() >= 2,
                egui::Button::new("Train on drawing"),
            )
            .on_hover_text("Save the drawing there and restart training on it, seeded")
            .clicked()
        {
            action = DrawAction::Train;
        }
    });
    canvas(ui, tool);
    action
}

/// The square canvas: pointer events paint or erase; the brush outline follows the pointer.
pub fn canvas(ui: &mut Ui, tool: &mut DrawTool) {
    let side = ui.available_width().min(ui.available_height()).max(200.0);
    let (response, area) = plot_frame(
        ui,
        Vec2::splat(side),
        tool.bounds,
        Labels {
            title: "drag to paint, right-drag to erase",
            x: "x₁",
            y: "x₂",
        },
    );
    let dt = ui.input(|i| i.stable_dt).clamp(0.0, 0.1);
    let secondary = ui.input(|i| i.pointer.button_down(PointerButton::Secondary));
    let down = response.is_pointer_button_down_on();
    match response.interact_pointer_pos().filter(|_| down) {
        Some(pos) if area.inner.contains(pos) => {
            let erase = tool.erase;
            tool.erase |= secondary;
            tool.paint(area.to_data(pos), dt);
            tool.erase = erase;
        }
        _ => tool.end_stroke(),
    }
    let layer = PointLayer {
        key: key(("draw", tool.version)),
        positions: tool.shared_points(),
        color: [0.95, 0.75, 0.3, 0.6],
        size_px: 2.5,
    };
    let view_id = key("draw-canvas");
    ui.painter().add(points::callback(
        area.inner,
        view_id,
        tool.bounds,
        vec![layer],
    ));
    if let Some(pos) = response.hover_pos().filter(|p| area.inner.contains(*p)) {
        let r = tool.brush / (tool.bounds.x[1] - tool.bounds.x[0]) * area.inner.width();
        let colour = if tool.erase || secondary {
            Color32::from_rgb(230, 90, 90)
        } else {
            Color32::from_gray(220)
        };
        ui.painter().circle_stroke(pos, r, Stroke::new(1.0, colour));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::{Event, Modifiers, Pos2, RawInput, Rect};

    /// Runs one frame of the canvas with `events` at `time`.
    fn frame(ctx: &egui::Context, tool: &mut DrawTool, time: f64, events: Vec<Event>) {
        let input = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, Vec2::new(900.0, 900.0))),
            time: Some(time),
            events,
            ..RawInput::default()
        };
        let _ = ctx.run_ui(input, |ui| canvas(ui, tool));
    }

    fn button(pos: Pos2, button: PointerButton, pressed: bool) -> Event {
        Event::PointerButton {
            pos,
            button,
            pressed,
            modifiers: Modifiers::default(),
        }
    }

    /// A press, a hold and a drag to the right, then a release, as pointer events: the points
    /// land under the pointer's path (within the brush), one stroke, undone in one step; a
    /// right-button drag over the same place erases them.
    #[test]
    fn the_canvas_paints_and_erases_under_the_pointer() {
        let ctx = egui::Context::default();
        let mut tool = DrawTool::new(0);
        // A first frame lays the canvas out; find where data (0, 0) and (1, 0) are on screen.
        frame(&ctx, &mut tool, 0.0, vec![]);
        let (origin, unit) = {
            let mut at = None;
            let _ = ctx.run_ui(
                RawInput {
                    screen_rect: Some(Rect::from_min_size(Pos2::ZERO, Vec2::new(900.0, 900.0))),
                    time: Some(0.01),
                    ..RawInput::default()
                },
                |ui| {
                    let side = ui.available_width().min(ui.available_height()).max(200.0);
                    let (_, area) = plot_frame(
                        ui,
                        Vec2::splat(side),
                        tool.bounds,
                        Labels {
                            title: "",
                            x: "",
                            y: "",
                        },
                    );
                    at = Some((area.to_screen([0.0, 0.0]), area.to_screen([1.0, 0.0])));
                },
            );
            at.unwrap()
        };
        let step = unit.x - origin.x; // pixels per data unit
        let mut t = 0.02;
        let mut tick = |tool: &mut DrawTool, events: Vec<Event>| {
            t += 1.0 / 60.0;
            frame(&ctx, tool, t, events);
        };
        tick(&mut tool, vec![Event::PointerMoved(origin)]);
        tick(
            &mut tool,
            vec![button(origin, PointerButton::Primary, true)],
        );
        for i in 1..=30 {
            let p = origin + Vec2::new(step * i as f32 / 30.0, 0.0);
            tick(&mut tool, vec![Event::PointerMoved(p)]);
        }
        let end = origin + Vec2::new(step, 0.0);
        tick(&mut tool, vec![button(end, PointerButton::Primary, false)]);
        tick(&mut tool, vec![]);
        let n = tool.points.len();
        assert!(n > 500, "{n} points after half a second at 2,000/s");
        let slack = tool.brush + 0.05;
        assert!(
            tool.points
                .iter()
                .all(|p| p[0] > -slack && p[0] < 1.0 + slack && p[1].abs() < slack),
            "points off the stroke"
        );
        assert!(!tool.in_stroke());
        // A right-button drag along the same line erases what lies within the brush of it.
        tick(
            &mut tool,
            vec![button(origin, PointerButton::Secondary, true)],
        );
        for i in 1..=40 {
            let p = origin + Vec2::new(step * i as f32 / 40.0, 0.0);
            tick(&mut tool, vec![Event::PointerMoved(p)]);
        }
        tick(
            &mut tool,
            vec![button(end, PointerButton::Secondary, false)],
        );
        assert!(
            tool.points.len() < n / 4,
            "{} left of {n}",
            tool.points.len()
        );
        tool.undo();
        assert_eq!(tool.points.len(), n);
        tool.undo();
        assert!(tool.points.is_empty());
    }
}
