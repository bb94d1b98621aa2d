//! Sweep figures: a measured number against the numeric grid field with the most values, one
//! series per sampler (and per value of the other grid fields), or, in a sweep without a
//! numeric field, against its grid points; the mean over seeds with ±1 standard-deviation
//! error bars. The drawing is in [`draw`].

mod draw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use self::draw::Layout;
use super::{Result, RunResult, value_label};
use crate::diffusion::SamplerKind;
use crate::metrics::TidEstimate;

/// The lines of a figure: label → points `(x, mean, std, seeds)`.
type Series = BTreeMap<String, Vec<(f64, f64, f64, usize)>>;

/// The x axis of a sweep: of the grid fields whose values are all numbers, the one with the
/// most distinct values (the first by name on a tie), so that a second, shorter numeric field
/// (two learning rates beside three widths) becomes the series; `None` when no field is
/// numeric (the figures then lay the grid points along x).
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

/// What a figure's x axis shows: a numeric grid field, or (a sweep without one) the grid
/// points themselves, named by their values.
enum Axis {
    /// The field's values.
    Field(String),
    /// The grid points in order of first appearance, as `"v1, v2"`.
    Points(Vec<String>),
}

impl Axis {
    /// The axis of `results`' figures: [`x_field`], else the grid points (`None` for fewer
    /// than two).
    fn of(results: &[RunResult]) -> Option<Self> {
        match x_field(results) {
            Some(k) => Some(Self::Field(k)),
            None => {
                let names = grid_points(results);
                (names.len() > 1).then_some(Self::Points(names))
            }
        }
    }

    /// `r`'s x: its field's value, or its grid point's index.
    fn x(&self, r: &RunResult) -> Option<f64> {
        match self {
            Self::Field(k) => r.params.get(k).and_then(serde_json::Value::as_f64),
            Self::Points(names) => names
                .iter()
                .position(|n| *n == point_name(&r.params))
                .map(|i| i as f64),
        }
    }

    /// The grid values of `r` that a series label carries (none when x is the grid point).
    fn others(&self, r: &RunResult) -> Vec<String> {
        match self {
            Self::Field(key) => r
                .params
                .iter()
                .filter(|(k, _)| *k != key)
                .map(|(k, v)| format!("{k}={}", value_label(v)))
                .collect(),
            Self::Points(_) => Vec::new(),
        }
    }

    /// In file names: `vs_width`, `by_point`.
    fn file_part(&self) -> String {
        match self {
            Self::Field(k) => format!("vs_{k}"),
            Self::Points(_) => "by_point".into(),
        }
    }

    /// In titles: `vs width`, `vs NFE`, `by objective, process`.
    fn title_part(&self, results: &[RunResult]) -> String {
        match self {
            Self::Field(k) => format!("vs {}", field_words(k).0),
            Self::Points(_) => {
                let keys: Vec<&str> = results
                    .first()
                    .map(|r| r.params.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                format!("by {}", keys.join(", "))
            }
        }
    }
}

/// A grid field in words: (in a title, as the x axis' label). Fields not named here are
/// shown by their key.
fn field_words(key: &str) -> (&str, &str) {
    match key {
        "nfe" => ("NFE", "network evaluations (NFE)"),
        "noise_scale" => (
            "γ",
            "the SDE's noise scale γ (0: the ODE, 1: the reverse SDE)",
        ),
        "eta" => ("η", "DDIM's η (0: deterministic, 1: ancestral)"),
        "k_fraction" => ("k", "Hill k, as a fraction of the TID subset"),
        "n_data" => ("training points", "training points"),
        "iters" => ("iterations", "training iterations"),
        "lr" => ("learning rate", "learning rate"),
        _ => (key, key),
    }
}

/// A grid point's name: its values, `"v1, v2"`.
fn point_name(params: &BTreeMap<String, serde_json::Value>) -> String {
    params
        .values()
        .map(value_label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The grid points of `results` in order of first appearance.
fn grid_points(results: &[RunResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in results {
        let n = point_name(&r.params);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// Groups `metric(result)` by series label and x, averaging over seeds.
fn series(
    results: &[RunResult],
    axis: &Axis,
    metric: &dyn Fn(&RunResult) -> Vec<(String, f64)>,
) -> Series {
    let mut raw: BTreeMap<String, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in results {
        let Some(x) = axis.x(r) else {
            continue;
        };
        let others = axis.others(r);
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

/// Writes the sweep's figures into `dir`: TID and its top term `d_top` against the x field at
/// every ε, and (where the exact score exists) the velocity-error correlation per sampler and the velocity MAE per
/// noise band. Returns the files written.
pub fn write_figures(dir: &Path, name: &str, results: &[RunResult]) -> Result<Vec<PathBuf>> {
    let Some(axis) = Axis::of(results) else {
        return Ok(Vec::new());
    };
    let (vs, along) = (axis.file_part(), axis.title_part(results));
    let x_label = match &axis {
        Axis::Field(k) => field_words(k).1.to_string(),
        Axis::Points(_) => String::new(),
    };
    let figure = |path: &Path, title: &str, y_label: &str, data: &Series| {
        let layout = match &axis {
            Axis::Field(_) => Layout::Values(&x_label),
            Axis::Points(names) => Layout::Names(names),
        };
        draw::figure(path, title, layout, y_label, data)
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
    // TID, and its top term where the results recorded the thresholds (`d_top`: the
    // densest k points' crowding against the data's, which TID can miss; REPRODUCTION §1).
    type Measure = (
        &'static str,
        &'static str,
        &'static str,
        fn(&TidEstimate) -> Option<f64>,
    );
    let measures: [Measure; 2] = [
        ("tid", "TID", "TID (> 0: concentrated)", |t| Some(t.mean)),
        (
            "tid_top",
            "d_top",
            "d_top, TID's top term (> 0: densest k more crowded)",
            |t| t.split().map(|s| s.top),
        ),
    ];
    for label in &labels {
        for (file, what, y_label, value) in measures {
            let data = series(results, &axis, &|r| {
                r.samplers
                    .iter()
                    .filter_map(|s| {
                        s.tid
                            .iter()
                            .enumerate()
                            .find(|(i, t)| r.radius_label(*i, t.eps) == *label)
                            .and_then(|(_, t)| value(t))
                            .map(|v| (s.name.clone(), v))
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
            // With a second grid field (series "ode, arch=skip"), one figure per sampler with
            // a line per value of that field: twelve lines in one legend are unreadable.
            let by_sampler = split_by_sampler(&data);
            if by_sampler.len() > 1 && by_sampler.iter().all(|(_, s)| s.len() > 1) {
                for (sampler, sub) in by_sampler {
                    let path = dir.join(format!("{file}_{vs}_{label}_{sampler}.png"));
                    let shown =
                        SamplerKind::from_name(&sampler).map_or(sampler.as_str(), |k| k.label());
                    figure(
                        &path,
                        &format!("{prefix}{shown} {what}(ε = {radius}) {along}{seeds_note}"),
                        y_label,
                        &sub,
                    )?;
                    written.push(path);
                }
                continue;
            }
            let path = dir.join(format!("{file}_{vs}_{label}.png"));
            figure(
                &path,
                &format!("{prefix}{what}(ε = {radius}) {along}{seeds_note}"),
                y_label,
                &data,
            )?;
            written.push(path);
        }
    }
    let corr = series(results, &axis, &|r| {
        r.samplers
            .iter()
            .filter_map(|s| s.error_correlation.map(|c| (s.name.clone(), c)))
            .collect()
    });
    if !corr.is_empty() {
        let path = dir.join(format!("error_corr_{vs}.png"));
        figure(
            &path,
            &format!("{prefix}velocity-error correlation along trajectories {along}{seeds_note}"),
            "mean corr(e(t_k), e(t_l)), t ≥ 0.05",
            &corr,
        )?;
        written.push(path);
    }
    let mae = series(results, &axis, &|r| {
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
            let path = dir.join(format!("mae_{short}_{vs}.png"));
            figure(
                &path,
                &format!("{prefix}velocity MAE, {band} band, {along}{seeds_note}"),
                "E|v_θ − v*|",
                &sub,
            )?;
            written.push(path);
        }
    } else if !mae.is_empty() {
        let path = dir.join(format!("mae_{vs}.png"));
        figure(
            &path,
            &format!("{prefix}velocity MAE per noise band {along}{seeds_note}"),
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
            train_device: None,
            sample_device: None,
            cpu: None,
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
        assert_eq!(draw::tick_label(-1e-17, 0.5), "0");
        assert_eq!(draw::tick_label(0.15000000000000002, 0.5), "0.15");
        assert_eq!(draw::tick_label(-0.05, 0.5), "-0.05");
        assert_eq!(draw::tick_label(0.2, 0.9), "0.2");
        assert_eq!(draw::tick_label(250.0, 1000.0), "250");
        // Legends name samplers as the app does; other series keep their names.
        assert_eq!(draw::legend_label("heun"), "ODE (Heun)");
        assert_eq!(
            draw::legend_label("sde, eta=0.5"),
            "SDE (Euler–Maruyama), eta=0.5"
        );
        assert_eq!(draw::legend_label("low noise"), "low noise");
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
        let s = series(&results, &Axis::Field("width".into()), &|r| {
            vec![("ode".into(), r.samplers[0].tid[0].mean)]
        });
        // Width 8: seeds give 8 and 9 → mean 8.5, sample std √0.5.
        let p = s["ode"][0];
        assert_eq!((p.0, p.1, p.3), (8.0, 8.5, 2));
        assert!((p.2 - 0.5f64.sqrt()).abs() < 1e-12);
        let dir = tempfile::tempdir().unwrap();
        let files = write_figures(dir.path(), "test", &results).unwrap();
        // TID, its top term, the MAE; results without thresholds get no top-term figure.
        assert_eq!(files.len(), 3);
        let old: Vec<RunResult> = results
            .iter()
            .cloned()
            .map(|mut r| {
                r.samplers[0].tid[0].threshold_train = None;
                r
            })
            .collect();
        let without = tempfile::tempdir().unwrap();
        assert_eq!(
            write_figures(without.path(), "test", &old).unwrap().len(),
            2
        );
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
        let names = grid_points(&results);
        assert_eq!(
            names,
            ["epsilon, vp", "epsilon, linear", "flow, vp", "flow, linear"]
        );
        let axis = Axis::Points(names);
        let of: Vec<f64> = results.iter().filter_map(|r| axis.x(r)).collect();
        assert_eq!(of, [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        // Point 1 holds runs 2 and 3 (seeds 0, 1): TID 2 and 3, mean 2.5.
        let s = series(&results, &axis, &|r| {
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
                "tid_top_by_point_eps0.1.png",
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
