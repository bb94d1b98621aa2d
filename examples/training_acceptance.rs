//! Issue #3's acceptance numbers for the see-saw: on 10-D MoG, velocity MAE in the low and high
//! noise bands against the exact velocity, for MLP widths 100 and 1000 (depth 2, Tanh, paper
//! settings: batch 2000, lr 5e-3, 50,000 points).
//!
//! `cargo run --example training_acceptance -- [iterations]` (default 2000; the paper uses 10,000).

use std::sync::Arc;
use std::time::Instant;

use burn::tensor::Device;
use collapse_explorer::data::DatasetSpec;
use collapse_explorer::device::DeviceChoice;
use collapse_explorer::diffusion::diagnostics::velocity_mae;
use collapse_explorer::diffusion::loss::Band;
use collapse_explorer::diffusion::{ExactMixtureScore, NoiseProcess};
use collapse_explorer::model::fast::AdamSettings;
use collapse_explorer::model::{Activation, Architecture, FastScoreNet, MlpConfig, NetSpec};
use collapse_explorer::train::{TrainConfig, Trainer};

fn main() -> anyhow::Result<()> {
    let iterations: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2000);
    let spec = DatasetSpec::Mog { dim: 10, std: 0.1 };
    let data = Arc::new(spec.generate(50_000, 0));
    let p = NoiseProcess::vp();
    let exact = ExactMixtureScore::new(spec.mixture().expect("MoG"), p);
    println!("10-D MoG, {iterations} iterations, batch 2000, lr 5e-3, depth 2, Tanh");
    println!(
        "{:>6} {:>10} {:>12} {:>12} {:>8}",
        "width", "loss", "MAE low", "MAE high", "secs"
    );
    for width in [100, 1000] {
        let config = TrainConfig {
            net: NetSpec {
                arch: Architecture::Mlp,
                mlp: MlpConfig::new(10, width, 2, Activation::Tanh),
                process: p,
                t_split: 0.5,
                data_std: 1.0,
                objective: Default::default(),
            },
            lr: 5e-3,
            batch: 2000,
            iterations,
            seed: 0,
            device: DeviceChoice::Cpu,
            adam: AdamSettings::default(),
            times: None,
        };
        let start = Instant::now();
        let mut tr = Trainer::new(config.clone(), data.clone())?;
        let mut recent = Vec::new();
        for _ in 0..iterations {
            recent.push(tr.step()?);
            if recent.len() > 100 {
                recent.remove(0);
            }
        }
        let model = FastScoreNet::new(config.net, &tr.weights());
        let dev = Device::flex();
        let low = velocity_mae(&model, &exact, &data, Band::low(&p), 20_000, 1, &dev);
        let high = velocity_mae(&model, &exact, &data, Band::high(&p), 20_000, 2, &dev);
        println!(
            "{width:>6} {:>10.5} {low:>12.5} {high:>12.5} {:>8.1}",
            recent.iter().sum::<f64>() / recent.len() as f64,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
