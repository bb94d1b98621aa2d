//! Snapshot images of every view, rendered through the app's own wgpu shaders on whatever
//! adapter the machine has (lavapipe in CI), of a model trained to a fixed iteration from a
//! fixed seed (a fixture), analysed with fixed seeds. The images live in `tests/snapshots/`; after a change
//! meant to alter a view, `UPDATE_SNAPSHOTS=1 cargo test snapshot` writes new ones (look at them
//! before committing). A failure leaves the new image and a diff beside the old one.
//!
//! The tolerance: on lavapipe a colour may round differently between Mesa versions and CPUs,
//! and the sampling kernels differ in their last bits between CPU kinds (AVX-512 and AVX2 sum in
//! other orders), which can move a point by a pixel. So a pixel counts as different
//! only past dify's colour threshold, and a view fails only when more than
//! [`MAX_FAILED_PIXELS`] pixels differ: a missing panel, a wrong colour map or a moved axis
//! changes tens of thousands.

use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::SnapshotOptions;
use egui_kittest::kittest::Queryable;

use super::app_with;
use crate::app::AppOptions;
use crate::app::views::Tab;

/// Pixels (of 1280 × 800) that may differ before a view counts as changed.
const MAX_FAILED_PIXELS: usize = 1_500;

/// The snapshot model: chessboard, the paper's 2D MLP, 300 iterations from seed 3, written by
/// `collapse-explorer train --dataset chessboard --preset 2d --n 20000 --iters 300 --seed 3
/// --out tests/fixtures/app/chessboard-it300`. It is a file, not trained in the test: 300 Adam
/// steps on another CPU kind's kernels would round differently and move the samples.
fn snapshot_model() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app/chessboard-it300")
}

/// Every view of the explorer, and the Images view before any study, against its snapshot.
#[test]
fn every_view_matches_its_snapshot() {
    let mut h = app_with(AppOptions {
        paused: true,
        checkpoint: Some(snapshot_model()),
        samples: Some(2000),
        train_threads: Some(1),
        ..AppOptions::default()
    });
    h.set_size(egui::vec2(1280.0, 800.0));
    settle(&mut h, |s| {
        s.last_pass_seconds.is_some() && views_of(s, 300)
    });
    assert_eq!(h.state().explorer.state().iteration, 300);
    let options = SnapshotOptions::new().max_failed_pixels(MAX_FAILED_PIXELS);
    let mut results = egui_kittest::SnapshotResults::new();
    for (tab, label) in Tab::ALL {
        h.get_by_label(label).click();
        results.add(snapshot(
            &mut h,
            &format!("view-{tab:?}").to_lowercase(),
            &options,
        ));
    }
    // The TID view with its two terms drawn under each curve, switched on by its checkbox.
    h.get_by_label("TID curves").click();
    h.run_steps(2);
    h.get_by_label("its two terms").click();
    h.run_steps(2);
    assert!(h.state().explorer.views().tid_terms);
    results.add(snapshot(&mut h, "view-tid-terms", &options));
    // Predictor-corrector at 5 steps, whose state stops being finite on VP: its panel says so
    // and what to change, beside the ODE's and the SDE's samples.
    h.get_by_label("Samples").click();
    let pc = h
        .state_mut()
        .explorer
        .config_mut()
        .samplers
        .iter_mut()
        .find(|s| s.kind == crate::diffusion::SamplerKind::PredictorCorrector)
        .expect("the panel lists PC");
    (pc.enabled, pc.steps) = (true, 5);
    h.run_steps(2);
    settle(&mut h, |s| {
        !s.failures.is_empty() && s.samples.len() == 2 && views_of(s, 300)
    });
    let s = h.state().explorer.state();
    assert_eq!(s.failures.len(), 1, "PC at 5 steps fails");
    assert_eq!(s.samples.len(), 2, "the ODE and the SDE go on");
    results.add(snapshot(&mut h, "view-samples-failed-sampler", &options));
    results.unwrap();
}

/// Steps the app until no analysis pass is under way, TID is in, and `done` holds.
fn settle(
    h: &mut egui_kittest::Harness<'static, crate::app::ExplorerApp>,
    done: impl Fn(&crate::app::state::ExplorerState) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        h.step();
        let s = h.state().explorer.state();
        if s.analysis_progress.is_none() && s.tid.is_some() && done(s) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the analysis did not settle within 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether every sampler's samples and the TID are of the weights at `iteration`.
fn views_of(s: &crate::app::state::ExplorerState, iteration: u64) -> bool {
    s.samples.iter().all(|r| r.iteration == iteration)
        && s.tid.as_ref().is_some_and(|t| t.iteration == iteration)
}

/// The view as shown now, against its snapshot `name`.
fn snapshot(
    h: &mut egui_kittest::Harness<'static, crate::app::ExplorerApp>,
    name: &str,
    options: &SnapshotOptions,
) -> egui_kittest::SnapshotResult {
    {
        // A notice ("loaded …") lasts a set time: how long the test took would show.
        h.state_mut().shell.clear_notice();
        h.run_steps(4);
        h.remove_cursor();
        h.run_steps(2);
        // What changes from run to run or machine to machine: the status line's timings
        // ("analysis pass 0.41 s") and the device.
        let varying: Vec<egui::Rect> = ["analysis pass", " it/s", "burn "]
            .into_iter()
            .flat_map(|text| h.query_all_by_label_contains(text).map(|n| n.rect()))
            .collect();
        for r in varying {
            h.mask(r.expand(2.0));
        }
    }
    h.try_snapshot_options(name, options)
}
