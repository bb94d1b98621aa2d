//! Image-model throughput on the CPU: one ODE Euler step of the U-Net (images·steps/s) for the
//! paper's CIFAR-10 architecture (score_sde's DDPM, 32×32×3, nf 128, `ch_mult [1, 2, 2]`) and
//! for the `small` config `train-unet` uses (16×16×3, nf 32, `ch_mult [1, 2]`); one DSM training
//! step of the small config (images/s); exact nearest neighbours among 20,000 images of 768 values.
//!
//! `cargo bench --bench images`.

use std::sync::atomic::AtomicBool;

use burn::tensor::Device;
use collapse_explorer::diffusion::{SamplerConfig, SamplerKind};
use collapse_explorer::images::analysis::{ImageShape, nearest_neighbours, sample_images};
use collapse_explorer::images::{
    ImageSet, PixelScale, ShapesConfig, UNet, UNetConfig, UNetTrainConfig, UNetTrainer,
    generate_shapes,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn unet_ode_step(c: &mut Criterion) {
    let device = Device::flex();
    let mut g = c.benchmark_group("unet_ode_step");
    g.sample_size(10);
    let never = AtomicBool::new(false);
    for (name, config, batch) in [
        ("cifar32", UNetConfig::default(), 4),
        ("small16", UNetConfig::small(), 32),
    ] {
        let net = UNet::init(&config, 0, &device);
        let shape = ImageShape {
            channels: config.channels,
            height: config.image_size,
            width: config.image_size,
            scale: PixelScale::Centered,
        };
        let cfg = SamplerConfig::new(SamplerKind::OdeEuler).with_steps(1);
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(BenchmarkId::new(name, format!("batch{batch}")), |b| {
            b.iter(|| {
                sample_images(
                    &net,
                    &cfg,
                    batch,
                    0,
                    batch,
                    shape,
                    &device,
                    &mut |_, _| {},
                    &never,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

fn unet_train_step(c: &mut Criterion) {
    let device = Device::flex();
    let mut g = c.benchmark_group("unet_train_step");
    g.sample_size(10);
    let (images, _) = generate_shapes(512, 0, &ShapesConfig::default());
    let batch = 32;
    let config = UNetTrainConfig {
        batch,
        ..Default::default()
    };
    let net = UNet::init(&UNetConfig::small(), 0, &device);
    let mut trainer = UNetTrainer::new(net, &images, config, &device, None).unwrap();
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(BenchmarkId::new("small16", format!("batch{batch}")), |b| {
        b.iter(|| trainer.step().unwrap())
    });
    g.finish();
}

fn neighbours(c: &mut Criterion) {
    let mut g = c.benchmark_group("nearest_neighbours");
    g.sample_size(10);
    let (set, _) = generate_shapes(20_000, 1, &ShapesConfig::default());
    let set: ImageSet = set;
    let query = set.image(7).to_vec();
    g.throughput(Throughput::Elements(set.len() as u64));
    g.bench_function("n20000_d768_k7", |b| {
        b.iter(|| nearest_neighbours(&query, &set, 7, Some(7)))
    });
    g.finish();
}

criterion_group!(benches, unet_ode_step, unet_train_step, neighbours);
criterion_main!(benches);
