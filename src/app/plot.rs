//! Axes for the GPU views: egui draws the frame, ticks and labels around a data rectangle;
//! the render layer draws the data inside it.

use eframe::egui;
use egui::{Align2, Color32, FontId, Pos2, Rect, Response, Sense, Stroke, StrokeKind, Ui, Vec2};

use crate::render::DataRect;

/// Where a plot sits on screen and which data it shows.
#[derive(Clone, Copy, Debug)]
pub struct PlotArea {
    /// The data area (inside the axes), in screen points.
    pub inner: Rect,
    /// The data rectangle shown.
    pub bounds: DataRect,
}

impl PlotArea {
    /// Data → screen.
    pub fn to_screen(&self, p: [f32; 2]) -> Pos2 {
        let (r, b) = (self.inner, self.bounds);
        Pos2::new(
            r.left() + (p[0] - b.x[0]) / (b.x[1] - b.x[0]) * r.width(),
            r.bottom() - (p[1] - b.y[0]) / (b.y[1] - b.y[0]) * r.height(),
        )
    }

    /// Screen → data.
    pub fn to_data(&self, p: Pos2) -> [f32; 2] {
        let (r, b) = (self.inner, self.bounds);
        [
            b.x[0] + (p.x - r.left()) / r.width() * (b.x[1] - b.x[0]),
            b.y[0] + (r.bottom() - p.y) / r.height() * (b.y[1] - b.y[0]),
        ]
    }
}

/// "Nice" tick positions (steps of 1, 2 or 5 × 10^k), about `target` of them, inside `[lo, hi]`.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return Vec::new();
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Formats a tick value compactly.
pub fn tick_label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-3 {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Labels of a plot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Labels<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// Under the x axis.
    pub x: &'a str,
    /// Left of the y axis.
    pub y: &'a str,
}

/// A title laid out for `width`: on one line at the largest size from 13 down to 10 pt that
/// fits, else broken at its "  ·  " separators into as few lines as fit at 11 pt (down to 9 pt
/// where a part alone is wider), so that three panels side by side keep their titles whole.
fn title_lines(painter: &egui::Painter, title: &str, width: f32) -> (Vec<String>, FontId) {
    let fits = |text: &str, font: &FontId| {
        painter
            .layout_no_wrap(text.to_string(), font.clone(), Color32::WHITE)
            .size()
            .x
            <= width
    };
    for pt in (10..=13).rev() {
        let font = FontId::proportional(pt as f32);
        if fits(title, &font) {
            return (vec![title.to_string()], font);
        }
    }
    const SEP: &str = "  ·  ";
    let parts: Vec<&str> = title.split(SEP).collect();
    let pack = |font: &FontId| {
        let mut lines: Vec<String> = Vec::new();
        for part in &parts {
            match lines.last_mut() {
                Some(line) if fits(&format!("{line}{SEP}{part}"), font) => {
                    line.push_str(SEP);
                    line.push_str(part);
                }
                _ => lines.push(part.to_string()),
            }
        }
        lines
    };
    for pt in [11.0, 10.0] {
        let font = FontId::proportional(pt);
        let lines = pack(&font);
        if lines.iter().all(|l| fits(l, &font)) {
            return (lines, font);
        }
    }
    // 9 pt whether or not every part fits: the smallest size a title takes.
    let font = FontId::proportional(9.0);
    (pack(&font), font)
}

/// The width a title may take above a plot of outer width `width`.
fn title_width(width: f32) -> f32 {
    width - 46.0 - 8.0 + 12.0
}

/// How many lines `title` takes above a plot of outer width `width`: panels side by side pass
/// the largest to [`plot_frame_in_row`], so that their plots line up.
pub fn title_rows(ui: &Ui, title: &str, width: f32) -> usize {
    title_lines(ui.painter(), title, title_width(width)).0.len()
}

/// Allocates `size`, draws a framed plot with ticks and labels for `bounds`, and returns the
/// response (hover, drag) and the data area.
pub fn plot_frame(
    ui: &mut Ui,
    size: Vec2,
    bounds: DataRect,
    labels: Labels,
) -> (Response, PlotArea) {
    plot_frame_in_row(ui, size, bounds, labels, 1)
}

/// [`plot_frame`] for one of several panels side by side: its plot starts below `rows` title
/// lines, or its own title's if that has more ([`title_rows`]).
pub fn plot_frame_in_row(
    ui: &mut Ui,
    size: Vec2,
    bounds: DataRect,
    labels: Labels,
    rows: usize,
) -> (Response, PlotArea) {
    let (outer, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
    let visuals = ui.visuals();
    let text = visuals.text_color();
    let weak = visuals.weak_text_color();
    let font = FontId::proportional(11.0);
    let painter = ui.painter_at(outer);
    // A long title (three panels side by side) shrinks, then breaks into lines, rather than
    // running under its neighbours' titles; the plot starts below the row's last title line
    // (14 px a line: an 11 pt line and its spacing, the largest size a broken title takes).
    let (lines, title_font) = title_lines(&painter, labels.title, title_width(outer.width()));
    let line_height = title_font.size + 3.0;
    let rows = rows.max(lines.len());
    let top = if rows > 1 {
        4.0 + 14.0 * rows as f32
    } else {
        20.0
    };
    let inner = Rect::from_min_max(
        outer.min + Vec2::new(46.0, top),
        outer.max - Vec2::new(8.0, 34.0),
    );
    let area = PlotArea { inner, bounds };
    painter.rect_filled(inner, 0.0, visuals.extreme_bg_color);
    for (i, line) in lines.iter().enumerate() {
        painter.text(
            Pos2::new(inner.center().x, outer.top() + 2.0 + line_height * i as f32),
            Align2::CENTER_TOP,
            line,
            title_font.clone(),
            text,
        );
    }
    let tick = Stroke::new(1.0, weak);
    for v in nice_ticks(bounds.x[0] as f64, bounds.x[1] as f64, 6) {
        let p = area.to_screen([v as f32, bounds.y[0]]);
        painter.line_segment([p, p + Vec2::new(0.0, 4.0)], tick);
        painter.text(
            p + Vec2::new(0.0, 5.0),
            Align2::CENTER_TOP,
            tick_label(v),
            font.clone(),
            weak,
        );
    }
    for v in nice_ticks(bounds.y[0] as f64, bounds.y[1] as f64, 5) {
        let p = area.to_screen([bounds.x[0], v as f32]);
        painter.line_segment([p, p - Vec2::new(4.0, 0.0)], tick);
        painter.text(
            p - Vec2::new(6.0, 0.0),
            Align2::RIGHT_CENTER,
            tick_label(v),
            font.clone(),
            weak,
        );
    }
    painter.text(
        Pos2::new(inner.center().x, outer.bottom() - 2.0),
        Align2::CENTER_BOTTOM,
        labels.x,
        font.clone(),
        text,
    );
    painter.text(
        Pos2::new(outer.left() + 2.0, inner.top() - 4.0),
        Align2::LEFT_BOTTOM,
        labels.y,
        font,
        text,
    );
    painter.rect_stroke(inner, 0.0, Stroke::new(1.0, weak), StrokeKind::Outside);
    (response, area)
}

/// Draws a horizontal colour bar for `colormap` over `range` under a label.
pub fn colorbar(ui: &mut Ui, colormap: crate::render::Colormap, range: [f32; 2], label: &str) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(220.0, 40.0), Sense::hover());
    // The label may be wider than the bar: it goes on its own line, unclipped.
    let painter = ui.painter().clone();
    let bar = Rect::from_min_size(rect.min, Vec2::new(rect.width(), 10.0));
    let steps = 64;
    for i in 0..steps {
        let c = colormap.eval((i as f32 + 0.5) / steps as f32);
        let x0 = bar.left() + bar.width() * i as f32 / steps as f32;
        let x1 = bar.left() + bar.width() * (i + 1) as f32 / steps as f32;
        painter.rect_filled(
            Rect::from_min_max(Pos2::new(x0, bar.top()), Pos2::new(x1 + 0.5, bar.bottom())),
            0.0,
            Color32::from_rgb(
                (c[0] * 255.0) as u8,
                (c[1] * 255.0) as u8,
                (c[2] * 255.0) as u8,
            ),
        );
    }
    let weak = ui.visuals().weak_text_color();
    let font = FontId::proportional(10.0);
    painter.text(
        bar.left_bottom(),
        Align2::LEFT_TOP,
        tick_label(range[0] as f64),
        font.clone(),
        weak,
    );
    painter.text(
        bar.left_bottom() + Vec2::new(0.0, 13.0),
        Align2::LEFT_TOP,
        label,
        font.clone(),
        weak,
    );
    painter.text(
        bar.right_bottom(),
        Align2::RIGHT_TOP,
        tick_label(range[1] as f64),
        font,
        weak,
    );
}

/// An egui_plot y axis labelled `label` whose tick labels show from one text height apart.
/// (egui_plot's default fades them in only from 20 px, so a plot 200 px tall spanning a few
/// tenths, with 0.1 steps about 20 px apart, had nearly invisible labels.)
pub fn y_axis<'a>(label: impl Into<egui::WidgetText>) -> Vec<egui_plot::AxisHints<'a>> {
    vec![
        egui_plot::AxisHints::new_y()
            .label(label)
            .label_spacing(15.0..=19.0),
    ]
}

/// Grid marks of a log₁₀ axis (each value plotted as its log₁₀): the decades, then 2 and 5
/// times them, then the other digits, each kind with its own step so that egui_plot fades the
/// finer ones out where they would crowd (their labels come from [`log10_tick_label`]).
pub fn log10_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (lo, hi) = input.bounds;
    if !(lo.is_finite() && hi.is_finite()) || hi - lo > 60.0 {
        return Vec::new();
    }
    let mut marks = Vec::new();
    for k in (lo.floor() as i32)..=(hi.ceil() as i32) {
        for m in 1..=9 {
            let value = k as f64 + (m as f64).log10();
            if (lo..=hi).contains(&value) {
                let step_size = match m {
                    1 => 1.0,
                    2 | 5 => 0.3,
                    _ => 0.05,
                };
                marks.push(egui_plot::GridMark { value, step_size });
            }
        }
    }
    marks
}

/// The number a log₁₀ axis mark stands for, in plain digits: "0.02", "5", "300".
pub fn log10_tick_label(mark: f64) -> String {
    let (mut k, mut digit) = (mark.floor(), 10f64.powf(mark - mark.floor()).round());
    if digit >= 10.0 {
        (k, digit) = (k + 1.0, 1.0);
    }
    if k >= 0.0 {
        format!("{}", digit * 10f64.powi(k as i32))
    } else {
        format!("{:.*}", (-k) as usize, digit * 10f64.powi(k as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_inside() {
        assert_eq!(nice_ticks(-2.4, 2.4, 6), vec![-2.0, -1.0, 0.0, 1.0, 2.0]);
        let t = nice_ticks(0.0, 1.0, 5);
        assert_eq!(t.len(), 6);
        assert!(
            t.iter()
                .enumerate()
                .all(|(i, v)| (v - 0.2 * i as f64).abs() < 1e-12)
        );
        assert!(nice_ticks(1.0, 1.0, 5).is_empty());
        assert_eq!(tick_label(0.5), "0.5");
        assert_eq!(tick_label(-2.0), "-2");
    }

    #[test]
    fn screen_and_data_round_trip() {
        let area = PlotArea {
            inner: Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::new(100.0, 50.0)),
            bounds: DataRect::new([-1.0, 1.0], [0.0, 5.0]),
        };
        let p = area.to_screen([0.0, 5.0]);
        assert_eq!(p, Pos2::new(60.0, 20.0), "top centre");
        let q = area.to_data(Pos2::new(110.0, 70.0));
        assert_eq!(q, [1.0, 0.0], "bottom right");
    }

    /// A log axis' marks fall on 1, 2, …, 9 times the decades in view, decades with the widest
    /// step, and are labelled with the numbers they stand for.
    #[test]
    fn log_axis_marks_are_digits_times_decades() {
        let marks = log10_marks(egui_plot::GridInput {
            bounds: (-2.0, 0.5),
            base_step_size: 0.01,
        });
        let labels: Vec<String> = marks.iter().map(|m| log10_tick_label(m.value)).collect();
        assert_eq!(labels.first().map(String::as_str), Some("0.01"));
        assert_eq!(labels.last().map(String::as_str), Some("3"));
        assert_eq!(labels.len(), 9 + 9 + 3);
        for (m, label) in marks.iter().zip(&labels) {
            let value: f64 = label.parse().unwrap();
            assert!(
                (value.log10() - m.value).abs() < 1e-9,
                "{label} at {}",
                m.value
            );
            let decade = label.trim_start_matches(['0', '.']).starts_with('1');
            assert_eq!(m.step_size == 1.0, decade, "{label}");
        }
        assert_eq!(log10_tick_label(2.0), "100");
        assert_eq!(log10_tick_label(0.3f64.log10()), "0.3");
        assert_eq!(log10_tick_label(0.999_999_999), "10");
        assert!(
            log10_marks(egui_plot::GridInput {
                bounds: (f64::NAN, 1.0),
                base_step_size: 0.1
            })
            .is_empty()
        );
    }
}
