//! The headless command line: the same engine as the app, no window.

mod images;
mod kernels;
mod speed;
mod sweep;
mod train;

pub use images::{ImagesArgs, TrainUNetArgs, UNetEvalArgs};
pub use speed::SpeedArgs;
pub use sweep::{SweepAction, SweepArgs};
pub use train::{CompareArgs, TrainArgs, load_model};

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{DatasetKind, DatasetSpec, Points, read_points, write_npy};
use crate::device::DeviceChoice;
use crate::diffusion::{
    EpsilonModel, ExactMixtureScore, NoiseProcess, ProcessKind, SamplerConfig, SamplerKind,
    TimeGrid, sample,
};
use crate::metrics::{HillK, TidEstimate, TidProtocol, TidReference};

/// Collapse Explorer: see the collapse errors of deterministic diffusion samplers.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// What to do (without one: open the explorer app, training chessboard live).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the explorer app (the default without a command).
    App(AppArgs),
    /// Sample a model with one sampler and write the samples as float32 .npy [n, d].
    Sample(SampleArgs),
    /// Draw a finite dataset and write it as float32 .npy [n, d].
    Data(DataArgs),
    /// Tail Index Difference of a generated set against a training set, over radii ε.
    Tid(TidArgs),
    /// List the datasets and their parameters.
    Datasets,
    /// Demo: exact-score ODE and SDE samples of a MoG dataset and their TID table.
    Demo(DemoArgs),
    /// Train a score model (DSM, Adam) and write a checkpoint directory.
    Train(TrainArgs),
    /// Sample a trained model with several samplers from shared noise; TID against its data.
    Compare(CompareArgs),
    /// Run a sweep file (grid x seeds; resumable, shardable) and write summary.csv + figures.
    Sweep(SweepArgs),
    /// Train a U-Net on images (DSM, Adam) and write its weights and data source.
    TrainUnet(TrainUNetArgs),
    /// Sample a U-Net with ODE and SDE samplers: TID on pixels, sample and nearest-neighbour grids.
    Images(ImagesArgs),
    /// Time the paper's configurations on this machine: training, sampling, TID.
    Speed(SpeedArgs),
    /// Evaluate a U-Net (diffusers, score_sde or train-unet) on a .npy batch at one time t: writes
    /// the raw output, to check an import against your own PyTorch.
    UnetEval(UNetEvalArgs),
}

/// A dataset by name.
#[derive(Args, Debug, Clone)]
pub struct DatasetArgs {
    /// The dataset (`datasets` lists them).
    #[arg(long, value_enum, default_value_t = DatasetKind::Chessboard)]
    pub dataset: DatasetKind,
    /// Dimension of `mog` (default 10).
    #[arg(long)]
    pub dim: Option<usize>,
}

impl DatasetArgs {
    fn spec(&self) -> Result<DatasetSpec> {
        Ok(self.dataset.spec(self.dim)?)
    }
}

/// Arguments of `sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The model: `exact` (the exact score of a MoG --dataset), or a checkpoint directory
    /// written by `train` (then --dataset and --process come from the checkpoint).
    #[arg(long, default_value = "exact")]
    pub model: String,
    /// The sampler.
    #[arg(long, value_enum, default_value_t = SamplerKind::OdeEuler)]
    pub sampler: SamplerKind,
    /// Steps, budget and time grid.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Langevin steps per level for pc and ald.
    #[arg(long, default_value_t = 1)]
    pub corrector_steps: usize,
    /// Langevin signal-to-noise ratio for pc and ald.
    #[arg(long, default_value_t = 0.16, value_parser = crate::limits::positive_real)]
    pub snr: f64,
    /// DDIM's stochasticity η in [0, 1]: 0 is deterministic, 1 the DDPM-like ancestral sampler.
    #[arg(long, default_value_t = 0.0, value_parser = crate::limits::unit_interval)]
    pub eta: f64,
    /// The SDE's noise dial γ ≥ 0: 0 is the probability-flow ODE, 1 the reverse SDE (every γ
    /// has the same marginals).
    #[arg(long, default_value_t = 1.0, value_parser = crate::limits::non_negative_real)]
    pub noise_scale: f64,
    /// Noise process.
    #[arg(long, value_enum, default_value_t = ProcessKind::Vp)]
    pub process: ProcessKind,
    /// Number of samples.
    #[arg(long, default_value_t = 20_000, value_parser = crate::limits::positive)]
    pub n: usize,
    /// Seed of the initial noise (shared by every sampler) and of the per-step noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the samples (float32 .npy, [n, d]).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the trajectory (float32 .npy, [steps + 1, n, d]).
    #[arg(long)]
    pub trajectory: Option<PathBuf>,
    /// cpu, gpu or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// How many steps a sampler takes, or how many network evaluations it may spend, and on which
/// time grid: one set of flags for `sample` and `compare`.
#[derive(Args, Clone, Debug)]
pub struct BudgetArgs {
    /// Steps (default: each sampler's own, 100 for the deterministic samplers and 1,000 for the
    /// stochastic ones).
    #[arg(long, value_parser = crate::limits::positive)]
    pub steps: Option<usize>,
    /// A budget of network evaluations instead of --steps, the same for every sampler: as many
    /// steps as it pays for (Heun and DPM-Solver-2 take 2 per step, pc 1 + corrector steps, ald
    /// the corrector steps).
    #[arg(long, conflicts_with = "steps", value_parser = crate::limits::positive)]
    pub nfe: Option<usize>,
    /// The time grid: uniform-t (the paper's), log-snr (DPM-Solver's), edm (Karras et al.'s,
    /// ρ = 7) or quadratic.
    #[arg(long, value_enum, default_value_t = TimeGrid::UniformT)]
    pub grid: TimeGrid,
}

/// Arguments of `app`.
#[derive(Args, Debug)]
pub struct AppArgs {
    /// Dataset to train first.
    #[arg(long, value_enum, default_value_t = DatasetKind::Chessboard)]
    pub dataset: DatasetKind,
    /// Light theme.
    #[arg(long)]
    pub light: bool,
    /// Start in presentation mode (larger text, panels folded; F5 toggles it).
    #[arg(long)]
    pub present: bool,
    /// Particles per sampler in the live analysis (default 4,000; the view stays fluid at
    /// 200,000, the analysis pass then takes longer).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Start with training paused.
    #[arg(long)]
    pub paused: bool,
    /// Train on your own points: a .npy or CSV file (1D, 2D or more), or a PNG/JPEG picture traced
    /// into 2D points in proportion to its darkness (or alpha), instead of --dataset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Open a checkpoint directory (from `train` or the app's Save) and continue from it.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Threads for training (default: half the cores, so that analysis and drawing keep the
    /// rest).
    #[arg(long)]
    pub train_threads: Option<usize>,
    /// Images view: the U-Net to open (a train-unet directory or file, default the demo
    /// checkpoint); with `--tab images` its ODE and SDE samples are drawn at once.
    #[arg(long)]
    pub unet: Option<PathBuf>,
    /// Images view: images per sampler.
    #[arg(long)]
    pub image_n: Option<usize>,
    /// Images view: steps of both samplers (default 100 each).
    #[arg(long)]
    pub image_steps: Option<usize>,
    /// The view to open.
    #[arg(long, value_enum, default_value_t = crate::app::Tab::Samples)]
    pub tab: crate::app::Tab,
    /// Open the N-th entry of the "Paper experiment…" menu (1-based; a wrong N lists them):
    /// its settings and its view (instead of --tab and --dataset).
    #[arg(long, value_parser = experiment_number)]
    pub experiment: Option<usize>,
    /// Tour (a kiosk for a lecture hall, and what tools/soak.sh runs): show the next view every
    /// SECONDS, and after each round of the views restart training on the next dataset.
    #[arg(long, value_name = "SECONDS", value_parser = crate::limits::positive_real)]
    pub tour: Option<f64>,
    /// Smoke test: once samples are drawn, render N more frames, check the window is not blank,
    /// and exit (non-zero if it rendered nothing or no samples came within --timeout).
    #[arg(long)]
    pub frames: Option<u64>,
    /// With --frames: save the last frame as a PNG.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// With --frames: seconds to wait for the first samples.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// Arguments of `data`.
#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Number of points.
    #[arg(long, default_value_t = 500_000, value_parser = crate::limits::positive)]
    pub n: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write (float32 .npy, [n, d]).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `tid`.
#[derive(Args, Debug)]
pub struct TidArgs {
    /// Training set (.npy float32/float64 [n, d], or CSV).
    #[arg(long)]
    pub train: PathBuf,
    /// Generated set (.npy float32/float64 [n, d], or CSV).
    #[arg(long)]
    pub generated: PathBuf,
    /// Radii, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.1,0.2")]
    pub eps: Vec<f64>,
    #[command(flatten)]
    pub protocol: TidProtocolArgs,
    /// Seed of the subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How TID is measured (paper App. A.1, K): on equal-size random subsets of the training set
/// and the generated set, repeated with fresh subsets, reported as mean ± std.
#[derive(Args, Debug, Clone)]
pub struct TidProtocolArgs {
    /// Points of each set in every TID subset (the paper's 2,000; the smaller set's size when
    /// that is less). Hill k is max(1, floor(0.1 points)).
    #[arg(long, default_value_t = 2000, value_parser = crate::limits::positive)]
    pub tid_points: usize,
    /// TID repeats, each with fresh subsets of both sets.
    #[arg(long, default_value_t = 5, value_parser = crate::limits::positive)]
    pub tid_repeats: usize,
    #[command(flatten)]
    pub k: HillKArgs,
}

impl TidProtocolArgs {
    /// The protocol, with subsets drawn from `seed`.
    pub fn protocol(&self, seed: u64) -> TidProtocol {
        TidProtocol {
            points: self.tid_points,
            repeats: self.tid_repeats,
            seed,
            k: self.k.hill_k(),
        }
    }
}

/// The Hill estimator's k (SPEC §6): a count, or a fraction of the subset size.
#[derive(Args, Debug, Clone)]
pub struct HillKArgs {
    /// Hill k: the number of largest neighbour counts the tail index is estimated from
    /// (1 ≤ k < the subset size).
    #[arg(long, value_parser = crate::limits::positive)]
    pub k: Option<usize>,
    /// Hill k as a fraction of the subset size, max(1, floor(F · points)), instead of --k.
    #[arg(long, default_value_t = 0.1, conflicts_with = "k")]
    pub k_fraction: f64,
}

impl HillKArgs {
    /// The k these flags ask for.
    pub fn hill_k(&self) -> HillK {
        match self.k {
            Some(k) => HillK::Count(k),
            None => HillK::Fraction(self.k_fraction),
        }
    }
}

/// Arguments of `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Samples per sampler.
    #[arg(long, default_value_t = 20_000, value_parser = crate::limits::positive)]
    pub n: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// An error and its causes as one line, `outer: cause: root`, each text once: a layer whose
/// message already quotes its source's text (a `thiserror` variant written `"…: {0}"` with
/// `#[from]`) does not get that text appended again. Without this, `train --data bad.csv`
/// said "bad.csv: line 3: 'foo' is not a number (…): bad.csv: line 3: 'foo' is not a number
/// (…)".
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => crate::app::run(crate::app::AppOptions::default()),
        Some(Command::App(a)) => crate::app::run(crate::app::AppOptions {
            dataset: Some(a.dataset),
            light: a.light,
            present: a.present,
            frames: a.frames,
            screenshot: a.screenshot,
            timeout: std::time::Duration::from_secs(a.timeout),
            tab: a.tab,
            experiment: a.experiment.map(|n| n - 1),
            samples: a.samples,
            paused: a.paused,
            checkpoint: a.checkpoint,
            data: a.data,
            train_threads: a.train_threads,
            unet: a.unet,
            image_n: a.image_n,
            image_steps: a.image_steps,
            tour: a.tour.map(std::time::Duration::from_secs_f64),
        }),
        Some(Command::Sample(a)) => sample_cmd(a),
        Some(Command::Data(a)) => data_cmd(a),
        Some(Command::Tid(a)) => tid_cmd(a),
        Some(Command::Datasets) => {
            println!("{:<12} description", "name");
            for kind in DatasetKind::ALL {
                println!("{:<12} {}", kind.name(), kind.description());
            }
            Ok(())
        }
        Some(Command::Demo(a)) => demo(a),
        Some(Command::Train(a)) => train::train_cmd(a),
        Some(Command::Compare(a)) => train::compare_cmd(a),
        Some(Command::Sweep(a)) => sweep::sweep_cmd(a),
        Some(Command::TrainUnet(a)) => images::train_unet_cmd(a),
        Some(Command::Images(a)) => images::images_cmd(a),
        Some(Command::Speed(a)) => speed::speed_cmd(a),
        Some(Command::UnetEval(a)) => images::unet_eval_cmd(a),
    }
}

fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn exact_model(spec: &DatasetSpec, process: NoiseProcess) -> Result<ExactMixtureScore> {
    let mix = spec.mixture().with_context(|| {
        format!(
            "dataset '{}' has no exact score (only ring-mog, mog, mog1d do); trained models come with `train`",
            spec.name()
        )
    })?;
    Ok(ExactMixtureScore::new(mix, process))
}

/// A sampler setting out of range, as a CLI error naming its flag: `--steps: pc on vp needs…`,
/// and for too few Langevin steps, the number to give.
pub(crate) fn sampler_flag_error(e: crate::diffusion::SamplerError) -> anyhow::Error {
    let hint = match &e {
        crate::diffusion::SamplerError::TooFewLangevinSteps { need, .. } => {
            format!(": give --steps {need} or more")
        }
        _ => String::new(),
    };
    anyhow::anyhow!("--{}: {e}{hint}", e.setting())
}

/// Samples with a progress bar; returns the output and the wall time.
fn run_sampler(
    model: &dyn EpsilonModel,
    cfg: &SamplerConfig,
    n: usize,
    seed: u64,
    device: &burn::tensor::Device,
) -> Result<(crate::diffusion::SampleOutput, f64)> {
    let bar = progress_bar(cfg.steps as u64, cfg.kind.name());
    let start = Instant::now();
    let out = sample(model, cfg, n, seed, device, &mut |i, _| {
        bar.set_position(i as u64)
    });
    bar.finish_and_clear();
    Ok((out?, start.elapsed().as_secs_f64()))
}

fn sample_cmd(a: SampleArgs) -> Result<()> {
    let spec = a.dataset.spec()?;
    let kind = a.sampler;
    let process = a.process.process();
    // The exact score is a closed form: no GPU to look for unless one was asked for; a
    // checkpoint's MLP goes where its size runs fastest (`load_model`).
    let (model, dev): (Box<dyn EpsilonModel>, _) = if a.model == "exact" {
        let dev = match a.device {
            DeviceChoice::Auto => DeviceChoice::Cpu.resolve(),
            choice => choice.resolve(),
        };
        (Box::new(exact_model(&spec, process)?), dev)
    } else {
        let path = Path::new(&a.model);
        if !path.exists() {
            bail!(
                "model '{}' is neither `exact` nor an existing checkpoint directory",
                a.model
            );
        }
        let (_, model, dev) = load_model(path, a.device)?;
        (model, dev)
    };
    eprintln!("device: {}", dev.description);
    let mut cfg = SamplerConfig::new(kind);
    cfg.steps = a.budget.steps.unwrap_or(kind.default_steps());
    cfg.corrector_steps = a.corrector_steps;
    cfg.snr = a.snr;
    cfg.eta = a.eta;
    cfg.grid = a.budget.grid;
    cfg.noise_scale = a.noise_scale;
    if cfg.noise_scale != 1.0 && kind != SamplerKind::Sde {
        bail!("--noise-scale sets the SDE's noise: use --sampler sde (or leave it out)");
    }
    if let Some(nfe) = a.budget.nfe {
        cfg = cfg.with_nfe(nfe).context("--nfe")?;
    }
    if cfg.eta > 0.0 && kind != SamplerKind::Ddim {
        bail!(
            "--eta sets DDIM's stochasticity: use it with --sampler ddim (not {})",
            kind.name()
        );
    }
    cfg.record_trajectory = a.trajectory.is_some();
    cfg.check_on(&model.process()).map_err(sampler_flag_error)?;
    let d = model.dim() as u128;
    let states = if cfg.record_trajectory {
        cfg.steps as u128 + 1
    } else {
        4 // the state, the model's output and the update's temporaries
    };
    crate::limits::check_allocation(
        format!(
            "sampling --n {} particles of d = {d}{}",
            a.n,
            if cfg.record_trajectory {
                format!(" with a --trajectory of {} states", cfg.steps + 1)
            } else {
                String::new()
            }
        ),
        a.n as u128 * d * states,
        4,
        "ask for fewer particles (or fewer --steps with --trajectory)",
    )?;
    let (out, secs) = run_sampler(model.as_ref(), &cfg, a.n, a.seed, &dev.device)?;
    let d = out.samples.d;
    write_npy(&a.out, &[a.n, d], &out.samples.data)
        .with_context(|| format!("writing {}", a.out.display()))?;
    if let (Some(path), Some(tr)) = (&a.trajectory, &out.trajectory) {
        write_npy(path, &[out.times.len(), a.n, d], tr)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "{} x {} steps of {} in {secs:.2} s ({:.2} M particle-steps/s) -> {}",
        a.n,
        cfg.steps,
        kind.name(),
        (a.n * cfg.steps) as f64 / secs / 1e6,
        a.out.display()
    );
    Ok(())
}

fn data_cmd(a: DataArgs) -> Result<()> {
    let spec = a.dataset.spec()?;
    crate::limits::check_allocation(
        format!("--n {} points of d = {}", a.n, spec.dim()),
        a.n as u128 * spec.dim() as u128,
        4,
        "ask for fewer points",
    )?;
    let pts = spec.generate(a.n, a.seed);
    write_npy(&a.out, &[pts.n, pts.d], &pts.data)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "{} points of {} (d = {}) -> {}",
        pts.n,
        spec.name(),
        pts.d,
        a.out.display()
    );
    Ok(())
}

fn load(path: &Path) -> Result<Points> {
    Ok(read_points(path)?)
}

fn tid_cmd(a: TidArgs) -> Result<()> {
    let train = load(&a.train)?;
    let generated = load(&a.generated)?;
    let start = Instant::now();
    let protocol = a.protocol.protocol(a.seed);
    let estimates = TidReference::new(&train, &a.eps, protocol)?.measure(&generated)?;
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "n_train": train.n,
                "n_generated": generated.n,
                "protocol": protocol,
                "tid": estimates,
            })
        );
    } else {
        println!(
            "train: {} points, generated: {} points, d = {} ({secs:.3} s)",
            train.n, generated.n, train.d
        );
        print_tid_estimates(&[("generated", &estimates)]);
    }
    Ok(())
}

/// Prints TID estimates of several generated sets as one table, with how they were measured
/// and which radii were degenerate.
pub fn print_tid_estimates(curves: &[(&str, &[TidEstimate])]) {
    if let Some(e) = curves.iter().find_map(|(_, c)| c.first()) {
        println!(
            "TID on {} random points of each set, {} repeat{} with fresh subsets (mean ± std), Hill k = {}",
            e.points,
            e.repeats,
            if e.repeats == 1 { "" } else { "s" },
            e.k.unwrap_or_else(|| crate::metrics::tid::default_k(e.points))
        );
        println!(
            "H = mean ln X of the top k - ln X_k+1, X = neighbours + 1. TID = d_top + d_thr: \
             d_top = top(gen) - top(train), the most crowded points more crowded (clumps); \
             d_thr = ln X_k+1(train) - ln X_k+1(gen), more points with few neighbours (isolation); \
             'reads' names the larger where TID > its std; d_top well above 0 with TID near 0 \
             is crowding TID cannot see (docs/REPRODUCTION.md §1)"
        );
    }
    println!(
        "{:<10} {:>8} {:>17} {:>8} {:>8} {:>9} {:>9} {:>7} {:>7} {:<9} {:>7} {:>7}",
        "set",
        "eps",
        "TID",
        "H_train",
        "H_gen",
        "X_k+1 tr",
        "X_k+1 gen",
        "d_top",
        "d_thr",
        "reads",
        "0-train",
        "0-gen"
    );
    let threshold = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    for (name, curve) in curves {
        for p in curve.iter() {
            let split = p.split();
            let term = |f: fn(&crate::metrics::TidSplit) -> f64| {
                split
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |s| format!("{:+.3}", f(s)))
            };
            let reads = p.driver().map_or("-", |d| d.label());
            println!(
                "{:<10} {:>8.4} {:>8.4} ± {:<6.4} {:>8.4} {:>8.4} {:>9} {:>9} {:>7} {:>7} {:<9} {:>7.3} {:>7.3}{}",
                name,
                p.eps,
                p.mean,
                p.std,
                p.hill_train,
                p.hill_generated,
                threshold(p.threshold_train),
                threshold(p.threshold_generated),
                term(|s| s.top),
                term(|s| s.threshold),
                reads,
                p.zero_fraction_train,
                p.zero_fraction_generated,
                if p.is_degenerate() {
                    format!(
                        "  (degenerate in {} of {} repeats: too many points without neighbours)",
                        p.degenerate, p.repeats
                    )
                } else {
                    String::new()
                }
            );
        }
    }
}

fn demo(a: DemoArgs) -> Result<()> {
    let spec = a.dataset.spec()?;
    let process = NoiseProcess::vp();
    let model = exact_model(&spec, process)?;
    // The exact score is a closed form: the CPU, no GPU probe.
    let dev = DeviceChoice::Cpu.resolve();
    println!(
        "Collapse Explorer demo: {} (d = {}), exact score, {}",
        spec.name(),
        spec.dim(),
        dev.description
    );
    let train = spec.generate(a.n, a.seed);
    let eps = [0.05, 0.1, 0.2];
    let reference = TidReference::new(&train, &eps, TidProtocol::default())?;
    let mut curves = Vec::new();
    for kind in [
        SamplerKind::OdeEuler,
        SamplerKind::Sde,
        SamplerKind::PredictorCorrector,
    ] {
        let cfg = SamplerConfig::new(kind);
        let (out, secs) = run_sampler(&model, &cfg, a.n, a.seed.wrapping_add(1), &dev.device)?;
        println!(
            "  {:<4} {} steps, {} samples in {secs:.2} s",
            kind.name(),
            cfg.steps,
            a.n
        );
        curves.push((kind.name(), reference.measure(&out.samples)?));
    }
    let view: Vec<(&str, &[TidEstimate])> =
        curves.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    print_tid_estimates(&view);
    println!(
        "With the exact score no sampler collapses (TID ≈ 0); trained models show ODE collapse."
    );
    Ok(())
}

/// A clap value parser for `app --experiment`: 1 to the number of the menu's experiments; the
/// error lists them.
fn experiment_number(s: &str) -> Result<usize, String> {
    use crate::app::config::EXPERIMENTS;
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=EXPERIMENTS.len()).contains(&n) => Ok(n),
        _ => Err(format!(
            "not an experiment number; the menu's experiments are:\n{}",
            EXPERIMENTS
                .iter()
                .enumerate()
                .map(|(i, e)| format!("  {}  {}: {}", i + 1, e.figure, e.label))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}
