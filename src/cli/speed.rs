//! `speed`: the throughput of the paper's configurations on this machine, in the build being
//! run (issue #12's table): config A and B training, ODE and SDE sampling of config A, and TID
//! at n = 2,000, d = 768. Each figure times only the work (data drawn and trainers built
//! first, a few warm-up iterations), so two machines or two builds compare directly.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::data::{DatasetSpec, Points};
use crate::device::DeviceChoice;
use crate::diffusion::{SamplerConfig, SamplerKind, sample};
use crate::metrics::tid_curve;
use crate::model::{DataSource, inference_model};
use crate::train::{ModelChoice, RunRecipe, TrainingPart, train_run};

/// Arguments of `speed`.
#[derive(Args, Debug)]
pub struct SpeedArgs {
    /// Smaller runs (a few seconds in all; noisier figures).
    #[arg(long)]
    pub quick: bool,
    /// Also time U-Net forward passes (score_sde's DDPM, random weights): the small demo shape
    /// at batch 32 and the CIFAR-10 shape (nf 128, ch_mult (1, 2, 2, 2), 35.7M parameters) at
    /// batch 4 and 32 (about a minute).
    #[arg(long)]
    pub unet: bool,
    /// Instead, measure the fused CPU path's kernels: the core's FMA peak, the GFLOP/s of each
    /// GEMM kernel on every product of configs A and B, and one training step's split
    /// (forward, backward, Adam).
    #[arg(long)]
    pub kernels: bool,
    /// Where to run. On a GPU (`--device gpu`, burn's wgpu backend) `speed` times what runs
    /// there: config B training, config A training with every objective, score_sde's
    /// CIFAR-shape U-Net at batch 32 to 256, and what a 2,000-image study would cost
    /// (`tools/gpu_check.sh` runs this on a bare GPU machine).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// A recipe of the paper's settings on `dataset` with `n` points, on `device`.
fn paper_recipe(dataset: DatasetSpec, n: usize, device: DeviceChoice) -> RunRecipe {
    RunRecipe {
        data: DataSource::Synthetic {
            dataset,
            n,
            seed: 0,
        },
        model: ModelChoice::default(),
        training: TrainingPart::default(),
        seed: 0,
        device,
    }
}

/// Milliseconds per training iteration of `recipe` over `iters` iterations after `warm` ones,
/// and the trainer (for sampling its model).
fn ms_per_iter(recipe: &RunRecipe, warm: u64, iters: u64) -> Result<(f64, crate::train::Trainer)> {
    let (_, mut trainer) = recipe.prepare()?;
    let never = AtomicBool::new(false);
    train_run(&mut trainer, warm, &mut |_, _| {}, &never)?;
    let start = Instant::now();
    train_run(&mut trainer, iters, &mut |_, _| {}, &never)?;
    Ok((1e3 * start.elapsed().as_secs_f64() / iters as f64, trainer))
}

/// Runs `speed`.
pub fn speed_cmd(a: SpeedArgs) -> Result<()> {
    if a.kernels {
        super::kernels::kernels_report();
        return Ok(());
    }
    let q = a.quick;
    let dev = a.device.resolve();
    println!("build: {}; {}", build_profile(), dev.description);
    println!("CPU: {}", super::kernels::cpu_name());
    if !dev.is_cpu {
        return gpu_rows(a.device, &dev.device, q);
    }
    println!("{:<44} {:>14}", "work", "this machine");
    let (iters_a, iters_b) = if q { (100, 5) } else { (1000, 30) };
    let (a_ms, trainer) = ms_per_iter(
        &paper_recipe(DatasetSpec::Chessboard, 500_000, DeviceChoice::Cpu),
        20,
        iters_a,
    )?;
    println!(
        "{:<44} {:>10.3} ms/iter",
        "config A training (3 x 100, batch 2,000)", a_ms
    );
    let mog = DatasetSpec::Mog { dim: 10, std: 0.1 };
    let (b_ms, _) = ms_per_iter(&paper_recipe(mog, 50_000, DeviceChoice::Cpu), 3, iters_b)?;
    println!(
        "{:<44} {:>10.1} ms/iter",
        "config B training (2 x 1000, batch 2,000)", b_ms
    );
    let model = inference_model(trainer.config().net.clone(), &trainer.weights(), &dev);
    let n = 20_000;
    for (kind, steps) in [
        (SamplerKind::OdeEuler, 100),
        (SamplerKind::Sde, if q { 100 } else { 1000 }),
    ] {
        let cfg = SamplerConfig::new(kind).with_steps(steps);
        let start = Instant::now();
        sample(model.as_ref(), &cfg, n, 1, &dev.device, &mut |_, _| {}).unwrap();
        let rate = (n * steps) as f64 / start.elapsed().as_secs_f64();
        let label = format!("{} sampling, config A, 20,000 x {steps}", kind.name());
        println!("{label:<44} {:>10.2} M particle-steps/s", rate / 1e6);
    }
    let mut rng = StdRng::seed_from_u64(5);
    let mut set = || {
        Points::new(
            2000,
            768,
            (0..2000 * 768).map(|_| rng.random::<f32>()).collect(),
        )
    };
    let (x, y) = (set(), set());
    let start = Instant::now();
    tid_curve(&x, &y, &[9.0, 10.0, 11.0], None)?;
    let ms = 1e3 * start.elapsed().as_secs_f64();
    println!("{:<44} {:>10.1} ms", "TID, n = 2,000, d = 768, 3 radii", ms);
    if a.unet {
        unet_rows(&dev.device);
    }
    Ok(())
}

/// `speed` on a GPU: config B training on burn's autodiff, config A with every objective, the
/// CIFAR-shape U-Net's forward passes at batch 32 to 256 (`quick`: batch 8 only, for a
/// software adapter), and the cost of a 2,000-image study (ODE at 100 steps and SDE at 1,000:
/// 2.2 M forward passes) at the best batch.
fn gpu_rows(choice: DeviceChoice, device: &burn::tensor::Device, quick: bool) -> Result<()> {
    println!("{:<44} {:>14}", "work", "this device");
    let mog = DatasetSpec::Mog { dim: 10, std: 0.1 };
    let iters = if quick { 3 } else { 30 };
    let (b_ms, _) = ms_per_iter(&paper_recipe(mog, 50_000, choice), 2, iters)?;
    println!(
        "{:<44} {:>10.1} ms/iter",
        "config B training (2 x 1000, batch 2,000)", b_ms
    );
    objective_rows(choice, quick)?;
    let batches: &[usize] = if quick { &[8] } else { &[32, 64, 128, 256] };
    let mut best = 0.0f64;
    for &batch in batches {
        let per_s = unet_forward_rate(&cifar_unet(), batch, if quick { 1 } else { 3 }, device);
        best = best.max(per_s);
        println!(
            "{:<44} {:>10.1} forward passes/s",
            format!("U-Net, CIFAR shape, batch {batch}"),
            per_s
        );
    }
    let passes = 2000.0 * (100.0 + 1000.0);
    println!(
        "{:<44} {:>10.1} min (2.2 M forward passes at {best:.1}/s)",
        "2,000-image study (ODE 100 + SDE 1,000 steps)",
        passes / best / 60.0
    );
    Ok(())
}

/// Every objective trains on the device (burn's autodiff): config A's network on chessboard,
/// with the loss of the first iteration and the mean of the last ones (each objective's loss
/// is in its own units, so rows compare by speed and by falling, not by value). `flow` runs on
/// the linear process: flow matching.
fn objective_rows(choice: DeviceChoice, quick: bool) -> Result<()> {
    let iters = if quick { 3 } else { 300 };
    for &objective in crate::diffusion::Objective::all() {
        let mut recipe = paper_recipe(DatasetSpec::Chessboard, 100_000, choice);
        recipe.model.objective = objective;
        if objective == crate::diffusion::Objective::Flow {
            recipe.model.process = crate::diffusion::ProcessKind::Linear;
        }
        let (_, mut trainer) = recipe.prepare()?;
        let never = AtomicBool::new(false);
        let first = trainer.step()?;
        let out = train_run(&mut trainer, iters, &mut |_, _| {}, &never)?;
        let last = out.losses.recent_mean().unwrap_or(f64::NAN);
        println!(
            "{:<44} {:>10.2} ms/iter (loss {first:.4} -> {last:.4})",
            format!(
                "config A training, {} on {}",
                objective.name(),
                recipe.model.process.name()
            ),
            1e3 * out.seconds / iters as f64,
        );
    }
    Ok(())
}

/// score_sde's DDPM at the CIFAR-10 shape (nf 128, ch_mult (1, 2, 2, 2)).
fn cifar_unet() -> crate::images::UNetConfig {
    crate::images::UNetConfig {
        ch_mult: vec![1, 2, 2, 2],
        ..crate::images::UNetConfig::default()
    }
}

/// Forward passes per second of a U-Net of `config` (random weights) at `batch`: one Euler
/// step of `sample_images` per repetition, after one untimed (shader compilation, buffers).
fn unet_forward_rate(
    config: &crate::images::UNetConfig,
    batch: usize,
    reps: usize,
    device: &burn::tensor::Device,
) -> f64 {
    use crate::images::analysis::sample_images;
    use crate::images::{UNet, image_shape};
    let net = UNet::init(config, 0, device);
    let shape = image_shape(&net);
    let cfg = SamplerConfig::new(SamplerKind::OdeEuler).with_steps(1);
    let never = AtomicBool::new(false);
    let step = || {
        sample_images(
            &net,
            &cfg,
            batch,
            0,
            batch,
            shape,
            device,
            &mut |_, _| {},
            &never,
        )
    };
    let _ = step();
    let start = Instant::now();
    for _ in 0..reps {
        let _ = step();
    }
    (batch * reps) as f64 / start.elapsed().as_secs_f64()
}

/// Forward passes per second of score_sde's DDPM (one Euler step of `sample_images`, which is
/// one forward pass per image plus the update), and what that makes of 100-step sampling.
fn unet_rows(device: &burn::tensor::Device) {
    for (name, config, batch, reps) in [
        (
            "small 16x16 demo shape",
            crate::images::UNetConfig::small(),
            32,
            10,
        ),
        ("CIFAR shape, nf 128, (1, 2, 2, 2)", cifar_unet(), 4, 3),
        ("CIFAR shape, nf 128, (1, 2, 2, 2)", cifar_unet(), 32, 1),
    ] {
        let per_s = unet_forward_rate(&config, batch, reps, device);
        println!(
            "{:<44} {:>10.1} forward passes/s at batch {batch} ({:.2} images/s at 100 steps)",
            format!("U-Net, {name}"),
            per_s,
            per_s / 100.0
        );
    }
}

/// Whether this build checks debug assertions (the slow dev profile of old) or not.
fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug assertions ON (a slow build: expect half the speed)"
    } else {
        "optimised, no debug assertions"
    }
}
