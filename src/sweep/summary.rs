//! A sweep's summaries: `summary.csv` (one row per run) and `summary.md` (mean ± std over
//! seeds per grid point, and where the runs ran).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{RunResult, value_label};

/// The grid keys and the measured numbers (`metrics` of each run) of `results`, each in order
/// of first appearance.
fn columns(
    results: &[RunResult],
    metrics_of: fn(&RunResult) -> Vec<(String, f64)>,
) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<String> = Vec::new();
    let mut metrics: Vec<String> = Vec::new();
    for r in results {
        for k in r.params.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        for (m, _) in metrics_of(r) {
            if !metrics.contains(&m) {
                metrics.push(m);
            }
        }
    }
    (keys, metrics)
}

/// Every number of a run `summary.csv` has: [`RunResult::metrics`], then TID's two terms.
fn csv_metrics(r: &RunResult) -> Vec<(String, f64)> {
    let mut m = r.metrics();
    m.extend(r.tid_split_metrics());
    m
}

/// The summary table: one row per run, the grid values, the seed and every measured number,
/// with TID's two terms ([`RunResult::tid_split_metrics`]).
pub fn summary_csv(results: &[RunResult]) -> String {
    let (keys, metrics) = columns(results, csv_metrics);
    let mut out = String::from("id");
    for k in &keys {
        out.push(',');
        out.push_str(k);
    }
    out.push_str(",seed");
    for m in &metrics {
        out.push(',');
        out.push_str(m);
    }
    out.push('\n');
    for r in results {
        out.push_str(&csv_cell(&r.id));
        for k in &keys {
            out.push(',');
            out.push_str(
                &r.params
                    .get(k)
                    .map(value_label)
                    .map_or(String::new(), |s| csv_cell(&s)),
            );
        }
        out.push_str(&format!(",{}", r.config.seed));
        let values: BTreeMap<String, f64> = csv_metrics(r).into_iter().collect();
        for m in &metrics {
            out.push(',');
            if let Some(v) = values.get(m) {
                out.push_str(&format!("{v}"));
            }
        }
        out.push('\n');
    }
    out
}

/// A Markdown table of every grid point: the mean ± standard deviation over its seeds of each
/// measured number (what `docs/REPRODUCTION.md` quotes).
pub fn summary_markdown(results: &[RunResult]) -> String {
    let (keys, metrics) = columns(results, RunResult::metrics);
    let mut points: Vec<(BTreeMap<String, Value>, Vec<&RunResult>)> = Vec::new();
    for r in results {
        match points.iter_mut().find(|(p, _)| *p == r.params) {
            Some((_, rs)) => rs.push(r),
            None => points.push((r.params.clone(), vec![r])),
        }
    }
    let mut out = String::from("|");
    for k in &keys {
        out.push_str(&format!(" {k} |"));
    }
    out.push_str(" seeds |");
    for m in &metrics {
        out.push_str(&format!(" {m} |"));
    }
    out.push_str("\n|");
    out.push_str(&"---|".repeat(keys.len() + 1 + metrics.len()));
    out.push('\n');
    for (params, rs) in &points {
        out.push('|');
        for k in &keys {
            out.push_str(&format!(
                " {} |",
                params.get(k).map(value_label).unwrap_or_default()
            ));
        }
        out.push_str(&format!(" {} |", rs.len()));
        for m in &metrics {
            let vs: Vec<f64> = rs
                .iter()
                .filter_map(|r| r.metrics().into_iter().find(|(n, _)| n == m).map(|x| x.1))
                .collect();
            out.push_str(&match mean_std(&vs) {
                Some((mean, std)) if vs.len() > 1 => format!(" {mean:.3} ± {std:.3} |"),
                Some((mean, _)) => format!(" {mean:.3} |"),
                None => " |".into(),
            });
        }
        out.push('\n');
    }
    // Where the runs ran, when they recorded it (the same seed gives the same numbers on one
    // backend, so a sweep resumed on another machine says so here).
    let train: Vec<Option<&str>> = results.iter().map(|r| r.train_device.as_deref()).collect();
    let sample: Vec<Option<&str>> = results.iter().map(|r| r.sample_device.as_deref()).collect();
    let cpu: Vec<Option<&str>> = results.iter().map(|r| r.cpu.as_deref()).collect();
    for (what, of) in [("trained on", train), ("sampled on", sample), ("CPU", cpu)] {
        let mut devices: BTreeMap<&str, usize> = BTreeMap::new();
        for d in of {
            *devices.entry(d.unwrap_or("not recorded")).or_default() += 1;
        }
        if devices.keys().any(|d| *d != "not recorded") {
            let list: Vec<String> = devices
                .iter()
                .map(|(d, n)| format!("{d} ({n} run{})", if *n == 1 { "" } else { "s" }))
                .collect();
            out.push_str(&format!("\n{what}: {}\n", list.join("; ")));
        }
    }
    out
}

/// Whether `results` ran on more than one backend (a result from before devices were recorded
/// ran on the CPU), or on CPUs whose kernels used different instruction sets (AVX-512 against
/// AVX2 alone, where both recorded it): a seed gives the same numbers only on one, so such a
/// sweep's runs do not compare digit for digit.
pub fn mixes_backends(results: &[RunResult]) -> bool {
    let gpu = |d: &Option<String>| d.as_deref().is_some_and(|d| d.starts_with("GPU"));
    let on_gpu: Vec<bool> = results
        .iter()
        .flat_map(|r| [gpu(&r.train_device), gpu(&r.sample_device)])
        .collect();
    let sets: std::collections::BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r.cpu.as_deref())
        .map(crate::model::simd::isa_of)
        .collect();
    (on_gpu.contains(&true) && on_gpu.contains(&false)) || sets.len() > 1
}

/// Mean and sample standard deviation; `None` when empty.
fn mean_std(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((mean, var.sqrt()))
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
