//! Prints the engine's acceptance numbers (issue #2): exact-score samplers against the mixture,
//! ODE-solver convergence orders, and TID sanity checks. `cargo run --release --example
//! engine_acceptance`.

use burn::tensor::Device;
use collapse_explorer::data::{DatasetSpec, Points};
use collapse_explorer::diffusion::{
    ExactMixtureScore, NoiseProcess, SamplerConfig, SamplerKind, sample,
};

fn run(model: &ExactMixtureScore, kind: SamplerKind, steps: usize, n: usize, seed: u64) -> Points {
    let cfg = SamplerConfig::new(kind).with_steps(steps);
    sample(model, &cfg, n, seed, &Device::flex(), &mut |_, _| {})
        .expect("finite samples")
        .samples
}

/// Assigns each point to its nearest mixture mean; returns weights, and per-component mean
/// (first coordinate) and std (pooled over coordinates).
fn per_component(p: &Points, means: &[Vec<f64>]) -> Vec<(f64, f64, f64)> {
    let k = means.len();
    let mut acc = vec![(0usize, 0.0f64, 0.0f64); k];
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); k];
    for i in 0..p.n {
        let x = p.row(i);
        let c = (0..k)
            .min_by(|&a, &b| {
                let da: f64 = x
                    .iter()
                    .zip(&means[a])
                    .map(|(v, m)| (*v as f64 - m).powi(2))
                    .sum();
                let db: f64 = x
                    .iter()
                    .zip(&means[b])
                    .map(|(v, m)| (*v as f64 - m).powi(2))
                    .sum();
                da.total_cmp(&db)
            })
            .unwrap();
        rows[c].push(i);
    }
    for c in 0..k {
        let m = rows[c].len().max(1) as f64;
        let mean0 = rows[c].iter().map(|&i| p.row(i)[0] as f64).sum::<f64>() / m;
        let var: f64 = rows[c]
            .iter()
            .map(|&i| {
                p.row(i)
                    .iter()
                    .zip(&means[c])
                    .map(|(v, mu)| (*v as f64 - mu).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / (m * p.d as f64);
        acc[c] = (rows[c].len(), mean0, var.sqrt());
    }
    acc.iter()
        .map(|&(cnt, m, s)| (cnt as f64 / p.n as f64, m, s))
        .collect()
}

fn main() {
    let n = 20_000;
    for spec in [DatasetSpec::Mog { dim: 1, std: 0.1 }, DatasetSpec::RingMog] {
        let mix = spec.mixture().unwrap();
        let model = ExactMixtureScore::new(mix.clone(), NoiseProcess::vp());
        println!(
            "== {} (weights {:.4}, std {}), n = {n}",
            spec.name(),
            mix.weights[0],
            mix.stds[0]
        );
        for (kind, steps) in [
            (SamplerKind::OdeEuler, 100),
            (SamplerKind::Sde, 1000),
            (SamplerKind::Ddim, 100),
            (SamplerKind::DpmSolver2, 50),
            (SamplerKind::PredictorCorrector, 1000),
        ] {
            let p = run(&model, kind, steps, n, 1);
            let comps = per_component(&p, &mix.means);
            let w: Vec<String> = comps.iter().map(|c| format!("{:.3}", c.0)).collect();
            let s: Vec<String> = comps.iter().map(|c| format!("{:.4}", c.2)).collect();
            let m: Vec<String> = comps.iter().map(|c| format!("{:+.4}", c.1)).collect();
            println!(
                "  {:<4} {:>4} steps: weights [{}]  std [{}]  mean_x [{}]",
                kind.name(),
                steps,
                w.join(" "),
                s.join(" "),
                m.join(" ")
            );
        }
    }
    // Convergence of the ODE solvers on ring MoG against a 4,000-step Heun reference.
    let model = ExactMixtureScore::new(DatasetSpec::RingMog.mixture().unwrap(), NoiseProcess::vp());
    let reference = run(&model, SamplerKind::OdeHeun, 4000, 256, 9);
    let err = |kind, steps| {
        let p = run(&model, kind, steps, 256, 9);
        p.data
            .iter()
            .zip(&reference.data)
            .map(|(a, b)| (a - b).abs() as f64)
            .sum::<f64>()
            / p.data.len() as f64
    };
    println!("== ODE solvers, ring MoG, mean |x − x_ref| (ref: Heun 4000 steps), 256 particles");
    let euler_1000 = run(&model, SamplerKind::OdeEuler, 1000, 256, 9);
    for kind in [SamplerKind::Ddim, SamplerKind::DpmSolver2] {
        let p = run(&model, kind, 1000, 256, 9);
        let gap = p
            .data
            .iter()
            .zip(&euler_1000.data)
            .map(|(a, b)| (a - b).abs() as f64)
            .sum::<f64>()
            / p.data.len() as f64;
        println!(
            "  {} vs Euler at 1000 steps: mean |Δx| = {gap:.2e}",
            kind.name()
        );
    }
    for kind in [
        SamplerKind::OdeEuler,
        SamplerKind::Ddim,
        SamplerKind::OdeHeun,
        SamplerKind::DpmSolver2,
    ] {
        let steps = [25, 50, 100, 200, 400];
        let errs: Vec<f64> = steps.iter().map(|&s| err(kind, s)).collect();
        let orders: Vec<String> = errs
            .windows(2)
            .map(|w| format!("{:.2}", (w[0] / w[1]).log2()))
            .collect();
        let e: Vec<String> = errs.iter().map(|e| format!("{e:.2e}")).collect();
        println!(
            "  {:<5} err at {steps:?}: [{}]  observed orders [{}]",
            kind.name(),
            e.join(", "),
            orders.join(", ")
        );
    }
}
