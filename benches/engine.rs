//! Engine throughput: samplers (particle-steps/s) and TID (points/s) at the sizes.
//!
//! `cargo bench --bench engine`; numbers go into the closing notes and `docs/`.

use burn::tensor::Device;
use collapse_explorer::data::{DatasetSpec, Points};
use collapse_explorer::diffusion::{
    ExactMixtureScore, NoiseProcess, SamplerConfig, SamplerKind, sample,
};
use collapse_explorer::metrics::{PRDC_K, reference_metrics, tid_curve};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn samplers(c: &mut Criterion) {
    let device = Device::flex();
    let mut g = c.benchmark_group("sampler_exact_ring_mog");
    g.sample_size(10);
    let model = ExactMixtureScore::new(DatasetSpec::RingMog.mixture().unwrap(), NoiseProcess::vp());
    let (n, steps) = (20_000, 20);
    g.throughput(Throughput::Elements((n * steps) as u64));
    for kind in [
        SamplerKind::OdeEuler,
        SamplerKind::Sde,
        SamplerKind::DpmSolver2,
        SamplerKind::PredictorCorrector,
    ] {
        let cfg = SamplerConfig::new(kind).with_steps(steps);
        g.bench_function(BenchmarkId::new(kind.name(), format!("n{n}")), |b| {
            b.iter(|| sample(&model, &cfg, n, 0, &device, &mut |_, _| {}).unwrap())
        });
    }
    g.finish();
}

fn tid_sets(spec: DatasetSpec, n: usize) -> (Points, Points) {
    (spec.generate(n, 1), spec.generate(n, 2))
}

fn tid(c: &mut Criterion) {
    let mut g = c.benchmark_group("tid");
    g.sample_size(10);
    // n = 2,000 at d = 2, 10, 768 (one radius each, as the baselines were timed).
    for (spec, eps) in [
        (DatasetSpec::Chessboard, 0.1),
        (DatasetSpec::Mog { dim: 10, std: 0.1 }, 0.3),
        (DatasetSpec::Mog { dim: 768, std: 0.1 }, 4.0),
    ] {
        let (a, b) = tid_sets(spec, 2000);
        g.throughput(Throughput::Elements(4000));
        g.bench_function(BenchmarkId::new("n2000", format!("d{}", a.d)), |bch| {
            bch.iter(|| tid_curve(&a, &b, &[eps], None).unwrap())
        });
    }
    // Large 2D sets, ε = 0.05.
    for n in [50_000, 500_000] {
        let (a, b) = tid_sets(DatasetSpec::Chessboard, n);
        g.throughput(Throughput::Elements(2 * n as u64));
        g.bench_function(BenchmarkId::new(format!("n{n}"), "d2_eps0.05"), |bch| {
            bch.iter(|| tid_curve(&a, &b, &[0.05], None).unwrap())
        });
    }
    g.finish();
}

/// Precision, recall, density, coverage and the energy distance of 2,000 generated points
/// against 2,000 real ones (one repeat of the app's analysis pass, which runs five per sampler).
fn reference(c: &mut Criterion) {
    let mut g = c.benchmark_group("reference_metrics");
    g.sample_size(10);
    for spec in [
        DatasetSpec::Chessboard,
        DatasetSpec::Mog { dim: 10, std: 0.1 },
    ] {
        let (a, b) = tid_sets(spec, 2000);
        g.throughput(Throughput::Elements(4000));
        g.bench_function(BenchmarkId::new("n2000", format!("d{}", a.d)), |bch| {
            bch.iter(|| reference_metrics(&a, &b, PRDC_K))
        });
    }
    g.finish();
}

criterion_group!(benches, samplers, tid, reference);
criterion_main!(benches);
