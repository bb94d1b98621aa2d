//! Training and trained-model sampling throughput (issue #3): one Adam iteration of the paper's
//! presets on the fused CPU path and on burn's autodiff path, and ODE and SDE sampling of the 2D
//! preset at issue #12's sizes, and each packed sampling tile's forward pass.
//!
//! `cargo bench --profile dev --bench train`.

use std::sync::Arc;

use burn::tensor::Device;
use collapse_explorer::data::DatasetSpec;
use collapse_explorer::device::DeviceChoice;
use collapse_explorer::diffusion::{NoiseProcess, Objective, SamplerConfig, SamplerKind, sample};
use collapse_explorer::model::fast::AdamSettings;
use collapse_explorer::model::{Activation, Architecture, FastScoreNet, MlpConfig, NetSpec};
use collapse_explorer::train::{TrainConfig, Trainer};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn config(mlp: MlpConfig, arch: Architecture) -> TrainConfig {
    TrainConfig {
        net: NetSpec {
            arch,
            mlp,
            process: NoiseProcess::vp(),
            t_split: 0.5,
            data_std: 1.0,
            objective: Default::default(),
        },
        lr: 5e-3,
        batch: 2000,
        iterations: 10_000,
        seed: 0,
        device: DeviceChoice::Cpu,
        adam: AdamSettings::default(),
        times: None,
    }
}

fn train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_iteration_batch2000");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    let chess = Arc::new(DatasetSpec::Chessboard.generate(500_000, 0));
    let mog = Arc::new(DatasetSpec::Mog { dim: 10, std: 0.1 }.generate(50_000, 0));
    let cases = [
        ("2d_tanh", MlpConfig::preset_2d(2), &chess),
        (
            "2d_relu",
            MlpConfig::new(2, 100, 3, Activation::Relu),
            &chess,
        ),
        ("mog10_tanh", MlpConfig::preset_mog(10), &mog),
    ];
    let cases = cases
        .into_iter()
        .map(|(name, mlp, data)| (name, mlp, data, Architecture::Mlp))
        // The learned skip connection (its coefficient networks train too), config B's size.
        .chain([(
            "mog10_tanh_skip",
            MlpConfig::preset_mog(10),
            &mog,
            Architecture::Skip,
        )]);
    for (name, mlp, data, arch) in cases {
        let mut fast = Trainer::new(config(mlp.clone(), arch), (*data).clone()).unwrap();
        assert!(fast.uses_fast_path());
        g.bench_function(BenchmarkId::new("fused", name), |b| {
            b.iter(|| fast.step().unwrap())
        });
        let mut burn = Trainer::new_burn_path(config(mlp, arch), (*data).clone()).unwrap();
        g.bench_function(BenchmarkId::new("burn_flex", name), |b| {
            b.iter(|| burn.step().unwrap())
        });
    }
    g.finish();
}

/// Every objective on the fused path at configs A and B (issue #23: each trains at the speed
/// ε does; the only extra work is the per-row target and, for EDM, the input's scaling).
fn objectives(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_iteration_objective_batch2000");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    let chess = Arc::new(DatasetSpec::Chessboard.generate(500_000, 0));
    let mog = Arc::new(DatasetSpec::Mog { dim: 10, std: 0.1 }.generate(50_000, 0));
    for (config_name, mlp, data) in [
        ("a", MlpConfig::preset_2d(2), &chess),
        ("b", MlpConfig::preset_mog(10), &mog),
    ] {
        for &objective in Objective::all() {
            let mut cfg = config(mlp.clone(), Architecture::Mlp);
            cfg.net.objective = objective;
            let mut fast = Trainer::new(cfg, (*data).clone()).unwrap();
            assert!(fast.uses_fast_path());
            g.bench_function(BenchmarkId::new(config_name, objective.name()), |b| {
                b.iter(|| fast.step().unwrap())
            });
        }
    }
    g.finish();
}

/// Issue #12's sampling rows: config A's model, 20,000 particles, the ODE at 100 steps and the
/// SDE at 1,000 (throughput in particle-steps).
fn sampling(c: &mut Criterion) {
    let mut g = c.benchmark_group("sampling_2d_preset_n20000");
    g.sample_size(10);
    let spec = config(MlpConfig::preset_2d(2), Architecture::Mlp).net;
    let model = FastScoreNet::new(spec.clone(), &spec.init_weights(0));
    let n = 20_000;
    for (kind, steps) in [(SamplerKind::OdeEuler, 100), (SamplerKind::Sde, 1000)] {
        g.throughput(Throughput::Elements((n * steps) as u64));
        let cfg = SamplerConfig::new(kind).with_steps(steps);
        g.bench_function(
            BenchmarkId::new(kind.name(), format!("steps{steps}")),
            |b| b.iter(|| sample(&model, &cfg, n, 0, &Device::flex(), &mut |_, _| {}).unwrap()),
        );
    }
    g.finish();
}

/// Each packed sampling tile this CPU runs on config A's network, one ODE step's evaluation
/// (20,000 rows; throughput in rows): which tile sampling picks is measured at start-up, so
/// these rows show what each would give here.
fn sampling_tiles(c: &mut Criterion) {
    use collapse_explorer::model::packed::{Kernel, PackedMlp, config_a_probe};
    let mut g = c.benchmark_group("sampling_tile_2d_preset_rows20000");
    g.sample_size(20);
    let rows = 20_000;
    let (w, input) = config_a_probe(rows);
    g.throughput(Throughput::Elements(rows as u64));
    for kernel in Kernel::ALL {
        let Some(net) = PackedMlp::with_kernel(&w, kernel) else {
            continue;
        };
        g.bench_function(kernel.short(), |b| b.iter(|| net.forward(&input, rows)));
    }
    g.finish();
}

criterion_group!(benches, train_step, objectives, sampling, sampling_tiles);
criterion_main!(benches);
