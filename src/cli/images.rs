//! `train-unet` and `images`: image diffusion models from the command line (issue #5).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{print_tid_estimates, progress_bar};
use crate::device::DeviceChoice;
use crate::diffusion::SamplerKind;
use crate::images::analysis::densest_images;
use crate::images::open::{image_source, read_config_toml};
use crate::images::study::{
    Radii, SampledImages, Stage, StudyData, StudyError, StudySettings, run_study,
};
use crate::images::{
    ImageSet, TrainingRecord, UNet, UNetConfig, UNetTrainConfig, UNetTrainError, UNetTrainer,
    WeightSet,
};
use crate::metrics::TidEstimate;

/// Arguments of `train-unet`.
#[derive(Args, Debug)]
pub struct TrainUNetArgs {
    /// Training images: `procedural` (the shapes set) or a file or directory of images (CIFAR
    /// binary, MNIST IDX, PNG/JPEG folder, .npy/.npz).
    #[arg(long, default_value = "procedural")]
    pub data: String,
    /// Number of images (procedural: drawn, default 20,000; files: a random subset, default all).
    #[arg(long)]
    pub n: Option<usize>,
    /// Side length (procedural: drawn at this size, default 16; files: resized to it).
    #[arg(long)]
    pub size: Option<usize>,
    /// Convert file images to this many channels (1 or 3).
    #[arg(long)]
    pub channels: Option<usize>,
    /// U-Net shape: tiny, small, cifar (score_sde's CIFAR-10 DDPM) or a TOML file of U-Net
    /// config fields. The presets take the images' size and channels.
    #[arg(long, default_value = "small")]
    pub config: String,
    /// Iterations (this session).
    #[arg(long, default_value_t = 2000)]
    pub iters: u64,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Adam learning rate after the warm-up.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Linear learning-rate warm-up, in iterations.
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
    /// Gradient-norm clip (0: none).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f32,
    /// Decay of the weights' moving average (0: none).
    #[arg(long, default_value_t = 0.999)]
    pub ema: f64,
    /// Seed of the data, the initial weights and the batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save every this many iterations (0: at the end only).
    #[arg(long, default_value_t = 500)]
    pub save_every: u64,
    /// Continue the run in --out (weights, average and iteration count; Adam's moments restart).
    #[arg(long)]
    pub resume: bool,
    /// Output directory: model.safetensors (+ .json), ema.safetensors (+ .json), training.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// The U-Net shape named by `--config`, fitted to the images for the presets.
fn resolve_config(name: &str, images: &ImageSet) -> Result<UNetConfig> {
    let preset = match name {
        "tiny" => Some(UNetConfig::tiny()),
        "small" => Some(UNetConfig::small()),
        "cifar" | "default" => Some(UNetConfig::default()),
        _ => None,
    };
    let config = match preset {
        Some(mut c) => {
            if images.height != images.width {
                bail!(
                    "the U-Net needs square images; {} are {}×{}",
                    images.name,
                    images.height,
                    images.width
                );
            }
            c.image_size = images.height;
            c.channels = images.channels;
            c
        }
        None => read_config_toml(Path::new(name), "tiny, small, cifar")?,
    };
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("U-Net config '{name}': {e}"))?;
    Ok(config)
}

/// Runs `train-unet`.
pub fn train_unet_cmd(a: TrainUNetArgs) -> Result<()> {
    let device = burn::tensor::Device::flex();
    let weights_path = a.out.join("model.safetensors");
    let ema_path = a.out.join("ema.safetensors");
    let previous = if a.resume && weights_path.exists() {
        Some(TrainingRecord::load(&a.out).map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    let source = match &previous {
        Some(r) => r.data.clone(),
        None => image_source(&a.data, a.n, a.size, a.channels, a.seed),
    };
    let images = source
        .load()
        .with_context(|| format!("loading the training images ({})", source.describe()))?;
    let (net, ema_start, start_iter) = match &previous {
        Some(r) => {
            let net = UNet::load(&weights_path, &device)?;
            let ema = ema_path
                .exists()
                .then(|| UNet::load(&ema_path, &device))
                .transpose()?;
            (net, ema, r.iteration)
        }
        None => {
            let config = resolve_config(&a.config, &images)?;
            (UNet::init(&config, a.seed, &device), None, 0)
        }
    };
    let train = UNetTrainConfig {
        lr: a.lr,
        batch: a.batch,
        warmup: a.warmup,
        grad_clip: (a.grad_clip > 0.0).then_some(a.grad_clip),
        ema_decay: (a.ema > 0.0).then_some(a.ema),
        seed: a.seed.wrapping_add(start_iter),
    };
    let c = net
        .score_sde_config()
        .cloned()
        .context("train-unet trains score_sde's DDPM; this network is another architecture")?;
    let params = burn::module::Module::num_params(&net);
    let mut trainer = UNetTrainer::new(net, &images, train.clone(), &device, ema_start.as_ref())?;
    trainer.set_iteration(start_iter);
    eprintln!(
        "training U-Net (nf {}, ch_mult {:?}, {} res blocks, attention at {:?}, {} parameters) \
         on {} ({} images of {}×{}×{}), CPU{}",
        c.nf,
        c.ch_mult,
        c.num_res_blocks,
        c.attn_resolutions,
        params,
        source.describe(),
        images.len(),
        c.channels,
        c.image_size,
        c.image_size,
        if start_iter > 0 {
            format!(", resuming at iteration {start_iter}")
        } else {
            String::new()
        }
    );
    let bar = progress_bar(a.iters, "train-unet");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut recent: Vec<f64> = Vec::with_capacity(50);
    let mean = |r: &[f64]| (!r.is_empty()).then(|| r.iter().sum::<f64>() / r.len() as f64);
    let save = |trainer: &UNetTrainer, loss: Option<f64>, ms: Option<f64>| -> Result<()> {
        trainer.model(&device).save(&weights_path)?;
        if let Some(ema) = trainer.ema_model(&device) {
            ema.save(&ema_path)?;
        }
        TrainingRecord {
            data: source.clone(),
            train: trainer.config().clone(),
            iteration: trainer.iteration(),
            loss,
            ms_per_iter: ms,
        }
        .save(&a.out)
        .with_context(|| format!("writing {}", a.out.display()))
    };
    let start = Instant::now();
    let mut outcome = Ok(());
    for i in 0..a.iters {
        match trainer.step() {
            Ok(loss) => {
                if recent.len() == 50 {
                    recent.remove(0);
                }
                recent.push(loss);
                bar.set_position(i + 1);
                bar.set_message(format!("loss {:.4}", mean(&recent).unwrap_or(loss)));
                if a.save_every > 0 && (i + 1) % a.save_every == 0 && i + 1 < a.iters {
                    let ms = 1e3 * start.elapsed().as_secs_f64() / (i + 1) as f64;
                    save(&trainer, mean(&recent), Some(ms))?;
                }
            }
            Err(e @ UNetTrainError::Diverged(_)) => {
                outcome = Err(e);
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let done = trainer.iteration() - start_iter;
    let ms = (done > 0).then(|| 1e3 * secs / done as f64);
    save(&trainer, mean(&recent), ms)?;
    eprintln!(
        "{done} iterations in {secs:.1} s ({} ms/iter), iteration {}, loss {} -> {}",
        ms.map_or("n/a".into(), |m| format!("{m:.1}")),
        trainer.iteration(),
        mean(&recent).map_or("n/a".into(), |l| format!("{l:.5}")),
        a.out.display()
    );
    if let Err(e) = outcome {
        bail!("{e}; the checkpoint holds those weights");
    }
    Ok(())
}

/// Arguments of `images`.
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// The U-Net.
    #[command(flatten)]
    pub unet: UNetSourceArgs,
    /// Training images: `procedural` or a file or directory (default: what the `train-unet`
    /// directory recorded).
    #[arg(long)]
    pub data: Option<String>,
    /// Training images to load (procedural: drawn, default 20,000; files: a random subset).
    #[arg(long)]
    pub data_n: Option<usize>,
    /// Side length of the training images (default: the model's; files are resized to it).
    #[arg(long)]
    pub data_size: Option<usize>,
    /// Convert file images to this many channels (1 or 3).
    #[arg(long)]
    pub data_channels: Option<usize>,
    /// Seed of the procedural set or the file subset.
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
    /// Samples per sampler.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// Samplers, comma separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ode,sde")]
    pub samplers: Vec<SamplerKind>,
    /// Steps per sampler, comma separated in --samplers order (default: 100 for deterministic
    /// samplers, 1000 for stochastic ones; one value applies to all).
    #[arg(long, value_delimiter = ',')]
    pub steps: Vec<usize>,
    /// TID radii on [0, 1] pixels (paper: 0.2 for CIFAR-10). Default: 9 radii from a third to
    /// three times the training set's median nearest-neighbour distance (printed), where TID is
    /// not degenerate whatever the image size (the app's Images view spans the same range).
    #[arg(long, value_delimiter = ',')]
    pub eps: Vec<f64>,
    /// Images of each set in the TID (paper: 2,000).
    #[arg(long, default_value_t = 2000)]
    pub tid_n: usize,
    /// TID repeats, each with fresh subsets of both sets (mean ± std).
    #[arg(long, default_value_t = 5)]
    pub tid_repeats: usize,
    /// Hill k of the TID (1 ≤ k < --tid-n; `--k` here is the grids' neighbours).
    #[arg(long, value_parser = crate::limits::positive)]
    pub hill_k: Option<usize>,
    /// Hill k as a fraction of the TID subset size, instead of --hill-k.
    #[arg(long, default_value_t = 0.1, conflicts_with = "hill_k")]
    pub k_fraction: f64,
    /// Nearest-neighbour grids to draw (queries: the first sampler's samples with the most
    /// neighbours within --query-eps).
    #[arg(long, default_value_t = 4)]
    pub queries: usize,
    /// Radius for picking the queries (default: the training set's median nearest-neighbour
    /// distance).
    #[arg(long)]
    pub query_eps: Option<f64>,
    /// Neighbours per grid row (paper: 7).
    #[arg(long, default_value_t = 7)]
    pub k: usize,
    /// Seed of the shared initial noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Images per sampling chunk.
    #[arg(long, default_value_t = 250)]
    pub chunk: usize,
    /// cpu, gpu or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Output directory: samples_<sampler>.png (the first 64), samples_<sampler>.npy (every
    /// sample, float32 [n, C, H, W] in [0, 1]), nn_query<i>.png, images.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// One sampler's results in `images.json`.
#[derive(serde::Serialize)]
struct SamplerResult<'a> {
    sampler: &'a str,
    steps: usize,
    seconds: f64,
    tid: &'a [TidEstimate],
}

/// Radii of the default TID table: 9 from a third to three times the reference radius (the
/// app's curve spans the same range with 25).
const TABLE_RADII: usize = 9;

/// Runs `images`.
pub fn images_cmd(a: ImagesArgs) -> Result<()> {
    if a.steps.len() > 1 && a.steps.len() != a.samplers.len() {
        bail!(
            "--steps has {} values for {} samplers",
            a.steps.len(),
            a.samplers.len()
        );
    }
    let samplers: Vec<(SamplerKind, usize)> = a
        .samplers
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let steps = match a.steps.as_slice() {
                [] => kind.default_steps(),
                [s] => *s,
                many => many[i],
            };
            (kind, steps.max(1))
        })
        .collect();
    let settings = StudySettings {
        checkpoint: a.unet.checkpoint.clone(),
        config: a.unet.config.clone(),
        weights: a.unet.weights,
        data: a.data.as_ref().map(|name| StudyData {
            name: name.clone(),
            n: a.data_n,
            size: a.data_size,
            channels: a.data_channels,
            seed: a.data_seed,
        }),
        samplers: samplers.clone(),
        n: a.n,
        seed: a.seed,
        tid_n: a.tid_n,
        tid_repeats: a.tid_repeats,
        k: match a.hill_k {
            Some(k) => crate::metrics::HillK::Count(k),
            None => crate::metrics::HillK::Fraction(a.k_fraction),
        },
        radii: if a.eps.is_empty() {
            Radii::Around(TABLE_RADII)
        } else {
            Radii::Given(a.eps.clone())
        },
        chunk: a.chunk,
        device: a.device,
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    // One progress bar per sampler; each sampler's grid and .npy are written once it is drawn.
    let bar = std::cell::RefCell::new(None::<(usize, indicatif::ProgressBar)>);
    let writes = std::cell::RefCell::new(Vec::new());
    let progress = |stage: Stage, _: f32| {
        if let Some((_, sentence, long)) = stage.cost() {
            eprintln!("sampling: {sentence} (timed on one chunk)");
            if long {
                eprintln!(
                    "that is long on a CPU: run it on a GPU with --device gpu (burn wgpu), or \
                     sample fewer images (--n) or steps (--steps)"
                );
            }
        }
        if let Stage::Sampling {
            set,
            kind,
            done,
            total,
            ..
        } = stage
        {
            let mut bar = bar.borrow_mut();
            if bar.as_ref().is_none_or(|(s, _)| *s != set) {
                if let Some((_, old)) = bar.take() {
                    old.finish_and_clear();
                }
                *bar = Some((set, progress_bar(total as u64, kind.name())));
            }
            if let Some((_, b)) = bar.as_ref() {
                b.set_position(done as u64);
            }
        }
    };
    let publish = |set: &SampledImages| {
        if let Some((_, b)) = bar.borrow_mut().take() {
            b.finish_and_clear();
        }
        eprintln!(
            "  {:<4} {} steps, {} images in {:.1} s ({:.1} images/s)",
            set.kind.name(),
            set.steps,
            set.images.len(),
            set.seconds,
            set.images.len() as f64 / set.seconds
        );
        let path = a.out.join(format!("samples_{}.png", set.kind.name()));
        let shown: Vec<usize> = (0..set.images.len().min(64)).collect();
        let scale = (64 / set.images.height.max(1)).max(1);
        writes.borrow_mut().push(
            set.images
                .write_grid_png(&path, &shown, 8, scale)
                .map_err(Into::into),
        );
        // Every sample, for analyses of one's own (a classifier, FID, …).
        let im = &set.images;
        let path = a.out.join(format!("samples_{}.npy", set.kind.name()));
        let shape = [im.len(), im.channels, im.height, im.width];
        writes.borrow_mut().push(
            crate::data::io::write_npy(&path, &shape, &im.pixels)
                .with_context(|| format!("writing {}", path.display())),
        );
    };
    let r = run_study(&settings, &progress, &publish, &AtomicBool::new(false)).map_err(
        |e| match e {
            StudyError::Mismatch(m) => anyhow::anyhow!(
                "{m}; pass images of the model's size (--data-size, --data-channels or another \
                 --data)"
            ),
            StudyError::Open(e) if e.is_about_data() => anyhow::Error::new(e)
                .context("pass the training images with --data procedural|PATH"),
            e => e.into(),
        },
    )?;
    for written in writes.into_inner() {
        written?;
    }
    if let Some(note) = &r.note {
        eprintln!("{note}");
    }
    println!(
        "U-Net {}, {}; training set {}; {} samples per sampler",
        r.model, r.device, r.data, a.n
    );
    println!(
        "median nearest-neighbour distance among {} training images: {:.3} (L2, [0, 1] pixels)",
        r.tid_n, r.eps_ref
    );
    println!("TID on [0, 1] pixels:");
    let view: Vec<(&str, &[TidEstimate])> = r
        .sets
        .iter()
        .map(|s| (s.kind.name(), s.tid.as_slice()))
        .collect();
    print_tid_estimates(&view);

    // Nearest-neighbour grids: queries from the first sampler's set, rows = every sampled set
    // (the query's own left out), then the training set.
    let names: Vec<&str> = r
        .sets
        .iter()
        .map(|s| s.kind.name())
        .chain(["train"])
        .collect();
    let qname = names[0];
    let query_eps = a.query_eps.unwrap_or(r.eps_ref);
    let picks = match a.query_eps {
        None => r
            .densest(0)
            .into_iter()
            .take(a.queries)
            .map(|i| (i, r.sets[0].counts[i]))
            .collect(),
        Some(eps) => densest_images(&r.sets[0].images, eps, a.queries),
    };
    let tile_scale = (64 / r.train.height.max(1)).max(1);
    let mut queries = Vec::new();
    for (q, &(index, count)) in picks.iter().enumerate() {
        let grid = r.neighbour_grid((0, index), a.k, tile_scale);
        let path = a.out.join(format!("nn_query{q}.png"));
        grid.image.write_png(&path)?;
        let nearest: Vec<String> = grid
            .neighbours
            .iter()
            .zip(&names)
            .map(|(nb, name)| format!("{name} {:.3}", nb.first().map_or(f64::NAN, |n| n.distance)))
            .collect();
        println!(
            "query {q}: {qname} sample {index} ({count} {qname} neighbours within {query_eps:.3}); nearest: {} -> {}",
            nearest.join(", "),
            path.display()
        );
        queries.push(serde_json::json!({
            "set": qname,
            "index": index,
            "neighbours_within_query_eps": count,
            "rows": names,
            "neighbours": grid.neighbours,
            "png": path.file_name().map(|f| f.to_string_lossy().into_owned()),
        }));
    }
    let results: Vec<SamplerResult> = r
        .sets
        .iter()
        .map(|s| SamplerResult {
            sampler: s.kind.name(),
            steps: s.steps,
            seconds: s.seconds,
            tid: &s.tid,
        })
        .collect();
    let json = serde_json::json!({
        "checkpoint": a.unet.checkpoint,
        "model": r.model,
        "device": r.device,
        "weights": a.unet.weights,
        "data": r.source,
        "n": a.n,
        "seed": a.seed,
        "tid_n": a.tid_n,
        "samplers": results,
        "query_eps": query_eps,
        "median_train_nn_distance": r.eps_ref,
        "queries": queries,
    });
    let path = a.out.join("images.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("-> {}", a.out.display());
    Ok(())
}

/// Which U-Net to open: the arguments `images` and `unet-eval` share.
#[derive(Args, Debug)]
pub struct UNetSourceArgs {
    /// The network: a diffusers model or pipeline directory (or its config.json), a `train-unet`
    /// directory or U-Net .safetensors, or a score_sde .pth checkpoint (with --config).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// For a .pth: one of score_sde's released configs by name (ddpm-cifar10, ddpm-celebahq, …)
    /// or a TOML file of U-Net config fields.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Which weights of a score_sde or `train-unet` checkpoint: the moving average (ema) or the
    /// raw training weights (model).
    #[arg(long, value_enum, default_value_t = WeightSet::Ema)]
    pub weights: WeightSet,
}

/// Arguments of `unet-eval`.
#[derive(Args, Debug)]
pub struct UNetEvalArgs {
    /// The U-Net.
    #[command(flatten)]
    pub unet: UNetSourceArgs,
    /// The input batch: a float32 .npy of shape [B, C, H, W], fed to the network as it is.
    #[arg(long)]
    pub x: PathBuf,
    /// Continuous time t in [0, 1], the same for the whole batch; the network receives it as its
    /// format expects (diffusers and score_sde DDPMs: timestep t · (N − 1), N = 1,000).
    #[arg(long, value_parser = unit_time)]
    pub t: f64,
    /// Write the raw network output (ε̂ for ε-prediction) here, float32 .npy [B, C, H, W].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Give ε̂ instead of the raw output: v- and x₀-prediction (diffusers' `v_prediction`,
    /// `sample`) converted through the model's own schedule, as every sampler here uses it.
    #[arg(long)]
    pub epsilon: bool,
    /// Print one JSON object on stdout: the convention used (time input, prediction type,
    /// expected data range, process) and statistics of the output.
    #[arg(long)]
    pub json: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = 32, value_parser = crate::limits::positive)]
    pub batch: usize,
    /// cpu, gpu (burn wgpu) or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// Parses a time in [0, 1].
fn unit_time(s: &str) -> Result<f64, String> {
    let t: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err(format!(
            "{t} is outside [0, 1]: t is the continuous diffusion time"
        ))
    }
}

/// How a network takes its time input and what it predicts, for `unet-eval` and its JSON.
fn time_convention(net: &UNet, t: f64) -> (String, f64, String) {
    let scale = net.wiring.time.map_or(0.0, |time| time.label_scale);
    match &net.arch {
        crate::images::unet::Arch::Diffusers(d) => (
            format!(
                "diffusers timestep t · (N − 1), N = {} train timesteps",
                d.scheduler.num_train_timesteps
            ),
            t * scale,
            d.scheduler.prediction_type.clone(),
        ),
        crate::images::unet::Arch::ScoreSde(_) => (
            "score_sde label t · 999 (get_score_fn for DDPM models)".into(),
            t * scale,
            "epsilon".into(),
        ),
    }
}

/// Runs `unet-eval`.
pub fn unet_eval_cmd(a: UNetEvalArgs) -> Result<()> {
    use crate::images::open::load_unet;
    let dev = a.device.resolve();
    let u = &a.unet;
    let loaded = load_unet(&u.checkpoint, u.config.as_deref(), u.weights, &dev.device)?;
    let net = loaded.net;
    let bytes = std::fs::read(&a.x).with_context(|| format!("reading --x {}", a.x.display()))?;
    let x = crate::data::io::parse_npy_array(&bytes)
        .map_err(|e| anyhow::anyhow!("--x {}: {e}", a.x.display()))?;
    let (c, s) = (net.channels(), net.image_size());
    let &[b, xc, xh, xw] = x.shape.as_slice() else {
        bail!(
            "--x {} has shape {:?}: the network takes [B, {c}, {s}, {s}]",
            a.x.display(),
            x.shape
        );
    };
    if (xc, xh, xw) != (c, s, s) || b == 0 {
        bail!(
            "--x {} has shape {:?}: the network takes [B, {c}, {s}, {s}] with B > 0",
            a.x.display(),
            x.shape
        );
    }
    if x.kind != 'f' {
        bail!(
            "--x {} holds {} values: give float32 (the network's input is fed as it is)",
            a.x.display(),
            if x.kind == 'b' { "boolean" } else { "integer" }
        );
    }
    if let Some(i) = x.values.iter().position(|v| !v.is_finite()) {
        bail!("--x {}: element {i} is {}", a.x.display(), x.values[i]);
    }
    let dim = c * s * s;
    let mut eps = Vec::with_capacity(x.values.len());
    let started = Instant::now();
    for chunk in x.values.chunks(a.batch * dim) {
        let n = chunk.len() / dim;
        let xs = burn::tensor::Tensor::<4>::from_data(
            burn::tensor::TensorData::new(chunk.to_vec(), [n, c, s, s]),
            &dev.device,
        );
        let out = if a.epsilon {
            use crate::diffusion::EpsilonModel;
            let rows = xs.reshape([n, dim]);
            net.epsilon(rows, &crate::diffusion::Times::Shared(a.t))
        } else {
            let ts = burn::tensor::Tensor::<1>::full([n], a.t, &dev.device);
            net.forward(xs, ts).reshape([n, dim])
        };
        let out: Vec<f32> = out
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .map_err(|e| anyhow::anyhow!("reading the output: {e:?}"))?;
        eps.extend(out);
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(out) = &a.out {
        crate::data::io::write_npy(out, &[b, c, s, s], &eps)
            .with_context(|| format!("writing --out {}", out.display()))?;
    }
    let m = eps.len() as f64;
    let mean = eps.iter().map(|&v| v as f64).sum::<f64>() / m;
    let std = (eps.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / m).sqrt();
    let max_abs = eps.iter().fold(0f64, |acc, &v| acc.max((v as f64).abs()));
    let (time_input, label, prediction) = time_convention(&net, a.t);
    let range = if net.takes_centered() {
        [-1.0, 1.0]
    } else {
        [0.0, 1.0]
    };
    if a.json {
        let report = serde_json::json!({
            "checkpoint": a.unet.checkpoint,
            "weights_file": loaded.file,
            "architecture": net.describe(),
            "parameters": net.parameter_count(),
            "input_shape": [b, c, s, s],
            "t": a.t,
            "time_input": time_input,
            "time_label": label,
            "prediction_type": prediction,
            "output_is": if a.epsilon { "epsilon" } else { "raw" },
            "data_range": range,
            "process": net.process,
            "output": a.out,
            "output_mean": mean,
            "output_std": std,
            "output_max_abs": max_abs,
            "device": dev.description,
            "seconds": seconds,
            "note": loaded.note,
        });
        println!("{report}");
    } else {
        if let Some(note) = &loaded.note {
            eprintln!("note: {note}");
        }
        println!("{}: {}", loaded.file.display(), net.describe());
        println!(
            "input [{b}, {c}, {s}, {s}] fed as is (the network expects data in [{}, {}]), t = {}",
            range[0], range[1], a.t
        );
        println!("time input: {time_input} = {label}");
        println!(
            "output ({prediction} prediction): mean {mean:.4}, std {std:.4}, max |·| {max_abs:.4}; \
             {seconds:.2} s on {}",
            dev.description
        );
        if let Some(out) = &a.out {
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}
