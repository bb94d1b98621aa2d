//! The velocity MAE against the exact mixture score in bands of t, for checkpoints written by
//! `train` or a sweep (MoG data only): where along t a model misfits.
//!
//! `cargo run --profile dev --example mae_by_t -- CHECKPOINT_DIR [...]`

use burn::tensor::Device;
use collapse_explorer::diffusion::ExactMixtureScore;
use collapse_explorer::diffusion::diagnostics::velocity_mae;
use collapse_explorer::diffusion::loss::Band;
use collapse_explorer::model::{Checkpoint, DataSource, FastScoreNet};
use collapse_explorer::train::training_set;

fn main() {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    assert!(!dirs.is_empty(), "usage: mae_by_t CHECKPOINT_DIR [...]");
    let edges = [0.001, 0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0];
    print!("{:<48}", "checkpoint");
    for w in edges.windows(2) {
        print!(" {:>9}", format!("{}-{}", w[0], w[1]));
    }
    println!();
    for dir in dirs {
        let ckpt = Checkpoint::load(std::path::Path::new(&dir)).expect("checkpoint");
        let DataSource::Synthetic { dataset, .. } = &ckpt.meta.data else {
            panic!("{dir}: not synthetic data");
        };
        let mix = dataset.mixture().expect("MoG data (exact score)");
        let exact = ExactMixtureScore::new(mix, ckpt.meta.net.process);
        let data = training_set(&ckpt.meta.data).expect("data");
        let model = FastScoreNet::new(ckpt.meta.net.clone(), &ckpt.weights);
        print!(
            "{:<48}",
            dir.chars()
                .rev()
                .take(48)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>()
        );
        for w in edges.windows(2) {
            let band = Band { lo: w[0], hi: w[1] };
            let mae = velocity_mae(&model, &exact, &data, band, 20_000, 13, &Device::flex());
            print!(" {mae:>9.3}");
        }
        println!();
    }
}
