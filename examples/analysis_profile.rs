//! Times each stage of one live-analysis pass (the app's default settings, chessboard, 2D
//! preset at initialisation), with the machine otherwise idle:
//! `cargo run --profile dev --example analysis_profile [n_samples]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use collapse_explorer::app::config::ExplorerConfig;
use collapse_explorer::train::worker::{Snapshot, SnapshotSlot};
use collapse_explorer::train::{AnalysisContext, AnalysisEvent, AnalysisHandle};

fn main() {
    let mut config = ExplorerConfig::default();
    if let Some(n) = std::env::args().nth(1).and_then(|s| s.parse().ok()) {
        config.n_samples = n;
    }
    let recipe = config.recipe().expect("a synthetic dataset");
    let data = Arc::new(recipe.training_set().expect("data"));
    let train = recipe.train_config(&data);
    let spec = config.dataset_spec().expect("dataset");
    let slot = Arc::new(SnapshotSlot::default());
    let ctx = AnalysisContext::new(0, data.clone(), spec.mixture());
    let handle = AnalysisHandle::spawn(
        slot.clone(),
        ctx,
        config.analysis_settings(),
        Box::new(|| {}),
    );
    for pass in 0..3 {
        let start = Instant::now();
        slot.publish(Arc::new(Snapshot {
            iteration: pass,
            net: train.net.clone(),
            weights: train.net.init_weights(pass),
            generation: 0,
        }));
        let mut last = start;
        loop {
            let Some(e) = handle.recv_timeout(Duration::from_secs(60)) else {
                panic!("no event for 60 s");
            };
            let now = Instant::now();
            let stage = match &e {
                AnalysisEvent::Started { .. } => "started".to_string(),
                AnalysisEvent::Progress { .. } => continue,
                AnalysisEvent::Metrics(_) => "regime losses + MAE".into(),
                AnalysisEvent::Field(_) => "velocity field".into(),
                AnalysisEvent::Samples(s) => format!(
                    "{} ({} steps, {} particles)",
                    s.config.kind.name(),
                    s.config.steps,
                    s.samples.n
                ),
                AnalysisEvent::Tid(_) => "TID".into(),
                AnalysisEvent::Finished { seconds, .. } => format!("finished ({seconds:.3} s)"),
                AnalysisEvent::Error { message, .. } => panic!("{message}"),
                AnalysisEvent::SamplerFailed(f) => panic!("{}", f.message),
            };
            println!(
                "pass {pass}: {:<40} +{:>7.1} ms",
                stage,
                (now - last).as_secs_f64() * 1e3
            );
            last = now;
            if matches!(e, AnalysisEvent::Finished { .. }) {
                break;
            }
        }
    }
}
