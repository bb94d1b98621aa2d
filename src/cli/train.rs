//! `train` and `compare`: trained score models from the command line.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{TidProtocolArgs, print_tid_estimates, progress_bar};
use crate::device::{DeviceChoice, ResolvedDevice};
use crate::diffusion::{EpsilonModel, ExactMixtureScore, SamplerConfig, SamplerKind};
use crate::metrics::{CORRELATION_PARTICLES, TidEstimate, TidReference};
use crate::model::{Checkpoint, DataSource, inference_model};
use crate::train::evaluation::evaluate_sampler;
use crate::train::{
    DataPart, ModelChoice, RunRecipe, RunSpec, TrainingPart, train_run, training_set,
};

/// Arguments of `train`: the run description's data, model and training parts
/// ([`crate::train::spec`], where their defaults live), and where to write.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub dataset: DataPart,
    /// Train on your own point set (.npy or CSV), or a PNG/JPEG picture traced into --n 2D points
    /// (default 500,000) in proportion to its darkness (or alpha), instead of --dataset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelChoice,
    #[command(flatten)]
    pub training: TrainingPart,
    /// Seed of the dataset, the weights and the batches.
    #[arg(long, default_value_t = RunSpec::default().seed)]
    pub seed: u64,
    /// cpu, gpu or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Output directory (model.safetensors + model.json).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `train`.
pub fn train_cmd(a: TrainArgs) -> Result<()> {
    let data = match &a.data {
        // A picture is traced into --n points (default the paper's 2D size) from --seed.
        Some(path) => {
            DataSource::user_file(path.clone(), a.dataset.n_data.unwrap_or(500_000), a.seed)
        }
        None => DataSource::Synthetic {
            dataset: a.dataset.spec()?,
            n: a.dataset.points()?,
            seed: a.seed,
        },
    };
    let recipe = RunRecipe {
        data,
        model: a.model.clone(),
        training: a.training.clone(),
        seed: a.seed,
        device: a.device,
    };
    let (_, mut trainer) = recipe.prepare()?;
    let net = trainer.config().net.clone();
    eprintln!(
        "training {} ({} x {}, {:?}, {} parameters; {} objective, {} process, {} times) on {} \
         ({}), {}",
        net.arch.name(),
        net.mlp.depth,
        net.mlp.width,
        net.mlp.activation,
        net.num_params(),
        net.objective,
        net.process.name(),
        trainer.config().training_times(),
        trainer.device_description(),
        if trainer.uses_fast_path() {
            "fused CPU MLP path"
        } else {
            "burn autodiff path"
        },
        match &recipe.data {
            DataSource::Synthetic { dataset, n, .. } => format!("{} (n = {n})", dataset.name()),
            DataSource::File { path } => path.display().to_string(),
            DataSource::Picture { path, n, .. } => format!("{} (traced, n = {n})", path.display()),
        }
    );
    let iters = a.training.iters;
    let bar = progress_bar(iters, "train");
    let mut progress = |i: u64, loss: f64| {
        if i.is_multiple_of(20) || i == iters {
            bar.set_position(i);
            bar.set_message(format!("loss {loss:.4}"));
        }
    };
    let out = train_run(&mut trainer, iters, &mut progress, &AtomicBool::new(false))?;
    bar.finish_and_clear();
    let device = trainer.device_description().to_string();
    let ckpt = recipe.checkpoint(
        net,
        trainer.weights(),
        out.iterations,
        &out.losses,
        serde_json::json!({ "device": device, "cpu": crate::model::simd::cpu_line() }),
    );
    ckpt.save(&a.out)?;
    let (iters, secs) = (out.iterations, out.seconds);
    eprintln!(
        "{iters} iterations in {secs:.1} s ({:.2} ms/iter, {:.0} it/s), final loss {} -> {}",
        1e3 * secs / iters.max(1) as f64,
        iters as f64 / secs,
        ckpt.meta.loss.map_or("n/a".into(), |l| format!("{l:.5}")),
        a.out.display()
    );
    if let Some(e) = out.diverged {
        bail!("{e}; the checkpoint holds those weights");
    }
    Ok(())
}

/// Arguments of `compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// A checkpoint directory written by `train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Samplers, comma separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ode,sde,pc")]
    pub samplers: Vec<SamplerKind>,
    /// DDIM's stochasticity η in [0, 1], comma separated: `ddim` runs once per value (0 is
    /// the deterministic DDIM, 1 the DDPM-like ancestral sampler), all from the shared noise.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = crate::limits::unit_interval)]
    pub eta: Vec<f64>,
    /// The SDE's noise dial γ ≥ 0, comma separated: `sde` runs once per value (0 is the
    /// probability-flow ODE, 1 the reverse SDE; every γ has the same marginals).
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = crate::limits::non_negative_real)]
    pub noise_scale: Vec<f64>,
    /// Steps for every sampler, or an equal budget of network evaluations, and the time grid.
    #[command(flatten)]
    pub budget: super::BudgetArgs,
    /// Samples per sampler.
    #[arg(long, default_value_t = 20_000, value_parser = crate::limits::positive)]
    pub n: usize,
    /// Radii.
    #[arg(long, value_delimiter = ',', default_value = "0.02,0.05,0.1,0.2")]
    pub eps: Vec<f64>,
    #[command(flatten)]
    pub protocol: TidProtocolArgs,
    /// Seed of the shared initial noise and of the TID subsets.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// cpu, gpu or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Print one JSON object to stdout (samplers, steps, TID mean ± std per ε, error
    /// correlation); the table goes to stderr.
    #[arg(long)]
    pub json: bool,
}

/// One sampler's line of `compare`.
#[derive(serde::Serialize)]
struct Compared {
    name: &'static str,
    /// DDIM's η (`null` for the other samplers).
    eta: Option<f64>,
    /// The SDE's noise dial γ (`null` for the other samplers).
    noise_scale: Option<f64>,
    /// The name, with η for a stochastic DDIM (the table's row name).
    #[serde(skip)]
    label: String,
    steps: usize,
    /// Network evaluations it took.
    nfe: usize,
    seconds: f64,
    tid: Vec<TidEstimate>,
    /// Precision, recall, density, coverage and the energy distance on TID's subsets.
    reference: crate::metrics::ReferenceMetrics,
    /// Mean correlation of the velocity error between grid times (t ≥ 0.05, first 2,000
    /// particles); `null` without an exact score.
    error_correlation: Option<f64>,
}

/// Loads a checkpoint as a ready model on the device `choice` resolves to for its size
/// (the fused CPU path on `flex`, burn's modules elsewhere).
pub fn load_model(
    path: &std::path::Path,
    choice: DeviceChoice,
) -> Result<(Checkpoint, Box<dyn EpsilonModel>, ResolvedDevice)> {
    let ckpt = Checkpoint::load(path)?;
    let device = choice.resolve_for_mlp(ckpt.meta.net.num_params());
    let net = inference_model(ckpt.meta.net.clone(), &ckpt.weights, &device);
    Ok((ckpt, net, device))
}

/// Runs `compare`.
pub fn compare_cmd(a: CompareArgs) -> Result<()> {
    if a.eta.iter().any(|&e| e > 0.0) && !a.samplers.contains(&SamplerKind::Ddim) {
        bail!("--eta sets DDIM's stochasticity: add ddim to --samplers (or leave --eta out)");
    }
    let (ckpt, net, dev) = load_model(&a.model, a.device)?;
    let train = training_set(&ckpt.meta.data)?;
    let protocol = a.protocol.protocol(a.seed);
    let reference = TidReference::new(&train, &a.eps, protocol)?;
    // The exact score, where the checkpoint's data is a mixture: then the error correlation.
    let exact = match &ckpt.meta.data {
        DataSource::Synthetic { dataset, .. } => dataset
            .mixture()
            .map(|m| ExactMixtureScore::new(m, ckpt.meta.net.process)),
        DataSource::File { .. } | DataSource::Picture { .. } => None,
    };
    let header = format!(
        "model: {} ({} on {}, {} iterations, loss {}), {}; {} samples per sampler, {} \
         training points; error correlation: {}",
        a.model.display(),
        ckpt.meta.net.objective,
        ckpt.meta.net.process.name(),
        ckpt.meta.iteration,
        ckpt.meta.loss.map_or("n/a".into(), |l| format!("{l:.5}")),
        dev.description,
        a.n,
        train.n,
        if exact.is_some() {
            "exact score known"
        } else {
            "n/a (no exact score for this data)"
        }
    );
    if a.json {
        eprintln!("{header}");
    } else {
        println!("{header}");
    }
    let mut rows: Vec<Compared> = Vec::new();
    let mut configs = Vec::new();
    for &kind in &a.samplers {
        // DDIM once per η, the SDE once per γ.
        let dials: Vec<(f64, f64)> = match kind {
            SamplerKind::Ddim => a.eta.iter().map(|&e| (e, 1.0)).collect(),
            SamplerKind::Sde => a.noise_scale.iter().map(|&g| (0.0, g)).collect(),
            _ => vec![(0.0, 1.0)],
        };
        for (eta, gamma) in dials {
            let mut cfg = SamplerConfig::new(kind)
                .with_eta(eta)
                .with_noise_scale(gamma)
                .with_grid(a.budget.grid);
            if let Some(steps) = a.budget.steps {
                cfg = cfg.with_steps(steps);
            }
            if let Some(nfe) = a.budget.nfe {
                cfg = cfg.with_nfe(nfe).context("--nfe")?;
            }
            cfg.check_on(&ckpt.meta.net.process)
                .map_err(super::sampler_flag_error)?;
            configs.push(cfg);
        }
    }
    let exact_ref = exact.as_ref().map(|e| e as &dyn EpsilonModel);
    for cfg in configs {
        let kind = cfg.kind;
        let bar = progress_bar(cfg.steps as u64, kind.name());
        let e = evaluate_sampler(
            net.as_ref(),
            exact_ref,
            &reference,
            &cfg,
            a.n,
            a.seed,
            &dev.device,
            &mut |i, _| bar.set_position(i as u64),
        )?;
        bar.finish_and_clear();
        let secs = e.seconds;
        eprintln!("  {:<4} {} steps in {secs:.2} s", cfg.label(), cfg.steps);
        rows.push(Compared {
            name: kind.name(),
            eta: (kind == SamplerKind::Ddim).then_some(cfg.eta),
            noise_scale: (kind == SamplerKind::Sde).then_some(cfg.noise_scale),
            label: cfg.label(),
            steps: cfg.steps,
            nfe: cfg.nfe(),
            seconds: secs,
            tid: e.tid,
            reference: e.reference,
            error_correlation: e.error_correlation,
        });
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "model": a.model,
                "iteration": ckpt.meta.iteration,
                "objective": ckpt.meta.net.objective,
                "grid": a.budget.grid,
                "process": ckpt.meta.net.process.name(),
                "n": a.n,
                "protocol": protocol,
                "samplers": rows,
            })
        );
        return Ok(());
    }
    let view: Vec<(&str, &[TidEstimate])> = rows
        .iter()
        .map(|r| (r.label.as_str(), r.tid.as_slice()))
        .collect();
    print_tid_estimates(&view);
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9}   (k-NN balls of {}, on TID's subsets)",
        "sampler",
        "precision",
        "recall",
        "density",
        "coverage",
        "energy",
        crate::metrics::PRDC_K
    );
    for r in &rows {
        let m = &r.reference;
        println!(
            "{:<10} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.4}",
            r.label, m.precision, m.recall, m.density, m.coverage, m.energy_distance
        );
    }
    for r in &rows {
        match r.error_correlation {
            Some(c) => println!(
                "{:<10} error correlation {c:.3} (mean over pairs of grid times t >= 0.05, first {} particles)",
                r.label,
                CORRELATION_PARTICLES.min(a.n)
            ),
            None if exact.is_some() => println!("{:<10} error correlation: undefined", r.label),
            None => {}
        }
    }
    Ok(())
}
