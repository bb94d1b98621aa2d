//! `train` and `compare`: trained score models from the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{DatasetArgs, print_tid_table, progress_bar, run_sampler};
use crate::data::{DatasetSpec, Points, read_points};
use crate::device::{DeviceChoice, ResolvedDevice};
use crate::diffusion::{EpsilonModel, NoiseProcess, SamplerConfig, SamplerKind};
use crate::metrics::{TidPoint, tid_curve};
use crate::model::checkpoint::FORMAT_VERSION;
use crate::model::fast::AdamSettings;
use crate::model::{
    Activation, Architecture, Checkpoint, CheckpointMeta, DataSource, MlpConfig, NetSpec,
    inference_model,
};
use crate::train::{TrainConfig, TrainError, Trainer};

/// Model size presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 3 × 100 Tanh (the paper's 2D experiments).
    #[value(name = "2d")]
    TwoD,
    /// 2 × 1000 Tanh (the paper's MoG experiments).
    Mog,
}

/// Arguments of `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Train on your own point set (.npy or CSV) instead of --dataset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Size of the synthetic training set (default: 500,000 in 2D, 50,000 for MoG; paper sizes).
    #[arg(long)]
    pub n: Option<usize>,
    /// Model preset: 2d (3 x 100) or mog (2 x 1000); default 2d, mog for mog datasets of d > 2.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Hidden width (overrides the preset).
    #[arg(long)]
    pub width: Option<usize>,
    /// Hidden layers (overrides the preset).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Hidden activation.
    #[arg(long, value_enum, default_value_t = Activation::Tanh)]
    pub activation: Activation,
    /// Architecture.
    #[arg(long, value_enum, default_value_t = Architecture::Mlp)]
    pub arch: Architecture,
    /// Split time for two-model and high-noise-only.
    #[arg(long, default_value_t = 0.5)]
    pub t_split: f64,
    /// Noise process: vp, sub-vp or linear.
    #[arg(long, default_value = "vp")]
    pub process: String,
    /// Iterations.
    #[arg(long, default_value_t = 10_000)]
    pub iters: u64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 5e-3)]
    pub lr: f64,
    /// Batch size.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Seed of the dataset, the weights and the batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, gpu or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Output directory (model.safetensors + model.json).
    #[arg(long)]
    pub out: PathBuf,
}

/// Loads the training set a checkpoint names.
pub fn training_set(source: &DataSource) -> Result<Points> {
    Ok(match source {
        DataSource::Synthetic { dataset, n, seed } => dataset.generate(*n, *seed),
        DataSource::File { path } => read_points(path)?,
    })
}

/// Runs `train`.
pub fn train_cmd(a: TrainArgs) -> Result<()> {
    let process = NoiseProcess::from_name(&a.process)
        .with_context(|| format!("unknown process '{}'; known: vp, sub-vp, linear", a.process))?;
    let (source, data) = match &a.data {
        Some(path) => (DataSource::File { path: path.clone() }, read_points(path)?),
        None => {
            let spec = a.dataset.spec()?;
            let n = a.n.unwrap_or(if matches!(spec, DatasetSpec::Mog { .. }) {
                50_000
            } else {
                500_000
            });
            (
                DataSource::Synthetic {
                    dataset: spec,
                    n,
                    seed: a.seed,
                },
                spec.generate(n, a.seed),
            )
        }
    };
    let preset = a.preset.unwrap_or(if data.d > 2 {
        Preset::Mog
    } else {
        Preset::TwoD
    });
    let mut mlp = match preset {
        Preset::TwoD => MlpConfig::preset_2d(data.d),
        Preset::Mog => MlpConfig::preset_mog(data.d),
    };
    mlp.width = a.width.unwrap_or(mlp.width);
    mlp.depth = a.depth.unwrap_or(mlp.depth);
    mlp.activation = a.activation;
    let data_std = data.std().iter().sum::<f64>() / data.d as f64;
    let net = NetSpec {
        arch: a.arch,
        mlp,
        process,
        t_split: a.t_split,
        data_std,
    };
    let config = TrainConfig {
        net: net.clone(),
        lr: a.lr,
        batch: a.batch,
        iterations: a.iters,
        seed: a.seed,
        device: a.device,
        adam: AdamSettings::default(),
    };
    let mut trainer = Trainer::new(config.clone(), Arc::new(data))?;
    eprintln!(
        "training {} ({} x {}, {:?}, {} parameters) on {} ({}), {}",
        net.arch.name(),
        net.mlp.depth,
        net.mlp.width,
        net.mlp.activation,
        net.part_configs()
            .iter()
            .map(|(_, c)| c.num_params())
            .sum::<usize>(),
        trainer.device_description(),
        if trainer.uses_fast_path() {
            "fused CPU MLP path"
        } else {
            "burn autodiff path"
        },
        match &source {
            DataSource::Synthetic { dataset, n, .. } => format!("{} (n = {n})", dataset.name()),
            DataSource::File { path } => path.display().to_string(),
        }
    );
    let bar = progress_bar(a.iters, "train");
    let start = Instant::now();
    let mut recent = Vec::with_capacity(100);
    let mut outcome = Ok(());
    for _ in 0..a.iters {
        match trainer.step() {
            Ok(loss) => {
                if recent.len() == 100 {
                    recent.remove(0);
                }
                recent.push(loss);
                let i = trainer.iteration();
                if i % 20 == 0 || i == a.iters {
                    bar.set_position(i);
                    bar.set_message(format!(
                        "loss {:.4}",
                        recent.iter().sum::<f64>() / recent.len() as f64
                    ));
                }
            }
            Err(e @ TrainError::Diverged { .. }) => {
                outcome = Err(e);
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let iters = trainer.iteration();
    let loss = (!recent.is_empty()).then(|| recent.iter().sum::<f64>() / recent.len() as f64);
    let ckpt = Checkpoint {
        meta: CheckpointMeta {
            format_version: FORMAT_VERSION,
            net,
            data: source,
            iteration: iters,
            seed: a.seed,
            loss,
            training: serde_json::json!({ "lr": a.lr, "batch": a.batch, "device": trainer.device_description() }),
        },
        weights: trainer.weights(),
    };
    ckpt.save(&a.out)?;
    eprintln!(
        "{iters} iterations in {secs:.1} s ({:.2} ms/iter, {:.0} it/s), final loss {} -> {}",
        1e3 * secs / iters.max(1) as f64,
        iters as f64 / secs,
        loss.map_or("n/a".into(), |l| format!("{l:.5}")),
        a.out.display()
    );
    if let Err(e) = outcome {
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
    /// Samplers, comma separated (ode, heun, ddim, dpm2, sde, pc, ald).
    #[arg(long, value_delimiter = ',', default_value = "ode,sde,pc")]
    pub samplers: Vec<String>,
    /// Samples per sampler (and training points drawn for the comparison).
    #[arg(long, default_value_t = 20_000)]
    pub n: usize,
    /// Radii.
    #[arg(long, value_delimiter = ',', default_value = "0.02,0.05,0.1,0.2")]
    pub eps: Vec<f64>,
    /// Seed of the shared initial noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// cpu, gpu or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// Loads a checkpoint as a ready model.
/// (the fused CPU path on `flex`, burn's modules elsewhere).
pub fn load_model(
    path: &std::path::Path,
    device: &ResolvedDevice,
) -> Result<(Checkpoint, Box<dyn EpsilonModel>)> {
    let ckpt = Checkpoint::load(path)?;
    let net = inference_model(ckpt.meta.net.clone(), &ckpt.weights, device);
    Ok((ckpt, net))
}

/// Runs `compare`.
pub fn compare_cmd(a: CompareArgs) -> Result<()> {
    let dev = a.device.resolve();
    let (ckpt, net) = load_model(&a.model, &dev)?;
    let kinds: Vec<SamplerKind> = a
        .samplers
        .iter()
        .map(|s| SamplerKind::from_name(s).with_context(|| format!("unknown sampler '{s}'")))
        .collect::<Result<_>>()?;
    let train = training_set(&ckpt.meta.data)?.subset(a.n, a.seed.wrapping_add(7));
    println!(
        "model: {} ({} iterations, loss {}), {}; {} samples per sampler vs {} training points",
        a.model.display(),
        ckpt.meta.iteration,
        ckpt.meta.loss.map_or("n/a".into(), |l| format!("{l:.5}")),
        dev.description,
        a.n,
        train.n
    );
    let mut curves: Vec<(String, Vec<TidPoint>)> = Vec::new();
    for kind in kinds {
        let cfg = SamplerConfig::new(kind);
        let (out, secs) = run_sampler(net.as_ref(), &cfg, a.n, a.seed, &dev.device);
        eprintln!("  {:<4} {} steps in {secs:.2} s", kind.name(), cfg.steps);
        curves.push((
            kind.name().to_string(),
            tid_curve(&train, &out.samples, &a.eps, None)?,
        ));
    }
    let view: Vec<(&str, &[TidPoint])> = curves
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    print_tid_table(&view);
    Ok(())
}
