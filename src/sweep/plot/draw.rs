//! Drawing the sweep figures (plotters, PNG): one figure function for both layouts, a
//! numeric grid field (lines through the grid values) and named grid points (dots side by
//! side); the mean over seeds with ±1 standard-deviation error bars.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::Series;
use crate::sweep::{Result, SweepError};

/// A plotters error as a sweep error.
fn plotting(e: impl std::fmt::Display) -> SweepError {
    SweepError::Plot(e.to_string())
}

/// Okabe–Ito colours (colour-blind safe) for series that are not one sampler each.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0xF0, 0xE4, 0x42),
];

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The app's own UI font (shipped with egui), so figures need no system fonts.
        let _ = register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// The app's colour for a sampler name (Okabe–Ito; yellow darkened for a white background).
fn sampler_colour(name: &str) -> Option<RGBColor> {
    Some(match name {
        "ODE" => RGBColor(0xE6, 0x9F, 0x00),
        "SDE" => RGBColor(0x56, 0xB4, 0xE9),
        "PC" => RGBColor(0x00, 0x9E, 0x73),
        "DDIM" => RGBColor(0xD5, 0x5E, 0x00),
        "DPM2" => RGBColor(0xCC, 0x79, 0xA7),
        "HEUN" => RGBColor(0xB8, 0xA2, 0x00),
        "ALD" => RGBColor(0x00, 0x72, 0xB2),
        _ => return None,
    })
}

/// How a figure lays out its x axis.
pub(super) enum Layout<'a> {
    /// A numeric grid field (named here): its values at even spacing (sweeps are usually
    /// geometric: widths 16, 32, 64…), labelled with their values, each series a line.
    Values(&'a str),
    /// Named grid points (x is a point's index): each series as dots, side by side.
    Names(&'a [String]),
}

/// Draws one figure into `path`: every series of `data` against x laid out by `layout`, the
/// mean over seeds with ±1 std error bars (where there are several seeds), a line at 0.
pub(super) fn figure(
    path: &Path,
    title: &str,
    layout: Layout<'_>,
    y_label: &str,
    data: &Series,
) -> Result<()> {
    fonts();
    let lines = matches!(layout, Layout::Values(_));
    // The slots along x, their tick labels, and which slot an x value falls in.
    let (slots, ticks): (Vec<f64>, Vec<String>) = match layout {
        Layout::Values(_) => {
            let mut xs: Vec<f64> = data.values().flatten().map(|p| p.0).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let ticks = xs
                .iter()
                .map(|&x| {
                    if (x - x.round()).abs() < 1e-9 {
                        format!("{}", x.round())
                    } else {
                        format!("{x}")
                    }
                })
                .collect();
            (xs, ticks)
        }
        Layout::Names(names) => ((0..names.len()).map(|i| i as f64).collect(), names.to_vec()),
    };
    let (y_lo, y_hi) = data
        .values()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1 - p.2), b.max(p.1 + p.2))
        });
    if slots.is_empty() || !y_lo.is_finite() {
        return Err(SweepError::Plot(format!("nothing to plot for {title}")));
    }
    let pad = ((y_hi - y_lo) * 0.08).max(1e-3);
    let (y_lo, y_hi) = (y_lo.min(0.0) - pad, y_hi + pad);
    let n = slots.len();
    let slot = |x: f64| slots.iter().position(|s| *s == x).unwrap_or(0) as f64;
    let (w, h) = if lines { (900u32, 600u32) } else { (1000, 620) };
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plotting)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", if lines { 24 } else { 22 }))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, y_lo..y_hi)
            .map_err(plotting)?;
        let x_tick = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                ticks[i as usize].clone()
            } else {
                String::new()
            }
        };
        let y_tick = |v: &f64| tick_label(*v, y_hi - y_lo);
        let x_desc = match layout {
            Layout::Values(name) => name,
            Layout::Names(_) => "",
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_label)
            .x_labels(n + 1)
            .x_label_formatter(&x_tick)
            .y_label_formatter(&y_tick)
            .disable_x_mesh()
            .label_style(("sans-serif", if lines { 16 } else { 15 }))
            .axis_desc_style(("sans-serif", 18))
            .max_light_lines(1)
            .light_line_style(RGBColor(0xF0, 0xF0, 0xF0))
            .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
            .draw()
            .map_err(plotting)?;
        if y_lo < 0.0 && y_hi > 0.0 {
            chart
                .draw_series(LineSeries::new(
                    [(-0.5, 0.0), (n as f64 - 0.5, 0.0)],
                    BLACK.mix(0.4),
                ))
                .map_err(plotting)?;
        }
        let plain = data.keys().all(|k| sampler_colour(k).is_some());
        let k = data.len().max(1);
        for (i, (name, pts)) in data.iter().enumerate() {
            let color = match sampler_colour(name) {
                Some(c) if plain => c,
                _ => PALETTE[i % PALETTE.len()],
            };
            // Dots of several series sit side by side within a grid point's slot.
            let dx = if lines {
                0.0
            } else {
                (i as f64 - (k as f64 - 1.0) / 2.0) * 0.5 / k as f64
            };
            let at = |x: f64| slot(x) + dx;
            let radius = if lines { 4 } else { 5 };
            let dots = chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((at(p.0), p.1), radius, color.filled())),
                )
                .map_err(plotting)?;
            if lines {
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|p| (at(p.0), p.1)),
                        ShapeStyle::from(color).stroke_width(2),
                    ))
                    .map_err(plotting)?
                    .label(name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3))
                    });
            } else {
                dots.label(name.clone())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
            }
            // ±1 std error bars (over seeds).
            chart
                .draw_series(pts.iter().filter(|p| p.3 > 1).map(|p| {
                    PathElement::new(
                        [(at(p.0), p.1 - p.2), (at(p.0), p.1 + p.2)],
                        color.stroke_width(2),
                    )
                }))
                .map_err(plotting)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 16))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plotting)?;
        root.present().map_err(plotting)?;
    }
    write_rgb_png(path, &buf, w, h)
}

/// A y tick's text: enough decimals for ticks about a tenth of `range` apart, trailing zeros
/// dropped, and never "-0" (a tick at zero computed as -1e-17).
pub(super) fn tick_label(v: f64, range: f64) -> String {
    let step = (range / 10.0).abs().max(1e-12);
    let decimals = (-step.log10().floor()).max(0.0) as usize + 1;
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".into() } else { text }
}

fn write_rgb_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(rgb))
        .map_err(|e| SweepError::Plot(format!("writing {}: {e}", path.display())))?;
    Ok(())
}
