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
        None => read_config_toml(Path::new(name))?,
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
    let c = net.config.clone();
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
    /// The U-Net: a `train-unet` directory, a U-Net .safetensors written by it, or a score_sde
    /// .pth checkpoint (with --config).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// TOML file of U-Net config fields, for a .pth checkpoint.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Which weights: the moving average (ema) or the raw training weights (model).
    #[arg(long, value_enum, default_value_t = WeightSet::Ema)]
    pub weights: WeightSet,
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
    /// Output directory: samples_<sampler>.png, nn_query<i>.png, images.json.
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
        checkpoint: a.checkpoint.clone(),
        config: a.config.clone(),
        weights: a.weights,
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
        radii: if a.eps.is_empty() {
            Radii::Around(TABLE_RADII)
        } else {
            Radii::Given(a.eps.clone())
        },
        chunk: a.chunk,
        device: a.device,
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    // One progress bar per sampler; each sampler's grid is written as soon as it is drawn.
    let bar = std::cell::RefCell::new(None::<(usize, indicatif::ProgressBar)>);
    let grids = std::cell::RefCell::new(Vec::new());
    let progress = |stage: Stage, _: f32| {
        if let Stage::Estimated { seconds, rate } = stage {
            eprintln!(
                "sampling will take about {seconds:.0} s ({rate:.1} model evaluations per second, \
                 timed on one chunk)"
            );
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
        grids
            .borrow_mut()
            .push(set.images.write_grid_png(&path, &shown, 8, scale));
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
    for written in grids.into_inner() {
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
        "checkpoint": a.checkpoint,
        "weights": a.weights,
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
