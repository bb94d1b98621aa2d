//! Sweep figures (plotters, PNG): a measured number against the first numeric grid field, one
//! line per sampler (and per value of the other grid fields), the mean over seeds with ±1
//! standard-deviation error bars.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::{Result, RunResult, SweepError, value_label};

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

/// One line of a figure: label → points `(x, mean, std, seeds)`.
type Series = BTreeMap<String, Vec<(f64, f64, f64, usize)>>;

/// The x axis of a sweep: of the grid fields whose values are all numbers, the one with the
/// most distinct values (the first by name on a tie), so that a second, shorter numeric field
/// (two learning rates beside three widths) becomes the series; `None` when no field is
/// numeric (then there is nothing to draw a line over).
pub fn x_field(results: &[RunResult]) -> Option<String> {
    let first = results.first()?;
    let numeric = first.params.keys().filter(|k| {
        results
            .iter()
            .all(|r| r.params.get(*k).is_some_and(serde_json::Value::is_number))
    });
    let distinct = |k: &String| {
        let mut v: Vec<f64> = results
            .iter()
            .filter_map(|r| r.params.get(k).and_then(serde_json::Value::as_f64))
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v.len()
    };
    // The most values first, then the first name.
    numeric
        .min_by_key(|k| (std::cmp::Reverse(distinct(k)), *k))
        .cloned()
}

/// Series labelled `"SAMPLER, rest"` regrouped by sampler, each keyed by `rest`; series without
/// a `rest` stay under their own name with an empty key.
fn split_by_sampler(data: &Series) -> Vec<(String, Series)> {
    let mut out: Vec<(String, Series)> = Vec::new();
    for (name, pts) in data {
        let (sampler, rest) = name.split_once(", ").unwrap_or((name.as_str(), ""));
        let at = match out.iter().position(|(s, _)| s == sampler) {
            Some(i) => i,
            None => {
                out.push((sampler.to_string(), Series::default()));
                out.len() - 1
            }
        };
        out[at].1.insert(rest.to_string(), pts.clone());
    }
    out
}

/// Groups `metric(result)` by series label and x, averaging over seeds.
fn series(
    results: &[RunResult],
    x_key: &str,
    metric: &dyn Fn(&RunResult) -> Vec<(String, f64)>,
) -> Series {
    let mut raw: BTreeMap<String, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in results {
        let Some(x) = r.params.get(x_key).and_then(serde_json::Value::as_f64) else {
            continue;
        };
        let others: Vec<String> = r
            .params
            .iter()
            .filter(|(k, _)| k.as_str() != x_key)
            .map(|(k, v)| format!("{k}={}", value_label(v)))
            .collect();
        for (name, v) in metric(r) {
            if !v.is_finite() {
                continue;
            }
            let label = if others.is_empty() {
                name
            } else {
                format!("{name}, {}", others.join(", "))
            };
            raw.entry(label)
                .or_default()
                .entry(x.to_bits())
                .or_default()
                .push(v);
        }
    }
    raw.into_iter()
        .map(|(label, by_x)| {
            let mut pts: Vec<(f64, f64, f64, usize)> = by_x
                .into_iter()
                .map(|(xb, vs)| {
                    let n = vs.len() as f64;
                    let mean = vs.iter().sum::<f64>() / n;
                    let var = if vs.len() > 1 {
                        vs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
                    } else {
                        0.0
                    };
                    (f64::from_bits(xb), mean, var.sqrt(), vs.len())
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (label, pts)
        })
        .collect()
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

/// Draws one figure into `path`. The grid's x values sit at even spacing (sweeps are usually
/// geometric: widths 16, 32, 64…), labelled with their values.
fn line_figure(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    data: &Series,
) -> Result<()> {
    fonts();
    let (w, h) = (900u32, 600u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let mut grid_x: Vec<f64> = data.values().flatten().map(|p| p.0).collect();
    grid_x.sort_by(f64::total_cmp);
    grid_x.dedup();
    let (y_lo, y_hi) = data
        .values()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1 - p.2), b.max(p.1 + p.2))
        });
    if grid_x.is_empty() || !y_lo.is_finite() {
        return Err(SweepError::Plot(format!("nothing to plot for {title}")));
    }
    let pad = ((y_hi - y_lo) * 0.08).max(1e-3);
    let (y_lo, y_hi) = (y_lo.min(0.0) - pad, y_hi + pad);
    let n = grid_x.len();
    let at = |x: f64| SegmentValue::CenterOf(grid_x.iter().position(|g| *g == x).unwrap_or(0));
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plotting)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            // An integer range is inclusive here: `0..n - 1` gives n slots.
            .build_cartesian_2d((0..n - 1).into_segmented(), y_lo..y_hi)
            .map_err(plotting)?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < n => {
                let x = grid_x[*i];
                if (x - x.round()).abs() < 1e-9 {
                    format!("{}", x.round())
                } else {
                    format!("{x}")
                }
            }
            _ => String::new(),
        };
        let y_tick = |v: &f64| tick_label(*v, y_hi - y_lo);
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(n)
            .x_label_formatter(&label)
            .y_label_formatter(&y_tick)
            .disable_x_mesh()
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .max_light_lines(1)
            .light_line_style(RGBColor(0xF0, 0xF0, 0xF0))
            .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
            .draw()
            .map_err(plotting)?;
        if y_lo < 0.0 && y_hi > 0.0 {
            chart
                .draw_series(LineSeries::new(
                    [(SegmentValue::Exact(0), 0.0), (SegmentValue::Last, 0.0)],
                    BLACK.mix(0.4),
                ))
                .map_err(plotting)?;
        }
        let plain = data.keys().all(|k| sampler_colour(k).is_some());
        for (i, (name, pts)) in data.iter().enumerate() {
            let color = match sampler_colour(name) {
                Some(c) if plain => c,
                _ => PALETTE[i % PALETTE.len()],
            };
            let style = ShapeStyle::from(color).stroke_width(2);
            chart
                .draw_series(LineSeries::new(pts.iter().map(|p| (at(p.0), p.1)), style))
                .map_err(plotting)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3))
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((at(p.0), p.1), 4, color.filled())),
                )
                .map_err(plotting)?;
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
fn tick_label(v: f64, range: f64) -> String {
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

/// Writes the sweep's figures into `dir`: TID against the x field at every ε, and (where the
/// exact score exists) the velocity-error correlation per sampler and the velocity MAE per
/// noise band. Returns the files written.
pub fn write_figures(dir: &Path, name: &str, results: &[RunResult]) -> Result<Vec<PathBuf>> {
    let Some(x_key) = x_field(results) else {
        return categorical_figures(dir, name, results);
    };
    let mut written = Vec::new();
    // The radii by name (`eps0.05`, or `nn1` for multiples of the nearest-neighbour scale),
    // ordered by radius.
    let mut radii: Vec<(f64, String)> = results
        .iter()
        .flat_map(|r| {
            r.samplers.iter().flat_map(move |s| {
                s.tid
                    .iter()
                    .enumerate()
                    .map(move |(i, t)| (t.eps, r.radius_label(i, t.eps)))
            })
        })
        .collect();
    radii.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut labels: Vec<String> = Vec::new();
    for (_, l) in radii {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    let prefix = if name.is_empty() {
        String::new()
    } else {
        format!("{name}: ")
    };
    let seeds = results
        .iter()
        .map(|r| r.config.seed)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let seeds_note = if seeds > 1 {
        format!(" (mean ± std over {seeds} seeds)")
    } else {
        String::new()
    };
    for label in labels {
        let data = series(results, &x_key, &|r| {
            r.samplers
                .iter()
                .filter_map(|s| {
                    s.tid
                        .iter()
                        .enumerate()
                        .find(|(i, t)| r.radius_label(*i, t.eps) == label)
                        .map(|(_, t)| (s.name.to_uppercase(), t.mean))
                })
                .collect()
        });
        if data.is_empty() {
            continue;
        }
        let radius = match label.strip_prefix("nn") {
            Some(k) => format!("{k} × NN distance"),
            None => label.trim_start_matches("eps").to_string(),
        };
        // With a second grid field (series "ODE, arch=skip"), one figure per sampler with a
        // line per value of that field: twelve lines in one legend are unreadable.
        let by_sampler = split_by_sampler(&data);
        if by_sampler.len() > 1 && by_sampler.iter().all(|(_, s)| s.len() > 1) {
            for (sampler, sub) in by_sampler {
                let path = dir.join(format!(
                    "tid_vs_{x_key}_{label}_{}.png",
                    sampler.to_lowercase()
                ));
                line_figure(
                    &path,
                    &format!("{prefix}{sampler} TID(ε = {radius}) vs {x_key}{seeds_note}"),
                    &x_key,
                    "TID (> 0: concentrated)",
                    &sub,
                )?;
                written.push(path);
            }
            continue;
        }
        let path = dir.join(format!("tid_vs_{x_key}_{label}.png"));
        line_figure(
            &path,
            &format!("{prefix}TID(ε = {radius}) vs {x_key}{seeds_note}"),
            &x_key,
            "TID (> 0: concentrated)",
            &data,
        )?;
        written.push(path);
    }
    let corr = series(results, &x_key, &|r| {
        r.samplers
            .iter()
            .filter_map(|s| s.error_correlation.map(|c| (s.name.to_uppercase(), c)))
            .collect()
    });
    if !corr.is_empty() {
        let path = dir.join(format!("error_corr_vs_{x_key}.png"));
        line_figure(
            &path,
            &format!(
                "{prefix}velocity-error correlation along trajectories vs {x_key}{seeds_note}"
            ),
            &x_key,
            "mean corr(e(t_k), e(t_l)), t ≥ 0.05",
            &corr,
        )?;
        written.push(path);
    }
    let mae = series(results, &x_key, &|r| {
        let mut v = Vec::new();
        if let Some(m) = r.mae_low {
            v.push(("low noise".to_string(), m));
        }
        if let Some(m) = r.mae_high {
            v.push(("high noise".to_string(), m));
        }
        v
    });
    let bands = split_by_sampler(&mae);
    if bands.len() > 1 && bands.iter().all(|(_, s)| s.len() > 1) {
        // One figure per band, a line per value of the other grid field.
        for (band, sub) in bands {
            let short = band.split(' ').next().unwrap_or("band");
            let path = dir.join(format!("mae_{short}_vs_{x_key}.png"));
            line_figure(
                &path,
                &format!("{prefix}velocity MAE, {band} band, vs {x_key}{seeds_note}"),
                &x_key,
                "E|v_θ − v*|",
                &sub,
            )?;
            written.push(path);
        }
    } else if !mae.is_empty() {
        let path = dir.join(format!("mae_vs_{x_key}.png"));
        line_figure(
            &path,
            &format!("{prefix}velocity MAE per noise band vs {x_key}{seeds_note}"),
            &x_key,
            "E|v_θ − v*|",
            &mae,
        )?;
        written.push(path);
    }
    Ok(written)
}

/// The grid points of `results` in order of first appearance, each as `"v1, v2"` (its grid
/// values), and each result's point.
fn grid_points(results: &[RunResult]) -> (Vec<String>, Vec<usize>) {
    let mut points: Vec<&BTreeMap<String, serde_json::Value>> = Vec::new();
    let mut of = Vec::with_capacity(results.len());
    for r in results {
        let at = match points.iter().position(|p| **p == r.params) {
            Some(i) => i,
            None => {
                points.push(&r.params);
                points.len() - 1
            }
        };
        of.push(at);
    }
    let names = points
        .iter()
        .map(|p| p.values().map(value_label).collect::<Vec<_>>().join(", "))
        .collect();
    (names, of)
}

/// One number per sampler (or band) at every grid point, averaged over seeds: `(name →
/// [(point, mean, std, seeds)])`.
fn point_series(
    results: &[RunResult],
    metric: &dyn Fn(&RunResult) -> Vec<(String, f64)>,
) -> Series {
    let (_, of) = grid_points(results);
    let mut raw: BTreeMap<String, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    for (r, &point) in results.iter().zip(&of) {
        for (name, v) in metric(r) {
            if v.is_finite() {
                raw.entry(name)
                    .or_default()
                    .entry(point)
                    .or_default()
                    .push(v);
            }
        }
    }
    raw.into_iter()
        .map(|(name, by_point)| {
            let pts = by_point
                .into_iter()
                .map(|(point, vs)| {
                    let n = vs.len() as f64;
                    let mean = vs.iter().sum::<f64>() / n;
                    let var = if vs.len() > 1 {
                        vs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
                    } else {
                        0.0
                    };
                    (point as f64, mean, var.sqrt(), vs.len())
                })
                .collect();
            (name, pts)
        })
        .collect()
}

/// Draws a dot plot into `path`: the grid points (named `names`) along x, each series as
/// dots side by side with ±1 std error bars.
fn dot_figure(
    path: &Path,
    title: &str,
    names: &[String],
    y_label: &str,
    data: &Series,
) -> Result<()> {
    fonts();
    let (w, h) = (1000u32, 620u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let (y_lo, y_hi) = data
        .values()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1 - p.2), b.max(p.1 + p.2))
        });
    if names.is_empty() || !y_lo.is_finite() {
        return Err(SweepError::Plot(format!("nothing to plot for {title}")));
    }
    let pad = ((y_hi - y_lo) * 0.08).max(1e-3);
    let (y_lo, y_hi) = (y_lo.min(0.0) - pad, y_hi + pad);
    let n = names.len();
    let k = data.len().max(1);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plotting)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, y_lo..y_hi)
            .map_err(plotting)?;
        let x_tick = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                names[i as usize].clone()
            } else {
                String::new()
            }
        };
        let y_tick = |v: &f64| tick_label(*v, y_hi - y_lo);
        chart
            .configure_mesh()
            .y_desc(y_label)
            .x_labels(n + 1)
            .x_label_formatter(&x_tick)
            .y_label_formatter(&y_tick)
            .disable_x_mesh()
            .label_style(("sans-serif", 15))
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
        for (i, (name, pts)) in data.iter().enumerate() {
            let color = match sampler_colour(name) {
                Some(c) if plain => c,
                _ => PALETTE[i % PALETTE.len()],
            };
            // Series side by side within a grid point's slot.
            let dx = (i as f64 - (k as f64 - 1.0) / 2.0) * 0.5 / k as f64;
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.0 + dx, p.1), 5, color.filled())),
                )
                .map_err(plotting)?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
            chart
                .draw_series(pts.iter().filter(|p| p.3 > 1).map(|p| {
                    PathElement::new(
                        [(p.0 + dx, p.1 - p.2), (p.0 + dx, p.1 + p.2)],
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

/// A sweep without a numeric grid field (objectives × processes, say): a dot plot per
/// measured number with the grid points along x. Returns the files written.
fn categorical_figures(dir: &Path, name: &str, results: &[RunResult]) -> Result<Vec<PathBuf>> {
    let (names, _) = grid_points(results);
    if names.len() < 2 {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = results
        .first()
        .map(|r| r.params.keys().cloned().collect())
        .unwrap_or_default();
    let axis = keys.join(", ");
    let prefix = if name.is_empty() {
        String::new()
    } else {
        format!("{name}: ")
    };
    let mut written = Vec::new();
    let mut labels: Vec<(f64, String)> = Vec::new();
    for r in results {
        for s in &r.samplers {
            for (i, t) in s.tid.iter().enumerate() {
                let l = r.radius_label(i, t.eps);
                if !labels.iter().any(|(_, x)| *x == l) {
                    labels.push((t.eps, l));
                }
            }
        }
    }
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, label) in labels {
        let data = point_series(results, &|r| {
            r.samplers
                .iter()
                .filter_map(|s| {
                    s.tid
                        .iter()
                        .enumerate()
                        .find(|(i, t)| r.radius_label(*i, t.eps) == label)
                        .map(|(_, t)| (s.name.to_uppercase(), t.mean))
                })
                .collect()
        });
        let radius = match label.strip_prefix("nn") {
            Some(k) => format!("{k} × NN distance"),
            None => label.trim_start_matches("eps").to_string(),
        };
        let path = dir.join(format!("tid_by_point_{label}.png"));
        dot_figure(
            &path,
            &format!("{prefix}TID(ε = {radius}) by {axis}"),
            &names,
            "TID (> 0: concentrated)",
            &data,
        )?;
        written.push(path);
    }
    let corr = point_series(results, &|r| {
        r.samplers
            .iter()
            .filter_map(|s| s.error_correlation.map(|c| (s.name.to_uppercase(), c)))
            .collect()
    });
    if !corr.is_empty() {
        let path = dir.join("error_corr_by_point.png");
        dot_figure(
            &path,
            &format!("{prefix}velocity-error correlation by {axis}"),
            &names,
            "mean corr(e(t_k), e(t_l)), t ≥ 0.05",
            &corr,
        )?;
        written.push(path);
    }
    let mae = point_series(results, &|r| {
        let mut v = Vec::new();
        if let Some(m) = r.mae_low {
            v.push(("low noise".to_string(), m));
        }
        if let Some(m) = r.mae_high {
            v.push(("high noise".to_string(), m));
        }
        v
    });
    if !mae.is_empty() {
        let path = dir.join("mae_by_point.png");
        dot_figure(
            &path,
            &format!("{prefix}velocity MAE per noise band by {axis}"),
            &names,
            "E|v_θ − v*|",
            &mae,
        )?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::{SamplerResult, SweepSpec};

    /// A fake result of planned run `p`: its samplers' TID at one radius `eps` (from
    /// `tid(p)`), the MAE bands, and an error correlation of 0.5 when `corr`.
    fn fake(
        p: crate::sweep::PlannedRun,
        samplers: &[&str],
        eps: f64,
        tid: f64,
        mae: (Option<f64>, Option<f64>),
        corr: bool,
    ) -> RunResult {
        RunResult {
            index: p.index,
            id: p.id.clone(),
            params: p.params.clone(),
            iterations: 1,
            final_loss: None,
            train_seconds: 0.0,
            mae_low: mae.0,
            mae_high: mae.1,
            diverged: None,
            samplers: samplers
                .iter()
                .map(|name| SamplerResult {
                    name: name.to_string(),
                    steps: 1,
                    nfe: None,
                    reference: None,
                    seconds: 0.0,
                    tid: vec![crate::metrics::TidEstimate::fixture(eps, tid)],
                    error_correlation: corr.then_some(0.5),
                })
                .collect(),
            eps_nn_scale: None,
            trained_by: None,
            config: p.config,
        }
    }

    #[test]
    fn figures_average_over_seeds_and_are_drawn() {
        let spec = SweepSpec::parse(
            "seeds = [0, 1]\n[base]\ndataset = \"mog1d\"\n[grid]\nwidth = [8, 64]\n",
        )
        .unwrap();
        let results: Vec<RunResult> = spec
            .expand()
            .unwrap()
            .into_iter()
            .map(|p| {
                let tid = p.config.model.width.unwrap() as f64 + p.config.seed as f64;
                let mae = (Some(0.1 * p.config.seed as f64), None);
                fake(p, &["ode"], 0.1, tid, mae, false)
            })
            .collect();
        assert_eq!(x_field(&results).as_deref(), Some("width"));
        // Tick labels: no "-0", no float noise, no trailing zeros.
        assert_eq!(tick_label(-1e-17, 0.5), "0");
        assert_eq!(tick_label(0.15000000000000002, 0.5), "0.15");
        assert_eq!(tick_label(-0.05, 0.5), "-0.05");
        assert_eq!(tick_label(0.2, 0.9), "0.2");
        assert_eq!(tick_label(250.0, 1000.0), "250");
        // Two numeric fields: the one with more values is the axis, whatever its name.
        let with = |lr: f64, width: u64| {
            let mut r = results[0].clone();
            r.params.insert("lr".into(), serde_json::json!(lr));
            r.params.insert("width".into(), serde_json::json!(width));
            r
        };
        let two = [with(1e-3, 8), with(5e-3, 8), with(1e-3, 16), with(1e-3, 64)];
        assert_eq!(x_field(&two).as_deref(), Some("width"));
        assert_eq!(x_field(&two[..2]).as_deref(), Some("lr"));
        // A tie goes to the first by name.
        assert_eq!(
            x_field(&[with(1e-3, 8), with(5e-3, 16)]).as_deref(),
            Some("lr")
        );
        let s = series(&results, "width", &|r| {
            vec![("ode".into(), r.samplers[0].tid[0].mean)]
        });
        // Width 8: seeds give 8 and 9 → mean 8.5, sample std √0.5.
        let p = s["ode"][0];
        assert_eq!((p.0, p.1, p.3), (8.0, 8.5, 2));
        assert!((p.2 - 0.5f64.sqrt()).abs() < 1e-12);
        let dir = tempfile::tempdir().unwrap();
        let files = write_figures(dir.path(), "test", &results).unwrap();
        assert_eq!(files.len(), 2);
        for f in files {
            let img = std::fs::read(&f).unwrap();
            assert!(img.len() > 5000, "{} is suspiciously small", f.display());
            assert_eq!(&img[1..4], b"PNG");
        }
    }

    /// A sweep without a numeric grid field (objectives × processes) gets dot plots with its
    /// grid points along x, averaged over seeds in each point.
    #[test]
    fn categorical_sweeps_get_dot_plots() {
        let spec = SweepSpec::parse(
            "seeds = [0, 1]\n[base]\ndataset = \"mog1d\"\n[grid]\nobjective = [\"epsilon\", \"flow\"]\nprocess = [\"vp\", \"linear\"]\n",
        )
        .unwrap();
        let results: Vec<RunResult> = spec
            .expand()
            .unwrap()
            .into_iter()
            .map(|p| {
                let (index, mae) = (p.index as f64, (Some(0.1), Some(0.2 + p.index as f64)));
                fake(p, &["ode", "sde"], 0.1, index, mae, true)
            })
            .collect();
        assert_eq!(x_field(&results), None);
        let (names, of) = grid_points(&results);
        assert_eq!(
            names,
            ["epsilon, vp", "epsilon, linear", "flow, vp", "flow, linear"]
        );
        assert_eq!(of, [0, 0, 1, 1, 2, 2, 3, 3]);
        // Point 1 holds runs 2 and 3 (seeds 0, 1): TID 2 and 3, mean 2.5.
        let s = point_series(&results, &|r| {
            vec![("ODE".into(), r.samplers[0].tid[0].mean)]
        });
        assert_eq!((s["ODE"][1].0, s["ODE"][1].1, s["ODE"][1].3), (1.0, 2.5, 2));
        let dir = tempfile::tempdir().unwrap();
        let files = write_figures(dir.path(), "test", &results).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "tid_by_point_eps0.1.png",
                "error_corr_by_point.png",
                "mae_by_point.png"
            ]
        );
        for f in files {
            let img = std::fs::read(&f).unwrap();
            assert!(img.len() > 5000, "{} is suspiciously small", f.display());
        }
    }
}
