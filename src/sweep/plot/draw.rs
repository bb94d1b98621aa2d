//! Drawing the sweep figures (plotters, PNG): one figure function for both layouts, a
//! numeric grid field (lines through the grid values) and named grid points (dots side by
//! side); the mean over seeds with ±1 standard-deviation error bars.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::Series;
use crate::diffusion::SamplerKind;
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

/// The sampler a series is of: its name, or the part before ", " (`"ode, arch=skip"`), read
/// as a sampler's CLI name.
fn series_sampler(name: &str) -> Option<(SamplerKind, &str)> {
    let (first, rest) = name.split_once(", ").unwrap_or((name, ""));
    SamplerKind::ALL
        .into_iter()
        .find(|k| k.name() == first)
        .map(|k| (k, rest))
}

/// A series' name in the legend: a sampler's display name (`"ODE (Euler), arch=skip"`).
pub(super) fn legend_label(name: &str) -> String {
    match series_sampler(name) {
        Some((kind, "")) => kind.label().to_string(),
        Some((kind, rest)) => format!("{}, {rest}", kind.label()),
        None => name.to_string(),
    }
}

/// The app's colour for a sampler's series (Okabe–Ito; yellow darkened for a white
/// background).
fn sampler_colour(name: &str) -> Option<RGBColor> {
    Some(match series_sampler(name)?.0 {
        SamplerKind::OdeEuler => RGBColor(0xE6, 0x9F, 0x00),
        SamplerKind::Sde => RGBColor(0x56, 0xB4, 0xE9),
        SamplerKind::PredictorCorrector => RGBColor(0x00, 0x9E, 0x73),
        SamplerKind::Ddim => RGBColor(0xD5, 0x5E, 0x00),
        SamplerKind::DpmSolver2 => RGBColor(0xCC, 0x79, 0xA7),
        SamplerKind::OdeHeun => RGBColor(0xB8, 0xA2, 0x00),
        SamplerKind::AnnealedLangevin => RGBColor(0x00, 0x72, 0xB2),
    })
}

/// The legend's corner: the first of the four that no line, dot or error bar reaches; where
/// every corner is taken, the upper right with the y axis' top raised to clear it. Returns the
/// corner and the top of the y axis.
fn legend_place(
    data: &Series,
    slot: &dyn Fn(f64) -> f64,
    n: usize,
    lines: bool,
    (w, h): (u32, u32),
    (y_lo, y_hi): (f64, f64),
) -> (SeriesLabelPosition, f64) {
    // The legend box as a fraction of the plot area: its marker and padding (42 px) and 16 px
    // text (about 8.5 px a character) across, plus a margin; 21 px a line and padding down.
    // The plot area is the figure less the y label area and margins (96 px) across, and less
    // the caption, the x label area and margins (120 px) down.
    let labels: Vec<String> = data.keys().map(|k| legend_label(k)).collect();
    let box_size = (
        (42.0 + 8.5 * labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 + 24.0)
            / (w as f64 - 96.0),
        (labels.len() as f64 * 21.0 + 34.0) / (h as f64 - 120.0),
    );
    let ink = ink_points(data, slot, n, lines);
    // The corners in order of preference, each as (on the right, at the top).
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let inked = |right: bool, upper: bool, y_lo: f64, y_hi: f64| {
        ink.iter().any(|(u, y)| {
            let v = (y - y_lo) / (y_hi - y_lo);
            (if right {
                *u > 1.0 - box_size.0
            } else {
                *u < box_size.0
            }) && (if upper {
                v > 1.0 - box_size.1
            } else {
                v < box_size.1
            })
        })
    };
    let free = corners
        .iter()
        .find(|(_, right, upper)| !inked(*right, *upper, y_lo, y_hi));
    match free {
        Some((at, _, _)) => (at.clone(), y_hi),
        None => {
            // Raise the top until the upper right holds no ink (at most doubling the range).
            let mut top = y_hi;
            while inked(true, true, y_lo, top) && top < y_hi + (y_hi - y_lo) {
                top += (y_hi - y_lo) * 0.05;
            }
            (SeriesLabelPosition::UpperRight, top)
        }
    }
}

/// Where a figure puts ink, as (x in [0, 1] across the plot, y in data units): its dots,
/// points along its lines, and points along its error bars.
fn ink_points(data: &Series, slot: &dyn Fn(f64) -> f64, n: usize, lines: bool) -> Vec<(f64, f64)> {
    let u = |x: f64| (slot(x) + 0.5) / n as f64;
    let mut ink = Vec::new();
    for pts in data.values() {
        for p in pts {
            for k in 0..=8 {
                ink.push((u(p.0), p.1 - p.2 + 2.0 * p.2 * k as f64 / 8.0));
            }
        }
        if lines {
            for pair in pts.windows(2) {
                let ((x0, y0), (x1, y1)) = ((u(pair[0].0), pair[0].1), (u(pair[1].0), pair[1].1));
                for k in 1..32 {
                    let f = k as f64 / 32.0;
                    ink.push((x0 + (x1 - x0) * f, y0 + (y1 - y0) * f));
                }
            }
        }
    }
    ink
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
    let (legend_at, y_hi) = legend_place(data, &slot, n, lines, (w, h), (y_lo, y_hi));
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
        // Samplers in the app's order (ODE, Heun, DDIM, DPM-Solver-2, SDE, …), then by name.
        let mut series: Vec<_> = data.iter().collect();
        series.sort_by_key(|(name, _)| {
            let at =
                series_sampler(name).map(|(s, _)| SamplerKind::ALL.iter().position(|k| *k == s));
            (at.flatten().unwrap_or(usize::MAX), name.as_str())
        });
        for (i, (name, pts)) in series.into_iter().enumerate() {
            let label = legend_label(name);
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
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3))
                    });
            } else {
                dots.label(label)
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
            .position(legend_at)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The legend goes to the first corner free of ink, and where none is, above the data.
    #[test]
    fn the_legend_takes_a_free_corner() {
        let slot = |x: f64| x;
        let at = |lines: &[&[(f64, f64)]]| {
            let data: Series = ["ode", "sde"]
                .into_iter()
                .zip(lines)
                .map(|(name, pts)| {
                    (
                        name.into(),
                        pts.iter().map(|&(x, y)| (x, y, 0.0, 1)).collect(),
                    )
                })
                .collect();
            let (corner, top) = legend_place(&data, &slot, 4, true, (900, 600), (0.0, 1.0));
            (format!("{corner:?}"), top)
        };
        // Rising to the upper right: the upper left is free.
        assert_eq!(at(&[&[(0.0, 0.1), (3.0, 0.95)]]), ("UpperLeft".into(), 1.0));
        // Flat along the top: the lower right.
        assert_eq!(
            at(&[&[(0.0, 0.95), (3.0, 0.95)]]),
            ("LowerRight".into(), 1.0)
        );
        // Flat along the top and the bottom: the upper right, with the top raised.
        let (corner, top) = at(&[&[(0.0, 1.0), (3.0, 1.0)], &[(0.0, 0.0), (3.0, 0.0)]]);
        assert_eq!(corner, "UpperRight");
        assert!(top > 1.1 && top <= 2.0, "{top}");
    }
}
